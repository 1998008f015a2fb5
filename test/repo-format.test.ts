/**
 * Format round trips (docs/format.md): sealed chunks and manifests, key slots, names and times.
 * Pure functions plus the fs object store for init/open; no mocks.
 */
import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { storedObject } from "../src/repo/chunkindex.ts";
import { chunksPerObject, packKey, packSize, parsePackKey } from "../src/repo/pack.ts";
import { chunkCount, chunkId, chunkIdFromKey, chunkObjectKey, decodeChunk, encodeChunk, encodeChunkInto, isZero } from "../src/repo/chunk.ts";
import { classifyRef, pickBackup } from "../src/repo/catalog.ts";
import { createKeyFile, initRepo, openRepo, repoKeys, type ScryptParams } from "../src/repo/keys.ts";
import { decodeManifest, encodeManifest, type Manifest } from "../src/repo/manifest.ts";
import { backupFileName, backupIdTime, formatIsoMicros, makeBackupId, parseBackupFileName, parseTime } from "../src/repo/names.ts";
import { HEADER_LEN, sealedBound } from "../src/repo/sealed.ts";
import { CbmError } from "../src/util/errors.ts";

const blake3Hex = (b: Uint8Array): string => (createRequire(import.meta.url)("@napi-rs/blake-hash") as { blake3: (d: Uint8Array) => Buffer }).blake3(b).toString("hex");
const FAST_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 1 };
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "cbm-repo-format-"));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const keys = repoKeys(randomBytes(32), { id: randomBytes(16).toString("hex"), chunkIdAlgorithm: "hmac-blake3" });
const enc = { idKey: keys.idKey, chunkKey: keys.chunkKey, chunkDigest: "blake3" as const };
const plainKeys = { idKey: null, chunkKey: null, chunkDigest: "blake3" as const };
const encSha = { ...enc, chunkDigest: "sha256" as const };
const plainSha = { ...plainKeys, chunkDigest: "sha256" as const };
const text = Buffer.from("compressible text line\n".repeat(20000));
const random = randomBytes(100_000);

function rejectsWith(kind: string, code: string, re?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof CbmError, `expected CbmError, got ${String(e)}`);
    assert.equal(e.kind, kind);
    assert.equal(e.code, code);
    if (re) assert.match(e.message, re);
    return true;
  };
}

describe("chunk objects", () => {
  const codecs = [
    ["encrypted, BLAKE3", enc],
    ["unencrypted, BLAKE3", plainKeys],
    ["encrypted, SHA-256", encSha],
    ["unencrypted, SHA-256", plainSha],
  ] as const;
  for (const [label, k] of codecs) {
    it(`round trip, ${label}: compressible data is compressed, random data stored raw`, () => {
      for (const [data, shouldCompress] of [[text, true], [random, false]] as const) {
        const id = chunkId(data, k);
        const { object, compressed } = encodeChunk(data, id, k, true);
        assert.equal(compressed, shouldCompress);
        assert.equal(object.subarray(0, 4).toString(), "CBMC");
        assert.equal(object[6], k.chunkKey ? 1 : 0);
        assert.deepEqual(decodeChunk(object, id, k, { recomputeId: true }), data);
      }
    });
    it(`a flipped byte anywhere is an integrity error, ${label}`, () => {
      const id = chunkId(text, k);
      const { object } = encodeChunk(text, id, k, true);
      for (const pos of [5, HEADER_LEN + 3, object.length - 1]) {
        const bad = Buffer.from(object);
        bad[pos] ^= 0x40;
        assert.throws(() => decodeChunk(bad, id, k), rejectsWith("integrity", "CBM_REPO_CORRUPT"));
      }
    });
  }
  it("encoded into caller memory, several cipher pieces: the bytes seen while writing are the object; decoded in place", () => {
    // 1 MiB + 3 random bytes (stored raw, more than one cipher piece, an odd tail) and compressible text.
    const big = randomBytes(1024 * 1024 + 3);
    for (const [label, k] of codecs) {
      for (const data of [big, text]) {
        const id = chunkId(data, k);
        const dst = Buffer.alloc(sealedBound(data.length));
        const seen: Buffer[] = [];
        const { length } = encodeChunkInto(data, id, k, true, dst, (b) => seen.push(Buffer.from(b)));
        const object = dst.subarray(0, length);
        assert.deepEqual(Buffer.concat(seen), object, label);
        const into = Buffer.alloc(data.length);
        assert.equal(decodeChunk(object, id, k, { into }), into, label);
        assert.deepEqual(into, data, label);
        const bad = Buffer.from(object);
        bad[Math.min(HEADER_LEN + 700_000, bad.length - 17)] ^= 1; // inside the payload
        assert.throws(() => decodeChunk(bad, id, k, { into: Buffer.alloc(data.length) }), rejectsWith("integrity", "CBM_REPO_CORRUPT"), label);
      }
    }
  });
  it("ids: HMAC of the digest when encrypted, the digest itself otherwise (BLAKE3 or SHA-256); keys round trip", () => {
    const a = chunkId(text, enc);
    const b = chunkId(text, plainKeys);
    assert.notEqual(a, b);
    assert.equal(b, blake3Hex(text));
    // BLAKE3's published test vector for the empty input: the binding is the real BLAKE3.
    assert.equal(chunkId(Buffer.alloc(0), plainKeys), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
    assert.equal(chunkId(text, plainSha), createHash("sha256").update(text).digest("hex"));
    assert.equal(chunkId(text, encSha), createHmac("sha256", enc.idKey!).update(createHash("sha256").update(text).digest()).digest("hex"));
    assert.equal(a, createHmac("sha256", enc.idKey!).update(Buffer.from(blake3Hex(text), "hex")).digest("hex"));
    assert.equal(chunkIdFromKey(chunkObjectKey(a)), a);
    assert.equal(chunkObjectKey(a), `chunks/${a.slice(0, 2)}/${a}`);
    assert.equal(chunkIdFromKey("chunks/zz/tmp"), undefined);
  });
  it("an object swapped under another id is refused (id is associated data)", () => {
    const idA = chunkId(text, enc);
    const idB = chunkId(random, enc);
    const { object } = encodeChunk(text, idA, enc, true);
    assert.throws(() => decodeChunk(object, idB, enc), rejectsWith("integrity", "CBM_REPO_CORRUPT", /authentication failed/));
  });
  it("an unencrypted object in an encrypted repository is refused (downgrade)", () => {
    const id = chunkId(text, plainKeys);
    const { object } = encodeChunk(text, id, plainKeys, true);
    assert.throws(() => decodeChunk(object, id, enc), rejectsWith("integrity", "CBM_REPO_CORRUPT", /downgrade/));
  });
  it("zero detection and chunk counts", () => {
    assert.equal(isZero(Buffer.alloc(4 << 20)), true);
    const z = Buffer.alloc(1 << 20);
    z[z.length - 1] = 1;
    assert.equal(isZero(z), false);
    assert.equal(chunkCount(0, 4 << 20), 0);
    assert.equal(chunkCount((4 << 20) + 1, 4 << 20), 2);
  });
});

describe("packs (format §5.1)", () => {
  const ids = ["3f", "c0", "77"].map((p) => p + "a".repeat(62));
  it("the key lists the chunks and their lengths; the listing alone locates each one", () => {
    const entries = [{ id: ids[0], length: 2097192 }, { id: ids[1], length: 4194344 }, { id: ids[2], length: 41 }];
    const key = packKey(entries);
    assert.equal(key, `packs/3f/${ids[0]}.2097192_${ids[1]}.4194344_${ids[2]}.41`);
    assert.ok(key.length - "packs/3f/".length <= 255, "a file name on the fs backend");
    assert.deepEqual(parsePackKey(key), entries);
    assert.equal(packSize(entries), 2097192 + 4194344 + 41);
    assert.deepEqual(storedObject({ key, size: packSize(entries), mtime: new Date(0) })?.chunks.map((c) => [c.id, c.loc.offset, c.loc.length]), [
      [ids[0], 0, 2097192],
      [ids[1], 2097192, 4194344],
      [ids[2], 2097192 + 4194344, 41],
    ]);
  });
  it("an incomplete pack (listed size is not the sum) holds nothing; malformed names are not packs", () => {
    const key = packKey([{ id: ids[0], length: 1000 }, { id: ids[1], length: 1000 }]);
    assert.equal(storedObject({ key, size: 1999, mtime: new Date(0) })?.complete, false);
    assert.equal(storedObject({ key, size: 2000, mtime: new Date(0) })?.complete, true);
    for (const bad of [
      `packs/c0/${ids[0]}.100`, // shard is not the first id's
      `packs/3f/${ids[0]}.39`, // shorter than a sealed object's header and tag
      `packs/3f/${ids[0]}.0100`, // leading zero
      `packs/3f/${ids[0]}.100_`,
      `packs/3f/${ids[0]}.100_${ids[1]}.100_${ids[2]}.100_${ids[0]}.100`, // four
      `packs/3f/${ids[0]}.100.cbm-tmp-1`,
      `packs/3f/${ids[0]}.100_${ids[0]}.100`, // the same chunk twice
      "packs/3f/",
    ]) {
      assert.equal(parsePackKey(bad), undefined, bad);
    }
    assert.throws(() => packKey([]), RangeError);
  });
  it("chunks per object: three 4 MiB chunks, one from 8 MiB up, and one in a version 1 repository", () => {
    assert.equal(chunksPerObject({ version: 2, chunkSize: 4 << 20 }), 3);
    assert.equal(chunksPerObject({ version: 2, chunkSize: 1 << 20 }), 3);
    assert.equal(chunksPerObject({ version: 2, chunkSize: 8 << 20 }), 1);
    assert.equal(chunksPerObject({ version: 1, chunkSize: 4 << 20 }), 1);
  });
});

describe("manifests", () => {
  const id = makeBackupId(parseTime("2020-11-23T05:35:00.315851Z")!, "9f3a0c1d");
  const m: Manifest = {
    format: "cbm-manifest",
    version: 1,
    id,
    time: "2020-11-23T05:35:00.315851Z",
    type: "full",
    cluster: "r1r2m2p57_cluster",
    rg: "RG1",
    node: "node1",
    consistencyGroup: "sample_consistency_group",
    parent: null,
    tool: "cbm test",
    compression: true,
    vgs: [
      {
        name: "VG1",
        disks: [
          {
            name: "hdisk18",
            uuid: "3321360050764008101D3F800000000005F604214503",
            pvid: "00fab22e1277d1bc",
            size: (4 << 20) * 2 + 10,
            chunkSize: 4 << 20,
            sha256: "a".repeat(64),
            fileName: "r1r2m2p57_cluster_RG1_VG1_hdisk18.2020-11-23_05:35:00.315851.img",
            chunks: ["b".repeat(64), null, "c".repeat(64)],
            stats: { chunksNew: 2, chunksZero: 1, bytesNew: 123 },
          },
        ],
      },
    ],
    stats: { bytesRead: 1, bytesNew: 123, chunksTotal: 3, chunksNew: 2, chunksZero: 1, durationMs: 5 },
  };
  it("round trip, encrypted and not; renamed or altered manifests are refused", () => {
    for (const key of [keys.manifestKey, null]) {
      const obj = encodeManifest(m, key);
      assert.equal(obj.subarray(0, 4).toString(), "CBMM");
      assert.deepEqual(decodeManifest(obj, id, key), m);
      const other = makeBackupId(parseTime("2021-01-01T00:00:00Z")!, "00000000");
      assert.throws(() => decodeManifest(obj, other, key), (e: unknown) => e instanceof CbmError && e.kind === "integrity");
      const bad = Buffer.from(obj);
      bad[bad.length - 20] ^= 1;
      assert.throws(() => decodeManifest(bad, id, key), (e: unknown) => e instanceof CbmError && e.kind === "integrity");
    }
  });
  it("a chunk list that does not fit the disk size is refused", () => {
    const broken = structuredClone(m);
    broken.vgs[0].disks[0].chunks.pop();
    const obj = encodeManifest(broken, null);
    assert.throws(() => decodeManifest(obj, id, null), rejectsWith("integrity", "CBM_REPO_CORRUPT", /needs 3 chunk entries, has 2/));
  });
});

describe("names and times", () => {
  it("the paper's file name, UTC with microseconds, and back", () => {
    const t = parseTime("2020-11-23_05:35:00.315851")!;
    const name = backupFileName({ cluster: "r1r2m2p57_cluster", rg: "RG1", vg: "VG1", disk: "hdisk11", time: t });
    assert.equal(name, "r1r2m2p57_cluster_RG1_VG1_hdisk11.2020-11-23_05:35:00.315851.img");
    assert.deepEqual(parseBackupFileName(name), { cluster: "r1r2m2p57_cluster", rg: "RG1", vg: "VG1", disk: "hdisk11", time: t });
    assert.equal(parseBackupFileName("hdisk11.img"), undefined);
  });
  it("backup ids sort in time order and carry the time", () => {
    const a = makeBackupId(parseTime("2020-11-23T05:35:00.000009Z")!);
    const b = makeBackupId(parseTime("2020-11-23T05:35:00.000010Z")!);
    assert.ok(a < b);
    assert.equal(formatIsoMicros(backupIdTime(a)!), "2020-11-23T05:35:00.000009Z");
  });
  it("time parsing: ISO with zone offset, date only, nonsense", () => {
    assert.equal(parseTime("2020-11-23T06:35:00+01:00"), parseTime("2020-11-23T05:35:00Z"));
    assert.equal(formatIsoMicros(parseTime("2020-11-23")!), "2020-11-23T00:00:00.000000Z");
    assert.equal(parseTime("2020-02-30"), undefined);
    assert.equal(parseTime("yesterday"), undefined);
  });
  it("backup references: classified, and a time before the first backup is a clear notfound", () => {
    assert.equal(classifyRef("latest").kind, "latest");
    assert.equal(classifyRef("x_RG1_VG1_hdisk1.2020-11-23_05:35:00.315851.img").kind, "file");
    assert.equal(classifyRef("2020-11-23").kind, "time");
    assert.throws(() => classifyRef("bogus"), rejectsWith("validation", "CBM_REPO_BAD_REQUEST", /not understood/));
    assert.throws(() => pickBackup([], { kind: "latest" }, { rg: "RG1" }), rejectsWith("notfound", "CBM_BACKUP_NOT_FOUND", /no backup of resource group RG1 yet/));
  });
});

describe("keys", () => {
  it("passphrase: init, open, wrong passphrase is CBM_REPO_BAD_KEY and writes nothing", async () => {
    const dir = await tempDir();
    const store = new FsObjectStore(join(dir, "repo"));
    const r = await initRepo(store, { encryption: { passphrase: "correct horse" }, scrypt: FAST_SCRYPT });
    const o = await openRepo(store, { passphrase: "correct horse" });
    assert.deepEqual(o.keys, r.keys);
    const before = await listTree(join(dir, "repo"));
    await assert.rejects(openRepo(store, { passphrase: "wrong" }), rejectsWith("validation", "CBM_REPO_BAD_KEY", /wrong passphrase for repository/));
    await assert.rejects(openRepo(store), rejectsWith("validation", "CBM_REPO_KEY_REQUIRED", /encrypted/));
    assert.deepEqual(await listTree(join(dir, "repo")), before);
    await assert.rejects(initRepo(store, { encryption: "none" }), rejectsWith("validation", "CBM_REPO_EXISTS"));
  });
  it("key file: created 0600 at init, opens; another key file is refused", async () => {
    const dir = await tempDir();
    const store = new FsObjectStore(join(dir, "repo"));
    const kf = join(dir, "repo.key");
    const r = await initRepo(store, { encryption: { keyFile: kf } });
    assert.equal((await stat(kf)).mode & 0o777, 0o600);
    assert.deepEqual((await openRepo(store, { keyFile: kf })).keys, r.keys);
    const other = join(dir, "other.key");
    await createKeyFile(other);
    await assert.rejects(openRepo(store, { keyFile: other }), rejectsWith("validation", "CBM_REPO_BAD_KEY", /wrong key file/));
    await assert.rejects(openRepo(store, { passphrase: "x" }), rejectsWith("validation", "CBM_REPO_BAD_KEY"));
  });
  it("unencrypted repository: open without a key; a key is refused", async () => {
    const dir = await tempDir();
    const store = new FsObjectStore(join(dir, "repo"));
    await initRepo(store, { encryption: "none" });
    assert.equal((await openRepo(store)).keys.chunkKey, null);
    await assert.rejects(openRepo(store, { passphrase: "x" }), rejectsWith("validation", "CBM_REPO_KEY_REQUIRED"));
  });
  it("chunk digest: BLAKE3 for new repositories, SHA-256 by request, both recorded in the config", async () => {
    const cases = [
      [{ encryption: "none" }, "blake3"],
      [{ encryption: "none", chunkDigest: "sha256" }, "sha256"],
      [{ encryption: { passphrase: "pw" }, scrypt: FAST_SCRYPT }, "hmac-blake3"],
      [{ encryption: { passphrase: "pw" }, scrypt: FAST_SCRYPT, chunkDigest: "sha256" }, "hmac-sha256"],
    ] as const;
    for (const [opts, alg] of cases) {
      const store = new FsObjectStore(join(await tempDir(), "repo"));
      const r = await initRepo(store, opts);
      assert.equal(r.config.chunkIdAlgorithm, alg);
      assert.equal(r.keys.chunkDigest, alg.endsWith("blake3") ? "blake3" : "sha256");
      const o = await openRepo(store, opts.encryption === "none" ? undefined : opts.encryption);
      assert.equal(o.keys.chunkDigest, r.keys.chunkDigest);
    }
  });
});

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) out.push(join(e.parentPath, e.name));
  return out.sort();
}
