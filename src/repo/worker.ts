/**
 * Worker thread: the CPU-heavy, pure work of the pipeline (zero check, chunk id, zstd, AES-GCM,
 * whole-image SHA-256). Started by pool.ts; one message in, one reply out, in arrival order.
 */
import { createHash, type Hash } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";
import { CbmError, errorMessage } from "../util/errors.ts";
import { chunkId, decodeChunk, encodeChunk, isZero, type ChunkKeys } from "./chunk.ts";
import type { SlotRef, WorkerInit, WorkerMessage, WorkerReply, WorkerResult } from "./workerproto.ts";

const init = workerData as WorkerInit;
const keys: ChunkKeys = {
  idKey: init.idKey ? Buffer.from(init.idKey) : null,
  chunkKey: init.chunkKey ? Buffer.from(init.chunkKey) : null,
};
const streams = new Map<number, Hash>();
const ZERO_BLOCK = Buffer.alloc(1024 * 1024);

function view(s: SlotRef): Buffer {
  return Buffer.from(s.sab, s.offset, s.length);
}

function stream(n: number): Hash {
  let h = streams.get(n);
  if (!h) {
    h = createHash("sha256");
    streams.set(n, h);
  }
  return h;
}

function handle(m: WorkerMessage): { result: WorkerResult; transfer: ArrayBuffer[] } {
  const r = m.req;
  switch (r.op) {
    case "hash": {
      const data = view(r);
      if (isZero(data)) return { result: { op: "hash", zero: true, id: null }, transfer: [] };
      return { result: { op: "hash", zero: false, id: chunkId(data, keys.idKey) }, transfer: [] };
    }
    case "encode": {
      const { object, compressed } = encodeChunk(view(r), r.id, keys, r.compress);
      // Copy into an exactly-sized ArrayBuffer we own, so it can be transferred without copying again.
      const ab = new ArrayBuffer(object.length);
      new Uint8Array(ab).set(object);
      return { result: { op: "encode", object: ab, compressed }, transfer: [ab] };
    }
    case "decode": {
      const plain = decodeChunk(new Uint8Array(r.object), r.id, keys, { recomputeId: r.recomputeId, context: r.context });
      if (plain.length !== r.length) {
        throw new CbmError("CBM_REPO_CORRUPT", `chunk ${r.id} (${r.context}): ${plain.length} bytes, but its position needs ${r.length}`, "integrity");
      }
      view(r).set(plain);
      return { result: { op: "decode", length: plain.length }, transfer: [] };
    }
    case "streamUpdate":
      stream(r.stream).update(view(r));
      return { result: { op: "streamUpdate" }, transfer: [] };
    case "streamZeros": {
      const h = stream(r.stream);
      let left = r.zeros;
      while (left > 0) {
        const n = Math.min(left, ZERO_BLOCK.length);
        h.update(ZERO_BLOCK.subarray(0, n));
        left -= n;
      }
      return { result: { op: "streamZeros" }, transfer: [] };
    }
    case "streamDigest": {
      const hex = stream(r.stream).digest("hex");
      streams.delete(r.stream);
      return { result: { op: "streamDigest", hex }, transfer: [] };
    }
  }
}

parentPort!.on("message", (m: WorkerMessage) => {
  let reply: WorkerReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const h = handle(m);
    reply = { seq: m.seq, ok: h.result };
    transfer = h.transfer;
  } catch (e) {
    reply =
      e instanceof CbmError
        ? { seq: m.seq, err: { code: e.code, message: e.message, kind: e.kind } }
        : { seq: m.seq, err: { code: "CBM_INTERNAL", message: errorMessage(e), kind: "runtime" } };
  }
  parentPort!.postMessage(reply, transfer);
});
