/**
 * Damaged-chunk markers (docs/format.md §13): `damaged/<chunkId>`, written by verify for a chunk whose
 * stored copy fails its checks. Backups do not trust a marked chunk — a full leaves it out of its
 * listing, an incremental out of its parent's chunks — so the next backup of a disk that still holds
 * that data stores a good copy, which readers then prefer (the newest). Verify removes the marker
 * once the chunk checks good again; prune removes markers of chunks nothing references.
 */
import type { ObjectStore } from "../objectstore/types.ts";
import { isChunkId } from "./chunk.ts";
import { markerIds, putMarker } from "./markers.ts";

export const DAMAGED_PREFIX = "damaged/";

export interface DamagedRecord {
  format: "cbm-damaged";
  version: 1;
  chunk: string;
  /** The object the bad copy was read from. */
  object: string;
  found: string;
  problem: string;
}

/** Ids of the chunks marked damaged (a listing, no downloads). */
export function readDamaged(store: ObjectStore): Promise<Set<string>> {
  return markerIds(store, DAMAGED_PREFIX, isChunkId);
}

export async function markDamaged(store: ObjectStore, chunk: string, object: string, problem: string, when = new Date()): Promise<void> {
  const rec: DamagedRecord = { format: "cbm-damaged", version: 1, chunk, object, found: when.toISOString(), problem };
  await putMarker(store, DAMAGED_PREFIX, chunk, rec);
}

export async function clearDamaged(store: ObjectStore, chunk: string): Promise<void> {
  await store.delete(`${DAMAGED_PREFIX}${chunk}`);
}
