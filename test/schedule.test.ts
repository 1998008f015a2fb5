/**
 * Schedules (the paper's Figure 5): the pure decision, and the scheduler loop over ten simulated
 * days with an injected clock and a recording runner (the runner is the only fake).
 */
process.env.TZ = "UTC";
import { spawn } from "node:child_process";
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addObject, modifyObject } from "../src/config/edit.ts";
import { updateConfig } from "../src/config/store.ts";
import { ManualClock, formatLocal } from "../src/daemon/clock.ts";
import { decide, HOUR } from "../src/daemon/schedule.ts";
import { Scheduler, type Runner } from "../src/daemon/scheduler.ts";
import type { BackupJobResult } from "../src/jobs/backup.ts";
import { JobHistory } from "../src/jobs/history.ts";

const T = (s: string) => Date.parse(s); // local (TZ=UTC) without offset
const MIN = 60_000;

async function site(home: string, profiles: Array<[string, Array<[string, string]>]>): Promise<void> {
  await updateConfig(home, (c) => {
    addObject(c, "node", "Node1", []);
    addObject(c, "cluster", "c1", [["NODES", "Node1"]]);
    addObject(c, "physical_volume", "hdisk1", [["DEVICE", "/dev/null"]]);
    addObject(c, "storage_system", "local1", [["TYPE", "local"]]);
    for (const [rg, attrs] of profiles) {
      addObject(c, "volume_group", `VG_${rg}`, [["PHYSICAL_VOLUMES", "hdisk1"]]);
      addObject(c, "resource_group", rg, [["NODES", "Node1"], ["VOLUME_GROUP", `VG_${rg}`]]);
      modifyObject(c, "resource_group", rg, [["CURRENT_NODE", "Node1"]], true);
      addObject(c, "backup_profile", rg, [
        ["BACKUP_METHOD", "cloud"], ["VOLUME_GROUP", `VG_${rg}`], ["STORAGE_NAME", "local1"],
        ["CLOUD_SERVICE", "fs"], ["BUCKET_NAME", "b"], ...attrs,
      ]);
    }
  });
}

const setOnline = (home: string, rg: string, node: string) =>
  updateConfig(home, (c) => modifyObject(c, "resource_group", rg, [["CURRENT_NODE", node]], true));

function recordingRunner(clock: ManualClock, calls: string[]): Runner {
  let n = 0;
  return async (r) => {
    calls.push(`${formatLocal(clock.now()).slice(0, 16)} ${r.rg} ${r.type}`);
    return { id: `b${++n}`, type: r.type, fileNames: [], bytesRead: 1, bytesStored: 1 } as unknown as BackupJobResult;
  };
}

test("decide: fulls at HH:MM every N days, incrementals on the full's grid, never on a full", () => {
  const spec = { time: "17:30", fullDays: 2, incHours: 6 };
  const enabled = T("2026-03-01T00:00");
  assert.deepEqual(decide(spec, { enabledSince: enabled }, T("2026-03-01T12:00")), { nextFull: T("2026-03-01T17:30"), nextIncremental: undefined, due: undefined });
  assert.equal(decide(spec, { enabledSince: enabled }, T("2026-03-01T17:30")).due, "full");
  const st = { enabledSince: enabled, lastFull: T("2026-03-01T17:30") };
  const d = decide(spec, st, T("2026-03-01T18:00"));
  assert.equal(d.nextFull, T("2026-03-03T17:30"));
  assert.equal(d.nextIncremental, T("2026-03-01T23:30"));
  // The 7th incremental slot (03-03 11:30) is the last; the 8th would be the full.
  assert.equal(decide(spec, { ...st, lastIncremental: T("2026-03-03T11:30") }, T("2026-03-03T12:00")).nextIncremental, undefined);
  assert.equal(decide(spec, { ...st, lastIncremental: T("2026-03-03T11:30") }, T("2026-03-03T17:30")).due, "full");
});

test("decide: a daemon down for days catches up once, then keeps the HH:MM cadence", () => {
  const spec = { time: "17:30", fullDays: 2, incHours: 6 };
  const st = { enabledSince: T("2026-03-01T00:00"), lastFull: T("2026-03-01T17:30"), lastIncremental: T("2026-03-01T23:30") };
  const now = T("2026-03-06T09:00"); // fulls of 03-03 and 03-05 and many incrementals missed
  assert.equal(decide(spec, st, now).due, "full");
  const after = decide(spec, { ...st, lastFull: now, lastIncremental: undefined }, T("2026-03-06T09:01"));
  assert.equal(after.due, undefined, "caught up once, not once per missed slot");
  assert.equal(after.nextFull, T("2026-03-07T17:30"));
  assert.equal(after.nextIncremental, T("2026-03-06T15:00"));
  // An incremental missed several times is caught up once too.
  const inc = decide(spec, { ...st, lastIncremental: T("2026-03-02T05:30") }, T("2026-03-03T09:00"));
  assert.equal(inc.due, "incremental");
  assert.equal(decide(spec, { ...st, lastIncremental: T("2026-03-03T09:00") }, T("2026-03-03T09:10")).nextIncremental, T("2026-03-03T11:30"));
  // A failed full is retried after retryMs, not at every tick.
  const failed = { enabledSince: st.enabledSince, lastFull: T("2026-03-01T17:30"), lastIncremental: T("2026-03-03T11:30"), lastFailedFull: T("2026-03-03T17:30") };
  assert.equal(decide(spec, failed, T("2026-03-03T17:40"), HOUR).due, undefined);
  assert.equal(decide(spec, failed, T("2026-03-03T18:30"), HOUR).due, "full");
});

test("ten simulated days of 17:30 / every 2 days / incrementals every 6 h, with the RG offline for a day", async () => {
  const home = await mkdtemp(join(tmpdir(), "cbm-sched-"));
  const clock = new ManualClock(T("2026-03-01T00:00"));
  const calls: string[] = [];
  const logs: string[] = [];
  try {
    await site(home, [["RG1", [["BACKUP_SCHEDULE", "17:30"], ["BACKUP_FREQUENCY", "2"], ["INC_BACKUP_FREQ", "6"]]]]);
    const sched = new Scheduler({ home, clock, log: (_l, e) => logs.push(e), runner: recordingRunner(clock, calls), env: { ...process.env, CBM_NODE: "" } });
    const end = T("2026-03-11T00:00");
    for (; clock.now() < end; clock.advance(10 * MIN)) {
      if (clock.now() === T("2026-03-05T20:00")) await setOnline(home, "RG1", "");
      if (clock.now() === T("2026-03-06T20:00")) await setOnline(home, "RG1", "Node1");
      await sched.tick();
      await sched.idle();
    }
    await sched.stop();
    const I = "RG1 incremental";
    const F = "RG1 full";
    assert.deepEqual(calls, [
      `2026-03-01T17:30 ${F}`,
      `2026-03-01T23:30 ${I}`, `2026-03-02T05:30 ${I}`, `2026-03-02T11:30 ${I}`, `2026-03-02T17:30 ${I}`,
      `2026-03-02T23:30 ${I}`, `2026-03-03T05:30 ${I}`, `2026-03-03T11:30 ${I}`,
      `2026-03-03T17:30 ${F}`,
      `2026-03-03T23:30 ${I}`, `2026-03-04T05:30 ${I}`, `2026-03-04T11:30 ${I}`, `2026-03-04T17:30 ${I}`,
      `2026-03-04T23:30 ${I}`, `2026-03-05T05:30 ${I}`, `2026-03-05T11:30 ${I}`,
      `2026-03-05T17:30 ${F}`,
      // offline 03-05 20:00 → 03-06 20:00: nothing; back online: the missed incremental once, then the grid
      `2026-03-06T20:00 ${I}`, `2026-03-06T23:30 ${I}`, `2026-03-07T05:30 ${I}`, `2026-03-07T11:30 ${I}`,
      `2026-03-07T17:30 ${F}`,
      `2026-03-07T23:30 ${I}`, `2026-03-08T05:30 ${I}`, `2026-03-08T11:30 ${I}`, `2026-03-08T17:30 ${I}`,
      `2026-03-08T23:30 ${I}`, `2026-03-09T05:30 ${I}`, `2026-03-09T11:30 ${I}`,
      `2026-03-09T17:30 ${F}`,
      `2026-03-09T23:30 ${I}`, `2026-03-10T05:30 ${I}`, `2026-03-10T11:30 ${I}`, `2026-03-10T17:30 ${I}`, `2026-03-10T23:30 ${I}`,
    ]);
    assert.ok(logs.includes("rg_not_here") && logs.includes("rg_online_here"));
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test("one run per profile, a global limit of concurrent runs, and a modify takes effect at the next tick", async () => {
  const home = await mkdtemp(join(tmpdir(), "cbm-sched-"));
  const clock = new ManualClock(T("2026-03-01T00:00"));
  try {
    await site(home, [["RG1", [["BACKUP_SCHEDULE", "01:00"]]], ["RG2", [["BACKUP_SCHEDULE", "01:00"]]]]);
    const started: string[] = [];
    const release: Array<() => void> = [];
    const runner: Runner = (r) =>
      new Promise((resolve) => {
        started.push(r.rg);
        release.push(() => resolve({ id: r.rg, type: r.type, fileNames: [], bytesRead: 0, bytesStored: 0 } as unknown as BackupJobResult));
      });
    const sched = new Scheduler({ home, clock, log: () => undefined, runner, maxConcurrent: 1, env: { ...process.env, CBM_NODE: "" } });
    await sched.tick();
    clock.set(T("2026-03-01T01:00"));
    await sched.tick();
    await sched.tick();
    assert.deepEqual(started, ["RG1"], "limit 1: RG2 waits, RG1 is not started twice");
    release.shift()!();
    await sched.idle();
    await sched.tick();
    assert.deepEqual(started, ["RG1", "RG2"]);
    release.shift()!();
    await sched.idle();
    // ENABLE_BACKUP=no (clmgr modify) stops scheduling without a restart
    await updateConfig(home, (c) => modifyObject(c, "backup_profile", "RG1", [["ENABLE_BACKUP", "no"]]));
    clock.set(T("2026-03-02T01:00"));
    await sched.tick();
    assert.deepEqual(started, ["RG1", "RG2", "RG2"]);
    release.shift()!();
    await sched.stop();
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test("with one run at a time, the longest-overdue profile goes first: hourly incrementals that take 70 min do not starve a daily full", async () => {
  const home = await mkdtemp(join(tmpdir(), "cbm-sched-"));
  const clock = new ManualClock(T("2026-03-01T00:00"));
  try {
    await site(home, [
      ["RG1", [["BACKUP_SCHEDULE", "00:00"], ["INC_BACKUP_FREQ", "1"]]],
      ["RG2", [["BACKUP_SCHEDULE", "01:00"]]],
    ]);
    const runs: string[] = [];
    const logs: string[] = [];
    let current: { end: number; done: () => void } | undefined;
    const runner: Runner = (r) =>
      new Promise((resolve) => {
        runs.push(`${formatLocal(clock.now()).slice(0, 16)} ${r.rg} ${r.type}`);
        current = { end: clock.now() + 70 * MIN, done: () => resolve({ id: r.rg, type: r.type, fileNames: [], bytesRead: 0, bytesStored: 0 } as unknown as BackupJobResult) };
      });
    const sched = new Scheduler({ home, clock, log: (level, event) => logs.push(`${level} ${event}`), runner, maxConcurrent: 1, env: { ...process.env, CBM_NODE: "" } });
    for (let i = 0; i < 4 * 24 * 3; i++) {
      await sched.tick();
      clock.advance(15 * MIN);
      if (current && clock.now() >= current.end) {
        const c = current;
        current = undefined;
        c.done();
        await sched.idle();
      }
    }
    const rg2 = runs.filter((r) => r.includes("RG2"));
    assert.equal(rg2.length, 3, `RG2's daily full ran once a day:\n${runs.join("\n")}`);
    assert.ok(runs.filter((r) => r.includes("RG1 incremental")).length > 40, "RG1 still runs back to back");
    // RG1's hourly incremental, held back while RG2's full runs for 70 min, is warned about once a day.
    assert.equal(logs.filter((l) => l === "warn backup_overdue").length, 3);
    current?.done();
    await sched.stop();
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test("a run left 'running' by a crash is not kept alive by another process that got its pid after a reboot", async () => {
  const home = await mkdtemp(join(tmpdir(), "cbm-sched-"));
  const other = spawn("sleep", ["30"], { stdio: "ignore" });
  const hist = JobHistory.open(home);
  try {
    const live = hist.begin("RG1", "full", "scheduled", T("2026-03-01T00:00"), other.pid!);
    assert.equal(hist.liveRunning("RG1")?.id, live, "the same process: still running");
    // The same row as a crash before a reboot leaves it: the pid now belongs to someone else.
    hist.db.prepare("UPDATE jobs SET proc = ? WHERE id = ?").run("another-boot:12345", live);
    assert.equal(hist.liveRunning("RG1"), undefined, "a reused pid does not hold the profile");
    assert.deepEqual(hist.markInterrupted(T("2026-03-01T02:00")).map((r) => r.id), [live]);
    assert.equal(hist.list({ profile: "RG1" })[0].result, "failed");
  } finally {
    other.kill();
    hist.close();
    await rm(home, { recursive: true, force: true });
  }
});
