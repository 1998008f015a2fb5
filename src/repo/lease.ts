/**
 * Leases of running backups (docs/format.md §8): leases/<backupId>, renewed while the backup runs,
 * removed at the end. A future prune must not delete young unreferenced chunks while a lease is live.
 * A crashed backup's lease simply expires — nothing waits on it forever.
 */
import { hostname } from "node:os";
import type { ObjectStore, PutOptions } from "../objectstore/types.ts";

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
