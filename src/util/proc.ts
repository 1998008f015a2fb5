import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";

/**
 * Whether a process with this pid runs on this host (EPERM: it exists, owned by someone else). A zombie
 * (killed, not yet reaped) counts as gone.
 */
export function pidAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

/**
 * Which process a pid names, across pid reuse: this boot's id and the process's start time (clock
 * ticks since boot, /proc/<pid>/stat field 22). Undefined where /proc does not tell.
 */
export function processIdentity(pid: number): string | undefined {
  try {
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]; // fields from 3 (state) on
    return start ? `${boot}:${start}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the process recorded as (pid, identity) still runs: its pid is alive and, where an identity
 * was recorded and can be read, it is the same process (a crash and reboot can hand the pid to another).
 */
export function sameProcessAlive(pid: number, identity: string): boolean {
  if (!pidAlive(pid)) return false;
  if (identity === "") return true;
  const now = processIdentity(pid);
  return now === undefined || now === identity;
}

/** A loopback port that was free a moment ago (the kernel's choice for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

/** Whether anything answers HTTP at url (any status counts as "up"). */
export function httpAnswers(url: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}
