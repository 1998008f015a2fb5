/**
 * Prune: forget the backups a retention policy no longer keeps (delete their manifests), then remove
 * the chunks no remaining manifest references — safely while other processes back up into the same
 * repository. docs/format.md §13 and docs/recovery.md describe the protocol; in short:
 *
 *  1. Forget. Within the scope (cluster/RG), applyRetention decides; the newest backup with a
 *     `verified/<id>` marker and every backup still under object-lock retention are always kept.
 *     A delete the server refuses (object lock, permissions) is reported and the backup is kept.
 *  2. Mark (phase 1). One streamed listing of packs/ and chunks/ against the chunk ids referenced
 *     by every remaining manifest (all clusters/RGs: chunks are shared), counting the complete
 *     objects that hold each referenced chunk. Objects holding an unreferenced chunk, and incomplete
 *     packs, are candidates; a partly used pack is repacked first (its live chunks that exist
 *     nowhere else are checked and copied into new packs). Candidates not already marked are
 *     recorded, with their modification times, in `prune/<runId>-<n>` objects.
 *  3. Sweep (phase 2). A mark at least `graceMs` old is swept by one prune at a time, and not while
 *     any unexpired lease exists (a running backup may trust a chunk its listing or its parent
 *     showed it); leases and sweeps expire (format §8, §13), so this never waits forever. The sweep
 *     reads every manifest and lists the repository again, then deletes each marked object that is
 *     unchanged since it was marked and whose referenced chunks all have another complete copy.
 *     Swept marks are deleted; unswept ones stay for the next run.
 *
 * Memory: a map from referenced chunk id to its number of copies (~100 bytes each, 10^6 chunks ≈
 * 100 MB, format §12), the candidate objects, and the repack's batch (one pack). Marks are written
 * in objects of at most MARK_BATCH keys.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { ObjectStore, PutOptions, ServerSideEncryption } from "../objectstore/types.ts";
import { CbmError, errorMessage } from "../util/errors.ts";
import { chunkObjectKey } from "./chunk.ts";
import { CHUNKS_PREFIX, listStoredObjects, type StoredObject } from "./chunkindex.ts";
import { DAMAGED_PREFIX, readDamaged } from "./damaged.ts";
import { writesPacks } from "./keys.ts";
import { markerIds, putMarker } from "./markers.ts";
import { chunksPerObject, objectKeyFor, packSize, PACKS_PREFIX, type ChunkLocation } from "./pack.ts";
import type { BackupScope } from "./catalog.ts";
import { inScope } from "./catalog.ts";
import { liveLeases, liveSweeps, readJsonRecords, Sweep } from "./lease.ts";
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
  /** Server-side encryption of the packs a repack writes (the profile's ENCRYPTION). */
  sse?: ServerSideEncryption;
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
  /** Unreferenced chunks in objects marked by this run. */
  chunksMarked: number;
  /** Unreferenced chunks deleted now (or, dry run, that would be deleted now). */
  chunksDeleted: number;
  /** Chunk and pack objects deleted (with their surplus copies of live chunks), and their bytes. */
  objectsDeleted: number;
  bytesFreed: number;
  /** Live chunks copied out of partly used packs into new ones, and their bytes. */
  chunksRepacked: number;
  bytesRepacked: number;
  /** Unreferenced chunks in marked objects waiting for the grace period or for running backups. */
  chunksPending: number;
  /** Temporary files of interrupted writes removed (directory stores). */
  staleRemoved: number;
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
  /** [chunk id, mtime in ms]: chunk objects, as version 1 writers marked them. */
  chunks?: Array<[string, number]>;
  /** [object key, mtime in ms]: chunk objects or packs. */
  objects?: Array<[string, number]>;
}

interface VerifiedRecord {
  format: "cbm-verified";
  version: 1;
  backupId: string;
  verified: string;
  chunks: number;
}

/** Ids of the backups a verify job found intact (verified/<backupId> markers). */
export function readVerified(store: ObjectStore): Promise<Set<string>> {
  return markerIds(store, VERIFIED_PREFIX, isBackupId);
}

export async function markVerified(store: ObjectStore, backupId: string, chunks: number, when = new Date()): Promise<void> {
  const rec: VerifiedRecord = { format: "cbm-verified", version: 1, backupId, verified: when.toISOString(), chunks };
  await putMarker(store, VERIFIED_PREFIX, backupId, rec);
}

/** Adds delta to the copy count of every referenced chunk a complete object holds (incomplete ones hold nothing). */
function countCopies(copies: Map<string, number>, obj: StoredObject, delta: number): void {
  if (!obj.complete) return;
  for (const c of obj.chunks) {
    const n = copies.get(c.id);
    if (n !== undefined) copies.set(c.id, n + delta);
  }
}

/** Adds the chunks m references: to a set, or to a map of holders (0 until the listing counts them). */
function addRefs(refs: Set<string> | Map<string, number>, m: Manifest): void {
  for (const vg of m.vgs) {
    for (const d of vg.disks) {
      for (const c of d.chunks) {
        if (!c) continue;
        if (refs instanceof Set) refs.add(c);
        else if (!refs.has(c)) refs.set(c, 0);
      }
    }
  }
}

/** The objects a mark names with their modification times (marks of version 1 writers name chunk objects by id). */
function markedObjects(rec: MarkRecord): Array<[string, number]> {
  return [...(rec.chunks ?? []).map(([id, mtime]): [string, number] => [chunkObjectKey(id), mtime]), ...(rec.objects ?? [])];
}

/**
 * Copies the live chunks of partly used packs into new packs, each checked before it is copied.
 * Returns the ids that could not be copied (their packs stay unmarked); counts the copies in
 * `holders`.
 */
async function repack(repo: Repository, copy: Map<string, ChunkLocation>, holders: Map<string, number>, putOpts: PutOptions, report: PruneReport): Promise<Set<string>> {
  const failed = new Set<string>();
  const perPack = chunksPerObject(repo.config);
  const packs = writesPacks(repo.config);
  let batch: Array<{ id: string; object: Uint8Array }> = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const entries = batch.map((b) => ({ id: b.id, length: b.object.length }));
    await repo.store.put(objectKeyFor(entries, packs), batch.map((b) => b.object), putOpts);
    for (const b of batch) holders.set(b.id, (holders.get(b.id) ?? 0) + 1);
    report.chunksRepacked += batch.length;
    report.bytesRepacked += packSize(entries);
    batch = [];
  };
  for (const [id, loc] of copy) {
    try {
      batch.push({ id, object: await repo.checkedChunkObject(loc, id, `in ${loc.key}`) });
    } catch (e) {
      if (!(e instanceof CbmError && e.kind === "integrity")) throw e;
      failed.add(id);
      report.warnings.push(`chunk ${id} in ${loc.key} was not copied, so its pack stays: ${e.message}; run verify`);
      continue;
    }
    if (batch.length >= perPack) await flush();
  }
  await flush();
  return failed;
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
    objectsDeleted: 0,
    bytesFreed: 0,
    chunksRepacked: 0,
    bytesRepacked: 0,
    chunksPending: 0,
    staleRemoved: 0,
    warnings: [],
  };

  // 1. Forget.
  const all = await repo.manifests();
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

  // 2. Mark: list packs/ and chunks/ against the references of every remaining manifest. `holders`
  // counts, per referenced chunk, the complete objects holding it; only objects holding an
  // unreferenced chunk (or incomplete packs) are kept in memory.
  const holders = new Map<string, number>();
  for (const m of all) if (!gone.has(m.id)) addRefs(holders, m);
  report.chunksReferenced = holders.size;
  const candidates = new Map<string, StoredObject>();
  const unrefIds = new Set<string>();
  await listStoredObjects(store, (obj) => {
    countCopies(holders, obj, 1);
    const unref = obj.chunks.filter((c) => !holders.has(c.id));
    if (obj.complete) for (const c of unref) unrefIds.add(c.id);
    if (!obj.complete || unref.length > 0) candidates.set(obj.info.key, obj);
  });
  report.chunksUnreferenced = unrefIds.size;
  // Surplus copies (a backup killed mid-way and the next one storing again what it had to distrust,
  // two backups storing one chunk at once): an object that stays and whose chunks all have another
  // copy that stays too is a candidate; the sweep keeps one copy of each. Copies in candidates do
  // not count — those objects are on their way out (a repack's new pack is the copy to keep).
  // Only then a second listing is needed.
  if ([...holders.values()].some((n) => n >= 2)) {
    const staying = new Map(holders);
    for (const obj of candidates.values()) countCopies(staying, obj, -1);
    await listStoredObjects(store, (obj) => {
      if (obj.complete && !candidates.has(obj.info.key) && obj.chunks.every((c) => (staying.get(c.id) ?? 0) >= 2)) candidates.set(obj.info.key, obj);
    });
  }
  // What killed writers left behind in a directory store (their temporary files), an hour old at least.
  if (!o.dryRun && store.removeStale) {
    const before = new Date(now().getTime() - Math.max(o.graceMs, 3_600_000));
    for (const prefix of [PACKS_PREFIX, CHUNKS_PREFIX]) report.staleRemoved += await store.removeStale(prefix, before);
  }
  // A damaged-chunk marker of a chunk nothing references any more has nothing left to repair.
  if (!o.dryRun) for (const id of await readDamaged(store)) if (!holders.has(id)) await store.delete(`${DAMAGED_PREFIX}${id}`);

  const marks: Array<{ key: string; rec: MarkRecord }> = [];
  for (const { key, rec, error } of await readJsonRecords<MarkRecord>(store, PRUNE_PREFIX)) {
    if (rec?.format === "cbm-prune-mark" && rec.version === 1 && (Array.isArray(rec.chunks) || Array.isArray(rec.objects))) marks.push({ key, rec });
    else if (error !== undefined) report.warnings.push(`ignored unreadable prune mark ${key}: ${errorMessage(error)}`);
  }
  const alreadyMarked = new Set<string>();
  for (const m of marks) for (const [k] of markedObjects(m.rec)) alreadyMarked.add(k);

  // Repack: a pack holding both live and unreferenced chunks cannot be deleted as it is; its live
  // chunks that exist nowhere else are copied (checked first) into new packs, after which it holds
  // nothing needed and is marked like an unused one. Not while object lock would refuse the delete:
  // the copies would only add to it.
  const lockedUntil = (obj: StoredObject) => obj.info.mtime.getTime() + lockMs;
  const partly = [...candidates.values()].filter(
    (obj) => obj.complete && !alreadyMarked.has(obj.info.key) && lockedUntil(obj) <= now().getTime() && obj.chunks.some((c) => holders.has(c.id)),
  );
  const copy = new Map<string, ChunkLocation>();
  for (const obj of partly) for (const c of obj.chunks) if (holders.get(c.id) === 1) copy.set(c.id, c.loc);
  let failed = new Set<string>();
  if (o.dryRun) {
    // What a real run would copy (the dry run copies nothing).
    report.chunksRepacked = copy.size;
    report.bytesRepacked = [...copy.values()].reduce((n, loc) => n + loc.length, 0);
  } else {
    // Copies are written like a backup's chunks: the profile's server-side encryption, and under
    // object lock for OBJECT_LOCK_DAYS (the chunk may be the only copy a locked backup has left).
    const putOpts = { ...(o.sse ? { sse: o.sse } : {}), ...(lockMs > 0 ? { retainUntil: new Date(now().getTime() + lockMs) } : {}) };
    failed = await repack(repo, copy, holders, putOpts, report);
  }
  const fresh = [...candidates.values()].filter((obj) => !alreadyMarked.has(obj.info.key) && !obj.chunks.some((c) => failed.has(c.id)));
  if (!o.dryRun) {
    for (let b = 0; b * MARK_BATCH < fresh.length; b++) {
      const rec: MarkRecord = {
        format: "cbm-prune-mark",
        version: 1,
        runId,
        host: hostname(),
        created: now().toISOString(),
        chunks: [],
        objects: fresh.slice(b * MARK_BATCH, (b + 1) * MARK_BATCH).map((obj) => [obj.info.key, obj.info.mtime.getTime()]),
      };
      const key = `${PRUNE_PREFIX}${runId}-${b}`;
      await store.put(key, Buffer.from(JSON.stringify(rec)));
      marks.push({ key, rec });
    }
  } else if (o.graceMs <= 0 && fresh.length > 0) {
    // A dry run shows what a real run with no grace period would delete now (live chunks of
    // partly used packs counted as copied).
    for (const id of copy.keys()) holders.set(id, (holders.get(id) ?? 0) + 1);
    const objects = fresh.map((obj): [string, number] => [obj.info.key, obj.info.mtime.getTime()]);
    marks.push({ key: "(dry run)", rec: { format: "cbm-prune-mark", version: 1, runId, host: hostname(), created: now().toISOString(), chunks: [], objects } });
  }
  // Counts are of distinct chunks (two copies of an unreferenced chunk are one chunk).
  const unrefOf = (obj: StoredObject) => (obj.complete ? obj.chunks.filter((c) => !holders.has(c.id)).map((c) => c.id) : []);
  report.chunksMarked = new Set(fresh.flatMap(unrefOf)).size;
  // A dry run with a grace period shows what a real run would mark and leave waiting.
  if (o.dryRun && o.graceMs > 0) report.chunksPending += report.chunksMarked;
  const pendingOf = (m: { rec: MarkRecord }) => markedObjects(m.rec).reduce((s, [k]) => s + (candidates.get(k) ? unrefOf(candidates.get(k)!).length : 0), 0);

  // 3. Sweep marks older than the grace period.
  const due = marks.filter((m) => Date.parse(m.rec.created) + o.graceMs <= now().getTime());
  for (const m of marks) if (!due.includes(m)) report.chunksPending += pendingOf(m);
  if (due.length === 0) return report;

  // Announce the sweep before looking for leases: a backup takes its lease, then waits for sweeps
  // (lease.ts), so either this prune sees its lease or the backup sees this sweep.
  const sweep = o.dryRun ? undefined : await Sweep.announce(store, runId);
  const defer = (why: string): PruneReport => {
    report.deferred = why;
    for (const d of due) report.chunksPending += pendingOf(d);
    return report;
  };
  try {
    // One sweep at a time: a sweep deletes a pack whose live chunks have another copy, and two
    // sweeps at once could each delete one of the two. Both write, then read: at least one defers.
    const others = sweep ? (await liveSweeps(store)).filter((w) => w.runId !== runId) : [];
    if (others.length > 0) return defer(`another prune is deleting (${others.map((w) => `${w.runId} on ${w.host}`).join(", ")}); this one's marks wait for a later prune`);
    // Leases first, manifests second: a backup that was running at the lease check defers the sweep;
    // one that ended before it has its manifest read below (the other order would miss a backup
    // that ends in between).
    const leasesBefore = await liveLeases(store, now());
    if (leasesBefore.length > 0) {
      return defer(`backup(s) running into this repository (${leasesBefore.map((l) => `${l.backupId} on ${l.host}`).join(", ")}); chunks are deleted by a later prune`);
    }
    // Decide on the repository as it is now, not as step 2 saw it: every manifest that exists now,
    // and a new listing — what another prune deleted, or a backup or a repack stored, since then
    // counts. (A dry run, which copied nothing, decides on step 2's view with the copies counted.)
    const dueKeys = new Set(due.flatMap((m) => markedObjects(m.rec).map(([k]) => k)));
    let live = holders;
    let objects = candidates;
    if (!o.dryRun) {
      const byId = new Map(all.map((m) => [m.id, m]));
      live = new Map();
      for (const id of await repo.backupIds()) {
        if (gone.has(id)) continue;
        let m = byId.get(id);
        if (!m) {
          try {
            m = await repo.manifest(id);
          } catch (e) {
            return defer(`manifest ${id} appeared during prune and could not be read (${errorMessage(e)}); nothing deleted`);
          }
        }
        addRefs(live, m);
      }
      objects = new Map();
      await listStoredObjects(store, (obj) => {
        countCopies(live, obj, 1);
        if (dueKeys.has(obj.info.key)) objects.set(obj.info.key, obj);
      });
    }
    const freedIds = new Set<string>();
    for (const m of due) {
      const created = Date.parse(m.rec.created);
      for (const [key, mtime] of markedObjects(m.rec)) {
        const obj = objects.get(key);
        if (!obj) continue; // gone already
        if (obj.info.mtime.getTime() !== mtime || mtime > created) continue; // written again since marked: not what was marked
        // Every referenced chunk in it must have another complete copy that stays.
        if (obj.chunks.some((c) => live.has(c.id) && live.get(c.id)! - (obj.complete ? 1 : 0) < 1)) continue;
        const freed = obj.complete ? obj.chunks.filter((c) => !live.has(c.id)).map((c) => c.id) : [];
        if (!o.dryRun) {
          try {
            await store.delete(key);
          } catch (e) {
            if (!isRefused(e)) throw e;
            report.refused.push({ key, error: errorMessage(e) });
            continue;
          }
        }
        countCopies(live, obj, -1);
        objects.delete(key);
        report.objectsDeleted++;
        for (const id of freed) freedIds.add(id);
        report.bytesFreed += obj.info.size;
      }
      if (!o.dryRun && m.key !== "(dry run)") await store.delete(m.key);
    }
    report.chunksDeleted = freedIds.size;
  } finally {
    await sweep?.end();
  }
  o.onInfo?.(`prune ${runId}: forgot ${report.forgotten.length} backup(s), deleted ${report.chunksDeleted} chunk(s)`);
  return report;
}
