/** Cross-references shown on vdisks: FlashCopy maps, remote-copy relationship, host mappings. */
import type { LocalState, RcRel, RcStore, Vdisk } from "../model.ts";

export interface VdiskXref {
  fcId: string;
  fcName: string;
  fcCount: number;
  rc?: RcRel;
  func: "" | "master" | "aux";
}

export function relOfVdisk(store: RcStore, sysId: string, vdiskId: number): { rel: RcRel; role: "master" | "aux" } | undefined {
  for (const rel of store.relationships) {
    if (rel.masterSystemId === sysId && rel.masterVdiskId === vdiskId) return { rel, role: "master" };
    if (rel.auxSystemId === sysId && rel.auxVdiskId === vdiskId) return { rel, role: "aux" };
  }
  return undefined;
}

export function vdiskXref(s: LocalState, store: RcStore, v: Vdisk): VdiskXref {
  const maps = s.fcMaps.filter((m) => m.sourceId === v.id || m.targetId === v.id);
  const rc = relOfVdisk(store, s.system.id, v.id);
  return {
    fcId: maps.length === 1 ? String(maps[0].id) : maps.length > 1 ? "many" : "",
    fcName: maps.length === 1 ? maps[0].name : maps.length > 1 ? "many" : "",
    fcCount: maps.length,
    rc: rc?.rel,
    func: rc?.role ?? "",
  };
}
