/**
 * NOTIFYMETHOD: the program a profile names to hear about its backups and its replication.
 *
 * Run without a shell (execFile semantics) as `NOTIFYMETHOD EVENT RG`, in its own process group,
 * with stdin closed and this environment (besides the caller's):
 *   CBM_EVENT               backup_success | backup_failure | replication_state_change
 *   CBM_CLUSTER, CBM_RG     the cluster and resource group (= profile) names
 *   CBM_BACKUP_TYPE         full | incremental                      (backup events)
 *   CBM_BACKUP_ID           the backup's id                          (backup_success)
 *   CBM_BACKUP_FILES        the backup's file names, one per line    (backup_success)
 *   CBM_BYTES_READ, CBM_BYTES_STORED                                 (backup_success)
 *   CBM_ERROR               the error message                        (backup_failure)
 *   CBM_REPLICATION_STATE, CBM_PREVIOUS_STATE                        (replication_state_change)
 * It has `timeoutMs` (default 30 s, CBM_NOTIFY_TIMEOUT in seconds) to finish; then its whole process
 * group gets SIGTERM and, 1 s later, SIGKILL. Its output goes to the log. Whatever it does, the
 * backup's result stands: this function never throws.
 */
import { spawn } from "node:child_process";
import { type Config, effectiveAttrs, objectsOf } from "../config/model.ts";
import type { BackupJobResult } from "./backup.ts";

export type NotifyEvent = "backup_success" | "backup_failure" | "replication_state_change" | "verify_success" | "verify_failure";

export interface NotifyLog {
  (level: "info" | "warn" | "error", event: string, fields: Record<string, unknown>): void;
}

export interface NotifyOutcome {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  output: string;
  error?: string;
}

export const DEFAULT_NOTIFY_TIMEOUT_MS = 30_000;
const MAX_OUTPUT = 64 * 1024;

function timeoutFrom(env: NodeJS.ProcessEnv | undefined, given?: number): number {
  if (given !== undefined) return given;
  const s = Number(env?.CBM_NOTIFY_TIMEOUT);
  return s > 0 ? s * 1000 : DEFAULT_NOTIFY_TIMEOUT_MS;
}

/**
 * The environment a notify method gets: the caller's without the variables any backup profile names
 * as holding a secret (SECRET_KEY_ENV, REPO_KEY=env:VAR). The method's output goes to the log, and a
 * script run with `set -x` or one that prints its environment must not put them there.
 */
export function notifyEnv(cfg: Config | undefined, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const p of cfg ? objectsOf(cfg, "backup_profile") : []) {
    const a = effectiveAttrs(cfg!, p);
    if (a.SECRET_KEY_ENV) delete out[a.SECRET_KEY_ENV];
    if (a.REPO_KEY?.startsWith("env:")) delete out[a.REPO_KEY.slice(4)];
  }
  return out;
}

export function runNotify(
  method: string,
  event: NotifyEvent,
  rg: string,
  vars: Record<string, string>,
  o: { env?: NodeJS.ProcessEnv; timeoutMs?: number; log?: NotifyLog; cfg?: Config } = {},
): Promise<NotifyOutcome> {
  const timeoutMs = timeoutFrom(o.env ?? process.env, o.timeoutMs);
  return new Promise((resolve) => {
    let output = "";
    let timedOut = false;
    let done = false;
    const finish = (r: Omit<NotifyOutcome, "output" | "timedOut">) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(killer);
      const out: NotifyOutcome = { ...r, timedOut, output };
      const ok = !timedOut && r.code === 0 && !r.error;
      o.log?.(ok ? "info" : "warn", "notify", { method, notifyEvent: event, rg, code: r.code, signal: r.signal, timedOut, error: r.error, output: output.trimEnd() });
      resolve(out);
    };
    let killer: NodeJS.Timeout | undefined;
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(method, [event, rg], {
        env: { ...notifyEnv(o.cfg, o.env ?? process.env), CBM_EVENT: event, CBM_RG: rg, ...vars },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
        shell: false,
      });
    } catch (e) {
      finish({ code: null, signal: null, error: (e as Error).message });
      return;
    }
    const grab = (d: Buffer) => {
      if (output.length < MAX_OUTPUT) output += d.toString("utf8").slice(0, MAX_OUTPUT - output.length);
    };
    child.stdout?.on("data", grab);
    child.stderr?.on("data", grab);
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup("SIGTERM");
      killer = setTimeout(() => killGroup("SIGKILL"), 1000);
    }, timeoutMs);
    child.on("error", (e) => finish({ code: null, signal: null, error: e.message }));
    child.on("exit", (code, signal) => {
      // The group may still hold our pipes (a grandchild): do not wait for them past the exit.
      if (timedOut) killGroup("SIGKILL");
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish({ code, signal });
      }, 50);
    });
  });
}

/** NOTIFYMETHOD after a backup run. */
export async function notifyBackup(
  method: string,
  cfg: Config,
  rg: string,
  r: { ok: boolean; type: string; result?: BackupJobResult; error?: string },
  o: { env?: NodeJS.ProcessEnv; timeoutMs?: number; log?: NotifyLog } = {},
): Promise<NotifyOutcome> {
  const cluster = cfg.objects.find((x) => x.cls === "cluster")?.name ?? "";
  const vars: Record<string, string> = { CBM_CLUSTER: cluster, CBM_BACKUP_TYPE: r.type };
  if (r.result) {
    vars.CBM_BACKUP_ID = r.result.id;
    vars.CBM_BACKUP_FILES = r.result.fileNames.join("\n");
    vars.CBM_BYTES_READ = String(r.result.bytesRead);
    vars.CBM_BYTES_STORED = String(r.result.bytesStored);
  }
  if (r.error !== undefined) vars.CBM_ERROR = r.error;
  return runNotify(method, r.ok ? "backup_success" : "backup_failure", rg, vars, { ...o, cfg });
}

/** NOTIFYMETHOD after a remote-copy state change. */
export function notifyReplication(
  method: string,
  cfg: Config,
  rg: string,
  state: string,
  previous: string,
  o: { env?: NodeJS.ProcessEnv; timeoutMs?: number; log?: NotifyLog } = {},
): Promise<NotifyOutcome> {
  const cluster = cfg.objects.find((x) => x.cls === "cluster")?.name ?? "";
  return runNotify(method, "replication_state_change", rg, { CBM_CLUSTER: cluster, CBM_REPLICATION_STATE: state, CBM_PREVIOUS_STATE: previous }, { ...o, cfg });
}
