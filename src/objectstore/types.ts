/**
 * The object-store boundary, modelled on restic's backend interface: a handful of methods whose
 * contracts callers may rely on. Retries, fault injection and metrics are wrappers around it
 * (see retry.ts), never repeated inside a backend.
 */
import type { Body } from "./body.ts";

export interface ObjectInfo {
  key: string;
  size: number;
  mtime: Date;
}

/** Server-side encryption of the paper: ENCRYPTION=kms (SSE-KMS, optional key id) or aes (SSE AES256). */
export type ServerSideEncryption = { mode: "kms"; keyId?: string } | { mode: "aes" };

export interface PutOptions {
  sse?: ServerSideEncryption;
  /** Create only: fail with code CBM_OBJ_EXISTS if the key exists (where the server enforces it). */
  ifNoneMatch?: boolean;
  /** Object-lock retention (COMPLIANCE/GOVERNANCE by backend config) until this date, where supported. */
  retainUntil?: Date;
  /**
   * Base64 MD5 of the body when the caller already has it (computed off the main thread); S3 sends
   * it as Content-MD5 instead of hashing the body itself. It must be the body's MD5.
   */
  contentMd5?: string;
  /**
   * Hex SHA-256 of the body when the caller already has it (computed off the main thread). S3 signs
   * it as x-amz-content-sha256, so the server checks every byte it stores against it (SigV4), and
   * then sends no Content-MD5 — MD5 costs 2.4× SHA-256's CPU with SHA-NI — unless object lock
   * (retainUntil) requires one. It must be the body's SHA-256.
   */
  payloadSha256?: string;
}

export interface ObjectStore {
  /** Human-readable location for messages, e.g. "s3://bucket/prefix" or "/var/backups/cbm". */
  readonly location: string;
  /**
   * True when put() sends PutOptions.payloadSha256 and contentMd5 for a server to check; a store
   * without it ignores them, so callers need not spend CPU computing them.
   */
  readonly checksUploads?: boolean;
  /**
   * Stores the whole body under key. Atomic: readers see either the previous object (or none) or the
   * complete new one, never a part. Overwrites unless ifNoneMatch. Several parts are stored back to
   * back as one object.
   */
  put(key: string, body: Body, opts?: PutOptions): Promise<void>;
  /**
   * Stores a large object from a stream of unknown length (multipart on S3, temp+rename on fs).
   * Same atomicity as put.
   */
  putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void>;
  /** Reads the object, or bytes [offset, offset+length) of it. Throws CbmError code CBM_OBJ_NOT_FOUND. */
  get(key: string, range?: { offset: number; length: number }): Promise<Uint8Array>;
  /** Metadata, or undefined when the key does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Calls fn exactly once per object whose key starts with prefix, in no particular order. */
  list(prefix: string, fn: (info: ObjectInfo) => void | Promise<void>): Promise<void>;
  /** Removes the object; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Deletes what interrupted writes left under prefix and last changed before `before` (a directory
   * store's temporary files); returns how many. Stores with nothing of the kind leave it out.
   */
  removeStale?(prefix: string, before: Date): Promise<number>;
  /** Creates the bucket (or directory) if it does not exist yet; used before a repository's first write. */
  ensureContainer?(opts?: { objectLock?: boolean }): Promise<void>;
}
