/**
 * The cloud method end to end, as an administrator runs it: a resource group with a volume group of
 * two 256 MiB disks (mixed content) on local storage, a cloud profile, `clmgr backup`, `clmgr query
 * backup_files`, `clmgr restore`, `clmgr verify` — against the fs backend, s3rver and Ceph RGW.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, stat, symlink, writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { S3Client, ListObjectsV2Command, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { ROOT, runCli, tempHome, words, type CliResult } from "./helpers/cli.ts";
import { makeSiteDisks, mutateDisk, sha256File, MiB } from "./helpers/disks.ts";
import { probeRgw, startS3rver, type S3rver } from "./helpers/s3.ts";
import { startFaultProxy } from "./helpers/faultproxy.ts";
import { writeSite } from "./helpers/site.ts";

/** The issue's size for the full/incremental scenario; the fault scenarios need less. */
const DISK_MIB = 256;
const SMALL_MIB = 48;

interface Backend {
  name: string;
  /** Profile attributes that point at the repository. */
  attrs: string[];
  env: NodeJS.ProcessEnv;
  /** Lists stored object keys (to prove nothing was written) and corrupts one chunk. */
  keys(): Promise<string[]>;
  flipByte(key: string): Promise<void>;
}

async function s3Backend(name: string, endpoint: string, bucket: string, ak: string, sk: string): Promise<Backend> {
  const client = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: ak, secretAccessKey: sk }, requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" });
  return {
    name,
    attrs: [`CLOUD_SERVICE=s3`, `ENDPOINT=${endpoint}`, `BUCKET_NAME=${bucket}`, `ACCESS_KEY_ENV=T_AK`, `SECRET_KEY_ENV=T_SK`],
    env: { T_AK: ak, T_SK: sk },
    async keys() {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token })).catch(() => undefined);
        for (const o of r?.Contents ?? []) out.push(o.Key!);
        token = r?.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return out.sort();
    },
    async flipByte(key) {
      const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const body = Buffer.from(await r.Body!.transformToByteArray());
      body[body.length >> 1] ^= 0x40;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
  };
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

function fsBackend(dir: string): Backend {
  return {
    name: "fs",
    attrs: [`CLOUD_SERVICE=fs`, `ENDPOINT=${dir}`, `BUCKET_NAME=repo`],
    env: {},
    keys: async () => (await walk(join(dir, "repo"))).map((p) => p.slice(join(dir, "repo").length + 1)).sort(),
    async flipByte(key) {
      const p = join(dir, "repo", key);
      const b = await readFile(p);
      b[b.length >> 1] ^= 0x40;
      await writeFile(p, b);
    },
  };
}

/** A cluster with RG1/VG1 on two image-file disks and spare targets (configured in-process: the clmgr grammar has its own tests). */
async function setupSite(home: string, backend: Backend, sizeMiB = SMALL_MIB): Promise<{ disks: string[]; spares: string[] }> {
  const { disks, spares } = await makeSiteDisks(join(home, "disks"), sizeMiB, [1, 2]);
  const attr = (a: string): [string, string] => [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)];
  await writeSite(home, {
    disks,
    spares,
    pvAttrs: [["SIZE", String(sizeMiB * MiB)]],
    profile: [["COMPRESSION", "enable"], ["TARGET_DISKS", "hdisk21,hdisk22"], ...backend.attrs.map(attr)],
  });
  return { disks, spares };
}

async function cli(home: string, backend: Backend, line: string, expectCode = 0): Promise<CliResult> {
  const r = await runCli(home, words(line), { env: backend.env });
  assert.equal(r.code, expectCode, `${line}\n${r.stdout}\n${r.stderr}`);
  return r;
}

interface FileRow { name: string; id: string; type: string; disk: string; size: number; stored: number }
async function backupFiles(home: string, backend: Backend): Promise<FileRow[]> {
  return JSON.parse((await cli(home, backend, "clmgr query backup_files RG_NAME=RG1 -o json")).stdout) as FileRow[];
}

async function restoreEquals(home: string, backend: Backend, ref: string, disk: string, expectSha: string): Promise<void> {
  const out = join(home, `restore-${disk}-${Date.now()}.img`);
  await cli(home, backend, `clmgr restore backup_files ${ref} RG_NAME=RG1 DISK=${disk} TARGET=${out}`);
  assert.equal(await sha256File(out), expectSha, `${disk} of ${ref} restores bit-exact`);
  await import("node:fs/promises").then((f) => f.rm(out));
}

/** Restores both disks of a backup in one command (TARGETS=) and compares them with the expected images. */
async function restoreVgEquals(home: string, backend: Backend, ref: string, expectSha: string[]): Promise<void> {
  const out = [join(home, "vg-a.img"), join(home, "vg-b.img")];
  await cli(home, backend, `clmgr restore backup_files ${ref} RG_NAME=RG1 TARGETS=hdisk18:${out[0]},hdisk19:${out[1]}`);
  assert.deepEqual(await Promise.all(out.map(sha256File)), expectSha, `VG1 of ${ref} restores bit-exact`);
  const { rm } = await import("node:fs/promises");
  await Promise.all(out.map((o) => rm(o)));
}

/** The scenario every backend must pass: full, restore, 1% change, incremental ≤ 3%, both restore. */
async function fullAndIncremental(home: string, backend: Backend): Promise<void> {
  const { disks } = await setupSite(home, backend, DISK_MIB);
  const sha0 = await Promise.all(disks.map(sha256File));
  const full = JSON.parse((await cli(home, backend, "clmgr backup backup_profile RG1 -o json")).stdout) as { id: string; bytesRead: number };
  assert.equal(full.bytesRead, 2 * DISK_MIB * MiB);
  let files = await backupFiles(home, backend);
  assert.equal(files.length, 2);
  assert.match(files[0].name, /^c1_RG1_VG1_hdisk1[89]\.\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}\.\d{6}\.img$/);
  await restoreEquals(home, backend, files.find((f) => f.disk === "hdisk18")!.name, "hdisk18", sha0[0]);

  await mutateDisk(disks[0], 1, 7);
  await mutateDisk(disks[1], 1, 8);
  const sha1 = await Promise.all(disks.map(sha256File));
  const inc = JSON.parse((await cli(home, backend, "clmgr backup backup_profile RG1 TYPE=incremental -o json")).stdout) as { id: string; bytesStored: number };
  const image = 2 * DISK_MIB * MiB;
  assert.ok(inc.bytesStored <= 0.03 * image, `incremental stored ${inc.bytesStored} bytes, ≤ 3% of ${image}`);
  assert.ok(inc.bytesStored > 0, "the changed blocks were stored");
  files = await backupFiles(home, backend);
  assert.equal(files.length, 4);
  assert.deepEqual(files.map((f) => f.type).sort(), ["full", "full", "incremental", "incremental"]);
  await restoreVgEquals(home, backend, "latest", sha1);
  await restoreVgEquals(home, backend, full.id, sha0);
}

describe("cloud backup end to end", () => {
  let s3: S3rver;
  before(async () => {
    s3 = await startS3rver();
  });
  after(() => s3?.stop());

  test("fs backend: full, restore, incremental after 1% change, both restore bit-exact", async () => {
    const { home, cleanup } = await tempHome();
    try {
      await fullAndIncremental(home, fsBackend(join(home, "store")));
    } finally {
      await cleanup();
    }
  });

  test("s3rver: full, restore, incremental after 1% change, both restore bit-exact", async () => {
    const { home, cleanup } = await tempHome();
    try {
      await fullAndIncremental(home, await s3Backend("s3rver", s3.endpoint, "bkt-e2e", s3.accessKeyId, s3.secretAccessKey));
    } finally {
      await cleanup();
    }
  });

  test("Ceph RGW: full, restore, incremental after 1% change, both restore bit-exact", async (t) => {
    const rgw = await probeRgw();
    if ("reason" in rgw) return t.skip(`Ceph RGW not running: ${rgw.reason}`);
    const { home, cleanup } = await tempHome();
    try {
      const bucket = `cbm-e2e-${Date.now()}`;
      await fullAndIncremental(home, await s3Backend("rgw", rgw.env.endpoint, bucket, rgw.env.accessKeyId, rgw.env.secretAccessKey));
    } finally {
      await cleanup();
    }
  });

  test("a wrong key is refused clearly and nothing is written; a flipped byte is found by restore and verify", async () => {
    const { home, cleanup } = await tempHome();
    try {
      const backend = await s3Backend("s3rver", s3.endpoint, "bkt-bad", s3.accessKeyId, s3.secretAccessKey);
      await setupSite(home, backend);
      await cli(home, backend, "clmgr backup backup_profile RG1");
      const keysBefore = await backend.keys();

      const other = join(home, "other.key");
      await writeFile(other, `${"ab".repeat(32)}\n`, { mode: 0o600 });
      await cli(home, backend, `clmgr modify backup_profile RG1 REPO_KEY=file:${other}`);
      const wrong = await cli(home, backend, "clmgr backup backup_profile RG1", 3);
      assert.match(wrong.stderr, /wrong key file .*other\.key/);
      const wrongList = await cli(home, backend, "clmgr query backup_files RG_NAME=RG1", 3);
      assert.match(wrongList.stderr, /wrong key file/);
      assert.deepEqual(await backend.keys(), keysBefore, "nothing written with a wrong key");
      await cli(home, backend, "clmgr modify backup_profile RG1 REPO_KEY=auto");

      const chunk = keysBefore.find((k) => k.startsWith("packs/"))!;
      await backend.flipByte(chunk);
      const v = await cli(home, backend, "clmgr verify backup_files all RG_NAME=RG1", 6);
      assert.match(v.stdout, /corrupt chunk/);
      assert.match(v.stdout, /hdisk1[89].*at offset \d+/);
      const files = await backupFiles(home, backend);
      const results = await Promise.all(
        files.map((f) => runCli(home, words(`clmgr restore backup_files ${f.name} TARGET=${join(home, `r-${f.disk}.img`)}`), { env: backend.env })),
      );
      const failed = results.filter((r) => r.code !== 0);
      assert.equal(failed.length, 1, "exactly the disk holding the chunk fails");
      assert.equal(failed[0].code, 6);
      assert.match(failed[0].stderr, /hdisk1[89]/);
      assert.match(failed[0].stderr, /offset \d+/);
      // The unfinished file it created is gone; an existing target is named as partly overwritten.
      const bad = files[results.indexOf(failed[0])];
      await assert.rejects(stat(join(home, `r-${bad.disk}.img`)), "no half-restored file left behind");
      const existing = join(home, "existing.img");
      await writeFile(existing, Buffer.alloc(bad.size, 0xff));
      const over = await cli(home, backend, `clmgr restore backup_files ${bad.name} TARGET=${existing}`, 6);
      assert.match(over.stderr, /partly overwritten, earlier contents lost, restore incomplete: .*existing\.img/);
    } finally {
      await cleanup();
    }
  });

  test("a fault-injecting proxy (≥10% 500/503/resets) does not stop a backup; it restores bit-exact", async () => {
    const { home, cleanup } = await tempHome();
    // Packs make a backup of these disks a couple of dozen requests: a fault in four of them.
    const proxy = await startFaultProxy({ target: s3.endpoint, probability: 0.25, seed: 42, faults: ["500", "503", "reset"] });
    try {
      const backend = await s3Backend("s3rver-faulty", proxy.endpoint, "bkt-faults", s3.accessKeyId, s3.secretAccessKey);
      const { disks } = await setupSite(home, backend);
      await cli(home, backend, "clmgr backup backup_profile RG1");
      const afterBackup = proxy.injected();
      await restoreEquals(home, backend, "latest", "hdisk18", await sha256File(disks[0]));
      await restoreEquals(home, backend, "latest", "hdisk19", await sha256File(disks[1]));
      const counts = JSON.stringify(proxy.counts);
      assert.ok(afterBackup >= 3, `faults met by the backup: ${afterBackup} (${counts})`);
      assert.ok(proxy.injected() >= 5 && proxy.injected() >= 0.1 * proxy.counts.requests, `faults injected: ${counts}`);
    } finally {
      await proxy.stop();
      await cleanup();
    }
  });

  test("a backup killed with SIGKILL part way: earlier backups restore, the next backup succeeds", async () => {
    const { home, cleanup } = await tempHome();
    try {
      const backend = await s3Backend("s3rver", s3.endpoint, "bkt-kill", s3.accessKeyId, s3.secretAccessKey);
      const { disks } = await setupSite(home, backend, 128);
      await cli(home, backend, "clmgr backup backup_profile RG1");
      const sha0 = await Promise.all(disks.map(sha256File));
      await mutateDisk(disks[0], 60, 3);
      const before = (await backend.keys()).length;
      const child = spawn(join(ROOT, "bin/clmgr"), ["backup", "backup_profile", "RG1"], { env: { ...process.env, ...backend.env, CBM_HOME: home }, stdio: "ignore" });
      // Kill once it has stored something new (bounded wait), i.e. truly part way.
      for (let i = 0; i < 200 && (await backend.keys()).length <= before + 2; i++) await new Promise((r) => setTimeout(r, 25));
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
      assert.equal((await backupFiles(home, backend)).length, 2, "the killed backup left no backup file");
      await restoreEquals(home, backend, "latest", "hdisk18", sha0[0]);
      await restoreEquals(home, backend, "latest", "hdisk19", sha0[1]);
      await cli(home, backend, "clmgr backup backup_profile RG1");
      await restoreEquals(home, backend, "latest", "hdisk18", await sha256File(disks[0]));
      assert.equal((await backupFiles(home, backend)).length, 4);
    } finally {
      await cleanup();
    }
  });

  test("Ctrl-C part way: a backup ends as failed and gives its lease back, a restore removes the file it made; both exit 130", async () => {
    const { home, cleanup } = await tempHome();
    // The proxy sends the SIGINT when the third chunk transfer of the armed kind arrives: truly part way.
    let child: ReturnType<typeof spawn> | undefined;
    let armed: "PUT" | "GET" | undefined;
    let seen = 0;
    const proxy = await startFaultProxy({
      target: s3.endpoint,
      probability: 0,
      onRequest: (req) => {
        if (armed && req.method === armed && req.url?.includes("/packs/") && ++seen === 3) child?.kill("SIGINT");
      },
    });
    const run = (args: string[]): Promise<CliResult> =>
      new Promise((resolve) => {
        const c = spawn(join(ROOT, "bin/clmgr"), args, { env: { ...process.env, ...backend.env, CBM_HOME: home, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
        child = c;
        let stdout = "";
        let stderr = "";
        c.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        c.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        c.once("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
      });
    const backend = await s3Backend("s3rver-interrupted", proxy.endpoint, "bkt-int", s3.accessKeyId, s3.secretAccessKey);
    try {
      await setupSite(home, backend);
      armed = "PUT";
      const b = await run(["backup", "backup_profile", "RG1"]);
      assert.equal(b.code, 130, b.stderr);
      assert.match(b.stderr, /backup was cancelled \(interrupted by SIGINT\) \[CBM_INTERRUPTED\]/);
      assert.deepEqual((await backend.keys()).filter((k) => /^(leases|manifests)\//.test(k)), [], "no lease left behind, no backup made");
      const jobs = JSON.parse((await cli(home, backend, "clmgr query backup_jobs RG_NAME=RG1 -o json")).stdout) as Array<{ result: string; error: string }>;
      assert.deepEqual([jobs.at(-1)!.result, /interrupted by SIGINT/.test(jobs.at(-1)!.error)], ["failed", true]);

      armed = undefined;
      await cli(home, backend, "clmgr backup backup_profile RG1");
      armed = "GET";
      seen = 0;
      const out = join(home, "restored.img");
      const r = await run(["restore", "backup_files", "latest", "RG_NAME=RG1", "DISK=hdisk18", `TARGET=${out}`]);
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /restore was cancelled \(interrupted by SIGINT\)/);
      await assert.rejects(stat(out), "the unfinished file the restore created is removed");
    } finally {
      child?.kill("SIGKILL");
      await proxy.stop();
      await cleanup();
    }
  });

  test("a manifest that cannot be read is named and passed over: the other backups list, restore by name and take incrementals; latest refuses", async () => {
    const { home, cleanup } = await tempHome();
    try {
      const backend = fsBackend(join(home, "store"));
      const { disks } = await setupSite(home, backend);
      const sha0 = await Promise.all(disks.map(sha256File));
      await cli(home, backend, "clmgr backup backup_profile RG1");
      await cli(home, backend, "clmgr backup backup_profile RG1 TYPE=incremental");
      const manifests = (await backend.keys()).filter((k) => k.startsWith("manifests/")).sort();
      assert.equal(manifests.length, 2);
      const badId = manifests[1].slice("manifests/".length);
      await backend.flipByte(manifests[1]); // e.g. cut short where a crash met a non-atomic PUT

      const list = await cli(home, backend, "clmgr query backup_files RG_NAME=RG1 -o json");
      assert.equal((JSON.parse(list.stdout) as FileRow[]).length, 2, "the readable backup's two disks are listed");
      assert.match(list.stderr, new RegExp(`Warning: backup ${badId} left out, its manifest cannot be read`));
      // "latest" does not quietly become the older backup: the operator names it.
      const latest = await cli(home, backend, `clmgr restore backup_files latest DISK=hdisk18 TARGET=${join(home, "latest.img")}`, 6);
      assert.match(latest.stderr, new RegExp(`the backup that is the latest may be ${badId}.*whose manifest cannot be read .*to restore an older one, name it`));
      await assert.rejects(stat(join(home, "latest.img")), "nothing written");
      const older = (JSON.parse(list.stdout) as FileRow[])[0].id;
      await restoreEquals(home, backend, older, "hdisk18", sha0[0]);
      const incr = await cli(home, backend, "clmgr backup backup_profile RG1 TYPE=incremental");
      assert.match(incr.stderr, /passed over as an incremental base/);
      await restoreEquals(home, backend, "latest", "hdisk19", sha0[1]);
      // verify all checks the other backups and lists the damaged manifest among its findings.
      const v = await cli(home, backend, "clmgr verify backup_files all RG_NAME=RG1", 6);
      assert.match(v.stdout, /of 2 backup\(s\): 0 missing, 0 corrupt, 1 unreadable manifest\(s\)\./);
      assert.match(v.stdout, new RegExp(`unreadable manifest of backup ${badId}: .* its chunks were not checked`));
      assert.match(v.stderr, /0 missing and 0 corrupt chunk\(s\) and 1 unreadable manifest\(s\)/);
    } finally {
      await cleanup();
    }
  });

  test("bad input gets a clear error, a non-zero exit, and changes nothing", async () => {
    const { home, cleanup } = await tempHome();
    try {
      const backend = fsBackend(join(home, "store"));
      const { disks, spares } = await setupSite(home, backend);
      await cli(home, backend, "clmgr backup backup_profile RG1");
      const stored = await backend.keys();
      const small = join(home, "small.img");
      await writeFile(small, Buffer.alloc(MiB, 7));
      const smallBefore = await readFile(small);

      const unknown = await cli(home, backend, `clmgr restore backup_files c1_RG1_VG1_hdisk18.2001-01-01_00:00:00.000000.img TARGET=${join(home, "x.img")}`, 5);
      assert.match(unknown.stderr, /hdisk18\.2001-01-01_00:00:00\.000000\.img/);
      await assert.rejects(stat(join(home, "x.img")), "no target file created");

      // A larger image file keeps its tail, and the restore says so.
      const larger = join(home, "larger.img");
      await writeFile(larger, Buffer.alloc(SMALL_MIB * MiB + 4096, 0x5a));
      const grown = await cli(home, backend, `clmgr restore backup_files latest DISK=hdisk18 TARGET=${larger}`);
      assert.match(grown.stderr, new RegExp(`Note: .*larger\\.img has ${SMALL_MIB * MiB + 4096} bytes, more than disk hdisk18 \\(${SMALL_MIB * MiB}\\).*truncate -s ${SMALL_MIB * MiB}`));

      const tooSmall = await cli(home, backend, `clmgr restore backup_files latest DISK=hdisk18 TARGET=${small}`, 3);
      assert.match(tooSmall.stderr, /smaller|too small/i);
      assert.deepEqual(await readFile(small), smallBefore, "too-small target untouched");

      // A disk of the volume group while its resource group is online is refused; offline, it is the
      // normal in-place recovery.
      const on = JSON.parse((await cli(home, backend, "clmgr online resource_group RG1 -o json")).stdout) as { state: string; node: string };
      assert.equal(on.state, "online");
      const live = await Promise.all(disks.map(sha256File));
      const online = await cli(home, backend, "clmgr restore backup_files latest DISK=hdisk18 TARGET=hdisk19", 3);
      assert.match(online.stderr, /hdisk19, a disk of volume group VG1 of resource group RG1, which is online on \S+: take it offline first \(clmgr offline resource_group RG1\).*Nothing was written/);
      assert.deepEqual(await Promise.all(disks.map(sha256File)), live, "the online disks are untouched");
      await cli(home, backend, "clmgr offline resource_group RG1");

      // A spare that is a source disk under another name (a symlink) would be overwritten by the copy.
      const sources = await Promise.all(disks.map(sha256File));
      await symlink(disks[1], join(home, "alias.img"));
      await cli(home, backend, `clmgr modify physical_volume hdisk21 DEVICE=${join(home, "alias.img")}`);
      const alias = await cli(home, backend, "clmgr backup backup_profile RG1", 3);
      assert.match(alias.stderr, /TARGET_DISKS: target hdisk21 .*alias\.img.* is the same device as source hdisk19/);
      assert.deepEqual(await Promise.all(disks.map(sha256File)), sources, "no source disk was written");
      await cli(home, backend, `clmgr modify physical_volume hdisk21 DEVICE=${spares[0]}`);

      const nice = await runCli(home, words("clmgr backup backup_profile RG1"), { env: { ...backend.env, CBM_WORKER_NICE: "high" } });
      assert.equal(nice.code, 3, nice.stderr);
      assert.match(nice.stderr, /CBM_WORKER_NICE="high" is not a nice increment: give a whole number from 0 .* to 19/);

      await cli(home, backend, `clmgr modify physical_volume hdisk18 DEVICE=${join(home, "missing.img")}`);
      const missing = await cli(home, backend, "clmgr backup backup_profile RG1", 4);
      assert.match(missing.stderr, /missing\.img/);
      // The first backup to a new place fails on the disk before it creates a repository or a key.
      const keyFiles = await readdir(join(home, "keys"));
      await cli(home, backend, `clmgr modify backup_profile RG1 ENDPOINT=${join(home, "fresh")}`);
      assert.match((await cli(home, backend, "clmgr backup backup_profile RG1", 4)).stderr, /missing\.img/);
      await assert.rejects(stat(join(home, "fresh")), "no repository created");
      assert.deepEqual(await readdir(join(home, "keys")), keyFiles, "no key file created");
      await cli(home, backend, `clmgr modify backup_profile RG1 ENDPOINT=${join(home, "store")}`);

      // A target the file system cannot grow to the disk's size (here a file size limit): refused, and
      // the file the restore created is removed again.
      const big = join(home, "big.img");
      const limited = await runCli(home, words(`clmgr restore backup_files latest DISK=hdisk19 TARGET=${big}`), { env: backend.env, fileSizeLimitKiB: 1024 });
      assert.equal(limited.code, 4, `${limited.stdout}\n${limited.stderr}`);
      assert.match(limited.stderr, /cannot open restore target .*big\.img for disk hdisk19: .*(EFBIG|too large)/);
      await assert.rejects(stat(big), "the created target is removed");

      await mkdir(join(home, "adir"));
      await chmod(join(home, "adir"), 0o700);
      await cli(home, backend, `clmgr modify physical_volume hdisk18 DEVICE=${join(home, "adir")}`);
      await cli(home, backend, "clmgr modify backup_profile RG1 TARGET_DISKS=");
      const unreadable = await cli(home, backend, "clmgr backup backup_profile RG1", 4);
      assert.match(unreadable.stderr, /adir/);

      // Words a command would ignore, unknown options, a disk mapped twice, a target name that is
      // neither a path nor a disk: refused. A target directory that does not exist: nothing created.
      await symlink(join(home, "gone.img"), join(home, "dangling.img"));
      const refused: Array<[string, number, RegExp]> = [
        ["clmgr query backup_files NOSUCHRG", 2, /takes no name; given "NOSUCHRG" \(for a resource group, RG_NAME=NOSUCHRG\)/],
        ["clmgr verify backup_files latest bogus", 2, /unexpected argument "bogus"/],
        ["clmgr query backup_files --frob", 2, /Unknown option "--frob"/],
        ["clmgr query backup_files RG_NAME=RG1 FOO=1", 3, /query backup_files does not take FOO\. Allowed: RG_NAME/],
        ["clmgr backup backup_profile RG1 NAME=RG2", 2, /Two names given/],
        ["clmgr query backup_files RG_NAME=", 2, /RG_NAME= is empty/],
        [`clmgr restore backup_files latest TARGETS=hdisk18:${join(home, "t1.img")},hdisk18:${join(home, "t2.img")}`, 2, /disk hdisk18 twice/],
        ["clmgr restore backup_files latest DISK=hdisk18 TARGET=relative.img", 3, /"relative\.img" is neither an absolute path nor a defined physical_volume/],
        [`clmgr restore backup_files latest TARGETS=hdisk18:${join(home, "c1.img")},hdisk19:${join(home, "nodir", "c2.img")}`, 3, /nodir is not writable.*nothing was written/],
        [`clmgr restore backup_files latest DISK=hdisk18 TARGET=${join(home, "dangling.img")}`, 3, /dangling\.img for disk hdisk18 is a symbolic link to .*gone\.img, which does not exist/],
      ];
      for (const [line, code, re] of refused) assert.match((await cli(home, backend, line, code)).stderr, re, line);
      for (const f of ["t1.img", "t2.img", "c1.img"]) await assert.rejects(stat(join(home, f)), `${f} not created`);
      // A key file others can read is used (a disaster's copy may have loose modes) but named.
      const keyFile = join(home, "keys", (await readdir(join(home, "keys")))[0]);
      await chmod(keyFile, 0o644);
      assert.match((await cli(home, backend, "clmgr query backup_files RG_NAME=RG1")).stderr, new RegExp(`Warning: key file ${keyFile} can be read or changed by other users \\(mode 0644\\); run chmod 600`));
      await chmod(keyFile, 0o600);
      // A profile that does not exist: refused, and no job history or notification for it.
      await cli(home, backend, "clmgr backup backup_profile RG9", 5);
      await cli(home, backend, "clmgr verify backup_profile RG9", 5);
      assert.match((await cli(home, backend, "clmgr query backup_jobs RG_NAME=RG9", 5)).stderr, /No backup_profile or job history named "RG9"/);
      // A secret in a URL is refused and not echoed; cbm.xml keeps none.
      const xmlBefore = await readFile(join(home, "cbm.xml"), "utf8");
      const secret = await cli(home, backend, "clmgr modify backup_profile RG1 CLOUD_SERVICE=s3 ENDPOINT=http://AKIAX:topsecret@127.0.0.1:9", 3);
      assert.match(secret.stderr, /ENDPOINT of backup_profile "RG1" holds credentials .*ACCESS_KEY_ENV and SECRET_KEY_ENV/);
      assert.doesNotMatch(secret.stderr, /topsecret/);
      assert.equal(await readFile(join(home, "cbm.xml"), "utf8"), xmlBefore);

      // export: never replaces a file, never writes into the repository, and an s3:// target needs an S3 repository.
      const notes = join(home, "notes.txt");
      await writeFile(notes, "operator notes\n");
      assert.match((await cli(home, backend, `clmgr export backup_files latest DISK=hdisk18 TARGET=${notes}`, 3)).stderr, /notes\.txt exists; export never replaces a file/);
      assert.equal(await readFile(notes, "utf8"), "operator notes\n");
      assert.match((await cli(home, backend, `clmgr export backup_files latest DISK=hdisk18 TARGET=${join(home, "store", "repo", "x.img")}`, 3)).stderr, /is inside the repository/);
      assert.match((await cli(home, backend, "clmgr export backup_files latest DISK=hdisk18 TARGET=s3://repo/config", 3)).stderr, /is an S3 location, but the repository is a directory/);
      // The machine refusing (no such directory) is a runtime failure with its message, not an internal error.
      assert.match((await cli(home, backend, `clmgr export backup_files latest DISK=hdisk18 TARGET=${join(home, "nodir", "x.img")}`, 4)).stderr, /ENOENT: no such file or directory.*nodir.*\[ENOENT\]/);
      const json = await cli(home, backend, "clmgr query backup_files RG_NAME=RG1 --output=json");
      assert.equal((JSON.parse(json.stdout) as FileRow[]).length, 2, "--output=json is JSON");

      // A repository location given on the command line that holds none is an error naming what to check, not an empty list.
      const nowhere = await cli(home, backend, `clmgr query backup_files CLOUD_SERVICE=fs ENDPOINT=${join(home, "nowhere")} BUCKET_NAME=bkt`, 5);
      assert.match(nowhere.stderr, /no CBM repository at .*nowhere.*check CLOUD_SERVICE, BUCKET_NAME, ENDPOINT/);

      assert.deepEqual(await backend.keys(), stored, "failed commands stored nothing");
      assert.equal((await backupFiles(home, backend)).length, 2);
    } finally {
      await cleanup();
    }
  });
});
