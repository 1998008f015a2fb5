/**
 * A small pool of worker threads (worker.ts) for the pipeline's CPU work, plus the shared-memory
 * arena of chunk buffers that bounds the engine's memory.
 *
 * Under tsx (our normal way to run) a worker cannot load a .ts file by URL on its own: tsx's loader
 * hooks are not inherited by workers in Node 20. So the worker is started from a two-line bootstrap
 * that registers tsx first and then imports worker.ts. Compiled to .js, the worker is started directly.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { CbmError } from "../util/errors.ts";
import { leaveQueue, unlessStopped, type TaskGroup } from "./tasks.ts";
import type { ResultFor, SlotRef, WorkerInit, WorkerMessage, WorkerReply, WorkerRequest, WorkerResult } from "./workerproto.ts";

interface Pending {
  resolve: (r: WorkerResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  exited: Promise<void>;
}

function startWorker(init: WorkerInit): Worker {
  const url = new URL(import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js", import.meta.url);
  if (!import.meta.url.endsWith(".ts")) return new Worker(url, { workerData: init });
  const tsx = import.meta.resolve("tsx/esm/api");
  const boot =
    `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })` +
    `.catch((e) => { console.error(e); process.exit(70); });`;
  return new Worker(boot, { eval: true, workerData: init });
}

/**
 * Default nice increment of the worker threads: the compression, hashing and encryption of a backup
 * yield the CPU to the node's applications — and, on the benchmark's one machine, to the S3 server
 * they share it with (bench/README.md). 10 is what `nice` gives by default.
 */
export const WORKER_NICE = 10;

export class WorkerPool {
  private readonly workers: Slot[] = [];
  private seq = 0;
  private streams = 0;
  private outstanding = 0;
  private closed = false;

  /** size defaults to the number of CPUs (the main thread mostly waits on I/O). */
  constructor(init: WorkerInit, size: number = availableParallelism()) {
    for (let i = 0; i < Math.max(1, size); i++) {
      const worker = startWorker(init);
      const slot: Slot = { worker, pending: new Map(), exited: new Promise((resolve) => worker.once("exit", () => resolve())) };
      worker.on("message", (reply: WorkerReply) => this.onReply(slot, reply));
      worker.on("error", (e) => this.failAll(slot, e));
      worker.on("exit", (code) => {
        if (!this.closed) this.failAll(slot, new Error(`worker thread exited with code ${code}`));
      });
      worker.unref();
      this.workers.push(slot);
    }
  }

  /**
   * A fresh stream number for whole-image hashes. Never reused, so a stream abandoned by a failed
   * operation cannot leak its state into the next one; pin its requests with `pin = stream`.
   */
  newStream(): number {
    return ++this.streams;
  }

  get size(): number {
    return this.workers.length;
  }

  private onReply(slot: Slot, reply: WorkerReply): void {
    const p = slot.pending.get(reply.seq);
    if (!p) return;
    slot.pending.delete(reply.seq);
    this.done(slot);
    if ("ok" in reply) p.resolve(reply.ok);
    else p.reject(new CbmError(reply.err.code, reply.err.message, reply.err.kind));
  }

  private done(slot: Slot): void {
    this.outstanding--;
    // Idle workers must not keep the process alive; busy ones must (a pending promise alone does not).
    if (slot.pending.size === 0) slot.worker.unref();
  }

  private failAll(slot: Slot, e: Error): void {
    for (const [seq, p] of slot.pending) {
      slot.pending.delete(seq);
      this.done(slot);
      p.reject(new CbmError("CBM_INTERNAL", `worker thread failed: ${e.message}`, "runtime", { cause: e }));
    }
  }

  /**
   * Runs a request. `pin` selects a worker (stream hashes must always go to the same one, whose
   * FIFO order keeps updates in order); otherwise the least busy worker takes it.
   */
  run<R extends WorkerRequest>(req: R, transfer: ArrayBuffer[] = [], pin?: number): Promise<ResultFor<R>> {
    if (this.closed) return Promise.reject(new CbmError("CBM_INTERNAL", "worker pool is closed", "runtime"));
    let slot: Slot;
    if (pin !== undefined) slot = this.workers[pin % this.workers.length];
    else {
      slot = this.workers[0];
      for (const w of this.workers) if (w.pending.size < slot.pending.size) slot = w;
    }
    const seq = ++this.seq;
    const msg: WorkerMessage = { seq, req };
    return new Promise<ResultFor<R>>((resolve, reject) => {
      slot.pending.set(seq, { resolve: resolve as (r: WorkerResult) => void, reject });
      this.outstanding++;
      slot.worker.ref();
      slot.worker.postMessage(msg, transfer);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Ask each worker to end on its own (so that, e.g., a --cpu-prof profile of it gets written);
    // terminate the ones that have not within a second.
    await Promise.all(
      this.workers.map(async ({ worker, exited }) => {
        worker.postMessage(null);
        const timer = setTimeout(() => void worker.terminate(), 1000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/**
 * Fixed set of chunk buffers in one SharedArrayBuffer. acquire() waits when all are in use: this is
 * what bounds the pipeline's memory to (slots × chunk size) plus the encoded objects in flight.
 */
export class Arena {
  readonly sab: SharedArrayBuffer;
  private readonly free: number[] = [];
  private readonly waiters: ((slot: number) => void)[] = [];

  constructor(
    readonly slots: number,
    readonly slotSize: number,
  ) {
    this.sab = new SharedArrayBuffer(slots * slotSize);
    for (let i = slots - 1; i >= 0; i--) this.free.push(i);
  }

  acquire(): Promise<number> {
    const s = this.free.pop();
    if (s !== undefined) return Promise.resolve(s);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** acquire(), or undefined (holding nothing) once the group stops first. */
  acquireUnless(group: TaskGroup): Promise<number | undefined> {
    return unlessStopped<number>(group, (serve) => {
      const s = this.free.pop();
      if (s !== undefined) {
        serve(s);
        return () => false;
      }
      this.waiters.push(serve);
      return () => leaveQueue(this.waiters, serve);
    });
  }

  release(slot: number): void {
    const w = this.waiters.shift();
    if (w) w(slot);
    else this.free.push(slot);
  }

  ref(slot: number, length: number): SlotRef {
    return { sab: this.sab, offset: slot * this.slotSize, length };
  }

  /** A Buffer view of (the first `length` bytes of) a slot, for fs reads and writes. */
  view(slot: number, length: number): Buffer {
    return Buffer.from(this.sab, slot * this.slotSize, length);
  }
}
