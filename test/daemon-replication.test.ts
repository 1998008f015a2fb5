/**
 * The replication monitor of remote_storage profiles: started once, polled, each state change logged,
 * notified (NOTIFYMETHOD) and exported as a metric. The storage side is injected (ReplicationOps).
 */
process.env.TZ = "UTC";
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addObject, modifyObject } from "../src/config/edit.ts";
import { updateConfig } from "../src/config/store.ts";
import { ManualClock } from "../src/daemon/clock.ts";
import { renderMetrics } from "../src/daemon/metrics.ts";
import { Scheduler } from "../src/daemon/scheduler.ts";

test("remote_storage: started once, polled, consistent_synchronized → consistent_stopped is logged, notified, exported", async () => {
  const home = await mkdtemp(join(tmpdir(), "cbm-repl-"));
  try {
    const out = join(home, "notify.out");
    const script = join(home, "n.sh");
    await writeFile(script, `#!/bin/sh\necho "$1 $2 $CBM_PREVIOUS_STATE>$CBM_REPLICATION_STATE" >> ${out}\n`);
    await chmod(script, 0o755);
    await updateConfig(home, (c) => {
      addObject(c, "node", "Node1", []);
      addObject(c, "cluster", "c1", [["NODES", "Node1"]]);
      addObject(c, "physical_volume", "hdisk1", [["DEVICE", "/dev/null"]]);
      addObject(c, "storage_system", "st1", [["TYPE", "local"]]);
      addObject(c, "storage_system", "st2", [["TYPE", "local"]]);
      addObject(c, "volume_group", "VG1", [["PHYSICAL_VOLUMES", "hdisk1"]]);
      addObject(c, "resource_group", "RG1", [["NODES", "Node1"], ["VOLUME_GROUP", "VG1"]]);
      modifyObject(c, "resource_group", "RG1", [["CURRENT_NODE", "Node1"]], true);
      addObject(c, "backup_profile", "RG1", [["BACKUP_METHOD", "remote_storage"], ["VOLUME_GROUP", "VG1"], ["STORAGE_NAME", "st1,st2"], ["REPLICATED_RESOURCES", "rccg1"], ["NOTIFYMETHOD", script]]);
    });
    const states = ["inconsistent_copying", "consistent_synchronized", "consistent_synchronized", "consistent_stopped"];
    const calls: string[] = [];
    const clock = new ManualClock(Date.parse("2026-03-01T00:00"));
    const logs: string[] = [];
    const sched = new Scheduler({
      home,
      clock,
      log: (_l, e, f) => logs.push(`${e} ${String(f?.state ?? "")}`),
      env: { ...process.env, CBM_NODE: "" },
      replicationPollMs: 60_000,
      replication: {
        start: async () => (calls.push("start"), { state: states[0] }),
        status: async () => (calls.push("status"), { state: states[calls.length - 1] }),
      },
    });
    for (let i = 0; i < 8; i++) {
      await sched.tick();
      clock.advance(30_000);
    }
    assert.deepEqual(calls, ["start", "status", "status", "status"], "started once, polled every 60 s");
    assert.deepEqual(logs.filter((l) => l.startsWith("replication_state")), [
      "replication_state inconsistent_copying", "replication_state consistent_synchronized", "replication_state consistent_stopped",
    ]);
    assert.deepEqual((await readFile(out, "utf8")).trim().split("\n"), [
      "replication_state_change RG1 inconsistent_copying>consistent_synchronized",
      "replication_state_change RG1 consistent_synchronized>consistent_stopped",
    ]);
    const text = renderMetrics(sched.history, sched.profiles(), sched.replication);
    assert.match(text, /^cbm_replication_state\{rg="RG1",state="consistent_stopped"\} 1$/m);
    assert.match(text, /^cbm_replication_state\{rg="RG1",state="consistent_synchronized"\} 0$/m);
    await sched.stop();
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});
