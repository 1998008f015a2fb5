/** What the backup, restore and verify pipelines need from an open repository. */
import type { ObjectStore } from "../objectstore/types.ts";
import type { RepoConfig, RepoKeys } from "./keys.ts";
import type { WorkerPool } from "./pool.ts";

export interface Engine {
  store: ObjectStore;
  config: RepoConfig;
  keys: RepoKeys;
  /** The shared worker pool, started on first use. */
  pool(): WorkerPool;
}

/** Default number of object uploads/downloads in flight. */
export const DEFAULT_CONCURRENCY = 8;

/**
 * Default uploads in flight for a backup. Each holds an encoded-object buffer (the plaintext
 * buffers are separate and few), so reading and hashing go on while uploads wait on the network.
 * 12 was no faster on 2 cores and put an 8 GiB backup at 304 MiB peak RSS, over its 300 MiB budget
 * (8: 293 MiB).
 */
export const BACKUP_CONCURRENCY = 8;

/**
 * Default downloads in flight for a restore: each holds at most one chunk object (no arena slot:
 * workers decode and write straight to the target), and more requests in flight hide the latency
 * of a slow GET. 12 measured no faster than 8 on 2 cores and, with the direct-write buffers
 * (targetwrite.ts), put an 8 GiB restore at 307 MiB peak RSS (8: 273 MiB).
 */
export const RESTORE_CONCURRENCY = 8;

/**
 * Chunk buffers: one per transfer in flight plus one per worker, so hashing continues while every
 * upload is busy. Each slot costs up to two chunks of memory (plaintext + encoded object), and
 * this is the number that keeps a 4 MiB-chunk pipeline under its 300 MiB RSS budget.
 */
export function arenaSlots(concurrency: number, workers: number): number {
  return Math.max(1, concurrency) + workers;
}
