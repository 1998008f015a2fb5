/**
 * Exclusive opens of block devices we are about to overwrite. Linux refuses O_EXCL on a block device
 * with EBUSY while it is mounted, part of an active LVM, device-mapper or MD set, or claimed by
 * another program: a restore or a point-in-time copy onto such a device would corrupt a live file
 * system. Held open, the claim also keeps the device from being mounted until the write is done.
 */
import { constants } from "node:fs";
import * as fsp from "node:fs/promises";
import { CbmError } from "./errors.ts";

export const DEVICE_BUSY = "CBM_DEVICE_BUSY";

/** Opens block device `path` read-write and exclusively; `what` names its role in the error. */
export async function openDeviceExclusive(path: string, what: string): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(path, constants.O_RDWR | constants.O_EXCL);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EBUSY") throw e;
    throw new CbmError(
      DEVICE_BUSY,
      `block device ${path} (${what}) is in use (mounted, part of an active volume group or device-mapper/MD set, or held by another program): ` +
        `unmount it or vary off its volume group first; nothing was written`,
      "validation",
      { cause: e },
    );
  }
}
