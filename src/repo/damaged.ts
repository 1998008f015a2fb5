/**
 * Damaged-chunk markers (docs/format.md §13): `damaged/<chunkId>`, written by verify for a chunk whose
 * stored copy fails its checks. Backups do not trust a marked chunk — a full leaves it out of its
 * listing, an incremental out of its parent's chunks — so the next backup of a disk that still holds
 * that data stores a good copy, which readers then prefer (the newest). Verify removes the marker
 * once the chunk checks good again; prune removes markers of chunks nothing references.
 */
import type { ObjectStore } from "../objectstore/types.ts";
import { isChunkId } from "./chunk.ts";

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
export async function readDamaged(store: ObjectStore): Promise<Set<string>> {
  const ids = new Set<string>();
  await store.list(DAMAGED_PREFIX, (i) => {
    const id = i.key.slice(DAMAGED_PREFIX.length);
    if (isChunkId(id)) ids.add(id);
  });
  return ids;
}

export async function markDamaged(store: ObjectStore, chunk: string, object: string, problem: string, when = new Date()): Promise<void> {
  const rec: DamagedRecord = { format: "cbm-damaged", version: 1, chunk, object, found: when.toISOString(), problem };
  await store.put(`${DAMAGED_PREFIX}${chunk}`, Buffer.from(JSON.stringify(rec)));
}

export async function clearDamaged(store: ObjectStore, chunk: string): Promise<void> {
  await store.delete(`${DAMAGED_PREFIX}${chunk}`);
}
