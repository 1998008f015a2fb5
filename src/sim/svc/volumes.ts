/**
 * Volume files: each vdisk is a sparse file <stateDir>/volumes/<vdisk_UID>.img of exactly its
 * capacity. Block-level copy helpers for FlashCopy (point in time) and remote copy.
 */
import { constants as fsc, promises as fsp } from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";

export const BLOCK = 1024 * 1024;

export const volumesDir = (stateDir: string): string => path.join(stateDir, "volumes");
export const volumePath = (stateDir: string, uid: string): string => path.join(volumesDir(stateDir), `${uid}.img`);

export async function createVolumeFile(file: string, size: number): Promise<void> {
  const fh = await fsp.open(file, "wx", 0o644);
  try {
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}

export async function removeVolumeFile(file: string): Promise<void> {
  await fsp.rm(file, { force: true });
}

function isZero(b: Buffer, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[i] !== 0) return false;
  return true;
}

/** Directories whose filesystem refused a reflink clone (not tried again). */
const noReflink = new Set<string>();

/**
 * Make `dst` a byte-for-byte copy of `src` (same size). Tries a reflink clone first (instant, and
 * shares blocks on btrfs/XFS); otherwise copies 1 MiB blocks, leaving all-zero blocks as holes.
 * With a reflink `dst` is replaced by a new file (rename); with a block copy it keeps its inode.
 */
export async function copyVolume(src: string, dst: string, size: number): Promise<"reflink" | "copy"> {
  const dir = path.dirname(dst);
  if (!noReflink.has(dir)) {
    // libuv deletes the destination when a forced clone fails, so clone into a temporary file
    const tmp = `${dst}.clone-${process.pid}`;
    try {
      await fsp.copyFile(src, tmp, fsc.COPYFILE_FICLONE_FORCE);
      await fsp.rename(tmp, dst);
      return "reflink";
    } catch {
      noReflink.add(dir);
      await fsp.rm(tmp, { force: true });
    }
  }
  const sh = await fsp.open(src, "r");
  const dh = await fsp.open(dst, "r+");
  try {
    await dh.truncate(0);
    await dh.truncate(size);
    const buf = Buffer.alloc(BLOCK);
    for (let off = 0; off < size; off += BLOCK) {
      const { bytesRead } = await sh.read(buf, 0, Math.min(BLOCK, size - off), off);
      if (bytesRead === 0) break;
      if (!isZero(buf, bytesRead)) await dh.write(buf, 0, bytesRead, off);
    }
    await dh.sync();
  } finally {
    await sh.close();
    await dh.close();
  }
  return "copy";
}

export const hashBlock = (b: Buffer): string => createHash("sha256").update(b).digest("base64");

/** Modification time in ns as a decimal string ("" if the file is missing). */
export async function mtimeNs(file: string): Promise<string> {
  try {
    return String((await fsp.stat(file, { bigint: true })).mtimeNs);
  } catch {
    return "";
  }
}
