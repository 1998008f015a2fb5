/**
 * The scheduler loop, one `tick()` at a time (the daemon calls it on a timer; tests call it with an
 * injected clock): reload cbm.xml (so a `clmgr modify` takes effect without a restart), and for each
 * profile with ENABLE_BACKUP=yes and BACKUP_METHOD=cloud whose RG is online on this node, start what
 * the schedule says is due. One run per profile at a time (also against manual `clmgr backup`, through
 * the job history); at most `maxConcurrent` runs at once. remote_storage profiles are started once
 * and their consistency-group state is polled; changes are logged, notified and exported.
 */
import type { Config } from "../config/model.ts";
import { effectiveAttrs, objectsOf } from "../config/model.ts";
import { loadConfig } from "../config/store.ts";
import { onlineHere, providerFor, type ClusterProvider } from "../cluster/provider.ts";
import { runBackupJob, type BackupJobResult } from "../jobs/backup.ts";
import { JobHistory, recordJob, type JobType } from "../jobs/history.ts";
import { notifyReplication } from "../jobs/notify.ts";
import { CbmError, errorMessage, errorText } from "../util/errors.ts";
import type { Clock } from "./clock.ts";
import type { Logger } from "./log.ts";
import { decide, DEFAULT_RETRY_MS, HOUR, slotAtOrBefore, specOf, type ScheduleDecision } from "./schedule.ts";
import { badText, runVerifyJob, type VerifyJobResult } from "../jobs/verify-job.ts";

export interface RunRequest {
  home: string;
  cfg: Config;
  rg: string;
  type: Exclude<JobType, "verify">;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
}

/** The one place a fake is allowed in tests: what runs a backup. */
export type Runner = (r: RunRequest) => Promise<BackupJobResult>;

export const realRunner: Runner = (r) => runBackupJob(r.home, r.cfg, r.rg, { type: r.type, signal: r.signal, env: r.env });

export interface ReplicationOps {
  start(home: string, cfg: Config, rg: string): Promise<{ state: string }>;
  status(home: string, cfg: Config, rg: string): Promise<{ state: string }>;
}

export interface SchedulerOptions {
  home: string;
  clock: Clock;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  runner?: Runner;
  /** Global limit of concurrent runs (CBM_MAX_JOBS, default 1). */
  maxConcurrent?: number;
  retryMs?: number;
  notifyTimeoutMs?: number;
  /** Cluster provider factory (default: the one cbm.xml names). */
  provider?: (cfg: Config) => ClusterProvider;
  replication?: ReplicationOps;
  /** Minimum time between replication polls of a profile (ms, by the injected clock). */
  replicationPollMs?: number;
  /** What runs a verify job (VERIFY_SCHEDULE); default runVerifyJob. */
  verifyRunner?: (r: Omit<RunRequest, "type">) => Promise<VerifyJobResult>;
}

export class Scheduler {
  readonly history: JobHistory;
  private readonly inFlight = new Map<string, { promise: Promise<void>; abort: AbortController }>();
  private readonly onlineSeen = new Map<string, boolean>();
  /** The due time of the run each profile was last warned about as overdue. */
  private readonly overdueWarned = new Map<string, number>();
  readonly replication = new Map<string, { state: string; seen: Set<string>; polled: number; started: boolean }>();
  private cfg: Config | undefined;
  private stopped = false;

  constructor(readonly o: SchedulerOptions) {
    this.history = JobHistory.open(o.home);
  }

  get env(): NodeJS.ProcessEnv {
    return this.o.env ?? process.env;
  }

  profiles(): string[] {
    return this.cfg ? objectsOf(this.cfg, "backup_profile").map((p) => p.name) : [];
  }

  /** The schedule of a profile as of now (for logs and `query backup_profile`). */
  decision(rg: string, attrs: Record<string, string>, now: number): ScheduleDecision {
    return scheduleFor(this.history, rg, attrs, now, this.o.retryMs);
  }

  async tick(): Promise<void> {
    if (this.stopped) return;
    const now = this.o.clock.now();
    let cfg: Config;
    try {
      cfg = await loadConfig(this.o.home);
    } catch (e) {
      this.o.log("error", "config_error", { error: errorMessage(e) });
      return;
    }
    this.cfg = cfg;
    const provider = (this.o.provider ?? ((c: Config) => providerFor(c, this.env)))(cfg);
    const max = this.o.maxConcurrent ?? 1;
    // Due runs are collected first and started longest-overdue first: in cbm.xml order, a profile
    // due again as soon as its run ended would win every free slot and starve the others.
    const dueBackups: Array<{ rg: string; type: "full" | "incremental"; since: number; period: number }> = [];
    const dueVerifies: string[] = [];
    for (const prof of objectsOf(cfg, "backup_profile")) {
      const rg = prof.name;
      const a = effectiveAttrs(cfg, prof);
      if (a.ENABLE_BACKUP !== "yes") {
        if (this.history.enabledSince(rg) !== undefined) this.o.log("info", "profile_disabled", { rg });
        this.history.setEnabledSince(rg, undefined);
        continue;
      }
      if (this.history.enabledSince(rg) === undefined) {
        this.history.setEnabledSince(rg, now);
        this.o.log("info", "profile_enabled", { rg, method: a.BACKUP_METHOD });
      }
      let here: Awaited<ReturnType<typeof onlineHere>>;
      try {
        here = await onlineHere(cfg, provider, rg, this.env);
      } catch (e) {
        this.o.log("error", "cluster_provider_error", { rg, provider: provider.name, error: errorText(e) });
        continue;
      }
      if (this.onlineSeen.get(rg) !== here.online) {
        this.o.log("info", here.online ? "rg_online_here" : "rg_not_here", { rg, where: here.where ?? null, node: here.here, provider: provider.name });
        this.onlineSeen.set(rg, here.online);
      }
      if (!here.online) continue;
      if (a.BACKUP_METHOD === "remote_storage") {
        await this.pollReplication(cfg, rg, a, now);
        continue;
      }
      if (a.BACKUP_METHOD !== "cloud") continue;
      if (this.inFlight.has(rg) || this.history.liveRunning(rg)) continue;
      const d = this.decision(rg, a, now);
      if (d.due) {
        const since = d.due === "full" ? d.nextFull : (d.nextIncremental ?? d.nextFull);
        const spec = specOf(a);
        const period = d.due === "full" ? 24 * HOUR * spec.fullDays : HOUR * (spec.incHours ?? 24);
        dueBackups.push({ rg, type: d.due, since, period });
      } else if (this.verifyDue(rg, a, now)) dueVerifies.push(rg);
    }
    dueBackups.sort((x, y) => x.since - y.since);
    for (const b of dueBackups) {
      if (this.inFlight.size < max) {
        this.overdueWarned.delete(b.rg);
        this.launch(cfg, b.rg, b.type);
        continue;
      }
      this.o.log("debug", "backup_deferred", { rg: b.rg, type: b.type, reason: `${max} run(s) already in progress` });
      // Once per due slot: a run held back longer than its own period is worth a warning (CBM_MAX_JOBS).
      if (now - b.since > b.period && this.overdueWarned.get(b.rg) !== b.since) {
        this.overdueWarned.set(b.rg, b.since);
        this.o.log("warn", "backup_overdue", { rg: b.rg, type: b.type, dueSince: new Date(b.since).toISOString(), reason: `${max} run(s) in progress (CBM_MAX_JOBS)` });
      }
    }
    for (const rg of dueVerifies) {
      if (this.inFlight.size >= max) this.o.log("debug", "verify_deferred", { rg, reason: `${max} run(s) already in progress` });
      else this.launchVerify(cfg, rg);
    }
  }

  /** A verify job is due once per VERIFY_SCHEDULE slot (HH:MM daily), from the first slot after enabling. */
  verifyDue(rg: string, a: Record<string, string>, now: number): boolean {
    if (!a.VERIFY_SCHEDULE) return false;
    const slot = slotAtOrBefore(now, a.VERIFY_SCHEDULE);
    if (slot < (this.history.enabledSince(rg) ?? now)) return false;
    const last = this.history.last(rg, { type: "verify" });
    return !last || last.start < slot;
  }

  private launchVerify(cfg: Config, rg: string): void {
    const abort = new AbortController();
    const log = this.o.log;
    const req = { home: this.o.home, cfg, rg, signal: abort.signal, env: this.env };
    log("info", "verify_start", { rg });
    const run = this.o.verifyRunner
      ? this.o.verifyRunner(req)
      : runVerifyJob(this.o.home, cfg, rg, {
          trigger: "scheduled",
          env: this.env,
          clock: this.o.clock,
          history: this.history,
          signal: abort.signal,
          notifyTimeoutMs: this.o.notifyTimeoutMs,
          log: (level, event, fields) => log(level, event, fields),
        });
    const promise = run
      .then((r) => log("info", "verify_success", { rg, run: r.run, chunksChecked: r.report.chunksChecked, chunksReferenced: r.report.chunksReferenced, cycleComplete: r.cycleComplete, verified: r.verifiedMarked }))
      .catch((e: unknown) => {
        const res = (e as { result?: VerifyJobResult }).result;
        log("error", "verify_failure", { rg, error: errorText(e), bad: res ? badText(res.report) : undefined });
      })
      .finally(() => this.inFlight.delete(rg));
    this.inFlight.set(rg, { promise, abort });
  }

  private launch(cfg: Config, rg: string, type: Exclude<JobType, "verify">): void {
    const abort = new AbortController();
    const runner = this.o.runner ?? realRunner;
    const log = this.o.log;
    let jobId = 0;
    const t0 = this.o.clock.now();
    const promise = recordJob(
      this.o.home,
      {
        profile: rg,
        type,
        trigger: "scheduled",
        cfg,
        env: this.env,
        clock: this.o.clock,
        history: this.history,
        notifyTimeoutMs: this.o.notifyTimeoutMs,
        log: (level, event, fields) => log(level, event, fields),
        onJob: (row) => (jobId = row.id),
      },
      () => {
        log("info", "backup_start", { rg, type });
        return runner({ home: this.o.home, cfg, rg, type, signal: abort.signal, env: this.env });
      },
    )
      .then((res) => log("info", "backup_success", { rg, type, job: jobId, backupId: res.id, bytesRead: res.bytesRead, bytesStored: res.bytesStored, durationMs: this.o.clock.now() - t0 }))
      .catch((e: unknown) => log("error", "backup_failure", { rg, type, job: jobId, error: errorText(e) }))
      .finally(() => this.inFlight.delete(rg));
    this.inFlight.set(rg, { promise, abort });
  }

  private async pollReplication(cfg: Config, rg: string, a: Record<string, string>, now: number): Promise<void> {
    const ops = this.o.replication;
    if (!ops) return;
    const cur = this.replication.get(rg) ?? { state: "", seen: new Set<string>(), polled: -Infinity, started: false };
    this.replication.set(rg, cur);
    if (now - cur.polled < (this.o.replicationPollMs ?? 60_000)) return;
    cur.polled = now;
    let state: string;
    try {
      state = cur.started ? (await ops.status(this.o.home, cfg, rg)).state : (await ops.start(this.o.home, cfg, rg)).state;
      if (!cur.started) this.o.log("info", "replication_started", { rg, state });
      cur.started = true;
    } catch (e) {
      state = "unknown";
      this.o.log("error", "replication_error", { rg, error: errorText(e) });
    }
    if (state === cur.state) return;
    const previous = cur.state;
    cur.state = state;
    cur.seen.add(state);
    this.o.log(previous ? "warn" : "info", "replication_state", { rg, state, previous: previous || null });
    if (previous && a.NOTIFYMETHOD) {
      await notifyReplication(a.NOTIFYMETHOD, cfg, rg, state, previous, { env: this.env, timeoutMs: this.o.notifyTimeoutMs, log: this.o.log });
    }
  }

  running(): string[] {
    return [...this.inFlight.keys()];
  }

  /** Waits for the runs in progress. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight.values()].map((f) => f.promise));
  }

  /** Stops scheduling; aborts the runs in progress (they are recorded failed) and waits for them. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const f of this.inFlight.values()) f.abort.abort(new CbmError("CBM_DAEMON_STOPPING", "cluster services are stopping"));
    await this.idle();
    this.history.close();
  }
}

/** Schedule decision for a profile from the history (the daemon's and `query backup_profile`'s). */
export function scheduleFor(hist: JobHistory, rg: string, attrs: Record<string, string>, now: number, retryMs = DEFAULT_RETRY_MS): ScheduleDecision {
  const full = hist.last(rg, { type: "full", result: "success" });
  const inc = hist.last(rg, { type: "incremental", result: "success" });
  const failedFull = hist.last(rg, { type: "full", result: "failed", after: full?.start });
  const failedInc = hist.last(rg, { type: "incremental", result: "failed", after: Math.max(full?.start ?? -1, inc?.start ?? -1) });
  return decide(
    specOf(attrs),
    {
      enabledSince: hist.enabledSince(rg) ?? now,
      lastFull: full?.start,
      lastIncremental: inc && full && inc.start > full.start ? inc.start : undefined,
      lastFailedFull: failedFull?.start,
      lastFailedIncremental: failedInc?.start,
    },
    now,
    retryMs,
  );
}
