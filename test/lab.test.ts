/** cbm lab up / status / down: what it starts answers on 127.0.0.1, and down removes all of it. */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, tempHome } from "./helpers/cli.ts";
import type { LabStatus } from "./helpers/lab.ts";
import { pidAlive } from "../src/util/proc.ts";

const alive = pidAlive; // zombie-aware: a lab process re-parented to a PID 1 that never reaps stays a zombie

test("lab up, status, down", { timeout: 60_000 }, async (t) => {
  const { home, cleanup } = await tempHome("cbm-labtest-");
  t.after(cleanup);
  const up = await runCli(home, ["lab", "up", "DISK_MIB=4"], { prog: "cbm" });
  assert.equal(up.code, 0, up.stderr);
  const st = JSON.parse((await runCli(home, ["-o", "json", "lab", "status"], { prog: "cbm" })).stdout) as LabStatus;
  const pids = [...st.storage.map((s) => s.pid), st.s3.pid];
  t.after(() => {
    for (const p of pids) if (alive(p)) process.kill(p, "SIGKILL");
  });
  assert.deepEqual(st.storage.map((s) => [s.name, s.systemName]), [["storage1", "SVC_STORAGE_primary"], ["storage2", "SVC_STORAGE_secondary"]]);
  for (const s of st.storage) assert.match(s.address, /^127\.0\.0\.1:\d+$/);
  assert.match(st.s3.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal((readFileSync(st.storage[0].keyPath).length > 0), true);
  const eps = JSON.parse(readFileSync(join(home, "ssh_endpoints.json"), "utf8")) as Record<string, string>;
  assert.equal(eps.storage1, st.storage[0].address);
  const q = await runCli(home, ["query", "physical_volume", "hdisk18"]);
  assert.match(q.stdout, new RegExp(`UUID="${st.disks[0].uid}"`));
  assert.ok(existsSync(st.disks[0].path), "DEVICE is the volume file");
  assert.equal((await runCli(home, ["lab", "up"], { prog: "cbm" })).code, 4, "a second up is refused");
  // Cluster services started on the lab go down with it.
  assert.equal((await runCli(home, ["start", "cluster"], { env: { CBM_METRICS_PORT: "0" } })).code, 0);
  const daemonPid = Number(readFileSync(join(home, "run", "cbm.pid"), "utf8"));
  t.after(() => {
    if (alive(daemonPid)) process.kill(daemonPid, "SIGKILL");
  });

  const down = await runCli(home, ["lab", "down"], { prog: "cbm" });
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stdout, new RegExp(`Cluster services \\(pid ${daemonPid}\\) stopped\\.`));
  assert.equal(alive(daemonPid), false, "the daemon stopped");
  for (const p of pids) assert.equal(alive(p), false, `pid ${p} stopped`);
  assert.equal(existsSync(join(home, "lab")), false);
  assert.equal(existsSync(join(home, "ssh_endpoints.json")), false);
  assert.equal(existsSync(st.storage[0].keyPath), false);
  const xml = readFileSync(join(home, "cbm.xml"), "utf8");
  assert.doesNotMatch(xml, /hdisk18|RG1|127\.0\.0\.1/);
});
