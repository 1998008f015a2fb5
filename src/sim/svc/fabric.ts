/**
 * The "fabric": a directory shared by simulators that may partner. Each running system registers
 * itself in <fabricDir>/systems/<system_id>.json (name, id, IP, SSH port, state dir, pid, the
 * partnerships it has created, a heartbeat every 500 ms). A system is reachable while its file says
 * online and its heartbeat is fresh. Remote-copy objects live in <fabricDir>/rc.json (state.ts).
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { atomicWriteJson, readJson } from "./state.ts";

export interface Registration {
  id: string;
  name: string;
  clusterIp: string;
  port: number;
  stateDir: string;
  pid: number;
  online: boolean;
  heartbeatAt: number;
  /** remote system id → partnership started on this side */
  partnerships: Record<string, boolean>;
}

export const HEARTBEAT_MS = 500;
export const STALE_MS = 2500;

export const systemsDir = (fabricDir: string): string => path.join(fabricDir, "systems");
export const rcStoreFile = (fabricDir: string): string => path.join(fabricDir, "rc.json");

export async function writeRegistration(fabricDir: string, r: Registration): Promise<void> {
  await fsp.mkdir(systemsDir(fabricDir), { recursive: true });
  await atomicWriteJson(path.join(systemsDir(fabricDir), `${r.id}.json`), r);
}

export async function readRegistrations(fabricDir: string): Promise<Registration[]> {
  let names: string[];
  try {
    names = await fsp.readdir(systemsDir(fabricDir));
  } catch {
    return [];
  }
  const out: Registration[] = [];
  for (const n of names) {
    if (!n.endsWith(".json") || n.startsWith(".")) continue;
    const v = await readJson(path.join(systemsDir(fabricDir), n)).catch(() => undefined);
    if (typeof v === "object" && v !== null && "id" in v) out.push(v as Registration);
  }
  return out;
}

export const isAlive = (r: Registration | undefined, now = Date.now()): boolean =>
  r !== undefined && r.online && now - r.heartbeatAt < STALE_MS;
