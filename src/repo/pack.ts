/**
 * Packs (docs/format.md §5.1): up to MAX_PACK_CHUNKS sealed chunk objects stored back to back as one
 * object, named so that a listing alone tells which chunks it holds, where, and whether it is whole:
 *
 *   packs/<first 2 hex of the first id>/<id1>.<len1>[_<id2>.<len2>…]
 *
 * Fewer, larger objects: an S3 server's cost is as much per object as per byte. The name is the
 * pack's index, so there is no header to read and no index file to keep in step. Pure.
 */
import { chunkObjectKey, isChunkId } from "./chunk.ts";
import { writesPacks, type RepoConfig } from "./keys.ts";
import { HEADER_LEN, sealedBound, TAG_LEN } from "./sealed.ts";

export const PACKS_PREFIX = "packs/";
/** At most this many chunks per pack: 3 × (64 + 1 + 8) + 2 = 221 bytes, under the 255 a file name may have. */
export const MAX_PACK_CHUNKS = 3;
/** A pack is closed before it would pass this many bytes (a larger chunk goes alone). */
export const MAX_PACK_BYTES = 16 * 1024 * 1024;

export interface PackEntry {
  id: string;
  /** Bytes of the sealed chunk object. */
  length: number;
}

/** Where a chunk's sealed object is: bytes [offset, offset+length) of object `key`. */
export interface ChunkLocation {
  key: string;
  offset: number;
  length: number;
  /** The object is this chunk alone (a version 1 chunk object): fetched whole, without a range. */
  whole?: boolean;
  /** The object's modification time (ms), where a listing gave it. */
  mtime?: number;
}

const MIN_SEALED = HEADER_LEN + TAG_LEN;

/** A version 1 chunk object: the whole object `chunks/<xx>/<id>` (its size, where a listing gave it). */
export function chunkObjectLocation(id: string, size = 0): ChunkLocation {
  return { key: chunkObjectKey(id), offset: 0, length: size, whole: true };
}

/**
 * How many chunks a writer puts in one object: up to MAX_PACK_CHUNKS while they fit MAX_PACK_BYTES
 * (three at the default 4 MiB) in a version 2 repository; one chunk object each in version 1.
 */
export function chunksPerObject(c: Pick<RepoConfig, "version" | "chunkSize">): number {
  if (!writesPacks(c)) return 1;
  return Math.max(1, Math.min(MAX_PACK_CHUNKS, Math.floor(MAX_PACK_BYTES / sealedBound(c.chunkSize))));
}

/** The key a writer stores these chunks under: a pack, or (one chunk, version 1) a chunk object. */
export function objectKeyFor(entries: readonly PackEntry[], packs: boolean): string {
  return packs ? packKey(entries) : chunkObjectKey(entries[0].id);
}

export function packKey(entries: readonly PackEntry[]): string {
  if (entries.length === 0 || entries.length > MAX_PACK_CHUNKS) throw new RangeError(`a pack holds 1 to ${MAX_PACK_CHUNKS} chunks, not ${entries.length}`);
  return `${PACKS_PREFIX}${entries[0].id.slice(0, 2)}/${entries.map((e) => `${e.id}.${e.length}`).join("_")}`;
}

/** Inverse of packKey; undefined for keys that are not pack names (temporary files, other versions…). */
export function parsePackKey(key: string): PackEntry[] | undefined {
  if (!key.startsWith(PACKS_PREFIX) || key[PACKS_PREFIX.length + 2] !== "/") return undefined;
  const shard = key.slice(PACKS_PREFIX.length, PACKS_PREFIX.length + 2);
  const parts = key.slice(PACKS_PREFIX.length + 3).split("_");
  if (parts.length > MAX_PACK_CHUNKS) return undefined;
  const entries: PackEntry[] = [];
  for (const p of parts) {
    const m = /^([0-9a-f]{64})\.([1-9][0-9]{0,9})$/.exec(p);
    if (!m || !isChunkId(m[1])) return undefined;
    const length = Number(m[2]);
    if (length < MIN_SEALED) return undefined;
    entries.push({ id: m[1], length });
  }
  // The same chunk twice would count as two copies of it (format §13): not a pack.
  if (new Set(entries.map((e) => e.id)).size !== entries.length) return undefined;
  return entries[0].id.startsWith(shard) ? entries : undefined;
}

/** Size a complete pack has: the sum of its entries. A listed pack of another size is incomplete. */
export function packSize(entries: readonly PackEntry[]): number {
  return entries.reduce((s, e) => s + e.length, 0);
}

/** Each entry's location inside pack `key`. */
export function packLocations(key: string, entries: readonly PackEntry[]): Array<{ id: string; loc: ChunkLocation }> {
  let offset = 0;
  return entries.map((e) => {
    const loc = { key, offset, length: e.length };
    offset += e.length;
    return { id: e.id, loc };
  });
}
