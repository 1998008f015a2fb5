/**
 * Retention and prune: the policy as a pure function over 60 daily backups, then the same policy on a
 * real repository of 60 small backups: exactly the expected backups stay, the chunks left are exactly
 * those the kept manifests reference, the two-phase delete waits for its grace period and for running
 * backups, and the kept backups restore bit-exact.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { applyRetention, isoWeekKey } from "../src/repo/retention.ts";
import { Repository, prune, markVerified, type Manifest } from "../src/repo/index.ts";
import { makeDisk, mutateDisk, sha256File } from "./helpers/disks.ts";
import { tempHome } from "./helpers/cli.ts";
import { loadConfig, updateConfig } from "../src/config/store.ts";
import { runBackupJob } from "../src/jobs/backup.ts";
import { writeSite } from "./helpers/site.ts";
import { storedChunkIds } from "./helpers/chunks.ts";

const KiB = 1024;
const POLICY = { keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: 3 };
/** 60 daily backups at 01:00 UTC, 2026-01-01 (a Thursday) … 2026-03-01 (a Sunday). */
const days = Array.from({ length: 60 }, (_, i) => new Date(Date.UTC(2026, 0, 1 + i, 1, 0, 0)));
const dayName = (d: Date) => d.toISOString().slice(0, 10);
/**
 * keepLast 3: 03-01, 02-28, 02-27. keepDaily 7: 03-01 … 02-23. keepWeekly 4 (ISO weeks end on
 * Sunday): 03-01 (W09), 02-22 (W08), 02-15 (W07), 02-08 (W06). keepMonthly 3: 03-01, 02-28, 01-31.
 */
const EXPECTED = ["2026-03-01", "2026-02-28", "2026-02-27", "2026-02-26", "2026-02-25", "2026-02-24", "2026-02-23", "2026-02-22", "2026-02-15", "2026-02-08", "2026-01-31"];

describe("retention policy (pure)", () => {
  test("60 daily backups: KEEP_LAST=3 KEEP_DAILY=7 KEEP_WEEKLY=4 KEEP_MONTHLY=3 keeps exactly the spelled-out set", () => {
    assert.equal(isoWeekKey(new Date("2026-03-01T12:00:00Z")), "2026-W09");
    assert.equal(isoWeekKey(new Date("2026-02-23T00:00:00Z")), "2026-W09");
    assert.equal(isoWeekKey(new Date("2026-01-01T00:00:00Z")), "2026-W01");
    const items = days.map((d, i) => ({ id: `b${String(i).padStart(2, "0")}`, time: d.toISOString() }));
    const r = applyRetention(items, POLICY);
    assert.deepEqual(r.keep.map((k) => k.time.slice(0, 10)), EXPECTED);
    assert.equal(r.remove.length, 60 - EXPECTED.length);
    assert.deepEqual(r.keep[0].reasons, ["last", "daily", "weekly", "monthly"]);
    assert.deepEqual(r.keep.find((k) => k.time.startsWith("2026-01-31"))!.reasons, ["monthly"]);
    // The newest verified backup is never dropped; a locked one neither.
    const v = applyRetention(items, POLICY, { protect: ["b09"], lockedUntil: (i) => (i.id === "b05" ? new Date("2027-01-01") : undefined), now: new Date("2026-03-02") });
    assert.deepEqual(v.keep.map((k) => k.id).filter((id) => id === "b09" || id === "b05"), ["b09", "b05"]);
    // No rule set: everything stays (the default policy).
    assert.equal(applyRetention(items, {}).remove.length, 0);
    // Order of input does not matter.
    assert.deepEqual(applyRetention(items.slice().reverse(), POLICY).keep.map((k) => k.id), r.keep.map((k) => k.id));
  });
});

async function setDay(path: string, day: number): Promise<void> {
  // 8 chunks of 64 KiB per disk; each day rewrites one chunk with fresh data and the first with the day.
  const fh = await open(path, "r+");
  try {
    await fh.write(randomBytes(64 * KiB), 0, 64 * KiB, (1 + (day % 7)) * 64 * KiB);
    const tag = Buffer.alloc(64 * KiB, 0);
    tag.write(`day ${day}`);
    await fh.write(tag, 0, tag.length, 0);
  } finally {
    await fh.close();
  }
}

const refsOf = (ms: Manifest[]) => new Set(ms.flatMap((m) => m.vgs.flatMap((vg) => vg.disks.flatMap((d) => d.chunks.filter((c): c is string => c !== null)))));

const chunkIds = storedChunkIds;

describe("retention and prune on a repository", () => {
  test("60 backups of small disks: prune keeps the policy's set, leaves exactly their chunks, kept backups restore", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cbm-dr-ret-"));
    try {
      const store = new FsObjectStore(join(dir, "repo"));
      const repo = await Repository.init(store, { encryption: { keyBytes: randomBytes(32) }, chunkSize: 64 * KiB });
      const disk = join(dir, "hdisk18.img");
      await writeFile(disk, Buffer.alloc(512 * KiB));
      const shaByDay = new Map<string, string>();
      const idByDay = new Map<string, string>();
      for (let i = 0; i < days.length; i++) {
        await setDay(disk, i);
        const s = await repo.backup({ type: i % 7 === 0 ? "full" : "incremental", meta: { cluster: "c1", rg: "RG1", node: "n1", time: days[i] }, vgs: [{ name: "VG1", disks: [{ name: "hdisk18", path: disk }] }], compression: true });
        shaByDay.set(dayName(days[i]), await sha256File(disk));
        idByDay.set(dayName(days[i]), s.id);
      }
      // Another RG in the same repository is untouched by RG1's policy.
      const other = await repo.backup({ type: "full", meta: { cluster: "c1", rg: "RG2", node: "n1", time: days[0] }, vgs: [{ name: "VG2", disks: [{ name: "hdisk30", path: disk }] }], compression: true });
      const before = await chunkIds(store);

      // Dry run: shows what would go, changes nothing.
      const dry = await prune(repo, { policy: POLICY, scope: { cluster: "c1", rg: "RG1" }, graceMs: 0, dryRun: true });
      assert.equal(dry.forget.length, 60 - EXPECTED.length);
      assert.ok(dry.chunksDeleted > 0);
      assert.equal((await repo.backupIds()).length, 61);
      assert.deepEqual(await chunkIds(store), before);

      // Grace period: the first run forgets and marks, deletes no chunk.
      const hour = 3_600_000;
      const r1 = await prune(repo, { policy: POLICY, scope: { cluster: "c1", rg: "RG1" }, graceMs: hour });
      assert.equal(r1.forgotten.length, 60 - EXPECTED.length);
      assert.equal(r1.chunksDeleted, 0);
      assert.ok(r1.chunksMarked > 0 && r1.chunksPending === r1.chunksMarked);
      assert.deepEqual(await chunkIds(store), before);

      // A live lease (a backup running into the repository) defers the sweep.
      const later = () => new Date(Date.now() + 2 * hour);
      const lease = { format: "cbm-lease", version: 1, backupId: "20990101T000000.000000Z-00000000", host: "elsewhere", pid: 1, started: new Date().toISOString(), expires: new Date(Date.now() + 3 * hour).toISOString() };
      await store.put("leases/20990101T000000.000000Z-00000000", Buffer.from(JSON.stringify(lease)));
      const r2 = await prune(repo, { policy: POLICY, scope: { cluster: "c1", rg: "RG1" }, graceMs: hour, now: later });
      assert.match(r2.deferred ?? "", /running/);
      assert.equal(r2.chunksDeleted, 0);
      await store.delete("leases/20990101T000000.000000Z-00000000");

      // After the grace period, with no backup running, the unreferenced chunks go.
      const r3 = await prune(repo, { policy: POLICY, scope: { cluster: "c1", rg: "RG1" }, graceMs: hour, now: later });
      assert.equal(r3.deferred, undefined);
      assert.equal(r3.chunksDeleted, r1.chunksMarked);
      const kept = await repo.manifests();
      assert.deepEqual(kept.filter((m) => m.rg === "RG1").map((m) => m.time.slice(0, 10)).reverse(), EXPECTED);
      assert.ok(kept.some((m) => m.id === other.id), "RG2's backup is not RG1's policy's business");
      assert.deepEqual([...(await chunkIds(store))].sort(), [...refsOf(kept)].sort(), "the chunks left are exactly those the kept manifests reference");
      assert.deepEqual(await store.head("prune/x"), undefined);

      // Kept backups restore bit-exact, the oldest kept one included.
      for (const day of ["2026-01-31", "2026-02-15", "2026-03-01"]) {
        const out = join(dir, `r-${day}.img`);
        await repo.restoreDisk(idByDay.get(day)!, "hdisk18", out);
        assert.equal(await sha256File(out), shaByDay.get(day), `backup of ${day} restores bit-exact`);
      }

      // The newest verified backup survives a policy that would drop it.
      const verifiedDay = "2026-02-08";
      await markVerified(store, idByDay.get(verifiedDay)!, 1);
      const r4 = await prune(repo, { policy: { keepLast: 1 }, scope: { cluster: "c1", rg: "RG1" }, graceMs: 0 });
      const left = (await repo.manifests({ rg: "RG1" })).map((m) => m.time.slice(0, 10));
      assert.deepEqual(left, [verifiedDay, "2026-03-01"]);
      assert.ok(r4.keep.some((k) => k.reasons.includes("verified")));
      assert.deepEqual([...(await chunkIds(store))].sort(), [...refsOf(await repo.manifests())].sort());
      await repo.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("retention after each backup", () => {
  test("a profile with KEEP_LAST=2 PRUNE_GRACE_HOURS=0 keeps two backups and their chunks only; without a policy nothing is pruned", async () => {
    const { home, cleanup } = await tempHome("cbm-dr-ret-job-");
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, CBM_NODE: "" };
      const disk = join(home, "sda.img");
      await makeDisk(disk, 8, 71);
      await writeSite(home, { disks: [disk], profile: [["CLOUD_SERVICE", "fs"], ["ENDPOINT", join(home, "repos")], ["BUCKET_NAME", "repo"]] });
      let cfg = await loadConfig(home);
      const first = await runBackupJob(home, cfg, "RG1", { env });
      assert.equal(first.prune, undefined, "no policy: no prune");
      await updateConfig(home, (c) => {
        const p = c.objects.find((o) => o.cls === "backup_profile" && o.name === "RG1")!;
        p.attrs.KEEP_LAST = "2";
        p.attrs.PRUNE_GRACE_HOURS = "0";
      });
      cfg = await loadConfig(home);
      const ids = [first.id];
      for (let i = 0; i < 2; i++) {
        await mutateDisk(disk, 50, 72 + i);
        const r = await runBackupJob(home, cfg, "RG1", { env });
        ids.push(r.id);
        assert.ok(r.prune, "the policy ran after the backup");
        assert.deepEqual(r.prune.forgotten, i === 0 ? [] : [ids[0]]);
      }
      const store = new FsObjectStore(join(home, "repos", "repo"));
      const repo = await Repository.open(store, { keyFile: join(home, "keys", "fs-repo.key") });
      const left = await repo.manifests();
      assert.deepEqual(left.map((m) => m.id), ids.slice(1));
      assert.deepEqual([...(await chunkIds(store))].sort(), [...refsOf(left)].sort());
      await repo.close();
    } finally {
      await cleanup();
    }
  });
});
