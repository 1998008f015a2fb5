/**
 * The per-volume write fence: the simulator's stand-in for the brief I/O quiesce a real SVC performs
 * when a FlashCopy starts. Files in <stateDir>/volumes/:
 *
 *   <UID>.fence                 raised by the simulator while it takes a point-in-time copy
 *   <UID>.writer-<pid>-<n>      held by a host-side writer during one write
 *
 * Protocol (each side announces itself, then checks the other, so neither can miss the other):
 *   writer:    wait until no fence; create its writer file; if a fence appeared meanwhile, delete the
 *              writer file and wait again; else write, then delete the writer file.
 *   simulator: create the fence; wait until no writer file remains (files of dead pids are removed);
 *              copy; delete the fence.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { pidAlive } from "../../util/proc.ts";

export const fencePath = (volDir: string, uid: string): string => path.join(volDir, `${uid}.fence`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}

/** True if a live fence exists (a fence whose owner died is removed). */
async function liveFence(file: string): Promise<boolean> {
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch {
    return false;
  }
  const pid = Number(/"pid":(\d+)/.exec(text)?.[1] ?? NaN);
  if (Number.isFinite(pid) && !pidAlive(pid)) {
    await fsp.rm(file, { force: true });
    return false;
  }
  return true;
}

let writerSeq = 0;

export class FenceTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FenceTimeoutError";
  }
}

/** Run `fn` as a host writer of volume `uid`, respecting the fence (bounded wait). */
export async function withWriterSlot<T>(
  volDir: string,
  uid: string,
  timeoutMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  const fence = fencePath(volDir, uid);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await liveFence(fence)) {
      if (Date.now() > deadline) throw new FenceTimeoutError(`volume ${uid}: write fence held longer than ${timeoutMs} ms`);
      await sleep(2);
      continue;
    }
    const marker = path.join(volDir, `${uid}.writer-${process.pid}-${++writerSeq}`);
    await fsp.writeFile(marker, "");
    try {
      if (await exists(fence)) continue; // finally removes the marker, then wait again
      return await fn();
    } finally {
      await fsp.rm(marker, { force: true });
    }
  }
}

/** Raise fences on all `uids`, wait for in-flight writes to finish, run `fn`, lower the fences. */
export async function withFences<T>(volDir: string, uids: readonly string[], timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const raised: string[] = [];
  try {
    for (const uid of uids) {
      const f = fencePath(volDir, uid);
      await fsp.writeFile(f, JSON.stringify({ pid: process.pid, at: Date.now() }));
      raised.push(f);
    }
    const deadline = Date.now() + timeoutMs;
    const prefixes = uids.map((u) => `${u}.writer-`);
    for (;;) {
      const names = await fsp.readdir(volDir);
      let busy = false;
      for (const n of names) {
        if (!prefixes.some((p) => n.startsWith(p))) continue;
        const pid = Number(n.slice(n.indexOf(".writer-") + 8).split("-")[0]);
        if (!pidAlive(pid)) await fsp.rm(path.join(volDir, n), { force: true });
        else busy = true;
      }
      if (!busy) break;
      if (Date.now() > deadline) throw new FenceTimeoutError(`writers did not drain within ${timeoutMs} ms`);
      await sleep(1);
    }
    return await fn();
  } finally {
    for (const f of raised) await fsp.rm(f, { force: true });
  }
}

/** Remove fences left by a crashed simulator (called at start). */
export async function clearStaleFences(volDir: string): Promise<void> {
  for (const n of await fsp.readdir(volDir)) {
    if (n.endsWith(".fence")) await liveFence(path.join(volDir, n));
  }
}
