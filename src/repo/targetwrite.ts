/**
 * Writing restored plaintext to a target (in a worker thread): through an O_DIRECT descriptor when
 * there is one, else the ordinary one; all-zero segments skipped where the target already reads as
 * zeros (a new or grown file: holes).
 *
 * Why O_DIRECT: a restore writes a whole disk once and nothing reads it back soon, so the page cache
 * only costs (on the machines measured, buffered writes of a fresh 2 GiB file took 0.4–4.7 s from run
 * to run, direct ones a steady ~1.5 s) and it would evict the running applications' cache on an HA
 * node. A direct write waits for the device, so it is issued asynchronously: the worker decodes the
 * next chunk meanwhile, into another of its DIRECT_SLOTS aligned buffers.
 *
 * Direct I/O needs buffer addresses, offsets and lengths aligned to the device's logical block;
 * JavaScript cannot see a buffer's address, so the aligned start inside the slot memory is found by
 * probing: the first block of the region the caller is about to write anyway is read (buffered)
 * into the memory at each 16-byte step and written back directly until the kernel accepts it (a
 * misaligned direct write fails with EINVAL and writes nothing; direct reads are no test: ext4
 * serves misaligned reads of holes). Only that caller writes that region, so the probe races with
 * nobody. Pieces that cannot be aligned (a disk's last partial block) and descriptors that refuse
 * direct I/O go through the ordinary descriptor, synchronously.
 */
import { readSync, write, writeSync } from "node:fs";
import { CbmError, errorMessage } from "../util/errors.ts";
import { isZero } from "./chunk.ts";
import { REPO } from "./codes.ts";

/** Direct-I/O alignment assumed for offsets and lengths: 4096 covers 512-byte and 4K-sector devices. */
export const DIRECT_ALIGN = 4096;
/** Granularity of zero skipping: runs of non-zero segments are written in one call. */
export const ZERO_SEGMENT = 128 * 1024;
/** Aligned chunk buffers per worker: one being decoded into while the other's write is in flight. */
export const DIRECT_SLOTS = 2;

export interface TargetWrite {
  /** Ordinary descriptor of the target (always usable). */
  fd: number;
  /** O_DIRECT descriptor of the same target, when it could be opened. */
  directFd?: number;
  /** File position of plain[0]; a multiple of DIRECT_ALIGN for the direct path. */
  position: number;
  /** The region reads as zeros already: all-zero segments need not be written. */
  skipZeros: boolean;
  /** For messages: the target's name and what is being written. */
  target: string;
  context: string;
}

function ioError(w: TargetWrite, position: number, e: unknown): CbmError {
  return new CbmError(REPO.io, `writing ${w.target} (${w.context}) at byte offset ${position} failed: ${errorMessage(e)}`, "runtime", { cause: e });
}

function writeAllSync(fd: number, buf: Uint8Array, position: number, w: TargetWrite): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off, position + off);
    } catch (e) {
      throw ioError(w, position + off, e);
    }
  }
}

async function writeAllAsync(fd: number, buf: Uint8Array, position: number, w: TargetWrite): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    off += await new Promise<number>((resolve, reject) =>
      write(fd, buf, off, buf.length - off, position + off, (e, n) => (e ? reject(ioError(w, position + off, e)) : resolve(n))),
    );
  }
}

/** The non-zero runs of plain (all of it without skipZeros), as [start, end) offsets. */
function runs(plain: Buffer, skipZeros: boolean): [number, number][] {
  const out: [number, number][] = [];
  let start = -1;
  for (let off = 0; off < plain.length; off += ZERO_SEGMENT) {
    const end = Math.min(off + ZERO_SEGMENT, plain.length);
    if (skipZeros && isZero(plain.subarray(off, end))) {
      if (start >= 0) out.push([start, off]);
      start = -1;
    } else if (start < 0) start = off;
  }
  if (start >= 0) out.push([start, plain.length]);
  return out;
}

/** Writes plain at w.position through the ordinary descriptor (the non-zero runs, under skipZeros). */
export function writeBuffered(plain: Buffer, w: TargetWrite): void {
  for (const [s, e] of runs(plain, w.skipZeros)) writeAllSync(w.fd, plain.subarray(s, e), w.position + s, w);
}

/** One aligned buffer of the ring; release() once its writes are done. */
export interface DirectSlot {
  buf: Buffer;
  release(): void;
}

/**
 * This thread's ring of aligned buffers: one memory block holding DIRECT_SLOTS slots and, after
 * them, a probe area at a multiple of DIRECT_ALIGN (so the same start offset aligns both). Probes
 * write only there, never into a slot whose write may be in flight. A bigger chunk size replaces
 * the ring; the old one's memory lives on with its in-flight writes, and its slots are not reused.
 */
interface Ring {
  memory: Buffer;
  slotSize: number;
  probeAt: number;
  /** Per direct descriptor, the aligned start offset found (null: none works). */
  start: Map<number, number | null>;
  free: number[];
}
let ring: Ring | undefined;
type Taken = { ring: Ring; slot: number };
const waiting: ((t: Taken) => void)[] = [];

function ringFor(bytes: number): Ring {
  if (!ring || ring.slotSize < bytes) {
    const slotSize = Math.ceil(bytes / DIRECT_ALIGN) * DIRECT_ALIGN;
    const probeAt = DIRECT_SLOTS * slotSize + DIRECT_ALIGN;
    const r: Ring = { memory: Buffer.allocUnsafeSlow(probeAt + 2 * DIRECT_ALIGN), slotSize, probeAt, start: new Map(), free: [] };
    for (let i = 0; i < DIRECT_SLOTS; i++) r.free.push(i);
    ring = r;
    while (waiting.length > 0 && r.free.length > 0) waiting.shift()!({ ring: r, slot: r.free.pop()! });
  }
  return ring;
}

function releaseSlot(t: Taken): void {
  if (t.ring !== ring) return;
  const next = waiting.shift();
  if (next) next(t);
  else t.ring.free.push(t.slot);
}

/** The offset in r.memory at which buffers are aligned for w.directFd, probing once per descriptor. */
function alignedStart(r: Ring, w: TargetWrite & { directFd: number }): number | null {
  let start = r.start.get(w.directFd);
  if (start !== undefined) return start;
  start = null;
  // malloc aligns to 16 bytes: try each 16-byte step of one alignment window.
  for (let k = 0; k < DIRECT_ALIGN; k += 16) {
    try {
      if (readSync(w.fd, r.memory, r.probeAt + k, DIRECT_ALIGN, w.position) !== DIRECT_ALIGN) break;
      writeSync(w.directFd, r.memory, r.probeAt + k, DIRECT_ALIGN, w.position);
      start = k;
      break;
    } catch (e) {
      if ((e as { code?: string }).code !== "EINVAL") break; // EIO, EBADF…: no direct path
    }
  }
  r.start.set(w.directFd, start);
  return start;
}

/**
 * An aligned buffer of exactly `length` bytes for w.directFd (waiting while all are being written),
 * or undefined when the direct path does not apply. `slotSize` is the largest chunk of the restore
 * (so the ring is sized once). w.position must start a region of at least DIRECT_ALIGN bytes that
 * the caller owns: the probe rewrites its first block with what it holds.
 */
export async function directSlot(w: TargetWrite, length: number, slotSize: number): Promise<DirectSlot | undefined> {
  const directFd = w.directFd;
  if (directFd === undefined || length < DIRECT_ALIGN || w.position % DIRECT_ALIGN !== 0) return undefined;
  const wd = { ...w, directFd };
  const r0 = ringFor(Math.max(slotSize, length));
  if (alignedStart(r0, wd) === null) return undefined;
  const t: Taken = r0.free.length > 0 ? { ring: r0, slot: r0.free.pop()! } : await new Promise<Taken>((resolve) => waiting.push(resolve));
  const start = alignedStart(t.ring, wd); // the ring may have been replaced while waiting
  if (start === null || length > t.ring.slotSize) {
    releaseSlot(t);
    return undefined;
  }
  const at = start + t.slot * t.ring.slotSize;
  return { buf: t.ring.memory.subarray(at, at + length), release: () => releaseSlot(t) };
}

/** Forget what was learnt about a descriptor (its number may be reused for another file). */
export function forgetDirect(directFd: number): void {
  ring?.start.delete(directFd);
}

/**
 * Writes plain (a DirectSlot's buffer) at w.position: whole aligned blocks of each non-zero run
 * directly and asynchronously, a run's unaligned tail through the ordinary descriptor.
 */
export async function writeDirect(plain: Buffer, w: TargetWrite & { directFd: number }): Promise<void> {
  const pending: Promise<void>[] = [];
  for (const [s, e] of runs(plain, w.skipZeros)) {
    const run = plain.subarray(s, e);
    const alignedLen = run.length - (run.length % DIRECT_ALIGN);
    if (alignedLen > 0) pending.push(writeAllAsync(w.directFd, run.subarray(0, alignedLen), w.position + s, w));
    if (alignedLen < run.length) writeAllSync(w.fd, run.subarray(alignedLen), w.position + s + alignedLen, w);
  }
  // Every write settled before the caller frees the buffer, even when one failed.
  const failed = (await Promise.allSettled(pending)).find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}
