/**
 * Failure handling of the object store: which failures are retried (and which never are), the retry
 * wrapper carrying a workload through a proxy that injects 500/503/resets/cut answers, and errors a
 * person can act on when the credentials are wrong.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as net from "node:net";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { OBJ, ObjectStoreError, isTransient } from "../src/objectstore/errors.ts";
import { openObjectStore } from "../src/objectstore/open.ts";
import { backoffMs, retrying, withRetry, type RetryPolicy } from "../src/objectstore/retry.ts";
import { S3ObjectStore } from "../src/objectstore/s3.ts";
import { mapS3Error } from "../src/objectstore/s3errors.ts";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import type { ObjectStore, PutOptions } from "../src/objectstore/types.ts";
import { startFaultProxy, type FaultProxy } from "./helpers/faultproxy.ts";
import { probeRgw, startS3rver, type S3rver } from "./helpers/s3.ts";

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const fast: RetryPolicy = { attempts: 12, baseMs: 2, maxMs: 40 };

async function caught(p: Promise<unknown>): Promise<ObjectStoreError> {
  const e = await p.then(
    () => assert.fail("expected an error"),
    (err: unknown) => err,
  );
  assert.ok(e instanceof ObjectStoreError, `expected ObjectStoreError, got ${String(e)}`);
  return e;
}

/** An SDK-shaped service error, as @aws-sdk/client-s3 throws them. */
function sdkError(name: string, status: number): Error {
  return Object.assign(new Error(`${name} from server`), { name, $metadata: { httpStatusCode: status } });
}

describe("what is transient", () => {
  const ctx = { op: "get", location: "s3://b/", key: "k" };
  for (const [name, status] of [
    ["InternalError", 500],
    ["ServiceUnavailable", 503],
    ["SlowDown", 503],
    ["Unknown", 502],
    ["TooManyRequestsException", 429],
    ["RequestTimeout", 400],
  ] as const) {
    it(`${name} ${status} is retried`, () =>
      assert.equal(isTransient(mapS3Error(sdkError(name, status), ctx)), true));
  }
  for (const [name, status, code] of [
    ["NoSuchKey", 404, OBJ.notFound],
    ["AccessDenied", 403, OBJ.denied],
    ["InvalidAccessKeyId", 403, OBJ.denied],
    ["SignatureDoesNotMatch", 403, OBJ.denied],
    ["PreconditionFailed", 412, OBJ.exists],
    ["NoSuchBucket", 404, OBJ.noBucket],
    ["InvalidArgument", 400, OBJ.io],
  ] as const) {
    it(`${name} ${status} is never retried (${code})`, () => {
      const e = mapS3Error(sdkError(name, status), ctx);
      assert.equal(e.code, code);
      assert.equal(isTransient(e), false);
    });
  }
  it("a 5xx that mentions KMS (an outage) is retried; a 4xx about the KMS key is CBM_OBJ_KMS at once", () => {
    const outage = Object.assign(new Error("KMS is unavailable"), { name: "ServiceUnavailable", $metadata: { httpStatusCode: 503 } });
    assert.equal(isTransient(mapS3Error(outage, ctx)), true);
    const badKey = Object.assign(new Error("Failed to retrieve the actual key, kms-keyid: x"), { name: "InvalidArgument", $metadata: { httpStatusCode: 400 } });
    const e = mapS3Error(badKey, ctx);
    assert.equal(e.code, OBJ.kms);
    assert.equal(isTransient(e), false);
  });
  it("connection resets, broken pipes, timeouts and hang-ups are retried", () => {
    for (const code of ["ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNREFUSED"]) {
      assert.equal(isTransient(mapS3Error(Object.assign(new Error(code), { code }), ctx)), true, code);
    }
    assert.equal(isTransient(mapS3Error(new Error("socket hang up"), ctx)), true);
    assert.equal(isTransient(mapS3Error(Object.assign(new Error("x"), { name: "TimeoutError" }), ctx)), true);
  });
});

describe("retrying()", () => {
  it("waits with full jitter under an exponential cap", () => {
    const p = { attempts: 5, baseMs: 100, maxMs: 1000 };
    assert.equal(backoffMs({ ...p, random: () => 0.999999 }, 0), 99);
    assert.equal(backoffMs({ ...p, random: () => 0.999999 }, 3), 799);
    assert.equal(backoffMs({ ...p, random: () => 0.999999 }, 10), 999);
    assert.equal(backoffMs({ ...p, random: () => 0 }, 3), 0);
  });

  it("retries transient failures until success, and says so to onRetry", async () => {
    let calls = 0;
    const seen: number[] = [];
    const v = await retrying({ ...fast, onRetry: (i) => seen.push(i.attempt) }, "op", async () => {
      if (++calls < 4) throw new ObjectStoreError(OBJ.io, "503", "runtime", { transient: true });
      return "done";
    });
    assert.equal(v, "done");
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it("gives up after the attempts, naming the operation and the count", async () => {
    let calls = 0;
    const e = await caught(
      retrying({ attempts: 3, baseMs: 1, maxMs: 1 }, "get chunks/ab", async () => {
        calls++;
        throw new ObjectStoreError(OBJ.io, "InternalError (HTTP 500)", "runtime", { transient: true });
      }),
    );
    assert.equal(calls, 3);
    assert.match(e.message, /get chunks\/ab: still failing after 3 attempts: InternalError \(HTTP 500\)/);
  });

  it("a create-only put whose answer was lost and whose retry meets its own object succeeds", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "cbm-lost-"));
    try {
      const fs = new FsObjectStore(dir);
      let calls = 0;
      // The first put lands but its answer is "lost"; the retry then meets CBM_OBJ_EXISTS.
      const lossy: ObjectStore = Object.assign(Object.create(fs) as FsObjectStore, {
        put: async (k: string, b: Uint8Array, o?: PutOptions) => {
          await fs.put(k, b, o);
          if (++calls === 1) throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
        },
      });
      const store = withRetry(lossy, fast);
      await store.put("k", new Uint8Array([1, 2, 3]), { ifNoneMatch: true });
      // ...but someone else's object under the key is still a conflict.
      calls = 0;
      const e = await caught(store.put("k", new Uint8Array([9]), { ifNoneMatch: true }));
      assert.equal(e.code, OBJ.exists);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("never retries a permanent failure", async () => {
    let calls = 0;
    await caught(
      retrying(fast, "op", async () => {
        calls++;
        throw new ObjectStoreError(OBJ.notFound, "missing", "notfound");
      }),
    );
    assert.equal(calls, 1);
  });
});

/** A server of the test's own, with `bucket` created (and, if given, objects put into it). */
async function s3rverWith(bucket: string, objects: Record<string, Uint8Array> = {}): Promise<S3rver> {
  const server = await startS3rver();
  const s = new S3ObjectStore({ bucket, endpoint: server.endpoint, credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey } });
  await s.ensureBucket();
  for (const [k, v] of Object.entries(objects)) await s.put(k, v);
  s.destroy();
  return server;
}

describe("S3 through a fault-injecting proxy", () => {
  let server: S3rver;
  let proxy: FaultProxy;
  let store: ObjectStore;
  let retries = 0;
  before(async () => {
    server = await s3rverWith("cbm-faults");
    proxy = await startFaultProxy({ target: server.endpoint, probability: 0.2, seed: 20240611 });
    // Credentials as the configuration holds them: names of environment variables.
    store = openObjectStore(
      {
        kind: "s3",
        bucket: "cbm-faults",
        endpoint: proxy.endpoint,
        accessKeyEnv: "T_KEY",
        secretKeyEnv: "T_SECRET",
      },
      {
        retry: { ...fast, onRetry: () => void retries++ },
        env: { T_KEY: server.accessKeyId, T_SECRET: server.secretAccessKey },
      },
    );
  });
  after(async () => {
    await proxy?.stop();
    await server?.stop();
  });

  it("completes puts, gets, ranges, heads, lists, a multipart putStream and deletes with equal bytes", async () => {
    const bodies = new Map<string, Buffer>();
    for (let i = 0; i < 60; i++) bodies.set(`obj/${i}`, randomBytes(16 * 1024 + i));
    const entries = [...bodies];
    await Promise.all(entries.map(([k, b]) => store.put(k, b)));
    for (const [k, b] of entries) {
      assert.equal(sha(await store.get(k)), sha(b), k);
      assert.deepEqual(Buffer.from(await store.get(k, { offset: 100, length: 50 })), b.subarray(100, 150));
      assert.equal((await store.head(k))?.size, b.length);
    }
    const listed: string[] = [];
    await store.list("obj/", (i) => void listed.push(i.key));
    assert.equal(listed.length, 60);
    assert.equal(new Set(listed).size, 60, "each object exactly once");

    const big = randomBytes(20 * MiB + 3);
    async function* gen() {
      for (let o = 0; o < big.length; o += 3 * MiB) yield big.subarray(o, o + 3 * MiB);
    }
    await store.putStream("big", gen());
    assert.equal(sha(await store.get("big")), sha(big));

    await Promise.all(entries.map(([k]) => store.delete(k)));
    for (const [k] of entries.slice(0, 5)) assert.equal(await store.head(k), undefined);

    const c = proxy.counts;
    const rate = proxy.injected() / c.requests;
    console.log(`fault proxy: ${JSON.stringify(c)} rate=${rate.toFixed(3)} retries=${retries}`);
    assert.ok(rate >= 0.1, `at least 10% of requests faulted (${rate})`);
    assert.ok(c["500"] > 0 && c["503"] > 0 && c.reset > 0 && c.truncate > 0 && c.lost > 0, "every kind of fault happened");
    assert.ok(retries >= proxy.injected() - 2, "faults were retried, not ignored");
  });

  it("a missing key is reported at once, not retried", async () => {
    proxy.setProbability(0);
    const before = retries;
    const e = await caught(store.get("no/such/key"));
    assert.equal(e.code, OBJ.notFound);
    assert.equal(retries, before);
  });
});

describe("S3 through a proxy with planned faults", () => {
  let server: S3rver;
  before(async () => {
    server = await s3rverWith("cbm-planned");
  });
  after(async () => server?.stop());

  /** A store behind a fresh proxy that answers the first requests with `plan`, then forwards all. */
  async function planned(plan: ("503" | "reset" | "truncate" | undefined)[], run: (store: ObjectStore, retried: () => number) => Promise<void>) {
    const proxy = await startFaultProxy({ target: server.endpoint, probability: 0, plan });
    let retries = 0;
    const store = openObjectStore(
      { kind: "s3", bucket: "cbm-planned", endpoint: proxy.endpoint, accessKeyEnv: "T_KEY", secretKeyEnv: "T_SECRET" },
      { retry: { ...fast, onRetry: () => void retries++ }, env: { T_KEY: server.accessKeyId, T_SECRET: server.secretAccessKey } },
    );
    try {
      await run(store, () => retries);
      assert.equal(proxy.injected(), plan.filter(Boolean).length, "every planned fault was met");
    } finally {
      await proxy.stop();
    }
  }
  async function* once(b: Uint8Array) {
    yield b;
  }

  it("a stream that fits in one part (one PUT) is retried like a put", async () => {
    const body = randomBytes(300_000);
    await planned(["503", "reset"], async (store, retried) => {
      await store.putStream("small/one", once(body));
      assert.equal(sha(await store.get("small/one")), sha(body));
      assert.equal(retried(), 2);
    });
  });

  it("a create-only stream survives a fault on its existence check", async () => {
    const body = randomBytes(1000);
    await planned(["503"], async (store, retried) => {
      await store.putStream("small/create-only", once(body), { ifNoneMatch: true });
      assert.equal(sha(await store.get("small/create-only")), sha(body));
      assert.equal(retried(), 1);
    });
  });

  it("an error answer cut short keeps its status: a missing key is CBM_OBJ_NOT_FOUND at once, not a retried short read", async () => {
    await planned(["truncate"], async (store, retried) => {
      const e = await caught(store.get("no/such/key"));
      assert.equal(e.code, OBJ.notFound, e.message);
      assert.equal(retried(), 0);
    });
  });
});

describe("S3 servers that stop answering", () => {
  /** A raw TCP server on 127.0.0.1 that reads requests and answers each with `reply` (or nothing). */
  async function stalling(reply: string | undefined, run: (store: S3ObjectStore) => Promise<void>) {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((sock) => {
      sockets.add(sock);
      sock.once("data", () => {
        if (reply !== undefined) sock.write(reply);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    const store = new S3ObjectStore({ bucket: "cbm-stall", endpoint: `http://127.0.0.1:${port}`, credentials: { accessKeyId: "k", secretAccessKey: "s" }, socketTimeoutMs: 300 });
    try {
      await run(store);
      // The client gave up on its connection: nothing is left open on the server's side.
      for (let i = 0; i < 100 && [...sockets].some((x) => !x.destroyed && !x.readableEnded); i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok([...sockets].every((x) => x.destroyed || x.readableEnded), "the client closed its connection");
    } finally {
      store.destroy();
      for (const x of sockets) x.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  it("an endpoint where nothing listens: the error says to check ENDPOINT and the server", async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as net.AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const store = new S3ObjectStore({ bucket: "cbm-nowhere", endpoint: `http://127.0.0.1:${port}`, credentials: { accessKeyId: "k", secretAccessKey: "s" } });
    try {
      const e = await caught(store.get("config"));
      assert.match(e.message, new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}; nothing accepts connections there: check ENDPOINT and that the object store is running`));
    } finally {
      store.destroy();
    }
  });

  it("a server that accepts a request and never answers: a transient timeout, not a hang", async () => {
    await stalling(undefined, async (store) => {
      const e = await caught(store.get("k"));
      assert.equal(isTransient(e), true, e.message);
      assert.match(e.message, /timed out/);
    });
  });

  it("a server that stops half-way through a body: a transient timeout, never a short object", async () => {
    const head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n";
    await stalling(head + "x".repeat(500), async (store) => {
      const e = await caught(store.get("k"));
      assert.equal(isTransient(e), true, e.message);
      assert.match(e.message, /no data for 300 ms: timed out/);
    });
  });
});

describe("credentials", () => {
  let server: S3rver;
  before(async () => {
    server = await s3rverWith("cbm-creds", { x: new Uint8Array([1]) });
  });
  after(async () => server?.stop());

  // s3rver does not verify SigV4 signatures at all (any secret passes); it does check the key id.
  // A wrong secret is tested against Ceph below.
  it("an unknown access key is a clear CBM_OBJ_DENIED naming the bucket, not retried, secret not shown", async () => {
    let retries = 0;
    const store = openObjectStore(
      { kind: "s3", bucket: "cbm-creds", endpoint: server.endpoint, accessKeyEnv: "K", secretKeyEnv: "S" },
      { retry: { ...fast, onRetry: () => void retries++ }, env: { K: "NOT-A-KEY", S: "wrong-secret-value" } },
    );
    const e = await caught(store.get("x"));
    assert.equal(e.code, OBJ.denied);
    assert.match(e.message, /cbm-creds/);
    assert.match(e.message, /SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied/);
    assert.match(e.message, /check the credentials/);
    assert.doesNotMatch(e.message, /wrong-secret-value/);
    assert.equal(retries, 0);
  });

  it("a key variable that is not set is named", async () => {
    const e = await caught(
      (async () =>
        openObjectStore(
          { kind: "s3", bucket: "bkt", accessKeyEnv: "CBM_NO_SUCH_VAR_A", secretKeyEnv: "CBM_NO_SUCH_VAR_B" },
          { env: {} },
        ))(),
    );
    assert.equal(e.code, OBJ.denied);
    assert.match(e.message, /CBM_NO_SUCH_VAR_A/);
  });

  it("a bucket name with a slash (or too short) is refused before any request, naming it", () => {
    for (const bucket of ["bkt/sub", "b", "-bkt"]) {
      assert.throws(
        () => new S3ObjectStore({ bucket, endpoint: server.endpoint, credentials: { accessKeyId: "k", secretAccessKey: "s" } }),
        (e: unknown) => e instanceof ObjectStoreError && e.code === OBJ.badKey && e.message.includes(JSON.stringify(bucket)),
      );
    }
  });

  it("a profile that does not exist is a clear CBM_OBJ_DENIED", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "cbm-aws-"));
    const saved = { c: process.env.AWS_SHARED_CREDENTIALS_FILE, f: process.env.AWS_CONFIG_FILE };
    process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, "credentials");
    process.env.AWS_CONFIG_FILE = path.join(dir, "config");
    try {
      const store = new S3ObjectStore({
        bucket: "cbm-creds",
        endpoint: server.endpoint,
        profile: "cbm-nope",
      });
      const e = await caught(store.get("x"));
      assert.equal(e.code, OBJ.denied);
      assert.match(e.message, /cbm-nope|credentials/i);
      store.destroy();
    } finally {
      for (const [k, v] of [
        ["AWS_SHARED_CREDENTIALS_FILE", saved.c],
        ["AWS_CONFIG_FILE", saved.f],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("PUT and every multipart part carry Content-MD5", async () => {
    const md5s: string[] = [];
    const proxy = await startFaultProxy({
      target: server.endpoint,
      probability: 0,
      onRequest: (req) => {
        if (req.method === "PUT") md5s.push(String(req.headers["content-md5"] ?? "none"));
      },
    });
    const store = new S3ObjectStore({
      bucket: "cbm-creds",
      endpoint: proxy.endpoint,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
    try {
      const one = randomBytes(1000);
      await store.put("md5/one", one);
      assert.equal(md5s[0], createHash("md5").update(one).digest("base64"));
      md5s.length = 0;
      const big = randomBytes(17 * MiB);
      await store.putStream(
        "md5/big",
        (async function* () {
          yield big;
        })(),
      );
      assert.equal(md5s.length, 3, "three parts of 8 MiB at most");
      assert.ok(md5s.every((m) => m !== "none"));
    } finally {
      store.destroy();
      await proxy.stop();
    }
  });
});

const rgw = await probeRgw();
describe("Ceph RGW: wrong credentials", { skip: "reason" in rgw ? rgw.reason : undefined }, () => {
  it("a wrong secret is a clear CBM_OBJ_DENIED", async () => {
    if (!("env" in rgw)) return;
    const store = withRetry(
      new S3ObjectStore({
        bucket: rgw.env.bucket,
        endpoint: rgw.env.endpoint,
        credentials: { accessKeyId: rgw.env.accessKeyId, secretAccessKey: "not-the-secret" },
      }),
      fast,
    );
    const e = await caught(store.get("anything"));
    assert.equal(e.code, OBJ.denied);
    assert.match(e.message, /SignatureDoesNotMatch/);
    assert.match(e.message, new RegExp(rgw.env.bucket));
    assert.doesNotMatch(e.message, /not-the-secret/);
  });
});
