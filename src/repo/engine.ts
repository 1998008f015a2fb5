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
 */
export const BACKUP_CONCURRENCY = 12;

/**
 * Default downloads in flight for a restore: each holds at most one chunk object (no arena slot:
 * workers decode and write straight to the target), and more requests in flight hide the latency
 * of a slow GET. 16 measured no faster on 2 cores and came within 6 MiB of the 300 MiB budget.
 */
export const RESTORE_CONCURRENCY = 12;

/**
 * Chunk buffers: one per transfer in flight plus one per worker, so hashing continues while every
 * upload is busy. Each slot costs up to two chunks of memory (plaintext + encoded object), and
 * this is the number that keeps a 4 MiB-chunk pipeline under its 300 MiB RSS budget.
 */
export function arenaSlots(concurrency: number, workers: number): number {
  return Math.max(1, concurrency) + workers;
}
