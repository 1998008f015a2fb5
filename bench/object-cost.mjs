#!/usr/bin/env node
// What one object costs the benchmark's S3 server: the same 1 GiB PUT as 2 MiB objects (the size of
// our compressed 4 MiB chunks) and as 8 MiB objects (four chunks packed together), alternating,
// with the server's CPU time read from /proc. Starts its own s3rver on 127.0.0.1 and stops it by pid.
//   node bench/object-cost.mjs [rounds=2]
/* global process, console, fetch, setTimeout, performance */
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const rounds = Math.min(Number(process.argv[2] ?? 2), 10);
const TOTAL = 1024 * 1024 * 1024;
const port = await new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const dir = mkdtempSync(join(tmpdir(), "cbm-object-cost-"));
const buckets = Array.from({ length: 2 * rounds }, (_, i) => ["--configure-bucket", `b${i}`]).flat();
const srv = spawn(process.execPath, ["--openssl-legacy-provider", join(root, "node_modules/s3rver/bin/s3rver.js"), "-d", dir, "-a", "127.0.0.1", "-p", String(port), "--silent", ...buckets], { stdio: "ignore" });
const cpu = () => {
  const f = readFileSync(`/proc/${srv.pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 10 ms
};
try {
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
  for (let i = 0; i < 50; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/`).then(() => true, () => false);
    if (up) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const data = randomBytes(16 * 1024 * 1024);
  let b = 0;
  for (let r = 0; r < rounds; r++) {
    for (const size of [2, 8].map((m) => m * 1024 * 1024)) {
      const n = TOTAL / size;
      const bucket = `b${b++}`;
      let next = 0;
      spawnSync("sync"); // the previous round's dirty pages must not throttle this one's writes
      const c0 = cpu();
      const t0 = performance.now();
      // 8 PUTs in flight, like a backup; keys laid out as chunk keys are.
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < n) {
            const i = next++;
            const id = createHash("sha256").update(`${size}/${i}`).digest("hex");
            const off = (i * 4096) % (data.length - size);
            await client.send(new PutObjectCommand({ Bucket: bucket, Key: `chunks/${id.slice(0, 2)}/${id}`, Body: data.subarray(off, off + size) }));
          }
        }),
      );
      const wall = (performance.now() - t0) / 1000;
      const used = cpu() - c0;
      console.log(`${size >> 20} MiB x ${n}: wall ${wall.toFixed(2)} s, s3rver CPU ${used.toFixed(2)} s (${((used * 1000) / n).toFixed(1)} ms per object)`);
    }
  }
} finally {
  srv.kill();
  await new Promise((r) => srv.once("exit", r));
  rmSync(dir, { recursive: true, force: true });
}
