/**
 * Chunks (docs/format.md §5): ids, zero detection, and the chunk object's encoder and decoder.
 * Pure: no I/O, safe to call from worker threads.
 */
import { createHash, createHmac } from "node:crypto";
import { CbmError } from "../util/errors.ts";
import { REPO } from "./codes.ts";
import { seal, sealInto, unseal } from "./sealed.ts";

export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;
export const MIN_CHUNK_SIZE = 64 * 1024;
export const MAX_CHUNK_SIZE = 64 * 1024 * 1024;

/** Keys a chunk codec needs; both null in an unencrypted repository. */
export interface ChunkKeys {
  /** HMAC key for ids (encrypted repositories). */
  idKey: Buffer | null;
  /** AES-256-GCM key for chunk objects. */
  chunkKey: Buffer | null;
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

/** SHA-256 of a chunk's plaintext: the one full pass over the data (docs/format.md §5). */
export function chunkSha256(data: Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}

/**
 * Chunk id as 32 bytes from the SHA-256 of the plaintext: that digest itself (unencrypted), or
 * HMAC-SHA-256(idKey, SHA-256(plaintext)) (encrypted) — a keyed MAC of the plaintext that costs
 * one hash pass plus a 32-byte HMAC, so the same pass also serves the image digest.
 */
export function chunkIdFromSha256(sha256: Uint8Array, idKey: Buffer | null): Buffer {
  return idKey ? createHmac("sha256", idKey).update(sha256).digest() : Buffer.from(sha256);
}

/** Chunk id as 32 bytes: SHA-256(data) (unencrypted) or HMAC-SHA-256(idKey, SHA-256(data)). */
export function chunkIdBytes(data: Uint8Array, idKey: Buffer | null): Buffer {
  return chunkIdFromSha256(chunkSha256(data), idKey);
}

export function chunkId(data: Uint8Array, idKey: Buffer | null): string {
  return chunkIdBytes(data, idKey).toString("hex");
}

const zeroDigests = new Map<number, Buffer>();
/** SHA-256 of `length` zero bytes (an all-zero chunk's plaintext digest), cached per length. */
export function zeroChunkSha256(length: number): Buffer {
  let d = zeroDigests.get(length);
  if (!d) {
    d = chunkSha256(Buffer.alloc(length));
    zeroDigests.set(length, d);
  }
  return d;
}

/**
 * The image digest of a disk (manifest `sha256`, docs/format.md §6): SHA-256 over the
 * concatenation, in disk order, of the 32-byte SHA-256 of every chunk's plaintext (all-zero
 * chunks included). Collects the chunk digests in any order; `hex()` once all are set.
 */
export class ImageDigest {
  private readonly sums: Buffer;
  private missing: number;
  private readonly have: Uint8Array;

  constructor(readonly chunks: number) {
    this.sums = Buffer.alloc(chunks * 32);
    this.have = new Uint8Array(chunks);
    this.missing = chunks;
  }

  /** Records chunk i's plaintext SHA-256 (32 bytes, or 64 hex). */
  add(i: number, sha256: Uint8Array | string): void {
    const b = typeof sha256 === "string" ? Buffer.from(sha256, "hex") : sha256;
    if (b.length !== 32) throw new CbmError(REPO.corrupt, `chunk digest of ${b.length} bytes, expected 32`, "integrity");
    this.sums.set(b, i * 32);
    if (!this.have[i]) {
      this.have[i] = 1;
      this.missing--;
    }
  }

  addZero(i: number, length: number): void {
    this.add(i, zeroChunkSha256(length));
  }

  /** The digest in hex; throws while a chunk's digest is missing. */
  hex(): string {
    if (this.missing !== 0) throw new CbmError("CBM_INTERNAL", `image digest: ${this.missing} of ${this.chunks} chunk digests missing`, "runtime");
    return createHash("sha256").update(this.sums).digest("hex");
  }
}

/** The image digest of a whole image held in memory (tests, tools): see ImageDigest. */
export function imageDigestOf(image: Uint8Array, chunkSize: number): string {
  const n = chunkCount(image.length, chunkSize);
  const d = new ImageDigest(n);
  for (let i = 0; i < n; i++) {
    const { offset, length } = chunkRange(i, image.length, chunkSize);
    d.add(i, chunkSha256(image.subarray(offset, offset + length)));
  }
  return d.hex();
}

/**
 * Encodes a chunk object. `id` must be chunkId(data); in unencrypted repositories it doubles as the
 * checksum tag (it is the SHA-256 of the plaintext), so no second hash pass is needed.
 */
export function encodeChunk(data: Uint8Array, id: string, keys: ChunkKeys, compress: boolean): { object: Buffer; compressed: boolean } {
  const idBytes = Buffer.from(id, "hex");
  return seal(data, {
    kind: "chunk",
    key: keys.chunkKey,
    name: idBytes,
    compress,
    plainSha256: keys.chunkKey ? undefined : idBytes,
  });
}

/** encodeChunk into caller memory (at least sealedBound(data.length) bytes); returns the object's length. */
export function encodeChunkInto(data: Uint8Array, id: string, keys: ChunkKeys, compress: boolean, dst: Uint8Array): { length: number; compressed: boolean } {
  const idBytes = Buffer.from(id, "hex");
  return sealInto(data, { kind: "chunk", key: keys.chunkKey, name: idBytes, compress, plainSha256: keys.chunkKey ? undefined : idBytes }, dst);
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
 * decodeChunk, also giving the SHA-256 of the plaintext when it was computed: always for
 * unencrypted chunks (it is their id), for encrypted ones when `digest` or `recomputeId` asks.
 */
export function decodeChunkDigest(
  object: Uint8Array,
  id: string,
  keys: ChunkKeys,
  opts: DecodeOptions & { digest?: boolean } = {},
): { plain: Buffer; sha256?: Buffer } {
  const what = `chunk ${id}${opts.context ? ` (${opts.context})` : ""}`;
  const idBytes = Buffer.from(id, "hex");
  const { plain, sha256 } = unseal(object, { kind: "chunk", key: keys.chunkKey, name: idBytes, what }, opts.into);
  if (sha256) {
    if (!sha256.equals(idBytes)) throw new CbmError(REPO.corrupt, `${what}: content does not match its id`, "integrity");
    return { plain, sha256 };
  }
  if (!opts.digest && !(opts.recomputeId && keys.idKey)) return { plain };
  const sum = chunkSha256(plain);
  if (opts.recomputeId && keys.idKey && !chunkIdFromSha256(sum, keys.idKey).equals(idBytes)) {
    throw new CbmError(REPO.corrupt, `${what}: content does not match its id`, "integrity");
  }
  return { plain, sha256: sum };
}
