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

/** Chunk buffers: one per transfer in flight, plus enough to keep every worker busy meanwhile. */
export function arenaSlots(concurrency: number, workers: number): number {
  return Math.max(1, concurrency) + 2 * workers + 2;
}
