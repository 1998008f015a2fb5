/**
 * What `clmgr setup backup_profile` will run, pure: from the storage's current objects and the
 * profile's disks to a list of checked commands (or nothing, when everything is in place). Every
 * command is built with svcCommand, so a bad name is refused while planning, even in a dry run.
 */
import { CbmError } from "../../util/errors.ts";
import type { FcGroup, FcMap, RcGroup, RcRelationship, Vdisk } from "./client.ts";
import { freeTargets, type HostDisk, type StorageView, vdiskByUid } from "./discover.ts";
import { nm, objRef, svcCommand, systemRef, type SvcCommand } from "./names.ts";

export interface PlanStep {
  /** Which storage system runs it. */
  storage: string;
  command: SvcCommand;
  why: string;
}

export interface SetupPlan {
  steps: PlanStep[];
  /** What is already in place (said by a second run). */
  present: string[];
}

export interface PairChoice {
  disk: HostDisk;
  source: Vdisk;
  target: Vdisk;
}

function sourceOf(view: StorageView, storage: string, d: HostDisk): Vdisk {
  const v = vdiskByUid(view, d.uuid);
  if (!v) {
    throw new CbmError(
      "CBM_SVC_DISK_NOT_FOUND",
      `physical_volume ${d.name} (UUID ${d.uuid || "unset"}) is not a volume of storage_system "${storage}" (no vdisk_UID matches). ` +
        `Check its UUID (lspv -u) against lshostvdiskmap on the storage.`,
      "validation",
    );
  }
  return v;
}

/**
 * Chooses one target per source: the explicit ones (TARGET_DISKS, by physical_volume) in order, else
 * the first free same-size volume mapped to `host` (our node; for remote copy, any node of the cluster).
 */
export function chooseTargets(
  view: StorageView,
  storage: string,
  host: string | readonly string[],
  sources: Array<{ disk: HostDisk; source: Vdisk }>,
  explicit: HostDisk[],
  reserved: ReadonlySet<string>,
  targetView: StorageView = view,
  targetStorage: string = storage,
): PairChoice[] {
  if (explicit.length > 0 && explicit.length !== sources.length) {
    throw new CbmError("CBM_BAD_VALUE", `TARGET_DISKS names ${explicit.length} disks for ${sources.length} source disks; give one per source, in order.`, "validation");
  }
  const used = new Set(reserved);
  return sources.map(({ disk, source }, i) => {
    let target: Vdisk | undefined;
    if (explicit.length > 0) {
      target = sourceOf(targetView, targetStorage, explicit[i]);
      if (target.capacity !== source.capacity) {
        throw new CbmError(
          "CBM_SVC_SIZE_MISMATCH",
          `Target ${explicit[i].name} (${target.name}, ${target.capacity} bytes) is not the size of ${disk.name} (${source.name}, ${source.capacity} bytes); SVC copies need the same size.`,
          "validation",
        );
      }
    } else {
      target = freeTargets(targetView, source, host, used, targetView === view)[0];
      if (!target) {
        const hosts = typeof host === "string" ? [host] : host;
        const known = new Set(targetView.maps.map((m) => m.hostName));
        const none = hosts.every((h) => !known.has(h));
        throw new CbmError(
          "CBM_SVC_NO_TARGET",
          none
            ? `Storage_system "${targetStorage}" has no host named ${hosts.join(" or ")} with volumes mapped to it, so no target can be chosen (volumes of other hosts never are). ` +
                `Define the host with the cluster node's name and map same-size volumes to it, or name targets with TARGET_DISKS.`
            : `No free volume of ${source.capacity} bytes (the size of ${disk.name} = ${source.name}) is mapped to host ${hosts.join(" or ")} on storage_system "${targetStorage}". ` +
                `Map a same-size volume to the host, or name targets with TARGET_DISKS.`,
          "validation",
        );
      }
    }
    used.add(target.id);
    return { disk, source, target };
  });
}

export interface FcState {
  group?: FcGroup;
  maps: FcMap[];
}

/** FlashCopy: one consistency group, one mapping per source disk. */
export function planFlashCopy(
  storage: string,
  host: string,
  cg: string,
  view: StorageView,
  fc: FcState,
  disks: HostDisk[],
  explicitTargets: HostDisk[],
  reserved: ReadonlySet<string>,
): SetupPlan {
  const steps: PlanStep[] = [];
  const present: string[] = [];
  const group = nm(cg, "REPLICATED_RESOURCES");
  if (fc.group) present.push(`FlashCopy consistency group ${cg} exists (id ${fc.group.id}, ${fc.group.status}).`);
  else steps.push({ storage, command: svcCommand("mkfcconsistgrp", "-name", group), why: `create consistency group ${cg}` });
  const sources = disks.map((disk) => ({ disk, source: sourceOf(view, storage, disk) }));
  const missing = sources.filter(({ disk, source }) => {
    const m = fc.maps.find((x) => x.groupName === cg && x.sourceId === source.id);
    if (m) present.push(`${disk.name}: mapping ${m.name} ${m.sourceName} → ${m.targetName} is in ${cg}.`);
    return !m;
  });
  const taken = new Set([...reserved, ...fc.maps.flatMap((m) => [m.sourceId, m.targetId])]);
  const explicit = explicitTargets.length > 0 ? explicitTargets.filter((_, i) => missing.includes(sources[i])) : [];
  for (const p of chooseTargets(view, storage, host, missing, explicit, taken)) {
    steps.push({
      storage,
      command: svcCommand("mkfcmap", "-source", objRef(p.source, "source volume"), "-target", objRef(p.target, "target volume"), "-consistgrp", group),
      why: `${p.disk.name} (${p.source.name}) → ${p.target.name}, ${p.source.capacity} bytes`,
    });
  }
  return { steps, present };
}

export interface RcState {
  group?: RcGroup;
  relationships: RcRelationship[];
}

/**
 * Global Mirror: one remote-copy consistency group on the primary, one relationship per source disk
 * (each VG disk needs its own same-size auxiliary volume on the secondary).
 */
export function planRemoteCopy(
  primary: string,
  secondary: string,
  auxSystem: { id: string; name: string },
  host: string,
  cg: string,
  view: StorageView,
  auxView: StorageView,
  rc: RcState,
  disks: HostDisk[],
  explicitAux: HostDisk[],
  /** Auxiliary volumes never to pick (e.g. disks of volume groups); aux targets are mapped to any of `auxHosts`. */
  auxReserved: ReadonlySet<string> = new Set(),
  auxHosts: readonly string[] = [host],
): SetupPlan {
  const steps: PlanStep[] = [];
  const present: string[] = [];
  const group = nm(cg, "REPLICATED_RESOURCES");
  const cluster = systemRef(auxSystem, "auxiliary system");
  const auxSystemName = auxSystem.name;
  if (rc.group) present.push(`remote-copy consistency group ${cg} exists (${rc.group.state}, ${rc.group.masterCluster} → ${rc.group.auxCluster}).`);
  else steps.push({ storage: primary, command: svcCommand("mkrcconsistgrp", "-name", group, "-cluster", cluster), why: `create consistency group ${cg} towards ${auxSystemName}` });
  const sources = disks.map((disk) => ({ disk, source: sourceOf(view, primary, disk) }));
  const missing = sources.filter(({ disk, source }) => {
    const r = rc.relationships.find((x) => x.masterVdisk === source.name && x.group === cg);
    if (r) present.push(`${disk.name}: relationship ${r.name} ${r.masterVdisk} → ${r.auxVdisk} is in ${cg}.`);
    else if (rc.relationships.some((x) => x.masterVdisk === source.name)) {
      throw new CbmError("CBM_SVC_IN_USE", `${disk.name} (${source.name}) is already the master of a relationship outside ${cg}.`, "validation");
    }
    return !r;
  });
  const explicit = explicitAux.length > 0 ? explicitAux.filter((_, i) => missing.includes(sources[i])) : [];
  for (const p of chooseTargets(view, primary, auxHosts, missing, explicit, auxReserved, auxView, secondary)) {
    steps.push({
      storage: primary,
      command: svcCommand(
        "mkrcrelationship",
        "-master", objRef(p.source, "master volume"),
        "-aux", objRef(p.target, "auxiliary volume"),
        "-cluster", cluster,
        "-consistgrp", group,
        "-global",
      ),
      why: `${p.disk.name} (${p.source.name}) → ${auxSystemName}:${p.target.name}, Global Mirror`,
    });
  }
  return { steps, present };
}
