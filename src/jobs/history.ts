/**
 * Job history: one row per backup run (scheduled or manual) in SQLite at CBM_HOME/state/jobs.db
 * (WAL, so `clmgr query backup_jobs` reads while the daemon writes). A run's row is written
 * "running" before it starts and finished with its result; a row left "running" by a process that
 * is gone (a crash, SIGKILL) is marked failed ("interrupted") when the daemon next starts.
 * The scheduler's state lives here too: what ran when, and since when each profile is enabled.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Config } from "../config/model.ts";
import { effectiveAttrs, findObject } from "../config/model.ts";
import { CbmError, errorMessage, errorText } from "../util/errors.ts";
import { clockFromEnv, type Clock } from "../daemon/clock.ts";
import type { BackupJobResult } from "./backup.ts";
import { notifyBackup, type NotifyLog } from "./notify.ts";
import { processIdentity, sameProcessAlive } from "../util/proc.ts";

/** Backups are "full" | "incremental"; "verify" rows are verify jobs (src/jobs/verify-job.ts). */
export type JobType = "full" | "incremental" | "verify";
/** The job types that are backups (for "the last backup", failure counts). */
export const BACKUP_TYPES: readonly JobType[] = ["full", "incremental"];
export type JobResult = "running" | "success" | "failed";

export interface JobRow {
  id: number;
  profile: string;
  type: JobType;
  trigger: "scheduled" | "manual";
  start: number;
  end: number | null;
  bytesRead: number;
  bytesStored: number;
  result: JobResult;
  error: string;
  backupId: string;
  pid: number;
  /** processIdentity() of pid when the run began ("" in rows from before it was recorded). */
  proc: string;
}

interface DbRow {
  id: number;
  profile: string;
  type: string;
  trigger: string;
  start_ms: number;
  end_ms: number | null;
  bytes_read: number;
  bytes_stored: number;
  result: string;
  error: string;
  backup_id: string;
  pid: number;
  proc: string;
}

const toRow = (r: DbRow): JobRow => ({
  id: r.id,
  profile: r.profile,
  type: r.type as JobType,
  trigger: r.trigger as JobRow["trigger"],
  start: r.start_ms,
  end: r.end_ms,
  bytesRead: r.bytes_read,
  bytesStored: r.bytes_stored,
  result: r.result as JobResult,
  error: r.error,
  backupId: r.backup_id,
  pid: r.pid,
  proc: r.proc,
});

export const jobsDbPath = (home: string) => join(home, "state", "jobs.db");

export class JobHistory {
  private constructor(readonly db: Database.Database) {}

  static open(home: string): JobHistory {
    mkdirSync(join(home, "state"), { recursive: true, mode: 0o700 });
    const db = new Database(jobsDbPath(home));
    db.pragma("journal_mode = WAL");
    db.pragma("busy_timeout = 5000");
    db.exec(`
      CREATE TABLE IF NOT EXISTS jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        profile TEXT NOT NULL,
        type TEXT NOT NULL,
        trigger TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER,
        bytes_read INTEGER NOT NULL DEFAULT 0,
        bytes_stored INTEGER NOT NULL DEFAULT 0,
        result TEXT NOT NULL,
        error TEXT NOT NULL DEFAULT '',
        backup_id TEXT NOT NULL DEFAULT '',
        pid INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX IF NOT EXISTS jobs_profile ON jobs(profile, start_ms);
      CREATE TABLE IF NOT EXISTS profile_state (profile TEXT PRIMARY KEY, enabled_since INTEGER NOT NULL);
    `);
    // Added after the first release: the running process's identity, so a reused pid is not taken for it.
    if (!(db.prepare("PRAGMA table_info(jobs)").all() as Array<{ name: string }>).some((c) => c.name === "proc")) {
      db.exec("ALTER TABLE jobs ADD COLUMN proc TEXT NOT NULL DEFAULT ''");
    }
    return new JobHistory(db);
  }

  close(): void {
    this.db.close();
  }

  /**
   * Inserts a "running" row, atomically refusing when a live process already runs this profile:
   * one run per profile at a time, across the daemon and manual `clmgr backup`.
   */
  begin(profile: string, type: JobType, trigger: JobRow["trigger"], start: number, pid = process.pid): number {
    const tx = this.db.transaction(() => {
      const busy = this.liveRunning(profile);
      if (busy) {
        throw new CbmError(
          "CBM_BACKUP_RUNNING",
          `A ${busy.type} backup of ${profile} is already running (pid ${busy.pid}, job ${busy.id}); one run per profile at a time.`,
        );
      }
      return Number(
        this.db
          .prepare("INSERT INTO jobs (profile, type, trigger, start_ms, result, pid, proc) VALUES (?, ?, ?, ?, 'running', ?, ?)")
          .run(profile, type, trigger, start, pid, processIdentity(pid) ?? "").lastInsertRowid,
      );
    });
    return tx.immediate();
  }

  finish(id: number, f: { end: number; result: "success" | "failed"; error?: string; bytesRead?: number; bytesStored?: number; backupId?: string }): void {
    this.db
      .prepare("UPDATE jobs SET end_ms = ?, result = ?, error = ?, bytes_read = ?, bytes_stored = ?, backup_id = ? WHERE id = ?")
      .run(f.end, f.result, f.error ?? "", f.bytesRead ?? 0, f.bytesStored ?? 0, f.backupId ?? "", id);
  }

  /** The running row of a profile whose process is alive (not this history's stale leftovers). */
  liveRunning(profile: string): JobRow | undefined {
    const rows = (this.db.prepare("SELECT * FROM jobs WHERE profile = ? AND result = 'running'").all(profile) as DbRow[]).map(toRow);
    return rows.find((r) => sameProcessAlive(r.pid, r.proc));
  }

  /** Marks rows left "running" by dead processes as failed ("interrupted"); returns them. */
  markInterrupted(now: number): JobRow[] {
    const rows = (this.db.prepare("SELECT * FROM jobs WHERE result = 'running'").all() as DbRow[]).map(toRow).filter((r) => !sameProcessAlive(r.pid, r.proc) || r.pid === process.pid);
    const upd = this.db.prepare("UPDATE jobs SET result = 'failed', error = ?, end_ms = ? WHERE id = ? AND result = 'running'");
    for (const r of rows) upd.run(`interrupted (process ${r.pid} ended during the run)`, now, r.id);
    return rows;
  }

  /** Rows oldest first: all, or (newest: n) the n most recent. */
  list(o: { profile?: string; newest?: number } = {}): JobRow[] {
    const cond = o.profile ? "WHERE profile = ?" : "";
    const args: Array<string | number> = o.profile ? [o.profile] : [];
    const recent = `SELECT * FROM jobs ${cond} ORDER BY start_ms DESC, id DESC LIMIT ?`;
    const rows = this.db.prepare(`SELECT * FROM (${recent}) ORDER BY start_ms, id`).all(...args, o.newest ?? -1) as DbRow[];
    return rows.map(toRow);
  }

  get(id: number): JobRow | undefined {
    const r = this.db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as DbRow | undefined;
    return r ? toRow(r) : undefined;
  }

  /** The most recent row of a profile that matches; `finished`: not running. */
  last(profile: string, f: JobFilter & { after?: number; finished?: boolean } = {}): JobRow | undefined {
    const w = where(profile, f);
    if (f.after !== undefined) w.add("start_ms > ?", f.after);
    if (f.finished) w.add("result != ?", "running");
    const r = this.db.prepare(`SELECT * FROM jobs WHERE ${w.sql()} ORDER BY start_ms DESC, id DESC LIMIT 1`).get(...w.args) as DbRow | undefined;
    return r ? toRow(r) : undefined;
  }

  count(profile: string, f: JobFilter = {}): number {
    const w = where(profile, f);
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE ${w.sql()}`).get(...w.args) as { n: number }).n;
  }

  profiles(): string[] {
    return (this.db.prepare("SELECT DISTINCT profile FROM jobs ORDER BY profile").all() as Array<{ profile: string }>).map((r) => r.profile);
  }

  enabledSince(profile: string): number | undefined {
    const r = this.db.prepare("SELECT enabled_since FROM profile_state WHERE profile = ?").get(profile) as { enabled_since: number } | undefined;
    return r?.enabled_since;
  }

  setEnabledSince(profile: string, t: number | undefined): void {
    if (t === undefined) this.db.prepare("DELETE FROM profile_state WHERE profile = ?").run(profile);
    else this.db.prepare("INSERT OR REPLACE INTO profile_state (profile, enabled_since) VALUES (?, ?)").run(profile, t);
  }
}

/** Which rows: one job type or several, and a result. */
export interface JobFilter {
  type?: JobType | readonly JobType[];
  result?: JobResult;
}

function where(profile: string, f: JobFilter): { args: Array<string | number>; add: (cond: string, ...v: Array<string | number>) => void; sql: () => string } {
  const conds: string[] = [];
  const args: Array<string | number> = [];
  const add = (cond: string, ...v: Array<string | number>) => {
    conds.push(cond);
    args.push(...v);
  };
  add("profile = ?", profile);
  if (typeof f.type === "string") add("type = ?", f.type);
  else if (f.type) add(`type IN (${f.type.map(() => "?").join(", ")})`, ...f.type);
  if (f.result) add("result = ?", f.result);
  return { args, add, sql: () => conds.join(" AND ") };
}

export interface RecordInfo {
  profile: string;
  type: JobType;
  trigger?: JobRow["trigger"];
  /** Given, the profile's NOTIFYMETHOD is run on success and failure. */
  cfg?: Config;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  history?: JobHistory;
  log?: NotifyLog;
  notifyTimeoutMs?: number;
  onJob?: (row: JobRow) => void;
}

/**
 * Runs one backup with its history row: "running" before, success/failed after, the notify method
 * after that (its failure never fails the backup). Refuses when the profile already runs.
 */
export async function recordJob(home: string, info: RecordInfo, fn: () => Promise<BackupJobResult>): Promise<BackupJobResult> {
  const clock = info.clock ?? clockFromEnv(info.env);
  const hist = info.history ?? JobHistory.open(home);
  const start = clock.now();
  const id = hist.begin(info.profile, info.type, info.trigger ?? "manual", start);
  const notify = async (ok: boolean, res?: BackupJobResult, err?: unknown) => {
    if (!info.cfg) return;
    const prof = findObject(info.cfg, "backup_profile", info.profile);
    const method = prof ? effectiveAttrs(info.cfg, prof).NOTIFYMETHOD : "";
    if (!method) return;
    await notifyBackup(method, info.cfg, info.profile, { ok, type: info.type, result: res, error: err === undefined ? undefined : errorMessage(err) }, {
      env: info.env,
      timeoutMs: info.notifyTimeoutMs,
      log: info.log,
    });
  };
  try {
    let res: BackupJobResult;
    try {
      res = await fn();
    } catch (e) {
      hist.finish(id, { end: clock.now(), result: "failed", error: errorText(e) });
      info.onJob?.(hist.get(id)!);
      await notify(false, undefined, e);
      throw e;
    }
    hist.finish(id, { end: clock.now(), result: "success", bytesRead: res.bytesRead, bytesStored: res.bytesStored, backupId: res.id });
    info.onJob?.(hist.get(id)!);
    await notify(true, res);
    return res;
  } finally {
    if (!info.history) hist.close();
  }
}
