/**
 * The built-in lab: writes the paper's topology into CBM_HOME, with disks backed by sparse files
 * inside CBM_HOME/lab, and removes exactly what it made. Everything listens on 127.0.0.1 only.
 */
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { addObject, modifyObject } from "../config/edit.ts";
import { findObject } from "../config/model.ts";
import { updateConfig } from "../config/store.ts";
import { CbmError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { DEFAULT_LAB_DISK_MIB, LAB_CLUSTER, LAB_DISKS, LAB_NODE, LAB_RG, LAB_VG } from "./topology.ts";

export interface LabState {
  createdAt: string;
  diskBytes: number;
  disks: Array<{ hdisk: string; path: string; uid: string; vdisk: string }>;
  /** Objects the lab added to cbm.xml, removed again by lab down. */
  objects: Array<[string, string]>;
}

export const labDir = (home: string) => join(home, "lab");
const statePath = (home: string) => join(labDir(home), "lab.json");

export async function readLabState(home: string): Promise<LabState | undefined> {
  try {
    return JSON.parse(await readFile(statePath(home), "utf8")) as LabState;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

export async function labUp(home: string, opts: { diskMiB?: number } = {}): Promise<LabState> {
  if (await readLabState(home)) {
    throw new CbmError("CBM_LAB_UP", `The lab is already up in ${home}; run "cbm lab down" first.`);
  }
  const diskBytes = (opts.diskMiB ?? DEFAULT_LAB_DISK_MIB) * 1024 * 1024;
  const diskDir = join(labDir(home), "disks");
  await mkdir(diskDir, { recursive: true, mode: 0o700 });
  const disks: LabState["disks"] = [];
  for (const d of LAB_DISKS) {
    const path = join(diskDir, `${d.vdisk}.img`);
    const fh = await open(path, "w", 0o600);
    await fh.truncate(diskBytes); // sparse
    await fh.close();
    disks.push({ hdisk: d.hdisk, path, uid: d.uid, vdisk: d.vdisk });
  }
  const objects: Array<[string, string]> = [];
  await updateConfig(home, (c) => {
    const add = (cls: string, name: string, attrs: Array<[string, string]>) => {
      if (findObject(c, cls, name)) return; // keep what the user already has
      addObject(c, cls, name, attrs);
      objects.push([cls, name]);
    };
    add("node", LAB_NODE, []);
    add("cluster", LAB_CLUSTER, [["NODES", LAB_NODE]]);
    for (const d of disks) {
      const src = LAB_DISKS.find((x) => x.hdisk === d.hdisk)!;
      add("physical_volume", d.hdisk, [
        ["DEVICE", d.path],
        ["UUID", d.uid],
        ["PVID", src.pvid],
        ["SIZE", String(diskBytes)],
      ]);
    }
    add("volume_group", LAB_VG, [["PHYSICAL_VOLUMES", LAB_DISKS.filter((d) => d.vg === LAB_VG).map((d) => d.hdisk).join(",")]]);
    add("resource_group", LAB_RG, [["NODES", LAB_NODE], ["VOLUME_GROUP", LAB_VG]]);
    modifyObject(c, "resource_group", LAB_RG, [["CURRENT_NODE", LAB_NODE]], true);
    return c;
  });
  const state: LabState = { createdAt: new Date().toISOString(), diskBytes, disks, objects };
  await writeFileAtomic(statePath(home), JSON.stringify(state, null, 2));
  return state;
}

export async function labDown(home: string): Promise<LabState | undefined> {
  const state = await readLabState(home);
  if (!state) return undefined;
  // Remove what the lab added, dependents first; objects the user added on top go first too.
  await updateConfig(home, (c) => {
    const labNames = new Set(state.objects.map(([cls, n]) => `${cls}/${n}`));
    const order = ["backup_profile", "resource_group", "volume_group", "physical_volume", "cluster", "node"];
    const dropDependents = (cls: string, name: string) =>
      c.objects.filter((o) => o.cls === "backup_profile" && cls === "resource_group" && o.name === name);
    for (const [cls, name] of state.objects) for (const d of dropDependents(cls, name)) labNames.add(`${d.cls}/${d.name}`);
    c.objects = c.objects
      .filter((o) => !labNames.has(`${o.cls}/${o.name}`))
      .sort((a, b) => order.indexOf(a.cls) - order.indexOf(b.cls));
    return c;
  });
  await rm(labDir(home), { recursive: true, force: true });
  return state;
}
