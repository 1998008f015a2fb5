/**
 * SVC simulator, SSH front end: OpenSSH's own client against it, key and password login, the
 * interactive shell, restart persistence, and the process entry (main.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { clientKey, defer, parseConcise, SshSession, startSim, tempDir, waitFor } from "./helpers/sim.ts";
import { generateEd25519 } from "../src/util/sshkey.ts";

const hasSsh = spawnSync("ssh", ["-V"]).error === undefined;

function openssh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("ssh", args, { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

test("OpenSSH client runs CLI commands against the simulator", { skip: hasSsh ? false : "no `ssh` binary on this machine (apt-get install openssh-client)" }, async (t) => {
  const dir = tempDir(t);
  const sim = await startSim(t, { stateDir: dir });
  const keyFile = path.join(dir, "id_ed25519");
  writeFileSync(keyFile, clientKey().private, { mode: 0o600 });
  const known = path.join(dir, "known_hosts");
  // pin the simulator's host key: StrictHostKeyChecking=yes proves the key we report is the one served
  writeFileSync(known, `[127.0.0.1]:${sim.port} ${sim.hostKeyPublic}\n`);
  const base = [
    "-p", String(sim.port), "-i", keyFile, "-o", `UserKnownHostsFile=${known}`, "-o", "StrictHostKeyChecking=yes",
    "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-F", "/dev/null", "admin@127.0.0.1",
  ];
  assert.equal((await sim.exec("mkvdisk -size 1 -unit gb -name db_data")).exitCode, 0);
  const r = await openssh([...base, "lsvdisk", "-delim", ":"]);
  assert.equal(r.code, 0, r.stderr);
  const rows = parseConcise(r.stdout);
  assert.equal(rows[0].name, "db_data");
  assert.equal(rows[0].capacity, "1.00GB");
  // quoting survives the remote shell-style split; errors arrive on stderr with exit status 1
  const q = await openssh([...base, `svcinfo lsvdisk -delim : -filtervalue "name=db_*"`]);
  assert.equal(parseConcise(q.stdout).length, 1);
  const e = await openssh([...base, "lsvdisk", "nosuch"]);
  assert.equal(e.code, 1);
  assert.equal(e.stdout, "");
  assert.match(e.stderr, /^CMMVC5754E /m);
  // a wrong host key is refused by OpenSSH
  writeFileSync(known, `[127.0.0.1]:${sim.port} ${clientKey().public}\n`);
  const bad = await openssh([...base, "lssystem"]);
  assert.notEqual(bad.code, 0);
});

test("login by key and password, shell prompt, persistence across a restart", async (t) => {
  const dir = tempDir(t);
  let sim = await startSim(t, { stateDir: dir, systemName: "SVC_STORAGE", password: "passw0rd" });
  const hostKey = sim.hostKeyPublic;
  assert.match(hostKey, /^ssh-ed25519 AAAA/);
  const s = await SshSession.open(t, sim.port, { password: "passw0rd" });
  await s.ok("mkvdisk -size 4 -name Node1_1");
  await s.ok("mkfcconsistgrp -name cg");
  await assert.rejects(SshSession.open(undefined, sim.port, { password: "wrong" }));
  const otherKey = generateEd25519("other");
  await assert.rejects(SshSession.open(undefined, sim.port, { privateKey: otherKey.private }));

  // the interactive shell shows the paper's prompt and runs lines
  const k = await SshSession.open(t, sim.port);
  const shellOut = await new Promise<string>((resolve, reject) => {
    k.client.shell(false, (err, ch) => {
      if (err) return reject(err);
      let out = "";
      ch.on("data", (d: Buffer) => (out += d.toString()));
      ch.on("close", () => resolve(out));
      ch.write("lsfcconsistgrp -delim :\nexit\n");
    });
  });
  assert.match(shellOut, /^SVC_STORAGE:admin>id:name:status/);
  assert.match(shellOut, /\n1:cg:empty:/);

  s.close();
  k.close();
  await sim.stop();
  sim = await startSim(t, { stateDir: dir, systemName: "SVC_STORAGE" });
  assert.equal(sim.hostKeyPublic, hostKey, "host key kept in the state dir");
  const s2 = await SshSession.open(t, sim.port);
  assert.equal(parseConcise(await s2.ok("lsvdisk -delim :"))[0].name, "Node1_1");
  assert.equal(parseConcise(await s2.ok("lsfcconsistgrp -delim :"))[0].name, "cg");
  assert.equal(await s2.ok("mkvdisk -size 4 -name two"), "Virtual Disk, id [1], successfully created\n");
});

test("process entry prints its port and stops on SIGTERM", async (t) => {
  const dir = tempDir(t);
  const keys = path.join(dir, "authorized_keys");
  writeFileSync(keys, clientKey().public + "\n");
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/sim/svc/main.ts", "--state", path.join(dir, "st"), "--name", "SVC_STORAGE_primary", "--port", "0", "--fabric", path.join(dir, "fabric"), "--authorized-keys", keys],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  defer(t, async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await exited;
  });
  const line = await waitFor("ready line", async () => {
    const rl = createInterface({ input: child.stdout });
    for await (const l of rl) return l;
    return undefined;
  }, 20_000);
  const info = JSON.parse(line) as { port: number; pid: number };
  assert.equal(info.pid, child.pid);
  const s = await SshSession.open(t, info.port);
  assert.match(await s.ok("lssystem -delim :"), /^id:[0-9A-F]{16}\nname:SVC_STORAGE_primary\n/);
  s.close();
  child.kill("SIGTERM");
  assert.equal(await exited, 0);
});

test("seeding the paper's volumes offline, then serving them", async (t) => {
  const { seedSimulator } = await import("../src/sim/svc/seed.ts");
  const dir = tempDir(t);
  const spec = {
    hosts: [{ name: "Node1", fcwwpn: "1000001AA0570260" }],
    vdisks: ["Node1_1", "Node1_2", "Node1_4", "Node1_5"].map((name) => ({ name, sizeMb: 8, mapTo: ["Node1"] })),
  };
  const v = await seedSimulator(dir, "SVC_STORAGE_primary", spec);
  assert.deepEqual(Object.keys(v), ["Node1_1", "Node1_2", "Node1_4", "Node1_5"]);
  assert.ok(v.Node1_1.path.endsWith(`/volumes/${v.Node1_1.uid}.img`));
  const again = await seedSimulator(dir, "SVC_STORAGE_primary", spec); // idempotent
  assert.deepEqual(again, v);
  const sim = await startSim(t, { stateDir: dir, systemName: "SVC_STORAGE_primary" });
  const s = await SshSession.open(t, sim.port);
  const rows = parseConcise(await s.ok("lshostvdiskmap -delim : Node1"));
  assert.deepEqual(rows.map((r) => r.vdisk_name), ["Node1_1", "Node1_2", "Node1_4", "Node1_5"]);
});
