/**
 * Small JSON marker objects named `<prefix><id>` (verified backups, damaged chunks; docs/format.md
 * §13): written whole, found by a listing alone.
 */
import type { ObjectStore } from "../objectstore/types.ts";

/** The ids of the markers under prefix that `isId` accepts (a listing, no downloads). */
export async function markerIds(store: ObjectStore, prefix: string, isId: (s: string) => boolean): Promise<Set<string>> {
  const ids = new Set<string>();
  await store.list(prefix, (i) => {
    const id = i.key.slice(prefix.length);
    if (isId(id)) ids.add(id);
  });
  return ids;
}

export async function putMarker(store: ObjectStore, prefix: string, id: string, rec: object): Promise<void> {
  await store.put(`${prefix}${id}`, Buffer.from(JSON.stringify(rec)));
}
