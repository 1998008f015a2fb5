/**
 * The engine end to end on the fs object store, the way the paper's walkthrough uses it: back up VG1
 * (hdisk18, hdisk19) of RG1, change 1 % of the disks, back up incrementally, restore both backups
 * bit for bit, then break things (a flipped byte in a stored chunk, a target too small, a killed
 * backup) and check what the user sees. Real files in a temp dir; no mocks.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createCipheriv, createHash } from "node:crypto";
import { mkdtemp, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { imageDigestOf } from "../src/repo/chunk.ts";
import { ChunkIndex } from "../src/repo/chunkindex.ts";
import { parsePackKey } from "../src/repo/pack.ts";
import { Repository, type BackupSummary, type BackupVgInput } from "../src/repo/index.ts";
import { Lease, LEASE_TTL_MS, LEASES_PREFIX } from "../src/repo/lease.ts";
import { CbmError } from "../src/util/errors.ts";

const MiB = 1024 * 1024;
const DISK_MIB = 256;
const meta = { cluster: "r1r2m2p57_cluster", rg: "RG1", node: "node1", consistencyGroup: "sample_consistency_group" };

/** Deterministic pseudo-random bytes: AES-256-CTR keystream of a seed (fast, reproducible). */
function prng(seed: string, n: number): Buffer {
  const key = createHash("sha256").update(seed).digest();
  return createCipheriv("aes-256-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

/**
 * 1 MiB block i of a disk: in each run of 16 blocks, 6 random, 5 compressible text, 5 zero — so
 * there are incompressible, compressible and all-zero 4 MiB chunks.
 */
function block(disk: string, i: number): Buffer {
  const k = i % 16;
  if (k < 6) return prng(`${disk}/${i}`, MiB);
  if (k < 11) return Buffer.alloc(MiB, `${disk} block ${i}: log line with some repeated text\n`);
  return Buffer.alloc(MiB);
}

async function writeDisk(path: string, disk: string): Promise<void> {
  const fh = await open(path, "w");
  for (let i = 0; i < DISK_MIB; i++) await fh.write(block(disk, i), 0, MiB, i * MiB);
  await fh.close();
}

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  const fh = await open(path, "r");
  const buf = Buffer.allocUnsafe(8 * MiB);
  for (let pos = 0; ; ) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    h.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  await fh.close();
  return h.digest("hex");
}

function cbmError(kind: string, code: string, ...res: RegExp[]) {
  return (e: unknown) => {
    assert.ok(e instanceof CbmError, `expected CbmError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.kind, kind, e.message);
    for (const re of res) assert.match(e.message, re);
    return true;
  };
}

describe("repository engine on the fs store (VG1 = hdisk18 + hdisk19, 256 MiB each)", () => {
  let dir: string;
  let store: FsObjectStore;
  let repo: Repository;
  let vgs: BackupVgInput[];
  let full: BackupSummary;
  let incr: BackupSummary;
  const original: Record<string, string> = {};
  const changed: Record<string, string> = {};

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "cbm-repo-engine-"));
    store = new FsObjectStore(join(dir, "repo"));
    repo = await Repository.init(store, { encryption: { passphrase: "s3cret pass" }, scrypt: { N: 16384, r: 8, p: 1 } });
    vgs = [
      {
        name: "VG1",
        disks: [
          { name: "hdisk18", uuid: "3321360050764008101D3F800000000005F604214503", pvid: "00fab22e1277d1bc", path: join(dir, "hdisk18.img") },
          { name: "hdisk19", uuid: "3321360050764008101D3F800000000005F704214503", pvid: "00fab22e1277d1f7", path: join(dir, "hdisk19.img") },
        ],
      },
    ];
    for (const d of vgs[0].disks) {
      await writeDisk(d.path, d.name);
      original[d.name] = await sha256File(d.path);
    }
  });
  after(async () => {
    await repo?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("full backup: every chunk stored once, zero chunks skipped, compressible data compressed", async () => {
    const seen: number[] = [];
    full = await repo.backup({ type: "full", meta: { ...meta, time: new Date("2020-11-23T05:35:00.315Z") }, vgs, compression: true, onProgress: (p) => seen.push(p.bytesRead) });
    assert.equal(full.bytesRead, 2 * DISK_MIB * MiB);
    assert.equal(full.chunksTotal, 2 * (DISK_MIB / 4));
    assert.equal(full.chunksZero, 2 * (DISK_MIB / 16)); // blocks 12..15 of every 16
    assert.equal(full.chunksNew, full.chunksTotal - full.chunksZero);
    assert.ok(full.bytesStored < full.bytesRead * 0.45, `stored ${full.bytesStored} of ${full.bytesRead}`);
    assert.deepEqual(full.fileNames, [
      "r1r2m2p57_cluster_RG1_VG1_hdisk18.2020-11-23_05:35:00.315000.img",
      "r1r2m2p57_cluster_RG1_VG1_hdisk19.2020-11-23_05:35:00.315000.img",
    ]);
    // The manifest's image digest: SHA-256 over the chunks' BLAKE3 digests (docs/format.md §6).
    assert.equal(full.disks[0].sha256, imageDigestOf(await readFile(vgs[0].disks[0].path), 4 * MiB, "blake3"));
    assert.equal(seen.at(-1), full.bytesRead);
  });

  it("full backup restores bit for bit (restoreVg, new files)", async () => {
    const targets = { hdisk18: join(dir, "r18.img"), hdisk19: join(dir, "r19.img") };
    const s = await repo.restoreVg(full.id, "VG1", targets);
    assert.equal(s.bytesWritten, 2 * DISK_MIB * MiB);
    assert.equal(await sha256File(targets.hdisk18), original.hdisk18);
    assert.equal(await sha256File(targets.hdisk19), original.hdisk19);
  });

  it("incremental after 1 % of the 1 MiB blocks changed stores ≤ 3 % of the image", async () => {
    const blocks = 2 * DISK_MIB;
    const n = Math.ceil(blocks / 100);
    for (let j = 0; j < n; j++) {
      const b = (j * 97 + 5) % blocks; // spread over both disks
      const d = vgs[0].disks[b < DISK_MIB ? 0 : 1];
      const fh = await open(d.path, "r+");
      await fh.write(prng(`change ${j}`, MiB), 0, MiB, (b % DISK_MIB) * MiB);
      await fh.close();
    }
    for (const d of vgs[0].disks) changed[d.name] = await sha256File(d.path);
    incr = await repo.backup({ type: "incremental", meta: { ...meta, time: new Date("2020-11-23T11:35:00.000Z") }, vgs, compression: true });
    assert.equal(incr.parent, full.id);
    assert.equal(incr.indexSource, "parent");
    assert.ok(incr.chunksNew >= 1 && incr.chunksNew <= n, `chunksNew ${incr.chunksNew}`);
    assert.ok(incr.bytesStored <= 0.03 * incr.bytesRead, `stored ${incr.bytesStored} bytes of ${incr.bytesRead}`);
  });

  it("both backups restore bit for bit; an existing larger-or-equal target file is overwritten in place", async () => {
    const t = join(dir, "r18.img"); // holds the full backup's image now
    await repo.restoreDisk(incr.id, "hdisk18", t);
    assert.equal(await sha256File(t), changed.hdisk18);
    await repo.restoreDisk(full.id, "hdisk18", t);
    assert.equal(await sha256File(t), original.hdisk18);
    // by the paper's file name, into an existing file of garbage (zero chunks must be written)
    const g = join(dir, "garbage.img");
    await writeFile(g, prng("garbage", DISK_MIB * MiB));
    await repo.restoreDisk(incr.disks[1].fileName, incr.disks[1].fileName, g);
    assert.equal(await sha256File(g), changed.hdisk19);
  });

  it("listBackups and findBackup by id, file name, latest and time; before the first backup is notfound", async () => {
    const list = await repo.listBackups({ rg: "RG1" });
    assert.deepEqual(list.map((b) => [b.id, b.type]), [[full.id, "full"], [incr.id, "incremental"]]);
    assert.equal(list[0].vgs[0].disks[1].fileName, full.fileNames[1]);
    assert.equal((await repo.findBackup(full.id)).id, full.id);
    assert.equal((await repo.findBackup(incr.fileNames[0])).id, incr.id);
    assert.equal((await repo.findBackup("latest")).id, incr.id);
    assert.equal((await repo.findBackup("latest", { rg: "RG1" })).id, incr.id);
    assert.equal((await repo.findBackup("2020-11-23_08:00:00.000000")).id, full.id);
    assert.equal((await repo.findBackup(new Date("2020-11-24T00:00:00Z"))).id, incr.id);
    await assert.rejects(repo.findBackup("2020-11-23T05:35:00.314999Z"), cbmError("notfound", "CBM_BACKUP_NOT_FOUND", /no backup at or before 2020-11-23T05:35:00.314999Z/, new RegExp(`first backup is ${full.id}`)));
    await assert.rejects(repo.findBackup("latest", { rg: "RG2" }), cbmError("notfound", "CBM_BACKUP_NOT_FOUND", /resource group RG2/));
    await assert.rejects(repo.findBackup("c_RG1_VG1_hdisk1.2020-11-23_05:35:00.315000.img"), cbmError("notfound", "CBM_BACKUP_NOT_FOUND"));
    await assert.rejects(repo.restoreDisk(full.id, "hdisk99", join(dir, "x.img")), cbmError("notfound", "CBM_DISK_NOT_FOUND", /VG1\/hdisk18/));
  });

  it("a target too small is refused before anything is written", async () => {
    const ok = join(dir, "ok.img");
    const small = join(dir, "small.img");
    await writeFile(ok, prng("ok", DISK_MIB * MiB));
    await writeFile(small, prng("small", 10 * MiB));
    const before = [await sha256File(ok), await sha256File(small)];
    await assert.rejects(
      repo.restoreVg(full.id, "VG1", { hdisk18: ok, hdisk19: small }, { growFiles: false }),
      cbmError("validation", "CBM_RESTORE_TARGET_TOO_SMALL", /small\.img has 10485760 bytes, smaller than disk hdisk19/, /nothing was written/),
    );
    assert.deepEqual([await sha256File(ok), await sha256File(small)], before);
    assert.equal((await stat(small)).size, 10 * MiB);
  });

  it("a flipped byte in one stored chunk: restore names disk and offset, verify reports every user", async () => {
    const disk = (await repo.findBackup(full.id)).vgs[0].disks[1]; // hdisk19
    const i = disk.chunks.findIndex((c, k) => c !== null && k > 3);
    const id = disk.chunks[i]!;
    // The chunk sits in a pack with up to two others (format §5.1): flip a byte of its part.
    const loc = (await ChunkIndex.fromListing(store)).location(id)!;
    assert.match(loc.key, /^packs\//);
    const file = join(dir, "repo", ...loc.key.split("/"));
    const original = await readFile(file);
    const bytes = Buffer.from(original);
    bytes[loc.offset + 100] ^= 0x01;
    await writeFile(file, bytes);
    const offset = i * disk.chunkSize;
    await assert.rejects(
      repo.restoreDisk(full.id, "hdisk19", join(dir, "broken.img")),
      cbmError("integrity", "CBM_REPO_CORRUPT", /disk hdisk19 of VG1/, new RegExp(`byte offset ${offset}\\b`)),
    );
    const report = await repo.verify("all");
    assert.equal(report.ok, false);
    assert.equal(report.corrupt, 1);
    assert.equal(report.missing, 0);
    assert.equal(report.bad[0].id, id);
    assert.ok(report.bad[0].usedBy.some((u) => u.backupId === full.id && u.disk === "hdisk19" && u.offset === offset));
    assert.ok(report.bad[0].usedBy.some((u) => u.backupId === incr.id), "the incremental shares the chunk");
    // A full backup stores again a chunk its listing lacks (and one verify marked damaged):
    await rm(file);
    const lost = new Set(parsePackKey(loc.key)!.map((e) => e.id));
    const usedBy = async (bid: string, disks?: string[]) => {
      const m = await repo.findBackup(bid);
      return new Set(m.vgs.flatMap((vg) => vg.disks.filter((d) => !disks || disks.includes(d.name)).flatMap((d) => d.chunks.filter((c): c is string => c !== null && lost.has(c)))));
    };
    const v = await repo.verify(incr.id);
    assert.equal(v.missing, (await usedBy(incr.id)).size);
    assert.ok(v.missing >= 1);
    const again = await repo.backup({ type: "full", meta, vgs, compression: true });
    assert.equal(again.chunksNew, (await usedBy(again.id)).size, "the full stores again exactly the lost chunks it needs");
    assert.ok(again.chunksNew >= 1);
    assert.equal((await repo.verify(again.id)).ok, true);
    // The pack's other chunks may belong to the older backup only: put it back for the tests below.
    await writeFile(file, original);
    assert.equal((await repo.verify("all")).ok, true);
  });

  it("an aborted backup writes no manifest; the next backup succeeds", async () => {
    const ac = new AbortController();
    const before = (await repo.listBackups()).length;
    await assert.rejects(
      repo.backup({ type: "full", meta, vgs, compression: true, signal: ac.signal, onProgress: (p) => p.chunksTotal >= 5 && ac.abort() }),
      cbmError("runtime", "CBM_ABORTED"),
    );
    assert.equal((await repo.listBackups()).length, before);
  });

  it("a lease is live while its renewals succeed; once it would have lapsed, no manifest may be written; release removes it", async () => {
    const lease = await Lease.take(store, "20260101T000000.000000Z-0000lease");
    assert.ok(await store.head(`${LEASES_PREFIX}20260101T000000.000000Z-0000lease`));
    lease.assertLive();
    assert.throws(() => lease.assertLive(Date.now() + LEASE_TTL_MS), cbmError("runtime", "CBM_LEASE_LAPSED"));
    await lease.release();
    assert.equal(await store.head(`${LEASES_PREFIX}20260101T000000.000000Z-0000lease`), undefined);
  });

  it("a backup killed with SIGKILL leaves earlier backups restorable and the next one succeeds", async () => {
    const script = join(dir, "killme.mts"); // .mts: ESM outside the project's package scope
    const src = (p: string) => JSON.stringify(fileURLToPath(new URL(p, import.meta.url)));
    await writeFile(
      script,
      `import { FsObjectStore } from ${src("../src/objectstore/fs.ts")};
       import { Repository } from ${src("../src/repo/index.ts")};
       const repo = await Repository.open(new FsObjectStore(${JSON.stringify(join(dir, "repo"))}), { passphrase: "s3cret pass" });
       const vgs = [{ name: "VG1", disks: [{ name: "hdisk18", path: ${JSON.stringify(join(dir, "fresh.img"))} }] }];
       await repo.backup({ type: "full", meta: { cluster: "c", rg: "RG1", node: "n" }, vgs, compression: true,
         onProgress: (p) => { if (p.chunksNew === 3) process.stdout.write("uploading\\n"); } });
       process.stdout.write("finished\\n");`,
    );
    await writeFile(join(dir, "fresh.img"), prng("fresh", 128 * MiB));
    const before = (await repo.listBackups()).map((b) => b.id);
    const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"], cwd: fileURLToPath(new URL("..", import.meta.url)) });
    let out = "";
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("uploading")) child.kill("SIGKILL");
    });
    assert.equal(await exited, "SIGKILL", `child output: ${out}`);
    assert.ok(!out.includes("finished"));
    assert.deepEqual((await repo.listBackups()).map((b) => b.id), before, "a killed backup has no manifest");
    const t = join(dir, "after-kill.img");
    await repo.restoreDisk(incr.id, "hdisk18", t);
    assert.equal(await sha256File(t), changed.hdisk18);
    const next = await repo.backup({ type: "incremental", meta, vgs, compression: true });
    assert.equal(next.chunksNew, 0);
  });
});
