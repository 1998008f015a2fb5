/**
 * Cluster services against the lab, with real parts: two SVC simulator processes, the paper's
 * remote-copy steps over SSH, the paper's remote profile line (plus NOTIFYMETHOD), and `clmgr start
 * cluster`. The daemon starts the group and follows it to consistent_synchronized; then the
 * partnership is stopped on the primary (`chpartnership -stop`), and the state change reaches
 * `clmgr query backup_profile`, the NOTIFYMETHOD (arguments and CBM_* environment as docs/daemon.md
 * documents them), the metrics endpoint and the JSON log. Teardown stops the cluster and the lab even
 * on failure, and checks that none of their processes survives.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { get } from "node:http";
import { join } from "node:path";
import { test } from "node:test";
import { parseAttrLines, runCli, tempHome, words, type CliResult } from "./helpers/cli.ts";
import type { LabStatus } from "./helpers/lab.ts";
import { parseDetailed, SshSession, waitFor } from "./helpers/sim.ts";
import { pidAlive } from "../src/util/proc.ts";

/** The daemon's environment: short periods, metrics on a free port, this node = the lab's Node1. */
const ENV: NodeJS.ProcessEnv = {
  CBM_NODE: "",
  CBM_TICK_MS: "100",
  CBM_REPL_POLL_SECONDS: "1",
  CBM_METRICS_PORT: "0",
  CBM_NOTIFY_TIMEOUT: "10",
};

const alive = pidAlive; // zombie-aware: a lab process re-parented to a PID 1 that never reaps stays a zombie

const scrape = (port: number) =>
  new Promise<string>((resolve, reject) => {
    get({ host: "127.0.0.1", port, path: "/metrics", agent: false }, (res) => {
      let b = "";
      res.on("data", (d: Buffer) => (b += d.toString()));
      res.on("end", () => resolve(b));
    }).on("error", reject);
  });

/** One NOTIFYMETHOD call as the script recorded it: its arguments and its CBM_* variables. */
interface NotifyCall {
  args: string[];
  env: Record<string, string>;
}

/** Complete BEGIN…END blocks only (the script may be writing one right now). */
function parseCalls(text: string): NotifyCall[] {
  const calls: NotifyCall[] = [];
  let cur: NotifyCall | undefined;
  for (const line of text.split("\n")) {
    if (line === "BEGIN") cur = { args: [], env: {} };
    else if (line === "END" && cur) {
      calls.push(cur);
      cur = undefined;
    } else if (cur && line.startsWith("ARG=")) cur.args.push(line.slice(4));
    else if (cur && line.startsWith("CBM_")) {
      const i = line.indexOf("=");
      cur.env[line.slice(0, i)] = line.slice(i + 1);
    }
  }
  return calls;
}

interface LogLine {
  event: string;
  [k: string]: unknown;
}

test("daemon + lab: chpartnership -stop turns RG1 away from consistent_synchronized; notify, metrics and log hear of it", { timeout: 120_000 }, async (t) => {
  const t0 = Date.now();
  const { home, cleanup } = await tempHome("cbm-daemon-lab-");
  const cli = (args: string[], prog: "clmgr" | "cbm" = "clmgr") => runCli(home, args, { prog, env: ENV, timeoutMs: 60_000 });
  const ok = async (args: string[], prog: "clmgr" | "cbm" = "clmgr"): Promise<CliResult> => {
    const r = await cli(args, prog);
    assert.equal(r.code, 0, `${prog} ${args.join(" ")}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };
  const pids = new Map<number, string>();
  const open: { ssh?: SshSession } = {};

  t.after(async () => {
    open.ssh?.close();
    const problems: string[] = [];
    const stop = await cli(["stop", "cluster"]);
    if (stop.code !== 0) problems.push(`clmgr stop cluster: exit ${stop.code}: ${stop.stderr.trim()}`);
    const down = await cli(["lab", "down"], "cbm");
    if (down.code !== 0) problems.push(`cbm lab down: exit ${down.code}: ${down.stderr.trim()}`);
    for (let i = 0; i < 40 && [...pids.keys()].some(alive); i++) await new Promise((r) => setTimeout(r, 50));
    const survivors = [...pids].filter(([p]) => alive(p));
    for (const [p] of survivors) {
      try {
        process.kill(p, "SIGKILL"); // by its recorded pid only
      } catch {
        /* gone meanwhile */
      }
    }
    if (survivors.length > 0) problems.push(`still running after teardown: ${survivors.map(([p, r]) => `${r} (pid ${p})`).join(", ")}`);
    await cleanup();
    t.diagnostic(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.deepEqual(problems, [], "teardown");
  });

  // The lab (small disks), then its status as a user reads it.
  const up = await ok(["-o", "json", "lab", "up", "DISK_MIB=16"], "cbm");
  const lab = JSON.parse(readFileSync(join(home, "lab", "lab.json"), "utf8")) as { procs: Array<{ role: string; pid: number }> };
  for (const p of lab.procs) pids.set(p.pid, `lab ${p.role}`);
  assert.ok(lab.procs.some((p) => p.role === "watchdog"));
  const st = JSON.parse((await ok(["-o", "json", "lab", "status"], "cbm")).stdout) as LabStatus;
  assert.deepEqual(st, JSON.parse(up.stdout) as LabStatus);
  const primary = st.storage.find((s) => s.name === "storage1")!;
  assert.equal(primary.systemName, "SVC_STORAGE_primary");
  assert.ok(st.disks.some((d) => d.vdisk === "Node2_2"), "the lab has Node2_2 for hdisk19's relationship");

  // Step 2: the storage systems, the paper's lines.
  await ok(words("clmgr add storage_system storage1 TYPE=SVC ADDRESSES=127.0.0.1 USER=admin BACKUP_PROFILE=true"));
  await ok(words("clmgr add storage_system storage2 TYPE=SVC ADDRESSES=127.0.0.1 USER=admin BACKUP_PROFILE=true"));

  // The paper's remote-copy steps over SSH on the primary, but hdisk19's relationship forgotten.
  const ssh = await SshSession.open(undefined, Number(primary.address.split(":")[1]), { privateKey: readFileSync(primary.keyPath, "utf8") });
  open.ssh = ssh;
  ssh.client.on("error", () => undefined); // the lab goes away before a late close
  await ssh.ok("mkrcconsistgrp -name sample_remote_cg -cluster SVC_STORAGE_secondary");
  await ssh.ok("mkrcrelationship -master Node1_1 -aux Node2_1 -cluster SVC_STORAGE_secondary -consistgrp sample_remote_cg -global");
  assert.equal(parseDetailed(await ssh.ok("lsrcconsistgrp -delim : sample_remote_cg")).state, "inconsistent_stopped");

  // The notify method: appends its arguments and its CBM_* environment, one block per call.
  const notifyOut = join(home, "notify.out");
  const script = join(home, "notify.sh");
  await writeFile(
    script,
    `#!/bin/sh\n{\n  echo BEGIN\n  for a in "$@"; do echo "ARG=$a"; done\n  env | grep '^CBM_' | sort\n  echo END\n} >> '${notifyOut}'\n`,
  );
  await chmod(script, 0o755);
  const calls = async () => parseCalls(await readFile(notifyOut, "utf8").catch(() => ""));
  const changeTo = async (state: string) =>
    (await calls()).find((c) => c.env.CBM_EVENT === "replication_state_change" && c.env.CBM_REPLICATION_STATE === state);

  // Step 4 (remote): the paper's line verbatim, plus NOTIFYMETHOD.
  await ok([
    ...words(
      "clmgr add backup_profile RG1 ENABLE_BACKUP=yes BACKUP_METHOD=remote_storage REPLICATED_RESOURCES=sample_remote_cg STORAGE_NAME=storage1, storage2 VOLUME_GROUP=VG1",
    ),
    `NOTIFYMETHOD=${script}`,
  ]);
  const q0 = parseAttrLines((await ok(["query", "backup_profile", "RG1"])).stdout);
  assert.equal(q0.REPLICATION_STATE, "inconsistent_stopped");
  assert.equal(q0.REPLICATION_UNCOVERED, "hdisk19", "hdisk19 is not replicated yet");

  // Cluster services: the daemon starts the group and follows it.
  const started = await ok(["start", "cluster"]);
  const daemonPid = Number(/pid (\d+)/.exec(started.stdout)?.[1]);
  assert.ok(daemonPid > 0, started.stdout);
  pids.set(daemonPid, "daemon");

  const synced = await waitFor("the notify method to hear of consistent_synchronized", () => changeTo("consistent_synchronized"), 30_000, 100);
  assert.deepEqual(synced.args, ["replication_state_change", "RG1"]);
  assert.equal(synced.env.CBM_RG, "RG1");
  assert.equal(synced.env.CBM_CLUSTER, "r1r2m2p57_cluster");
  assert.match(synced.env.CBM_PREVIOUS_STATE, /^inconsistent_/);
  const q1 = parseAttrLines((await ok(["query", "backup_profile", "RG1"])).stdout);
  assert.equal(q1.REPLICATION_STATE, "consistent_synchronized");
  // The daemon completed the group before starting it: half a volume group is no usable copy.
  assert.equal(q1.REPLICATION_UNCOVERED, undefined, "both disks of VG1 are replicated");
  assert.match(await ssh.ok("lsrcrelationship -delim :"), /:Node1_2:[^\n]*:Node2_2:/);
  assert.equal(q1.REPLICATION_PROGRESS, "100");
  const tSync = Date.now();

  // Break it: the primary stops its side of the partnership.
  await ssh.ok("chpartnership -stop SVC_STORAGE_secondary");
  assert.match(await ssh.ok("lspartnership -delim :"), /fully_configured_stopped/);
  const stopped = await waitFor("the notify method to hear of the break", async () => (await calls()).find(
    (c) => c.env.CBM_EVENT === "replication_state_change" && c.env.CBM_PREVIOUS_STATE === "consistent_synchronized",
  ), 20_000, 100);
  t.diagnostic(`break noticed ${Date.now() - tSync} ms after synchronized`);
  assert.deepEqual(stopped.args, ["replication_state_change", "RG1"]);
  assert.equal(stopped.env.CBM_RG, "RG1");
  assert.equal(stopped.env.CBM_CLUSTER, "r1r2m2p57_cluster");
  assert.equal(stopped.env.CBM_REPLICATION_STATE, "consistent_stopped", "the primary's half of a stopped link (docs/simulator.md)");
  const q2 = parseAttrLines((await ok(["query", "backup_profile", "RG1"])).stdout);
  assert.notEqual(q2.REPLICATION_STATE, "consistent_synchronized");
  assert.equal(q2.REPLICATION_STATE, stopped.env.CBM_REPLICATION_STATE);
  assert.deepEqual(
    (await calls()).filter((c) => c.env.CBM_EVENT === "replication_state_change").map((c) => `${c.env.CBM_PREVIOUS_STATE}>${c.env.CBM_REPLICATION_STATE}`).slice(-2),
    ["inconsistent_copying>consistent_synchronized", "consistent_synchronized>consistent_stopped"],
    "one notification per change",
  );

  // Metrics: the new state is the current one, the old one is 0.
  const port = Number((await readFile(join(home, "run", "metrics.port"), "utf8")).trim());
  const text = await scrape(port);
  assert.match(text, /^cbm_replication_state\{rg="RG1",state="consistent_stopped"\} 1$/m, text);
  assert.match(text, /^cbm_replication_state\{rg="RG1",state="consistent_synchronized"\} 0$/m, text);

  // The JSON log: the start, each state, and the notify runs.
  const log = (await readFile(join(home, "logs", "cbm.log"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as LogLine);
  assert.ok(log.some((l) => l.event === "replication_started" && l.rg === "RG1"));
  const states = log.filter((l) => l.event === "replication_state" && l.rg === "RG1").map((l) => `${String(l.previous)}>${String(l.state)}`);
  assert.ok(states.includes("inconsistent_copying>consistent_synchronized"), states.join(", "));
  assert.ok(states.includes("consistent_synchronized>consistent_stopped"), states.join(", "));
  const change = log.find((l) => l.event === "replication_state" && l.state === "consistent_stopped")!;
  assert.equal(change.level, "warn");
  assert.equal(change.pid, daemonPid);
  const notified = log.filter((l) => l.event === "notify" && l.notifyEvent === "replication_state_change");
  assert.ok(notified.length >= 2 && notified.every((l) => l.code === 0 && l.method === script), JSON.stringify(notified));
  assert.ok(!log.some((l) => l.event === "replication_error"), "no poll failed");
});
