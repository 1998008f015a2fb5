/**
 * Seeding for the lab: create hosts, volumes and host mappings through the CLI (the same code path as
 * SSH), idempotently — objects that already exist by name are kept. Works on a running simulator
 * (pass the handle from startSvcSimulator) or offline on a state directory (no simulator running on it).
 */
import { SvcSystem, type ExecResult } from "./system.ts";
import type { SvcSimulator } from "./server.ts";
import { volumePath } from "./volumes.ts";

export interface SeedSpec {
  hosts?: Array<{ name: string; fcwwpn?: string; iscsiname?: string }>;
  vdisks?: Array<{ name: string; sizeMb: number; mapTo?: string[] }>;
  /** extra CLI commands run in order after the objects above (must succeed) */
  commands?: string[];
}

export interface SeededVdisk {
  id: number;
  uid: string;
  /** the volume file (the "device" a host sees) */
  path: string;
}

export class SeedError extends Error {
  constructor(command: string, r: ExecResult) {
    super(`seeding command failed: ${command}: ${r.stderr.trim()}`);
    this.name = "SeedError";
  }
}

type Exec = (cmd: string) => Promise<ExecResult>;

async function apply(exec: Exec, stateDir: string, spec: SeedSpec): Promise<Record<string, SeededVdisk>> {
  const run = async (cmd: string): Promise<string> => {
    const r = await exec(cmd);
    if (r.exitCode !== 0) throw new SeedError(cmd, r);
    return r.stdout;
  };
  const names = async (verb: string): Promise<Set<string>> =>
    new Set((await run(`${verb} -nohdr -delim :`)).split("\n").filter(Boolean).map((l) => l.split(":")[1]));
  const hosts = await names("lshost");
  for (const h of spec.hosts ?? []) {
    if (hosts.has(h.name)) continue;
    const port = h.fcwwpn ? `-fcwwpn ${h.fcwwpn}` : `-iscsiname ${h.iscsiname ?? `iqn.2024-01.sim:${h.name.toLowerCase()}`}`;
    await run(`mkhost -name ${h.name} ${port}`);
  }
  const vdisks = await names("lsvdisk");
  for (const v of spec.vdisks ?? []) {
    if (!vdisks.has(v.name)) await run(`mkvdisk -mdiskgrp Pool0 -iogrp io_grp0 -size ${v.sizeMb} -unit mb -name ${v.name}`);
    const mapped = new Set((await run(`lsvdiskhostmap -nohdr -delim : ${v.name}`)).split("\n").filter(Boolean).map((l) => l.split(":")[4]));
    for (const h of v.mapTo ?? []) if (!mapped.has(h)) await run(`mkvdiskhostmap -force -host ${h} ${v.name}`);
  }
  for (const c of spec.commands ?? []) await run(c);
  const out: Record<string, SeededVdisk> = {};
  for (const l of (await run("lsvdisk -nohdr -delim :")).split("\n").filter(Boolean)) {
    const f = l.split(":");
    out[f[1]] = { id: Number(f[0]), uid: f[13], path: volumePath(stateDir, f[13]) };
  }
  return out;
}

/** Seed a running simulator (its state dir is needed to report volume paths). */
export async function seedRunning(sim: SvcSimulator, stateDir: string, spec: SeedSpec): Promise<Record<string, SeededVdisk>> {
  return apply((c) => sim.exec(c), stateDir, spec);
}

/** Seed a state directory while no simulator runs on it. */
export async function seedSimulator(stateDir: string, systemName: string, spec: SeedSpec): Promise<Record<string, SeededVdisk>> {
  const sys = await SvcSystem.open({ stateDir, systemName });
  try {
    return await apply((c) => sys.exec(c), stateDir, spec);
  } finally {
    await sys.close();
  }
}
