/**
 * Retry policy for the object store, in one place. The SDK's own retries are turned down to a single
 * attempt (see s3.ts) so that every retry decision — what is transient, how long to wait — is made
 * here, with exponential backoff and full jitter (AWS architecture blog, "Exponential Backoff And
 * Jitter": sleep = random(0, min(maxMs, baseMs·2^attempt))).
 *
 * What is retried: failures isTransient() accepts — HTTP 5xx, 429/SlowDown/throttling, connection
 * reset/refused, EPIPE, timeouts, socket hang up, a body cut short. Never 4xx answers such as
 * NoSuchKey, AccessDenied, InvalidRange, PreconditionFailed: repeating them cannot help.
 *
 * withRetry(store) retries whole calls of put, get, head and delete (each is one idempotent request).
 * It does NOT retry whole calls of:
 *  - putStream: an AsyncIterable cannot be replayed. Instead the S3 backend buffers the stream into
 *    bounded parts (8–16 MiB, a few in flight) and retries each part, the create/complete requests,
 *    and the single PUT of a stream that fits in one part, with this same policy (S3ObjectStore
 *    option `retry`); fs has nothing to retry.
 *  - list: fn has been called for the objects already seen, and "exactly once per object" would break
 *    on a restart. The S3 backend retries each page (a page request is idempotent given its
 *    continuation token) with this same policy.
 */
import { ObjectStoreError, OBJ, isTransient } from "./errors.ts";
import { bodyBytes, bodyLength, type Body } from "./body.ts";
import type { ObjectInfo, ObjectStore, PutOptions } from "./types.ts";

export interface RetryPolicy {
  /** Total attempts including the first (1 = no retry). */
  attempts: number;
  /** Backoff base in ms: the cap of the n-th wait (n from 0) is min(maxMs, baseMs·2^n). */
  baseMs: number;
  maxMs: number;
  /** Told about each failure that will be retried (for logs and metrics). Must not throw. */
  onRetry?: (info: { op: string; attempt: number; delayMs: number; error: unknown }) => void;
  /** Injected for tests; defaults to Math.random. */
  random?: () => number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseMs: 200, maxMs: 10_000 };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Full-jitter delay before retry number `n` (0-based). */
export function backoffMs(policy: RetryPolicy, n: number): number {
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** n);
  return Math.floor((policy.random ?? Math.random)() * cap);
}

/** Consulted for a permanent error after an earlier transient one: `{ ok: true, value }` counts as success. */
export type Recover<T> = (e: unknown) => Promise<{ ok: true; value: T } | undefined>;

/**
 * Runs fn until it succeeds, fails permanently, or attempts are used up; rethrows the last error.
 * `recover` is consulted for a permanent error after an earlier transient one (the earlier request
 * may have taken effect although its answer was lost): returning true counts as success.
 */
export async function retrying<T>(
  policy: RetryPolicy,
  op: string,
  fn: (attempt: number) => Promise<T>,
  recover?: Recover<T>,
): Promise<T> {
  const attempts = Math.max(1, Math.floor(policy.attempts));
  let hadTransient = false;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!isTransient(e)) {
        if (hadTransient && recover) {
          const r = await recover(e);
          if (r) return r.value;
        }
        throw e;
      }
      if (attempt >= attempts) throw exhausted(op, attempts, e);
      hadTransient = true;
      const delayMs = backoffMs(policy, attempt - 1);
      policy.onRetry?.({ op, attempt, delayMs, error: e });
      await sleep(delayMs);
    }
  }
}

/** The last transient error, reworded to say that it was retried, still marked transient. */
function exhausted(op: string, attempts: number, e: unknown): unknown {
  if (attempts <= 1) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new ObjectStoreError(
    e instanceof ObjectStoreError ? e.code : OBJ.io,
    `${op}: still failing after ${attempts} attempts: ${msg}`,
    "runtime",
    {
      cause: e,
      transient: true,
      status: e instanceof ObjectStoreError ? e.status : undefined,
      backendCode: e instanceof ObjectStoreError ? e.backendCode : undefined,
    },
  );
}

/**
 * The `recover` of a create-only put: its first answer may have been lost, so the retry meets its
 * own object (412 → CBM_OBJ_EXISTS). If the stored bytes are the ones sent, the put did succeed.
 */
export function createOnlyRecover(
  opts: PutOptions | undefined,
  body: Body,
  stored: () => Promise<Uint8Array>,
): Recover<undefined> | undefined {
  if (!opts?.ifNoneMatch) return undefined;
  return async (e) => {
    if (!(e instanceof ObjectStoreError) || e.code !== OBJ.exists) return undefined;
    const got = await stored().catch(() => undefined);
    return got && got.length === bodyLength(body) && Buffer.compare(got, bodyBytes(body)) === 0 ? { ok: true, value: undefined } : undefined;
  };
}

/** A store with the same interface whose single-request operations are retried under policy. */
export function withRetry(store: ObjectStore, policy: RetryPolicy): ObjectStore {
  return new RetryingStore(store, policy);
}

class RetryingStore implements ObjectStore {
  constructor(
    readonly inner: ObjectStore,
    private readonly policy: RetryPolicy,
  ) {}

  get location(): string {
    return this.inner.location;
  }

  get checksUploads(): boolean | undefined {
    return this.inner.checksUploads;
  }

  async ensureContainer(opts?: { objectLock?: boolean }): Promise<void> {
    const ensure = this.inner.ensureContainer?.bind(this.inner);
    if (ensure) await retrying(this.policy, `create ${this.inner.location}`, () => ensure(opts));
  }

  put(key: string, body: Body, opts?: PutOptions): Promise<void> {
    return retrying(
      this.policy,
      `put ${key}`,
      () => this.inner.put(key, body, opts),
      createOnlyRecover(opts, body, () => this.inner.get(key)),
    );
  }

  putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void> {
    return this.inner.putStream(key, body, opts); // not replayable: see the module comment
  }

  get(key: string, range?: { offset: number; length: number }): Promise<Uint8Array> {
    return retrying(this.policy, `get ${key}`, () => this.inner.get(key, range));
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return retrying(this.policy, `head ${key}`, () => this.inner.head(key));
  }

  list(prefix: string, fn: (info: ObjectInfo) => void | Promise<void>): Promise<void> {
    return this.inner.list(prefix, fn); // not restartable: see the module comment
  }

  delete(key: string): Promise<void> {
    return retrying(this.policy, `delete ${key}`, () => this.inner.delete(key));
  }

  removeStale(prefix: string, before: Date): Promise<number> {
    return this.inner.removeStale?.(prefix, before) ?? Promise.resolve(0);
  }
}
