/**
 * Prune: forget the backups a retention policy no longer keeps (delete their manifests), then remove
 * the chunks no remaining manifest references — safely while other processes back up into the same
 * repository. docs/format.md §13 and docs/recovery.md describe the protocol; in short:
 *
 *  1. Forget. Within the scope (cluster/RG), applyRetention decides; the newest backup with a
 *     `verified/<id>` marker and every backup still under object-lock retention are always kept.
 *     A delete the server refuses (object lock, permissions) is reported and the backup is kept.
 *  2. Mark (phase 1). One streamed listing of chunks/ against the set of chunk ids referenced by
 *     every remaining manifest (all clusters/RGs: chunks are shared). Unreferenced chunks not
 *     already marked are recorded, with their modification times, in `prune/<runId>-<n>` objects.
 *  3. Sweep (phase 2). A mark at least `graceMs` old is swept: each chunk in it is deleted when it is
 *     still listed, still unreferenced (manifests written since step 2 are read first), and not
 *     modified since it was marked (a backup that stored it again made it live). Nothing is swept
 *     while any unexpired lease exists (a running backup may trust a chunk its listing or its
 *     parent showed it); leases expire (format §8), so this never waits forever. Swept marks are
 *     deleted; unswept ones stay for the next run.
 *
 * Memory: the referenced set holds one 64-hex string per referenced chunk (~100 bytes each, 10^6
 * chunks ≈ 100 MB, the same bound as the chunk index, format §12); the chunk listing is streamed and
 * only unreferenced ids are kept. Marks are written in objects of at most MARK_BATCH ids.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { ObjectStore } from "../objectstore/types.ts";
import { errorMessage } from "../util/errors.ts";
import { chunkIdFromKey, chunkObjectKey } from "./chunk.ts";
import { CHUNKS_PREFIX } from "./chunkindex.ts";
import type { BackupScope } from "./catalog.ts";
import { inScope } from "./catalog.ts";
import { liveLeases, readJsonRecords, Sweep } from "./lease.ts";
import { manifestKey, type Manifest } from "./manifest.ts";
import { isBackupId } from "./names.ts";
import type { Repository } from "./repository.ts";
import { applyRetention, policyActive, type RetentionDecision, type RetentionPolicy } from "./retention.ts";

export const PRUNE_PREFIX = "prune/";
export const VERIFIED_PREFIX = "verified/";
export const MARK_BATCH = 50_000;

export interface PruneOptions {
  policy: RetentionPolicy;
  /** Backups the policy applies to (one RG of one cluster); chunks are collected repository-wide. */
  scope?: BackupScope;
  dryRun?: boolean;
  /** Minimum age of a mark before its chunks are deleted (PRUNE_GRACE_HOURS). */
  graceMs: number;
  /** Object-lock retention in days (OBJECT_LOCK_DAYS): backups younger than this are never forgotten. */
  lockDays?: number;
  now?: () => Date;
  onInfo?: (msg: string) => void;
}

export interface PruneReport {
  runId: string;
  dryRun: boolean;
  /** Newest first. */
  keep: RetentionDecision["keep"];
  /** Backups the policy drops (forgotten unless dry run or refused). */
  forget: Array<{ id: string; time: string }>;
  forgotten: string[];
  /** Deletes the server refused (object lock, permissions): reported, not fatal. */
  refused: Array<{ key: string; error: string }>;
  chunksReferenced: number;
  chunksUnreferenced: number;
  chunksMarked: number;
  /** Deleted now (or, dry run, that would be deleted now). */
  chunksDeleted: number;
  bytesFreed: number;
  /** Marked chunks waiting for the grace period or for running backups. */
  chunksPending: number;
  /** Why the sweep did not run, when it did not. */
  deferred?: string;
  warnings: string[];
}

interface MarkRecord {
  format: "cbm-prune-mark";
  version: 1;
  runId: string;
  host: string;
  created: string;
  /** [chunk id, mtime in ms] */
  chunks: Array<[string, number]>;
}

interface VerifiedRecord {
  format: "cbm-verified";
  version: 1;
  backupId: string;
  verified: string;
  chunks: number;
}

/** Ids of the backups a verify job found intact (verified/<backupId> markers). */
export async function readVerified(store: ObjectStore): Promise<Set<string>> {
  const ids = new Set<string>();
  await store.list(VERIFIED_PREFIX, (i) => {
    const id = i.key.slice(VERIFIED_PREFIX.length);
    if (isBackupId(id)) ids.add(id);
  });
  return ids;
}

export async function markVerified(store: ObjectStore, backupId: string, chunks: number, when = new Date()): Promise<void> {
  const rec: VerifiedRecord = { format: "cbm-verified", version: 1, backupId, verified: when.toISOString(), chunks };
  await store.put(`${VERIFIED_PREFIX}${backupId}`, Buffer.from(JSON.stringify(rec)));
}

function addRefs(refs: Set<string>, m: Manifest): void {
  for (const vg of m.vgs) for (const d of vg.disks) for (const c of d.chunks) if (c) refs.add(c);
}

const isRefused = (e: unknown) => /AccessDenied|ObjectLock|retention|WORM|denied|forbidden/i.test(errorMessage(e));

export async function prune(repo: Repository, o: PruneOptions): Promise<PruneReport> {
  const now = o.now ?? (() => new Date());
  const store = repo.store;
  const runId = `${now().toISOString().replace(/[-:.]/g, "")}-${randomBytes(4).toString("hex")}`;
  const report: PruneReport = {
    runId,
    dryRun: o.dryRun === true,
    keep: [],
    forget: [],
    forgotten: [],
    refused: [],
    chunksReferenced: 0,
    chunksUnreferenced: 0,
    chunksMarked: 0,
    chunksDeleted: 0,
    bytesFreed: 0,
    chunksPending: 0,
    warnings: [],
  };

  // 1. Forget.
  const all = await repo.manifests();
  const known = new Set(all.map((m) => m.id));
  const scoped = all.filter((m) => inScope(m, o.scope));
  const verified = await readVerified(store);
  const newestVerified = scoped.filter((m) => verified.has(m.id)).at(-1)?.id;
  const lockMs = (o.lockDays ?? 0) * 86_400_000;
  const decision = applyRetention(scoped, o.policy, {
    protect: newestVerified ? [newestVerified] : [],
    lockedUntil: lockMs > 0 ? (i) => new Date(Date.parse(i.time) + lockMs) : undefined,
    now: now(),
  });
  report.keep = decision.keep;
  report.forget = policyActive(o.policy) ? decision.remove : [];
  const gone = new Set<string>();
  for (const f of report.forget) {
    if (o.dryRun) {
      gone.add(f.id);
      continue;
    }
    try {
      await store.delete(manifestKey(f.id));
      await store.delete(`${VERIFIED_PREFIX}${f.id}`).catch(() => undefined);
      report.forgotten.push(f.id);
      gone.add(f.id);
    } catch (e) {
      if (!isRefused(e)) throw e;
      report.refused.push({ key: manifestKey(f.id), error: errorMessage(e) });
    }
  }

  // 2. Mark: stream chunks/ against the references of every remaining manifest.
  const refs = new Set<string>();
  for (const m of all) if (!gone.has(m.id)) addRefs(refs, m);
  report.chunksReferenced = refs.size;
  const unref = new Map<string, { mtime: number; size: number }>();
  await store.list(CHUNKS_PREFIX, (i) => {
    const id = chunkIdFromKey(i.key);
    if (id && !refs.has(id)) unref.set(id, { mtime: i.mtime.getTime(), size: i.size });
  });
  report.chunksUnreferenced = unref.size;

  const marks: Array<{ key: string; rec: MarkRecord }> = [];
  for (const { key, rec, error } of await readJsonRecords<MarkRecord>(store, PRUNE_PREFIX)) {
    if (rec?.format === "cbm-prune-mark" && rec.version === 1 && Array.isArray(rec.chunks)) marks.push({ key, rec });
    else if (error !== undefined) report.warnings.push(`ignored unreadable prune mark ${key}: ${errorMessage(error)}`);
  }
  const alreadyMarked = new Set<string>();
  for (const m of marks) for (const [id] of m.rec.chunks) alreadyMarked.add(id);
  const fresh = [...unref].filter(([id]) => !alreadyMarked.has(id));
  if (!o.dryRun) {
    for (let b = 0; b * MARK_BATCH < fresh.length; b++) {
      const rec: MarkRecord = {
        format: "cbm-prune-mark",
        version: 1,
        runId,
        host: hostname(),
        created: now().toISOString(),
        chunks: fresh.slice(b * MARK_BATCH, (b + 1) * MARK_BATCH).map(([id, i]) => [id, i.mtime]),
      };
      const key = `${PRUNE_PREFIX}${runId}-${b}`;
      await store.put(key, Buffer.from(JSON.stringify(rec)));
      marks.push({ key, rec });
    }
  } else if (o.graceMs <= 0 && fresh.length > 0) {
    // A dry run shows what a real run with no grace period would delete now.
    marks.push({ key: "(dry run)", rec: { format: "cbm-prune-mark", version: 1, runId, host: hostname(), created: now().toISOString(), chunks: fresh.map(([id, i]) => [id, i.mtime]) } });
  }
  report.chunksMarked = fresh.length;

  // 3. Sweep marks older than the grace period.
  const due = marks.filter((m) => Date.parse(m.rec.created) + o.graceMs <= now().getTime());
  for (const m of marks) if (!due.includes(m)) report.chunksPending += m.rec.chunks.length;
  if (due.length === 0) return report;

  // Announce the sweep before looking for leases: a backup takes its lease, then waits for sweeps
  // (lease.ts), so either this prune sees its lease or the backup sees this sweep.
  const sweep = o.dryRun ? undefined : await Sweep.announce(store, runId);
  try {
    // Leases first, manifests second: a backup that was running at the lease check defers the sweep;
    // one that ended before it has its manifest listed by the refresh below (the other order would
    // miss a backup that ends in between).
    const leasesBefore = await liveLeases(store, now());
    if (leasesBefore.length > 0) {
      report.deferred = `backup(s) running into this repository (${leasesBefore.map((l) => `${l.backupId} on ${l.host}`).join(", ")}); chunks are deleted by a later prune`;
      for (const d of due) report.chunksPending += d.rec.chunks.length;
      return report;
    }
    // Backups finished since step 2 reference more chunks: read the manifests that are new.
    for (const id of await repo.backupIds()) {
      if (known.has(id)) continue;
      try {
        addRefs(refs, await repo.manifest(id));
      } catch (e) {
        report.deferred = `manifest ${id} appeared during prune and could not be read (${errorMessage(e)}); nothing deleted`;
        for (const d of due) report.chunksPending += d.rec.chunks.length;
        return report;
      }
    }
    for (const m of due) {
      const created = Date.parse(m.rec.created);
      for (const [id, mtime] of m.rec.chunks) {
        const cur = unref.get(id);
        if (!cur || refs.has(id)) continue; // gone already, or referenced again
        if (cur.mtime !== mtime || cur.mtime > created) continue; // stored again since marked: live
        if (o.dryRun) {
          report.chunksDeleted++;
          report.bytesFreed += cur.size;
          continue;
        }
        try {
          await store.delete(chunkObjectKey(id));
          report.chunksDeleted++;
          report.bytesFreed += cur.size;
        } catch (e) {
          if (!isRefused(e)) throw e;
          report.refused.push({ key: chunkObjectKey(id), error: errorMessage(e) });
        }
      }
      if (!o.dryRun && m.key !== "(dry run)") await store.delete(m.key);
    }
  } finally {
    await sweep?.end();
  }
  o.onInfo?.(`prune ${runId}: forgot ${report.forgotten.length} backup(s), deleted ${report.chunksDeleted} chunk(s)`);
  return report;
}
