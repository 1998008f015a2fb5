/**
 * Storage driver `local` (TYPE=local): Linux block devices or image files.
 * Point in time, in order of preference:
 *  1. TARGET_DISKS: copy each source to a same-size target first (the FlashCopy shape). Regular files
 *     are cloned with a reflink where the filesystem supports it (an instant copy), else copied
 *     sparse-aware; block devices are copied block by block. Then the targets are read.
 *  2. FREEZE_METHOD / THAW_METHOD: run the freeze command, read the sources, run the thaw command.
 *  3. Neither: the sources are read as they are (crash-consistent only), and the method says so.
 */
import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { copyFile, open, stat } from "node:fs/promises";
import { promisify } from "node:util";
import { openDeviceExclusive } from "../util/device.ts";
import { CbmError, validationError } from "../util/errors.ts";
import type { DiskRef, PointInTime } from "./types.ts";

const run = promisify(execFile);
const BLOCK = 4 * 1024 * 1024;

export interface LocalSnapshotOptions {
  targets?: DiskRef[];
  freeze?: string;
  thaw?: string;
  /** Seconds allowed for freeze/thaw commands. */
  commandTimeoutSec?: number;
  /** Told what the operator should know (a disk that grew past its SIZE). */
  onInfo?: (message: string) => void;
}

/** Size of a file or block device, in bytes. */
export async function deviceSize(path: string): Promise<number> {
  const st = await stat(path);
  if (st.isFile()) return st.size;
  const fh = await open(path, "r");
  try {
    // For block devices, the end position is the size (fstat reports 0).
    let lo = 0;
    let hi = 2 ** 50;
    const b = Buffer.alloc(1);
    while (lo < hi) {
      const mid = Math.floor((lo + hi + 1) / 2);
      const { bytesRead } = await fh.read(b, 0, 1, mid - 1);
      if (bytesRead === 1) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  } finally {
    await fh.close();
  }
}

async function runHook(kind: string, cmd: string, timeoutSec: number): Promise<void> {
  try {
    await run(cmd, [], { timeout: timeoutSec * 1000 });
  } catch (e) {
    throw new CbmError("CBM_HOOK_FAILED", `${kind} command ${cmd} failed: ${(e as Error).message.split("\n")[0]}`);
  }
}

/** Copies src to dst (same size), keeping holes for all-zero blocks of regular files. */
export async function copyDisk(src: string, dst: string, size: number): Promise<void> {
  const dstStat = await stat(dst).catch(() => undefined);
  if (dstStat?.isFile()) {
    // Reflink when the filesystem can (instant, a true copy-on-write point in time); else a plain copy.
    await copyFile(src, dst, constants.COPYFILE_FICLONE);
    return;
  }
  // A device target is claimed (O_EXCL): refused while mounted or in use, never written under a file system.
  const w = dstStat?.isBlockDevice() ? await openDeviceExclusive(dst, `TARGET_DISKS target for ${src}`) : await open(dst, "r+");
  const r = await open(src, "r").catch(async (e: unknown) => {
    await w.close();
    throw e;
  });
  try {
    const buf = Buffer.alloc(BLOCK);
    for (let off = 0; off < size; off += BLOCK) {
      const len = Math.min(BLOCK, size - off);
      const { bytesRead } = await r.read(buf, 0, len, off);
      await w.write(buf, 0, bytesRead, off);
    }
    await w.sync();
  } finally {
    await r.close();
    await w.close();
  }
}

/** Opens each disk for reading once, so that a missing or unreadable device fails before any copy or upload. */
export async function checkReadable(disks: DiskRef[]): Promise<void> {
  for (const d of disks) {
    const st = await stat(d.device).catch((e: NodeJS.ErrnoException) => {
      throw new CbmError("CBM_DISK_UNREADABLE", `physical_volume ${d.name}: DEVICE ${d.device} cannot be read (${e.code ?? e.message}).`);
    });
    if (!st.isFile() && !st.isBlockDevice()) {
      throw new CbmError("CBM_DISK_UNREADABLE", `physical_volume ${d.name}: DEVICE ${d.device} is neither a block device nor an image file.`);
    }
    const fh = await open(d.device, "r").catch((e: NodeJS.ErrnoException) => {
      throw new CbmError("CBM_DISK_UNREADABLE", `physical_volume ${d.name}: DEVICE ${d.device} cannot be opened (${e.code ?? e.message}).`);
    });
    await fh.close();
    const actual = await deviceSize(d.device);
    if (d.size > actual) {
      throw validationError(
        "CBM_DISK_SIZE",
        `physical_volume ${d.name}: DEVICE ${d.device} has ${actual} bytes, fewer than its SIZE=${d.size}; correct SIZE (clmgr modify physical_volume ${d.name} SIZE=${actual}) or the device. Nothing was written.`,
      );
    }
  }
}

/**
 * The size to back up: the device's, when SIZE is 0 (the default) or smaller than the device — a
 * disk that grew is backed up whole (with `onInfo` told to update SIZE), never cut silently at SIZE.
 */
async function sourceSize(d: DiskRef, onInfo?: (m: string) => void): Promise<number> {
  const actual = await deviceSize(d.device);
  if (d.size > 0 && actual > d.size) {
    onInfo?.(`Warning: physical_volume ${d.name} has grown to ${actual} bytes (SIZE=${d.size}); backing up all of it. Update SIZE: clmgr modify physical_volume ${d.name} SIZE=${actual}`);
  }
  return Math.max(d.size, actual);
}

/**
 * Refuses targets that are, under any name (symlink, second device node), a source disk or another
 * target: the copy would overwrite a source, or two sources would land on one target.
 */
async function checkDistinct(sources: DiskRef[], targets: DiskRef[]): Promise<void> {
  const seen = new Map<string, string>();
  for (const [role, list] of [["source", sources], ["target", targets]] as const) {
    for (const d of list) {
      const st = await stat(d.device).catch((e: NodeJS.ErrnoException) => {
        throw new CbmError("CBM_DISK_UNREADABLE", `TARGET_DISKS: physical_volume ${d.name}: DEVICE ${d.device} cannot be read (${e.code ?? e.message}).`);
      });
      const id = st.isBlockDevice() ? `rdev:${st.rdev}` : `ino:${st.dev}:${st.ino}`;
      const other = seen.get(id);
      if (other) {
        throw validationError("CBM_BAD_TARGETS", `TARGET_DISKS: ${role} ${d.name} (${d.device}) is the same device as ${other}; each target must be a separate spare disk. Nothing was copied.`);
      }
      seen.set(id, `${role} ${d.name} (${d.device})`);
    }
  }
}

export async function localSnapshot(declared: DiskRef[], opts: LocalSnapshotOptions): Promise<PointInTime> {
  const timeout = opts.commandTimeoutSec ?? 300;
  await checkReadable(declared);
  const sources = await Promise.all(declared.map(async (d) => ({ ...d, size: await sourceSize(d, opts.onInfo) })));
  if (opts.targets && opts.targets.length > 0) {
    if (opts.targets.length !== sources.length) {
      throw validationError(
        "CBM_BAD_TARGETS",
        `TARGET_DISKS has ${opts.targets.length} disks but the volume groups have ${sources.length}; give one same-size target per source disk.`,
      );
    }
    await checkDistinct(sources, opts.targets);
    for (const [i, s] of sources.entries()) {
      const t = opts.targets[i];
      const tSize = await deviceSize(t.device);
      if (tSize !== s.size) {
        throw validationError(
          "CBM_TARGET_SIZE",
          `Target disk ${t.name} (${tSize} bytes) is not the same size as source ${s.name} (${s.size} bytes).`,
        );
      }
      // Before the freeze and the first copy: a target device in use is refused with nothing written.
      if ((await stat(t.device)).isBlockDevice()) await (await openDeviceExclusive(t.device, `TARGET_DISKS target ${t.name}`)).close();
    }
    if (opts.freeze) await runHook("FREEZE_METHOD", opts.freeze, timeout);
    try {
      for (const [i, s] of sources.entries()) await copyDisk(s.device, opts.targets[i].device, s.size);
    } finally {
      if (opts.thaw) await runHook("THAW_METHOD", opts.thaw, timeout);
    }
    return {
      disks: sources.map((s, i) => ({ ...s, readPath: opts.targets![i].device })),
      method: "local copy to target disks",
      release: async () => undefined,
    };
  }
  if (opts.freeze) {
    await runHook("FREEZE_METHOD", opts.freeze, timeout);
    return {
      disks: sources.map((s) => ({ ...s, readPath: s.device })),
      method: "freeze/thaw",
      release: async () => {
        if (opts.thaw) await runHook("THAW_METHOD", opts.thaw, timeout);
      },
    };
  }
  return {
    disks: sources.map((s) => ({ ...s, readPath: s.device })),
    method: "direct read (crash-consistent; set TARGET_DISKS or FREEZE_METHOD for a point in time)",
    release: async () => undefined,
  };
}
