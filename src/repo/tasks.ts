/**
 * Bookkeeping for a pipeline of concurrent tasks: remember every task, keep the first error, stop
 * issuing new work once something failed or the caller aborted, and wait for everything in flight
 * before reporting (so no task outlives the operation that started it).
 */
import { CbmError } from "../util/errors.ts";
import { REPO } from "./codes.ts";

export class TaskGroup {
  private readonly running = new Set<Promise<void>>();
  private error: unknown;
  private failed = false;

  private stop!: () => void;
  /** Resolves when a task fails or the signal fires (never rejects). */
  readonly whenStopped: Promise<void>;

  constructor(private readonly signal?: AbortSignal) {
    this.whenStopped = new Promise<void>((resolve) => (this.stop = resolve));
    if (signal?.aborted) this.stop();
    else signal?.addEventListener("abort", () => this.stop(), { once: true });
  }

  /** True once a task failed or the signal fired: the issuing loop should stop. */
  get stopped(): boolean {
    return this.failed || (this.signal?.aborted ?? false);
  }

  spawn(fn: () => Promise<void>): void {
    const p = fn().catch((e: unknown) => {
      if (!this.failed) {
        this.failed = true;
        this.error = e;
        this.stop();
      }
    });
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  /** Waits for all tasks; throws the first error, or CBM_ABORTED if the signal fired. */
  async finish(what: string): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
    if (this.failed) throw this.error;
    if (this.signal?.aborted) throw new CbmError(REPO.aborted, `${what} was cancelled`, "runtime", { cause: this.signal.reason });
  }
}

/** A counting semaphore: at most `n` holders at a time, the others wait in FIFO order. */
export class Semaphore {
  private free: number;
  private readonly waiters: (() => void)[] = [];

  constructor(n: number) {
    this.free = Math.max(1, n);
  }

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const w = this.waiters.shift();
    if (w) w();
    else this.free++;
  }
}
