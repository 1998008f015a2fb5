/**
 * Chunks in the store: which chunk ids a repository holds and where, built from a listing of packs/
 * and chunks/ (no downloads: a pack's name is its index, format §5.1), and the download of one
 * chunk's sealed object for the restore, verify and export pipelines.
 *
 * A pack whose listed size is not the sum of its entries is incomplete (an upload cut short on a
 * server whose PUT is not atomic) and counts for nothing. A chunk held twice is found at its first
 * newest place; prune (§13) removes the surplus copy.
 *
 * Representation: a Map from 64-hex id to location, about 200 bytes per chunk in V8, so 10^6 chunks
 * (4 TiB of unique data at 4 MiB) take ~200 MB (format §12). Hidden behind this class so that an
 * on-disk index can replace it without touching callers.
 */
import type { ObjectInfo, ObjectStore } from "../objectstore/types.ts";
import { CbmError } from "../util/errors.ts";
import { chunkIdFromKey, chunkObjectKey } from "./chunk.ts";
import { packLocations, packSize, PACKS_PREFIX, parsePackKey, type ChunkLocation } from "./pack.ts";

export const CHUNKS_PREFIX = "chunks/";

/** What a listed object holds: its chunks and their places, or nothing usable (incomplete pack). */
export interface StoredObject {
  info: ObjectInfo;
  chunks: Array<{ id: string; loc: ChunkLocation }>;
  /** False for a pack whose size is not its entries' sum: it holds nothing a reader may use. */
  complete: boolean;
}

/** The chunks of a listed chunk or pack object; undefined for keys that are neither. Pure. */
export function storedObject(info: ObjectInfo): StoredObject | undefined {
  const id = chunkIdFromKey(info.key);
  if (id) return { info, chunks: [{ id, loc: { key: info.key, offset: 0, length: info.size, whole: true } }], complete: true };
  const entries = parsePackKey(info.key);
  if (!entries) return undefined;
  return { info, chunks: packLocations(info.key, entries), complete: info.size === packSize(entries) };
}

/** Calls fn for every chunk or pack object of the repository (two listings, in no particular order). */
export async function listStoredObjects(store: ObjectStore, fn: (o: StoredObject) => void): Promise<void> {
  for (const prefix of [PACKS_PREFIX, CHUNKS_PREFIX]) {
    await store.list(prefix, (info) => {
      const o = storedObject(info);
      if (o) fn(o);
    });
  }
}

export class ChunkIndex {
  private readonly locs = new Map<string, ChunkLocation | undefined>();
  /** Chunk and pack objects listed (complete ones), and their bytes. */
  objects = 0;
  bytes = 0;
  /** Packs listed whose size says their upload was cut short. */
  incomplete = 0;

  constructor(ids?: Iterable<string>) {
    if (ids) for (const id of ids) this.locs.set(id, undefined);
  }

  /** From listings of packs/ and chunks/; objects modified at or after `distrustSince` are left out (re-stored if needed). */
  static async fromListing(store: ObjectStore, distrustSince?: Date): Promise<ChunkIndex> {
    const idx = new ChunkIndex();
    await listStoredObjects(store, (o) => {
      if (distrustSince && o.info.mtime >= distrustSince) return;
      if (!o.complete) {
        idx.incomplete++;
        return;
      }
      idx.objects++;
      idx.bytes += o.info.size;
      // Of two copies the newer is read: the older may be a pack a prune has repacked and will delete.
      for (const c of o.chunks) {
        const had = idx.locs.get(c.id);
        if (!had || (had.mtime ?? 0) < o.info.mtime.getTime()) idx.locs.set(c.id, { ...c.loc, mtime: o.info.mtime.getTime() });
      }
    });
    return idx;
  }

  has(id: string): boolean {
    return this.locs.has(id);
  }

  /** Records that the repository holds `id` (at `loc`, when known: an id from a manifest has none). */
  add(id: string, loc?: ChunkLocation): void {
    if (!this.locs.has(id) || loc) this.locs.set(id, loc);
  }

  /** Where the chunk is, from the listing; a chunk added without a place is looked for as a version 1 chunk object. */
  location(id: string): ChunkLocation | undefined {
    if (!this.locs.has(id)) return undefined;
    return this.locs.get(id) ?? { key: chunkObjectKey(id), offset: 0, length: 0, whole: true };
  }

  get size(): number {
    return this.locs.size;
  }

  [Symbol.iterator](): IterableIterator<string> {
    return this.locs.keys();
  }
}

/**
 * Reads chunks by id through an index, and looks again — one new listing, shared by every read that
 * missed meanwhile — when a chunk is not where the index says: a prune may have repacked it and
 * deleted the pack it was in (format §13) while a restore, verify or export was running.
 */
export class ChunkReader {
  private generation = 0;
  private relisting: Promise<void> | undefined;

  constructor(
    private readonly store: ObjectStore,
    private index: ChunkIndex,
  ) {}

  static async open(store: ObjectStore): Promise<ChunkReader> {
    return new ChunkReader(store, await ChunkIndex.fromListing(store));
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  /** The chunk's sealed object, or undefined when the repository does not hold it (any more). */
  async fetch(id: string): Promise<ArrayBuffer | undefined> {
    for (let attempt = 0; ; attempt++) {
      const seen = this.generation;
      const loc = this.index.location(id);
      const ab = loc && (await fetchChunk(this.store, loc));
      if (ab || attempt > 0) return ab;
      await this.relist(seen);
    }
  }

  private async relist(seen: number): Promise<void> {
    if (this.generation !== seen) return; // a listing newer than this miss is in the index already
    this.relisting ??= ChunkIndex.fromListing(this.store)
      .then((idx) => {
        this.index = idx;
        this.generation++;
      })
      .finally(() => (this.relisting = undefined));
    await this.relisting;
  }
}

/**
 * Downloads one chunk's sealed object as an ArrayBuffer that may be transferred to a worker (the
 * answer's own buffer, or a copy when it is a view); undefined when the object is gone.
 */
export async function fetchChunk(store: ObjectStore, loc: ChunkLocation): Promise<ArrayBuffer | undefined> {
  let obj: Uint8Array;
  try {
    obj = await store.get(loc.key, loc.whole ? undefined : { offset: loc.offset, length: loc.length });
  } catch (err) {
    if (err instanceof CbmError && err.kind === "notfound") return undefined;
    throw err;
  }
  if (obj.byteOffset === 0 && obj.buffer instanceof ArrayBuffer && obj.byteLength === obj.buffer.byteLength) return obj.buffer;
  const ab = new ArrayBuffer(obj.byteLength);
  new Uint8Array(ab).set(obj);
  return ab;
}
