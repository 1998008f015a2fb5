/**
 * The local driver's point-in-time copy (TARGET_DISKS) onto block devices: a target that is mounted
 * is refused before the freeze and before any copy, and its file system is left intact; unmounted,
 * the copy goes through. Real loop devices (root only), as an administrator's spare disks would be.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { localSnapshot } from "../src/storage/local.ts";
import type { CbmError } from "../src/util/errors.ts";

const MiB = 1024 * 1024;
const loops = process.getuid?.() === 0 && existsSync("/dev/loop-control") && spawnSync("losetup", ["--version"]).status === 0 && spawnSync("mkfs.ext4", ["-V"]).status === 0;

test("a TARGET_DISKS device that is mounted is refused before the freeze; unmounted, it receives the copy", { skip: !loops && "needs root, loop devices and mkfs.ext4" }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "cbm-local-device-"));
  const source = join(dir, "hdisk18.img");
  const data = randomBytes(10 * MiB);
  await writeFile(source, data);
  await writeFile(join(dir, "spare.img"), Buffer.alloc(10 * MiB));
  const dev = execFileSync("losetup", ["-f", "--show", join(dir, "spare.img")], { encoding: "utf8" }).trim();
  const mnt = join(dir, "mnt");
  await mkdir(mnt);
  const froze = join(dir, "froze");
  const freeze = join(dir, "freeze.sh");
  await writeFile(freeze, `#!/bin/sh\ntouch ${froze}\n`, { mode: 0o755 });
  const opts = { targets: [{ name: "hdisk21", device: dev, size: 10 * MiB }], freeze };
  try {
    execFileSync("mkfs.ext4", ["-q", dev]);
    execFileSync("mount", [dev, mnt]);
    await writeFile(join(mnt, "live.txt"), "live data");
    await assert.rejects(localSnapshot([{ name: "hdisk18", device: source, size: 10 * MiB }], opts), (e: CbmError) => {
      assert.equal(e.code, "CBM_DEVICE_BUSY");
      assert.match(e.message, new RegExp(`block device ${dev} \\(TARGET_DISKS target hdisk21\\) is in use .*nothing was written`));
      return true;
    });
    assert.equal(existsSync(froze), false, "the application was not frozen");
    assert.equal(await readFile(join(mnt, "live.txt"), "utf8"), "live data");
    execFileSync("umount", [mnt]);
    const pit = await localSnapshot([{ name: "hdisk18", device: source, size: 10 * MiB }], opts);
    assert.equal(pit.disks[0].readPath, dev);
    const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    assert.equal(sha((await readFile(dev)).subarray(0, data.length)), sha(data));
    await pit.release();
  } finally {
    spawnSync("umount", [mnt]);
    spawnSync("losetup", ["-d", dev]);
    await rm(dir, { recursive: true, force: true });
  }
});
