/**
 * The SVC driver against the simulator over real SSH: parsing, checked command lines (a bad value is
 * refused before any connection is even opened), host-key pinning, discovery, setup dry run and
 * idempotent apply, CMMVC errors, and a FlashCopy point in time.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { test, type TestContext } from "node:test";
import { addObject, modifyObject } from "../src/config/edit.ts";
import { loadConfig, updateConfig } from "../src/config/store.ts";
import { planProfile } from "../src/jobs/plan.ts";
import { setupProfile } from "../src/jobs/setup.ts";
import { svcPointInTime } from "../src/jobs/svc-snapshot.ts";
import { SvcCommandError } from "../src/storage/svc/client.ts";
import { openSvc, resolveAddress, withSvc } from "../src/storage/svc/connect.ts";
import { svcCommand, nm, SvcNameError } from "../src/storage/svc/names.ts";
import { planFlashCopy, planRemoteCopy } from "../src/storage/svc/setup-plan.ts";
import { parseCmmvc, parseConcise, parseCreatedId, parseDetailed, allOf } from "../src/storage/svc/parse.ts";
import { writeVolume, readVolume } from "../src/sim/svc/hostio.ts";
import { CbmError } from "../src/util/errors.ts";
import { clientKey, startSim, tempDir } from "./helpers/sim.ts";
import type { SvcSimulator } from "../src/sim/svc/server.ts";

test("parsers: concise by header, detailed with repeated keys, CMMVC and creation messages", () => {
  const rows = parseConcise("id!name!vdisk_UID!new_col\n0!Node1_1!6005AB!x\n1!Node1_2!6005AC!\n", "!");
  assert.deepEqual(rows[1], { id: "1", name: "Node1_2", vdisk_UID: "6005AC", new_col: "" });
  assert.deepEqual(parseConcise("", "!"), []);
  assert.throws(() => parseConcise("id!name!vdisk_UID\n0!Node1_1!6005AB\n1!Node1_2\n", "!"), /cut short: a row of 2 fields under a header of 3/);
  const d = parseDetailed("id!4\nname!fc_cg_1\nstatus!idle_or_copied\nstart_time!\nFC_mapping_id!6\nFC_mapping_name!fcmap2\nFC_mapping_id!7\nFC_mapping_name!fcmap3\n\ncopy_id!0\n", "!");
  assert.equal(d.fields.status, "idle_or_copied");
  assert.equal(d.fields.start_time, "");
  assert.deepEqual(allOf(d, "FC_mapping_name"), ["fcmap2", "fcmap3"]);
  assert.equal(d.fields.copy_id, undefined, "stops at the first blank line");
  assert.deepEqual(parseCmmvc("CMMVC5754E The specified object does not exist.\n"), { code: "CMMVC5754E", text: "The specified object does not exist." });
  assert.equal(parseCreatedId("FlashCopy Mapping, id [3], successfully created\n"), 3);
  assert.deepEqual(resolveAddress("127.0.0.1", "127.0.0.1:2222"), { host: "127.0.0.1", port: 2222 });
  assert.deepEqual(resolveAddress("10.0.0.1:2200", "127.0.0.1:2222"), { host: "10.0.0.1", port: 2200 });
  assert.deepEqual(resolveAddress("svc1", undefined), { host: "svc1", port: 22 });
});

test("command builder refuses anything that is not an SVC name, number or flag", () => {
  assert.equal(svcCommand("mkfcconsistgrp", "-name", nm("sample_consistency_group", "cg")).text, "mkfcconsistgrp -name sample_consistency_group");
  for (const bad of ["a b", "cg;rmvdisk", "$(id)", "x'y", 'x"y', "a|b", "-force", "1abc", "", "a`b`", "é", "x".repeat(64), "a\nb"]) {
    assert.throws(() => svcCommand("mkfcconsistgrp", "-name", nm(bad, "cg")), SvcNameError, JSON.stringify(bad));
  }
  assert.throws(() => svcCommand("mkfcconsistgrp", "rm -rf"), CbmError);
});

/** A TCP relay that counts connections: proof that nothing at all reached the storage. */
async function countingRelay(t: TestContext, port: number): Promise<{ port: number; count(): number }> {
  let n = 0;
  const socks = new Set<net.Socket>();
  const srv = net.createServer((c) => {
    n++;
    const up = net.connect(port, "127.0.0.1");
    socks.add(c).add(up);
    c.pipe(up).pipe(c);
    c.on("error", () => up.destroy());
    up.on("error", () => c.destroy());
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  t.after(() => {
    for (const s of socks) s.destroy();
    return new Promise<void>((r) => srv.close(() => r()));
  });
  const a = srv.address() as net.AddressInfo;
  return { port: a.port, count: () => n };
}

interface World {
  home: string;
  sim: SvcSimulator;
  stateDir: string;
  uids: Record<string, string>;
}

async function world(t: TestContext): Promise<World> {
  const root = tempDir(t, "cbm-svc-driver-");
  const stateDir = path.join(root, "svc");
  const home = path.join(root, "home");
  const sim = await startSim(t, { stateDir, systemName: "SVC_STORAGE_primary" });
  const ok = async (c: string) => {
    const r = await sim.exec(c);
    assert.equal(r.exitCode, 0, `${c}: ${r.stderr}`);
    return r.stdout;
  };
  await ok("mkhost -name Node1 -fcwwpn 10000000C9A10001 -force");
  for (const v of ["Node1_1", "Node1_2", "Node1_4", "Node1_5"]) {
    await ok(`mkvdisk -name ${v} -size 4 -unit mb -mdiskgrp Pool0 -iogrp io_grp0`);
    await ok(`mkvdiskhostmap -host Node1 ${v}`);
  }
  await ok("mkvdisk -name Other -size 8 -unit mb"); // a different size, never a target
  await ok("mkvdiskhostmap -host Node1 Other");
  const uids: Record<string, string> = {};
  for (const r of parseConcise(await ok("lsvdisk -delim :"), ":")) uids[r.name] = r.vdisk_UID;
  const keyFile = path.join(root, "id_ed25519");
  writeFileSync(keyFile, clientKey().private, { mode: 0o600 });
  const vol = (u: string) => path.join(stateDir, "volumes", `${u}.img`);
  await updateConfig(home, (c) => {
    addObject(c, "node", "Node1", []);
    addObject(c, "cluster", "r1r2m2p57_cluster", [["NODES", "Node1"]]);
    const pvs: Array<[string, string]> = [["hdisk18", "Node1_1"], ["hdisk19", "Node1_2"], ["hdisk21", "Node1_4"], ["hdisk22", "Node1_5"]];
    for (const [pv, v] of pvs) addObject(c, "physical_volume", pv, [["UUID", uids[v]], ["DEVICE", vol(uids[v])], ["SIZE", String(4 << 20)]]);
    addObject(c, "volume_group", "VG1", [["PHYSICAL_VOLUMES", "hdisk18,hdisk19"]]);
    addObject(c, "resource_group", "RG1", [["NODES", "Node1"], ["VOLUME_GROUP", "VG1"]]);
    addObject(c, "storage_system", "storage1", [["TYPE", "SVC"], ["ADDRESSES", `127.0.0.1:${sim.port}`], ["SSH_KEY", keyFile]]);
    addObject(c, "backup_profile", "RG1", [
      ["BACKUP_METHOD", "cloud"], ["REPLICATED_RESOURCES", "sample_consistency_group"], ["STORAGE_NAME", "storage1"],
      ["BUCKET_NAME", "pha-bucket"], ["VOLUME_GROUP", "VG1"], ["CLOUD_SERVICE", "fs"],
    ]);
  });
  return { home, sim, stateDir, uids };
}

test("setup never picks another host's volume as a copy target", () => {
  // One storage shared by our node and an ERP host: same-size, unused volumes mapped to each.
  const vd = (id: string, name: string, uid: string) => ({ id, name, uid, capacity: 1 << 30, fcMapCount: 0, rcName: "" });
  const view = {
    vdisks: [vd("0", "prod_data", "60050768000000000000000000000000"), vd("1", "erp_db_lun7", "60050768000000000000000000000001"), vd("2", "spare_node1", "60050768000000000000000000000002")],
    maps: [
      { hostId: "0", hostName: "Node1", vdiskId: "0", vdiskName: "prod_data", uid: "60050768000000000000000000000000" },
      { hostId: "1", hostName: "erp01", vdiskId: "1", vdiskName: "erp_db_lun7", uid: "60050768000000000000000000000001" },
      { hostId: "0", hostName: "Node1", vdiskId: "2", vdiskName: "spare_node1", uid: "60050768000000000000000000000002" },
    ],
  };
  const disks = [{ name: "hdisk18", uuid: "60050768000000000000000000000000" }];
  const plan = planFlashCopy("storage1", "Node1", "cg1", view, { maps: [] }, disks, [], new Set());
  assert.match(plan.steps.map((s) => s.command.text).join("\n"), /mkfcmap .*-target spare_node1/);
  // The storage calls our node "aixprod01": nothing is mapped to a host named Node1 any more.
  const renamed = { ...view, maps: view.maps.map((m) => (m.hostName === "Node1" ? { ...m, hostName: "aixprod01" } : m)) };
  assert.throws(() => planFlashCopy("storage1", "Node1", "cg1", renamed, { maps: [] }, disks, [], new Set()), (e: unknown) => {
    assert.ok(e instanceof CbmError && e.code === "CBM_SVC_NO_TARGET");
    assert.match(e.message, /has no host named Node1 .*volumes of other hosts never are/);
    return true;
  });
});

test("objects the storage named with spaces are sent by id, never quoted", () => {
  // A partner system still called "FlashSystem V9000" and volumes an administrator named "erp data…".
  const vd = (id: string, name: string, uid: string) => ({ id, name, uid, capacity: 1 << 30, fcMapCount: 0, rcName: "" });
  const map = (hostName: string, v: { id: string; name: string; uid: string }) => ({ hostId: "0", hostName, vdiskId: v.id, vdiskName: v.name, uid: v.uid });
  const source = vd("3", "erp data 1", "60050768000000000000000000000003");
  const spare = vd("7", "spare copy", "60050768000000000000000000000007");
  const aux = vd("12", "dr target", "60050768000000000000000000000012");
  const view = { vdisks: [source, spare], maps: [map("Node1", source), map("Node1", spare)] };
  const disks = [{ name: "hdisk18", uuid: source.uid }];
  const fc = planFlashCopy("storage1", "Node1", "cg1", view, { maps: [] }, disks, [], new Set());
  assert.deepEqual(fc.steps.map((s) => s.command.text).slice(-1), ["mkfcmap -source 3 -target 7 -consistgrp cg1"]);
  const auxView = { vdisks: [aux], maps: [map("Node2", aux)] };
  const rc = planRemoteCopy("storage1", "storage2", { id: "0000020321E0A85A", name: "FlashSystem V9000" }, "Node1", "cg2", view, auxView, { relationships: [] }, disks, [], new Set(), ["Node1", "Node2"]);
  assert.deepEqual(
    rc.steps.map((s) => s.command.text),
    ["mkrcconsistgrp -name cg2 -cluster 0000020321E0A85A", "mkrcrelationship -master 3 -aux 12 -cluster 0000020321E0A85A -consistgrp cg2 -global"],
  );
  assert.match(rc.steps[1].why, /hdisk18 \(erp data 1\) → FlashSystem V9000:dr target/, "what the operator reads keeps the names");
});

test("SVC driver over SSH", async (t) => {
  const w = await world(t);
  const keyOf = (line: string) => line.split(" ").slice(0, 2).join(" ");

  await t.test("host key: recorded on first use, a changed key is refused", async (tt) => {
    let cfg = await loadConfig(w.home);
    assert.equal(cfg.objects.find((o) => o.name === "storage1")!.attrs.HOST_KEY, undefined);
    await withSvc(w.home, cfg, "storage1", async (c) => assert.equal((await c.lssystem()).name, "SVC_STORAGE_primary"));
    cfg = await loadConfig(w.home);
    assert.equal(keyOf(cfg.objects.find((o) => o.name === "storage1")!.attrs.HOST_KEY), keyOf(w.sim.hostKeyPublic));
    // Another system (another host key) behind the same storage name.
    const other = await startSim(tt, { stateDir: tempDir(tt, "svc-other-"), systemName: "IMPOSTOR" });
    const moved = await updateConfig(w.home, (c) => modifyObject(c, "storage_system", "storage1", [["ADDRESSES", `127.0.0.1:${other.port}`]]));
    await assert.rejects(withSvc(w.home, moved, "storage1", async () => undefined), (e: CbmError) => {
      assert.equal(e.code, "CBM_SVC_HOST_KEY_CHANGED");
      assert.match(e.message, /CHANGED.*Refusing/s);
      return true;
    });
    await updateConfig(w.home, (c) => modifyObject(c, "storage_system", "storage1", [["ADDRESSES", `127.0.0.1:${w.sim.port}`]]));
  });

  await t.test("a profile value with shell characters or spaces is refused before anything is sent", async (tt) => {
    const relay = await countingRelay(tt, w.sim.port);
    const before = await w.sim.exec("lsfcconsistgrp -delim :");
    for (const bad of ["cg;rmvdisk -force Node1_1", "cg $(reboot)", "my group", "cg|lsvdisk"]) {
      const cfg = await updateConfig(w.home, (c) => {
        modifyObject(c, "storage_system", "storage1", [["ADDRESSES", `127.0.0.1:${relay.port}`]]);
        modifyObject(c, "backup_profile", "RG1", [["REPLICATED_RESOURCES", bad]]);
      });
      const plan = planProfile(w.home, cfg, "RG1");
      await assert.rejects(setupProfile(w.home, cfg, "RG1", { apply: true }), SvcNameError);
      await assert.rejects(svcPointInTime(w.home, cfg, plan, plan.vgs[0].disks), SvcNameError);
    }
    assert.equal(relay.count(), 0, "no connection was opened");
    assert.deepEqual(await w.sim.exec("lsfcconsistgrp -delim :"), before);
    await updateConfig(w.home, (c) => {
      modifyObject(c, "storage_system", "storage1", [["ADDRESSES", `127.0.0.1:${w.sim.port}`]]);
      modifyObject(c, "backup_profile", "RG1", [["REPLICATED_RESOURCES", "sample_consistency_group"]]);
    });
  });

  await t.test("discovery, setup dry run, apply, and a second run that changes nothing", async () => {
    const cfg = await loadConfig(w.home);
    const dry = await setupProfile(w.home, cfg, "RG1", { apply: false });
    assert.deepEqual(dry.steps.map((s) => s.command.text), [
      "mkfcconsistgrp -name sample_consistency_group",
      "mkfcmap -source Node1_1 -target Node1_4 -consistgrp sample_consistency_group",
      "mkfcmap -source Node1_2 -target Node1_5 -consistgrp sample_consistency_group",
    ]);
    assert.equal((await w.sim.exec("lsfcconsistgrp -delim :")).stdout, "", "a dry run changes nothing");
    const applied = await setupProfile(w.home, cfg, "RG1", { apply: true });
    assert.equal(applied.applied, true);
    const maps = parseConcise((await w.sim.exec("lsfcmap -delim :")).stdout, ":");
    assert.deepEqual(maps.map((m) => `${m.source_vdisk_name}>${m.target_vdisk_name}@${m.group_name}`), [
      "Node1_1>Node1_4@sample_consistency_group",
      "Node1_2>Node1_5@sample_consistency_group",
    ]);
    const again = await setupProfile(w.home, cfg, "RG1", { apply: true });
    assert.equal(again.steps.length, 0);
    assert.equal(again.applied, false);
    assert.equal(again.present.length, 3);
    assert.equal(parseConcise((await w.sim.exec("lsfcmap -delim :")).stdout, ":").length, 2);
  });

  await t.test("a CMMVC error carries its code", async () => {
    const cfg = await loadConfig(w.home);
    const { client } = await openSvc(w.home, cfg, cfg.objects.find((o) => o.name === "storage1")!);
    try {
      await assert.rejects(client.mkfcconsistgrp("sample_consistency_group"), (e: SvcCommandError) => e.cmmvc === "CMMVC6035E" && e.code === "CBM_SVC_COMMAND");
      assert.equal(await client.lsfcconsistgrp("no_such_group"), undefined);
    } finally {
      client.close();
    }
  });

  await t.test("FlashCopy point in time: targets hold the sources as of the start, twice", async () => {
    const cfg = await loadConfig(w.home);
    const plan = planProfile(w.home, cfg, "RG1");
    for (const round of [1, 2]) {
      await writeVolume(w.stateDir, w.uids.Node1_1, 0, Buffer.alloc(4096, round));
      await writeVolume(w.stateDir, w.uids.Node1_2, 8192, Buffer.alloc(4096, 10 + round));
      const pit = await svcPointInTime(w.home, cfg, plan, plan.vgs[0].disks);
      await writeVolume(w.stateDir, w.uids.Node1_1, 0, Buffer.alloc(4096, 99)); // after the point in time
      assert.deepEqual(pit.disks.map((d) => path.basename(d.readPath)), [`${w.uids.Node1_4}.img`, `${w.uids.Node1_5}.img`]);
      assert.equal((await readVolume(w.stateDir, w.uids.Node1_4, 0, 4096))[0], round);
      assert.equal((await readVolume(w.stateDir, w.uids.Node1_5, 8192, 4096))[4095], 10 + round);
      await pit.release();
    }
  });

  await t.test("a setup that fails part way names what it had done and what to do next", async () => {
    const cfg = await loadConfig(w.home);
    // Start from nothing set up (the tests above made the group and its maps).
    for (const c of ["stopfcconsistgrp sample_consistency_group", "rmfcmap -force 1", "rmfcmap -force 0", "rmfcconsistgrp -force sample_consistency_group"]) {
      const r = await w.sim.exec(c);
      assert.equal(r.exitCode, 0, `${c}: ${r.stderr}`);
    }
    // The second map's target disappears between the plan and its command (another administrator).
    const failed = await setupProfile(w.home, cfg, "RG1", {
      apply: true,
      onStep: async (text) => {
        if (text.includes("-target Node1_5")) assert.equal((await w.sim.exec("rmvdisk -force Node1_5")).exitCode, 0);
      },
    }).then(
      () => assert.fail("setup should fail"),
      (e: unknown) => e as CbmError,
    );
    assert.match(failed.message, /Done before it: mkfcconsistgrp -name sample_consistency_group; mkfcmap -source Node1_1 -target Node1_4 -consistgrp sample_consistency_group\./);
    assert.match(failed.message, /The outcome of "mkfcmap -source Node1_2 -target Node1_5 .*" may be unknown .*run the setup again/);
    assert.equal(parseConcise((await w.sim.exec("lsfcmap -delim :")).stdout, ":").length, 1, "the first map stays; nothing was undone behind the operator's back");
  });
});
