/**
 * Cluster services: `cbm daemon` (foreground; systemd runs it, contrib/cbm.service) and
 * `clmgr start|stop cluster` (detached, pid file CBM_HOME/run/cbm.pid).
 *
 * Environment: CBM_TICK_MS (scheduler period, default 15000), CBM_MAX_JOBS (concurrent runs,
 * default 1), CBM_RETRY_MINUTES (retry delay of a failed full, default 60), CBM_METRICS_PORT
 * (default 9478, 0 = any, off = none), CBM_NOTIFY_TIMEOUT (seconds, default 30),
 * CBM_REPL_POLL_SECONDS (remote-copy poll period, default 60), CBM_CLOCK_START/CBM_CLOCK_SPEED
 * (simulated clock, tests only), TZ (schedules are in local time).
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Config, effectiveAttrs, findObject } from "../config/model.ts";
import { loadConfig } from "../config/store.ts";
import type { JobRow } from "../jobs/history.ts";
import { notifyBackup, runNotify } from "../jobs/notify.ts";
import { pidAlive } from "../util/proc.ts";
import { PROJECT_ROOT } from "../util/root.ts";
import { CbmError, errorMessage } from "../util/errors.ts";
import { clockFromEnv } from "./clock.ts";
import { fileLogger, logPath, type Logger } from "./log.ts";
import { renderMetrics, startMetricsServer, type MetricsServer } from "./metrics.ts";
import { Scheduler, type ReplicationOps } from "./scheduler.ts";

export const runDir = (home: string) => join(home, "run");
export const pidPath = (home: string) => join(runDir(home), "cbm.pid");
export const metricsPortPath = (home: string) => join(runDir(home), "metrics.port");
export const DEFAULT_METRICS_PORT = 9478;

/** The pid in the pid file if that process is alive; removes a stale file. */
export function runningPid(home: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidPath(home), "utf8").trim());
  } catch {
    return undefined;
  }
  if (pid > 0 && pid !== process.pid && pidAlive(pid)) return pid;
  if (pid === process.pid) return pid;
  rmSync(pidPath(home), { force: true });
  return undefined;
}

function takePidFile(home: string): void {
  mkdirSync(runDir(home), { recursive: true, mode: 0o700 });
  for (let i = 0; i < 2; i++) {
    const other = runningPid(home);
    if (other !== undefined && other !== process.pid) throw new CbmError("CBM_ALREADY_RUNNING", `Cluster services are already running (pid ${other}).`);
    try {
      const fd = openSync(pidPath(home), "wx", 0o644);
      writeFileSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  throw new CbmError("CBM_ALREADY_RUNNING", `Cluster services are already running (pid file ${pidPath(home)}).`);
}

const num = (v: string | undefined, def: number) => (v !== undefined && v !== "" && Number.isFinite(Number(v)) ? Number(v) : def);

async function replicationOps(): Promise<ReplicationOps> {
  const m = await import("../jobs/replication.ts");
  return {
    start: (home: string, cfg: Config, rg: string) => m.startReplication(home, cfg, rg, { wait: false }),
    status: (home: string, cfg: Config, rg: string) => m.replicationStatus(home, cfg, rg),
  };
}

/** Runs the daemon until SIGTERM/SIGINT. Resolves when it has stopped cleanly. */
export async function runDaemon(home: string, env: NodeJS.ProcessEnv = process.env, o: { stderr?: boolean } = {}): Promise<void> {
  const clock = clockFromEnv(env);
  const log: Logger = fileLogger(home, { clock, stderr: o.stderr, level: env.CBM_LOG_LEVEL });
  takePidFile(home);
  let metrics: MetricsServer | undefined;
  let sched: Scheduler | undefined;
  try {
    sched = new Scheduler({
      home,
      clock,
      log,
      env,
      maxConcurrent: Math.max(1, num(env.CBM_MAX_JOBS, 1)),
      retryMs: num(env.CBM_RETRY_MINUTES, 60) * 60_000,
      replication: await replicationOps(),
      replicationPollMs: num(env.CBM_REPL_POLL_SECONDS, 60) * 1000,
    });
    const interrupted = sched.history.markInterrupted(clock.now());
    for (const r of interrupted) {
      log("warn", "backup_interrupted", { rg: r.profile, type: r.type, job: r.id, pid: r.pid, started: new Date(r.start).toISOString() });
    }
    await notifyInterrupted(home, interrupted, env, log);
    const portSpec = env.CBM_METRICS_PORT ?? String(DEFAULT_METRICS_PORT);
    if (portSpec !== "off") {
      const s = sched;
      try {
        metrics = await startMetricsServer(num(portSpec, DEFAULT_METRICS_PORT), () => renderMetrics(s.history, s.profiles(), s.replication));
        writeFileSync(metricsPortPath(home), `${metrics.port}\n`);
      } catch (e) {
        log("error", "metrics_unavailable", { port: portSpec, error: errorMessage(e) });
      }
    }
    log("info", "daemon_start", { home, tz: Intl.DateTimeFormat().resolvedOptions().timeZone, metricsPort: metrics?.port ?? null });
    const tickMs = Math.max(10, num(env.CBM_TICK_MS, 15_000));
    let stopping = false;
    // Ends the pause between ticks early: a stop does not wait it out (an HA stop or takeover waits
    // on it). A fresh wake per pause, not a race against one long-lived promise, which would keep a
    // reaction per tick for the daemon's lifetime.
    let wake = () => undefined as void;
    const stopped = new Promise<string>((resolve) => {
      for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => resolve(sig));
    });
    const loop = (async () => {
      while (!stopping) {
        await sched!.tick().catch((e: unknown) => log("error", "tick_error", { error: errorMessage(e) }));
        if (stopping) break;
        await new Promise<void>((r) => {
          const timer = setTimeout(r, tickMs);
          wake = () => {
            clearTimeout(timer);
            r();
          };
        });
      }
    })();
    const sig = await stopped;
    stopping = true;
    wake();
    log("info", "daemon_stopping", { signal: sig, running: sched.running() });
    await sched.stop();
    await loop;
    log("info", "daemon_stop", {});
  } finally {
    await metrics?.close();
    rmSync(metricsPortPath(home), { force: true });
    if (runningPid(home) === process.pid) rmSync(pidPath(home), { force: true });
  }
}

/** A run cut short by a crash (node down mid-backup) is a failure its NOTIFYMETHOD hears about too. */
async function notifyInterrupted(home: string, rows: JobRow[], env: NodeJS.ProcessEnv, log: Logger): Promise<void> {
  if (rows.length === 0) return;
  const cfg = await loadConfig(home).catch(() => undefined);
  for (const r of rows) {
    const prof = cfg && findObject(cfg, "backup_profile", r.profile);
    const method = prof ? effectiveAttrs(cfg, prof).NOTIFYMETHOD : "";
    if (!cfg || !method) continue;
    const error = `interrupted: process ${r.pid} ended during the ${r.type} run started ${new Date(r.start).toISOString()}`;
    if (r.type === "verify") await runNotify(method, "verify_failure", r.profile, { CBM_ERROR: error }, { env, log, cfg });
    else await notifyBackup(method, cfg, r.profile, { ok: false, type: r.type, error }, { env, log });
  }
}

const CBM_BIN = join(PROJECT_ROOT, "bin", "cbm");

/** `clmgr start cluster`: the daemon, detached; waits until it holds its pid file. */
export async function startDetached(home: string, env: NodeJS.ProcessEnv): Promise<number> {
  const other = runningPid(home);
  if (other !== undefined) throw new CbmError("CBM_ALREADY_RUNNING", `Cluster services are already running (pid ${other}).`);
  mkdirSync(join(home, "logs"), { recursive: true, mode: 0o700 });
  const out = openSync(join(home, "logs", "daemon.out"), "a", 0o600);
  // Run bin/cbm itself, not node with it: its #! line gives node the malloc tunables and heap flag
  // the pipelines are measured with, from one place.
  // Detached, the log file is the log: its lines are not copied to daemon.out (crash output only).
  const child = spawn(CBM_BIN, ["daemon"], { env: { ...env, CBM_HOME: home, CBM_DAEMON_DETACHED: "1" }, detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  let exited: number | null | undefined;
  child.on("exit", (code) => (exited = code));
  child.unref();
  for (let i = 0; i < 200; i++) {
    await new Promise((r) => setTimeout(r, 50));
    if (exited !== undefined) {
      const tail = (() => {
        try {
          return readFileSync(join(home, "logs", "daemon.out"), "utf8").trim().split("\n").slice(-3).join(" | ");
        } catch {
          return "";
        }
      })();
      throw new CbmError("CBM_DAEMON_FAILED", `Cluster services did not start (exit ${exited}): ${tail || `see ${logPath(home)}`}`);
    }
    if (runningPid(home) === child.pid) return child.pid!;
  }
  throw new CbmError("CBM_DAEMON_FAILED", `Cluster services did not report running within 10 s; see ${logPath(home)}.`);
}

/** `clmgr stop cluster`: SIGTERM, then waits (runs in progress are aborted and recorded failed). */
export async function stopDaemon(home: string, timeoutMs = 60_000): Promise<number | undefined> {
  const pid = runningPid(home);
  if (pid === undefined) return undefined;
  process.kill(pid, "SIGTERM");
  for (let waited = 0; waited < timeoutMs; waited += 50) {
    if (!pidAlive(pid)) {
      rmSync(pidPath(home), { force: true });
      return pid;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new CbmError("CBM_DAEMON_STOP_TIMEOUT", `Cluster services (pid ${pid}) did not stop within ${timeoutMs / 1000} s.`);
}
