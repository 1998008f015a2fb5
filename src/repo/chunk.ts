/**
 * Chunks (docs/format.md §5): ids, zero detection, and the chunk object's encoder and decoder.
 * Pure: no I/O, safe to call from worker threads.
 */
import { createHash, createHmac } from "node:crypto";
import { createRequire } from "node:module";
import { CbmError, errorMessage } from "../util/errors.ts";
import { REPO } from "./codes.ts";
import { seal, sealInto, unseal, type SealOptions } from "./sealed.ts";

export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;
export const MIN_CHUNK_SIZE = 64 * 1024;
export const MAX_CHUNK_SIZE = 64 * 1024 * 1024;

/**
 * The plaintext digest of a repository's chunks (docs/format.md §5): what ids, unencrypted tags and
 * the image digest are built from. BLAKE3 is the default of new repositories — 2.5× SHA-256's
 * speed with SHA-NI, and a backup, an incremental and a restore each hash every byte once;
 * SHA-256 is the choice of repositories created before it, or by request.
 */
export type ChunkDigest = "sha256" | "blake3";

/** What a chunk codec needs: the repository's digest and keys (both null when unencrypted). */
export interface ChunkKeys {
  /** HMAC key for ids (encrypted repositories). */
  idKey: Buffer | null;
  /** AES-256-GCM key for chunk objects. */
  chunkKey: Buffer | null;
  chunkDigest: ChunkDigest;
}

type Blake3 = (data: Uint8Array) => Buffer;
let blake3: Blake3 | undefined;
/** The native BLAKE3 (@napi-rs/blake-hash), loaded on first use: SHA-256 repositories never need it. */
function loadBlake3(): Blake3 {
  if (!blake3) {
    try {
      blake3 = (createRequire(import.meta.url)("@napi-rs/blake-hash") as { blake3: Blake3 }).blake3;
    } catch (e) {
      throw new CbmError(
        REPO.unsupported,
        `this repository's chunks are named by BLAKE3, but the BLAKE3 module (@napi-rs/blake-hash) does not load on this system: ${errorMessage(e)}`,
        "runtime",
      );
    }
  }
  return blake3;
}

/** The digest function of a chunk digest name. */
export function digestFn(alg: ChunkDigest): (data: Uint8Array) => Buffer {
  return alg === "blake3" ? loadBlake3() : (data) => createHash("sha256").update(data).digest();
}

const ID_RE = /^[0-9a-f]{64}$/;

export function isChunkId(s: string): boolean {
  return ID_RE.test(s);
}

/** Object key of a chunk: chunks/<first 2 hex>/<id>. */
export function chunkObjectKey(id: string): string {
  return `chunks/${id.slice(0, 2)}/${id}`;
}

/** Inverse of chunkObjectKey; undefined for keys that are not chunk objects (temporary files…). */
export function chunkIdFromKey(key: string): string | undefined {
  // "chunks/" (7) + 2 hex + "/" + 64 hex
  if (key.length !== 7 + 2 + 1 + 64 || !key.startsWith("chunks/") || key[9] !== "/") return undefined;
  const id = key.slice(10);
  return isChunkId(id) && id.startsWith(key.slice(7, 9)) ? id : undefined;
}

export function validateChunkSize(size: number): void {
  const pow2 = Number.isInteger(size) && size > 0 && (size & (size - 1)) === 0;
  if (!pow2 || size < MIN_CHUNK_SIZE || size > MAX_CHUNK_SIZE) {
    throw new CbmError(
      REPO.badRequest,
      `chunk size ${size} is not allowed: use a power of two from ${MIN_CHUNK_SIZE} (64 KiB) to ${MAX_CHUNK_SIZE} (64 MiB)`,
      "validation",
    );
  }
}

/** Number of chunks of a disk: ceil(size / chunkSize). */
export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/** Byte range [offset, offset+length) of chunk i. */
export function chunkRange(i: number, size: number, chunkSize: number): { offset: number; length: number } {
  const offset = i * chunkSize;
  return { offset, length: Math.min(chunkSize, size - offset) };
}

let zeros = Buffer.alloc(0);
/** True when every byte is zero. Buffer.equals is a memcmp: GB/s, no per-byte JS loop. */
export function isZero(data: Uint8Array): boolean {
  if (zeros.length < data.length) zeros = Buffer.alloc(data.length);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).equals(zeros.subarray(0, data.length));
}

/** The digest of a chunk's plaintext: the one full pass over the data (docs/format.md §5). */
export function chunkDigest(data: Uint8Array, alg: ChunkDigest): Buffer {
  return digestFn(alg)(data);
}

/**
 * Chunk id as 32 bytes from the digest of the plaintext: that digest itself (unencrypted), or
 * HMAC-SHA-256(idKey, digest) (encrypted) — a keyed MAC of the plaintext that costs one hash pass
 * plus a 32-byte HMAC, so the same pass also serves the image digest.
 */
export function chunkIdFromDigest(digest: Uint8Array, idKey: Buffer | null): Buffer {
  return idKey ? createHmac("sha256", idKey).update(digest).digest() : Buffer.from(digest);
}

/** Chunk id in hex of a plaintext, for a repository's digest and id key. */
export function chunkId(data: Uint8Array, keys: Pick<ChunkKeys, "idKey" | "chunkDigest">): string {
  return chunkIdFromDigest(chunkDigest(data, keys.chunkDigest), keys.idKey).toString("hex");
}

const zeroDigests = new Map<string, Buffer>();
/** The digest of `length` zero bytes (an all-zero chunk's plaintext digest), cached per length. */
export function zeroChunkDigest(length: number, alg: ChunkDigest): Buffer {
  const k = `${alg}/${length}`;
  let d = zeroDigests.get(k);
  if (!d) {
    d = chunkDigest(Buffer.alloc(length), alg);
    zeroDigests.set(k, d);
  }
  return d;
}

/**
 * The image digest of a disk (manifest `sha256`, docs/format.md §6): SHA-256 over the
 * concatenation, in disk order, of the 32-byte digest (the repository's chunk digest) of every
 * chunk's plaintext (all-zero chunks included). Collects the chunk digests in any order; `hex()`
 * once all are set.
 */
export class ImageDigest {
  private readonly sums: Buffer;
  private missing: number;
  private readonly have: Uint8Array;

  constructor(
    readonly chunks: number,
    readonly alg: ChunkDigest,
  ) {
    this.sums = Buffer.alloc(chunks * 32);
    this.have = new Uint8Array(chunks);
    this.missing = chunks;
  }

  /** Records chunk i's plaintext digest (32 bytes, or 64 hex). */
  add(i: number, digest: Uint8Array | string): void {
    const b = typeof digest === "string" ? Buffer.from(digest, "hex") : digest;
    if (b.length !== 32) throw new CbmError(REPO.corrupt, `chunk digest of ${b.length} bytes, expected 32`, "integrity");
    this.sums.set(b, i * 32);
    if (!this.have[i]) {
      this.have[i] = 1;
      this.missing--;
    }
  }

  addZero(i: number, length: number): void {
    this.add(i, zeroChunkDigest(length, this.alg));
  }

  /** The digest in hex; throws while a chunk's digest is missing. */
  hex(): string {
    if (this.missing !== 0) throw new CbmError("CBM_INTERNAL", `image digest: ${this.missing} of ${this.chunks} chunk digests missing`, "runtime");
    return createHash("sha256").update(this.sums).digest("hex");
  }
}

/** The image digest of a whole image held in memory (tests, tools): see ImageDigest. */
export function imageDigestOf(image: Uint8Array, chunkSize: number, alg: ChunkDigest): string {
  const n = chunkCount(image.length, chunkSize);
  const d = new ImageDigest(n, alg);
  for (let i = 0; i < n; i++) {
    const { offset, length } = chunkRange(i, image.length, chunkSize);
    d.add(i, chunkDigest(image.subarray(offset, offset + length), alg));
  }
  return d.hex();
}

function sealOptions(id: string, keys: ChunkKeys, compress: boolean): SealOptions {
  const idBytes = Buffer.from(id, "hex");
  // Unencrypted, the id is the plaintext's digest: it doubles as the tag, no second hash pass.
  return { kind: "chunk", key: keys.chunkKey, name: idBytes, compress, digest: digestFn(keys.chunkDigest), plainDigest: keys.chunkKey ? undefined : idBytes };
}

/** Encodes a chunk object. `id` must be chunkId(data). */
export function encodeChunk(data: Uint8Array, id: string, keys: ChunkKeys, compress: boolean): { object: Buffer; compressed: boolean } {
  return seal(data, sealOptions(id, keys, compress));
}

/** encodeChunk into caller memory (at least sealedBound(data.length) bytes); returns the object's length. */
export function encodeChunkInto(data: Uint8Array, id: string, keys: ChunkKeys, compress: boolean, dst: Uint8Array, onBytes?: (b: Uint8Array) => void): { length: number; compressed: boolean } {
  return sealInto(data, sealOptions(id, keys, compress), dst, onBytes);
}

export interface DecodeOptions {
  /** Recompute the HMAC id of encrypted chunks too (verify does; restore relies on the GCM tag). */
  recomputeId?: boolean;
  /** For messages, e.g. "disk hdisk18 at byte offset 4194304". */
  context?: string;
  /** Decode into this buffer (exactly the chunk's length) instead of a new one. */
  into?: Buffer;
}

/**
 * Decodes and checks a chunk object against its id. Throws CbmError kind "integrity"
 * (code CBM_REPO_CORRUPT) on any mismatch.
 */
export function decodeChunk(object: Uint8Array, id: string, keys: ChunkKeys, opts: DecodeOptions = {}): Buffer {
  return decodeChunkDigest(object, id, keys, opts).plain;
}

/**
 * decodeChunk, also giving the digest of the plaintext when it was computed: always for
 * unencrypted chunks (it is their id), for encrypted ones when `digest` or `recomputeId` asks.
 */
export function decodeChunkDigest(
  object: Uint8Array,
  id: string,
  keys: ChunkKeys,
  opts: DecodeOptions & { digest?: boolean } = {},
): { plain: Buffer; digest?: Buffer } {
  const what = `chunk ${id}${opts.context ? ` (${opts.context})` : ""}`;
  const idBytes = Buffer.from(id, "hex");
  const fn = digestFn(keys.chunkDigest);
  const { plain, digest } = unseal(object, { kind: "chunk", key: keys.chunkKey, name: idBytes, what, digest: fn }, opts.into);
  if (digest) {
    if (!digest.equals(idBytes)) throw new CbmError(REPO.corrupt, `${what}: content does not match its id`, "integrity");
    return { plain, digest };
  }
  if (!opts.digest && !(opts.recomputeId && keys.idKey)) return { plain };
  const sum = fn(plain);
  if (opts.recomputeId && keys.idKey && !chunkIdFromDigest(sum, keys.idKey).equals(idBytes)) {
    throw new CbmError(REPO.corrupt, `${what}: content does not match its id`, "integrity");
  }
  return { plain, digest: sum };
}
