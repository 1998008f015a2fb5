/**
 * Messages between the engine and its hashing/compression/encryption workers (worker.ts).
 * Chunk plaintext lives in a SharedArrayBuffer arena (slots of chunkSize bytes) so that workers read
 * and write it without copies or transfers.
 */
import type { ErrorKind } from "../util/errors.ts";
import type { ChunkDigest } from "./chunk.ts";

export interface WorkerInit {
  idKey: Uint8Array | null;
  chunkKey: Uint8Array | null;
  chunkDigest: ChunkDigest;
  /** How many nice levels below the thread that starts them the workers run (0: the same). */
  nice: number;
}

/** A view into the arena: the bytes [offset, offset+length) of sab. */
export interface SlotRef {
  sab: SharedArrayBuffer;
  offset: number;
  length: number;
}

export type WorkerRequest =
  /** Zero check, then (if not zero) the plaintext's digest and the chunk id derived from it. */
  | ({ op: "hash" } & SlotRef)
  /**
   * Compress (if asked and worth it) and encrypt, writing the object into `out` (an arena slot of
   * at least sealedBound(length) bytes: no allocation, no transfer); the reply gives its length.
   */
  | ({ op: "encodeInto"; id: string; compress: boolean; sha256: boolean; md5: boolean; out: SlotRef } & SlotRef)
  /**
   * Decode and check a chunk object; the plaintext is written into the slot. `digest`: also return
   * the plaintext's digest (always returned for unencrypted chunks and with recomputeId).
   */
  | ({ op: "decode"; object: ArrayBuffer; id: string; recomputeId: boolean; context: string; digest?: boolean } & SlotRef)
  /**
   * Decode and check a chunk object of `length` plaintext bytes and write the plaintext to the open
   * file descriptor `fd` (or `directFd`, its O_DIRECT twin) at `position` (synchronously, in the
   * worker): no arena slot, no copy back to the main thread. `skipZeros`: the region reads as zeros
   * already (holes). `target` names the file in messages. See targetwrite.ts.
   */
  | {
      op: "decodeWrite";
      object: ArrayBuffer;
      id: string;
      context: string;
      digest: boolean;
      fd: number;
      directFd?: number;
      /** The restore's largest chunk: the size of the worker's aligned buffers for directFd. */
      slotSize: number;
      skipZeros: boolean;
      position: number;
      length: number;
      target: string;
    }
  /** The upload checksums (as encodeInto's) of an object made of these slots back to back: a pack. */
  | { op: "checksums"; parts: SlotRef[]; sha256: boolean; md5: boolean }
  /** The O_DIRECT descriptor is about to be closed: forget its alignment (sent to every worker). */
  | { op: "forgetDirect"; directFd: number }
  /** Feed the bytes of a slot to the running SHA-256 of stream `stream` (messages arrive in order). */
  | ({ op: "streamUpdate"; stream: number } & SlotRef)
  /** Feed `zeros` zero bytes to stream `stream`. */
  | { op: "streamZeros"; stream: number; zeros: number }
  /** Finish stream `stream`: its hex digest; the stream is forgotten. */
  | { op: "streamDigest"; stream: number };

export type WorkerResult =
  /** digest: hex chunk digest of the plaintext (null for a zero chunk). */
  | { op: "hash"; zero: boolean; id: string | null; digest: string | null }
  /**
   * The object's checksums for its upload, each when asked, computed here rather than on the main
   * thread: sha256 (hex, its signed payload hash), md5 (base64 Content-MD5, for object lock).
   */
  | { op: "encodeInto"; length: number; compressed: boolean; sha256?: string; md5?: string }
  | { op: "checksums"; sha256?: string; md5?: string }
  | { op: "decode"; length: number; digest: string | null }
  | { op: "decodeWrite"; digest: string | null }
  | { op: "forgetDirect" }
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
