/**
 * OBJECT_LOCK_DAYS on Ceph RGW (skipped, visibly, when no gateway runs): the first backup creates the
 * bucket with object lock, its chunks and manifest carry the retention date, and prune keeps a backup
 * that is still under retention even when the policy would forget it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { DeleteBucketCommand, DeleteObjectCommand, ListObjectVersionsCommand } from "@aws-sdk/client-s3";
import { runCli, tempHome, words } from "./helpers/cli.ts";
import { makeDisk, mutateDisk } from "./helpers/disks.ts";
import { probeRgw } from "./helpers/s3.ts";
import { writeSite } from "./helpers/site.ts";
import { S3ObjectStore } from "../src/objectstore/s3.ts";

test("OBJECT_LOCK_DAYS: backups written under retention, and prune keeps them", async (t) => {
  const rgw = await probeRgw();
  if ("reason" in rgw) return t.skip(`Ceph RGW not running: ${rgw.reason}`);
  const { home, cleanup } = await tempHome("cbm-lock-");
  const bucket = `cbm-lock-${Date.now().toString(36)}-${randomBytes(2).toString("hex")}`;
  const store = new S3ObjectStore({
    bucket,
    endpoint: rgw.env.endpoint,
    credentials: { accessKeyId: rgw.env.accessKeyId, secretAccessKey: rgw.env.secretAccessKey },
  });
  t.after(async () => {
    // GOVERNANCE retention can be bypassed by the owner: remove every version, then the bucket.
    const v = await store.client.send(new ListObjectVersionsCommand({ Bucket: bucket })).catch(() => undefined);
    for (const o of [...(v?.Versions ?? []), ...(v?.DeleteMarkers ?? [])]) {
      await store.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key, VersionId: o.VersionId, BypassGovernanceRetention: true }));
    }
    await store.client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    store.destroy();
    await cleanup();
  });
  const env = { T_AK: rgw.env.accessKeyId, T_SK: rgw.env.secretAccessKey };
  const disk = join(home, "sda.img");
  await makeDisk(disk, 16, 5);
  await writeSite(home, {
    disks: [disk],
    profile: [
      ["CLOUD_SERVICE", "s3"], ["ENDPOINT", rgw.env.endpoint], ["BUCKET_NAME", bucket],
      ["ACCESS_KEY_ENV", "T_AK"], ["SECRET_KEY_ENV", "T_SK"], ["OBJECT_LOCK_DAYS", "1"],
    ],
  });
  const cli = async (line: string, code = 0) => {
    const r = await runCli(home, words(line), { env });
    assert.equal(r.code, code, `${line}\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  const first = JSON.parse((await cli("clmgr backup backup_profile RG1 -o json")).stdout) as { id: string };
  const keys: string[] = [];
  await store.list("", (i) => void keys.push(i.key));
  const manifest = keys.find((k) => k === `manifests/${first.id}`);
  const chunk = keys.find((k) => k.startsWith("packs/"));
  assert.ok(manifest && chunk, `manifest and chunks stored: ${keys.join(", ")}`);
  const day = Date.now() + 86_400_000;
  for (const k of [manifest, chunk]) {
    const d = await store.describe(k);
    assert.equal(d?.objectLockMode, "GOVERNANCE", `${k} is under object lock`);
    assert.ok(d?.retainUntil && Math.abs(d.retainUntil.getTime() - day) < 10 * 60_000, `${k} retained for a day: ${d?.retainUntil?.toISOString()}`);
  }

  await mutateDisk(disk, 10, 9);
  await cli("clmgr backup backup_profile RG1");
  const pruned = await cli("clmgr prune backup_files RG_NAME=RG1 KEEP_LAST=1 PRUNE_GRACE_HOURS=0");
  const files = JSON.parse((await cli("clmgr query backup_files RG_NAME=RG1 -o json")).stdout) as Array<{ id: string }>;
  assert.ok(files.some((f) => f.id === first.id), `a backup under retention is kept by prune:\n${pruned.stdout}`);
  await cli(`clmgr restore backup_files ${first.id} RG_NAME=RG1 DISK=hdisk18 TARGET=${join(home, "r.img")}`);
});
