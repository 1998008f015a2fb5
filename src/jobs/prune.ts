/**
 * Retention and prune for a profile: the policy comes from KEEP_LAST, KEEP_DAILY, KEEP_WEEKLY,
 * KEEP_MONTHLY (all 0 by default: keep everything, prune does nothing to backups), the grace period
 * from PRUNE_GRACE_HOURS, object-lock protection from OBJECT_LOCK_DAYS. Used by `clmgr prune
 * backup_files` and after every successful backup (src/jobs/backup.ts).
 */
import type { Config } from "../config/model.ts";
import { policyActive, prune, type PruneReport, type Repository, type RetentionPolicy } from "../repo/index.ts";
import type { ServerSideEncryption } from "../objectstore/index.ts";
import { humanBytes } from "../util/bytes.ts";
import { planProfile, sseOf } from "./plan.ts";
import { openProfileRepo } from "./repo-open.ts";

export interface PruneSettings {
  policy: RetentionPolicy;
  graceMs: number;
  lockDays: number;
  /** The profile's ENCRYPTION, for the packs a repack writes. */
  sse?: ServerSideEncryption;
}

const num = (v: string | undefined, def: number) => (v === undefined || v === "" ? def : Number(v));

export function pruneSettings(attrs: Record<string, string>): PruneSettings {
  return {
    policy: {
      keepLast: num(attrs.KEEP_LAST, 0),
      keepDaily: num(attrs.KEEP_DAILY, 0),
      keepWeekly: num(attrs.KEEP_WEEKLY, 0),
      keepMonthly: num(attrs.KEEP_MONTHLY, 0),
    },
    graceMs: num(attrs.PRUNE_GRACE_HOURS, 24) * 3_600_000,
    lockDays: num(attrs.OBJECT_LOCK_DAYS, 0),
    sse: sseOf(attrs),
  };
}

/** Whether the profile has a retention policy (so that a backup should be followed by a prune). */
export function retentionConfigured(attrs: Record<string, string>): boolean {
  return policyActive(pruneSettings(attrs).policy);
}

export function pruneWith(repo: Repository, cluster: string, rg: string, s: PruneSettings, o: { dryRun?: boolean; onInfo?: (m: string) => void } = {}): Promise<PruneReport> {
  return prune(repo, { policy: s.policy, scope: { cluster, rg }, graceMs: s.graceMs, lockDays: s.lockDays, sse: s.sse, dryRun: o.dryRun, onInfo: o.onInfo });
}

/** Prune of one profile's repository under the profile's policy. */
export async function runPruneJob(
  home: string,
  cfg: Config,
  rg: string,
  o: { dryRun?: boolean; env?: NodeJS.ProcessEnv; onInfo?: (m: string) => void } = {},
): Promise<PruneReport> {
  const plan = planProfile(home, cfg, rg);
  const repo = await openProfileRepo(plan, { env: o.env });
  try {
    return await pruneWith(repo, plan.cluster, rg, pruneSettings(plan.attrs), o);
  } finally {
    await repo.close();
  }
}

/** One line per decision, for the CLI and the log. */
export function pruneText(r: PruneReport): string {
  const lines: string[] = [];
  const verb = r.dryRun ? "would forget" : "forgot";
  for (const k of r.keep) lines.push(`keep    ${k.id}  ${k.time}  (${k.reasons.join(", ")})`);
  for (const f of r.forget) lines.push(`${r.dryRun ? "forget " : r.forgotten.includes(f.id) ? "forgot " : "kept   "} ${f.id}  ${f.time}`);
  for (const x of r.refused) lines.push(`refused by the server: delete ${x.key}: ${x.error}`);
  lines.push(
    `${r.dryRun ? "Dry run: " : ""}${verb} ${r.dryRun ? r.forget.length : r.forgotten.length} backup(s), kept ${r.keep.length}; ` +
      `${r.chunksReferenced} chunk(s) referenced, ${r.chunksUnreferenced} unreferenced, ${r.chunksMarked} newly marked; ` +
      `${r.chunksRepacked} live chunk(s) ${r.dryRun ? "would be " : ""}copied out of partly used packs (${humanBytes(r.bytesRepacked)}); ` +
      `${r.dryRun ? "would delete" : "deleted"} ${r.objectsDeleted} object(s) (${humanBytes(r.bytesFreed)}) holding ${r.chunksDeleted} unreferenced chunk(s); ` +
      `${r.chunksPending} unreferenced chunk(s) ${r.deferred ? "wait for a later prune" : "wait for the grace period"}.`,
  );
  if (r.staleRemoved > 0) lines.push(`Removed ${r.staleRemoved} temporary file(s) that interrupted uploads left.`);
  if (r.deferred) lines.push(`Deletion deferred: ${r.deferred}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}
