/**
 * Worker thread: the CPU-heavy, pure work of the pipeline (zero check, chunk digests and ids, zstd,
 * AES-GCM, upload checksums, restore writes). Started by pool.ts; one message in, one reply out, in
 * arrival order except for restore writes with direct I/O, whose replies wait for the device.
 * (The stream ops, a running SHA-256 fed in order, are not used by backup or restore.)
 */
import { createHash, type Hash } from "node:crypto";
import { getPriority, setPriority } from "node:os";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parentPort, workerData } from "node:worker_threads";
import { CbmError, errorMessage } from "../util/errors.ts";
import { directSlot, forgetDirect, writeBuffered, writeDirect } from "./targetwrite.ts";
import { chunkDigest, chunkIdFromDigest, decodeChunkDigest, encodeChunkInto, isZero, type ChunkKeys } from "./chunk.ts";
import { REPO } from "./codes.ts";
import { sealedIsCompressed } from "./sealed.ts";
import type { SlotRef, WorkerInit, WorkerMessage, WorkerReply, WorkerRequest, WorkerResult } from "./workerproto.ts";

const init = workerData as WorkerInit;
const keys: ChunkKeys = {
  idKey: init.idKey ? Buffer.from(init.idKey) : null,
  chunkKey: init.chunkKey ? Buffer.from(init.chunkKey) : null,
  chunkDigest: init.chunkDigest,
};
const streams = new Map<number, Hash>();

// `nice` levels below the thread that started us, like nice(1): the node's applications come first,
// while the main thread, which reads disks and feeds uploads, keeps its priority. Linux only: there a
// thread's nice value is its own; elsewhere setPriority would renice the whole process.
if (process.platform === "linux" && init.nice > 0) {
  try {
    setPriority(Math.min(19, getPriority() + init.nice));
  } catch {
    // not allowed here (a sandbox): run at the process's priority
  }
}

/*
 * Memory bound. Each encode/decode leaves a few MiB of dead ArrayBuffers (cipher output, the
 * received object) that V8 frees only when its external-memory heuristic fires — in practice
 * 40+ MiB per worker, which broke the pipeline's RSS budget. A young-generation GC after every
 * GARBAGE_LIMIT bytes frees them (the buffers die young) for ~1-2 ms each.
 */
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as (o: { type: "minor" }) => void;
const GARBAGE_LIMIT = 16 * 1024 * 1024;
let garbage = 0;
function produced(bytes: number): void {
  garbage += bytes;
  if (garbage >= GARBAGE_LIMIT) {
    garbage = 0;
    gc({ type: "minor" });
  }
}
const ZERO_BLOCK = Buffer.alloc(1024 * 1024);

let scratch = Buffer.alloc(0);
/** Per-thread plaintext buffer for decodeWrite without direct I/O, valid until the next call. */
function scratchOf(length: number): Buffer {
  if (scratch.length < length) scratch = Buffer.allocUnsafe(length);
  return scratch.subarray(0, length);
}

/** An encoded object's upload checksums (see workerproto.ts), fed its bytes as they are written. */
function checksums(want: { sha256: boolean; md5: boolean }): { onBytes?: (b: Uint8Array) => void; result: () => { sha256?: string; md5?: string } } {
  const sha = want.sha256 ? createHash("sha256") : undefined;
  const md5 = want.md5 ? createHash("md5") : undefined;
  if (!sha && !md5) return { result: () => ({}) };
  return {
    onBytes: (b) => {
      sha?.update(b);
      md5?.update(b);
    },
    result: () => ({ ...(sha ? { sha256: sha.digest("hex") } : {}), ...(md5 ? { md5: md5.digest("base64") } : {}) }),
  };
}

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

interface Handled {
  result: WorkerResult;
  transfer: ArrayBuffer[];
}

/**
 * Decodes a chunk and writes it to its target. With a direct descriptor the plaintext goes into an
 * aligned slot and the reply waits for the write, while this thread goes on with the next message;
 * otherwise compressed chunks decompress into scratch and raw ones are written from the decipher's
 * output (or the object) as they are, synchronously.
 */
function decodeWrite(r: Extract<WorkerRequest, { op: "decodeWrite" }>): Handled | Promise<Handled> {
  const obj = new Uint8Array(r.object);
  const w = { fd: r.fd, directFd: r.directFd, position: r.position, skipZeros: r.skipZeros, target: r.target, context: r.context };
  const decode = (into: Buffer | undefined) => {
    const d = decodeChunkDigest(obj, r.id, keys, { context: r.context, into, digest: r.digest });
    if (d.plain.length !== r.length) {
      throw new CbmError(REPO.corrupt, `chunk ${r.id} (${r.context}): ${d.plain.length} plaintext bytes, its position needs ${r.length}`, "integrity");
    }
    produced(r.object.byteLength * (keys.chunkKey ? 2 : 1));
    return d;
  };
  const done = (digest: Buffer | undefined): Handled => ({ result: { op: "decodeWrite", digest: digest ? digest.toString("hex") : null }, transfer: [] });
  const buffered = (): Handled => {
    const { plain, digest } = decode(sealedIsCompressed(obj) ? scratchOf(r.length) : undefined);
    writeBuffered(plain, w);
    return done(digest);
  };
  const directFd = w.directFd;
  if (directFd === undefined) return buffered();
  return (async () => {
    const slot = await directSlot(w, r.length, r.slotSize);
    if (!slot) return buffered();
    try {
      const { plain, digest } = decode(slot.buf);
      await writeDirect(plain, { ...w, directFd });
      return done(digest);
    } finally {
      slot.release();
    }
  })();
}

function handle(m: WorkerMessage): Handled | Promise<Handled> {
  const r = m.req;
  switch (r.op) {
    case "hash": {
      const data = view(r);
      if (isZero(data)) return { result: { op: "hash", zero: true, id: null, digest: null }, transfer: [] };
      // One pass over the data: the id is derived from the plaintext's digest (docs/format.md §5).
      const sum = chunkDigest(data, keys.chunkDigest);
      const id = chunkIdFromDigest(sum, keys.idKey).toString("hex");
      return { result: { op: "hash", zero: false, id, digest: sum.toString("hex") }, transfer: [] };
    }
    case "encodeInto": {
      const sums = checksums(r);
      const { length, compressed } = encodeChunkInto(view(r), r.id, keys, r.compress, view(r.out), sums.onBytes);
      if (keys.chunkKey) produced(length); // the cipher's output pieces, copied into the arena
      return { result: { op: "encodeInto", length, compressed, ...sums.result() }, transfer: [] };
    }
    case "checksums": {
      const sums = checksums(r);
      for (const part of r.parts) sums.onBytes?.(view(part));
      return { result: { op: "checksums", ...sums.result() }, transfer: [] };
    }
    case "decode": {
      const { digest } = decodeChunkDigest(new Uint8Array(r.object), r.id, keys, {
        recomputeId: r.recomputeId,
        context: r.context,
        into: view(r),
        digest: r.digest ?? false,
      });
      produced(r.object.byteLength * (keys.chunkKey ? 2 : 1)); // the received object (+ its plaintext)
      return { result: { op: "decode", length: r.length, digest: digest ? digest.toString("hex") : null }, transfer: [] };
    }
    case "decodeWrite":
      return decodeWrite(r);
    case "forgetDirect":
      forgetDirect(r.directFd);
      return { result: { op: "forgetDirect" }, transfer: [] };
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

parentPort!.on("message", (m: WorkerMessage | null) => {
  if (m === null) {
    parentPort!.close(); // the pool is closing: end this thread
    return;
  }
  const ok = (h: Handled) => parentPort!.postMessage({ seq: m.seq, ok: h.result } satisfies WorkerReply, h.transfer);
  const fail = (e: unknown) => {
    const err = e instanceof CbmError ? { code: e.code, message: e.message, kind: e.kind } : { code: "CBM_INTERNAL", message: errorMessage(e), kind: "runtime" as const };
    parentPort!.postMessage({ seq: m.seq, err } satisfies WorkerReply);
  };
  // Replies go out as each request finishes (a direct write's reply waits for the device); the pool
  // matches them by seq. Everything but decodeWrite finishes at once, in arrival order.
  try {
    const h = handle(m);
    if (h instanceof Promise) h.then(ok, fail);
    else ok(h);
  } catch (e) {
    fail(e);
  }
});
