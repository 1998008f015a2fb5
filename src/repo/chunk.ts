/**
 * Chunks (docs/format.md §5): ids, zero detection, and the chunk object's encoder and decoder.
 * Pure: no I/O, safe to call from worker threads.
 */
import { createHash, createHmac } from "node:crypto";
import { CbmError } from "../util/errors.ts";
import { REPO } from "./codes.ts";
import { seal, unseal } from "./sealed.ts";

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

/** Chunk id as 32 bytes: SHA-256 (unencrypted) or HMAC-SHA-256(idKey, data). */
export function chunkIdBytes(data: Uint8Array, idKey: Buffer | null): Buffer {
  return idKey ? createHmac("sha256", idKey).update(data).digest() : createHash("sha256").update(data).digest();
}

export function chunkId(data: Uint8Array, idKey: Buffer | null): string {
  return chunkIdBytes(data, idKey).toString("hex");
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
  const what = `chunk ${id}${opts.context ? ` (${opts.context})` : ""}`;
  const idBytes = Buffer.from(id, "hex");
  const { plain, sha256 } = unseal(object, { kind: "chunk", key: keys.chunkKey, name: idBytes, what }, opts.into);
  if (sha256) {
    if (!sha256.equals(idBytes)) throw new CbmError(REPO.corrupt, `${what}: content does not match its id`, "integrity");
  } else if (opts.recomputeId && keys.idKey) {
    if (!chunkIdBytes(plain, keys.idKey).equals(idBytes)) {
      throw new CbmError(REPO.corrupt, `${what}: content does not match its id`, "integrity");
    }
  }
  return plain;
}
