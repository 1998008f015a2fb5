/**
 * Host-side I/O on simulated volumes, for tests and the lab: a "host" reads and writes the volume
 * file <stateDir>/volumes/<vdisk_UID>.img directly. Writes go through the FlashCopy write fence (see
 * fence.ts), so a FlashCopy start is a true point in time even while a host keeps writing.
 */
import { promises as fsp } from "node:fs";
import { withWriterSlot } from "./fence.ts";
import { volumePath, volumesDir } from "./volumes.ts";

export { volumePath } from "./volumes.ts";

export interface HostIoOptions {
  /** longest wait for a fence to be lowered (default 60 s) */
  timeoutMs?: number;
  /** fsync after the write (default false) */
  sync?: boolean;
}

/** Write `data` at `offset` of the volume with vdisk_UID `uid`, as a host would. */
export async function writeVolume(
  stateDir: string,
  uid: string,
  offset: number,
  data: Uint8Array,
  opts: HostIoOptions = {},
): Promise<void> {
  const file = volumePath(stateDir, uid);
  await withWriterSlot(volumesDir(stateDir), uid, opts.timeoutMs ?? 60_000, async () => {
    const fh = await fsp.open(file, "r+");
    try {
      const { size } = await fh.stat();
      if (offset < 0 || offset + data.length > size) {
        throw new RangeError(`write of ${data.length} bytes at ${offset} is outside volume ${uid} (${size} bytes)`);
      }
      await fh.write(data, 0, data.length, offset);
      if (opts.sync) await fh.sync();
    } finally {
      await fh.close();
    }
  });
}

/** Read `length` bytes at `offset` of the volume with vdisk_UID `uid`. */
export async function readVolume(stateDir: string, uid: string, offset: number, length: number): Promise<Buffer> {
  const fh = await fsp.open(volumePath(stateDir, uid), "r");
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
