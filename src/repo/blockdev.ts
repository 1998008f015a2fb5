/**
 * Sizes and positional I/O for disk images that are regular files or block devices.
 *
 * Node has no BLKGETSIZE64 ioctl and no lseek(SEEK_END), and fstat reports size 0 for block
 * devices, so a block device's size comes from sysfs: /sys/dev/block/<major>:<minor>/size counts
 * 512-byte sectors whatever the device's logical block size.
 */
import type { Stats } from "node:fs";
import * as fsp from "node:fs/promises";
import { CbmError, errorMessage } from "../util/errors.ts";
import { REPO } from "./codes.ts";

export async function blockDeviceSize(st: Stats): Promise<number | undefined> {
  // glibc's gnu_dev_major/minor; rdev may exceed 32 bits, so divide instead of shifting.
  const dev = st.rdev;
  const major = (Math.floor(dev / 2 ** 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | (Math.floor(dev / 2 ** 12) & ~0xff);
  try {
    const sectors = (await fsp.readFile(`/sys/dev/block/${major}:${minor}/size`, "utf8")).trim();
    return /^\d+$/.test(sectors) ? Number(sectors) * 512 : undefined;
  } catch {
    return undefined;
  }
}

/** Size of a regular file or block device; undefined when it cannot be told. */
export async function deviceSize(st: Stats): Promise<number | undefined> {
  if (st.isFile()) return st.size;
  if (st.isBlockDevice()) return blockDeviceSize(st);
  return undefined;
}

/** Reads exactly buf.length bytes at position, or fails naming the disk (a short source is an error). */
export async function readFully(fh: fsp.FileHandle, buf: Buffer, position: number, what: string): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    let n: number;
    try {
      ({ bytesRead: n } = await fh.read(buf, off, buf.length - off, position + off));
    } catch (e) {
      throw new CbmError(REPO.io, `reading ${what} at byte offset ${position + off} failed: ${errorMessage(e)}`, "runtime", { cause: e });
    }
    if (n === 0) {
      throw new CbmError(REPO.io, `${what} ended at byte offset ${position + off}, before the ${position + buf.length} bytes its size promises`, "runtime");
    }
    off += n;
  }
}

export async function writeFully(fh: fsp.FileHandle, buf: Uint8Array, position: number, what: string): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    try {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off);
      off += bytesWritten;
    } catch (e) {
      throw new CbmError(REPO.io, `writing ${what} at byte offset ${position + off} failed: ${errorMessage(e)}`, "runtime", { cause: e });
    }
  }
}
