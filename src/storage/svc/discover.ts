/**
 * Discovery, pure: the paper's manual steps 3a–3c as functions. A host disk is matched to a storage
 * volume by UID (physical_volume UUID = vdisk_UID, case-insensitive), and a free target is a volume
 * of exactly the same size that is mapped to our host and used by nothing (no FlashCopy map, no
 * remote-copy relationship, not a disk of any volume group, not already chosen).
 */
import type { HostMap, Vdisk } from "./client.ts";

export interface HostDisk {
  /** physical_volume name (hdisk18). */
  name: string;
  uuid?: string;
  device?: string;
}

export interface MatchedDisk {
  disk: HostDisk;
  vdisk?: Vdisk;
}

/** The storage's view of the disks visible to our host. */
export interface StorageView {
  vdisks: Vdisk[];
  maps: HostMap[];
}

const norm = (u: string | undefined) => (u ?? "").trim().toUpperCase();

export function vdiskByUid(view: StorageView, uid: string | undefined): Vdisk | undefined {
  const u = norm(uid);
  return u ? view.vdisks.find((v) => v.uid === u) : undefined;
}

/**
 * Volumes mapped to `hosts` (a host name or several). Only those: a storage shared by other hosts
 * maps their volumes too, and one of them taken as a copy target would be overwritten by every copy.
 */
export function mappedTo(view: StorageView, hosts: string | readonly string[]): Vdisk[] {
  const names = new Set(typeof hosts === "string" ? [hosts] : hosts);
  const ids = new Set(view.maps.filter((m) => names.has(m.hostName)).map((m) => m.vdiskId));
  return view.vdisks.filter((v) => ids.has(v.id));
}

export function matchDisks(view: StorageView, disks: HostDisk[]): MatchedDisk[] {
  return disks.map((disk) => ({ disk, vdisk: vdiskByUid(view, disk.uuid) }));
}

/**
 * Free same-size volumes for `source`, in the storage's order. `inUse` holds volume ids that must not
 * be picked (volume-group disks, targets chosen earlier in the same plan).
 */
export function freeTargets(view: StorageView, source: Vdisk, host: string | readonly string[], inUse: ReadonlySet<string>, sameSystem = true): Vdisk[] {
  // Ids are per system: the source's id says nothing about a volume of another storage system.
  return mappedTo(view, host).filter(
    (v) => !(sameSystem && v.id === source.id) && v.capacity === source.capacity && v.fcMapCount === 0 && v.rcName === "" && !inUse.has(v.id),
  );
}
