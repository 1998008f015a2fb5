/**
 * The paper's example topology, as data: cluster r1r2m2p57_cluster, node Node1, resource group RG1
 * with volume group VG1 on hdisk18 and hdisk19, spare disks hdisk21 and hdisk22 of the same size
 * (FlashCopy targets), on the primary storage SVC_STORAGE_primary (Example 2's volume names); and on
 * the secondary SVC_STORAGE_secondary the auxiliary volumes Node2_1/Node2_2 for Global Mirror.
 * PVIDs are the paper's (Example 1). UIDs are the simulator's: a storage hands out vdisk_UIDs, and the
 * lab records them as the disks' UUIDs, just as `lspv -u` would show them.
 */
export interface LabDisk {
  hdisk: string;
  pvid: string;
  /** Name of the volume on its storage system (Example 2). */
  vdisk: string;
  storage: "storage1" | "storage2";
  vg?: string;
}

export const LAB_CLUSTER = "r1r2m2p57_cluster";
export const LAB_NODE = "Node1";
export const LAB_RG = "RG1";
export const LAB_VG = "VG1";

export const LAB_DISKS: readonly LabDisk[] = [
  { hdisk: "hdisk18", pvid: "00fab22e1277d1bc", vdisk: "Node1_1", storage: "storage1", vg: LAB_VG },
  { hdisk: "hdisk19", pvid: "00fab22e1277d1f7", vdisk: "Node1_2", storage: "storage1", vg: LAB_VG },
  { hdisk: "hdisk21", pvid: "00fab22e1277d270", vdisk: "Node1_4", storage: "storage1" },
  { hdisk: "hdisk22", pvid: "00fab22e1277d2ad", vdisk: "Node1_5", storage: "storage1" },
  { hdisk: "hdisk30", pvid: "00fab22e1277d3a1", vdisk: "Node2_1", storage: "storage2" },
  { hdisk: "hdisk31", pvid: "00fab22e1277d3a2", vdisk: "Node2_2", storage: "storage2" },
];

/** The two storage systems: config name (what `clmgr add storage_system` uses) → SVC system name. */
export const LAB_STORAGE = [
  { name: "storage1", systemName: "SVC_STORAGE_primary", role: "primary", wwpn: "10000000C9A10001" },
  { name: "storage2", systemName: "SVC_STORAGE_secondary", role: "secondary", wwpn: "10000000C9A10002" },
] as const;

export const LAB_USER = "admin";
export const LAB_BUCKET = "pha-bucket";
export const LAB_AWS_PROFILE = "cbm-lab";
export const DEFAULT_LAB_DISK_MIB = 256;
