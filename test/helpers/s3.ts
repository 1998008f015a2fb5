/**
 * Real S3 servers for tests: a private s3rver per suite (a child process killed by pid), and the Ceph
 * RADOS Gateway that .ci/run (or a person) started with shared/s3/ceph-rgw/start-rgw.sh.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, httpAnswers } from "../../src/util/proc.ts";
export { freePort, httpAnswers };

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface S3rver {
  endpoint: string;
  accessKeyId: "S3RVER";
  secretAccessKey: "S3RVER";
  pid: number;
  /** Kills the server by pid, waits for it to exit, removes its data directory. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Starts s3rver on 127.0.0.1 with a fresh data directory. --openssl-legacy-provider: on Node ≥ 17
 * s3rver answers 500 to any truncated ListObjectsV2 without it (its continuation tokens use a
 * cipher OpenSSL 3 dropped). Buckets are created by the caller (S3ObjectStore.ensureBucket).
 */
export async function startS3rver(): Promise<S3rver> {
  const dir = mkdtempSync(path.join(tmpdir(), "cbm-s3rver-"));
  const bin = path.join(ROOT, "node_modules/s3rver/bin/s3rver.js");
  let lastErr = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ["--openssl-legacy-provider", bin, "-d", dir, "-a", "127.0.0.1", "-p", String(port), "--silent"],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    let exited = false;
    const exitP = new Promise<void>((r) => child.once("exit", () => ((exited = true), r())));
    const endpoint = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    while (!exited && Date.now() < deadline && !(await httpAnswers(endpoint, 500))) await sleep(50);
    const pid = child.pid;
    if (!exited && pid !== undefined && (await httpAnswers(endpoint, 500))) {
      child.stderr?.destroy();
      child.unref();
      return {
        endpoint,
        accessKeyId: "S3RVER",
        secretAccessKey: "S3RVER",
        pid,
        async stop() {
          await killPid(pid, exitP, () => exited);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    lastErr = exited ? `exited: ${stderr}` : "did not answer within 10 s";
    if (pid !== undefined) await killPid(pid, exitP, () => exited);
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`s3rver failed to start: ${lastErr}`);
}

async function killPid(pid: number, exitP: Promise<void>, exited: () => boolean): Promise<void> {
  if (exited()) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return; // already gone
  }
  await Promise.race([exitP, sleep(3000)]);
  if (!exited()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
    await Promise.race([exitP, sleep(2000)]);
  }
}

export interface RgwEnv {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  /** A key id the gateway's testing KMS knows, when it was started with one (see .ci/run). */
  kmsKeyId?: string;
  /** Where the settings came from, for skip messages. */
  source: string;
}

/** The directory start-rgw.sh uses: $RGW_DIR, else ${TMPDIR:-/tmp}/cbm-ceph-rgw. */
export function rgwDir(): string {
  return process.env.RGW_DIR || path.join(process.env.TMPDIR || "/tmp", "cbm-ceph-rgw");
}

/** Parses the `export K=V` lines start-rgw.sh writes to $RGW_DIR/env. */
function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2].replace(/^(['"])(.*)\1$/, "$2");
  }
  return out;
}

/** Key names of the testing KMS backend, read from the gateway's ceph.conf. */
function kmsKeysFromConf(dir: string): string[] {
  const conf = path.join(dir, "ceph.conf");
  if (!existsSync(conf)) return [];
  const m = /rgw[ _]crypt[ _]s3[ _]kms[ _]encryption[ _]keys\s*=\s*(.+)/.exec(readFileSync(conf, "utf8"));
  return m
    ? m[1]
        .trim()
        .split(/\s+/)
        .map((kv) => kv.split("=")[0])
    : [];
}

/**
 * The running Ceph RGW's settings, or undefined. CBM_TEST_RGW_ENDPOINT (+ _ACCESS_KEY, _SECRET_KEY,
 * _BUCKET) win; otherwise the env file of start-rgw.sh, used only when its `ready` marker exists.
 * CBM_TEST_KMS_KEY_ID names the KMS key; otherwise the first testing-KMS key in its ceph.conf.
 */
export function rgwEnv(): RgwEnv | undefined {
  const e = process.env;
  const dir = rgwDir();
  const kmsKeyId = e.CBM_TEST_KMS_KEY_ID || kmsKeysFromConf(dir)[0];
  if (e.CBM_TEST_RGW_ENDPOINT) {
    return {
      endpoint: e.CBM_TEST_RGW_ENDPOINT,
      accessKeyId: e.CBM_TEST_RGW_ACCESS_KEY || "testkey",
      secretAccessKey: e.CBM_TEST_RGW_SECRET_KEY || "testsecret",
      bucket: e.CBM_TEST_RGW_BUCKET || "test-bucket",
      kmsKeyId,
      source: "CBM_TEST_RGW_ENDPOINT",
    };
  }
  const file = path.join(dir, "env");
  if (!existsSync(file) || !existsSync(path.join(dir, "ready"))) return undefined;
  const v = parseEnvFile(readFileSync(file, "utf8"));
  if (!v.AWS_ENDPOINT_URL || !v.AWS_ACCESS_KEY_ID || !v.AWS_SECRET_ACCESS_KEY) return undefined;
  return {
    endpoint: v.AWS_ENDPOINT_URL,
    accessKeyId: v.AWS_ACCESS_KEY_ID,
    secretAccessKey: v.AWS_SECRET_ACCESS_KEY,
    bucket: v.S3_BUCKET || "test-bucket",
    kmsKeyId,
    source: file,
  };
}

/** rgwEnv() if the gateway also answers now; otherwise the reason, for t.skip(). */
export async function probeRgw(): Promise<{ env: RgwEnv } | { reason: string }> {
  const env = rgwEnv();
  if (!env) {
    return {
      reason:
        `Ceph RGW not running: no CBM_TEST_RGW_ENDPOINT and no ready ${path.join(rgwDir(), "env")} ` +
        "(start it with shared/s3/ceph-rgw/start-rgw.sh, or run .ci/run)",
    };
  }
  if (!(await httpAnswers(env.endpoint, 2000))) {
    return { reason: `Ceph RGW not running: ${env.endpoint} (from ${env.source}) does not answer` };
  }
  return { env };
}
