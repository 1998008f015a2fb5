/** Finding and damaging chunks in a repository the way an operator's accident would (format §5.1: packs). */
import type { ObjectStore } from "../../src/objectstore/types.ts";
import { ChunkIndex } from "../../src/repo/chunkindex.ts";
import type { ChunkLocation } from "../../src/repo/pack.ts";

/** Where chunk `id` is stored (its pack or chunk object, and its bytes there), from a listing. */
export async function chunkLocation(store: ObjectStore, id: string): Promise<ChunkLocation> {
  const loc = (await ChunkIndex.fromListing(store)).location(id);
  if (!loc) throw new Error(`chunk ${id} is not stored in ${store.location}`);
  return loc;
}

/** Flips one byte in the middle of chunk `id`'s sealed object, in place; returns where it was. */
export async function flipChunkByte(store: ObjectStore, id: string): Promise<ChunkLocation> {
  const loc = await chunkLocation(store, id);
  const obj = Buffer.from(await store.get(loc.key));
  obj[loc.offset + ((loc.whole ? obj.length : loc.length) >> 1)] ^= 0x55;
  await store.put(loc.key, obj);
  return loc;
}

/** Every chunk id the repository holds, in packs or chunk objects. */
export async function storedChunkIds(store: ObjectStore): Promise<Set<string>> {
  return new Set(await ChunkIndex.fromListing(store));
}
