/**
 * SVC simulator, FlashCopy: the REDP-5651 walkthrough, the mapping/group state table of SVC-CLI.md
 * §3.1, CLI errors, and a true point-in-time copy while a host keeps writing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { field, parseConcise, SshSession, startSim, tempDir, waitFor } from "./helpers/sim.ts";
import { readVolume, volumePath, writeVolume } from "../src/sim/svc/hostio.ts";

const MiB = 1024 * 1024;

async function paperVolumes(s: SshSession): Promise<Record<string, string>> {
  for (const n of ["Node1_1", "Node1_2", "Node1_4", "Node1_5"]) await s.ok(`mkvdisk -mdiskgrp Pool0 -iogrp 0 -size 4 -unit mb -name ${n}`);
  await s.ok("mkhost -name Node1 -fcwwpn 1000001AA0570260");
  for (const n of ["Node1_1", "Node1_2", "Node1_4", "Node1_5"]) await s.ok(`mkvdiskhostmap -host Node1 ${n}`);
  const rows = parseConcise(await s.ok("lsvdisk -delim :"));
  return Object.fromEntries(rows.map((r) => [r.name, r.vdisk_UID]));
}

test("FlashCopy walkthrough of REDP-5651 and the group state table", async (t) => {
  const dir = tempDir(t);
  const sim = await startSim(t, { stateDir: dir, timing: { prepareMs: 500, stopMs: 500, fcCopyMs: 1500 } });
  const s = await SshSession.open(t, sim.port);
  const uids = await paperVolumes(s);

  const map = parseConcise(await s.ok("lshostvdiskmap -delim : Node1"));
  assert.deepEqual(map.map((r) => [r.id, r.name, r.SCSI_id, r.vdisk_name]), [
    ["0", "Node1", "0", "Node1_1"], ["0", "Node1", "1", "Node1_2"], ["0", "Node1", "2", "Node1_4"], ["0", "Node1", "3", "Node1_5"],
  ]);
  assert.match(await s.ok("lshostvdiskmap | grep -w Node1_4"), /Node1_4 +60050768/);

  assert.equal(await s.ok("mkfcconsistgrp -name sample_consistency_group"), "FlashCopy Consistency Group, id [1], successfully created\n");
  assert.equal(await field(s, "lsfcconsistgrp", "sample_consistency_group", "status"), "empty");
  await s.ok("mkfcmap -source Node1_1 -target Node1_4 -consistgrp sample_consistency_group");
  await s.ok("svctask mkfcmap -source Node1_2 -target Node1_5 -consistgrp sample_consistency_group -copyrate 100");
  const g = await s.ok("svcinfo lsfcconsistgrp sample_consistency_group");
  assert.match(g, /^id 1\nname sample_consistency_group\nstatus idle_or_copied\nautodelete off\nstart_time \n/);
  assert.match(g, /FC_mapping_id 0\nFC_mapping_name fcmap0\nFC_mapping_id 1\nFC_mapping_name fcmap1\n$/);
  assert.equal(await field(s, "lsfcmap", "fcmap0", "source_vdisk_name"), "Node1_1");
  assert.equal(await field(s, "lsfcmap", "fcmap0", "target_vdisk_name"), "Node1_4");

  // member maps cannot be driven on their own; a start needs a prepare (or -prep)
  await s.fails("startfcmap fcmap0", "CMMVC5903E");
  await s.fails("startfcconsistgrp sample_consistency_group", "CMMVC5903E");
  await s.ok("stopfcconsistgrp sample_consistency_group"); // no effect on idle_or_copied
  assert.equal(await field(s, "lsfcconsistgrp", "1", "status"), "idle_or_copied");

  // prestart: preparing → prepared (timed), stop from prepared → stopped
  await s.ok("prestartfcconsistgrp sample_consistency_group");
  assert.equal(await field(s, "lsfcconsistgrp", "1", "status"), "preparing");
  await s.fails("prestartfcconsistgrp sample_consistency_group", "CMMVC5903E");
  await waitFor("prepared", async () => ((await field(s, "lsfcconsistgrp", "1", "status")) === "prepared" ? true : undefined));
  await s.ok("stopfcconsistgrp sample_consistency_group");
  assert.equal(await field(s, "lsfcmap", "fcmap1", "status"), "stopped");
  await s.fails("stopfcconsistgrp sample_consistency_group", "CMMVC5912E");
  await s.fails("rmfcmap fcmap0", "CMMVC5903E"); // stopped needs -force
  await s.fails("startfcconsistgrp sample_consistency_group", "CMMVC5903E");

  // stopped → prestart → prepared → start → copying → idle_or_copied
  await s.ok("prestartfcconsistgrp sample_consistency_group");
  await waitFor("prepared", async () => ((await field(s, "lsfcconsistgrp", "1", "status")) === "prepared" ? true : undefined));
  await writeVolume(dir, uids.Node1_1, 0, Buffer.from("paper data"));
  await s.ok("startfcconsistgrp sample_consistency_group");
  const copying = parseConcise(await s.ok("lsfcmap -delim : -filtervalue group_name=sample_consistency_group"));
  assert.deepEqual(copying.map((r) => r.status), ["copying", "copying"]);
  assert.match(copying[0].start_time, /^\d{12}$/);
  await s.fails("startfcconsistgrp -prep sample_consistency_group", "CMMVC5907E");
  await s.fails("rmfcmap -force fcmap0", "CMMVC5903E");
  assert.equal((await readVolume(dir, uids.Node1_4, 0, 10)).toString(), "paper data");
  await waitFor("copied", async () => ((await field(s, "lsfcconsistgrp", "1", "status")) === "idle_or_copied" ? true : undefined));
  assert.equal(await field(s, "lsfcmap", "fcmap0", "progress"), "100");

  // copying → stop → stopping → stopped (progress < 100), then start -prep straight from stopped
  await s.ok("chfcmap -copyrate 0 fcmap0");
  await s.ok("chfcmap -copyrate 0 fcmap1");
  await s.ok("startfcconsistgrp -prep sample_consistency_group");
  assert.equal(await field(s, "lsfcconsistgrp", "1", "status"), "copying");
  await s.ok("stopfcconsistgrp sample_consistency_group");
  assert.equal(await field(s, "lsfcconsistgrp", "1", "status"), "stopping");
  await waitFor("stopped", async () => ((await field(s, "lsfcconsistgrp", "1", "status")) === "stopped" ? true : undefined));
  await s.ok("startfcconsistgrp -prep sample_consistency_group");
  await s.ok("stopfcconsistgrp sample_consistency_group");
  await waitFor("stopped", async () => ((await field(s, "lsfcconsistgrp", "1", "status")) === "stopped" ? true : undefined));

  // rmfcconsistgrp -force leaves the maps stand-alone; rmfcmap -force removes a stopped map
  await s.fails("rmfcconsistgrp sample_consistency_group", "CMMVC5946E");
  await s.ok("rmfcconsistgrp -force sample_consistency_group");
  assert.equal(await s.ok("lsfcconsistgrp"), "");
  assert.equal(await field(s, "lsfcmap", "fcmap0", "group_name"), "");
  await s.ok("rmfcmap -force fcmap0");
  await s.fails("lsfcmap fcmap0", "CMMVC5754E");
});

test("stand-alone FlashCopy map: state table, autodelete and CLI errors", async (t) => {
  const dir = tempDir(t);
  const sim = await startSim(t, { stateDir: dir, timing: { fcCopyMs: 200 } });
  const s = await SshSession.open(t, sim.port);
  await paperVolumes(s);
  await s.ok("mkvdisk -size 8 -unit mb -name big");

  // errors
  await s.fails("mkfcmap -source Node1_1 -target big", "CMMVC5924E");
  await s.fails("mkfcmap -source Node1_1 -target Node1_1", "CMMVC6303E");
  await s.fails("mkfcmap -source nosuch -target Node1_4", "CMMVC5754E");
  await s.fails("mkfcmap -source Node1_1", "CMMVC5707E");
  await s.fails("mkfcmap -source Node1_1 -target Node1_4 -bogus", "CMMVC5709E");
  await s.fails("mkvdisk -size 4 -name Node1_1", "CMMVC6035E");
  await s.fails("mkvdisk -size 4 -name 1abc", "CMMVC7249E");
  await s.fails("mkhost -name 'bad:name' -fcwwpn 1000001AA0570261", "CMMVC6527E");
  await s.fails("lsvdisk nosuch", "CMMVC5754E");
  await s.fails("rmvdisk nosuch", "CMMVC5753E");
  await s.fails("lsvdisk -filtervalue colour=red", "CMMVC5741E");
  await s.fails("lsvdisk -filtervalue name", "CMMVC5741E");
  await s.fails("stopfcmap", "CMMVC5701E");
  assert.equal((await s.run("nosuchcommand")).code, 127);

  assert.equal(await s.ok("mkfcmap -source Node1_1 -target Node1_4 -name snap -copyrate 0"), "FlashCopy Mapping, id [0], successfully created\n");
  await s.fails("mkfcmap -source Node1_1 -target Node1_4", "CMMVC6466E");
  await s.fails("rmvdisk Node1_4", "CMMVC5840E");
  assert.equal(await field(s, "lsvdisk", "Node1_4", "FC_name"), "snap");

  // idle_or_copied: stop is a no-op, start needs prep
  await s.ok("stopfcmap snap");
  await s.fails("startfcmap snap", "CMMVC5903E");
  await s.ok("prestartfcmap snap");
  assert.equal(await field(s, "lsfcmap", "snap", "status"), "prepared");
  await s.ok("startfcmap snap");
  // copy_rate 0 stays copying; raising it completes the copy
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await field(s, "lsfcmap", "snap", "status"), "copying");
  await s.ok("chfcmap -copyrate 150 -autodelete on snap");
  await waitFor("autodelete", async () => ((await s.ok("lsfcmap -delim :")) === "" ? true : undefined));

  // filters, wildcard, -nohdr, -bytes, -filtervalue?
  const rows = parseConcise(await s.ok('lsvdisk -delim : -bytes -filtervalue "name=Node1_*"'));
  assert.deepEqual(rows.map((r) => r.name), ["Node1_1", "Node1_2", "Node1_4", "Node1_5"]);
  assert.equal(rows[0].capacity, String(4 * MiB));
  assert.match(await s.ok("lsvdisk -nohdr -delim , -filtervalue name=big:capacity=8.00MB"), /^4,big,0,io_grp0,online,0,Pool0,8.00MB,striped,/);
  assert.match(await s.ok("lsvdisk -filtervalue?"), /^id\nname\n/);
  assert.equal(await s.ok("lsvdisk -filtervalue name=zzz"), "");
  await s.fails("lsvdisk -filtervalue name=big big", "CMMVC5713E");

  // the volume file is where the docs say and has the vdisk's size
  const uid = parseConcise(await s.ok("lsvdisk -delim : -filtervalue name=big"))[0].vdisk_UID;
  assert.equal(readFileSync(volumePath(dir, uid)).length, 8 * MiB);
  await s.ok("rmvdisk big");
});

test("FlashCopy is a point-in-time copy while a host keeps writing", async (t) => {
  const dir = tempDir(t);
  const sim = await startSim(t, { stateDir: dir, timing: { fcCopyMs: 100 } });
  const s = await SshSession.open(t, sim.port);
  await s.ok("mkvdisk -size 16 -unit mb -name src1");
  await s.ok("mkvdisk -size 16 -unit mb -name src2");
  await s.ok("mkvdisk -size 16 -unit mb -name tgt1");
  await s.ok("mkvdisk -size 16 -unit mb -name tgt2");
  const uid = Object.fromEntries(parseConcise(await s.ok("lsvdisk -delim :")).map((r) => [r.name, r.vdisk_UID]));
  await s.ok("mkfcconsistgrp -name pit");
  await s.ok("mkfcmap -source src1 -target tgt1 -consistgrp pit");
  await s.ok("mkfcmap -source src2 -target tgt2 -consistgrp pit");

  // the writer stamps a sequence number into both sources (8 bytes at a few offsets each round);
  // a consistent point in time shows the same number everywhere on both targets
  const offsets = [0, 5 * MiB + 17, 15 * MiB];
  let seq = 0;
  let stop = false;
  const writer = (async () => {
    while (!stop && seq < 100_000) {
      seq++;
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(seq));
      for (const name of ["src1", "src2"]) for (const o of offsets) await writeVolume(dir, uid[name], o, b);
    }
  })();
  await new Promise((r) => setTimeout(r, 100));
  await s.ok("startfcconsistgrp -prep pit");
  const seqAtStart = seq;
  await new Promise((r) => setTimeout(r, 150));
  stop = true;
  await writer;
  assert.ok(seq > seqAtStart, "the writer kept writing after the start");

  // dependent-write consistency: read in write order, the targets show a prefix of the write
  // sequence — round k for the first writes, round k-1 for the rest, never anything newer later
  const got: bigint[] = [];
  for (const name of ["tgt1", "tgt2"]) for (const o of offsets) got.push((await readVolume(dir, uid[name], o, 8)).readBigUInt64BE());
  const pit = got[0];
  assert.ok(pit > 0n && pit <= BigInt(seqAtStart), `point in time ${pit} taken before the start returned (${seqAtStart})`);
  const cut = got.findIndex((v) => v !== pit);
  if (cut >= 0) got.slice(cut).forEach((v) => assert.equal(v, pit - 1n, `targets ${got.join(",")} are not one point in time`));
  const now = (await readVolume(dir, uid.src1, 0, 8)).readBigUInt64BE();
  assert.ok(now > pit, "later writes stayed on the source");
});
