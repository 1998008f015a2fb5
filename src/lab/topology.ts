/**
 * The paper's example topology, as data: cluster r1r2m2p57_cluster, node Node1, resource group RG1
 * with volume group VG1 on hdisk18 and hdisk19, and spare disks hdisk21 and hdisk22 of the same size.
 * PVIDs and volume UIDs are the paper's (Example 1 and Example 2).
 */
export interface LabDisk {
  hdisk: string;
  pvid: string;
  uid: string;
  /** Name of the volume on the primary storage (Example 2). */
  vdisk: string;
  vg?: string;
}

export const LAB_CLUSTER = "r1r2m2p57_cluster";
export const LAB_NODE = "Node1";
export const LAB_RG = "RG1";
export const LAB_VG = "VG1";

export const LAB_DISKS: readonly LabDisk[] = [
  { hdisk: "hdisk18", pvid: "00fab22e1277d1bc", uid: "60050764008101D3F8000000000005F6", vdisk: "Node1_1", vg: LAB_VG },
  { hdisk: "hdisk19", pvid: "00fab22e1277d1f7", uid: "60050764008101D3F8000000000005F7", vdisk: "Node1_2", vg: LAB_VG },
  { hdisk: "hdisk21", pvid: "00fab22e1277d270", uid: "60050764008101D3F8000000000005F9", vdisk: "Node1_4" },
  { hdisk: "hdisk22", pvid: "00fab22e1277d2ad", uid: "60050764008101D3F8000000000005FA", vdisk: "Node1_5" },
];

export const DEFAULT_LAB_DISK_MIB = 256;
