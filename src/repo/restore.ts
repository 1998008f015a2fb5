/**
 * The restore pipeline (docs/format.md §10): check every target first (nothing is written unless
 * all are big enough), then download chunks with bounded parallelism; the worker threads decode,
 * check and write each chunk at its offset and return its digest, in whatever order downloads
 * finish; at the end the image digest built from those (docs/format.md §6) must match the manifest.
 * Workers write with direct I/O where the target allows it (targetwrite.ts); a target is flushed in
 * the background as it fills, then fsynced.
 *
 * Zero chunks: a target file that is new (or grows) already reads as zeros in the new part (holes),
 * so zero chunks there are skipped, and so are all-zero segments inside other chunks; elsewhere
 * (old file contents, block devices) zeros are written.
 */
import { constants as fsConstants, type Stats } from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import lockfile from "proper-lockfile";
import { openDeviceExclusive } from "../util/device.ts";
import { CbmError, errorMessage } from "../util/errors.ts";
import { blockDeviceSize, writeFully } from "./blockdev.ts";
import { chunkRange, ImageDigest } from "./chunk.ts";
import { ChunkReader } from "./chunkindex.ts";
import { writesPacks } from "./keys.ts";
import { REPO } from "./codes.ts";
import { RESTORE_CONCURRENCY, type Engine } from "./engine.ts";
import type { Manifest, ManifestDisk } from "./manifest.ts";
import { Semaphore, TaskGroup } from "./tasks.ts";
import { DIRECT_ALIGN } from "./targetwrite.ts";

export interface RestoreProgress {
  bytesWritten: number;
  bytesTotal: number;
  bytesDownloaded: number;
  chunksDone: number;
  chunksTotal: number;
}

export interface RestoreOptions {
  onProgress?: (p: RestoreProgress) => void;
  /** Downloads in flight; default RESTORE_CONCURRENCY (8). */
  concurrency?: number;
  signal?: AbortSignal;
  /** fsync each target at the end (default true: a restored disk must survive a power cut). */
  sync?: boolean;
  /** Compare the image digest (docs/format.md §6) of each restored image with the manifest (default true). */
  verifyImage?: boolean;
  /**
   * Extend an existing regular file smaller than the disk (default true). false treats existing
   * files like disks — they must already be big enough (image-file volumes of the lab's storage).
   * Missing files are always created.
   */
  growFiles?: boolean;
}

export interface RestoreJob {
  vg: string;
  disk: ManifestDisk;
  target: string;
}

export interface RestoreDiskSummary {
  vg: string;
  disk: string;
  fileName: string;
  target: string;
  size: number;
  sha256: string;
  /** "created" (new file), "file" (existing file, extended when smaller) or "block-device". */
  targetKind: "created" | "file" | "block-device";
}

export interface RestoreSummary {
  backupId: string;
  disks: RestoreDiskSummary[];
  bytesWritten: number;
  bytesDownloaded: number;
  durationMs: number;
}

interface Target {
  job: RestoreJob;
  kind: RestoreDiskSummary["targetKind"];
  /** Zero chunks at or past this offset need not be written (they read as zeros already). */
  zeroFrom: number;
  fh?: fsp.FileHandle;
  /** The same target opened with O_DIRECT (targetwrite.ts), where the file system allows it. */
  direct?: fsp.FileHandle;
  /** A write to it has started: an existing target no longer holds what it held. */
  touched?: boolean;
}

/** A failed restore's error, saying which existing targets it had begun to overwrite (created ones are removed). */
function failedRestore(err: unknown, targets: Target[]): unknown {
  const hit = targets.filter((t) => t.touched && t.kind !== "created").map((t) => t.job.target);
  if (!(err instanceof CbmError) || hit.length === 0) return err;
  return new CbmError(err.code, `${err.message} (partly overwritten, earlier contents lost, restore incomplete: ${hit.join(", ")})`, err.kind, { cause: err });
}

function tooSmall(msg: string): CbmError {
  return new CbmError(REPO.targetTooSmall, msg, "validation");
}

async function statOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fsp.stat(p);
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return undefined;
    throw new CbmError(REPO.io, `cannot examine restore target ${p}: ${errorMessage(e)}`, "runtime", { cause: e });
  }
}

/** Decides how each target is written, refusing bad ones; reads only. */
export async function checkTargets(jobs: RestoreJob[], growFiles = true): Promise<Target[]> {
  const seen = new Map<string, string>();
  const out: Target[] = [];
  for (const job of jobs) {
    const d = job.disk;
    const st = await statOrUndefined(job.target);
    // A block device is itself, whatever node names it (rdev); a file is its inode.
    const identity = !st ? path.resolve(job.target) : st.isBlockDevice() ? `rdev:${st.rdev}` : `ino:${st.dev}:${st.ino}`;
    const other = seen.get(identity);
    if (other) throw new CbmError(REPO.badRequest, `disks ${other} and ${d.name} would both be restored to ${job.target}`, "validation");
    seen.set(identity, d.name);
    if (!st) {
      // A symbolic link to nothing: creating the file would fail on the link itself (EEXIST).
      const link = await fsp.readlink(job.target).catch(() => undefined);
      if (link !== undefined) {
        throw new CbmError(REPO.badRequest, `restore target ${job.target} for disk ${d.name} is a symbolic link to ${link}, which does not exist; give the device or file it should point to. Nothing was written.`, "validation");
      }
      const dir = path.dirname(path.resolve(job.target));
      await fsp.access(dir, fsConstants.W_OK).catch((e: unknown) => {
        throw new CbmError(REPO.badRequest, `restore target ${job.target} for disk ${d.name} cannot be created: directory ${dir} is not writable (${errorMessage(e)}); nothing was written`, "validation");
      });
      out.push({ job, kind: "created", zeroFrom: 0 });
    } else if (st.isFile()) {
      if (!growFiles && st.size < d.size) {
        throw tooSmall(`target ${job.target} has ${st.size} bytes, smaller than disk ${d.name} of the backup (${d.size} bytes): nothing was written; use a target of at least ${d.size} bytes`);
      }
      out.push({ job, kind: "file", zeroFrom: st.size < d.size ? st.size : d.size });
    } else if (st.isBlockDevice()) {
      const size = await blockDeviceSize(st);
      if (size === undefined) throw tooSmall(`cannot tell the size of block device ${job.target}; refusing to restore disk ${d.name} (${d.size} bytes) to it`);
      if (size < d.size) {
        throw tooSmall(`target ${job.target} has ${size} bytes, smaller than disk ${d.name} of the backup (${d.size} bytes): nothing was written; use a device of at least ${d.size} bytes`);
      }
      out.push({ job, kind: "block-device", zeroFrom: Infinity });
    } else {
      throw new CbmError(REPO.badRequest, `restore target ${job.target} for disk ${d.name} is neither a regular file nor a block device`, "validation");
    }
  }
  // Last, once every target passed the checks above: a device in use (mounted…) is refused.
  for (const t of out) {
    if (t.kind !== "block-device") continue;
    const fh = await openDeviceExclusive(t.job.target, `restore target for disk ${t.job.disk.name}`).catch((e: unknown) => {
      if (e instanceof CbmError) throw e;
      throw new CbmError(REPO.io, `cannot open restore target ${t.job.target} for disk ${t.job.disk.name}: ${errorMessage(e)}; nothing was written`, "runtime", { cause: e });
    });
    await fh.close();
  }
  return out;
}

async function openTarget(t: Target): Promise<fsp.FileHandle> {
  const { target, disk } = t.job;
  try {
    if (t.kind === "created") {
      const fh = await fsp.open(target, "wx+"); // readable too: targetwrite.ts probes with a read
      try {
        await fh.truncate(disk.size);
      } catch (e) {
        await fh.close().catch(() => undefined);
        await fsp.unlink(target).catch(() => undefined); // ours (wx): a retry must not meet an empty file
        throw e;
      }
      return fh;
    }
    // A device stays claimed (O_EXCL) until the restore ends: nobody mounts it half-written.
    const fh = t.kind === "block-device" ? await openDeviceExclusive(target, `restore target for disk ${disk.name}`) : await fsp.open(target, "r+");
    // Extended when shorter; a longer file keeps its tail (it may be a bigger disk): the CLI says so.
    if (t.kind === "file" && (await fh.stat()).size < disk.size) await fh.truncate(disk.size);
    return fh;
  } catch (e) {
    if (e instanceof CbmError) throw e;
    throw new CbmError(REPO.io, `cannot open restore target ${target} for disk ${disk.name}: ${errorMessage(e)}`, "runtime", { cause: e });
  }
}

/**
 * Claims each file target for this restore (`<file>.cbm-restore.lock`, proper-lockfile: refreshed
 * while held, stale 10 s after a crash), so that two restores never write one file at once — both
 * would report success over a mix of two images. Block devices are claimed by their O_EXCL open.
 * Where no lock can be made next to the file (a read-only directory), the restore goes on without.
 */
async function claimFiles(targets: Target[]): Promise<() => Promise<void>> {
  const releases: Array<() => Promise<void>> = [];
  const releaseAll = async () => {
    for (const r of releases.splice(0)) await r().catch(() => undefined);
  };
  try {
    for (const t of targets) {
      if (t.kind === "block-device") continue;
      const real = await fsp.realpath(t.job.target).catch(() => path.resolve(t.job.target));
      const lockfilePath = `${real}.cbm-restore.lock`;
      try {
        releases.push(await lockfile.lock(real, { lockfilePath, realpath: false, stale: 10_000, retries: 0 }));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ELOCKED") {
          throw new CbmError(REPO.targetBusy, `restore target ${t.job.target} for disk ${t.job.disk.name} is being written by another restore (${lockfilePath}); wait for it to end or choose another target. Nothing was written.`, "validation");
        }
        if (code !== "EACCES" && code !== "EROFS" && code !== "EPERM") throw e;
      }
    }
  } catch (e) {
    await releaseAll();
    throw e;
  }
  return releaseAll;
}

/** O_DIRECT twin of an open target, or undefined where direct I/O is refused (tmpfs, other systems). */
async function openDirect(t: Target): Promise<fsp.FileHandle | undefined> {
  const O_DIRECT = fsConstants.O_DIRECT as number | undefined;
  if (O_DIRECT === undefined || t.job.disk.size < DIRECT_ALIGN) return undefined;
  return fsp.open(t.job.target, fsConstants.O_WRONLY | O_DIRECT).catch(() => undefined);
}

/** While restoring, flush a target every this many bytes in the background: the final fsync is then short. */
const SYNC_EVERY = 256 * 1024 * 1024;

export async function runRestore(e: Engine, m: Manifest, jobs: RestoreJob[], o: RestoreOptions = {}): Promise<RestoreSummary> {
  const started = performance.now();
  const targets = await checkTargets(jobs, o.growFiles ?? true); // every check before the first write
  const release = await claimFiles(targets);
  try {
    return await restoreInto(e, m, targets, jobs, o, started);
  } finally {
    await release();
  }
}

async function restoreInto(e: Engine, m: Manifest, targets: Target[], jobs: RestoreJob[], o: RestoreOptions, started: number): Promise<RestoreSummary> {
  // Where each chunk is (packs, format §5.1): one listing, before anything is written.
  const chunks = await ChunkReader.open(e.store, writesPacks(e.config));
  const pool = e.pool();
  const concurrency = o.concurrency ?? RESTORE_CONCURRENCY;
  const verifyImage = o.verifyImage ?? true;
  const sync = o.sync ?? true;
  const maxChunk = Math.max(...jobs.map((j) => j.disk.chunkSize));
  const zeros = Buffer.alloc(maxChunk);
  // Bounds the chunk objects in memory: one per download in flight (from GET to written).
  const inflight = new Semaphore(concurrency);
  const group = new TaskGroup(o.signal);
  const progress: RestoreProgress = {
    bytesWritten: 0,
    bytesTotal: jobs.reduce((s, j) => s + j.disk.size, 0),
    bytesDownloaded: 0,
    chunksDone: 0,
    chunksTotal: jobs.reduce((s, j) => s + j.disk.chunks.length, 0),
  };
  const chunkDone = (length: number) => {
    progress.bytesWritten += length;
    progress.chunksDone++;
    o.onProgress?.({ ...progress });
  };
  const stoppedOrPermit = (): Promise<boolean> => inflight.acquireUnless(group);

  // The image digest is built from the chunks' digests (docs/format.md §6), so chunks are
  // checked, written and hashed in whatever order their downloads finish.
  const images = targets.map((t) => new ImageDigest(t.job.disk.chunks.length, e.keys.chunkDigest));
  let done = false;
  try {
    for (const t of targets) {
      t.fh = await openTarget(t);
      t.direct = await openDirect(t);
    }
    for (const [ti, t] of targets.entries()) {
      const image = images[ti];
      const { disk, vg, target } = t.job;
      const fh = t.fh!;
      let unsynced = 0;
      let syncing = false;
      // Background flush of what was written so far; the final fsync below is what counts.
      const written = (n: number) => {
        unsynced += n;
        if (!sync || syncing || unsynced < SYNC_EVERY) return;
        unsynced = 0;
        syncing = true;
        group.spawn(async () => {
          try {
            await fh.datasync();
          } finally {
            syncing = false;
          }
        });
      };
      const where = (offset: number, i: number) => `disk ${disk.name} of ${vg} at byte offset ${offset} (chunk ${i})`;
      for (let i = 0; i < disk.chunks.length && !group.stopped; i++) {
        const { offset, length } = chunkRange(i, disk.size, disk.chunkSize);
        const id = disk.chunks[i];
        if (id === null && offset >= t.zeroFrom) {
          // Reads as zeros already: nothing to write.
          if (verifyImage) image.addZero(i, length);
          chunkDone(length);
          continue;
        }
        // Zero writes take a permit too: a mostly empty disk has millions of zero chunks.
        if (!(await stoppedOrPermit())) break;
        if (group.stopped) {
          inflight.release();
          break;
        }
        if (id === null) {
          if (verifyImage) image.addZero(i, length);
          group.spawn(async () => {
            try {
              t.touched = true;
              await writeFully(fh, zeros.subarray(0, length), offset, `${target} (${where(offset, i)})`);
              written(length);
            } finally {
              inflight.release();
            }
            chunkDone(length);
          });
          continue;
        }
        group.spawn(async () => {
          try {
            const got = await chunks.fetch(id);
            if (!got) throw new CbmError(REPO.chunkMissing, `restore of ${where(offset, i)} failed: ${chunks.missing(id)}`, "integrity");
            const ab = got.object;
            progress.bytesDownloaded += ab.byteLength;
            let digest: string | null;
            try {
              // The worker decodes, checks and writes the chunk to the target itself.
              ({ digest } = await pool.run(
                {
                  op: "decodeWrite",
                  object: ab,
                  id,
                  context: where(offset, i),
                  digest: verifyImage,
                  fd: fh.fd,
                  directFd: t.direct?.fd,
                  slotSize: maxChunk,
                  skipZeros: offset >= t.zeroFrom,
                  position: offset,
                  length,
                  target,
                },
                [ab],
              ));
            } catch (err) {
              // A chunk that fails its check is refused before its write; any other failure may
              // come from the write itself.
              if (err instanceof CbmError && err.kind === "integrity") {
                const reason = err.message.replace(`chunk ${id} (${where(offset, i)}): `, "");
                throw new CbmError(err.code, `restore of ${where(offset, i)} failed: chunk ${id} is corrupt (in ${got.key}): ${reason}`, "integrity", { cause: err });
              }
              t.touched = true;
              throw err;
            }
            t.touched = true;
            if (verifyImage) {
              if (digest === null) throw new CbmError("CBM_INTERNAL", `restore of ${where(offset, i)}: the worker returned no digest`, "runtime");
              image.add(i, digest);
            }
            written(length);
          } finally {
            inflight.release();
          }
          chunkDone(length);
        });
      }
    }
    await group.finish("restore");
    if (verifyImage) {
      for (const [ti, t] of targets.entries()) {
        const got = images[ti].hex();
        if (got !== t.job.disk.sha256) {
          throw new CbmError(
            REPO.corrupt,
            `restored image of disk ${t.job.disk.name} (${t.job.target}) has image digest ${got}, but backup ${m.id} recorded ${t.job.disk.sha256}`,
            "integrity",
          );
        }
      }
    }
    if (sync) await Promise.all(targets.map((t) => t.fh!.sync()));
    done = true;
  } catch (err) {
    throw failedRestore(err, targets);
  } finally {
    for (const t of targets) {
      if (!t.direct) continue;
      const directFd = t.direct.fd;
      await Promise.all(Array.from({ length: pool.size }, (_, w) => pool.run({ op: "forgetDirect", directFd }, [], w).catch(() => undefined)));
      await t.direct.close().catch(() => undefined);
    }
    await Promise.all(targets.map((t) => t.fh?.close().catch(() => undefined)));
    // A file this restore created and did not finish is not left to pass for a restored disk.
    if (!done) await Promise.all(targets.filter((t) => t.kind === "created" && t.fh).map((t) => fsp.unlink(t.job.target).catch(() => undefined)));
  }
  return {
    backupId: m.id,
    disks: targets.map((t) => ({
      vg: t.job.vg,
      disk: t.job.disk.name,
      fileName: t.job.disk.fileName,
      target: t.job.target,
      size: t.job.disk.size,
      sha256: t.job.disk.sha256,
      targetKind: t.kind,
    })),
    bytesWritten: progress.bytesWritten,
    bytesDownloaded: progress.bytesDownloaded,
    durationMs: Math.round(performance.now() - started),
  };
}
