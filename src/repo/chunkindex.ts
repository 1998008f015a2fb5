/**
 * Chunks in the store: which chunk ids a repository holds and where, built from a listing of packs/
 * and chunks/ (no downloads: a pack's name is its index, format §5.1), and the download of one
 * chunk's sealed object for the restore, verify and export pipelines.
 *
 * A pack whose listed size is not the sum of its entries is incomplete (an upload cut short on a
 * server whose PUT is not atomic) and counts for nothing. A chunk held twice (a repack's copy,
 * two backups storing it at once) is read from its newest object; prune (§13) removes surplus copies.
 *
 * Representation: a Map from 64-hex id to location, about 200 bytes per chunk in V8, so 10^6 chunks
 * (4 TiB of unique data at 4 MiB) take ~200 MB (format §12). Hidden behind this class so that an
 * on-disk index can replace it without touching callers.
 */
import type { ObjectInfo, ObjectStore } from "../objectstore/types.ts";
import { CbmError } from "../util/errors.ts";
import { chunkIdFromKey } from "./chunk.ts";
import { chunkObjectLocation, packLocations, packSize, PACKS_PREFIX, parsePackKey, type ChunkLocation } from "./pack.ts";

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
  if (id) return { info, chunks: [{ id, loc: chunkObjectLocation(id, info.size) }], complete: true };
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
  /** For chunks named by an incomplete pack: that pack (to say why a chunk is missing). */
  private readonly cutShort = new Map<string, ObjectInfo>();

  /** From listings of packs/ and chunks/; objects modified at or after `distrustSince` are left out (re-stored if needed). */
  static async fromListing(store: ObjectStore, distrustSince?: Date): Promise<ChunkIndex> {
    const idx = new ChunkIndex();
    await listStoredObjects(store, (o) => {
      if (distrustSince && o.info.mtime >= distrustSince) return;
      if (!o.complete) {
        idx.incomplete++;
        for (const c of o.chunks) idx.cutShort.set(c.id, o.info);
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

  /** Records that the repository holds `id`, place unknown (an id from a manifest, or just stored). */
  add(id: string): void {
    if (!this.locs.has(id)) this.locs.set(id, undefined);
  }

  /** Leaves a chunk out, so that a backup stores it again (a damaged one). */
  forget(id: string): void {
    this.locs.delete(id);
  }

  /** Where the chunk is, from the listing; a chunk added without a place is looked for as a version 1 chunk object. */
  location(id: string): ChunkLocation | undefined {
    if (!this.locs.has(id)) return undefined;
    return this.locs.get(id) ?? chunkObjectLocation(id);
  }

  get size(): number {
    return this.locs.size;
  }

  /** Why a chunk the index lacks is missing, when the listing says more than "absent". */
  missingReason(id: string): string | undefined {
    const p = this.cutShort.get(id);
    if (!p || this.locs.has(id)) return undefined;
    const expected = packSize(parsePackKey(p.key) ?? []);
    return `pack ${p.key} names it but holds ${p.size} of its ${expected} bytes (an upload cut short); a full backup stores the chunk again`;
  }

  [Symbol.iterator](): IterableIterator<string> {
    return this.locs.keys();
  }
}

/**
 * Reads chunks by id, and looks again — one new listing, shared by the reads that missed while it
 * ran — when a chunk is not where the index says: a prune may have repacked it and deleted the pack
 * it was in (format §13) while a restore, verify or export was running. A version 1 repository
 * needs no listing to start: a chunk's object is named by its id (the listing only finds copies).
 */
export class ChunkReader {
  /** Listings started so far, and the number of the one the index comes from. */
  private started = 0;
  private indexed = 0;
  private inflight: { n: number; done: Promise<void> } | undefined;

  private constructor(
    private readonly store: ObjectStore,
    private index: ChunkIndex | undefined,
  ) {}

  /** `listFirst`: start from a listing (packs); false reads chunks/<id> until a miss (version 1). */
  static async open(store: ObjectStore, listFirst = true): Promise<ChunkReader> {
    const r = new ChunkReader(store, undefined);
    if (listFirst) await r.relist();
    return r;
  }

  /** Whether the latest listing found the chunk (false before any listing). */
  has(id: string): boolean {
    return this.index?.has(id) ?? false;
  }

  /** The chunk's sealed object and the key it was read from, or undefined when the repository does not hold it (any more). */
  async fetch(id: string): Promise<{ object: ArrayBuffer; key: string } | undefined> {
    // A listing is not a snapshot (it may pass the new pack's place before the copy exists and the
    // old one's after its delete): two tries with listings started after the miss.
    for (let attempt = 0; ; attempt++) {
      const loc = this.index ? this.index.location(id) : chunkObjectLocation(id);
      const object = loc && (await fetchChunk(this.store, loc));
      if (object) return { object, key: loc.key };
      if (attempt === 2) return undefined;
      await this.relist();
    }
  }

  /** "chunk <id> is missing from <store>", and why, where the listing tells. */
  missing(id: string): string {
    const why = this.index?.missingReason(id);
    return `chunk ${id} is missing from ${this.store.location}${why ? `: ${why}` : ""}`;
  }

  /** Resolves once the index comes from a listing that started after this call. */
  private async relist(): Promise<void> {
    const want = this.started + 1;
    while (this.indexed < want) {
      if (!this.inflight || this.inflight.n < want) {
        if (this.inflight) {
          await this.inflight.done; // started before the miss: wait for it, then start one of our own
          continue;
        }
        const n = ++this.started;
        const done = ChunkIndex.fromListing(this.store)
          .then((idx) => {
            if (n > this.indexed) {
              this.index = idx;
              this.indexed = n;
            }
          })
          .finally(() => {
            if (this.inflight?.n === n) this.inflight = undefined;
          });
        this.inflight = { n, done };
      }
      await this.inflight.done;
    }
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
