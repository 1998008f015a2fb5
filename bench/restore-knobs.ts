/**
 * Diagnostic, not a benchmark: restores one disk of an existing S3 repository through the library
 * with the pipeline's knobs varied (concurrency, whole-image verification, fsync), to find what
 * limits `clmgr restore`. Each variant runs in this one process after a warm-up.
 *   node --import tsx bench/restore-knobs.ts ENDPOINT BUCKET KEYFILE DISK OUTDIR
 * (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { openObjectStore } from "../src/objectstore/open.ts";
import { Repository } from "../src/repo/index.ts";

const [endpoint, bucket, keyFile, disk, outDir] = process.argv.slice(2);
const store = openObjectStore(
  { kind: "s3", bucket, endpoint, accessKeyEnv: "AWS_ACCESS_KEY_ID", secretKeyEnv: "AWS_SECRET_ACCESS_KEY" },
  { env: process.env },
);
const repo = await Repository.open(store, { keyFile });
const variants: [string, Record<string, unknown>][] = [
  ["default (concurrency 8, verify, fsync)", {}],
  ["no whole-image verify", { verifyImage: false }],
  ["no fsync", { sync: false }],
  ["concurrency 16", { concurrency: 16 }],
  ["concurrency 32", { concurrency: 32 }],
  ["default again", {}],
];
for (const [name, o] of variants) {
  const out = join(outDir, "knob.img");
  await rm(out, { force: true });
  const t = performance.now();
  await repo.restoreDisk("latest", disk, out, o);
  console.log(`${name}: ${((performance.now() - t) / 1000).toFixed(2)} s`);
  await rm(out, { force: true });
}
await repo.close();
