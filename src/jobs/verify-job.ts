/**
 * Verify jobs: a sampled verification that ROTATES through the repository, so that successive runs
 * check every chunk a profile's backups reference. Each run takes the next slice of the sorted set
 * of referenced chunk ids after a persistent cursor (CBM_HOME/state/verify/<repoId>-<rg>.json):
 * with VERIFY_SAMPLE=p %, the slice holds ceil(n·p/100) ids and ceil(100/p) runs cover a set that
 * did not change. New chunks are covered when the cursor passes their place (ids are uniformly
 * spread, so they are found in proportion).
 *
 * A cycle is the sequence of runs from the cursor's start to its wrap. When a cycle ends without a
 * missing or corrupt chunk, every backup that existed when the cycle began (and still exists) gets a
 * `verified/<backupId>` marker in the repository — all of its chunks were checked — which retention
 * honours (the newest verified backup is never pruned).
 *
 * Each run is a row of type "verify" in the job history (so `clmgr query backup_jobs` and the
 * metrics show it), and runs NOTIFYMETHOD with verify_success / verify_failure. A damaged chunk is
 * reported with every backup, disk and offset that needs it.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/model.ts";
import { clockFromEnv, type Clock } from "../daemon/clock.ts";
import { markVerified, type Manifest, type Repository, type VerifyReport } from "../repo/index.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { CbmError, errorText, validationError } from "../util/errors.ts";
import { JobHistory } from "./history.ts";
import { runNotify, type NotifyLog } from "./notify.ts";
import { planProfile, requireCloudProfile } from "./plan.ts";
import { effectiveAttrs, findObject } from "../config/model.ts";
import { openProfileRepo } from "./repo-open.ts";

export interface VerifyCursor {
  /** Last chunk id checked; "" at the start of a cycle. */
  cursor: string;
  /** Runs so far (all cycles). */
  run: number;
  /** Cycles completed. */
  cycles: number;
  /** Backups that existed when the current cycle began. */
  cycleBackups: string[];
  /** Missing or corrupt chunks found in the current cycle. */
  cycleBad: number;
}

export interface VerifyJobResult {
  rg: string;
  location: string;
  run: number;
  sample: number;
  /** The chunk ids this run checked (its slice). */
  checked: string[];
  /** Whether this run ended a cycle (the cursor wrapped). */
  cycleComplete: boolean;
  /** Backups that got a verified/ marker from this run. */
  verifiedMarked: string[];
  report: VerifyReport;
}

/** The next slice of at most k ids after `cursor` in sorted ids; wrapped when it reaches the end. Pure. */
export function nextSlice(sorted: string[], cursor: string, k: number): { ids: string[]; cursor: string; wrapped: boolean } {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= cursor) lo = mid + 1;
    else hi = mid;
  }
  const ids = sorted.slice(lo, lo + Math.max(1, k));
  const wrapped = lo + ids.length >= sorted.length;
  return { ids, cursor: wrapped ? "" : (ids.at(-1) ?? ""), wrapped };
}

/** Manifests reduced to the chunks of `keep` (others become null, so runVerify checks only those). */
export function restrictManifests(manifests: Manifest[], keep: Set<string>): Manifest[] {
  return manifests.map((m) => ({
    ...m,
    vgs: m.vgs.map((vg) => ({ ...vg, disks: vg.disks.map((d) => ({ ...d, chunks: d.chunks.map((c) => (c && keep.has(c) ? c : null)) })) })),
  }));
}

function cursorPath(home: string, repoId: string, rg: string): string {
  return join(home, "state", "verify", `${repoId}-${rg.replace(/[^A-Za-z0-9_.-]/g, "_")}.json`);
}

async function loadCursor(path: string): Promise<VerifyCursor> {
  try {
    const c = JSON.parse(await readFile(path, "utf8")) as Partial<VerifyCursor>;
    return {
      cursor: typeof c.cursor === "string" ? c.cursor : "",
      run: Number(c.run) || 0,
      cycles: Number(c.cycles) || 0,
      cycleBackups: Array.isArray(c.cycleBackups) ? c.cycleBackups.filter((x): x is string => typeof x === "string") : [],
      cycleBad: Number(c.cycleBad) || 0,
    };
  } catch {
    return { cursor: "", run: 0, cycles: 0, cycleBackups: [], cycleBad: 0 };
  }
}

/** One rotating verify run of a profile's backups in an open repository. */
export async function verifyRotating(
  home: string,
  repo: Repository,
  scope: { cluster?: string; rg: string },
  sample: number,
  o: { signal?: AbortSignal } = {},
): Promise<VerifyJobResult> {
  if (!(sample > 0 && sample <= 100)) throw validationError("CBM_BAD_VALUE", `VERIFY_SAMPLE ${sample}: give a percentage from 1 to 100.`);
  const path = cursorPath(home, repo.config.id, scope.rg);
  const st = await loadCursor(path);
  const manifests = await repo.manifests(scope);
  const all = new Set<string>();
  for (const m of manifests) for (const vg of m.vgs) for (const d of vg.disks) for (const c of d.chunks) if (c) all.add(c);
  const sorted = [...all].sort();
  const k = Math.ceil((sorted.length * sample) / 100);
  // A run that checks everything is a whole cycle by itself, wherever the cursor was.
  if (k >= sorted.length) st.cursor = "";
  if (st.cursor === "") {
    st.cycleBackups = manifests.map((m) => m.id);
    st.cycleBad = 0;
  }
  const slice = nextSlice(sorted, st.cursor, k);
  const report = await repo.verifyManifests(restrictManifests(manifests, new Set(slice.ids)), { signal: o.signal });
  report.backups = manifests.map((m) => m.id);
  st.run++;
  st.cycleBad += report.bad.length;
  const verifiedMarked: string[] = [];
  if (slice.wrapped) {
    if (st.cycleBad === 0) {
      const exists = new Set(manifests.map((m) => m.id));
      for (const id of st.cycleBackups) {
        if (!exists.has(id)) continue;
        const m = manifests.find((x) => x.id === id)!;
        const n = new Set(m.vgs.flatMap((vg) => vg.disks.flatMap((d) => d.chunks.filter((c): c is string => c !== null)))).size;
        await markVerified(repo.store, id, n);
        verifiedMarked.push(id);
      }
    }
    st.cycles++;
    st.cycleBackups = [];
    st.cycleBad = 0;
  }
  st.cursor = slice.cursor;
  await mkdir(join(home, "state", "verify"), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(st)}\n`);
  return { rg: scope.rg, location: repo.store.location, run: st.run, sample, checked: slice.ids, cycleComplete: slice.wrapped, verifiedMarked, report };
}

/** Text of a damaged chunk and the backups that need it. */
export function badText(r: VerifyReport): string[] {
  return r.bad.map((b) => {
    const backups = [...new Set(b.usedBy.map((u) => u.backupId))];
    const uses = b.usedBy.map((u) => `${u.fileName} at offset ${u.offset}`).join("; ");
    return `${b.problem} chunk ${b.id}: needed by backup(s) ${backups.join(", ")} — ${uses}`;
  });
}

export interface VerifyJobOptions {
  sample?: number;
  trigger?: "scheduled" | "manual";
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  history?: JobHistory;
  signal?: AbortSignal;
  log?: NotifyLog;
  notifyTimeoutMs?: number;
}

/**
 * The verify job of a profile, recorded in the job history (type "verify") and notified. Throws
 * CBM_VERIFY_FAILED (kind integrity) when a chunk is missing or corrupt, after recording it.
 */
export async function runVerifyJob(home: string, cfg: Config, rg: string, o: VerifyJobOptions = {}): Promise<VerifyJobResult> {
  requireCloudProfile(cfg, rg, "verify jobs"); // an unknown or non-cloud profile: refused before anything is recorded
  const attrs = effectiveAttrs(cfg, findObject(cfg, "backup_profile", rg)!);
  const clock = o.clock ?? clockFromEnv(o.env);
  const hist = o.history ?? JobHistory.open(home);
  const sample = o.sample ?? (Number(attrs.VERIFY_SAMPLE || 100) || 100);
  const jobId = hist.begin(rg, "verify", o.trigger ?? "manual", clock.now());
  const notify = async (ok: boolean, vars: Record<string, string>) => {
    if (!attrs.NOTIFYMETHOD) return;
    const cluster = cfg.objects.find((x) => x.cls === "cluster")?.name ?? "";
    await runNotify(attrs.NOTIFYMETHOD, ok ? "verify_success" : "verify_failure", rg, { CBM_CLUSTER: cluster, ...vars }, {
      env: o.env,
      timeoutMs: o.notifyTimeoutMs,
      log: o.log,
      cfg,
    });
  };
  try {
    let res: VerifyJobResult;
    try {
      const plan = planProfile(home, cfg, rg);
      const repo = await openProfileRepo(plan, { env: o.env });
      try {
        res = await verifyRotating(home, repo, { cluster: plan.cluster, rg }, sample, { signal: o.signal });
      } finally {
        await repo.close();
      }
    } catch (e) {
      const msg = errorText(e);
      hist.finish(jobId, { end: clock.now(), result: "failed", error: msg });
      await notify(false, { CBM_ERROR: msg });
      throw e;
    }
    const r = res.report;
    const vars: Record<string, string> = {
      CBM_VERIFY_CHECKED: String(r.chunksChecked),
      CBM_VERIFY_REFERENCED: String(r.chunksReferenced),
      CBM_VERIFY_RUN: String(res.run),
      CBM_VERIFY_BAD: badText(r).join("\n"),
    };
    if (r.ok) {
      hist.finish(jobId, { end: clock.now(), result: "success", bytesRead: r.bytesChecked, backupId: res.verifiedMarked.at(-1) ?? "" });
      await notify(true, vars);
      return res;
    }
    const msg = `${r.missing} missing and ${r.corrupt} corrupt chunk(s): ${badText(r).join(" | ")}`;
    hist.finish(jobId, { end: clock.now(), result: "failed", bytesRead: r.bytesChecked, error: msg });
    await notify(false, { ...vars, CBM_ERROR: msg });
    const err = new CbmError("CBM_VERIFY_FAILED", `Verification of ${rg} found ${msg}`, "integrity");
    (err as CbmError & { result?: VerifyJobResult }).result = res;
    throw err;
  } finally {
    if (!o.history) hist.close();
  }
}
