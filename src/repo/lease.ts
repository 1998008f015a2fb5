/**
 * Leases of running backups (docs/format.md §8): leases/<backupId>, renewed while the backup runs,
 * removed at the end. A future prune must not delete young unreferenced chunks while a lease is live.
 * A crashed backup's lease simply expires — nothing waits on it forever.
 */
import { hostname } from "node:os";
import type { ObjectStore, PutOptions } from "../objectstore/types.ts";
import { CbmError } from "../util/errors.ts";
import { pidAlive } from "../util/proc.ts";
import { REPO } from "./codes.ts";

/**
 * Reads every small JSON record under a prefix (leases, sweeps, prune marks). A record that vanished
 * between list and get, or does not parse, comes back with its error so each caller decides.
 */
export async function readJsonRecords<T>(store: ObjectStore, prefix: string): Promise<Array<{ key: string; rec?: T; error?: unknown }>> {
  const keys: string[] = [];
  await store.list(prefix, (i) => void keys.push(i.key));
  const out: Array<{ key: string; rec?: T; error?: unknown }> = [];
  for (const key of keys.sort()) {
    try {
      out.push({ key, rec: JSON.parse(Buffer.from(await store.get(key)).toString("utf8")) as T });
    } catch (error) {
      out.push({ key, error });
    }
  }
  return out;
}

export const LEASES_PREFIX = "leases/";
export const LEASE_TTL_MS = 15 * 60_000;
export const LEASE_RENEW_MS = 5 * 60_000;

export interface LeaseRecord {
  format: "cbm-lease";
  version: 1;
  backupId: string;
  host: string;
  pid: number;
  started: string;
  expires: string;
}

/** Margin kept before a lease's expiry for clocks that differ between this host and a pruning one. */
const LEASE_SKEW_MS = 60_000;

export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private readonly key: string;
  private readonly started = new Date();
  /** The expiry written by the last renewal that succeeded. */
  private expires = 0;
  private pending: Promise<void> | undefined;

  private constructor(
    private readonly store: ObjectStore,
    private readonly backupId: string,
    private readonly put: PutOptions,
  ) {
    this.key = `${LEASES_PREFIX}${backupId}`;
  }

  static async take(store: ObjectStore, backupId: string, put: PutOptions = {}): Promise<Lease> {
    const l = new Lease(store, backupId, put);
    await l.write();
    // A failed renewal is retried at the next tick; assertLive() tells whether the lease lapsed meanwhile.
    l.timer = setInterval(() => {
      l.pending = l.write().catch(() => undefined);
    }, LEASE_RENEW_MS);
    l.timer.unref();
    return l;
  }

  private async write(): Promise<void> {
    const expires = Date.now() + LEASE_TTL_MS;
    const rec: LeaseRecord = {
      format: "cbm-lease",
      version: 1,
      backupId: this.backupId,
      host: hostname(),
      pid: process.pid,
      started: this.started.toISOString(),
      expires: new Date(expires).toISOString(),
    };
    await this.store.put(this.key, Buffer.from(JSON.stringify(rec)), this.put);
    this.expires = expires;
  }

  /**
   * Throws unless the lease has been live throughout (renewals kept succeeding): once it lapsed, a
   * prune may have deleted chunks this backup counted as present, so its manifest must not be written.
   */
  assertLive(now = Date.now()): void {
    if (now <= this.expires - LEASE_SKEW_MS) return;
    throw new CbmError(
      REPO.leaseLapsed,
      `backup ${this.backupId}: its lease (${this.key}) could not be renewed and lapsed at ${new Date(this.expires).toISOString()}, so a prune may have removed chunks it relies on; no manifest was written: run the backup again`,
      "runtime",
    );
  }

  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.pending; // a renewal in flight would otherwise recreate the lease after the delete
    await this.store.delete(this.key);
  }
}

/**
 * The start time of the oldest lease left by a backup that died (expired, or held by a process of
 * this host that no longer exists) and never wrote its manifest, with the keys of those leases.
 * Chunks written since then may be partial on a store whose PUT is not atomic (s3rver writes objects
 * in place), so a full backup does not trust them. Unreadable leases are ignored.
 */
export async function abandonedLeases(store: ObjectStore, manifestExists: (id: string) => Promise<boolean>): Promise<{ since?: Date; keys: string[] }> {
  const keys: string[] = [];
  let since: Date | undefined;
  for (const { key, rec } of await readJsonRecords<LeaseRecord>(store, LEASES_PREFIX)) {
    if (!rec) continue;
    const expired = Date.parse(rec.expires) < Date.now();
    const deadHere = rec.host === hostname() && !pidAlive(rec.pid);
    if (!(expired || deadHere) || (await manifestExists(rec.backupId))) continue;
    keys.push(key);
    const started = new Date(Date.parse(rec.started) - 60_000); // clock skew between writer and store
    if (!since || started < since) since = started;
  }
  return { since, keys };
}

/**
 * Sweeps: a prune announces that it is deleting chunks with `sweeps/<runId>` (written before it checks
 * leases, renewed while it deletes, removed at the end). A backup takes its lease first and then waits
 * while a live sweep exists before it lists chunks. Each side writes, then reads what the other wrote,
 * so at least one sees the other: the prune defers, or the backup waits until the sweep is over.
 */
export const SWEEPS_PREFIX = "sweeps/";
export const SWEEP_TTL_MS = 5 * 60_000;
const SWEEP_RENEW_MS = 60_000;

export interface SweepRecord {
  format: "cbm-sweep";
  version: 1;
  runId: string;
  host: string;
  pid: number;
  started: string;
  expires: string;
}

export class Sweep {
  private timer: NodeJS.Timeout | undefined;
  private constructor(
    private readonly store: ObjectStore,
    private readonly key: string,
    private readonly rec: Omit<SweepRecord, "expires">,
  ) {}

  static async announce(store: ObjectStore, runId: string): Promise<Sweep> {
    const s = new Sweep(store, `${SWEEPS_PREFIX}${runId}`, {
      format: "cbm-sweep",
      version: 1,
      runId,
      host: hostname(),
      pid: process.pid,
      started: new Date().toISOString(),
    });
    await s.write();
    s.timer = setInterval(() => void s.write().catch(() => undefined), SWEEP_RENEW_MS);
    s.timer.unref();
    return s;
  }

  private write(): Promise<void> {
    const rec: SweepRecord = { ...this.rec, expires: new Date(Date.now() + SWEEP_TTL_MS).toISOString() };
    return this.store.put(this.key, Buffer.from(JSON.stringify(rec)));
  }

  async end(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.store.delete(this.key);
  }
}

/** Sweeps that may still be deleting: unexpired, and not held by a dead process of this host. */
export async function liveSweeps(store: ObjectStore): Promise<SweepRecord[]> {
  // A sweep that vanished between list and get has ended.
  return (await readJsonRecords<SweepRecord>(store, SWEEPS_PREFIX))
    .flatMap(({ rec }) => (rec ? [rec] : []))
    .filter((rec) => !(rec.host === hostname() && !pidAlive(rec.pid)) && Date.parse(rec.expires) > Date.now());
}

/**
 * Leases of backups that may still be running: unexpired, and not held by a dead process of this host
 * (a backup killed here never writes its manifest, so nothing it stored needs protecting). One that
 * exists but cannot be read (being rewritten) counts as live, to be safe.
 */
export async function liveLeases(store: ObjectStore, now: Date): Promise<LeaseRecord[]> {
  const out: LeaseRecord[] = [];
  for (const { key, rec } of await readJsonRecords<LeaseRecord>(store, LEASES_PREFIX)) {
    if (rec) {
      if (Date.parse(rec.expires) > now.getTime() && !(rec.host === hostname() && !pidAlive(rec.pid))) out.push(rec);
    } else if (await store.head(key)) {
      out.push({ format: "cbm-lease", version: 1, backupId: key.slice(LEASES_PREFIX.length), host: "?", pid: 0, started: now.toISOString(), expires: now.toISOString() });
    }
  }
  return out;
}

/** Waits (bounded by the sweeps' expiry) until no prune is deleting chunks. */
export async function waitForSweeps(store: ObjectStore, onWait?: (msg: string) => void, pollMs = 2000): Promise<void> {
  for (let said = false; ; said = true) {
    const live = await liveSweeps(store);
    if (live.length === 0) return;
    if (!said) onWait?.(`waiting for prune ${live.map((s) => `${s.runId} on ${s.host}`).join(", ")} to finish deleting chunks`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

