/**
 * Chunk objects in the store: the set of ids a repository holds, built from a listing of chunks/ (no
 * downloads), and the download of one chunk object for the restore and verify pipelines.
 *
 * Representation: a Set of 64-hex-digit strings — about 100 bytes per chunk in V8, so 10^6 chunks
 * (4 TiB of unique data at 4 MiB) take ~100 MB. Hidden behind this class so that an on-disk or
 * packed representation can replace it without touching callers (docs/format.md §12).
 */
import type { ObjectStore } from "../objectstore/types.ts";
import { CbmError } from "../util/errors.ts";
import { chunkIdFromKey, chunkObjectKey } from "./chunk.ts";

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

/**
 * Downloads one chunk object as an ArrayBuffer that may be transferred to a worker (the object's own
 * buffer, or a copy when it is a view); undefined when the chunk is missing.
 */
export async function fetchChunk(store: ObjectStore, id: string): Promise<ArrayBuffer | undefined> {
  let obj: Uint8Array;
  try {
    obj = await store.get(chunkObjectKey(id));
  } catch (err) {
    if (err instanceof CbmError && err.kind === "notfound") return undefined;
    throw err;
  }
  if (obj.byteOffset === 0 && obj.buffer instanceof ArrayBuffer && obj.byteLength === obj.buffer.byteLength) return obj.buffer;
  const ab = new ArrayBuffer(obj.byteLength);
  new Uint8Array(ab).set(obj);
  return ab;
}
