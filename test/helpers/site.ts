/**
 * The small site most tests need, written in-process (the clmgr grammar has its own tests, and a
 * process start per line would cost the suite minutes): cluster c1 with node Node1, resource group
 * RG1 with volume group VG1 on hdisk18, hdisk19 … (one per disk), spare disks hdisk21, hdisk22 …,
 * local storage local1, and the cloud backup profile RG1 with the given attributes.
 */
import { addObject } from "../../src/config/edit.ts";
import { updateConfig } from "../../src/config/store.ts";

export interface SiteOptions {
  disks: string[];
  spares?: string[];
  /** Profile attributes beside BACKUP_METHOD=cloud, VOLUME_GROUP=VG1 and STORAGE_NAME=local1. */
  profile: Array<[string, string]>;
  /** Extra physical_volume attributes, e.g. SIZE. */
  pvAttrs?: Array<[string, string]>;
}

export const diskName = (i: number) => `hdisk${18 + i}`;
export const spareName = (i: number) => `hdisk${21 + i}`;

export async function writeSite(home: string, o: SiteOptions): Promise<void> {
  await updateConfig(home, (c) => {
    addObject(c, "node", "Node1", []);
    addObject(c, "cluster", "c1", [["NODES", "Node1"]]);
    o.disks.forEach((d, i) => addObject(c, "physical_volume", diskName(i), [["DEVICE", d], ...(o.pvAttrs ?? [])]));
    (o.spares ?? []).forEach((d, i) => addObject(c, "physical_volume", spareName(i), [["DEVICE", d], ...(o.pvAttrs ?? [])]));
    addObject(c, "volume_group", "VG1", [["PHYSICAL_VOLUMES", o.disks.map((_, i) => diskName(i)).join(",")]]);
    addObject(c, "resource_group", "RG1", [["NODES", "Node1"], ["VOLUME_GROUP", "VG1"]]);
    addObject(c, "storage_system", "local1", [["TYPE", "local"]]);
    addObject(c, "backup_profile", "RG1", [["BACKUP_METHOD", "cloud"], ["VOLUME_GROUP", "VG1"], ["STORAGE_NAME", "local1"], ...o.profile]);
  });
}
