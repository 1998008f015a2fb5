/**
 * The paper's configuration walkthrough through clmgr, run as a user runs it: lab up, the storage
 * systems, the cloud profile, query, modify, delete, the remote_storage profile. Then bad input,
 * concurrent writers and a hand-corrupted file.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseAttrLines, runCli, tempHome, words } from "./helpers/cli.ts";

let home: string;
let cleanup: () => Promise<void>;
const xml = () => readFile(join(home, "cbm.xml"), "utf8");

before(async () => {
  ({ home, cleanup } = await tempHome());
  const up = await runCli(home, ["lab", "up"], { prog: "cbm" });
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, /hdisk18/);
});
after(async () => {
  await runCli(home, ["lab", "down"], { prog: "cbm" });
  await cleanup();
});

async function ok(line: string): Promise<string> {
  const r = await runCli(home, words(line));
  assert.equal(r.code, 0, `${line}\n${r.stderr}`);
  return r.stdout;
}

test("the paper's walkthrough: storage systems, cloud profile, query, modify, delete, remote_storage", async () => {
  await ok("clmgr add storage_system storage1 TYPE=SVC ADDRESSES=127.0.0.1 USER=admin BACKUP_PROFILE=true");
  await ok("clmgr add storage_system storage2 TYPE=SVC ADDRESSES=127.0.0.1 USER=admin BACKUP_PROFILE=true");
  const st = parseAttrLines(await ok("clmgr query storage_system storage1"));
  assert.deepEqual(
    { TYPE: st.TYPE, ADDRESSES: st.ADDRESSES, USER: st.USER, BACKUP_PROFILE: st.BACKUP_PROFILE },
    { TYPE: "SVC", ADDRESSES: "127.0.0.1", USER: "admin", BACKUP_PROFILE: "true" },
  );
  // Several names: each shown; an unknown one among them is an error, not left out.
  assert.deepEqual((await ok("clmgr query storage_system storage1 storage2")).match(/^NAME=.*$/gm), ['NAME="storage1"', 'NAME="storage2"']);
  const unknown = await runCli(home, words("clmgr query storage_system storage1 storage9"));
  assert.equal(unknown.code, 5, unknown.stderr);
  assert.match(unknown.stderr, /No storage_system named "storage9"/);

  await ok(`clmgr add backup_profile RG1 ENABLE_BACKUP=yes BACKUP_METHOD=cloud
    REPLICATED_RESOURCES=sample_consistency_group STORAGE_NAME=storage1
    BUCKET_NAME=pha-bucket TARGET_LOCATION=/tmp VOLUME_GROUP=VG1
    BACKUP_SCHEDULE=17:30`);
  let p = parseAttrLines(await ok("clmgr query backup_profile RG1"));
  assert.equal(p.NAME, "RG1");
  assert.equal(p.BACKUP_METHOD, "cloud");
  assert.equal(p.REPLICATED_RESOURCES, "sample_consistency_group");
  assert.equal(p.STORAGE_NAME, "storage1");
  assert.equal(p.BUCKET_NAME, "pha-bucket");
  assert.equal(p.TARGET_LOCATION, "/tmp");
  assert.equal(p.BACKUP_SCHEDULE, "17:30");
  // every attribute shown, defaults included
  for (const [k, v] of Object.entries({ ENCRYPTION: "disable", COMPRESSION: "disable", BACKUP_FREQUENCY: "1", CLOUD_SERVICE: "s3" })) {
    assert.equal(p[k], v, k);
  }
  for (const k of ["NOTIFYMETHOD", "INC_BACKUP_FREQ", "REGION"]) assert.ok(k in p, `${k} shown`);
  assert.match(p.ENDPOINT, /^http:\/\/127\.0\.0\.1:\d+$/, "the lab points the cloud defaults at its own S3 server");

  await ok("clmgr modify backup_profile RG1 BACKUP_SCHEDULE=18:00 COMPRESSION=enable");
  p = parseAttrLines(await ok("clmgr query backup_profile RG1"));
  assert.equal(p.BACKUP_SCHEDULE, "18:00");
  assert.equal(p.COMPRESSION, "enable");
  assert.equal(p.BUCKET_NAME, "pha-bucket", "modify keeps other attributes");

  const json = JSON.parse(await ok("clmgr query backup_profile RG1 -o json")) as Record<string, string>;
  assert.equal(json.BACKUP_SCHEDULE, "18:00");

  await ok("clmgr delete backup_profile RG1");
  assert.equal((await ok("clmgr query backup_profile")).trim(), "");
  const gone = await runCli(home, ["query", "backup_profile", "RG1"]);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /No backup_profile named "RG1"/);

  await ok(`clmgr add backup_profile RG1 ENABLE_BACKUP=yes BACKUP_METHOD=remote_storage
    REPLICATED_RESOURCES=sample_remote_cg STORAGE_NAME=storage1, storage2
    VOLUME_GROUP=VG1`);
  p = parseAttrLines(await ok("clmgr query backup_profile RG1"));
  assert.equal(p.BACKUP_METHOD, "remote_storage");
  assert.equal(p.STORAGE_NAME, "storage1,storage2");
  assert.equal(p.REPLICATED_RESOURCES, "sample_remote_cg");

  // A cbm.xml from before the primary-first rule (storage2 first) still loads; the rule applies to
  // what a command changes, and the command that fixes it runs.
  const xmlPath = join(home, "cbm.xml");
  const xml = await readFile(xmlPath, "utf8");
  assert.match(xml, /STORAGE_NAME="storage1,storage2"/);
  await writeFile(xmlPath, xml.replace('STORAGE_NAME="storage1,storage2"', 'STORAGE_NAME="storage2,storage1"'), { mode: 0o600 });
  assert.equal(parseAttrLines(await ok("clmgr query backup_profile RG1")).STORAGE_NAME, "storage2,storage1");
  const reversed = await runCli(home, words("clmgr modify backup_profile RG1 REPLICATED_RESOURCES=sample_remote_cg"));
  assert.equal(reversed.code, 3);
  assert.match(reversed.stderr, /names storage2 as the primary, but physical_volume hdisk18 of VG1 is on storage1; give the primary .* STORAGE_NAME=storage1,storage2/);
  await ok("clmgr modify backup_profile RG1 STORAGE_NAME=storage1,storage2");
  assert.equal((await stat(join(home, "cbm.xml"))).mode & 0o777, 0o600, "cbm.xml is mode 0600");
  const files = await runCli(home, words("clmgr query backup_files RG_NAME=RG1"));
  assert.equal(files.code, 0, files.stderr);
  assert.equal(files.stdout.trim(), "", "no backup files before any backup");
  assert.match(files.stderr, /No backup repository to list \(backup_profile RG1 has BACKUP_METHOD=remote_storage\); to list one, give BUCKET_NAME=/, "and it says why");
});

test("help lists each attribute with allowed values and default", async () => {
  const r = await runCli(home, ["add", "backup_profile", "-h"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /BACKUP_SCHEDULE\s+a time HH:MM \(00:00–23:59\) \(default: 00:42\)/);
  assert.match(r.stdout, /ENCRYPTION\s+disable\|kms\|aes \(default: disable\)/);
  const g = await runCli(home, ["help"]);
  assert.equal(g.code, 0);
  assert.match(g.stdout, /Exit codes: 0 ok, 1 internal, 2 usage, 3 validation, 4 runtime/);
  // -h on an action asks; it never runs it (a prune with -h used to forget backups).
  const before = await xml();
  for (const [line, usage] of [
    ["clmgr prune backup_files RG_NAME=RG1 KEEP_LAST=1 -h", /clmgr prune backup_files RG_NAME=RG \[DRY_RUN=yes\]/],
    ["clmgr restore backup_files latest RG_NAME=RG1 TARGET=/dev/null -h", /clmgr restore backup_files <name\|id\|latest>/],
    ["clmgr query repository -h", /clmgr query repository/],
  ] as const) {
    const h = await runCli(home, words(line));
    assert.equal(h.code, 0, `${line}: ${h.stderr}`);
    assert.match(h.stdout, usage);
    assert.doesNotMatch(h.stdout + h.stderr, /forgot|backup\(s\)|Restor/);
  }
  assert.equal(await xml(), before);
});

// [command line, exit code, patterns the message must contain (the attribute and the allowed values)]
const BAD: Array<[string, number, RegExp[]]> = [
  ["clmgr add backup_profil RG1 BACKUP_METHOD=cloud", 2, [/backup_profil/, /Did you mean "backup_profile"/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=cloud BUCKET_NAME=bkt VOLUME_GROUP=VG1 COMPRESION=enable", 3, [/COMPRESION/, /Did you mean "COMPRESSION"/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=clod BUCKET_NAME=bkt VOLUME_GROUP=VG1", 3, [/BACKUP_METHOD/, /cloud\|remote_storage/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=cloud BUCKET_NAME=bkt VOLUME_GROUP=VG1 ENCRYPTION=des", 3, [/ENCRYPTION/, /disable\|kms\|aes/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=cloud BUCKET_NAME=bkt VOLUME_GROUP=VG1 COMPRESSION=maybe", 3, [/COMPRESSION/, /enable\|disable/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=cloud BUCKET_NAME=bkt VOLUME_GROUP=VG1 BACKUP_SCHEDULE=25:00", 3, [/BACKUP_SCHEDULE/, /HH:MM/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=cloud BUCKET_NAME=bkt VOLUME_GROUP=VG1 BACKUP_SCHEDULE=5pm", 3, [/BACKUP_SCHEDULE/, /HH:MM/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=cloud BUCKET_NAME=bkt VOLUME_GROUP=VG1 BACKUP_FREQUENCY=0", 3, [/BACKUP_FREQUENCY/, /integer from 1/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=cloud BUCKET_NAME=bkt VOLUME_GROUP=VG1 BACKUP_FREQUENCY=1.5", 3, [/BACKUP_FREQUENCY/, /integer/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=cloud BUCKET_NAME=bkt VOLUME_GROUP=VG1 INC_BACKUP_FREQ=-6", 3, [/INC_BACKUP_FREQ/, /integer from 1/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=cloud VOLUME_GROUP=VG1 STORAGE_NAME=storage1", 3, [/BUCKET_NAME/, /bucket/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=cloud BUCKET_NAME=pha/bucket VOLUME_GROUP=VG1 STORAGE_NAME=storage1", 3, [/BUCKET_NAME/, /"pha\/bucket"/, /letters, digits/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=remote_storage REPLICATED_RESOURCES=cg VOLUME_GROUP=VG1 STORAGE_NAME=storage1", 3, [/STORAGE_NAME/, /exactly two/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=remote_storage REPLICATED_RESOURCES=cg VOLUME_GROUP=VG1 STORAGE_NAME=storage2,storage1", 3, [/STORAGE_NAME="storage2,storage1" names storage2 as the primary/, /physical_volume hdisk18 of VG1 is on storage1/, /STORAGE_NAME=storage1,storage2/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=cloud BUCKET_NAME=bkt VOLUME_GROUP=VG9", 3, [/VOLUME_GROUP="VG9"/, /Allowed: VG1/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=cloud BUCKET_NAME=bkt VOLUME_GROUP=VG1 STORAGE_NAME=storage9", 3, [/STORAGE_NAME="storage9"/, /Defined: storage1, storage2/]],
  ["clmgr add storage_system storage1 TYPE=SVC ADDRESSES=127.0.0.1", 3, [/storage_system named "storage1" already exists/]],
  ["clmgr add storage_system storage3 TYPE=EMC ADDRESSES=127.0.0.1", 3, [/TYPE/, /SVC\|local/]],
  ["clmgr add storage_system storage3 TYPE=SVC ADDRESSES=127.0.0.1:99999", 3, [/ADDRESSES/, /host\[:port\]/]],
  ["clmgr delete storage_system storage1", 3, [/storage1/, /used by backup_profile "RG1"/]],
  ["clmgr modify backup_profile RG2 COMPRESSION=enable", 5, [/RG2/, /Defined: RG1/]],
  ["clmgr add backup_profile RG1 BACKUP_METHOD=cloud BUCKET_NAME=bkt VOLUME_GROUP=VG1 ACCESS_KEY_ENV=AKIA/SECRET", 3, [/ACCESS_KEY_ENV/, /NAME of an environment variable/]],
  ["clmgr add storage_system bad;name TYPE=SVC ADDRESSES=127.0.0.1", 3, [/bad;name/, /letters, digits/]],
  ["clmgr frobnicate backup_profile RG1", 2, [/frobnicate/, /Actions:/]],
  // TARGET_DISKS are overwritten by every backup: a source disk, a repeat, an unknown disk or a wrong count is refused.
  ["clmgr modify backup_profile RG1 TARGET_DISKS=hdisk19,hdisk18", 3, [/TARGET_DISKS/, /hdisk19 belongs to volume_group VG1/, /spare/]],
  ["clmgr modify backup_profile RG1 TARGET_DISKS=hdisk21,hdisk21", 3, [/TARGET_DISKS/, /hdisk21 is named twice/]],
  ["clmgr modify backup_profile RG1 TARGET_DISKS=hdisk99,hdisk21", 3, [/TARGET_DISKS="hdisk99" is not a defined physical_volume/]],
  ["clmgr modify backup_profile RG1 TARGET_DISKS=hdisk21", 3, [/TARGET_DISKS/, /1 target\(s\) for the 2 disk\(s\) of VOLUME_GROUP VG1 \(hdisk18, hdisk19\)/]],
];

test("bad input: exit code, a message naming the attribute and what is allowed, cbm.xml unchanged", async () => {
  const check = async (cases: typeof BAD) => {
    const before = await xml();
    for (const [line, code, patterns] of cases) {
      const r = await runCli(home, words(line));
      assert.equal(r.code, code, `${line}\n${r.stderr}`);
      for (const re of patterns) assert.match(r.stderr, re, line);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
      assert.equal(await xml(), before, `cbm.xml unchanged after: ${line}`);
    }
  };
  // add cases meet no existing profile, so each fails for its own reason
  await ok("clmgr delete backup_profile RG1");
  await check(BAD.filter(([l]) => l.includes(" add backup_profile")));
  // the rest meet a profile that uses storage1
  await ok("clmgr add backup_profile RG1 BACKUP_METHOD=remote_storage REPLICATED_RESOURCES=cg STORAGE_NAME=storage1,storage2 VOLUME_GROUP=VG1");
  await check(BAD.filter(([l]) => !l.includes(" add backup_profile")));
  assert.ok(BAD.length >= 15);
});

test("20 concurrent clmgr modify processes each change a different attribute: all 20 land", async () => {
  const { home: h, cleanup: c } = await tempHome();
  try {
    assert.equal((await runCli(h, ["lab", "up"], { prog: "cbm" })).code, 0);
    const changes: Array<[string, string]> = [
      ["storage_system storage1", "USER=u1"],
      ["storage_system storage1", "SSH_KEY=/k/one"],
      ["storage_system storage1", "HOST_KEY=ssh-ed25519-AAAA1"],
      ["storage_system storage1", "ADDRESSES=127.0.0.1:2201"],
      ["storage_system storage1", "BACKUP_PROFILE=false"],
      ["backup_profile RG1", "BACKUP_SCHEDULE=01:01"],
      ["backup_profile RG1", "COMPRESSION=enable"],
      ["backup_profile RG1", "ENCRYPTION=aes"],
      ["backup_profile RG1", "BACKUP_FREQUENCY=3"],
      ["backup_profile RG1", "INC_BACKUP_FREQ=6"],
      ["backup_profile RG1", "TARGET_LOCATION=/spool"],
      ["backup_profile RG1", "NOTIFYMETHOD=/usr/local/bin/notify"],
      ["backup_profile RG1", "REGION=eu-de"],
      ["backup_profile RG1", "AWS_PROFILE=backup"],
      ["backup_profile RG1", "KMS_KEY_ID=key-1"],
      ["backup_profile RG1", "ENABLE_BACKUP=no"],
      ["backup_profile RG1", "KEEP_LAST=7"],
      ["backup_profile RG1", "REPLICATED_RESOURCES=cg20"],
      ["backup_profile RG1", "ACCESS_KEY_ENV=MY_AK"],
      ["backup_profile RG1", "SECRET_KEY_ENV=MY_SK"],
    ];
    assert.equal((await runCli(h, words("clmgr add storage_system storage1 TYPE=SVC ADDRESSES=127.0.0.1"))).code, 0);
    assert.equal((await runCli(h, words("clmgr add storage_system storage2 TYPE=SVC ADDRESSES=127.0.0.1"))).code, 0);
    const add = await runCli(h, words("clmgr add backup_profile RG1 BACKUP_METHOD=cloud BUCKET_NAME=bkt VOLUME_GROUP=VG1 STORAGE_NAME=storage2"));
    assert.equal(add.code, 0, add.stderr);
    const results = await Promise.all(
      changes.map(([obj, attr]) => runCli(h, ["modify", ...obj.split(" "), attr])),
    );
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const st = parseAttrLines((await runCli(h, ["query", "storage_system", "storage1"])).stdout);
    const bp = parseAttrLines((await runCli(h, ["query", "backup_profile", "RG1"])).stdout);
    for (const [obj, attr] of changes) {
      const [k, v] = attr.split("=");
      assert.equal((obj.startsWith("storage") ? st : bp)[k], v, `${obj} ${attr} landed`);
    }
  } finally {
    await runCli(h, ["lab", "down"], { prog: "cbm" });
    await c();
  }
});

test("a hand-corrupted cbm.xml gives an error naming the problem, not a stack trace", async () => {
  const { home: h, cleanup: c } = await tempHome();
  try {
    assert.equal((await runCli(h, ["lab", "up"], { prog: "cbm" })).code, 0);
    const good = await readFile(join(h, "cbm.xml"), "utf8");
    const cases: Array<[string, RegExp]> = [
      [good.replace("</cbm>", ""), /XML syntax error at line \d+/],
      [good.replace('<volume_group name="VG1"', '<volume_grop name="VG1"'), /unknown element <volume_grop>/],
      [good.replace('SIZE="268435456"', 'SIZE="big"'), /physical_volume name="hdisk18".*SIZE/],
      [good.replace('schema_version="1"', 'schema_version="9"'), /schema_version="9" is not supported.*newer CBM/],
      [good.replace('PHYSICAL_VOLUMES="hdisk18,hdisk19"', 'PHYSICAL_VOLUMES="hdisk18,hdisk99"'), /hdisk99.*not a defined physical_volume/],
      [good.replace('<node name="Node1"/>', '<node name="Node1" COLOR="red"/>'), /unknown attribute COLOR/],
    ];
    for (const [text, re] of cases) {
      await writeFile(join(h, "cbm.xml"), text);
      const r = await runCli(h, ["query", "resource_group", "RG1"]);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, re);
      assert.match(r.stderr, /cbm\.xml is not a valid CBM configuration/);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      // and a write refuses too, leaving the broken file for the person to fix
      const w = await runCli(h, words("clmgr add node Node2"));
      assert.equal(w.code, 3);
      assert.equal(await readFile(join(h, "cbm.xml"), "utf8"), text);
    }
  } finally {
    await runCli(h, ["lab", "down"], { prog: "cbm" });
    await c();
  }
});

test("lab down removes what lab up made", async () => {
  const { home: h, cleanup: c } = await tempHome();
  try {
    assert.equal((await runCli(h, ["lab", "up"], { prog: "cbm" })).code, 0);
    const down = await runCli(h, ["lab", "down"], { prog: "cbm" });
    assert.equal(down.code, 0, down.stderr);
    assert.equal((await runCli(h, ["query", "resource_group"])).stdout.trim(), "");
    await assert.rejects(stat(join(h, "lab")));
  } finally {
    await runCli(h, ["lab", "down"], { prog: "cbm" });
    await c();
  }
});
