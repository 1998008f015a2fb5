/**
 * Plain-image export: `clmgr export backup_files` writes one disk of a backup as one ordinary S3
 * object (multipart upload), so the paper's procedure works without CBM: the AWS CLI downloads it,
 * dd writes it, and the disk is byte-identical to the disk at the time of the backup. A damaged chunk
 * aborts the export and leaves no object; export to a file works the same way.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { lstat, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, tempHome, words } from "./helpers/cli.ts";
import { makeDisk, mutateDisk, sha256File } from "./helpers/disks.ts";
import { startS3rver, type S3rver } from "./helpers/s3.ts";
import { S3ObjectStore } from "../src/objectstore/s3.ts";
import { createKeyFile, exportDisk, Repository } from "../src/repo/index.ts";
import { flipChunkByte } from "./helpers/chunks.ts";

const DISK_MIB = 40; // 5 parts of 8 MiB: a real multipart upload

/** The AWS CLI, installed from Debian (package awscli) when missing and we may; undefined otherwise. */
function awsCli(): string | undefined {
  const has = () => spawnSync("aws", ["--version"], { encoding: "utf8" }).status === 0;
  if (has()) return "aws";
  if (process.getuid?.() === 0) {
    spawnSync("apt-get", ["install", "-y", "-q", "awscli"], { stdio: "ignore", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, timeout: 120_000 });
    if (has()) return "aws";
  }
  return undefined;
}

describe("plain-image export", () => {
  let s3: S3rver;
  let work: string;
  before(async () => {
    s3 = await startS3rver();
    work = await mkdtemp(join(tmpdir(), "cbm-dr-export-"));
  });
  after(async () => {
    await s3?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test("export to s3://, AWS CLI download, dd: byte-identical to the disk at backup time; damaged chunk leaves no object; export to a file", async (t) => {
    const mkStore = (bucket: string) =>
      new S3ObjectStore({ bucket, endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    const store = mkStore("dr-export-repo");
    await store.ensureBucket();
    const exportsStore = mkStore("dr-exports");
    await exportsStore.ensureBucket();
    const keyFile = join(work, "repo.key");
    await createKeyFile(keyFile);
    const repo = await Repository.init(store, { encryption: { keyFile } });
    const disk = join(work, "hdisk18.img");
    await makeDisk(disk, DISK_MIB, 51);
    const atBackup = await sha256File(disk);
    await repo.backup({ type: "full", meta: { cluster: "c1", rg: "RG1", node: "n1" }, vgs: [{ name: "VG1", disks: [{ name: "hdisk18", path: disk }, { name: "hdisk19", path: disk }] }], compression: true });
    await mutateDisk(disk, 30, 52); // the disk moves on; the export must be the backup's image

    const fresh = await tempHome("cbm-dr-export-home-");
    try {
      const attrs = `BUCKET_NAME=dr-export-repo CLOUD_SERVICE=s3 ENDPOINT=${s3.endpoint} ACCESS_KEY_ENV=T_AK SECRET_KEY_ENV=T_SK REPO_KEY=file:${keyFile}`;
      const r = await runCli(fresh.home, words(`clmgr export backup_files latest DISK=hdisk18 TARGET=s3://dr-exports/restore/hdisk18.img ${attrs} -o json`), {
        env: { T_AK: s3.accessKeyId, T_SK: s3.secretAccessKey },
        timeoutMs: 60_000,
      });
      assert.equal(r.code, 0, r.stderr);
      const summary = JSON.parse(r.stdout) as { target: string; sha256: string; size: number };
      assert.equal(summary.target, "s3://dr-exports/restore/hdisk18.img");
      assert.equal(summary.sha256, atBackup);
      assert.equal((await exportsStore.head("restore/hdisk18.img"))?.size, DISK_MIB * 1024 * 1024);
      const usage = await runCli(fresh.home, words(`clmgr export backup_files latest TARGET=s3://dr-exports/x.img ${attrs}`), { env: { T_AK: s3.accessKeyId, T_SK: s3.secretAccessKey } });
      assert.equal(usage.code, 2, "two disks: DISK= is needed");
      assert.match(usage.stderr, /give DISK=/);
      // Never over the repository's own objects: the image written as `config` would make every backup unreadable.
      const over = await runCli(fresh.home, words(`clmgr export backup_files latest DISK=hdisk18 TARGET=s3://dr-export-repo/config ${attrs}`), { env: { T_AK: s3.accessKeyId, T_SK: s3.secretAccessKey } });
      assert.equal(over.code, 3, over.stderr);
      assert.match(over.stderr, /TARGET=s3:\/\/dr-export-repo\/config would overwrite the repository's own objects \(config\)/);
      assert.equal((await repo.listBackups()).length, 1, "the repository is intact");
    } finally {
      await fresh.cleanup();
    }

    // The paper's procedure, with the AWS CLI instead of boto3: download, dd, compare.
    const aws = awsCli();
    if (!aws) {
      t.diagnostic("AWS CLI not available (not installed, and not root to apt-get install awscli): download step skipped");
    } else {
      const cfg = join(work, "aws-config");
      await writeFile(cfg, "[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n");
      const env = {
        ...process.env,
        AWS_CONFIG_FILE: cfg,
        AWS_SHARED_CREDENTIALS_FILE: join(work, "no-credentials"),
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        AWS_REQUEST_CHECKSUM_CALCULATION: "when_required",
        AWS_RESPONSE_CHECKSUM_VALIDATION: "when_required",
      };
      const dl = join(work, "downloaded.img");
      const cp = spawnSync(aws, ["s3", "cp", "--endpoint-url", s3.endpoint, "s3://dr-exports/restore/hdisk18.img", dl], { env, encoding: "utf8", timeout: 60_000 });
      assert.equal(cp.status, 0, `aws s3 cp: ${cp.stdout}\n${cp.stderr}`);
      const target = join(work, "spare-disk.img");
      const dd = spawnSync("dd", [`if=${dl}`, `of=${target}`, "bs=1M", "conv=fsync"], { encoding: "utf8", timeout: 60_000 });
      assert.equal(dd.status, 0, dd.stderr);
      assert.equal(await sha256File(target), atBackup, "dd-written disk is byte-identical to the disk at backup time");
    }

    // Export to a file, in-process; then a damaged chunk aborts an export and leaves no object.
    const m = await repo.findBackup("latest");
    const file = join(work, "exported.img");
    await exportDisk(repo, m, m.vgs[0].disks[0], file);
    assert.equal(await sha256File(file), atBackup);
    // A target that exists and is not a file (a device node; here a FIFO) is refused, not replaced by a file.
    const fifo = join(work, "fifo");
    assert.equal(spawnSync("mkfifo", [fifo]).status, 0);
    await assert.rejects(exportDisk(repo, m, m.vgs[0].disks[0], fifo), /fifo exists and is not a regular file/);
    assert.ok((await lstat(fifo)).isFIFO(), "the FIFO is still there");
    const first = m.vgs[0].disks[0].chunks.find((c) => c !== null)!;
    await flipChunkByte(store, first);
    await assert.rejects(exportDisk(repo, m, m.vgs[0].disks[0], { store: exportsStore, key: "restore/broken.img" }), /chunk|integrity|authenticat/i);
    assert.equal(await exportsStore.head("restore/broken.img"), undefined, "no partial object");
    await assert.rejects(exportDisk(repo, m, m.vgs[0].disks[0], join(work, "broken.img")));
    await assert.rejects(sha256File(join(work, "broken.img")), "no partial file");
    await repo.close();
  });
});
