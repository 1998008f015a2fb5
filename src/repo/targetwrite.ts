/**
 * Writing restored plaintext to a target (in a worker thread, synchronously): through an O_DIRECT
 * descriptor when there is one, else the ordinary one; all-zero segments skipped where the target
 * already reads as zeros (a new or grown file: holes).
 *
 * Why O_DIRECT: a restore writes a whole disk once and nothing reads it back soon, so the page cache
 * only costs (on the machines measured, buffered writes of a fresh 2 GiB file took 0.4–4.7 s from run
 * to run, direct ones a steady ~1.5 s) and it would evict the running applications' cache on an HA
 * node. Direct I/O needs buffer addresses, offsets and lengths aligned to the device's logical
 * block; JavaScript cannot see a buffer's address, so the aligned start inside a scratch buffer is
 * found by probing: the first block of the region this call is about to write anyway is read
 * (buffered) into the scratch at each 16-byte step and written back directly until the kernel
 * accepts it (a misaligned direct write fails with EINVAL and writes nothing; direct reads are no
 * test: ext4 serves misaligned reads of holes). Only this call writes that region, so the probe
 * races with nobody. Pieces
 * that cannot be aligned (a disk's last partial block) and descriptors that refuse direct I/O go
 * through the ordinary descriptor.
 */
import { readSync, writeSync } from "node:fs";
import { CbmError, errorMessage } from "../util/errors.ts";
import { isZero } from "./chunk.ts";
import { REPO } from "./codes.ts";

/** Direct-I/O alignment assumed for offsets and lengths: 4096 covers 512-byte and 4K-sector devices. */
export const DIRECT_ALIGN = 4096;
/** Granularity of zero skipping: runs of non-zero segments are written in one call. */
export const ZERO_SEGMENT = 128 * 1024;

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

function writeAll(fd: number, buf: Uint8Array, position: number, w: TargetWrite): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off, position + off);
    } catch (e) {
      throw new CbmError(REPO.io, `writing ${w.target} (${w.context}) at byte offset ${position + off} failed: ${errorMessage(e)}`, "runtime", { cause: e });
    }
  }
}

/** Per-thread aligned scratch: a buffer, and for each direct descriptor the aligned offset found in it (null: none works). */
let scratch = Buffer.alloc(0);
const alignedStart = new Map<number, number | null>();

/**
 * A view of `length` bytes of scratch that is aligned for w.directFd, or undefined when none could
 * be found. w.position must start a region of at least DIRECT_ALIGN bytes that this call owns.
 */
export function alignedScratch(w: TargetWrite, length: number): Buffer | undefined {
  const directFd = w.directFd;
  if (directFd === undefined || length < DIRECT_ALIGN || w.position % DIRECT_ALIGN !== 0) return undefined;
  if (scratch.length < length + DIRECT_ALIGN) {
    scratch = Buffer.allocUnsafeSlow(length + DIRECT_ALIGN);
    alignedStart.clear(); // a new buffer has a new address
  }
  let start = alignedStart.get(directFd);
  if (start === undefined) {
    start = null;
    // malloc aligns to 16 bytes: try each 16-byte step of one alignment window.
    for (let k = 0; k < DIRECT_ALIGN; k += 16) {
      try {
        if (readSync(w.fd, scratch, k, DIRECT_ALIGN, w.position) !== DIRECT_ALIGN) break;
        writeSync(directFd, scratch, k, DIRECT_ALIGN, w.position);
        start = k;
        break;
      } catch (e) {
        if ((e as { code?: string }).code !== "EINVAL") break; // EIO, EBADF…: no direct path
      }
    }
    alignedStart.set(directFd, start);
  }
  return start === null ? undefined : scratch.subarray(start, start + length);
}

/** Forget what was learnt about a descriptor (its number may be reused for another file). */
export function forgetDirect(directFd: number): void {
  alignedStart.delete(directFd);
}

/**
 * Writes plain at w.position: the non-zero runs (or everything, without skipZeros), aligned runs
 * through the direct descriptor when plain lies in aligned scratch memory, the rest buffered.
 */
export function writeTarget(plain: Buffer, w: TargetWrite, directOk: boolean): void {
  let runStart = -1;
  const flush = (end: number) => {
    if (runStart < 0) return;
    const run = plain.subarray(runStart, end);
    const pos = w.position + runStart;
    const alignedLen = directOk && w.directFd !== undefined && pos % DIRECT_ALIGN === 0 ? run.length - (run.length % DIRECT_ALIGN) : 0;
    if (alignedLen > 0) writeAll(w.directFd!, run.subarray(0, alignedLen), pos, w);
    if (alignedLen < run.length) writeAll(w.fd, run.subarray(alignedLen), pos + alignedLen, w);
    runStart = -1;
  };
  for (let off = 0; off < plain.length; off += ZERO_SEGMENT) {
    const end = Math.min(off + ZERO_SEGMENT, plain.length);
    if (w.skipZeros && isZero(plain.subarray(off, end))) flush(off);
    else if (runStart < 0) runStart = off;
  }
  flush(plain.length);
}
