/**
 * Restore targets (src/repo/targetwrite.ts): direct I/O where the file system takes it, buffered
 * where it does not (tmpfs) and for a disk's last partial block; zero segments left as holes in a
 * new file and written over old contents in an existing one. Every case must come back bit for bit.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createCipheriv, createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { Repository, type BackupSummary } from "../src/repo/index.ts";
import { checkTargets } from "../src/repo/restore.ts";
import type { CbmError } from "../src/util/errors.ts";
import { flipChunkByte, storedChunkIds } from "./helpers/chunks.ts";

const MiB = 1024 * 1024;
/** 9 MiB + 1000 bytes: two whole 4 MiB chunks and a last one that ends off any block boundary. */
const SIZE = 9 * MiB + 1000;

function prng(seed: string, n: number): Buffer {
  const key = createHash("sha256").update(seed).digest();
  return createCipheriv("aes-256-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** Random data with zero stretches inside chunks: MiB 1, 2 and 6 are zero, and 300 KiB inside MiB 4. */
function image(): Buffer {
  const img = prng("restore-target", SIZE);
  for (const m of [1, 2, 6]) img.fill(0, m * MiB, (m + 1) * MiB);
  img.fill(0, 4 * MiB + 100 * 1024, 4 * MiB + 400 * 1024);
  return img;
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("restore targets: direct and buffered writes, holes, a partial last block", () => {
  let dir: string;
  let repo: Repository;
  let backup: BackupSummary;
  let img: Buffer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "cbm-restore-target-"));
    img = image();
    await writeFile(join(dir, "hdisk1.img"), img);
    repo = await Repository.init(new FsObjectStore(join(dir, "repo")), { encryption: { passphrase: "pw" }, scrypt: { N: 1024, r: 8, p: 1 } });
    backup = await repo.backup({
      type: "full",
      meta: { cluster: "c1", rg: "RG1", node: "n1" },
      vgs: [{ name: "VG1", disks: [{ name: "hdisk1", path: join(dir, "hdisk1.img") }] }],
      compression: true,
    });
  });
  after(async () => {
    await repo?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("a new file comes back bit for bit, its zero stretches left as holes", async () => {
    const out = join(dir, "new.img");
    await repo.restoreDisk(backup.id, "hdisk1", out);
    const got = await readFile(out);
    assert.equal(got.length, SIZE);
    assert.equal(sha(got), sha(img));
    // 3 MiB + 256 KiB (the 128 KiB segments wholly inside the 300 KiB stretch) were never written.
    const st = await stat(out);
    assert.ok(st.blocks * 512 <= SIZE - 3 * MiB, `allocated ${st.blocks * 512} bytes of ${SIZE}`);
  });

  it("two restores onto one file: the second is refused before it writes, the first restores bit for bit", async () => {
    const out = join(dir, "twice.img");
    await writeFile(out, Buffer.alloc(SIZE, 0x11));
    const results = await Promise.allSettled([repo.restoreDisk(backup.id, "hdisk1", out), repo.restoreDisk(backup.id, "hdisk1", out)]);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    assert.equal(refused.length, 1, JSON.stringify(results.map((r) => r.status)));
    assert.equal((refused[0].reason as CbmError).code, "CBM_TARGET_BUSY");
    assert.match((refused[0].reason as Error).message, /twice\.img for disk hdisk1 is being written by another restore .*Nothing was written/);
    assert.equal(sha(await readFile(out)), sha(img));
    await assert.rejects(stat(`${out}.cbm-restore.lock`), "the claim is given back");
    await repo.restoreDisk(backup.id, "hdisk1", out); // and the file can be restored again
  });

  it("an existing file full of old data has every byte replaced, zeros included", async () => {
    const out = join(dir, "old.img");
    await writeFile(out, Buffer.alloc(SIZE, 0xa5));
    await repo.restoreDisk(backup.id, "hdisk1", out);
    assert.equal(sha(await readFile(out)), sha(img));
  });


  // A second device node of the same block device (containers, chroots) is the same target. Only
  // checked, never written: checkTargets reads nothing but metadata.
  const blockDev = existsSync("/sys/block")
    ? readdirSync("/sys/block")
        .filter((d) => Number(readFileSync(`/sys/block/${d}/size`, "utf8")) * 512 > 2 * SIZE)
        .map((d) => `/dev/${d}`)
        .find((p) => existsSync(p) && statSync(p).isBlockDevice())
    : undefined;
  it("two device nodes of one block device are refused as two targets", { skip: (!blockDev || process.getuid?.() !== 0) && "needs root and a block device" }, async () => {
    const st = statSync(blockDev!);
    const alias = join(dir, "alias-node");
    const mk = (await import("node:child_process")).spawnSync("mknod", [alias, "b", String(Math.floor(st.rdev / 256) & 0xfff), String(st.rdev & 0xff)]);
    assert.equal(mk.status, 0, String(mk.stderr));
    const m = await repo.findBackup(backup.id);
    const disk = m.vgs[0].disks[0];
    await assert.rejects(
      checkTargets([{ vg: "VG1", disk, target: blockDev! }, { vg: "VG1", disk: { ...disk, name: "hdisk2" }, target: alias }], false),
      /disks hdisk1 and hdisk2 would both be restored to/,
    );
  });

  it("a restore refused on its only chunk leaves an existing target as it was, and says so", async () => {
    // One 4 MiB chunk of random data, flipped in the store: the check fails before any write.
    const sub = join(dir, "one-chunk");
    const disk = join(dir, "one.img");
    await writeFile(disk, prng("one chunk", 4 * MiB));
    const one = await Repository.init(new FsObjectStore(sub), { encryption: { passphrase: "pw" }, scrypt: { N: 1024, r: 8, p: 1 } });
    try {
      const b = await one.backup({ type: "full", meta: { cluster: "c1", rg: "RG1", node: "n1" }, vgs: [{ name: "VG1", disks: [{ name: "hdisk1", path: disk }] }], compression: true });
      const store = new FsObjectStore(sub);
      assert.equal((await storedChunkIds(store)).size, 1);
      await flipChunkByte(store, (await one.findBackup(b.id)).vgs[0].disks[0].chunks[0]!);
      const out = join(dir, "keep.img");
      const old = Buffer.alloc(4 * MiB, 0x5a);
      await writeFile(out, old);
      await assert.rejects(one.restoreDisk(b.id, "hdisk1", out), (e: Error) => {
        assert.match(e.message, /disk hdisk1 of VG1 at byte offset 0 \(chunk 0\) failed: chunk [0-9a-f]+ is corrupt/);
        assert.doesNotMatch(e.message, /partly overwritten/);
        return true;
      });
      assert.ok((await readFile(out)).equals(old), "the target holds what it held");
    } finally {
      await one.close();
    }
  });

  // A loop device with a mounted file system, as an administrator might name the wrong disk.
  const loops = process.getuid?.() === 0 && existsSync("/dev/loop-control") && spawnSync("losetup", ["--version"]).status === 0 && spawnSync("mkfs.ext4", ["-V"]).status === 0;
  it("a mounted device is refused with nothing written; unmounted, it is restored", { skip: !loops && "needs root, loop devices and mkfs.ext4" }, async () => {
    const file = join(dir, "loop.img");
    await writeFile(file, Buffer.alloc(10 * MiB));
    const dev = execFileSync("losetup", ["-f", "--show", file], { encoding: "utf8" }).trim();
    const mnt = join(dir, "mnt");
    await mkdir(mnt);
    try {
      execFileSync("mkfs.ext4", ["-q", dev]);
      execFileSync("mount", [dev, mnt]);
      await writeFile(join(mnt, "live.txt"), "live data");
      await assert.rejects(repo.restoreDisk(backup.id, "hdisk1", dev), (e: CbmError) => {
        assert.equal(e.code, "CBM_DEVICE_BUSY");
        assert.match(e.message, new RegExp(`block device ${dev} \\(restore target for disk hdisk1\\) is in use .*unmount it .*nothing was written`));
        return true;
      });
      assert.equal(await readFile(join(mnt, "live.txt"), "utf8"), "live data", "the mounted file system is intact");
      execFileSync("umount", [mnt]);
      await repo.restoreDisk(backup.id, "hdisk1", dev);
      assert.equal(sha((await readFile(dev)).subarray(0, SIZE)), sha(img));
    } finally {
      spawnSync("umount", [mnt]);
      spawnSync("losetup", ["-d", dev]);
    }
  });

  it("tmpfs, which refuses direct I/O, gets the same bytes through ordinary writes", { skip: !existsSync("/dev/shm") && "no /dev/shm" }, async () => {
    const shm = await mkdtemp("/dev/shm/cbm-restore-target-");
    try {
      const out = join(shm, "new.img");
      await repo.restoreDisk(backup.id, "hdisk1", out);
      assert.equal(sha(await readFile(out)), sha(img));
    } finally {
      await rm(shm, { recursive: true, force: true });
    }
  });
});
