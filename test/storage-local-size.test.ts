/**
 * The local driver and a disk whose size moved since its physical_volume was defined: one that
 * shrank below SIZE is refused before anything is written; one that grew is backed up whole, with
 * a warning to update SIZE — never cut at SIZE without a word.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { checkReadable, localSnapshot } from "../src/storage/local.ts";
import type { CbmError } from "../src/util/errors.ts";

test("a disk that shrank below SIZE is refused; one that grew is read whole, with a warning", async () => {
  const dir = await mkdtemp(join(tmpdir(), "cbm-local-size-"));
  try {
    const disk = join(dir, "hdisk1.img");
    await writeFile(disk, Buffer.alloc(3_000_000, 7));
    await assert.rejects(checkReadable([{ name: "hdisk1", device: disk, size: 5_242_881 }]), (e: CbmError) => {
      assert.equal(e.code, "CBM_DISK_SIZE");
      assert.match(e.message, /physical_volume hdisk1: DEVICE .*hdisk1\.img has 3000000 bytes, fewer than its SIZE=5242881; correct SIZE \(clmgr modify physical_volume hdisk1 SIZE=3000000\)/);
      return true;
    });
    const told: string[] = [];
    const pit = await localSnapshot([{ name: "hdisk1", device: disk, size: 1_000_000 }], { onInfo: (m) => told.push(m) });
    assert.equal(pit.disks[0].size, 3_000_000, "the whole disk is read");
    assert.match(told.join("\n"), /physical_volume hdisk1 has grown to 3000000 bytes \(SIZE=1000000\); backing up all of it\. Update SIZE: clmgr modify physical_volume hdisk1 SIZE=3000000/);
    await pit.release();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
