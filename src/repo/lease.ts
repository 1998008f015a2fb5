/**
 * Leases of running backups (docs/format.md §8): leases/<backupId>, renewed while the backup runs,
 * removed at the end. A future prune must not delete young unreferenced chunks while a lease is live.
 * A crashed backup's lease simply expires — nothing waits on it forever.
 */
import { hostname } from "node:os";
import type { ObjectStore, PutOptions } from "../objectstore/types.ts";
import { pidAlive } from "../util/proc.ts";

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

export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private readonly key: string;
  private readonly started = new Date();

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
    l.timer = setInterval(() => void l.write().catch(() => undefined), LEASE_RENEW_MS);
    l.timer.unref();
    return l;
  }

  private async write(): Promise<void> {
    const rec: LeaseRecord = {
      format: "cbm-lease",
      version: 1,
      backupId: this.backupId,
      host: hostname(),
      pid: process.pid,
      started: this.started.toISOString(),
      expires: new Date(Date.now() + LEASE_TTL_MS).toISOString(),
    };
    await this.store.put(this.key, Buffer.from(JSON.stringify(rec)), this.put);
  }

  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
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
  const infos: string[] = [];
  await store.list(LEASES_PREFIX, (info) => void infos.push(info.key));
  for (const key of infos) {
    let rec: LeaseRecord;
    try {
      rec = JSON.parse(Buffer.from(await store.get(key)).toString("utf8")) as LeaseRecord;
    } catch {
      continue;
    }
    const expired = Date.parse(rec.expires) < Date.now();
    const deadHere = rec.host === hostname() && !pidAlive(rec.pid);
    if (!(expired || deadHere) || (await manifestExists(rec.backupId))) continue;
    keys.push(key);
    const started = new Date(Date.parse(rec.started) - 60_000); // clock skew between writer and store
    if (!since || started < since) since = started;
  }
  return { since, keys };
}

