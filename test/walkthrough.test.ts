/**
 * The paper's walkthrough (REDP-5651), as a user runs it, against the lab: storage systems added with
 * the paper's command lines, the FlashCopy objects made by hand over SSH, the paper's cloud profile
 * line verbatim, a backup taken while the host keeps writing, the backup files listed with the paper's
 * names, a restore that holds exactly one point in time; then the remote-copy steps, the paper's
 * remote profile line verbatim, and replication to consistent_synchronized.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { readVolume, writeVolume } from "../src/sim/svc/hostio.ts";
import { parseAttrLines, words } from "./helpers/cli.ts";
import { startLab } from "./helpers/lab.ts";
import { parseConcise, parseDetailed, SshSession, waitFor } from "./helpers/sim.ts";

const BLOCK = 64 * 1024;
const BLOCKS = 16; // per disk: the first MiB carries the generation pattern
const WRITE_ORDER = ["hdisk18", "hdisk19"] as const;

const genBlock = (g: number) => {
  const b = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i += 4) b.writeUInt32LE(g, i);
  return b;
};

/** The generation of a uniform block, or throws (a torn block is not a point in time). */
function genOf(b: Buffer, where: string): number {
  const g = b.readUInt32LE(0);
  for (let i = 0; i < b.length; i += 4) if (b.readUInt32LE(i) !== g) throw new Error(`${where}: torn block`);
  return g;
}

test("the paper's walkthrough on the lab", { timeout: 120_000 }, async (t) => {
  const lab = await startLab(t, 8);
  const ok = async (args: string[], prog: "clmgr" | "cbm" = "clmgr") => {
    const r = await lab.cli(args, prog);
    assert.equal(r.code, 0, `${args.join(" ")}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout + r.stderr;
  };
  const primary = lab.storage("storage1");
  const stateDir = primary.stateDir;
  const uid = (h: string) => lab.disk(h).uid;

  // Step 2: the storage systems, as the paper adds them (ADDRESSES=127.0.0.1 through ssh_endpoints.json).
  const added = await ok(words("clmgr add storage_system storage1 TYPE=SVC ADDRESSES=127.0.0.1 USER=admin BACKUP_PROFILE=true"));
  assert.match(added, /Connected to SVC_STORAGE_primary/);
  assert.match(added, /Node1_1 .* = hdisk18/);
  assert.match(await ok(words("clmgr add storage_system storage2 TYPE=SVC ADDRESSES=127.0.0.1 USER=admin BACKUP_PROFILE=true")), /SVC_STORAGE_secondary/);
  assert.match(parseAttrLines(await ok(["query", "storage_system", "storage1"])).HOST_KEY, /^ssh-ed25519 /);

  // Step 3: the manual FlashCopy steps over SSH.
  const ssh = await SshSession.open(t, primary.port, { privateKey: primary.privateKey });
  // The paper's `lshostvdiskmap | grep -w <hostname>` (grep drops the header line).
  assert.equal((await ssh.ok("lshostvdiskmap | grep -w Node1")).trim().split("\n").length, 4);
  const rows = parseConcise(await ssh.ok("lshostvdiskmap -delim : Node1"), ":");
  for (const h of ["hdisk18", "hdisk19", "hdisk21", "hdisk22"]) {
    const r = rows.find((x) => x.vdisk_UID === uid(h));
    assert.equal(r?.vdisk_name, lab.disk(h).vdisk, `${h}'s UUID matches a volume mapped to Node1`);
  }
  await ssh.ok("mkfcconsistgrp -name sample_consistency_group");
  await ssh.ok("mkfcmap -source Node1_1 -target Node1_4 -consistgrp sample_consistency_group");
  await ssh.ok("mkfcmap -source Node1_2 -target Node1_5 -consistgrp sample_consistency_group");
  assert.match(await ssh.ok("lsfcconsistgrp"), /sample_consistency_group/);
  assert.equal(parseConcise(await ssh.ok("lsfcmap -delim :"), ":").filter((m) => m.group_name === "sample_consistency_group").length, 2);

  // Step 4: the paper's cloud profile line, verbatim.
  await ok(words(
    "clmgr add backup_profile RG1 ENABLE_BACKUP=yes BACKUP_METHOD=cloud REPLICATED_RESOURCES=sample_consistency_group STORAGE_NAME=storage1 BUCKET_NAME=pha-bucket TARGET_LOCATION=/tmp VOLUME_GROUP=VG1 BACKUP_SCHEDULE=17:30",
  ));
  const prof = parseAttrLines(await ok(["query", "backup_profile", "RG1"]));
  assert.equal(prof.ENDPOINT, lab.status.s3.endpoint);
  assert.match(await ok(["setup", "backup_profile", "RG1"]), /Nothing to do/);

  // Steps 6–8: a backup while the host keeps writing generations to both disks.
  let gen = 1;
  const writeGen = async (g: number) => {
    for (const h of WRITE_ORDER) for (let b = 0; b < BLOCKS; b++) await writeVolume(stateDir, uid(h), b * BLOCK, genBlock(g));
  };
  await writeGen(gen);
  let writing = true;
  const writer = (async () => {
    while (writing && gen < 100_000) await writeGen(++gen);
  })();
  await new Promise((r) => setTimeout(r, 100));
  const genBefore = gen - 1; // fully written before the backup command started
  const backup = lab.cli(words("clmgr backup backup_profile RG1"));
  const br = await backup;
  const genAfter = gen;
  writing = false;
  await writer;
  assert.equal(br.code, 0, br.stderr);
  assert.match(br.stdout + br.stderr, /startfcconsistgrp -prep sample_consistency_group/);

  const listing = await ok(words("clmgr query backup_files RG_NAME=RG1"));
  const names = listing.match(/r1r2m2p57_cluster_RG1_VG1_hdisk1[89]\.\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d\.\d{6}\.img/g) ?? [];
  assert.equal(names.length, 2, listing);

  // Restore both disks to files; together they must show ONE point in time across the group.
  const seq: number[] = [];
  for (const h of WRITE_ORDER) {
    const name = names.find((n) => n.includes(`_${h}.`))!;
    const target = join(lab.home, `restore-${h}.img`);
    execFileSync("truncate", ["-s", String(lab.status.diskBytes), target]);
    await ok(["restore", "backup_files", name, `TARGET=${target}`]);
    const img = readFileSync(target);
    for (let b = 0; b < BLOCKS; b++) seq.push(genOf(img.subarray(b * BLOCK, (b + 1) * BLOCK), `${h} block ${b}`));
    assert.ok(img.subarray(BLOCKS * BLOCK).every((x) => x === 0), "the rest of the disk is as written (zero)");
  }
  const hi = seq[0];
  const cut = seq.findIndex((g) => g !== hi);
  const lo = cut < 0 ? hi : seq[cut];
  assert.ok(cut < 0 || (lo === hi - 1 && seq.slice(cut).every((g) => g === lo)), `one point in time across both disks: ${seq.join(",")}`);
  assert.ok(lo >= genBefore && hi <= genAfter, `point in time within the backup run: ${genBefore} <= ${lo}..${hi} <= ${genAfter}`);
  t.diagnostic(`restored generation ${hi} (writes ran ${genBefore}..${genAfter} during the backup)`);

  // Remote storage: the paper's remote-copy steps, by hand over SSH.
  await ssh.ok("mkrcconsistgrp -name sample_remote_cg -cluster SVC_STORAGE_secondary");
  await ssh.ok("mkrcrelationship -master Node1_1 -aux Node2_1 -cluster SVC_STORAGE_secondary -consistgrp sample_remote_cg -global");
  assert.equal(parseDetailed(await ssh.ok("lsrcconsistgrp -delim : sample_remote_cg"), ":").state, "inconsistent_stopped");
  await ok(words("clmgr delete backup_profile RG1"));
  await ok(words(
    "clmgr add backup_profile RG1 ENABLE_BACKUP=yes BACKUP_METHOD=remote_storage REPLICATED_RESOURCES=sample_remote_cg STORAGE_NAME=storage1, storage2 VOLUME_GROUP=VG1",
  ));
  const q0 = parseAttrLines(await ok(["query", "backup_profile", "RG1"]));
  assert.equal(q0.REPLICATION_STATE, "inconsistent_stopped");
  assert.equal(q0.REPLICATION_UNCOVERED, "hdisk19", "the hand-made group replicates only hdisk18");
  const started = await ok(["start", "backup_profile", "RG1", "WAIT=yes", "TIMEOUT=60"]);
  assert.match(started, /consistent_synchronized/);
  const q1 = parseAttrLines(await ok(["query", "backup_profile", "RG1"]));
  assert.equal(q1.REPLICATION_STATE, "consistent_synchronized");
  assert.equal(q1.REPLICATION_PROGRESS, "100");
  const aux = lab.storage("storage2");
  await waitFor("aux volume equals master", async () => {
    const m = await readVolume(stateDir, uid("hdisk18"), 0, lab.status.diskBytes);
    const a = await readVolume(aux.stateDir, uid("hdisk30"), 0, lab.status.diskBytes);
    return m.equals(a) ? true : undefined;
  }, 15_000, 100);

  // Someone else's client against what we run: OpenSSH to the lab's storage.
  const hasSsh = spawnSync("ssh", ["-V"]).status === 0;
  if (hasSsh) {
    const r = spawnSync("ssh", [
      "-p", String(primary.port), "-i", primary.keyPath, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
      "-o", "BatchMode=yes", "admin@127.0.0.1", "lsvdisk", "-delim", ":",
    ], { encoding: "utf8", timeout: 15_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^id:name:/);
    assert.match(r.stdout, /:Node1_1:/);
  } else t.diagnostic("no OpenSSH client here; skipped the ssh check");
});
