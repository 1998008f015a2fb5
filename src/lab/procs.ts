/**
 * Background processes of the lab: detached children on 127.0.0.1, each recorded by pid and stopped
 * by that pid only — after checking that the pid still runs the program we started (a pid can be
 * reused once our process is gone).
 */
import { spawn } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CbmError } from "../util/errors.ts";
import { pidAlive, httpAnswers } from "../util/proc.ts";
import { PROJECT_ROOT } from "../util/root.ts";

export const ROOT = PROJECT_ROOT;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface LabProc {
  role: string;
  pid: number;
  /** A word that must appear in /proc/<pid>/cmdline for the pid to still be ours. */
  marker: string;
}

/** Starts `args` under this node, detached, output to files in `logDir`; returns its pid. */
export function spawnDetached(role: string, args: string[], logDir: string): number {
  const out = openSync(join(logDir, `${role}.out`), "w", 0o600);
  const err = openSync(join(logDir, `${role}.err`), "w", 0o600);
  try {
    const child = spawn(process.execPath, args, { cwd: ROOT, detached: true, stdio: ["ignore", out, err] });
    child.unref();
    if (child.pid === undefined) throw new CbmError("CBM_LAB_SPAWN", `Could not start the lab's ${role}.`);
    return child.pid;
  } finally {
    closeSync(out);
    closeSync(err);
  }
}

async function stillOurs(p: LabProc): Promise<boolean> {
  if (!pidAlive(p.pid)) return false;
  try {
    return (await readFile(`/proc/${p.pid}/cmdline`, "utf8")).includes(p.marker);
  } catch {
    return true; // no /proc (not Linux): trust the recorded pid
  }
}

/** SIGTERM, wait up to 5 s, then SIGKILL. */
export async function stopProc(p: LabProc): Promise<void> {
  if (!(await stillOurs(p))) return;
  try {
    process.kill(p.pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + 5000;
  while (pidAlive(p.pid) && Date.now() < deadline) await sleep(50);
  if (pidAlive(p.pid)) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
}

/** The first line of a file, once it is complete (bounded wait); fails early if `pid` dies. */
export async function waitFirstLine(file: string, pid: number, errFile: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = await readFile(file, "utf8").catch(() => "");
    const nl = text.indexOf("\n");
    if (nl >= 0) return text.slice(0, nl);
    if (!pidAlive(pid)) break;
    await sleep(50);
  }
  const err = (await readFile(errFile, "utf8").catch(() => "")).trim().slice(-500);
  throw new CbmError("CBM_LAB_SPAWN", `A lab process (pid ${pid}) did not start${err ? `: ${err}` : ""}.`);
}

export async function waitHttp(url: string, pid: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await httpAnswers(url)) return;
    if (!pidAlive(pid)) break;
    await sleep(50);
  }
  throw new CbmError("CBM_LAB_SPAWN", `The lab's S3 server (pid ${pid}) did not answer at ${url}.`);
}
