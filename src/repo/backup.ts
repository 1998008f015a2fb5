/**
 * The backup pipeline (docs/format.md §5–§8): read each disk in fixed chunks with positional reads,
 * hash them in worker threads, skip zero chunks and chunks the repository holds, compress + encrypt
 * the rest in the workers, upload with bounded parallelism, and write the manifest last.
 *
 * Memory is bounded by two arenas: a plaintext buffer is taken before a chunk's read and given back
 * once the chunk is hashed (and encoded); an encoded-object buffer is taken before encoding and given
 * back after the upload. So at most (plaintext slots + uploads in flight) chunks exist at any time,
 * whatever the disk size.
 */
import type * as fsp from "node:fs/promises";
import { open } from "node:fs/promises";
import type { ServerSideEncryption } from "../objectstore/types.ts";
import { CbmError, errorMessage } from "../util/errors.ts";
import { deviceSize, readFully } from "./blockdev.ts";
import { inScope, isUnreadableManifest, listBackupIds, readManifest, writeManifest } from "./catalog.ts";
import { chunkCount, chunkRange, ImageDigest } from "./chunk.ts";
import { ChunkIndex } from "./chunkindex.ts";
import { readDamaged } from "./damaged.ts";
import { REPO } from "./codes.ts";
import { BACKUP_CONCURRENCY, type Engine } from "./engine.ts";
import { writesPacks } from "./keys.ts";
import { abandonedLeases, Lease, waitForSweeps } from "./lease.ts";
import { manifestKey, type Manifest, type ManifestDisk } from "./manifest.ts";
import { backupFileName, checkNamePart, dateToMicros, formatIsoMicros, makeBackupId, nowMicros } from "./names.ts";
import { chunksPerObject, objectKeyFor } from "./pack.ts";
import { Arena } from "./pool.ts";
import { sealedBound } from "./sealed.ts";
import { TaskGroup } from "./tasks.ts";
import { TOOL } from "./version.ts";

export interface BackupDiskInput {
  /** Disk name as the host knows it, e.g. "hdisk18". */
  name: string;
  /** Storage UUID (lspv -u / vdisk_UID), informational. */
  uuid?: string;
  pvid?: string;
  /** What to read: an image file or a block device (e.g. the FlashCopy target). */
  path: string;
  /** Bytes to back up. Optional for regular files (their size) and block devices (sysfs). */
  size?: number;
}

export interface BackupVgInput {
  name: string;
  disks: BackupDiskInput[];
}

export interface BackupMeta {
  cluster: string;
  rg: string;
  node: string;
  consistencyGroup?: string;
  /** Point in time of the backup (the FlashCopy start); default now (with microseconds). */
  time?: Date;
}

export interface BackupProgress {
  bytesRead: number;
  bytesTotal: number;
  /** Encoded bytes uploaded so far (new chunk objects). */
  bytesStored: number;
  chunksNew: number;
  chunksTotal: number;
}

export interface BackupOptions {
  type: "full" | "incremental";
  meta: BackupMeta;
  vgs: BackupVgInput[];
  sse?: ServerSideEncryption;
  /**
   * Object lock (OBJECT_LOCK_DAYS): the chunks this backup stores and its manifest are written with
   * this retention date. Chunks it reuses keep the retention they were written with.
   */
  retainUntil?: Date;
  compression: boolean;
  onProgress?: (p: BackupProgress) => void;
  /** Messages for the person running the backup (e.g. waiting for a prune to finish). */
  onInfo?: (msg: string) => void;
  signal?: AbortSignal;
  /** Uploads in flight; default BACKUP_CONCURRENCY (8). */
  concurrency?: number;
}

export interface BackupDiskSummary {
  vg: string;
  disk: string;
  fileName: string;
  size: number;
  sha256: string;
  chunks: number;
  chunksNew: number;
  chunksZero: number;
  bytesNew: number;
}

export interface BackupSummary {
  id: string;
  type: "full" | "incremental";
  /** ISO-8601 UTC with microseconds. */
  time: string;
  parent: string | null;
  /** How the pipeline learnt which chunks exist: a listing of chunks/ or the parent's manifest. */
  indexSource: "listing" | "parent";
  fileNames: string[];
  disks: BackupDiskSummary[];
  bytesRead: number;
  /** Encoded bytes of the chunk objects this backup uploaded. */
  bytesStored: number;
  chunksTotal: number;
  chunksNew: number;
  chunksZero: number;
  durationMs: number;
}

function bad(msg: string): CbmError {
  return new CbmError(REPO.badRequest, msg, "validation");
}

interface PlannedDisk {
  vg: string;
  input: BackupDiskInput;
  size: number;
  fh: fsp.FileHandle;
  fileName: string;
  chunks: (string | null)[];
  stats: { chunksNew: number; chunksZero: number; bytesNew: number };
}

/** Checks names and duplicates before anything is opened or written. Pure. */
export function validateBackupRequest(o: BackupOptions): void {
  if (o.type !== "full" && o.type !== "incremental") throw bad(`backup type ${String(o.type)}: use full or incremental`);
  checkNamePart("cluster name", o.meta.cluster);
  checkNamePart("resource group name", o.meta.rg);
  checkNamePart("node name", o.meta.node);
  if (o.vgs.length === 0) throw bad("nothing to back up: no volume groups given");
  const vgNames = new Set<string>();
  for (const vg of o.vgs) {
    checkNamePart("volume group name", vg.name);
    if (vgNames.has(vg.name)) throw bad(`volume group ${vg.name} is listed twice`);
    vgNames.add(vg.name);
    if (vg.disks.length === 0) throw bad(`volume group ${vg.name} has no disks`);
    const diskNames = new Set<string>();
    for (const d of vg.disks) {
      checkNamePart(`disk name in ${vg.name}`, d.name);
      if (diskNames.has(d.name)) throw bad(`disk ${d.name} is listed twice in volume group ${vg.name}`);
      diskNames.add(d.name);
      if (d.size !== undefined && (!Number.isSafeInteger(d.size) || d.size < 0)) {
        throw bad(`size of disk ${d.name}: ${d.size} is not a byte count (a non-negative integer)`);
      }
    }
  }
}

async function openSource(vg: string, d: BackupDiskInput): Promise<{ fh: fsp.FileHandle; size: number }> {
  let fh: fsp.FileHandle;
  try {
    fh = await open(d.path, "r");
  } catch (e) {
    throw new CbmError(REPO.io, `cannot open disk ${d.name} of ${vg} at ${d.path}: ${errorMessage(e)}`, "runtime", { cause: e });
  }
  try {
    const st = await fh.stat();
    const actual = await deviceSize(st);
    if (!st.isFile() && !st.isBlockDevice()) throw bad(`disk ${d.name} at ${d.path} is neither a regular file nor a block device`);
    const size = d.size ?? actual;
    if (size === undefined) throw bad(`size of disk ${d.name} at ${d.path} cannot be determined: pass it`);
    if (actual !== undefined && actual < size) {
      throw bad(`disk ${d.name} at ${d.path} has ${actual} bytes, fewer than the ${size} to back up`);
    }
    return { fh, size };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/**
 * What an incremental trusts: the chunks of the newest backup of the same cluster and RG (the parent)
 * and, for any requested disk that backup lacks, of the newest older backup that has it. Pure.
 */
export function incrementalBase(newestFirst: Manifest[], o: Pick<BackupOptions, "vgs">): { parent: Manifest | undefined; index: ChunkIndex } {
  const index = new ChunkIndex();
  const wanted = new Set(o.vgs.flatMap((vg) => vg.disks.map((d) => `${vg.name}/${d.name}`)));
  for (const m of newestFirst) {
    for (const vg of m.vgs) {
      for (const d of vg.disks) {
        if (!wanted.delete(`${vg.name}/${d.name}`)) continue;
        for (const c of d.chunks) if (c) index.add(c);
      }
    }
    if (wanted.size === 0) break;
  }
  return { parent: newestFirst[0], index };
}

/** Reads manifests newest first until every requested disk has been seen in one. */
async function loadIncrementalBase(e: Engine, o: BackupOptions): Promise<{ parent: Manifest | undefined; index: ChunkIndex }> {
  const ids = await listBackupIds(e.store);
  const newestFirst: Manifest[] = [];
  const wanted = new Set(o.vgs.flatMap((vg) => vg.disks.map((d) => `${vg.name}/${d.name}`)));
  for (let i = ids.length - 1; i >= 0 && wanted.size > 0; i--) {
    // One that cannot be read is passed over: fewer chunks known means more uploaded, never fewer.
    const m = await readManifest(e.store, ids[i], e.keys.manifestKey).catch((err: unknown) => {
      if (!isUnreadableManifest(err)) throw err;
      o.onInfo?.(`Warning: backup ${ids[i]} passed over as an incremental base, its manifest cannot be read: ${err.message}`);
      return undefined;
    });
    if (!m || !inScope(m, { cluster: o.meta.cluster, rg: o.meta.rg })) continue;
    newestFirst.push(m);
    for (const vg of m.vgs) for (const d of vg.disks) wanted.delete(`${vg.name}/${d.name}`);
  }
  return incrementalBase(newestFirst, o);
}

export async function runBackup(e: Engine, o: BackupOptions): Promise<BackupSummary> {
  const started = performance.now();
  validateBackupRequest(o);
  e.pool(); // the worker threads boot while the manifests and leases are read
  const time = o.meta.time ? dateToMicros(o.meta.time) : nowMicros();
  const id = makeBackupId(time);
  const putOpts = o.sse ? { sse: o.sse } : {};

  const disks: PlannedDisk[] = [];
  try {
    for (const vg of o.vgs) {
      for (const d of vg.disks) {
        const { fh, size } = await openSource(vg.name, d);
        disks.push({
          vg: vg.name,
          input: d,
          size,
          fh,
          fileName: backupFileName({ cluster: o.meta.cluster, rg: o.meta.rg, vg: vg.name, disk: d.name, time }),
          chunks: new Array<string | null>(chunkCount(size, e.config.chunkSize)).fill(null),
          stats: { chunksNew: 0, chunksZero: 0, bytesNew: 0 },
        });
      }
    }
    // Lease first, then wait for any prune that is deleting chunks, and only then learn which chunks
    // exist: a prune either sees this lease and defers, or has finished (format §8, §13).
    const lease = await Lease.take(e.store, id, putOpts);
    try {
      // The disks are read and hashed while the repository says which chunks it holds (reading
      // needs no repository); the first upload decision waits for that answer.
      const known = learnKnownChunks(e, o, id);
      known.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
      const digests = await pump(e, o, disks, known.then((k) => k.index));
      const { parent, abandoned } = await known;
      const durationMs = Math.round(performance.now() - started);
      const manifest = buildManifest(o, id, time, parent?.id ?? null, disks, digests, e.config.chunkSize, durationMs);
      lease.assertLive();
      await writeManifest(e.store, manifest, e.keys.manifestKey, { sse: o.sse, retainUntil: o.retainUntil });
      for (const k of abandoned.keys) await e.store.delete(k).catch(() => undefined);
      return summarize(manifest, parent ? "parent" : "listing", disks);
    } finally {
      await lease.release().catch(() => undefined);
    }
  } finally {
    await Promise.all(disks.map((d) => d.fh.close().catch(() => undefined)));
  }
}

/**
 * Which chunks exist, learnt under the backup's lease after any running prune has finished: a full
 * lists them (and so re-stores lost ones); an incremental trusts its parent's manifest.
 */
async function learnKnownChunks(e: Engine, o: BackupOptions, id: string): Promise<{ parent?: Manifest; index: ChunkIndex; abandoned: { since?: Date; keys: string[] } }> {
  await waitForSweeps(e.store, o.onInfo);
  // Independent reads, at once: the disks wait for this answer before their first upload decision.
  const [base, abandoned, damaged] = await Promise.all([
    o.type === "incremental" ? loadIncrementalBase(e, o) : undefined,
    // After a backup that died mid-way, chunks it wrote may be partial where PUT is not atomic: a full
    // does not trust chunks written since it started (an incremental never trusted them: they are in no manifest).
    abandonedLeases(e.store, async (bid) => bid !== id && (await e.store.head(manifestKey(bid))) !== undefined),
    // Chunks verify found damaged are stored again wherever this backup meets their data.
    readDamaged(e.store),
  ]);
  const index = base?.parent ? base.index : await ChunkIndex.fromListing(e.store, abandoned.since);
  for (const id of damaged) index.forget(id);
  return { parent: base?.parent, index, abandoned };
}

/** An encoded chunk waiting in its encoded-object slot to go out in a pack. */
interface PackMember {
  id: string;
  slot: number;
  length: number;
  /** Upload checksums the worker computed with the encoding (single-chunk objects only). */
  sha256?: string;
  md5?: string;
  disk: PlannedDisk;
}

async function pump(e: Engine, o: BackupOptions, disks: PlannedDisk[], known: Promise<ChunkIndex>): Promise<string[]> {
  const pool = e.pool();
  const chunkSize = e.config.chunkSize;
  const concurrency = o.concurrency ?? BACKUP_CONCURRENCY;
  // Chunks per object: packs of up to three in a version 2 repository (format §5.1), one chunk
  // object each in version 1.
  const perPack = chunksPerObject(e.config);
  const packs = writesPacks(e.config);
  // Two arenas, so that no chunk-sized buffer is allocated per chunk: plaintext slots (a few per
  // worker: read, hash, encode) and encoded-object slots (uploads in flight plus a pack being
  // filled; workers encode into them, uploads send from them). Known and zero chunks never wait.
  const arena = new Arena(2 * pool.size + 2, chunkSize);
  const outArena = new Arena(concurrency + perPack - 1, sealedBound(chunkSize));
  const group = new TaskGroup(o.signal);
  const uploading = new Set<string>();
  const progress: BackupProgress = {
    bytesRead: 0,
    bytesTotal: disks.reduce((s, d) => s + d.size, 0),
    bytesStored: 0,
    chunksNew: 0,
    chunksTotal: 0,
  };
  const report = () => o.onProgress?.({ ...progress });
  // Uploads carry the worker-computed SHA-256 of the object as their signed payload hash (the
  // server checks it), and a Content-MD5 only where object lock requires one; neither is computed
  // for a store that would not send it (a directory).
  const putOpts = { ...(o.sse ? { sse: o.sse } : {}), ...(o.retainUntil ? { retainUntil: o.retainUntil } : {}) };
  const sha256 = e.store.checksUploads === true;
  const md5 = sha256 && o.retainUntil !== undefined;
  const stoppedOrSlot = (): Promise<number | undefined> => arena.acquireUnless(group);

  let filling: PackMember[] = [];
  /** Stores encoded chunks as one object (their slots are given back whatever happens). */
  const upload = async (members: PackMember[]): Promise<void> => {
    try {
      let sums: { sha256?: string; md5?: string } = members.length === 1 ? members[0] : {};
      if ((sha256 && !sums.sha256) || (md5 && !sums.md5)) {
        sums = await pool.run({ op: "checksums", parts: members.map((m) => outArena.ref(m.slot, m.length)), sha256, md5 });
      }
      const key = objectKeyFor(members, packs);
      await e.store.put(
        key,
        members.map((m) => outArena.view(m.slot, m.length)),
        { ...putOpts, payloadSha256: sums.sha256, contentMd5: sums.md5 },
      );
    } finally {
      for (const m of members) outArena.release(m.slot);
    }
    const index = await known;
    for (const m of members) {
      index.add(m.id);
      m.disk.stats.bytesNew += m.length;
      m.disk.stats.chunksNew++;
      progress.bytesStored += m.length;
      progress.chunksNew++;
    }
  };

  // The image digest comes from the chunks' digests (docs/format.md §6): one hash pass over the
  // data, in any order, in parallel.
  const images = disks.map((d) => new ImageDigest(d.chunks.length, e.keys.chunkDigest));
  for (const [di, d] of disks.entries()) {
    const image = images[di];
    const what = `disk ${d.input.name} of ${d.vg} (${d.input.path})`;
    for (let i = 0; i < d.chunks.length && !group.stopped; i++) {
      const slot = await stoppedOrSlot();
      if (slot === undefined) break;
      if (group.stopped) {
        arena.release(slot);
        break;
      }
      const { offset, length } = chunkRange(i, d.size, chunkSize);
      group.spawn(async () => {
        let released = false;
        try {
          await readFully(d.fh, arena.view(slot, length), offset, what);
          progress.bytesRead += length;
          const h = await pool.run({ op: "hash", ...arena.ref(slot, length) });
          if (h.zero || h.id === null || h.digest === null) {
            image.addZero(i, length);
            d.stats.chunksZero++;
          } else {
            image.add(i, h.digest);
            const cid = h.id;
            d.chunks[i] = cid;
            const index = await known;
            if (!index.has(cid) && !uploading.has(cid)) {
              uploading.add(cid);
              const out = await outArena.acquire();
              let enc;
              try {
                enc = await pool.run({ op: "encodeInto", id: cid, compress: o.compression, sha256: sha256 && perPack === 1, md5: md5 && perPack === 1, ...arena.ref(slot, length), out: outArena.ref(out, outArena.slotSize) });
              } catch (err) {
                outArena.release(out);
                throw err;
              }
              arena.release(slot); // the plaintext is done with: the next read may start
              released = true;
              filling.push({ id: cid, slot: out, length: enc.length, sha256: enc.sha256, md5: enc.md5, disk: d });
              if (filling.length >= perPack) {
                const full = filling;
                filling = [];
                await upload(full);
              }
            }
          }
        } finally {
          if (!released) arena.release(slot);
        }
        progress.chunksTotal++;
        report();
      });
    }
  }
  await group.finish("backup");
  if (filling.length > 0) {
    await upload(filling); // the last, partly filled pack
    report();
  }
  return images.map((d) => d.hex());
}

function buildManifest(
  o: BackupOptions,
  id: string,
  time: number,
  parent: string | null,
  disks: PlannedDisk[],
  digests: string[],
  chunkSize: number,
  durationMs: number,
): Manifest {
  const vgs: Manifest["vgs"] = [];
  for (const [i, d] of disks.entries()) {
    let vg = vgs.find((v) => v.name === d.vg);
    if (!vg) {
      vg = { name: d.vg, disks: [] };
      vgs.push(vg);
    }
    const md: ManifestDisk = {
      name: d.input.name,
      uuid: d.input.uuid ?? null,
      pvid: d.input.pvid ?? null,
      size: d.size,
      chunkSize,
      sha256: digests[i],
      fileName: d.fileName,
      chunks: d.chunks,
      stats: d.stats,
    };
    vg.disks.push(md);
  }
  const sum = (f: (d: PlannedDisk) => number) => disks.reduce((s, d) => s + f(d), 0);
  return {
    format: "cbm-manifest",
    version: 1,
    id,
    time: formatIsoMicros(time),
    type: o.type,
    cluster: o.meta.cluster,
    rg: o.meta.rg,
    node: o.meta.node,
    consistencyGroup: o.meta.consistencyGroup ?? null,
    parent,
    tool: TOOL,
    compression: o.compression,
    vgs,
    stats: {
      bytesRead: sum((d) => d.size),
      bytesNew: sum((d) => d.stats.bytesNew),
      chunksTotal: sum((d) => d.chunks.length),
      chunksNew: sum((d) => d.stats.chunksNew),
      chunksZero: sum((d) => d.stats.chunksZero),
      durationMs,
    },
  };
}

function summarize(m: Manifest, indexSource: "listing" | "parent", disks: PlannedDisk[]): BackupSummary {
  return {
    id: m.id,
    type: m.type,
    time: m.time,
    parent: m.parent,
    indexSource,
    fileNames: disks.map((d) => d.fileName),
    disks: m.vgs.flatMap((vg) =>
      vg.disks.map((d) => ({
        vg: vg.name,
        disk: d.name,
        fileName: d.fileName,
        size: d.size,
        sha256: d.sha256,
        chunks: d.chunks.length,
        chunksNew: d.stats.chunksNew,
        chunksZero: d.stats.chunksZero,
        bytesNew: d.stats.bytesNew,
      })),
    ),
    bytesRead: m.stats.bytesRead,
    bytesStored: m.stats.bytesNew,
    chunksTotal: m.stats.chunksTotal,
    chunksNew: m.stats.chunksNew,
    chunksZero: m.stats.chunksZero,
    durationMs: m.stats.durationMs,
  };
}
