/**
 * The pacemaker cluster provider against Debian's real crm_mon (pacemaker-cli-utils), reading the
 * CIB from a file (CIB_file): RG1 on another node → no backup here; on this node → it runs.
 */
process.env.TZ = "UTC";
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { addObject, modifyObject } from "../src/config/edit.ts";
import { loadConfig, updateConfig } from "../src/config/store.ts";
import { ManualClock } from "../src/daemon/clock.ts";
import { Scheduler, type Runner } from "../src/daemon/scheduler.ts";
import { pacemakerProvider, parseCrmMon, providerFor } from "../src/cluster/provider.ts";
import type { BackupJobResult } from "../src/jobs/backup.ts";

const FIX = fileURLToPath(new URL("./fixtures/pacemaker/", import.meta.url));
const CIB1 = join(FIX, "cib-rg1-on-node1.xml");
const CIB2 = join(FIX, "cib-rg1-on-node2.xml");

function haveCrmMon(): boolean {
  try {
    execFileSync("crm_mon", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const SKIP = haveCrmMon() ? false : "crm_mon not found: install Debian package pacemaker-cli-utils (apt-get install pacemaker-cli-utils) to run the pacemaker provider tests";

test("parseCrmMon: group, primitive and split groups", () => {
  const xml = (body: string) => `<pacemaker-result><resources>${body}</resources></pacemaker-result>`;
  const r = (id: string, node: string, role = "Started") => `<resource id="${id}" role="${role}" active="true"><node name="${node}" id="1"/></resource>`;
  assert.equal(parseCrmMon(xml(`<group id="RG1">${r("a", "Node2")}</group>`), "RG1"), "Node2");
  assert.equal(parseCrmMon(xml(`<group id="RG1">${r("a", "Node1")}${r("b", "Node2")}</group>`), "RG1"), undefined);
  assert.equal(parseCrmMon(xml(`<group id="RG1">${r("a", "Node1")}${r("b", "Node1", "Stopped")}</group>`), "RG1"), undefined);
  assert.equal(parseCrmMon(xml(r("RG1", "Node1")), "RG1"), "Node1");
  assert.equal(parseCrmMon(xml(r("other", "Node1")), "RG1"), undefined);
});

test("crm_mon with CIB_file says where RG1 runs", { skip: SKIP }, async () => {
  assert.equal(await pacemakerProvider({ ...process.env, CIB_file: CIB1 }).whereOnline("RG1"), "Node1");
  assert.equal(await pacemakerProvider({ ...process.env, CIB_file: CIB2 }).whereOnline("RG1"), "Node2");
  assert.equal(await pacemakerProvider({ ...process.env, CIB_file: CIB2 }).whereOnline("RG9"), undefined);
});

test("scheduler with CLUSTER_PROVIDER=pacemaker: RG1 on Node2 → no backup on Node1; moved to Node1 → it runs", { skip: SKIP }, async () => {
  const home = await mkdtemp(join(tmpdir(), "cbm-pcmk-"));
  try {
    await updateConfig(home, (c) => {
      addObject(c, "node", "Node1", []);
      addObject(c, "node", "Node2", []);
      addObject(c, "cluster", "c1", [["NODES", "Node1,Node2"], ["CLUSTER_PROVIDER", "pacemaker"], ["LOCAL_NODE", "Node1"]]);
      addObject(c, "physical_volume", "hdisk1", [["DEVICE", "/dev/null"]]);
      addObject(c, "storage_system", "local1", [["TYPE", "local"]]);
      addObject(c, "volume_group", "VG1", [["PHYSICAL_VOLUMES", "hdisk1"]]);
      addObject(c, "resource_group", "RG1", [["NODES", "Node1,Node2"], ["VOLUME_GROUP", "VG1"]]);
      // The standalone view says Node1: the pacemaker provider must not look at it.
      modifyObject(c, "resource_group", "RG1", [["CURRENT_NODE", "Node1"]], true);
      addObject(c, "backup_profile", "RG1", [["BACKUP_METHOD", "cloud"], ["VOLUME_GROUP", "VG1"], ["STORAGE_NAME", "local1"], ["CLOUD_SERVICE", "fs"], ["BUCKET_NAME", "b"], ["BACKUP_SCHEDULE", "01:00"]]);
    });
    assert.equal(providerFor(await loadConfig(home)).name, "pacemaker");
    const clock = new ManualClock(Date.parse("2026-03-01T00:00"));
    const runs: string[] = [];
    const runner: Runner = async (r) => {
      runs.push(`${r.rg} ${r.type}`);
      return { id: "x", type: r.type, fileNames: [], bytesRead: 0, bytesStored: 0 } as unknown as BackupJobResult;
    };
    const env: NodeJS.ProcessEnv = { ...process.env, CIB_file: CIB2, CBM_NODE: "" };
    const events: string[] = [];
    const sched = new Scheduler({ home, clock, log: (_l, e, f) => events.push(`${e} ${String(f?.where ?? "")}`), runner, env });
    await sched.tick();
    clock.set(Date.parse("2026-03-01T01:00"));
    await sched.tick();
    await sched.idle();
    assert.deepEqual(runs, [], "RG1 is on Node2: nothing runs on Node1");
    assert.ok(events.includes("rg_not_here Node2"), events.join("\n"));
    env.CIB_file = CIB1;
    clock.set(Date.parse("2026-03-01T01:10"));
    await sched.tick();
    await sched.idle();
    assert.deepEqual(runs, ["RG1 full"], "RG1 moved to Node1: the missed full runs, once");
    assert.ok(events.includes("rg_online_here Node1"));
    await sched.tick();
    await sched.idle();
    assert.deepEqual(runs, ["RG1 full"]);
    await sched.stop();
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});
