/**
 * Disaster recovery from the bucket alone, against s3rver: a site backs up, its CBM_HOME is deleted,
 * and an empty CBM_HOME given only the repository's attributes and a copy of the key lists what the
 * repository holds and restores bit-exact. Point in time (AT=), whole-VG restore to spare disks
 * (TARGETS=), a too-small target refused before anything is written, and prune's dry run.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, tempHome, words, type CliResult } from "./helpers/cli.ts";
import { makeDisk, makeSiteDisks, mutateDisk, sha256File, MiB } from "./helpers/disks.ts";
import { startS3rver, type S3rver } from "./helpers/s3.ts";
import { updateConfig } from "../src/config/store.ts";
import { S3ObjectStore } from "../src/objectstore/s3.ts";
import { createKeyFile, Repository } from "../src/repo/index.ts";
import { writeSite } from "./helpers/site.ts";

const SIZE_MIB = 24;

describe("restore anywhere", () => {
  let s3: S3rver;
  let work: string;
  before(async () => {
    s3 = await startS3rver();
    work = await mkdtemp(join(tmpdir(), "cbm-dr-restore-"));
  });
  after(async () => {
    await s3?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const env = () => ({ T_AK: s3.accessKeyId, T_SK: s3.secretAccessKey, TZ: "UTC", CBM_NODE: "" });
  const repoAttrs = (bucket: string, key: string) =>
    `BUCKET_NAME=${bucket} CLOUD_SERVICE=s3 ENDPOINT=${s3.endpoint} ACCESS_KEY_ENV=T_AK SECRET_KEY_ENV=T_SK REPO_KEY=file:${key}`;
  async function cli(home: string, line: string, expect = 0): Promise<CliResult> {
    const r = await runCli(home, words(line), { env: env(), timeoutMs: 60_000 });
    assert.equal(r.code, expect, `${line}\n${r.stdout}\n${r.stderr}`);
    return r;
  }

  test("backup, delete CBM_HOME, list and restore bit-exact from an empty CBM_HOME; VG to spares; too-small refused; prune dry run", async () => {
    const bucket = "dr-anywhere";
    const d = join(work, "site");
    await rm(d, { recursive: true, force: true });
    const { disks, spares } = await makeSiteDisks(d, SIZE_MIB, [31, 32]);
    const site = await tempHome("cbm-dr-site-");
    const home = site.home;
    await writeSite(home, {
      disks,
      spares,
      profile: [
        ["COMPRESSION", "enable"], ["CLOUD_SERVICE", "s3"], ["ENDPOINT", s3.endpoint], ["BUCKET_NAME", bucket],
        ["ACCESS_KEY_ENV", "T_AK"], ["SECRET_KEY_ENV", "T_SK"],
      ],
    });
    const sha0 = await Promise.all(disks.map(sha256File));
    const full = JSON.parse((await cli(home, "clmgr backup backup_profile RG1 -o json")).stdout) as { id: string };
    await mutateDisk(disks[0], 5, 33);
    const sha1 = await Promise.all(disks.map(sha256File));
    await cli(home, "clmgr backup backup_profile RG1 TYPE=incremental");

    // Whole VG to the spare disks, by physical_volume name.
    await cli(home, `clmgr restore backup_files ${full.id} RG_NAME=RG1 TARGETS=hdisk18:hdisk21,hdisk19:hdisk22`);
    assert.deepEqual(await Promise.all(spares.map(sha256File)), sha0, "VG1 restored bit-exact to hdisk21, hdisk22");
    // A too-small target is refused before anything is written: both targets unchanged.
    const small = join(d, "small.img");
    await writeFile(small, Buffer.alloc(MiB, 9));
    await updateConfig(home, (c) => {
      c.objects.find((o) => o.cls === "physical_volume" && o.name === "hdisk22")!.attrs.DEVICE = small;
    });
    const spareBefore = await sha256File(spares[0]);
    const refused = await cli(home, "clmgr restore backup_files latest RG_NAME=RG1 TARGETS=hdisk18:hdisk21,hdisk19:hdisk22", 3);
    assert.match(refused.stderr, /small/i);
    assert.equal(await sha256File(spares[0]), spareBefore, "the first target was not written either");
    assert.deepEqual(await readFile(small), Buffer.alloc(MiB, 9));

    // Prune's dry run shows what would go and deletes nothing.
    const dry = await cli(home, "clmgr prune backup_files RG_NAME=RG1 DRY_RUN=yes KEEP_LAST=1");
    assert.match(dry.stdout, new RegExp(`^forget\\s+${full.id.replace(/\./g, "\\.")}`, "m"));
    assert.match(dry.stdout, /Dry run: would forget 1 backup\(s\), kept 1/);

    // The site is lost: only the bucket and a copy of the key remain.
    const keyCopy = join(work, "rescued.key");
    await copyFile(join(home, "keys", `s3-${bucket}.key`), keyCopy);
    await site.cleanup();

    const fresh = await tempHome("cbm-dr-fresh-");
    try {
      const files = JSON.parse((await cli(fresh.home, `clmgr query backup_files ${repoAttrs(bucket, keyCopy)} -o json`)).stdout) as Array<{ name: string; id: string; rg: string; disk: string; type: string }>;
      assert.equal(files.length, 4);
      assert.deepEqual([...new Set(files.map((f) => f.rg))], ["RG1"]);
      const info = JSON.parse((await cli(fresh.home, `clmgr query repository ${repoAttrs(bucket, keyCopy)} -o json`)).stdout) as {
        backups: number;
        groups: Array<{ cluster: string; rg: string; backups: number; disks: string[] }>;
      };
      assert.equal(info.backups, 2);
      assert.deepEqual(info.groups.map((g) => [g.cluster, g.rg, g.backups, g.disks]), [["c1", "RG1", 2, ["VG1/hdisk18", "VG1/hdisk19"]]]);

      const byName = files.find((f) => f.disk === "hdisk18" && f.type === "full")!.name;
      const out = join(work, "anywhere-18.img");
      await cli(fresh.home, `clmgr restore backup_files ${byName} TARGET=${out} ${repoAttrs(bucket, keyCopy)}`);
      assert.equal(await sha256File(out), sha0[0], "the full's hdisk18 restores bit-exact from an empty CBM_HOME");
      void sha1;
      const wrongKey = join(work, "wrong.key");
      await writeFile(wrongKey, `${"cd".repeat(32)}\n`, { mode: 0o600 });
      const bad = await cli(fresh.home, `clmgr query backup_files ${repoAttrs(bucket, wrongKey)}`, 3);
      assert.match(bad.stderr, /wrong key file/);
    } finally {
      await fresh.cleanup();
    }
  });

  test("AT= picks the newest backup at or before the time; before the first backup is a clear error", async () => {
    const bucket = "dr-pit";
    const store = new S3ObjectStore({ bucket, endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    await store.ensureBucket();
    const keyFile = join(work, "pit.key");
    await createKeyFile(keyFile);
    const repo = await Repository.init(store, { encryption: { keyFile }, chunkSize: 1024 * 1024 });
    const disk = join(work, "pit.img");
    await makeDisk(disk, 16, 41);
    const times = ["2026-05-01T08:00:00.000000Z", "2026-05-02T08:00:00.000000Z", "2026-05-03T08:00:00.000000Z"];
    const shas: string[] = [];
    for (let i = 0; i < times.length; i++) {
      if (i > 0) await mutateDisk(disk, 20, 42 + i);
      shas.push(await sha256File(disk));
      await repo.backup({ type: "full", meta: { cluster: "c1", rg: "RG1", node: "n1", time: new Date(times[i]) }, vgs: [{ name: "VG1", disks: [{ name: "hdisk18", path: disk }] }], compression: true });
    }
    await repo.close();
    const fresh = await tempHome("cbm-dr-pit-");
    try {
      const attrs = repoAttrs(bucket, keyFile);
      const out = join(work, "pit-out.img");
      const cases: Array<[string, number]> = [
        ["2026-05-02T07:59:59Z", 0],
        ["2026-05-02_23:00:00.000000", 1], // the paper's time format
        ["2026-06-01T00:00:00Z", 2],
      ];
      for (const [at, want] of cases) {
        await cli(fresh.home, `clmgr restore backup_files AT=${at} DISK=hdisk18 TARGET=${out} ${attrs}`);
        assert.equal(await sha256File(out), shas[want], `AT=${at} restores the backup of ${times[want]}`);
      }
      await rm(out);
      const early = await cli(fresh.home, `clmgr restore backup_files AT=2026-04-30T00:00:00Z DISK=hdisk18 TARGET=${out} ${attrs}`, 5);
      assert.match(early.stderr, /no backup at or before 2026-04-30T00:00:00\.000000Z; the first backup is \S+ at 2026-05-01T08:00:00\.000000Z/);
      await assert.rejects(readFile(out), "nothing written");
    } finally {
      await fresh.cleanup();
    }
  });
});
