/**
 * Messages between the engine and its hashing/compression/encryption workers (worker.ts).
 * Chunk plaintext lives in a SharedArrayBuffer arena (slots of chunkSize bytes) so that the same
 * bytes can be hashed for the chunk id and for the whole-image digest without copies or transfers.
 */
import type { ErrorKind } from "../util/errors.ts";

export interface WorkerInit {
  idKey: Uint8Array | null;
  chunkKey: Uint8Array | null;
}

/** A view into the arena: the bytes [offset, offset+length) of sab. */
export interface SlotRef {
  sab: SharedArrayBuffer;
  offset: number;
  length: number;
}

export type WorkerRequest =
  /** Zero check, then (if not zero) the chunk id. */
  | ({ op: "hash" } & SlotRef)
  /** Compress (if asked and worth it) and encrypt; the object comes back transferred. */
  | ({ op: "encode"; id: string; compress: boolean } & SlotRef)
  /** Decode and check a chunk object; the plaintext is written into the slot. */
  | ({ op: "decode"; object: ArrayBuffer; id: string; recomputeId: boolean; context: string } & SlotRef)
  /** Feed the bytes of a slot to the running SHA-256 of stream `stream` (messages arrive in order). */
  | ({ op: "streamUpdate"; stream: number } & SlotRef)
  /** Feed `zeros` zero bytes to stream `stream`. */
  | { op: "streamZeros"; stream: number; zeros: number }
  /** Finish stream `stream`: its hex digest; the stream is forgotten. */
  | { op: "streamDigest"; stream: number };

export type WorkerResult =
  | { op: "hash"; zero: boolean; id: string | null }
  | { op: "encode"; object: ArrayBuffer; compressed: boolean }
  | { op: "decode"; length: number }
  | { op: "streamUpdate" }
  | { op: "streamZeros" }
  | { op: "streamDigest"; hex: string };

export interface WorkerError {
  code: string;
  message: string;
  kind: ErrorKind;
}

export type WorkerReply = { seq: number; ok: WorkerResult } | { seq: number; err: WorkerError };
export type WorkerMessage = { seq: number; req: WorkerRequest };

/** The result type for a given request op. */
export type ResultFor<R extends WorkerRequest> = Extract<WorkerResult, { op: R["op"] }>;
