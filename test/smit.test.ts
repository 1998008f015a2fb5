/**
 * `cbm smit` driven as a person drives it: in an 80×24 tmux pane (a real pseudo-terminal), keys sent
 * with send-keys, the screen read with capture-pane. The configuration the screens write must be the
 * one the equivalent clmgr lines write, byte for byte; the command each dialog shows (F6), run by
 * hand, must give the same result; a bad value must show clmgr's message and change nothing.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ROOT, runCli, tempHome } from "./helpers/cli.ts";

const SOCK = `cbm-smit-${process.pid}`;
const homes: Array<() => Promise<void>> = [];
let tmuxOk = false;

function haveTmux(): boolean {
  return spawnSync("tmux", ["-V"], { stdio: "ignore" }).status === 0;
}

before(() => {
  if (!haveTmux() && process.getuid?.() === 0) {
    spawnSync("sh", ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux"], { stdio: "ignore", timeout: 300_000 });
  }
  tmuxOk = haveTmux();
});

after(async () => {
  spawnSync("tmux", ["-L", SOCK, "kill-server"], { stdio: "ignore" });
  // kill-server leaves the socket file behind: remove it too.
  await rm(join(process.env.TMUX_TMPDIR ?? "/tmp", `tmux-${process.getuid?.() ?? 0}`, SOCK), { force: true });
  for (const c of homes) await c();
});

const tmux = (...args: string[]): string => execFileSync("tmux", ["-L", SOCK, ...args], { encoding: "utf8" });

/** One smit session in its own tmux window. */
class Pane {
  constructor(readonly name: string) {}

  static async start(name: string, home: string, args: string[] = [], env: Record<string, string> = { NO_COLOR: "1" }): Promise<Pane> {
    const vars = Object.entries({ CBM_HOME: home, ...env }).map(([k, v]) => `${k}='${v}'`).join(" ");
    const cmd = `cd '${ROOT}' && env ${vars} bin/cbm smit ${args.join(" ")}; echo SMIT-EXITED rc=$?; sleep 120`;
    tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24", cmd);
    return new Pane(name);
  }

  screen(escapes = false): string {
    return tmux("capture-pane", "-p", ...(escapes ? ["-e"] : []), "-t", this.name);
  }

  keys(...keys: string[]): void {
    tmux("send-keys", "-t", this.name, ...keys);
  }

  type(text: string): void {
    tmux("send-keys", "-t", this.name, "-l", text);
  }

  async waitFor(what: string | RegExp | ((screen: string) => boolean), timeoutMs = 15_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    let s = "";
    while (Date.now() < end) {
      s = this.screen();
      if (typeof what === "string" ? flat(s).includes(flat(what)) : typeof what === "function" ? what(s) : what.test(s)) return s;
      await sleep(50);
    }
    assert.fail(`timed out waiting for ${String(what)} on the screen:\n${s}`);
  }

  /** Moves the cursor to the entry field whose label starts with `label`. */
  async field(label: string): Promise<void> {
    for (let i = 0; i < 20; i++) {
      const screen = this.screen();
      const rows = screen.split("\n");
      const cur = rows.findIndex((r) => r.startsWith(">"));
      if (cur >= 0 && rows[cur].slice(2).startsWith(label)) return;
      const want = rows.findIndex((r) => r.slice(2).startsWith(label));
      const n = want >= 0 ? Math.abs(want - cur) : 5;
      this.keys(...Array<string>(n).fill(want >= 0 && want < cur ? "Up" : "Down"));
      await this.waitFor((s) => s !== screen);
      await sleep(30);
    }
    assert.fail(`no field "${label}" on the screen:\n${this.screen()}`);
  }

  /** F6: the command the dialog would run, read from the pop-up, then the pop-up closed. */
  async command(): Promise<string> {
    this.keys("F6");
    const s = await this.waitFor("COMMAND STRING");
    const rows = s.split("\n");
    const from = rows.findIndex((r) => r.includes("COMMAND STRING"));
    const to = rows.findIndex((r, i) => i > from && r.includes("Enter=Done"));
    const text = rows
      .slice(from + 1, to)
      .map((r) => /\| (.*) \|/.exec(r)?.[1].trim() ?? "")
      .filter(Boolean)
      .join(" ");
    this.keys("F3");
    await this.waitFor((x) => !x.includes("COMMAND STRING"));
    return text;
  }

  /** Enter on a dialog: waits for COMMAND STATUS to finish and returns its screen. */
  async run(): Promise<string> {
    this.keys("Enter");
    return this.waitFor(/Command: (OK|Failed)/);
  }
}

const flat = (s: string) => s.replace(/\s+/g, " ").trim();

/** The configuration the tests start from, written by clmgr: a node, a cluster, disks, VG1/VG2, RG1/RG2. */
const PREPARE = [
  "add node Node1",
  "add cluster r1r2m2p57_cluster NODES=Node1",
  "add physical_volume hdisk18 DEVICE=/dev/cbm-smit/hdisk18",
  "add physical_volume hdisk19 DEVICE=/dev/cbm-smit/hdisk19",
  "add physical_volume hdisk20 DEVICE=/dev/cbm-smit/hdisk20",
  "add volume_group VG1 PHYSICAL_VOLUMES=hdisk18,hdisk19",
  "add volume_group VG2 PHYSICAL_VOLUMES=hdisk20",
  "add resource_group RG1 NODES=Node1 VOLUME_GROUP=VG1",
  "add resource_group RG2 NODES=Node1 VOLUME_GROUP=VG2",
];

async function clmgrLines(home: string, lines: string[]): Promise<void> {
  for (const l of lines) {
    const argv = l.trim().split(/\s+/);
    const r = await runCli(home, argv[0] === "clmgr" ? argv.slice(1) : argv);
    assert.equal(r.code, 0, `${l}\n${r.stderr}`);
  }
}

let prepared: Promise<string> | undefined;

/** A fresh CBM_HOME holding the prepared configuration (clmgr runs once; later homes get a copy). */
async function preparedHome(): Promise<string> {
  const { home, cleanup } = await tempHome("cbm-smit-");
  homes.push(cleanup);
  if (prepared === undefined) {
    prepared = clmgrLines(home, PREPARE).then(() => xml(home));
    await prepared;
  } else {
    await writeFile(join(home, "cbm.xml"), await prepared, { mode: 0o600 });
  }
  return home;
}

const xml = (home: string) => readFile(join(home, "cbm.xml"), "utf8");

// The three sessions are independent (own CBM_HOME, own tmux session): run them side by side.
describe("cbm smit", { concurrency: true }, () => {
  test("smit adds storage systems and backup profiles exactly as clmgr does", async (t) => {
    if (!tmuxOk) return t.skip("tmux is not installed (apt-get install tmux)");
    const home = await preparedHome();
    const p = await Pane.start("main", home);
    const shown: string[] = [];

    await p.waitFor("Cloud Backup Configuration");
    let s = await p.waitFor("Storage Configuration");
    assert.match(s, /Backup Profiles/);
    for (const item of ["Backup Now", "Backup Files", "Cluster Services", "Lab"]) assert.match(s, new RegExp(item));
    const sgr = p.screen(true).split(String.fromCharCode(27)).slice(1).filter((x) => /^\[[0-9;]*m/.test(x));
    assert.deepEqual(sgr.filter((x) => /^\[(?:[0-9;]*;)?(7|3\d|4\d)[;m]/.test(x)), [], "no colour or reverse video with NO_COLOR");

    // Storage Configuration → Add Storage Configuration: storage1 and storage2, TYPE=local.
    p.keys("Enter");
    await p.waitFor("Add Storage Configuration");
    for (const name of ["storage1", "storage2"]) {
      p.keys("Enter");
      await p.waitFor("Type or select values in entry fields.");
      await p.field("Storage Name");
      p.type(name);
      await p.field("Storage Type");
      p.keys("Tab"); // ring: SVC → local
      await p.waitFor(/Storage Type\s+\[local/);
      const cmd = await p.command();
      assert.equal(cmd, `clmgr add storage_system ${name} TYPE=local`);
      shown.push(cmd);
      s = await p.run();
      assert.match(s, /Command: OK/, s);
      assert.match(s, new RegExp(`storage_system "${name}" added`));
      p.keys("Escape"); // back to the dialog
      await p.waitFor("Type or select values in entry fields.");
      p.keys("F3"); // back to the menu
      await p.waitFor("Remove Storage Configuration");
    }

    // Change/Show Storage Configuration: storage2 USER=svcadmin.
    p.keys("Down", "Enter");
    await p.waitFor("Select Storage Name");
    p.keys("Down", "Enter");
    await p.waitFor(/Storage Name\s+storage2/);
    await p.field("User Name");
    p.type("svcadmin");
    let cmd = await p.command();
    assert.equal(cmd, "clmgr modify storage_system storage2 USER=svcadmin");
    shown.push(cmd);
    assert.match(await p.run(), /Command: OK/);
    p.keys("F3");
    await p.waitFor("Type or select values");
    p.keys("F3");
    await p.waitFor("Select Storage Name");
    p.keys("F3");
    await p.waitFor("Remove Storage Configuration");
    p.keys("F3");
    await p.waitFor(/> Storage Configuration/);

    // Backup Profiles → Add Backup Profile → Cloud → RG1.
    p.keys("Down", "Enter");
    await p.waitFor("Change/Show Backup Profile");
    p.keys("Enter");
    await p.waitFor("Remote Storage");
    p.keys("Enter");
    await p.waitFor("Select Resource Group Name");
    p.keys("Enter");
    s = await p.waitFor("Add Backup Profile (Cloud)");
    assert.match(s, /Backup Method\s+cloud/);
    assert.match(s, /Volume Group\(s\)\s+\[VG1/, "the resource group's volume groups are the default");
    await p.field("Replicated Resources");
    p.type("sample_consistency_group");
    await p.field("Storage Name(s)");
    p.keys("F4");
    s = await p.waitFor("Space or F7 selects");
    assert.match(s, /storage1/);
    assert.match(s, /storage2/);
    p.keys("Enter"); // the highlighted one: storage1
    await p.waitFor(/Storage Name\(s\)\s+\[storage1 /);
    await p.field("Bucket Name");
    p.type("pha-bucket");
    await p.field("Backup Schedule");
    p.type("17:30");
    await p.field("Target Location");
    p.type("/tmp");
    cmd = await p.command();
    assert.equal(
      cmd,
      "clmgr add backup_profile RG1 ENABLE_BACKUP=yes BACKUP_METHOD=cloud VOLUME_GROUP=VG1 REPLICATED_RESOURCES=sample_consistency_group STORAGE_NAME=storage1 BUCKET_NAME=pha-bucket BACKUP_SCHEDULE=17:30 TARGET_LOCATION=/tmp",
    );
    shown.push(cmd);
    s = await p.run();
    assert.match(s, /Command: OK/, s);
    p.keys("F3");
    await p.waitFor("Type or select values");
    p.keys("F3");
    s = await p.waitFor("Select Resource Group Name");
    assert.doesNotMatch(s, /RG1/, "RG1 has a profile now: the list was refreshed");
    p.keys("F3");
    await p.waitFor("Remote Storage");

    // Add Backup Profile → Remote Storage → RG2, two storage systems picked with F7 (Esc+4 opens the list).
    p.keys("Down", "Enter");
    await p.waitFor("Select Resource Group Name");
    p.keys("Enter");
    s = await p.waitFor("Add Backup Profile (Remote Storage)");
    assert.doesNotMatch(s, /Bucket Name/);
    await p.field("Replicated Resources");
    p.type("sample_remote_cg");
    await p.field("Storage Name(s)");
    p.keys("Escape", "4");
    await p.waitFor("Space or F7 selects");
    p.keys("F7", "Down", "F7", "Enter");
    await p.waitFor(/Storage Name\(s\)\s+\[storage1,storage2/);
    cmd = await p.command();
    assert.equal(
      cmd,
      "clmgr add backup_profile RG2 ENABLE_BACKUP=yes BACKUP_METHOD=remote_storage VOLUME_GROUP=VG2 REPLICATED_RESOURCES=sample_remote_cg STORAGE_NAME=storage1,storage2",
    );
    shown.push(cmd);
    assert.match(await p.run(), /Command: OK/);
    p.keys("F3");
    await p.waitFor("Type or select values");
    p.keys("F3");
    await p.waitFor("Select Resource Group Name");
    p.keys("F3");
    await p.waitFor("Remote Storage");
    p.keys("F3");
    await p.waitFor("Change/Show Backup Profile");

    // Change/Show Backup Profile: RG1 COMPRESSION (ring) and BACKUP_SCHEDULE.
    p.keys("Down", "Enter");
    await p.waitFor("Select Backup Profile");
    p.keys("Enter");
    s = await p.waitFor("Type or select values");
    assert.match(s, /Bucket Name\s+\[pha-bucket/, "current values shown");
    await p.field("Compression");
    p.keys("Tab");
    await p.waitFor(/Compression\s+\[enable/);
    await p.field("Backup Schedule");
    p.type("18:00");
    cmd = await p.command();
    assert.equal(cmd, "clmgr modify backup_profile RG1 COMPRESSION=enable BACKUP_SCHEDULE=18:00");
    shown.push(cmd);
    assert.match(await p.run(), /Command: OK/);

    // Leave: back to the top menu, Esc there exits and gives the terminal back.
    for (const want of ["Type or select values", "Select Backup Profile", "Remove Backup Profile", "> Backup Profiles"]) {
      p.keys("F3");
      await p.waitFor(want);
    }
    p.keys("Escape");
    await p.waitFor("SMIT-EXITED rc=0");

    // The same configuration from the clmgr lines, and from the shown commands run by hand.
    const [byHand, replay] = [await preparedHome(), await preparedHome()];
    await Promise.all([clmgrLines(replay, shown), clmgrLines(byHand, [
      "clmgr add storage_system storage1 TYPE=local",
      "clmgr add storage_system storage2 TYPE=local",
      "clmgr modify storage_system storage2 USER=svcadmin",
      "clmgr add backup_profile RG1 ENABLE_BACKUP=yes BACKUP_METHOD=cloud VOLUME_GROUP=VG1 REPLICATED_RESOURCES=sample_consistency_group STORAGE_NAME=storage1 BUCKET_NAME=pha-bucket BACKUP_SCHEDULE=17:30 TARGET_LOCATION=/tmp",
      "clmgr add backup_profile RG2 ENABLE_BACKUP=yes BACKUP_METHOD=remote_storage VOLUME_GROUP=VG2 REPLICATED_RESOURCES=sample_remote_cg STORAGE_NAME=storage1, storage2",
      "clmgr modify backup_profile RG1 COMPRESSION=enable BACKUP_SCHEDULE=18:00",
    ])]);
    const got = await xml(home);
    assert.equal(got, await xml(byHand));
    assert.equal(got, await xml(replay));
    assert.match(got, /BACKUP_SCHEDULE="18:00"/);
  });

  test("a bad value shows clmgr's message beside the field and changes nothing", async (t) => {
    if (!tmuxOk) return t.skip("tmux is not installed (apt-get install tmux)");
    const home = await preparedHome();
    await clmgrLines(home, [
      "clmgr add storage_system storage1 TYPE=local",
      "clmgr add backup_profile RG1 BACKUP_METHOD=cloud STORAGE_NAME=storage1 BUCKET_NAME=pha-bucket VOLUME_GROUP=VG1",
    ]);
    const before = await xml(home);
    const p = await Pane.start("bad", home, ["cbm_ch_profile"]);
    await p.waitFor("Select Backup Profile");
    p.keys("Enter");
    await p.waitFor("Type or select values");
    await p.field("Backup Schedule");
    p.type("25:00");
    const cmd = await p.command();
    assert.equal(cmd, "clmgr modify backup_profile RG1 BACKUP_SCHEDULE=25:00");
    p.keys("Enter");
    const ref = await runCli(home, cmd.split(" ").slice(1));
    assert.equal(ref.code, 3);
    const msg = ref.stderr.trim();
    assert.match(msg, /BACKUP_SCHEDULE/);
    const s = await p.waitFor(msg);
    assert.doesNotMatch(s, /COMMAND STATUS/, "nothing ran");
    assert.match(s, /^>.*Backup Schedule.*\[25:00\s*\] !$/m, "the field is marked");
    assert.equal(await xml(home), before, "cbm.xml unchanged (also by the reference run)");

    // A missing required value on an add form: the same message as clmgr's, nothing added.
    p.keys("F10");
    await p.waitFor("SMIT-EXITED rc=0");
    tmux("kill-session", "-t", "bad");
    const q = await Pane.start("bad2", home, ["cbm_add_storage"]);
    await q.waitFor("Add Storage Configuration");
    q.type("storage9");
    await q.field("Storage Type");
    q.keys("Tab");
    await q.field("IP Addresses");
    q.type("10.0.0.1:99999");
    const cmd2 = await q.command();
    q.keys("Enter");
    const ref2 = await runCli(home, cmd2.split(" ").slice(1));
    assert.notEqual(ref2.code, 0);
    await q.waitFor(ref2.stderr.trim());
    assert.equal(await xml(home), before);

    // Ctrl-C leaves at once, restores the terminal, changes nothing.
    q.keys("C-c");
    await q.waitFor("SMIT-EXITED rc=0");
    assert.equal(await xml(home), before);
  });

  test("fast paths: an unknown one is a usage error; -h lists them", async () => {
    const { home, cleanup } = await tempHome("cbm-smit-");
    homes.push(cleanup);
    const bad = await runCli(home, ["smit", "cbm_add_profil"], { prog: "cbm" });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Unknown SMIT fast path "cbm_add_profil".*cbm_add_profile/);
    const help = await runCli(home, ["smit", "-h"], { prog: "cbm" });
    assert.equal(help.code, 0);
    for (const fp of ["cbm_add_storage", "cbm_add_profile", "cbm_backup_files"]) assert.match(help.stdout, new RegExp(fp));
    const notty = await runCli(home, ["smit"], { prog: "cbm" });
    assert.equal(notty.code, 2);
    assert.match(notty.stderr, /needs a terminal/);
  });
});
