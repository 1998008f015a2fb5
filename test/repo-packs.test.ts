/**
 * Packs (docs/format.md §5.1, §13) on the fs store: what a backup writes, what survives a pack cut
 * short, what prune does with partly used packs, a read that finds its pack repacked away, and a
 * version 1 repository (one object per chunk) that stays version 1.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, truncate, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { Repository, prune, type Manifest } from "../src/repo/index.ts";
import { ChunkIndex, ChunkReader } from "../src/repo/chunkindex.ts";
import { packKey, parsePackKey } from "../src/repo/pack.ts";
import { makeDisk, mutateDisk, sha256File } from "./helpers/disks.ts";
import { flipChunkByte, storedChunkIds } from "./helpers/chunks.ts";

const meta = (day: number) => ({ cluster: "c1", rg: "RG1", node: "n1", time: new Date(Date.UTC(2026, 0, 1 + day)) });
const refsOf = (ms: Manifest[]) => new Set(ms.flatMap((m) => m.vgs.flatMap((vg) => vg.disks.flatMap((d) => d.chunks.filter((c): c is string => c !== null)))));

async function keysUnder(store: FsObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  await store.list(prefix, (i) => void keys.push(i.key));
  return keys.sort();
}

async function withRepo(version: 1 | 2 | undefined, fn: (dir: string, store: FsObjectStore, repo: Repository) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "cbm-packs-"));
  const store = new FsObjectStore(join(dir, "repo"));
  const repo = await Repository.init(store, { encryption: { keyBytes: randomBytes(32) }, chunkSize: 1024 * 1024, ...(version ? { version } : {}) });
  try {
    await fn(dir, store, repo);
  } finally {
    await repo.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe("packs", () => {
  test("a backup stores its chunks three to a pack, and the listing alone says where each one is", async () => {
    await withRepo(undefined, async (dir, store, repo) => {
      assert.equal(repo.config.version, 2);
      const disk = join(dir, "hdisk1.img");
      await makeDisk(disk, 24, 5);
      const b = await repo.backup({ type: "full", meta: meta(0), vgs: [{ name: "VG1", disks: [{ name: "hdisk1", path: disk }] }], compression: true });
      assert.deepEqual(await keysUnder(store, "chunks/"), [], "no chunk objects in a version 2 repository");
      const packs = await keysUnder(store, "packs/");
      const perPack = packs.map((k) => parsePackKey(k)!.length);
      assert.equal(perPack.reduce((s, n) => s + n, 0), b.chunksNew);
      assert.ok(perPack.filter((n) => n === 3).length >= perPack.length - 1, `at most one pack of fewer than three: ${perPack.join(",")}`);
      assert.deepEqual(await storedChunkIds(store), refsOf([await repo.findBackup(b.id)]));
      const out = join(dir, "out.img");
      await repo.restoreDisk(b.id, "hdisk1", out);
      assert.equal(await sha256File(out), await sha256File(disk));
    });
  });

  test("a pack cut short holds nothing: the next full stores its chunks again, and prune removes it", async () => {
    await withRepo(undefined, async (dir, store, repo) => {
      const disk = join(dir, "hdisk1.img");
      await makeDisk(disk, 16, 6);
      const vgs = [{ name: "VG1", disks: [{ name: "hdisk1", path: disk }] }];
      await repo.backup({ type: "full", meta: meta(0), vgs, compression: true });
      // What s3rver leaves when a client dies mid-PUT: the object under its final name, short.
      const victim = (await keysUnder(store, "packs/"))[0];
      const lost = parsePackKey(victim)!.map((e) => e.id);
      await truncate(join(dir, "repo", ...victim.split("/")), 100);
      const idx = await ChunkIndex.fromListing(store);
      assert.equal(idx.incomplete, 1);
      for (const id of lost) assert.equal(idx.has(id), false, "an incomplete pack's chunks are not there");
      const v = await repo.verify("all");
      assert.equal(v.missing, lost.length, "verify counts them missing");
      assert.ok(v.bad[0].message.includes(`pack ${victim} names it but holds 100 of its`), v.bad[0].message);

      const again = await repo.backup({ type: "full", meta: meta(1), vgs, compression: true });
      assert.equal(again.indexSource, "listing");
      assert.equal(again.chunksNew, lost.length, "the full stores exactly the lost chunks again");
      const out = join(dir, "out.img");
      await repo.restoreDisk(again.id, "hdisk1", out);
      assert.equal(await sha256File(out), await sha256File(disk));
      assert.equal((await repo.verify("all")).ok, true);

      // The full may have written the same chunks under the same name (replacing the short one).
      const left = (await ChunkIndex.fromListing(store)).incomplete;
      const r = await prune(repo, { policy: {}, graceMs: 0 });
      assert.equal(r.objectsDeleted, left);
      assert.equal(r.chunksDeleted, 0, "it held no usable chunk");
      assert.equal((await ChunkIndex.fromListing(store)).incomplete, 0, "no incomplete pack is left");
    });
  });

  test("prune copies the live chunks out of partly used packs, then deletes them: exactly the referenced chunks stay, every kept backup restores", async () => {
    await withRepo(undefined, async (dir, store, repo) => {
      const disk = join(dir, "hdisk1.img");
      await makeDisk(disk, 32, 7);
      const vgs = [{ name: "VG1", disks: [{ name: "hdisk1", path: disk }] }];
      const shas: string[] = [];
      const ids: string[] = [];
      for (let day = 0; day < 3; day++) {
        if (day > 0) await mutateDisk(disk, 25, 70 + day);
        shas.push(await sha256File(disk));
        ids.push((await repo.backup({ type: day === 0 ? "full" : "incremental", meta: meta(day), vgs, compression: true })).id);
      }
      const packsBefore = await keysUnder(store, "packs/");

      // Forget the oldest: the chunks only it used are spread over packs that also hold live ones.
      const dry = await prune(repo, { policy: { keepLast: 2 }, graceMs: 0, dryRun: true });
      assert.deepEqual(await keysUnder(store, "packs/"), packsBefore, "a dry run writes nothing");
      const r = await prune(repo, { policy: { keepLast: 2 }, graceMs: 0 });
      assert.deepEqual(r.forgotten, [ids[0]]);
      assert.ok(r.chunksRepacked > 0, "live chunks were copied out of partly used packs");
      assert.equal(r.chunksDeleted, dry.chunksDeleted, "the dry run said what would go");
      assert.deepEqual([dry.chunksRepacked, dry.bytesRepacked], [r.chunksRepacked, r.bytesRepacked], "and what would be copied");
      assert.ok(r.chunksDeleted > 0);
      const kept = await repo.manifests();
      assert.deepEqual([...(await storedChunkIds(store))].sort(), [...refsOf(kept)].sort(), "exactly the referenced chunks remain");
      for (const k of await keysUnder(store, "packs/")) {
        for (const e of parsePackKey(k)!) assert.ok(refsOf(kept).has(e.id), `${k} holds only live chunks`);
      }
      for (const [i, id] of ids.entries()) {
        if (i === 0) continue;
        const out = join(dir, `r${i}.img`);
        await repo.restoreDisk(id, "hdisk1", out);
        assert.equal(await sha256File(out), shas[i], `backup of day ${i} restores bit-exact`);
      }
      assert.equal((await repo.verify("all")).ok, true);
      const again = await prune(repo, { policy: { keepLast: 2 }, graceMs: 0 });
      assert.deepEqual([again.chunksRepacked, again.objectsDeleted], [0, 0], "nothing left to do");
    });
  });

  test("a sweep decides on the repository as it is then: a copy lost after the mark keeps its original; a second prune's sweep waits", async () => {
    await withRepo(undefined, async (dir, store, repo) => {
      const disk = join(dir, "hdisk1.img");
      await makeDisk(disk, 32, 9);
      const vgs = [{ name: "VG1", disks: [{ name: "hdisk1", path: disk }] }];
      const ids: string[] = [];
      for (let day = 0; day < 2; day++) {
        if (day > 0) await mutateDisk(disk, 25, 90);
        ids.push((await repo.backup({ type: day === 0 ? "full" : "incremental", meta: meta(day), vgs, compression: true })).id);
      }
      const sha = await sha256File(disk);
      const before = new Set(await keysUnder(store, "packs/"));
      const hour = 3_600_000;
      const r1 = await prune(repo, { policy: { keepLast: 1 }, graceMs: hour });
      assert.ok(r1.chunksRepacked > 0 && r1.objectsDeleted === 0);
      // The copies vanish before the sweep (another prune, an operator, a bucket rule).
      const copies = (await keysUnder(store, "packs/")).filter((k) => !before.has(k));
      assert.ok(copies.length > 0);
      for (const k of copies) await store.delete(k);

      const later = () => new Date(Date.now() + 2 * hour);
      // While another prune's sweep is live, this one deletes nothing.
      const other = { format: "cbm-sweep", version: 1, runId: "20990101T000000000Z-other", host: "elsewhere", pid: 1, started: new Date().toISOString(), expires: new Date(Date.now() + 3 * hour).toISOString() };
      await store.put("sweeps/20990101T000000000Z-other", Buffer.from(JSON.stringify(other)));
      const waiting = await prune(repo, { policy: { keepLast: 1 }, graceMs: hour, now: later });
      assert.match(waiting.deferred ?? "", /another prune is deleting/);
      assert.equal(waiting.objectsDeleted, 0);
      await store.delete("sweeps/20990101T000000000Z-other");

      const r2 = await prune(repo, { policy: { keepLast: 1 }, graceMs: hour, now: later });
      assert.equal(r2.deferred, undefined);
      const out = join(dir, "out.img");
      await repo.restoreDisk(ids[1], "hdisk1", out);
      assert.equal(await sha256File(out), sha, "the kept backup restores: no pack holding its only copy of a chunk went");
      assert.equal((await repo.verify("all")).ok, true);
    });
  });

  test("a chunk verify finds damaged is stored again by the next backup that meets its data; verify then clears it", async () => {
    await withRepo(undefined, async (dir, store, repo) => {
      const disk = join(dir, "hdisk1.img");
      await makeDisk(disk, 16, 11);
      const vgs = [{ name: "VG1", disks: [{ name: "hdisk1", path: disk }] }];
      const first = await repo.backup({ type: "full", meta: meta(0), vgs, compression: true });
      const id = (await repo.findBackup(first.id)).vgs[0].disks[0].chunks.find((c) => c !== null)!;
      const loc = await flipChunkByte(store, id);
      const v1 = await repo.verify("all");
      assert.equal(v1.corrupt, 1);
      assert.ok(v1.bad[0].message.includes(loc.key), `the message names the object: ${v1.bad[0].message}`);
      assert.deepEqual(await keysUnder(store, "damaged/"), [`damaged/${id}`]);
      // The next backup trusts its parent's chunks, yet stores this one again: it is marked damaged.
      const again = await repo.backup({ type: "incremental", meta: meta(1), vgs, compression: true });
      assert.equal(again.chunksNew, 1);
      for (const b of [first.id, again.id]) {
        const out = join(dir, `out-${b}.img`);
        await repo.restoreDisk(b, "hdisk1", out);
        assert.equal(await sha256File(out), await sha256File(disk), "both backups restore from the good copy");
      }
      const v2 = await repo.verify("all");
      assert.equal(v2.ok, true);
      assert.deepEqual(await keysUnder(store, "damaged/"), [], "verify cleared the marker");
    });
  });

  test("surplus copies (a chunk stored in two complete packs) are pruned down to one, and every backup still restores", async () => {
    await withRepo(undefined, async (dir, store, repo) => {
      const disk = join(dir, "hdisk1.img");
      await makeDisk(disk, 16, 12);
      const b = await repo.backup({ type: "full", meta: meta(0), vgs: [{ name: "VG1", disks: [{ name: "hdisk1", path: disk }] }], compression: true });
      // What a killed backup and the next one leave: the same chunks in other packs as well.
      const full = (await keysUnder(store, "packs/")).find((k) => parsePackKey(k)!.length === 3)!;
      const bytes = Buffer.from(await store.get(full));
      let at = 0;
      for (const e of parsePackKey(full)!) {
        await store.put(packKey([e]), bytes.subarray(at, at + e.length));
        at += e.length;
      }
      const entries = async () => (await keysUnder(store, "packs/")).flatMap((k) => parsePackKey(k)!.map((e) => e.id));
      assert.equal((await entries()).length, (await storedChunkIds(store)).size + 3);
      const r = await prune(repo, { policy: {}, graceMs: 0 });
      assert.ok(r.objectsDeleted >= 1);
      assert.equal(r.chunksDeleted, 0, "no chunk is gone, only copies");
      assert.equal((await entries()).length, (await storedChunkIds(store)).size, "one copy of each chunk is left");
      const out = join(dir, "out.img");
      await repo.restoreDisk(b.id, "hdisk1", out);
      assert.equal(await sha256File(out), await sha256File(disk));
      assert.equal((await repo.verify("all")).ok, true);
    });
  });

  test("prune removes the temporary files killed uploads left in a directory store, an hour old at least", async () => {
    await withRepo(undefined, async (dir, store, repo) => {
      const shard = join(dir, "repo", "packs", "ab");
      await mkdir(shard, { recursive: true });
      const old = join(shard, `${"ab".repeat(32)}.100.cbm-tmp-0a0b0c`);
      const fresh = join(shard, `${"ab".repeat(32)}.200.cbm-tmp-0d0e0f`);
      await writeFile(old, "x");
      await writeFile(fresh, "y");
      const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
      await utimes(old, twoHoursAgo, twoHoursAgo);
      const r = await prune(repo, { policy: {}, graceMs: 0 });
      assert.equal(r.staleRemoved, 1);
      assert.deepEqual(await readdir(shard), [basename(fresh)], "a write that may still be running keeps its file");
    });
  });

  test("a read finds a chunk whose pack was repacked away after the reader listed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cbm-packs-"));
    try {
      const store = new FsObjectStore(join(dir, "repo"));
      const id = "ab".repeat(32);
      const other = "cd".repeat(32);
      const body = randomBytes(100);
      const oldKey = packKey([{ id: other, length: 60 }, { id, length: 100 }]);
      await store.put(oldKey, [randomBytes(60), body]);
      const reader = await ChunkReader.open(store);
      // A prune copies the chunk into a new pack and deletes the old one.
      await store.put(packKey([{ id, length: 100 }]), body);
      await store.delete(oldKey);
      const got = await reader.fetch(id);
      assert.ok(got && Buffer.from(got.object).equals(body), "read from its new pack");
      assert.equal(got.key, packKey([{ id, length: 100 }]));
      assert.equal(await reader.fetch(other), undefined, "a chunk that is gone is gone");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a version 1 repository keeps one object per chunk: backup, restore, verify and prune as before", async () => {
    await withRepo(1, async (dir, store, repo) => {
      assert.equal(repo.config.version, 1);
      const disk = join(dir, "hdisk1.img");
      await makeDisk(disk, 12, 8);
      const vgs = [{ name: "VG1", disks: [{ name: "hdisk1", path: disk }] }];
      const first = await repo.backup({ type: "full", meta: meta(0), vgs, compression: true });
      await mutateDisk(disk, 30, 81);
      const second = await repo.backup({ type: "incremental", meta: meta(1), vgs, compression: true });
      assert.deepEqual(await readdir(join(dir, "repo", "packs")).catch(() => []), [], "no packs");
      assert.equal((await keysUnder(store, "chunks/")).length, first.chunksNew + second.chunksNew);
      const r = await prune(repo, { policy: { keepLast: 1 }, graceMs: 0 });
      assert.equal(r.chunksRepacked, 0);
      assert.ok(r.chunksDeleted > 0);
      assert.deepEqual([...(await storedChunkIds(store))].sort(), [...refsOf(await repo.manifests())].sort());
      const out = join(dir, "out.img");
      await repo.restoreDisk(second.id, "hdisk1", out);
      assert.equal(await sha256File(out), await sha256File(disk));
      assert.equal((await repo.verify("all")).ok, true);
    });
  });
});
