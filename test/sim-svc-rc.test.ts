/**
 * SVC simulator, remote copy between two partnered simulators (REDP-5651 "remote storage backup"):
 * partnership over a shared fabric directory, a Global Mirror consistency group reaching
 * consistent_synchronized with aux bytes equal to master, continuous mirroring, link loss when the
 * secondary stops or the partnership is stopped, and the relationship state table of SVC-CLI.md §3.2.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { field, parseConcise, SshSession, startSim, tempDir, waitFor } from "./helpers/sim.ts";
import { volumePath, writeVolume } from "../src/sim/svc/hostio.ts";

const MiB = 1024 * 1024;
const FAST = { rcTickMs: 50, rcBytesPerTick: 2 * MiB };

async function state(s: SshSession, verb: "lsrcconsistgrp" | "lsrcrelationship", obj: string): Promise<string> {
  return field(s, verb, obj, "state");
}

async function until(s: SshSession, verb: "lsrcconsistgrp" | "lsrcrelationship", obj: string, want: string, ms = 10_000): Promise<void> {
  await waitFor(`${obj} ${want}`, async () => ((await state(s, verb, obj)) === want ? true : undefined), ms);
}

const uidOf = async (s: SshSession, name: string): Promise<string> => field(s, "lsvdisk", name, "vdisk_UID");

test("Global Mirror between two simulators: sync, mirror, link loss, restart", async (t) => {
  const root = tempDir(t);
  const fabric = path.join(root, "fabric");
  const pDir = path.join(root, "primary");
  const sDir = path.join(root, "secondary");
  const prim = await startSim(t, { stateDir: pDir, systemName: "SVC_STORAGE_primary", fabricDir: fabric, timing: FAST });
  let sec = await startSim(t, { stateDir: sDir, systemName: "SVC_STORAGE_secondary", fabricDir: fabric, timing: FAST });
  const p = await SshSession.open(t, prim.port);
  let s = await SshSession.open(t, sec.port);

  await p.ok("mkvdisk -size 8 -unit mb -name Node1_1");
  await s.ok("mkvdisk -size 8 -unit mb -name Node2_1");
  await s.ok("mkvdisk -size 4 -unit mb -name small");
  const mUid = await uidOf(p, "Node1_1");
  const aUid = await uidOf(s, "Node2_1");

  // partnership: one side only is partially configured; both sides make it fully configured
  await p.ok("mkippartnership -type ipv4 -clusterip 127.0.0.1 -linkbandwidthmbits 100");
  let ps = parseConcise(await p.ok("lspartnership -delim :"));
  assert.deepEqual(ps.map((r) => [r.name, r.location, r.partnership]), [
    ["SVC_STORAGE_primary", "local", ""], ["SVC_STORAGE_secondary", "remote", "partially_configured_local"],
  ]);
  await p.fails("mkrcconsistgrp -name sample_remote_cg -cluster SVC_STORAGE_secondary", "CMMVC6117E");
  await s.ok("mkippartnership -type ipv4 -clusterip 127.0.0.1 -linkbandwidthmbits 100");
  ps = parseConcise(await p.ok("lspartnership -delim :"));
  assert.equal(ps[1].partnership, "fully_configured");
  const ip = parseConcise(await p.ok("lssystemip -delim :"));
  assert.deepEqual(ip.map((r) => [r.cluster_name, r.location]), [["SVC_STORAGE_primary", "local"], ["SVC_STORAGE_secondary", "remote"]]);

  // the paper's commands
  assert.equal(await p.ok("mkrcconsistgrp -name sample_remote_cg -cluster SVC_STORAGE_secondary"), "RC Consistency Group, id [0], successfully created\n");
  assert.equal(await field(p, "lsrcconsistgrp", "sample_remote_cg", "state"), "empty");
  await p.fails("mkrcrelationship -master Node1_1 -aux small -cluster SVC_STORAGE_secondary -global", "CMMVC5956E");
  await p.fails("mkrcrelationship -master Node1_1 -aux nosuch -cluster SVC_STORAGE_secondary", "CMMVC5754E");
  const vid = await field(p, "lsvdisk", "Node1_1", "id");
  assert.equal(
    await p.ok("mkrcrelationship -master Node1_1 -aux Node2_1 -cluster SVC_STORAGE_secondary -consistgrp sample_remote_cg -global"),
    `RC Relationship, id [${vid}], successfully created\n`,
  );
  const g = await p.ok("lsrcconsistgrp sample_remote_cg");
  assert.match(g, /\nprimary master\nstate inconsistent_stopped\nrelationship_count 1\n/);
  assert.match(g, /\ncopy_type global\ncycling_mode none\ncycle_period_seconds 300\nRC_rel_id \d+\nRC_rel_name rcrel0\n$/);
  const rel = await s.ok("lsrcrelationship -delim : rcrel0"); // visible from the secondary too
  assert.match(rel, /\nmaster_vdisk_name:Node1_1\n/);
  assert.match(rel, /\naux_vdisk_name:Node2_1\n/);
  assert.match(rel, /\nstate:inconsistent_stopped\nbg_copy_priority:50\nprogress:0\n/);
  assert.equal(await field(s, "lsvdisk", "Node2_1", "function"), "aux");
  assert.equal(parseConcise(await p.ok("lsrcrelationship -delim : -filtervalue RC_rel_name=rcrel0")).length, 1);
  await p.fails("startrcrelationship rcrel0", "CMMVC5951E");
  await p.fails("switchrcconsistgrp -primary aux sample_remote_cg", "CMMVC5982E");
  await p.fails("stoprcconsistgrp -access sample_remote_cg", "CMMVC5982E");

  // data on the master before the start
  await writeVolume(pDir, mUid, 0, Buffer.from("before start"));
  await writeVolume(pDir, mUid, 7 * MiB, Buffer.alloc(MiB, 0xab));
  await p.ok("startrcconsistgrp sample_remote_cg");
  await waitFor("copying with progress", async () => {
    const r = parseConcise(await p.ok("lsrcrelationship -delim :"))[0];
    return r.state === "inconsistent_copying" || r.state === "consistent_synchronized" ? r : undefined;
  });
  await until(p, "lsrcconsistgrp", "sample_remote_cg", "consistent_synchronized");
  const aux = (): Buffer => readFileSync(volumePath(sDir, aUid));
  const master = (): Buffer => readFileSync(volumePath(pDir, mUid));
  assert.ok(aux().equals(master()), "aux bytes equal master after the initial copy");
  assert.equal(await state(s, "lsrcconsistgrp", "sample_remote_cg"), "consistent_synchronized");

  // new writes are mirrored while synchronized
  await writeVolume(pDir, mUid, 3 * MiB + 5, Buffer.from("written later"));
  await waitFor("mirrored write", async () => (aux().equals(master()) ? true : undefined));

  // the secondary goes away: the primary's view leaves consistent_synchronized
  await s.close();
  await sec.stop();
  await until(p, "lsrcconsistgrp", "sample_remote_cg", "consistent_stopped");
  assert.match(await field(p, "lsrcconsistgrp", "sample_remote_cg", "freeze_time"), /^\d\d\/\d\d\/\d\d\/\d\d\/\d\d$/);
  assert.equal(parseConcise(await p.ok("lspartnership -delim :"))[1].partnership, "not_present");
  await p.fails("startrcconsistgrp sample_remote_cg", "CMMVC5982E");

  // the secondary comes back (same state dir): link restored, both halves stopped, plain start resyncs
  sec = await startSim(t, { stateDir: sDir, systemName: "SVC_STORAGE_secondary", fabricDir: fabric, timing: FAST });
  s = await SshSession.open(t, sec.port);
  assert.equal(await field(s, "lsvdisk", "Node2_1", "vdisk_UID"), aUid);
  await waitFor("link up", async () => (parseConcise(await p.ok("lspartnership -delim :"))[1].partnership === "fully_configured" ? true : undefined));
  assert.equal(await state(s, "lsrcconsistgrp", "sample_remote_cg"), "consistent_stopped");
  assert.equal(await field(p, "lsrcconsistgrp", "sample_remote_cg", "sync"), "in_sync");
  await writeVolume(pDir, mUid, 100, Buffer.from("while stopped"));
  assert.equal(await field(p, "lsrcconsistgrp", "sample_remote_cg", "sync"), "out_of_sync");
  await p.fails("startrcconsistgrp sample_remote_cg", "CMMVC5982E");
  await p.ok("startrcconsistgrp -force sample_remote_cg");
  await until(p, "lsrcconsistgrp", "sample_remote_cg", "consistent_synchronized");
  await waitFor("resynced", async () => (aux().equals(master()) ? true : undefined));

  // chpartnership -stop breaks the link as well: primary consistent_stopped, secondary disconnected
  await p.ok("chpartnership -stop SVC_STORAGE_secondary");
  await until(p, "lsrcconsistgrp", "sample_remote_cg", "consistent_stopped");
  assert.equal(await state(s, "lsrcconsistgrp", "sample_remote_cg"), "consistent_disconnected");
  assert.equal(parseConcise(await p.ok("lspartnership -delim :"))[1].partnership, "fully_configured_stopped");
  assert.equal(parseConcise(await s.ok("lspartnership -delim :"))[1].partnership, "fully_configured_remote_stopped");
  await p.ok("chpartnership -start SVC_STORAGE_secondary");
  await p.ok("startrcconsistgrp sample_remote_cg");
  await until(p, "lsrcconsistgrp", "sample_remote_cg", "consistent_synchronized");

  // disaster recovery: stop -access → idling; start needs a direction; switch and back
  await p.ok("switchrcconsistgrp -primary aux sample_remote_cg");
  assert.equal(await field(s, "lsrcconsistgrp", "sample_remote_cg", "primary"), "aux");
  await writeVolume(sDir, aUid, 0, Buffer.from("written on aux"));
  await waitFor("reverse mirror", async () => (aux().equals(master()) ? true : undefined));
  await p.ok("switchrcconsistgrp -primary master sample_remote_cg");
  await p.ok("stoprcconsistgrp -access sample_remote_cg");
  assert.equal(await state(p, "lsrcconsistgrp", "sample_remote_cg"), "idling");
  assert.equal(await field(p, "lsrcconsistgrp", "sample_remote_cg", "primary"), "");
  await p.fails("startrcconsistgrp sample_remote_cg", "CMMVC5963E");
  await p.ok("startrcconsistgrp -primary master sample_remote_cg");
  assert.equal(await state(p, "lsrcconsistgrp", "sample_remote_cg"), "consistent_synchronized");

  // rmpartnership also breaks the link; then clean up the RC objects
  await s.ok("rmpartnership SVC_STORAGE_primary");
  await until(p, "lsrcconsistgrp", "sample_remote_cg", "consistent_stopped");
  await p.fails("rmrcconsistgrp sample_remote_cg", "CMMVC5946E");
  await p.ok("rmrcconsistgrp -force sample_remote_cg");
  assert.equal(await field(p, "lsrcrelationship", "rcrel0", "consistency_group_name"), "");
  await p.fails("rmvdisk Node1_1", "CMMVC5840E");
  await p.ok("rmrcrelationship rcrel0");
  assert.equal(await p.ok("lsrcrelationship"), "");
  assert.equal(await field(s, "lsvdisk", "Node2_1", "RC_name"), "");
});

test("remote-copy relationship state table on one system (intra-system)", async (t) => {
  const dir = tempDir(t);
  const sim = await startSim(t, { stateDir: dir, systemName: "SVC_ONE", timing: FAST });
  const s = await SshSession.open(t, sim.port);
  await s.ok("mkvdisk -size 4 -unit mb -name m");
  await s.ok("mkvdisk -size 4 -unit mb -name a");
  await s.ok("mkvdisk -size 4 -unit mb -name m2");
  await s.ok("mkvdisk -size 4 -unit mb -name a2");
  const mUid = await uidOf(s, "m");
  const aUid = await uidOf(s, "a");
  await s.ok("mkrcrelationship -master m -aux a -cluster SVC_ONE -name r1");
  await s.fails("mkrcrelationship -master m -aux a2 -cluster SVC_ONE", "CMMVC5935E");
  await s.fails("mkrcrelationship -master m2 -aux a2 -cluster SVC_ONE -name r1", "CMMVC6035E");
  assert.equal(await field(s, "lsrcrelationship", "r1", "copy_type"), "metro");

  // inconsistent_stopped → start → inconsistent_copying → consistent_synchronized
  await writeVolume(dir, mUid, 12345, Buffer.from("metro"));
  await s.ok("startrcrelationship r1");
  await until(s, "lsrcrelationship", "r1", "consistent_synchronized");
  assert.ok(readFileSync(volumePath(dir, aUid)).equals(readFileSync(volumePath(dir, mUid))));
  assert.equal(await field(s, "lsrcrelationship", "r1", "progress"), "");
  await s.fails("startrcrelationship r1", "CMMVC5982E");

  // stop → consistent_stopped (in_sync) → start → synchronized
  await s.ok("stoprcrelationship r1");
  assert.equal(await state(s, "lsrcrelationship", "r1"), "consistent_stopped");
  assert.equal(await field(s, "lsrcrelationship", "r1", "sync"), "in_sync");
  await s.ok("startrcrelationship r1");
  assert.equal(await state(s, "lsrcrelationship", "r1"), "consistent_synchronized");

  // stop -access → idling; start -primary aux reverses the copy direction
  await s.ok("stoprcrelationship -access r1");
  assert.equal(await state(s, "lsrcrelationship", "r1"), "idling");
  await writeVolume(dir, aUid, 0, Buffer.from("aux side"));
  await s.fails("startrcrelationship r1", "CMMVC5963E");
  await s.fails("startrcrelationship -primary aux r1", "CMMVC5982E"); // written since: needs -force
  await s.ok("startrcrelationship -primary aux -force r1");
  await until(s, "lsrcrelationship", "r1", "consistent_synchronized");
  assert.equal(readFileSync(volumePath(dir, mUid)).subarray(0, 8).toString(), "aux side");

  // consistent_stopped → stop -access → idling; chrcrelationship one attribute at a time
  await s.ok("stoprcrelationship r1");
  await s.ok("stoprcrelationship -access r1");
  assert.equal(await state(s, "lsrcrelationship", "r1"), "idling");
  await s.fails("chrcrelationship -name x -global r1", "CMMVC5713E");
  await s.fails("chrcrelationship -noconsistgrp r1", "CMMVC6065E");
  await s.ok("mkrcconsistgrp -name cg");
  await s.ok("chrcrelationship -consistgrp cg r1");
  assert.equal(await state(s, "lsrcconsistgrp", "cg"), "idling");
  await s.ok("chrcrelationship -noconsistgrp r1");
  assert.equal(await state(s, "lsrcconsistgrp", "cg"), "empty");
  await s.fails("lsrcconsistgrp nosuch", "CMMVC5754E");
  await s.fails("stoprcconsistgrp nosuch", "CMMVC5753E");
  await s.ok("rmrcrelationship r1");
  await s.ok("rmrcconsistgrp cg");
});
