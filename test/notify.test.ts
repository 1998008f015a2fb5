/**
 * NOTIFYMETHOD: documented arguments and environment on success and failure of real backups (the
 * scheduler with the real runBackupJob into an fs repository); a method that hangs is stopped at its
 * timeout, its process group killed, and the backup still counts as successful.
 */
process.env.TZ = "UTC";
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addObject, modifyObject } from "../src/config/edit.ts";
import { updateConfig } from "../src/config/store.ts";
import { ManualClock } from "../src/daemon/clock.ts";
import { Scheduler } from "../src/daemon/scheduler.ts";
import { JobHistory } from "../src/jobs/history.ts";
import { pidAlive } from "../src/util/proc.ts";
import { runNotify } from "../src/jobs/notify.ts";
import { makeDisk } from "./helpers/disks.ts";

async function site(home: string, notify: string): Promise<string> {
  const disk = join(home, "sda.img");
  await makeDisk(disk, 8, 7);
  await updateConfig(home, (c) => {
    addObject(c, "node", "Node1", []);
    addObject(c, "cluster", "c1", [["NODES", "Node1"]]);
    addObject(c, "physical_volume", "hdisk1", [["DEVICE", disk]]);
    addObject(c, "storage_system", "local1", [["TYPE", "local"]]);
    addObject(c, "volume_group", "VG1", [["PHYSICAL_VOLUMES", "hdisk1"]]);
    addObject(c, "resource_group", "RG1", [["NODES", "Node1"], ["VOLUME_GROUP", "VG1"]]);
    modifyObject(c, "resource_group", "RG1", [["CURRENT_NODE", "Node1"]], true);
    addObject(c, "backup_profile", "RG1", [
      ["BACKUP_METHOD", "cloud"], ["VOLUME_GROUP", "VG1"], ["STORAGE_NAME", "local1"], ["CLOUD_SERVICE", "fs"],
      ["ENDPOINT", join(home, "repos")], ["BUCKET_NAME", "repo"], ["BACKUP_SCHEDULE", "01:00"], ["INC_BACKUP_FREQ", "6"], ["NOTIFYMETHOD", notify],
      ["SECRET_KEY_ENV", "MY_SK"],
    ]);
  });
  return disk;
}

const SCRIPT = (out: string) => `#!/bin/sh
{
  echo "ARGS=$*"
  echo "CBM_EVENT=$CBM_EVENT"
  echo "CBM_CLUSTER=$CBM_CLUSTER"
  echo "CBM_RG=$CBM_RG"
  echo "CBM_BACKUP_TYPE=$CBM_BACKUP_TYPE"
  echo "CBM_BACKUP_ID=$CBM_BACKUP_ID"
  echo "CBM_BACKUP_FILES=$CBM_BACKUP_FILES"
  echo "CBM_ERROR=$CBM_ERROR"
  echo "MY_SK=$MY_SK"
  echo "--"
} >> ${out}
echo "notified $1"
`;

test("notify method: arguments and environment on backup success and failure", async () => {
  const home = await mkdtemp(join(tmpdir(), "cbm-notify-"));
  try {
    const out = join(home, "notify.out");
    const script = join(home, "notify.sh");
    await writeFile(script, SCRIPT(out));
    await chmod(script, 0o755);
    await site(home, script);
    const clock = new ManualClock(Date.parse("2026-03-01T00:30"));
    const logs: Array<Record<string, unknown>> = [];
    const sched = new Scheduler({ home, clock, log: (level, event, f) => logs.push({ level, event, ...f }), env: { ...process.env, CBM_NODE: "", MY_SK: "top-secret" } });
    await sched.tick();
    clock.set(Date.parse("2026-03-01T01:00"));
    await sched.tick();
    await sched.idle();
    const ok = (await readFile(out, "utf8")).split("--\n")[0];
    const hist = JobHistory.open(home);
    const row = hist.last("RG1")!;
    assert.equal(row.result, "success", row.error);
    assert.match(ok, /^ARGS=backup_success RG1$/m);
    assert.match(ok, /^CBM_EVENT=backup_success$/m);
    assert.match(ok, /^CBM_CLUSTER=c1$/m);
    assert.match(ok, /^CBM_RG=RG1$/m);
    assert.match(ok, /^CBM_BACKUP_TYPE=full$/m);
    assert.match(ok, new RegExp(`^CBM_BACKUP_ID=${row.backupId}$`, "m"));
    assert.match(ok, /^CBM_BACKUP_FILES=\S*hdisk1\S*$/m);
    assert.match(ok, /^MY_SK=$/m, "the variable the profile names as its secret key is not passed on");
    assert.ok(logs.some((l) => l.event === "notify" && String(l.output).includes("notified backup_success")), "the method's output is logged");

    // Failure: the disk disappears; the next incremental fails and the method hears why.
    await updateConfig(home, (c) => modifyObject(c, "physical_volume", "hdisk1", [["DEVICE", join(home, "gone.img")]]));
    clock.set(Date.parse("2026-03-01T07:00"));
    await sched.tick();
    await sched.idle();
    const failed = hist.last("RG1")!;
    hist.close();
    assert.equal(failed.result, "failed");
    assert.equal(failed.type, "incremental");
    const bad = (await readFile(out, "utf8")).split("--\n")[1];
    assert.match(bad, /^ARGS=backup_failure RG1$/m);
    assert.match(bad, /^CBM_EVENT=backup_failure$/m);
    assert.match(bad, /^CBM_BACKUP_TYPE=incremental$/m);
    assert.match(bad, /^CBM_ERROR=.*gone\.img/m);
    await sched.stop();
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test("a notify method that hangs is killed (with its children) at the timeout; the backup stays successful", async () => {
  const home = await mkdtemp(join(tmpdir(), "cbm-notify-"));
  try {
    const script = join(home, "hang.sh");
    const pidFile = join(home, "child.pid");
    await writeFile(script, `#!/bin/sh\nsleep 60 &\necho $! > ${pidFile}\nwait\n`);
    await chmod(script, 0o755);
    await site(home, script);
    const clock = new ManualClock(Date.parse("2026-03-01T00:30"));
    const logs: Array<Record<string, unknown>> = [];
    const sched = new Scheduler({ home, clock, notifyTimeoutMs: 800, log: (level, event, f) => logs.push({ level, event, ...f }), env: { ...process.env, CBM_NODE: "" } });
    await sched.tick();
    clock.set(Date.parse("2026-03-01T01:00"));
    const t0 = Date.now();
    await sched.tick();
    await sched.idle();
    const took = Date.now() - t0;
    assert.ok(took < 10_000, `the hanging method was stopped (${took} ms)`);
    const hist = JobHistory.open(home);
    assert.equal(hist.last("RG1")!.result, "success");
    hist.close();
    const n = logs.find((l) => l.event === "notify");
    assert.equal(n?.timedOut, true);
    assert.equal(n?.level, "warn");
    const child = Number(await readFile(pidFile, "utf8"));
    for (let i = 0; i < 40 && pidAlive(child); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(pidAlive(child), false, "the method's child (same process group) is gone too");
    await sched.stop();
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test("runNotify: a missing program is logged, never thrown", async () => {
  const dir = await mkdtemp(join(tmpdir(), "cbm-notify-"));
  await mkdir(dir, { recursive: true });
  const logs: string[] = [];
  const r = await runNotify(join(dir, "nope"), "backup_success", "RG1", {}, { log: (_l, e) => logs.push(e), timeoutMs: 1000 });
  assert.ok(r.error);
  assert.deepEqual(logs, ["notify"]);
  await rm(dir, { recursive: true, force: true });
});
