/**
 * The sealed-object container shared by chunks and manifests (docs/format.md §4):
 *
 *   header(24) = magic(4) version(1) compression(1) cipher(1) reserved(1) plainLen(u32be) nonce(12)
 *   then payload (zstd frame or raw; AES-256-GCM ciphertext when encrypted), then a 16-byte tag.
 *
 * Pure functions, no I/O: they run in the worker threads as well as on the main thread.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, type CipherGCM, type DecipherGCM } from "node:crypto";
import { createRequire } from "node:module";
import { CbmError, errorMessage } from "../util/errors.ts";
import { REPO } from "./codes.ts";

export const SEALED_VERSION = 1;
export const HEADER_LEN = 24;
export const TAG_LEN = 16;
export const NONCE_LEN = 12;
/**
 * zstd level 1 for chunks (Proxmox Backup Server's choice): on disk images about twice as fast as
 * level 3 for ~1 % more bytes (measured on the benchmark's image: 0.474 vs 0.469 of the plaintext),
 * and compression is most of a backup's CPU time. Readers do not care: any level decodes.
 */
export const ZSTD_LEVEL = 1;
/** Keep the compressed form only when it saves at least 3 %. */
export const MIN_SAVING = 0.03;

export const MAGIC = { chunk: "CBMC", manifest: "CBMM" } as const;

/*
 * zstd through its low-level binding, into reused scratch buffers: the high-level compress() and
 * decompress() allocate a fresh result per call, and at 4 MiB a call that garbage (freed only when
 * V8 gets round to it, in every worker) was what pushed the pipeline's RSS past its budget.
 * Contexts and scratch are per thread (each worker has its own module instance).
 */
type ZstdBinding = typeof import("zstd-napi/binding.js");
const zstd = createRequire(import.meta.url)("zstd-napi/binding.js") as ZstdBinding;
let cctx: InstanceType<ZstdBinding["CCtx"]> | undefined;
let dctx: InstanceType<ZstdBinding["DCtx"]> | undefined;
let compressScratch = Buffer.alloc(0);
let verifyScratch = Buffer.alloc(0);
let cipherScratch = Buffer.alloc(0);

/*
 * AES-GCM in pieces, each piece's output copied into place. Node's update() returns a fresh,
 * zero-filled buffer per call: a whole chunk's 4 MiB at a time, those buffers (freed only at a GC)
 * added ~20 MiB to a backup's peak RSS; 256 KiB pieces are reused heap memory. The pieces also feed
 * the upload checksums while they are in cache. CPU time measured the same either way.
 */
const CIPHER_PIECE = 256 * 1024;
function cipherInto(c: CipherGCM | DecipherGCM, src: Uint8Array, dst: Uint8Array, onOutput?: (b: Uint8Array) => void): number {
  let off = 0;
  for (let p = 0; p < src.length; p += CIPHER_PIECE) {
    const piece = c.update(src.subarray(p, p + CIPHER_PIECE));
    dst.set(piece, off);
    onOutput?.(piece);
    off += piece.length;
  }
  return off;
}

/** Decompresses a single zstd frame into exactly dst; throws unless it fills dst exactly. */
function zstdDecompressInto(dst: Uint8Array, src: Uint8Array): void {
  dctx ??= new zstd.DCtx();
  const n = dctx.decompress(dst, src);
  if (n !== dst.length) throw new Error(`decompressed to ${n} bytes, expected ${dst.length}`);
}
export type SealKind = keyof typeof MAGIC;

const COMPRESSION_NONE = 0;
const COMPRESSION_ZSTD = 1;
const CIPHER_NONE = 0;
const CIPHER_AES_GCM = 1;

export interface SealOptions {
  kind: SealKind;
  /** 32-byte AES key, or null for an unencrypted repository. */
  key: Buffer | null;
  /** The object's name for the associated data: chunk id bytes, or the ASCII backup id. */
  name: Uint8Array;
  compress: boolean;
  /**
   * Unencrypted objects: the digest whose first 16 bytes are the tag (default SHA-256; chunks use
   * their repository's chunk digest), and that digest of plain when the caller already has it
   * (unencrypted chunk ids are it): saves a hash pass.
   */
  digest?: (data: Uint8Array) => Buffer;
  plainDigest?: Uint8Array;
}

const sha256Of = (data: Uint8Array): Buffer => createHash("sha256").update(data).digest();

export interface SealResult {
  object: Buffer;
  compressed: boolean;
}

function corrupt(what: string, msg: string): CbmError {
  return new CbmError(REPO.corrupt, `${what}: ${msg}`, "integrity");
}

/**
 * zstd (ZSTD_LEVEL), kept only when it saves ≥ 3 % and decompresses back to exactly `plain`. Returns a
 * view of per-thread scratch memory, valid until the next call: copy it before compressing again.
 */
export function maybeCompress(plain: Uint8Array): Buffer | null {
  if (plain.length === 0) return null;
  cctx ??= new zstd.CCtx();
  const bound = zstd.compressBound(plain.length);
  if (compressScratch.length < bound) compressScratch = Buffer.allocUnsafe(bound);
  const n = cctx.compress(compressScratch, plain, ZSTD_LEVEL);
  if (n > plain.length * (1 - MIN_SAVING)) return null;
  const c = compressScratch.subarray(0, n);
  // Decompress-and-compare: the id describes the plaintext, so what we upload must give it back.
  if (verifyScratch.length < plain.length) verifyScratch = Buffer.allocUnsafe(plain.length);
  const back = verifyScratch.subarray(0, plain.length);
  try {
    zstdDecompressInto(back, c);
  } catch (e) {
    throw new CbmError(REPO.corrupt, `zstd round trip failed (${errorMessage(e)}): refusing to store data that would not decode`, "integrity");
  }
  if (!back.equals(plain)) {
    throw new CbmError(REPO.corrupt, "zstd round trip mismatch: refusing to store data that would not decode", "integrity");
  }
  return c;
}

function aad(header: Buffer, name: Uint8Array): Buffer {
  return Buffer.concat([header, name]);
}

export function seal(plain: Uint8Array, o: SealOptions): SealResult {
  const compressedForm = o.compress ? maybeCompress(plain) : null;
  const payload: Uint8Array = compressedForm ?? plain;
  // Its own ArrayBuffer, exactly sized: a worker can transfer it to the main thread without a copy.
  const out = Buffer.from(new ArrayBuffer(HEADER_LEN + payload.length + TAG_LEN));
  writeSealed(plain, payload, compressedForm !== null, o, out);
  return { object: out, compressed: compressedForm !== null };
}

/** Largest sealed object for a plaintext of `plainLen` bytes (compression is kept only when smaller). */
export function sealedBound(plainLen: number): number {
  return HEADER_LEN + plainLen + TAG_LEN;
}

/**
 * seal() into caller memory (e.g. a shared arena slot of at least sealedBound(plain.length) bytes):
 * no allocation of the object. Returns its length; the object is dst[0, length). `onBytes`, when
 * given, sees the object's bytes in order as they are written (upload checksums, computed while
 * each piece is in cache).
 */
export function sealInto(plain: Uint8Array, o: SealOptions, dst: Uint8Array, onBytes?: (b: Uint8Array) => void): { length: number; compressed: boolean } {
  const compressedForm = o.compress ? maybeCompress(plain) : null;
  const payload: Uint8Array = compressedForm ?? plain;
  const length = HEADER_LEN + payload.length + TAG_LEN;
  if (dst.length < length) throw new CbmError("CBM_INTERNAL", `sealInto: ${dst.length} bytes of room for a ${length}-byte object`, "runtime");
  writeSealed(plain, payload, compressedForm !== null, o, Buffer.from(dst.buffer, dst.byteOffset, length), onBytes);
  return { length, compressed: compressedForm !== null };
}

/** Writes header, payload (encrypted or not) and tag into out, which is exactly the object's size. */
function writeSealed(plain: Uint8Array, payload: Uint8Array, compressed: boolean, o: SealOptions, out: Buffer, onBytes?: (b: Uint8Array) => void): void {
  out.write(MAGIC[o.kind], 0, "latin1");
  out[4] = SEALED_VERSION;
  out[5] = compressed ? COMPRESSION_ZSTD : COMPRESSION_NONE;
  out[6] = o.key ? CIPHER_AES_GCM : CIPHER_NONE;
  out[7] = 0;
  out.writeUInt32BE(plain.length, 8);
  const header = out.subarray(0, HEADER_LEN);
  const body = out.subarray(HEADER_LEN, HEADER_LEN + payload.length);
  const tag = out.subarray(HEADER_LEN + payload.length);
  if (o.key) {
    randomBytes(NONCE_LEN).copy(out, 12);
    onBytes?.(header);
    const c = createCipheriv("aes-256-gcm", o.key, header.subarray(12));
    c.setAAD(aad(header, o.name));
    cipherInto(c, payload, body, onBytes);
    c.final(); // GCM: no output
    c.getAuthTag().copy(tag);
  } else {
    out.fill(0, 12, HEADER_LEN);
    body.set(payload);
    onBytes?.(header);
    onBytes?.(body);
    const sum = o.plainDigest ?? (o.digest ?? sha256Of)(plain);
    tag.set(sum.subarray(0, TAG_LEN));
  }
  onBytes?.(tag);
}

export interface UnsealOptions {
  kind: SealKind;
  /** 32-byte AES key of an encrypted repository, or null: then cipher must be none (and vice versa). */
  key: Buffer | null;
  name: Uint8Array;
  /** For messages: "chunk 3fa4…" or "manifest 2020…". */
  what: string;
  /** The digest of unencrypted objects' tags, as in SealOptions (default SHA-256). */
  digest?: (data: Uint8Array) => Buffer;
}

export interface UnsealResult {
  plain: Buffer;
  /** The digest of plain, computed for unencrypted objects (the tag check needs it anyway). */
  digest?: Buffer;
}

/** True when a sealed object's header says its payload is zstd-compressed (no checks: unseal does them). */
export function sealedIsCompressed(obj: Uint8Array): boolean {
  return obj.length > 5 && obj[5] === COMPRESSION_ZSTD;
}

/** `into`, when given, receives the plaintext (it must be exactly plaintext-length bytes). */
export function unseal(obj: Uint8Array, o: UnsealOptions, into?: Buffer): UnsealResult {
  const b = Buffer.from(obj.buffer, obj.byteOffset, obj.byteLength);
  if (b.length < HEADER_LEN + TAG_LEN) {
    throw corrupt(o.what, `object is ${b.length} bytes, shorter than the ${HEADER_LEN + TAG_LEN}-byte minimum`);
  }
  const magic = b.toString("latin1", 0, 4);
  if (magic !== MAGIC[o.kind]) {
    throw corrupt(o.what, `bad magic ${JSON.stringify(magic)}, expected ${JSON.stringify(MAGIC[o.kind])}`);
  }
  if (b[4] !== SEALED_VERSION) {
    throw new CbmError(REPO.unsupported, `${o.what}: format version ${b[4]}, this program reads version ${SEALED_VERSION}`, "integrity");
  }
  const compression = b[5];
  const cipher = b[6];
  if (compression !== COMPRESSION_NONE && compression !== COMPRESSION_ZSTD) {
    throw corrupt(o.what, `unknown compression ${compression}, expected 0 (none) or 1 (zstd)`);
  }
  if (cipher !== CIPHER_NONE && cipher !== CIPHER_AES_GCM) {
    throw corrupt(o.what, `unknown cipher ${cipher}, expected 0 (none) or 1 (aes-256-gcm)`);
  }
  if (b[7] !== 0) throw corrupt(o.what, `reserved header byte is ${b[7]}, expected 0`);
  if (o.key && cipher !== CIPHER_AES_GCM) {
    throw corrupt(o.what, "unencrypted object in an encrypted repository (refused: downgrade protection)");
  }
  if (!o.key && cipher !== CIPHER_NONE) {
    throw corrupt(o.what, "encrypted object in a repository whose config says unencrypted");
  }
  const plainLen = b.readUInt32BE(8);
  const header = b.subarray(0, HEADER_LEN);
  const body = b.subarray(HEADER_LEN, b.length - TAG_LEN);
  const tag = b.subarray(b.length - TAG_LEN);

  let payload: Buffer;
  if (o.key) {
    const d = createDecipheriv("aes-256-gcm", o.key, b.subarray(12, HEADER_LEN));
    d.setAAD(aad(header, o.name));
    d.setAuthTag(tag);
    // Deciphered straight into its place when raw and given one, else into per-thread scratch (a
    // zstd frame, decompressed below) or a new buffer. Nothing is used before final() authenticates it.
    if (into && compression === COMPRESSION_NONE && body.length === into.length) payload = into;
    else if (into) {
      if (cipherScratch.length < body.length) cipherScratch = Buffer.allocUnsafe(body.length);
      payload = cipherScratch.subarray(0, body.length);
    } else payload = Buffer.allocUnsafe(body.length);
    try {
      cipherInto(d, body, payload);
      d.final(); // GCM: no output; throws when the tag does not match
    } catch (e) {
      throw new CbmError(REPO.corrupt, `${o.what}: authentication failed (data altered or wrong key)`, "integrity", { cause: e });
    }
  } else {
    payload = body;
  }

  if (into && into.length !== plainLen) {
    throw corrupt(o.what, `header says ${plainLen} plaintext bytes, its position needs ${into.length}`);
  }
  let plain: Buffer;
  if (compression === COMPRESSION_ZSTD) {
    plain = into ?? Buffer.allocUnsafe(plainLen);
    try {
      zstdDecompressInto(plain, payload);
    } catch (e) {
      throw new CbmError(REPO.corrupt, `${o.what}: zstd payload does not decompress to the ${plainLen} bytes its header says (${errorMessage(e)})`, "integrity", { cause: e });
    }
  } else {
    if (payload.length !== plainLen) throw corrupt(o.what, `plaintext is ${payload.length} bytes, header says ${plainLen}`);
    plain = into && payload !== into ? (into.set(payload), into) : payload;
  }
  if (!o.key) {
    const sum = (o.digest ?? sha256Of)(plain);
    if (!sum.subarray(0, TAG_LEN).equals(tag)) throw corrupt(o.what, "checksum mismatch (data altered)");
    return { plain, digest: sum };
  }
  return { plain };
}
