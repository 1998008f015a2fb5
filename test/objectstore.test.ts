/**
 * The object-store contract, run against every backend: a local directory, s3rver, and Ceph RGW
 * (when .ci/run or a person started it; otherwise skipped with the reason). What one backend
 * promises, all do — except where a server is known not to (s3rver ignores If-None-Match).
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { DeleteBucketCommand, DeleteObjectCommand, ListObjectVersionsCommand } from "@aws-sdk/client-s3";
import { ObjectStoreError } from "../src/objectstore/errors.ts";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { S3ObjectStore } from "../src/objectstore/s3.ts";
import type { ObjectInfo, ObjectStore } from "../src/objectstore/types.ts";
import { probeRgw, startS3rver, type S3rver } from "./helpers/s3.ts";

const MiB = 1024 * 1024;
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function rejectsWith(p: Promise<unknown>, code: string, kind?: string): Promise<ObjectStoreError> {
  const e = await p.then(
    () => assert.fail(`expected ${code}, got success`),
    (err: unknown) => err,
  );
  assert.ok(e instanceof ObjectStoreError, `expected ObjectStoreError ${code}, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  if (kind) assert.equal(e.kind, kind);
  return e;
}

async function listAll(store: ObjectStore, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  await store.list(prefix, (i) => {
    out.push(i);
  });
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}

/** Runs fn over items, n at a time. */
async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

/** A stream of `total` bytes from `data` in pieces of an awkward size, to exercise part cutting. */
async function* pieces(data: Uint8Array, size = MiB + 17): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < data.length; off += size) yield data.subarray(off, off + size);
}

interface Backend {
  store: ObjectStore;
  /** Whether the server refuses a create-only put of an existing key. */
  enforcesIfNoneMatch: boolean;
  /** Keys for the listing test: more than one page of the store's list page size. */
  manyKeys: number;
  /** A store on the same server whose bucket does not exist (S3 only). */
  missingBucket?: () => S3ObjectStore;
  cleanup(): Promise<void>;
}

function contract(name: string, open: () => Promise<Backend>, skip?: string): void {
  describe(name, { skip }, () => {
    let b: Backend;
    let s: ObjectStore;
    before(async () => {
      b = await open();
      s = b.store;
    });
    after(async () => {
      await b?.cleanup();
    });

    it("ensureContainer is idempotent", async () => {
      await s.ensureContainer?.();
      await s.ensureContainer?.();
    });

    it("put, get, head and overwrite round-trip exact bytes", async () => {
      const body = randomBytes(3000);
      await s.put("rt/a.bin", body);
      assert.deepEqual(Buffer.from(await s.get("rt/a.bin")), body);
      const h = await s.head("rt/a.bin");
      assert.equal(h?.key, "rt/a.bin");
      assert.equal(h?.size, 3000);
      assert.ok(h && Math.abs(h.mtime.getTime() - Date.now()) < 120_000, "mtime is recent");
      await s.put("rt/a.bin", enc("second"));
      assert.equal(dec(await s.get("rt/a.bin")), "second");
      await s.put("rt/empty", new Uint8Array(0));
      assert.equal((await s.get("rt/empty")).length, 0);
      assert.equal((await s.head("rt/empty"))?.size, 0);
    });

    it("get(range) reads exactly the bytes asked for, short at the end, refuses a start past it", async () => {
      const body = randomBytes(1000);
      await s.put("range/x", body);
      assert.deepEqual(
        Buffer.from(await s.get("range/x", { offset: 10, length: 20 })),
        body.subarray(10, 30),
      );
      assert.deepEqual(Buffer.from(await s.get("range/x", { offset: 0, length: 1 })), body.subarray(0, 1));
      assert.deepEqual(Buffer.from(await s.get("range/x", { offset: 990, length: 10 })), body.subarray(990));
      assert.deepEqual(Buffer.from(await s.get("range/x", { offset: 990, length: 500 })), body.subarray(990));
      assert.equal((await s.get("range/x", { offset: 5, length: 0 })).length, 0);
      await rejectsWith(s.get("range/x", { offset: 1000, length: 1 }), "CBM_OBJ_RANGE");
      await rejectsWith(s.get("range/x", { offset: -1, length: 1 }), "CBM_OBJ_RANGE");
    });

    it("keys with spaces (leading and trailing too), XML's special characters, &, +, % and non-ASCII round-trip through put, get, head, list and delete", async () => {
      const keys = ["odd/a b.bin", "odd/ lead.bin", "odd/trail.bin ", "odd/<x>'\"q.bin", "odd/x&y+z%20.bin", "odd/ünï€.bin"];
      for (const k of keys) await s.put(k, enc(k));
      for (const k of keys) {
        assert.equal(dec(await s.get(k)), k);
        assert.equal((await s.head(k))?.size, enc(k).length);
      }
      assert.deepEqual((await listAll(s, "odd/")).map((o) => o.key).sort(), [...keys].sort());
      for (const k of keys) await s.delete(k);
      assert.deepEqual(await listAll(s, "odd/"), []);
    });

    it("a bucket that does not exist: get, put and list name it, head says undefined", async (t) => {
      if (!b.missingBucket) return t.skip("no buckets in this backend");
      const m = b.missingBucket();
      try {
        for (const call of [() => m.get("x/y"), () => m.put("x/y", enc("x")), () => m.list("", () => undefined)]) {
          const e = await rejectsWith(call(), "CBM_OBJ_NO_BUCKET", "notfound");
          assert.match(e.message, new RegExp(m.bucket));
        }
        assert.equal(await m.head("x/y"), undefined);
      } finally {
        m.destroy();
      }
    });

    it("a missing key: get throws CBM_OBJ_NOT_FOUND, head says undefined, delete is fine", async () => {
      const e = await rejectsWith(s.get("nope/missing"), "CBM_OBJ_NOT_FOUND", "notfound");
      assert.match(e.message, /nope\/missing/);
      await rejectsWith(s.get("nope/missing", { offset: 0, length: 0 }), "CBM_OBJ_NOT_FOUND");
      assert.equal(await s.head("nope/missing"), undefined);
      await s.delete("nope/missing");
    });

    it("keys that could escape or alias are refused with CBM_OBJ_KEY", async () => {
      for (const k of ["", "../x", "a/../../x", "/abs", "a//b", "a/./b", "a/", "back\\slash"]) {
        await rejectsWith(s.put(k, enc("x")), "CBM_OBJ_KEY", "validation");
        await rejectsWith(s.get(k), "CBM_OBJ_KEY");
      }
      await rejectsWith(
        s.list("../", () => undefined),
        "CBM_OBJ_KEY",
      );
    });

    it("list calls back once per object under a prefix, across pages", async () => {
      const n = b.manyKeys;
      const keys = Array.from({ length: n }, (_, i) => `many/${String(i).padStart(4, "0")}`);
      await pool(keys, 32, (k) => s.put(k, enc(k)));
      // "many_x" sorts after "many/…" both bytewise and in s3rver's own order (s3rver sorts "/" before
      // "-" and its paginated listings then skip keys like "many-x": not exercised here, see report).
      await s.put("many_x/y", enc("x"));
      const got = await listAll(s, "many/");
      assert.equal(got.length, n);
      assert.deepEqual(
        got.map((i) => i.key),
        keys,
      );
      assert.ok(got.every((i) => i.size === 9));
      // A prefix ending inside a segment matches by string, like S3.
      const partial = await listAll(s, "many/020");
      assert.deepEqual(
        partial.map((i) => i.key),
        Array.from({ length: 10 }, (_, i) => `many/020${i}`),
      );
      assert.equal((await listAll(s, "many")).length, n + 1);
      assert.equal((await listAll(s, "nothing-here/")).length, 0);
      // Deleting a few is enough here (the backend's cleanup removes the rest).
      await pool(keys.slice(0, 10), 10, (k) => s.delete(k));
      assert.equal((await listAll(s, "many/")).length, n - 10);
    });

    it("delete removes the object", async () => {
      await s.put("del/x", enc("x"));
      await s.delete("del/x");
      assert.equal(await s.head("del/x"), undefined);
      await rejectsWith(s.get("del/x"), "CBM_OBJ_NOT_FOUND");
      assert.equal((await listAll(s, "del/")).length, 0);
    });

    it("putStream stores ~40 MiB (multipart on S3) with equal bytes", async () => {
      const data = randomBytes(40 * MiB + 12345);
      await s.putStream("stream/big", pieces(data));
      assert.equal((await s.head("stream/big"))?.size, data.length);
      const back = await s.get("stream/big");
      assert.equal(sha(back), sha(data));
      const mid = await s.get("stream/big", { offset: 8 * MiB - 5, length: 10 });
      assert.deepEqual(Buffer.from(mid), data.subarray(8 * MiB - 5, 8 * MiB + 5));
      await s.delete("stream/big");
    });

    it("putStream of a small or empty stream", async () => {
      await s.putStream("stream/small", pieces(enc("hello world"), 3));
      assert.equal(dec(await s.get("stream/small")), "hello world");
      await s.putStream("stream/empty", pieces(new Uint8Array(0)));
      assert.equal((await s.head("stream/empty"))?.size, 0);
    });

    it("putStream whose source fails leaves nothing under the key", async () => {
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield randomBytes(9 * MiB);
        yield randomBytes(9 * MiB);
        throw new Error("source broke");
      }
      await assert.rejects(s.putStream("stream/broken", failing()), /source broke/);
      assert.equal(await s.head("stream/broken"), undefined);
      assert.equal((await listAll(s, "stream/broken")).length, 0);
    });

    it("ifNoneMatch: create-only put", async (t) => {
      await s.put("once/x", enc("first"), { ifNoneMatch: true });
      // putStream checks before uploading, on every backend.
      await rejectsWith(
        s.putStream("once/x", pieces(enc("second")), { ifNoneMatch: true }),
        "CBM_OBJ_EXISTS",
      );
      if (!b.enforcesIfNoneMatch) {
        t.diagnostic(`${name} ignores If-None-Match on PUT (known gap; Ceph and AWS enforce it)`);
        return;
      }
      await rejectsWith(s.put("once/x", enc("second"), { ifNoneMatch: true }), "CBM_OBJ_EXISTS");
      assert.equal(dec(await s.get("once/x")), "first");
    });
  });
}

// ---------------------------------------------------------------- backends

contract("fs backend", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "cbm-fsstore-"));
  return {
    store: new FsObjectStore(dir),
    enforcesIfNoneMatch: true,
    manyKeys: 1100,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

let s3rver: S3rver | undefined;
contract("s3rver backend", async () => {
  s3rver = await startS3rver();
  const store = new S3ObjectStore({
    bucket: "cbm-test",
    prefix: "contract",
    endpoint: s3rver.endpoint,
    credentials: { accessKeyId: s3rver.accessKeyId, secretAccessKey: s3rver.secretAccessKey },
  });
  await store.ensureBucket();
  const server = s3rver;
  return {
    store,
    enforcesIfNoneMatch: false,
    missingBucket: () =>
      new S3ObjectStore({ bucket: "cbm-no-such-bucket", endpoint: server.endpoint, credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey } }),
    // Over 1000: s3rver's real page size, so its truncated-listing path (the --openssl-legacy-provider
    // trap) is what is exercised.
    manyKeys: 1100,
    cleanup: async () => {
      store.destroy();
      await s3rver?.stop();
    },
  };
});

const rgw = await probeRgw();
const runId = `cbm-objstore-test/${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
contract(
  "Ceph RGW backend",
  async () => {
    if (!("env" in rgw)) throw new Error("unreachable");
    const store = new S3ObjectStore({
      bucket: rgw.env.bucket,
      prefix: runId,
      endpoint: rgw.env.endpoint,
      credentials: { accessKeyId: rgw.env.accessKeyId, secretAccessKey: rgw.env.secretAccessKey },
      listPageSize: 100, // pagination with 250 keys: Ceph writes are the slow part of this suite
    });
    await store.ensureBucket();
    const env = rgw.env;
    return {
      store,
      enforcesIfNoneMatch: true,
      manyKeys: 250,
      missingBucket: () =>
        new S3ObjectStore({ bucket: `${env.bucket}-missing-${randomBytes(3).toString("hex")}`, endpoint: env.endpoint, credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey } }),
      cleanup: async () => {
        // The bucket is shared with other suites: remove only what this run wrote.
        const keys: string[] = [];
        await store.list("", (i) => {
          keys.push(i.key);
        });
        await pool(keys, 16, (k) => store.delete(k));
        store.destroy();
      },
    };
  },
  "reason" in rgw ? rgw.reason : undefined,
);

/**
 * For a describe block on the shared RGW bucket: a store under this run's prefix plus `suffix`,
 * handed to `use` before the tests, emptied (only what it wrote) and closed after them.
 */
function rgwStoreHooks(suffix: string, use: (s: S3ObjectStore) => void): void {
  let store: S3ObjectStore | undefined;
  before(() => {
    if (!("env" in rgw)) return;
    store = new S3ObjectStore({
      bucket: rgw.env.bucket,
      prefix: `${runId}-${suffix}`,
      endpoint: rgw.env.endpoint,
      credentials: { accessKeyId: rgw.env.accessKeyId, secretAccessKey: rgw.env.secretAccessKey },
    });
    use(store);
  });
  after(async () => {
    if (!store) return;
    const s = store;
    const keys: string[] = [];
    await s.list("", (i) => void keys.push(i.key));
    await pool(keys, 8, (k) => s.delete(k));
    s.destroy();
  });
}

describe("Ceph RGW server-side encryption", { skip: "reason" in rgw ? rgw.reason : undefined }, () => {
  let store: S3ObjectStore;
  rgwStoreHooks("sse", (s) => (store = s));

  it("ENCRYPTION=aes: SSE AES256 is accepted and the bytes round-trip", async (t) => {
    const body = randomBytes(5000);
    await store.put("aes/one", body, { sse: { mode: "aes" } });
    assert.equal(sha(await store.get("aes/one")), sha(body));
    const d = await store.describe("aes/one");
    if (d?.serverSideEncryption === undefined) {
      // Ceph 16 accepts x-amz-server-side-encryption: AES256 without applying it (shared/s3/README.md).
      t.diagnostic(
        "this gateway accepted SSE AES256 but does not report it on HEAD (Ceph 16 does not apply SSE-S3)",
      );
    } else {
      assert.equal(d.serverSideEncryption, "AES256");
    }
  });

  it("ENCRYPTION=kms: SSE-KMS objects are stored with the key, HEAD says so, bytes and ranges round-trip", async (t) => {
    if (!("env" in rgw) || !rgw.env.kmsKeyId) {
      t.skip("Ceph RGW has no testing KMS key: start it as .ci/run does, with CBM_TEST_KMS_KEY_ID");
      return;
    }
    const keyId = rgw.env.kmsKeyId;
    const body = randomBytes(70_000);
    await store.put("kms/one", body, { sse: { mode: "kms", keyId } });
    const d = await store.describe("kms/one");
    assert.equal(d?.serverSideEncryption, "aws:kms");
    assert.equal(d?.kmsKeyId, keyId);
    assert.equal(sha(await store.get("kms/one")), sha(body));
    assert.deepEqual(
      Buffer.from(await store.get("kms/one", { offset: 4000, length: 9000 })),
      body.subarray(4000, 13000),
    );

    const big = randomBytes(20 * MiB + 1);
    await store.putStream("kms/big", pieces(big), { sse: { mode: "kms", keyId } });
    const db = await store.describe("kms/big");
    assert.equal(db?.serverSideEncryption, "aws:kms");
    assert.equal(db?.kmsKeyId, keyId);
    assert.equal(sha(await store.get("kms/big")), sha(big));
  });

  it("ENCRYPTION=kms with a key the server does not know is a clear CBM_OBJ_KMS", async () => {
    const e = await rejectsWith(
      store.put("kms/bad", enc("x"), { sse: { mode: "kms", keyId: "no-such-key-cbm" } }),
      "CBM_OBJ_KMS",
      "validation",
    );
    assert.match(e.message, /SSE-KMS key/);
    assert.equal(await store.head("kms/bad"), undefined);
  });
});

describe("Ceph RGW checks every byte it stores", { skip: "reason" in rgw ? rgw.reason : undefined }, () => {
  let store: S3ObjectStore;
  rgwStoreHooks("digest", (s) => (store = s));

  it("a PUT signed with its body's SHA-256 (the backup's chunk uploads) is stored", async () => {
    const body = randomBytes(300_000);
    await store.put("ok", body, { payloadSha256: createHash("sha256").update(body).digest("hex") });
    assert.deepEqual(Buffer.from(await store.get("ok")), body);
  });

  it("a body that does not match its signed SHA-256 (corrupted in transit) is refused as transient, and nothing is stored", async () => {
    const body = randomBytes(300_000);
    const sent = Buffer.from(body);
    sent[1234] ^= 0x01;
    await assert.rejects(store.put("flipped", sent, { payloadSha256: createHash("sha256").update(body).digest("hex") }), (e: unknown) => {
      assert.ok(e instanceof ObjectStoreError, String(e));
      assert.match(e.message, /XAmzContentSHA256Mismatch/);
      assert.equal(e.transient, true, "a retry sends it again");
      return true;
    });
    assert.equal(await store.head("flipped"), undefined);
  });
});

describe("Ceph RGW object lock", { skip: "reason" in rgw ? rgw.reason : undefined }, () => {
  let store: S3ObjectStore;
  const bucket = `cbm-lock-${Date.now().toString(36)}-${randomBytes(2).toString("hex")}`;
  before(async () => {
    if (!("env" in rgw)) return;
    store = new S3ObjectStore({
      bucket,
      endpoint: rgw.env.endpoint,
      credentials: { accessKeyId: rgw.env.accessKeyId, secretAccessKey: rgw.env.secretAccessKey },
    });
    await store.ensureBucket({ objectLock: true });
  });
  after(async () => {
    if (!store) return;
    // GOVERNANCE retention can be bypassed by the owner: remove every version, then the bucket.
    const c = store.client;
    const v = await c.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    for (const o of [...(v.Versions ?? []), ...(v.DeleteMarkers ?? [])]) {
      await c.send(
        new DeleteObjectCommand({
          Bucket: bucket,
          Key: o.Key,
          VersionId: o.VersionId,
          BypassGovernanceRetention: true,
        }),
      );
    }
    await c.send(new DeleteBucketCommand({ Bucket: bucket }));
    store.destroy();
  });

  it("retainUntil puts objects (single and multipart) under retention", async () => {
    const until = new Date(Math.floor(Date.now() / 1000) * 1000 + 3600_000);
    await store.put("locked/one", enc("keep me"), { retainUntil: until });
    await store.putStream("locked/big", pieces(randomBytes(17 * MiB)), { retainUntil: until });
    for (const k of ["locked/one", "locked/big"]) {
      const d = await store.describe(k);
      assert.equal(d?.objectLockMode, "GOVERNANCE", k);
      assert.equal(d?.retainUntil?.getTime(), until.getTime(), k);
    }
  });
});
