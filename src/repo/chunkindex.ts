/**
 * The set of chunk ids a repository holds, built from a listing of chunks/ (no downloads).
 *
 * Representation: a Set of 64-hex-digit strings — about 100 bytes per chunk in V8, so 10^6 chunks
 * (4 TiB of unique data at 4 MiB) take ~100 MB. Hidden behind this class so that an on-disk or
 * packed representation can replace it without touching callers (docs/format.md §12).
 */
import type { ObjectStore } from "../objectstore/types.ts";
import { chunkIdFromKey } from "./chunk.ts";

export const CHUNKS_PREFIX = "chunks/";

export class ChunkIndex {
  private readonly ids = new Set<string>();

  constructor(ids?: Iterable<string>) {
    if (ids) for (const id of ids) this.ids.add(id);
  }

  /** Lists chunks/ once; keys that are not chunk objects are ignored. */
  /** From a listing of chunks/; chunks modified at or after `distrustSince` are left out (re-stored if needed). */
  static async fromListing(store: ObjectStore, distrustSince?: Date): Promise<ChunkIndex> {
    const idx = new ChunkIndex();
    await store.list(CHUNKS_PREFIX, (info) => {
      const id = chunkIdFromKey(info.key);
      if (id && !(distrustSince && info.mtime >= distrustSince)) idx.ids.add(id);
    });
    return idx;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
  }

  get size(): number {
    return this.ids.size;
  }

  [Symbol.iterator](): IterableIterator<string> {
    return this.ids.values();
  }
}
