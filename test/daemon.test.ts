/**
 * Cluster services as a real process: `clmgr start cluster` runs the daemon detached (simulated
 * clock through CBM_CLOCK_START/CBM_CLOCK_SPEED), it takes a scheduled full with the real backup
 * into an fs repository; SIGKILL mid-backup; started again: the interrupted run is recorded failed,
 * no run is duplicated, the retried run succeeds, the metrics endpoint shows its time, every backup
 * restores bit-exact.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { runCli, tempHome, words, type CliResult } from "./helpers/cli.ts";
import { makeDisk, mutateDisk, sha256File } from "./helpers/disks.ts";
import { JobHistory, type JobRow } from "../src/jobs/history.ts";
import { pidAlive } from "../src/util/proc.ts";
import { writeSite } from "./helpers/site.ts";

const BASE_ENV: NodeJS.ProcessEnv = { TZ: "UTC", CBM_NODE: "", CBM_TICK_MS: "100", CBM_METRICS_PORT: "0", CBM_RETRY_MINUTES: "5" };

async function cli(home: string, line: string, env: NodeJS.ProcessEnv = {}, expect = 0): Promise<CliResult> {
  const r = await runCli(home, words(line), { env: { ...BASE_ENV, ...env }, timeoutMs: 60_000 });
  assert.equal(r.code, expect, `${line}\n${r.stdout}\n${r.stderr}`);
  return r;
}

function jobs(home: string): JobRow[] {
  const h = JobHistory.open(home);
  try {
    return h.list({ profile: "RG1" });
  } finally {
    h.close();
  }
}

async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  for (let waited = 0; waited < ms; waited += 50) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const scrape = (port: number) =>
  new Promise<string>((resolve, reject) => {
    get({ host: "127.0.0.1", port, path: "/metrics" }, (res) => {
      let b = "";
      res.on("data", (d: Buffer) => (b += d.toString()));
      res.on("end", () => resolve(b));
    }).on("error", reject);
  });

test("daemon: SIGKILL mid-backup, restart, no duplicate, interrupted run failed, next run succeeds, metrics, all backups restore", async () => {
  const { home, cleanup } = await tempHome("cbm-daemon-");
  let daemonPid = 0;
  try {
    const disk = join(home, "sda.img");
    await makeDisk(disk, 8, 3);
    const slow = join(home, "slow");
    const freeze = join(home, "freeze.sh");
    // The freeze command sleeps while the marker exists: a backup slow enough to kill mid-way.
    await writeFile(freeze, `#!/bin/sh\nif [ -f ${slow} ]; then sleep 30; fi\n`);
    await chmod(freeze, 0o755);
    const notified = join(home, "notified.txt");
    const notify = join(home, "notify.sh");
    await writeFile(notify, `#!/bin/sh\necho "$CBM_EVENT|$CBM_ERROR" >> ${notified}\n`);
    await chmod(notify, 0o755);
    await mkdir(join(home, "repos"), { recursive: true });
    // The site, written in-process (the clmgr grammar is tested elsewhere; each CLI start costs ~1 s).
    await writeSite(home, {
      disks: [disk],
      profile: [
        ["CLOUD_SERVICE", "fs"], ["ENDPOINT", join(home, "repos")], ["BUCKET_NAME", "repo"], ["FREEZE_METHOD", freeze],
        ["BACKUP_SCHEDULE", "17:30"], ["BACKUP_FREQUENCY", "1"], ["NOTIFYMETHOD", notify],
      ],
    });
    await cli(home, "clmgr online resource_group RG1");

    // 1. A manual backup (recorded in the job history) at 12:00 simulated time.
    const sha0 = await sha256File(disk);
    await cli(home, "clmgr backup backup_profile RG1", { CBM_CLOCK_START: "2026-01-01T12:00:00" });
    const manual = jobs(home);
    assert.equal(manual.length, 1);
    assert.deepEqual([manual[0].trigger, manual[0].result], ["manual", "success"]);
    const q = await cli(home, "clmgr query backup_profile RG1", { CBM_CLOCK_START: "2026-01-01T12:00:00" });
    assert.match(q.stdout, /^NEXT_FULL="2026-01-01T17:30:00\+00:00"$/m);
    assert.match(q.stdout, /^LAST_BACKUP="2026-01-01T12:00:00\+00:00 full /m);

    // 2. The disk changes; the daemon starts just before the 17:30 full, whose freeze hangs.
    await mutateDisk(disk, 25, 9);
    const sha1 = await sha256File(disk);
    await writeFile(slow, "");
    const clock1 = { CBM_CLOCK_START: "2026-01-01T17:29:58", CBM_CLOCK_SPEED: "60" };
    const started = await cli(home, "clmgr start cluster", clock1);
    daemonPid = Number(/pid (\d+)/.exec(started.stdout)![1]);
    assert.ok(pidAlive(daemonPid));
    const again = await cli(home, "clmgr start cluster", clock1, 4);
    assert.match(again.stderr, new RegExp(`already running \\(pid ${daemonPid}\\)`));
    const running = await until("the scheduled full to start", () => jobs(home).find((r) => r.result === "running"));
    assert.deepEqual([running.trigger, running.type, running.pid], ["scheduled", "full", daemonPid]);
    await new Promise((r) => setTimeout(r, 300));

    // 3. SIGKILL: the daemon and its freeze command (its process group) die mid-backup.
    process.kill(-daemonPid, "SIGKILL");
    await until("the daemon to die", () => !pidAlive(daemonPid));
    assert.equal(jobs(home).find((r) => r.id === running.id)!.result, "running", "nobody finished the row");
    assert.ok(existsSync(join(home, "run", "cbm.pid")), "a stale pid file is left behind");

    // 4. Started again (stale pid file taken over): the row becomes failed, the full is retried once.
    await rm(slow);
    const clock2 = { CBM_CLOCK_START: "2026-01-01T17:40:00", CBM_CLOCK_SPEED: "60" };
    const restarted = await cli(home, "clmgr start cluster", clock2);
    daemonPid = Number(/pid (\d+)/.exec(restarted.stdout)![1]);
    const ok = await until("the retried full to succeed", () => jobs(home).find((r) => r.id > running.id && r.result === "success"));
    const interrupted = jobs(home).find((r) => r.id === running.id)!;
    assert.equal(interrupted.result, "failed");
    assert.match(interrupted.error, /interrupted/);
    assert.deepEqual([ok.trigger, ok.type], ["scheduled", "full"]);
    assert.match(await readFile(notified, "utf8"), new RegExp(`^backup_failure\\|interrupted: process ${running.pid} ended during the full run`, "m"), "the interrupted run was notified");

    // 5. Metrics: the last success time of RG1 is the run that just succeeded.
    const port = Number((await readFile(join(home, "run", "metrics.port"), "utf8")).trim());
    const text = await scrape(port);
    const m = /^cbm_backup_last_success_timestamp_seconds\{rg="RG1"\} (\S+)$/m.exec(text);
    assert.ok(m, text);
    assert.equal(Number(m[1]), ok.start / 1000);
    assert.match(text, /^cbm_backup_failures_total\{rg="RG1"\} 1$/m);
    assert.match(text, /^cbm_backup_last_bytes_read\{rg="RG1"\} 8388608$/m);

    // A little more simulated time: nothing else is due today (the next full is tomorrow 17:30).
    await new Promise((r) => setTimeout(r, 500));
    const stop = await cli(home, "clmgr stop cluster");
    assert.match(stop.stdout, new RegExp(`stopped \\(pid ${daemonPid}\\)`));
    assert.ok(!pidAlive(daemonPid));
    daemonPid = 0;
    assert.ok(!existsSync(join(home, "run", "cbm.pid")));
    const all = jobs(home);
    assert.deepEqual(all.map((r) => `${r.trigger} ${r.type} ${r.result}`), ["manual full success", "scheduled full failed", "scheduled full success"], "no duplicate run");
    const log = await readFile(join(home, "logs", "cbm.log"), "utf8");
    assert.match(log, /"event":"backup_interrupted"/);
    const listed = await cli(home, "clmgr query backup_jobs RG_NAME=RG1");
    assert.match(listed.stdout, /interrupted/);

    // 6. Every backup restores bit-exact.
    for (const [row, sha] of [[manual[0], sha0], [ok, sha1]] as const) {
      const out = join(home, `restore-${row.id}.img`);
      await cli(home, `clmgr restore backup_files ${row.backupId} RG_NAME=RG1 DISK=hdisk18 TARGET=${out}`);
      assert.equal(await sha256File(out), sha, `backup ${row.backupId} restores`);
    }
  } finally {
    if (daemonPid && pidAlive(daemonPid)) process.kill(-daemonPid, "SIGKILL");
    await cleanup();
  }
});

test("query backup_jobs: an unknown RG_NAME or a LIMIT that is not a number is refused; an empty home stays empty", async () => {
  const { home, cleanup } = await tempHome("cbm-jobs-");
  try {
    assert.equal((await cli(home, "clmgr query backup_jobs -o json")).stdout.trim(), "[]");
    assert.ok(!existsSync(join(home, "state", "jobs.db")), "listing created no database");
    assert.match((await cli(home, "clmgr query backup_jobs RG_NAME=NOPE", {}, 5)).stderr, /"NOPE" \(RG_NAME\)/);
    assert.match((await cli(home, "clmgr query backup_jobs LIMIT=abc", {}, 3)).stderr, /LIMIT/);
    assert.match((await cli(home, "clmgr query backup_jobs LIMIT=99999999999999999999", {}, 3)).stderr, /LIMIT/);
  } finally {
    await cleanup();
  }
});
