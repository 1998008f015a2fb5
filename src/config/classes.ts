/**
 * The clmgr object classes and their attributes: one table that drives parsing, validation, the XML
 * codec, `query` output and `help`. The paper's spellings are kept; our additions sit beside them.
 */

export type AttrType =
  | { kind: "string"; pattern?: RegExp; patternText?: string }
  | { kind: "enum"; values: readonly string[] }
  | { kind: "list"; of?: "name" | "address" }
  | { kind: "int"; min: number; max?: number }
  | { kind: "hhmm" }
  | { kind: "path" }
  | { kind: "url" };

export interface AttrDef {
  name: string;
  type: AttrType;
  /** Default shown by query and used when the attribute is not set. */
  default?: string;
  description: string;
  /** Read-only attributes are shown by query but set by other verbs (online/offline, discovery). */
  readOnly?: boolean;
}

export interface ClassDef {
  name: string;
  description: string;
  attrs: readonly AttrDef[];
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
export const NAME_RULE = "1–64 characters: letters, digits, _ . -, starting with a letter or _";

export const isValidName = (s: string): boolean => NAME_RE.test(s);

const s = (description: string, extra: Partial<AttrDef> = {}): Omit<AttrDef, "name"> => ({
  type: { kind: "string" },
  description,
  ...extra,
});
const e = (values: readonly string[], description: string, def?: string): Omit<AttrDef, "name"> => ({
  type: { kind: "enum", values },
  description,
  default: def,
});
const list = (description: string, of: "name" | "address" = "name"): Omit<AttrDef, "name"> => ({
  type: { kind: "list", of },
  description,
});
const path = (description: string, def?: string): Omit<AttrDef, "name"> => ({
  type: { kind: "path" },
  description,
  default: def,
});
const int = (min: number, description: string, def?: string, max?: number): Omit<AttrDef, "name"> => ({
  type: { kind: "int", min, max },
  description,
  default: def,
});

function attrs(spec: Record<string, Omit<AttrDef, "name">>): AttrDef[] {
  return Object.entries(spec).map(([name, d]) => ({ name, ...d }));
}

export const CLOUD_SERVICES = ["ibm", "aws", "s3", "fs"] as const;

export const CLASSES: readonly ClassDef[] = [
  {
    name: "cluster",
    description: "The cluster whose resource groups are protected.",
    attrs: attrs({
      NODES: list("Nodes of the cluster."),
      CLUSTER_PROVIDER: e(
        ["standalone", "pacemaker"],
        "Where resource-group state comes from: this configuration, or Pacemaker (crm_mon).",
        "standalone",
      ),
      LOCAL_NODE: s("The node this CBM_HOME runs on (default: $CBM_NODE, else the first of NODES)."),
    }),
  },
  {
    name: "node",
    description: "A cluster node.",
    attrs: attrs({ COMMPATH: s("Address used to reach the node (informational).") }),
  },
  {
    name: "physical_volume",
    description: "A disk seen by the nodes (AIX hdisk): declared here or discovered from the storage.",
    attrs: attrs({
      DEVICE: path("Block device or image file through which the node reads the disk."),
      UUID: s("The storage's volume UID (lspv -u); matched against vdisk_UID."),
      PVID: s("Physical volume id."),
      SIZE: int(0, "Size in bytes (0 = take it from the device)."),
      STORAGE_NAME: s("The storage system that provides the disk."),
    }),
  },
  {
    name: "volume_group",
    description: "A named set of disks.",
    attrs: attrs({ PHYSICAL_VOLUMES: list("Disks of the volume group, in order.") }),
  },
  {
    name: "resource_group",
    description: "A resource group: the unit that is online on one node and whose disks are backed up.",
    attrs: attrs({
      NODES: list("Nodes that can host the resource group."),
      VOLUME_GROUP: list("Volume groups of the resource group."),
      CURRENT_NODE: s("Node where the resource group is online (standalone provider; set by online/offline).", {
        readOnly: true,
      }),
    }),
  },
  {
    name: "storage_system",
    description: "A storage system whose disks are assigned to the cluster nodes.",
    attrs: attrs({
      TYPE: e(["SVC", "local"], "SVC: IBM SAN Volume Controller over SSH; local: Linux block devices or image files."),
      ADDRESSES: list("Management addresses, host[:port] (SVC).", "address"),
      USER: s("SSH user on the storage (SVC).", { default: "admin" }),
      BACKUP_PROFILE: e(["true", "false"], "Whether backup profiles may use this storage.", "true"),
      SSH_KEY: path("SSH private key file used to log in (default: CBM_HOME/ssh/id_ed25519)."),
      HOST_KEY: s("Pinned SSH host key (recorded on first connection; a changed key is refused)."),
    }),
  },
  {
    name: "backup_profile",
    description: "Backup of a resource group's volume groups, named after the resource group.",
    attrs: attrs({
      ENABLE_BACKUP: e(["yes", "no"], "Whether scheduled backups run.", "yes"),
      BACKUP_METHOD: e(["cloud", "remote_storage"], "cloud: images to object storage; remote_storage: Global Mirror."),
      VOLUME_GROUP: list("Volume groups of the resource group to back up."),
      REPLICATED_RESOURCES: s("Consistency group on the storage (FlashCopy for cloud, remote copy for remote_storage)."),
      STORAGE_NAME: list("Storage system(s): one for cloud; primary and auxiliary for remote_storage."),
      NOTIFYMETHOD: path("Program run on backup success/failure and replication state changes."),
      CLOUD_SERVICE: e(CLOUD_SERVICES, "Object storage: ibm (IBM COS), aws (AWS S3), s3 (any S3 endpoint), fs (directory).", "aws"),
      BUCKET_NAME: s("Bucket (or, for fs, the directory under ENDPOINT) holding the backups."),
      ENCRYPTION: e(["disable", "kms", "aes"], "Server-side encryption: kms (SSE-KMS) or aes (SSE AES256).", "disable"),
      COMPRESSION: e(["enable", "disable"], "zstd compression of the images.", "disable"),
      BACKUP_SCHEDULE: { type: { kind: "hhmm" }, description: "Daily time of the full backup, HH:MM.", default: "00:42" },
      BACKUP_FREQUENCY: int(1, "Days between full backups.", "1", 366),
      INC_BACKUP_FREQ: int(1, "Hours between incremental backups (empty: no incrementals).", undefined, 24 * 366),
      TARGET_LOCATION: path("Spool directory; used only with SPOOL=yes (default: streaming)."),
      // ours
      SPOOL: e(["yes", "no"], "Stage each image in TARGET_LOCATION before upload.", "no"),
      ENDPOINT: { type: { kind: "url" }, description: "S3 endpoint URL (ibm/s3), or the base directory (fs)." },
      REGION: s("Region of the bucket.", { default: "us-east-1" }),
      AWS_PROFILE: s("Credential reference: a profile name in the AWS shared credentials file."),
      CREDENTIALS_FILE: path("Credential reference: the AWS shared credentials file holding AWS_PROFILE."),
      ACCESS_KEY_ENV: s("Credential reference: environment variable holding the access key id."),
      SECRET_KEY_ENV: s("Credential reference: environment variable holding the secret access key."),
      KMS_KEY_ID: s("SSE-KMS key id for ENCRYPTION=kms."),
      REPO_KEY: s(
        "Client-side AES-256-GCM key: file:/path (32-byte key file), env:VAR (passphrase in VAR), or none.",
        { default: "auto" },
      ),
      TARGET_DISKS: list("same-size spare disks (physical volumes in no volume group) that receive the point-in-time copy, one per source, in order."),
      FREEZE_METHOD: path("local storage: command run before reading the sources (instead of TARGET_DISKS)."),
      THAW_METHOD: path("local storage: command run after reading the sources."),
      KEEP_LAST: int(0, "Retention: keep the newest N backups (0 = keep all).", "0"),
      KEEP_DAILY: int(0, "Retention: keep the newest backup of each of the last N days that have one (UTC; 0 = rule off).", "0"),
      KEEP_WEEKLY: int(0, "Retention: keep the newest backup of each of the last N ISO weeks that have one (0 = rule off).", "0"),
      KEEP_MONTHLY: int(0, "Retention: keep the newest backup of each of the last N months that have one (0 = rule off).", "0"),
      PRUNE_GRACE_HOURS: int(0, "Prune: hours between marking an unreferenced chunk and deleting it.", "24", 24 * 366),
      VERIFY_SCHEDULE: { type: { kind: "hhmm" }, description: "Daily time of the verify job, HH:MM (empty: no scheduled verification)." },
      VERIFY_SAMPLE: int(1, "Percentage of the chunks each verify job checks; successive jobs rotate through all of them.", "100", 100),
      OBJECT_LOCK_DAYS: int(0, "Object lock: new chunks and manifests are written with N days of retention (a bucket CBM creates gets object lock), and backups younger than N days are never pruned (0 = off).", "0", 36500),
    }),
  },
];

export const CLASS_NAMES = CLASSES.map((c) => c.name);

export function classDef(name: string): ClassDef | undefined {
  return CLASSES.find((c) => c.name === name.toLowerCase());
}

export function attrDef(cls: ClassDef, name: string): AttrDef | undefined {
  return cls.attrs.find((a) => a.name === name.toUpperCase());
}

/** A short "allowed values" text for messages and help. */
export function allowedText(t: AttrType): string {
  switch (t.kind) {
    case "enum":
      return t.values.join("|");
    case "int":
      return t.max === undefined ? `an integer >= ${t.min}` : `an integer from ${t.min} to ${t.max}`;
    case "hhmm":
      return "a time HH:MM (00:00–23:59)";
    case "list":
      return t.of === "address" ? "comma-separated host[:port] list" : "comma-separated list of names";
    case "path":
      return "an absolute path";
    case "url":
      return "an http(s):// URL or an absolute directory";
    case "string":
      return t.patternText ?? "text";
  }
}
