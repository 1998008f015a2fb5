/**
 * Persistence: JSON files written atomically (temp file + fsync + rename + fsync of the directory),
 * the local state of one system, and the remote-copy store shared by partnered systems (guarded by a
 * lock directory from proper-lockfile, because two simulator processes may change it).
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import lockfile from "proper-lockfile";
import { emptyRcStore, type LocalState, type RcStore } from "./model.ts";

let tmpSeq = 0;

export async function atomicWriteFile(file: string, data: string | Buffer): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${++tmpSeq}.tmp`);
  const fh = await fsp.open(tmp, "w", 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
  const dh = await fsp.open(dir, "r");
  try {
    await dh.sync();
  } catch {
    // some filesystems refuse fsync on a directory; the rename is still atomic
  } finally {
    await dh.close();
  }
}

export async function atomicWriteJson(file: string, value: unknown): Promise<void> {
  await atomicWriteFile(file, JSON.stringify(value, null, 1) + "\n");
}

/** Read a JSON file; undefined if it does not exist. */
export async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fsp.readFile(file, "utf8")) as unknown;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export const localStatePath = (stateDir: string): string => path.join(stateDir, "state.json");

export async function loadLocalState(stateDir: string): Promise<LocalState | undefined> {
  const v = await readJson(localStatePath(stateDir));
  if (v === undefined) return undefined;
  if (!isObj(v) || v.version !== 1 || !isObj(v.system)) {
    throw new Error(`${localStatePath(stateDir)}: not a simulator state file (version 1 expected)`);
  }
  return v as unknown as LocalState;
}

export async function saveLocalState(stateDir: string, s: LocalState): Promise<void> {
  await atomicWriteJson(localStatePath(stateDir), s);
}

export async function loadRcStore(file: string): Promise<RcStore> {
  const v = await readJson(file);
  if (v === undefined) return emptyRcStore();
  if (!isObj(v) || v.version !== 1 || !Array.isArray(v.relationships) || !Array.isArray(v.groups)) {
    throw new Error(`${file}: not a remote-copy store (version 1 expected)`);
  }
  return v as unknown as RcStore;
}

/**
 * Read-modify-write the RC store under an exclusive lock. `fn` may throw (nothing is written then);
 * it returns whether it changed the store plus a result.
 */
export async function mutateRcStore<T>(
  file: string,
  fn: (s: RcStore) => { changed: boolean; result: T } | Promise<{ changed: boolean; result: T }>,
): Promise<T> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const release = await lockfile.lock(file, {
    realpath: false,
    stale: 5000,
    retries: { retries: 400, minTimeout: 5, maxTimeout: 25, factor: 1.2 },
  });
  try {
    const s = await loadRcStore(file);
    const { changed, result } = await fn(s);
    if (changed) await atomicWriteJson(file, s);
    return result;
  } finally {
    await release();
  }
}
