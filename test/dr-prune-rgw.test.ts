/**
 * Prune while a backup runs into the same repository, on Ceph RGW (skipped, visibly, when no gateway
 * runs). The running backup is a full of a disk whose content only the backup being forgotten holds:
 * its listing trusts chunks that the forget makes unreferenced. The sweep must wait for it; afterwards
 * the kept old backups and the new one restore bit-exact, and a later prune leaves exactly the chunks
 * the remaining manifests reference.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeDisk, mutateDisk, sha256File } from "./helpers/disks.ts";
import { probeRgw } from "./helpers/s3.ts";
import { S3ObjectStore } from "../src/objectstore/s3.ts";
import { prune, Repository, type PruneReport } from "../src/repo/index.ts";
import { storedChunkIds } from "./helpers/chunks.ts";

test("Ceph RGW: prune during a backup into the same repository; old kept backups and the new one restore bit-exact", async (t) => {
  const rgw = await probeRgw();
  if ("reason" in rgw) return t.skip(rgw.reason);
  const dir = await mkdtemp(join(tmpdir(), "cbm-dr-prune-rgw-"));
  const store = new S3ObjectStore({
    bucket: `cbm-dr-prune-${Date.now()}`,
    endpoint: rgw.env.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.env.accessKeyId, secretAccessKey: rgw.env.secretAccessKey },
  });
  await store.ensureBucket();
  const repo = await Repository.init(store, { encryption: { keyBytes: randomBytes(32) }, chunkSize: 1024 * 1024 });
  try {
    const disk = join(dir, "hdisk18.img");
    const old = join(dir, "hdisk18-day0.img");
    await makeDisk(disk, 24, 61);
    await copyFile(disk, old);
    const scope = { cluster: "c1", rg: "RG1" };
    const shas: string[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      if (i > 0) await mutateDisk(disk, 60, 62 + i);
      shas.push(await sha256File(disk));
      const s = await repo.backup({ type: "full", meta: { ...scope, node: "n1", time: new Date(Date.UTC(2026, 0, 1 + i)) }, vgs: [{ name: "VG1", disks: [{ name: "hdisk18", path: disk }] }], compression: true });
      ids.push(s.id);
    }

    // The new backup: day 0's content again (only backup 0 references those chunks) plus a new disk.
    const extra = join(dir, "hdisk19.img");
    await makeDisk(extra, 48, 69);
    const newShas = [await sha256File(old), await sha256File(extra)];
    let pruneRun: Promise<PruneReport> | undefined;
    const backup = repo.backup({
      type: "full",
      meta: { ...scope, node: "n2" },
      vgs: [{ name: "VG1", disks: [{ name: "hdisk18", path: old }, { name: "hdisk19", path: extra }] }],
      compression: true,
      concurrency: 2,
      // Prune starts once the backup is under way (its lease is written before the first chunk).
      onProgress: () => void (pruneRun ??= prune(repo, { policy: { keepLast: 2 }, scope, graceMs: 0 })),
    });
    const summary = await backup;
    const during = await pruneRun!;
    assert.deepEqual(during.forgotten, [ids[0]], "the policy forgot the oldest backup");
    if (during.deferred) {
      assert.match(during.deferred, /running/, "the sweep waited for the running backup");
      assert.equal(during.chunksDeleted, 0);
    } else {
      // The backup ended before prune reached its sweep: then the sweep read the new manifest first.
      t.diagnostic(`the backup finished before prune's sweep (deleted ${during.chunksDeleted} chunks after reading its manifest)`);
    }

    // After the backup: the next prune sweeps, and the chunks the new backup trusted are referenced again.
    // (Backup 0's chunks are all used by the new backup; forgetting backup 1 frees its own chunks.)
    const after = await prune(repo, { policy: { keepLast: 2 }, scope, graceMs: 0 });
    assert.equal(after.deferred, undefined);
    assert.deepEqual(after.forgotten, [ids[1]]);
    assert.ok(after.chunksDeleted > 0, "backup 1's own chunks that nobody uses any more went");
    for (const [ref, disk2, sha] of [[ids[2], "hdisk18", shas[2]], [summary.id, "hdisk18", newShas[0]], [summary.id, "hdisk19", newShas[1]]] as const) {
      const out = join(dir, `r-${disk2}.img`);
      await repo.restoreDisk(ref, disk2, out);
      assert.equal(await sha256File(out), sha, `${disk2} of ${ref} restores bit-exact`);
      await rm(out);
    }
    const refs = new Set((await repo.manifests()).flatMap((m) => m.vgs.flatMap((vg) => vg.disks.flatMap((d) => d.chunks.filter((c): c is string => c !== null)))));
    const have = await storedChunkIds(store);
    assert.deepEqual([...have].sort(), [...refs].sort(), "exactly the referenced chunks remain");
    assert.equal((await repo.verify("all")).ok, true);
  } finally {
    await repo.close();
    await rm(dir, { recursive: true, force: true });
  }
});
