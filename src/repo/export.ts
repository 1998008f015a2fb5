/**
 * Plain-image export: one disk of one backup written as a single raw image — a file, or one object
 * in any S3 bucket (multipart upload from a stream) — so that the paper's recovery procedure
 * (boto3 download_file, then dd) works on a machine without CBM. Memory is bounded: at most
 * `prefetch` decoded chunks are held at a time, whatever the disk size. The image digest
 * (docs/format.md §6) is compared with the manifest's before the upload completes (a mismatch aborts
 * the multipart upload, so no partial or wrong object is left) or, for a file, before it is renamed
 * into place. The summary also gives the plain SHA-256 of the image (what `sha256sum` prints for the
 * downloaded file or the disk written from it), for checking on a machine without CBM.
 */
import { createHash } from "node:crypto";
import { lstat, open, rename, rm } from "node:fs/promises";
import type { ObjectStore } from "../objectstore/types.ts";
import { CbmError } from "../util/errors.ts";
import { chunkDigest, chunkRange, ImageDigest, zeroChunkDigest } from "./chunk.ts";
import { chunkDigestOf } from "./keys.ts";
import { REPO } from "./codes.ts";
import type { Manifest, ManifestDisk } from "./manifest.ts";
import type { Repository } from "./repository.ts";
import { cancelled } from "./tasks.ts";

export interface ExportOptions {
  /** Chunks downloaded ahead (default 4): memory ≈ (prefetch + 1) × chunk size. */
  prefetch?: number;
  onProgress?: (p: { bytesWritten: number; bytesTotal: number }) => void;
  signal?: AbortSignal;
}

export interface ExportSummary {
  backupId: string;
  disk: string;
  fileName: string;
  size: number;
  /** SHA-256 of the image bytes: `sha256sum` of the exported file (or of a disk written from it). */
  sha256: string;
  /** The manifest's image digest (docs/format.md §6), checked. */
  imageDigest: string;
  target: string;
  durationMs: number;
}

/** The decoded image of a disk, in order, as chunk-sized pieces; checks the whole-image SHA-256 at the end. */
export async function* diskImage(repo: Repository, m: Manifest, d: ManifestDisk, o: ExportOptions = {}, out: { sha256?: string } = {}): AsyncGenerator<Uint8Array> {
  const ahead = Math.max(1, o.prefetch ?? 4);
  const hash = createHash("sha256");
  const alg = chunkDigestOf(repo.config);
  const digest = new ImageDigest(d.chunks.length, alg);
  const chunks = await repo.chunkReader();
  const fetch = (i: number): Promise<Uint8Array> => {
    const id = d.chunks[i];
    const { offset, length } = chunkRange(i, d.size, d.chunkSize);
    if (!id) return Promise.resolve(new Uint8Array(length));
    return repo.readChunk(chunks, id, `disk ${d.name} at byte offset ${offset} of backup ${m.id}`);
  };
  const queue: Array<Promise<Uint8Array>> = [];
  let next = 0;
  let written = 0;
  const fill = () => {
    while (queue.length < ahead && next < d.chunks.length) {
      const p = fetch(next++);
      p.catch(() => undefined); // handled when awaited
      queue.push(p);
    }
  };
  fill();
  while (queue.length > 0) {
    if (o.signal?.aborted) throw cancelled("export", o.signal.reason);
    const i = next - queue.length; // index of the piece at the head of the queue
    const piece = await queue.shift()!;
    fill();
    hash.update(piece);
    digest.add(i, d.chunks[i] ? chunkDigest(piece, alg) : zeroChunkDigest(piece.byteLength, alg));
    written += piece.byteLength;
    if (queue.length === 0) {
      // Last piece: check the image before handing it over, so a wrong image never completes.
      const got = digest.hex();
      if (got !== d.sha256 || written !== d.size) {
        throw new CbmError(REPO.corrupt, `disk ${d.name} of backup ${m.id}: exported image has digest ${got}, the manifest says ${d.sha256}`, "integrity");
      }
      out.sha256 = hash.digest("hex");
    }
    yield piece;
    o.onProgress?.({ bytesWritten: written, bytesTotal: d.size });
  }
  if (d.chunks.length === 0) out.sha256 = hash.digest("hex");
}

/** Writes the image to `target`: a path (temp file, fsync, rename) or { store, key } (putStream). */
export async function exportDisk(
  repo: Repository,
  m: Manifest,
  d: ManifestDisk,
  target: string | { store: ObjectStore; key: string },
  o: ExportOptions = {},
): Promise<ExportSummary> {
  const t0 = performance.now();
  let where: string;
  const sums: { sha256?: string } = {};
  if (typeof target === "string") {
    where = target;
    // The image is written beside the target and renamed over it: that replaces a file, and would
    // replace a device node with a file (the disk never written), so only files are targets.
    const existing = await lstat(target).catch(() => undefined);
    if (existing && !existing.isFile()) {
      throw new CbmError(REPO.badRequest, `export target ${target} exists and is not a regular file: export writes image files (to restore onto a device, use clmgr restore backup_files)`, "validation");
    }
    if (existing) {
      throw new CbmError(REPO.badRequest, `export target ${target} exists; export never replaces a file: remove it or give another TARGET. Nothing was written.`, "validation");
    }
    const tmp = `${target}.cbm-partial`;
    const fh = await open(tmp, "w", 0o600);
    try {
      let pos = 0;
      for await (const piece of diskImage(repo, m, d, o, sums)) {
        let off = 0;
        while (off < piece.byteLength) {
          const { bytesWritten } = await fh.write(piece, off, piece.byteLength - off, pos);
          off += bytesWritten;
          pos += bytesWritten;
        }
      }
      await fh.sync();
      await fh.close();
      await rename(tmp, target);
    } catch (e) {
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw e;
    }
  } else {
    where = `${target.store.location.replace(/\/$/, "")}/${target.key}`;
    await target.store.putStream(target.key, diskImage(repo, m, d, o, sums));
  }
  return { backupId: m.id, disk: d.name, fileName: d.fileName, size: d.size, sha256: sums.sha256 ?? "", imageDigest: d.sha256, target: where, durationMs: Math.round(performance.now() - t0) };
}
