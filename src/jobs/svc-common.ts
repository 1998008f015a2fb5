/** Shared by the SVC jobs (setup, snapshot, replication): the profile's disks as the driver sees them. */
import { type Config, effective, objectsOf, splitList } from "../config/model.ts";
import type { SvcClient } from "../storage/svc/client.ts";
import { checkSvcName } from "../storage/svc/names.ts";
import type { HostDisk, StorageView } from "../storage/svc/discover.ts";
import { validationError } from "../util/errors.ts";
import { diskOf, type ProfilePlan } from "./plan.ts";

export const profileDisks = (plan: ProfilePlan): HostDisk[] =>
  plan.vgs.flatMap((vg) => vg.disks.map((d) => ({ name: d.name, uuid: d.uuid, device: d.device })));

export const targetDisks = (cfg: Config, plan: ProfilePlan): HostDisk[] =>
  splitList(plan.attrs.TARGET_DISKS).map((n) => {
    const d = diskOf(cfg, n);
    return { name: d.name, uuid: d.uuid, device: d.device };
  });

/** UIDs of every disk that belongs to some volume group: never a candidate target. */
export function vgDiskUids(cfg: Config): Set<string> {
  const out = new Set<string>();
  for (const vg of objectsOf(cfg, "volume_group")) {
    for (const pv of splitList(effective(cfg, vg, "PHYSICAL_VOLUMES"))) {
      const o = cfg.objects.find((x) => x.cls === "physical_volume" && x.name === pv);
      const u = o ? effective(cfg, o, "UUID").toUpperCase() : "";
      if (u) out.add(u);
    }
  }
  return out;
}

export async function storageView(c: SvcClient): Promise<StorageView> {
  return { vdisks: await c.lsvdisks(), maps: await c.lshostvdiskmap() };
}

export function requireCg(plan: ProfilePlan): string {
  const cg = plan.attrs.REPLICATED_RESOURCES;
  if (!cg) {
    throw validationError(
      "CBM_MISSING_ATTRIBUTE",
      `backup_profile "${plan.rg}" needs REPLICATED_RESOURCES (the storage's consistency group name, e.g. sample_consistency_group).`,
    );
  }
  // Checked here, before any connection: a name the storage would not accept (or one carrying shell
  // characters) is refused with nothing sent.
  return checkSvcName(cg, `REPLICATED_RESOURCES of backup_profile ${plan.rg}`);
}

/** The physical_volume whose UUID is `uid` (the host's view of a storage volume). */
export function hostDiskByUid(cfg: Config, uid: string): { name: string; device: string; size: number } | undefined {
  const o = objectsOf(cfg, "physical_volume").find((p) => effective(cfg, p, "UUID").toUpperCase() === uid.toUpperCase());
  if (!o) return undefined;
  return { name: o.name, device: effective(cfg, o, "DEVICE"), size: Number(effective(cfg, o, "SIZE") || 0) };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
