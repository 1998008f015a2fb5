/**
 * Verify as a job: sampled runs rotate so that together they check every referenced chunk; a cycle
 * that found nothing wrong marks the backups verified; each run is a "verify" row in the job history,
 * shows in the metrics and runs NOTIFYMETHOD; a damaged chunk is reported with the backups that need
 * it; the daemon's scheduler starts verify jobs at VERIFY_SCHEDULE.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli, tempHome } from "./helpers/cli.ts";
import { makeDisk, mutateDisk } from "./helpers/disks.ts";
import { loadConfig } from "../src/config/store.ts";
import { runBackupJob } from "../src/jobs/backup.ts";
import { JobHistory } from "../src/jobs/history.ts";
import { nextSlice, runVerifyJob, type VerifyJobResult } from "../src/jobs/verify-job.ts";
import { planProfile } from "../src/jobs/plan.ts";
import { openProfileRepo } from "../src/jobs/repo-open.ts";
import { readVerified } from "../src/repo/index.ts";
import { renderMetrics } from "../src/daemon/metrics.ts";
import { Scheduler } from "../src/daemon/scheduler.ts";
import { ManualClock } from "../src/daemon/clock.ts";
import { writeSite } from "./helpers/site.ts";
import { flipChunkByte } from "./helpers/chunks.ts";
import { FsObjectStore } from "../src/objectstore/fs.ts";

test("nextSlice walks the sorted ids in windows and wraps", () => {
  const ids = ["a", "b", "c", "d", "e"];
  assert.deepEqual(nextSlice(ids, "", 2), { ids: ["a", "b"], cursor: "b", wrapped: false });
  assert.deepEqual(nextSlice(ids, "b", 2), { ids: ["c", "d"], cursor: "d", wrapped: false });
  assert.deepEqual(nextSlice(ids, "d", 2), { ids: ["e"], cursor: "", wrapped: true });
  assert.deepEqual(nextSlice(ids, "bb", 2), { ids: ["c", "d"], cursor: "d", wrapped: false }, "a cursor id that has gone still orders");
  assert.deepEqual(nextSlice([], "", 1), { ids: [], cursor: "", wrapped: true });
});

test("verify jobs: rotating samples cover every chunk, verified markers, history, notify, metrics, damage reported with its backups, scheduled", async () => {
  const { home, cleanup } = await tempHome("cbm-dr-verify-");
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, TZ: "UTC", CBM_NODE: "" };
    const disks = [join(home, "sda.img"), join(home, "sdb.img")];
    await makeDisk(disks[0], 16, 11);
    await makeDisk(disks[1], 16, 12);
    const events = join(home, "events.log");
    const notify = join(home, "notify.sh");
    await writeFile(notify, `#!/bin/sh\nprintf '%s %s checked=%s\\n%s\\n' "$1" "$2" "$CBM_VERIFY_CHECKED" "$CBM_VERIFY_BAD" >> ${events}\n`);
    await chmod(notify, 0o755);
    await mkdir(join(home, "repos"), { recursive: true });
    await writeSite(home, {
      disks,
      profile: [
        ["CLOUD_SERVICE", "fs"], ["ENDPOINT", join(home, "repos")], ["BUCKET_NAME", "repo"], ["NOTIFYMETHOD", notify],
        ["BACKUP_SCHEDULE", "23:00"], ["VERIFY_SCHEDULE", "10:30"], ["VERIFY_SAMPLE", "25"],
      ],
    });
    let cfg = await loadConfig(home);
    for (let i = 0; i < 3; i++) {
      if (i > 0) await mutateDisk(disks[i % 2], 10, 20 + i);
      await runBackupJob(home, cfg, "RG1", { type: i === 0 ? "full" : "incremental", env });
    }
    const plan = planProfile(home, cfg, "RG1");
    const repo = await openProfileRepo(plan, { env });
    const manifests = await repo.manifests();
    const referenced = new Set(manifests.flatMap((m) => m.vgs.flatMap((vg) => vg.disks.flatMap((d) => d.chunks.filter((c): c is string => c !== null)))));
    assert.ok(referenced.size > 8);

    // 1. Four runs at 25 % cover every referenced chunk; the fourth ends the cycle and marks all three backups verified.
    const union = new Set<string>();
    const runs: VerifyJobResult[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await runVerifyJob(home, cfg, "RG1", { env });
      runs.push(r);
      for (const id of r.checked) union.add(id);
      assert.equal(r.report.chunksChecked, r.checked.length);
      assert.ok(r.checked.length <= Math.ceil(referenced.size / 4));
    }
    assert.deepEqual([...union].sort(), [...referenced].sort(), "the union of the sampled runs is the referenced set");
    assert.deepEqual(runs.map((r) => r.cycleComplete), [false, false, false, true]);
    assert.deepEqual([...(await readVerified(repo.store))].sort(), manifests.map((m) => m.id).sort());
    const fifth = await runVerifyJob(home, cfg, "RG1", { env });
    assert.deepEqual(fifth.checked, runs[0].checked, "the next cycle starts over");

    // 2. A damaged chunk, used by every backup (the unchanged start of hdisk18), is reported with those backups.
    const shared = manifests[0].vgs[0].disks[0].chunks.find((c, i) => c !== null && manifests.every((m) => m.vgs[0].disks[0].chunks[i] === c))!;
    assert.ok(shared, "a chunk every backup references");
    const repoStore = new FsObjectStore(join(home, "repos", "repo"));
    await flipChunkByte(repoStore, shared);
    const failed = await runVerifyJob(home, cfg, "RG1", { env, sample: 100 }).then(
      () => assert.fail("verify should fail"),
      (e: unknown) => e as Error & { code: string; result: VerifyJobResult },
    );
    assert.equal(failed.code, "CBM_VERIFY_FAILED");
    const bad = failed.result.report.bad;
    assert.equal(bad.length, 1);
    assert.deepEqual([bad[0].id, bad[0].problem], [shared, "corrupt"]);
    assert.deepEqual([...new Set(bad[0].usedBy.map((u) => u.backupId))].sort(), manifests.map((m) => m.id).sort());
    for (const m of manifests) assert.match(failed.message, new RegExp(m.id.replace(/\./g, "\\.")));

    // 3. Job history, notify and metrics.
    const hist = JobHistory.open(home);
    try {
      const rows = hist.list({ profile: "RG1" }).filter((r) => r.type === "verify");
      assert.deepEqual(rows.map((r) => r.result), ["success", "success", "success", "success", "success", "failed"]);
      assert.match(rows.at(-1)!.error, new RegExp(shared));
      const text = renderMetrics(hist, ["RG1"], new Map());
      assert.match(text, /^cbm_verify_failures_total\{rg="RG1"\} 1$/m);
      assert.match(text, /^cbm_verify_last_success_timestamp_seconds\{rg="RG1"\} \d+/m);
      assert.match(text, /^cbm_backup_failures_total\{rg="RG1"\} 0$/m, "verify failures are not backup failures");
    } finally {
      hist.close();
    }
    const log = await readFile(events, "utf8");
    assert.equal(log.match(/^verify_success RG1/gm)?.length, 5);
    assert.match(log, /^verify_failure RG1 checked=\d+\ncorrupt chunk [0-9a-f]{64}: needed by backup\(s\) /m);

    // 4. With the byte put back, the daemon runs a verify at VERIFY_SCHEDULE (10:30), once per day.
    await flipChunkByte(repoStore, shared);
    const manual = await runCli(home, ["verify", "backup_profile", "RG1", "SAMPLE=100"], { env });
    assert.equal(manual.code, 0, manual.stderr);
    assert.match(manual.stdout, /^Verify run 7 of RG1 \(100 % per run\): checked (\d+) of \1 chunks .*all good\. Cycle complete; verified: /m);
    // A verify job is not a backup: the profile's LAST_BACKUP still names one.
    const prof = await runCli(home, ["query", "backup_profile", "RG1"], { env });
    assert.doesNotMatch(prof.stdout, /LAST_BACKUP.*verify/);
    const online = await runCli(home, ["online", "resource_group", "RG1"], { env });
    assert.equal(online.code, 0, online.stderr);
    cfg = await loadConfig(home);
    const clock = new ManualClock(Date.parse("2027-03-01T10:00:00Z"));
    const logs: string[] = [];
    const sched = new Scheduler({ home, clock, env, log: (_l, event) => void logs.push(event), runner: () => Promise.reject(new Error("no backup expected")) });
    try {
      await sched.tick();
      await sched.idle();
      assert.ok(!logs.includes("verify_start"), "not before its time");
      clock.set(Date.parse("2027-03-01T10:31:00Z"));
      await sched.tick();
      await sched.idle();
      await sched.tick();
      await sched.idle();
      assert.equal(logs.filter((e) => e === "verify_start").length, 1, `once per slot: ${logs.join(",")}`);
      assert.ok(logs.includes("verify_success"), logs.join(","));
      // The next day a (failing, fake) full is due first; the verify follows on the next tick.
      clock.set(Date.parse("2027-03-02T10:30:00Z"));
      await sched.tick();
      await sched.idle();
      assert.ok(logs.includes("backup_failure"), "the backup took precedence");
      await sched.tick();
      await sched.idle();
      assert.equal(logs.filter((e) => e === "verify_start").length, 2, `the next day's slot: ${logs.join(",")}`);
    } finally {
      await sched.stop();
    }
    const h2 = JobHistory.open(home);
    try {
      assert.deepEqual(h2.list({ profile: "RG1" }).filter((r) => r.type === "verify").slice(-2).map((r) => [r.trigger, r.result]), [["scheduled", "success"], ["scheduled", "success"]]);
    } finally {
      h2.close();
    }
    await repo.close();
  } finally {
    await cleanup();
  }
});
