/**
 * Reading and writing manifests in the store, and finding backups by reference
 * (id, per-disk file name, "latest", or a time). I/O at the edge, planning in pure functions.
 */
import type { ObjectStore, PutOptions } from "../objectstore/types.ts";
import { CbmError } from "../util/errors.ts";
import { REPO } from "./codes.ts";
import { backupIdFromKey, decodeManifest, encodeManifest, manifestKey, MANIFESTS_PREFIX, type Manifest, type ManifestDisk } from "./manifest.ts";
import { formatIsoMicros, isBackupId, looksLikeBackupFileName, parseTime, type Micros } from "./names.ts";

/** All backup ids, oldest first (ids sort in time order). */
export async function listBackupIds(store: ObjectStore): Promise<string[]> {
  const ids: string[] = [];
  await store.list(MANIFESTS_PREFIX, (info) => {
    const id = backupIdFromKey(info.key);
    if (id) ids.push(id);
  });
  return ids.sort();
}

export async function readManifest(store: ObjectStore, id: string, key: Buffer | null): Promise<Manifest> {
  let obj: Uint8Array;
  try {
    obj = await store.get(manifestKey(id));
  } catch (e) {
    if (e instanceof CbmError && e.kind === "notfound") {
      throw new CbmError(REPO.backupNotFound, `backup ${id} not found in ${store.location}`, "notfound", { cause: e });
    }
    throw e;
  }
  return decodeManifest(obj, id, key);
}

/** Create-only: a backup id is never reused, and a manifest is never rewritten. */
export async function writeManifest(store: ObjectStore, m: Manifest, key: Buffer | null, opts: Pick<PutOptions, "sse" | "retainUntil"> = {}): Promise<void> {
  await store.put(manifestKey(m.id), encodeManifest(m, key), { ifNoneMatch: true, ...opts });
}

/**
 * A manifest that cannot be read back: damaged, cut short by a crash where PUT is not atomic, of a
 * newer format, or deleted since it was listed. Not a network or permission failure.
 */
export function isUnreadableManifest(e: unknown): e is CbmError {
  return e instanceof CbmError && (e.kind === "integrity" || e.kind === "notfound");
}

/**
 * Reads manifests with bounded parallelism, preserving order. With `skip`, an unreadable manifest
 * is reported to it and left out (listing and lookups must not fail for every resource group because
 * of one); without, it throws (prune: a manifest left out would lose its chunks).
 */
export async function readManifests(store: ObjectStore, ids: string[], key: Buffer | null, skip?: (id: string, e: CbmError) => void, parallel = 8): Promise<Manifest[]> {
  const out: (Manifest | undefined)[] = new Array<Manifest | undefined>(ids.length);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      try {
        out[i] = await readManifest(store, ids[i], key);
      } catch (e) {
        if (!skip || !isUnreadableManifest(e)) throw e;
        skip(ids[i], e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, ids.length) }, worker));
  return out.filter((m): m is Manifest => m !== undefined);
}

/** What findBackup accepts. A Date or a time string selects the newest backup at or before it. */
export type BackupRef = string | Date | { time: Micros };

export interface BackupScope {
  cluster?: string;
  rg?: string;
}

export function inScope(m: Manifest, s: BackupScope | undefined): boolean {
  return (!s?.cluster || m.cluster === s.cluster) && (!s?.rg || m.rg === s.rg);
}

export interface FoundDisk {
  vg: string;
  disk: ManifestDisk;
}

/** Finds a disk of a manifest by disk name, by "VG/disk", or by its backup file name. */
export function findDisk(m: Manifest, name: string): FoundDisk | undefined {
  const [vgName, diskName] = name.includes("/") ? name.split("/", 2) : [undefined, name];
  const hits: FoundDisk[] = [];
  for (const vg of m.vgs) {
    if (vgName !== undefined && vg.name !== vgName) continue;
    for (const d of vg.disks) if (d.name === diskName || d.fileName === name) hits.push({ vg: vg.name, disk: d });
  }
  if (hits.length > 1) {
    throw new CbmError(REPO.ambiguous, `disk name ${name} is in several VGs of backup ${m.id} (${hits.map((h) => h.vg).join(", ")}): say VG/disk`, "validation");
  }
  return hits[0];
}

function scopeText(s: BackupScope | undefined): string {
  const parts = [s?.cluster && `cluster ${s.cluster}`, s?.rg && `resource group ${s.rg}`].filter(Boolean);
  return parts.length ? ` of ${parts.join(", ")}` : "";
}

export type RefKind = { kind: "latest" } | { kind: "id"; id: string } | { kind: "file"; name: string } | { kind: "time"; time: Micros };

/** Classifies a reference without I/O. */
export function classifyRef(ref: BackupRef): RefKind {
  if (ref instanceof Date) return { kind: "time", time: ref.getTime() * 1000 };
  if (typeof ref === "object") return { kind: "time", time: ref.time };
  const s = ref.trim();
  if (s === "latest") return { kind: "latest" };
  if (isBackupId(s)) return { kind: "id", id: s };
  if (s.endsWith(".img")) return { kind: "file", name: s };
  const t = parseTime(s);
  if (t !== undefined) return { kind: "time", time: t };
  throw new CbmError(
    REPO.badRequest,
    `backup reference ${JSON.stringify(ref)} is not understood: give a backup id (20201123T053500.315851Z-9f3a0c1d), a backup file name (…_hdisk18.2020-11-23_05:35:00.315851.img), "latest", or a time (2020-11-23T05:35:00Z)`,
    "validation",
  );
}

/**
 * Picks a backup from manifests sorted oldest first. Pure, so every rule is testable without a store.
 */
export function pickBackup(manifests: Manifest[], ref: RefKind, scope?: BackupScope): Manifest {
  const scoped = manifests.filter((m) => inScope(m, scope));
  const where = scopeText(scope);
  switch (ref.kind) {
    case "latest": {
      const m = scoped.at(-1);
      if (!m) throw new CbmError(REPO.backupNotFound, `there is no backup${where} yet`, "notfound");
      return m;
    }
    case "id": {
      const m = scoped.find((x) => x.id === ref.id);
      if (!m) throw new CbmError(REPO.backupNotFound, `backup ${ref.id}${where} not found`, "notfound");
      return m;
    }
    case "file": {
      const hits = scoped.filter((m) => m.vgs.some((vg) => vg.disks.some((d) => d.fileName === ref.name)));
      if (hits.length === 0) {
        const hint = looksLikeBackupFileName(ref.name) ? "" : " (it does not look like <cluster>_<RG>_<VG>_<disk>.<YYYY-MM-DD_HH:MM:SS.micro>.img)";
        throw new CbmError(REPO.backupNotFound, `no backup${where} has a file named ${ref.name}${hint}`, "notfound");
      }
      if (hits.length > 1) {
        throw new CbmError(REPO.ambiguous, `backup file name ${ref.name} is in several backups (${hits.map((m) => m.id).join(", ")}): use a backup id`, "validation");
      }
      return hits[0];
    }
    case "time": {
      let best: Manifest | undefined;
      for (const m of scoped) if ((parseTime(m.time) ?? Infinity) <= ref.time) best = m;
      if (!best) {
        const first = scoped[0];
        const tail = first ? `; the first backup${where} is ${first.id} at ${first.time}` : `; there is no backup${where} at all`;
        throw new CbmError(REPO.backupNotFound, `no backup${where} at or before ${formatIsoMicros(ref.time)}${tail}`, "notfound");
      }
      return best;
    }
  }
}
