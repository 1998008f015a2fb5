/**
 * One backup run of a profile, start to end — the code path of `clmgr backup backup_profile` and of
 * the scheduler: plan from the configuration, take the point in time through the storage driver,
 * stream every disk into the repository, release the point in time.
 */
import type { Config } from "../config/model.ts";
import type { BackupProgress, BackupSummary } from "../repo/index.ts";
import { cloudPlan, localNode, planProfile, type ProfilePlan } from "./plan.ts";
import { openProfileRepo } from "./repo-open.ts";
import { checkSources, takePointInTime } from "./snapshot.ts";
import { pruneSettings, pruneText, pruneWith, retentionConfigured } from "./prune.ts";
import type { PruneReport } from "../repo/index.ts";
import { errorMessage } from "../util/errors.ts";

export interface BackupJobOptions {
  type?: "full" | "incremental";
  onProgress?: (p: BackupProgress) => void;
  onInfo?: (msg: string) => void;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

export interface BackupJobResult extends BackupSummary {
  rg: string;
  pointInTime: string;
  location: string;
  /** The retention run that followed the backup (profiles with KEEP_* set). */
  prune?: PruneReport;
  /** Why that retention run failed; the backup itself succeeded. */
  pruneError?: string;
}

/** One backup, then the profile's retention policy when it has one (a prune failure never fails the backup). */
export async function runBackupJob(home: string, cfg: Config, rg: string, o: BackupJobOptions = {}): Promise<BackupJobResult> {
  const res = await backupOnce(home, cfg, rg, o);
  const plan = planProfile(home, cfg, rg);
  if (!retentionConfigured(plan.attrs)) return res;
  if (o.signal?.aborted) {
    // Stopped (Ctrl-C) after the backup was written: it stands; its retention waits for the next run.
    o.onInfo?.("Retention skipped: the run was interrupted after the backup was written (the next backup applies it).");
    return res;
  }
  try {
    const repo = await openProfileRepo(plan, { env: o.env });
    try {
      res.prune = await pruneWith(repo, plan.cluster, rg, pruneSettings(plan.attrs));
      o.onInfo?.(pruneText(res.prune).split("\n").filter((l) => !l.startsWith("keep ")).join("\n"));
    } finally {
      await repo.close();
    }
  } catch (e) {
    res.pruneError = errorMessage(e);
    o.onInfo?.(`Retention after the backup failed (the backup itself succeeded): ${res.pruneError}`);
  }
  return res;
}

async function backupOnce(home: string, cfg: Config, rg: string, o: BackupJobOptions): Promise<BackupJobResult> {
  const plan: ProfilePlan = cloudPlan(home, cfg, rg);
  const lockDays = Number(plan.attrs.OBJECT_LOCK_DAYS || 0);
  await checkSources(cfg, plan);
  const repo = await openProfileRepo(plan, { create: true, objectLock: lockDays > 0, env: o.env, onInfo: o.onInfo });
  try {
    const pit = await takePointInTime(home, cfg, plan, o.onInfo);
    try {
      const summary = await repo.backup({
        type: o.type ?? "full",
        meta: { cluster: plan.cluster, rg, node: localNode(cfg, o.env), consistencyGroup: plan.attrs.REPLICATED_RESOURCES || undefined },
        vgs: plan.vgs.map((vg) => ({
          name: vg.name,
          disks: vg.disks.map((d) => {
            const p = pit.disks.find((x) => x.name === d.name)!;
            return { name: d.name, uuid: d.uuid, pvid: d.pvid, path: p.readPath, size: p.size || undefined };
          }),
        })),
        sse: plan.sse,
        retainUntil: lockDays > 0 ? new Date(Date.now() + lockDays * 86_400_000) : undefined,
        compression: plan.compression,
        onProgress: o.onProgress,
        onInfo: o.onInfo,
        signal: o.signal,
      });
      return { ...summary, rg, pointInTime: pit.method, location: repo.store.location };
    } finally {
      await pit.release();
    }
  } finally {
    await repo.close();
  }
}
