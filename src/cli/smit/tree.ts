/**
 * The SMIT tree of Cloud Backup Configuration, pure: menus, selectors (pick an object first) and
 * dialogs (entry-field forms), each reachable by a fast path id (`cbm smit cbm_add_profile`). Dialog
 * fields come from the attribute table (config/classes.ts) with effective values (config/model.ts);
 * a dialog turns its field values into the clmgr argv it runs, so a form and a command line meet in
 * the same code.
 */
import { type AttrDef, type ClassDef, allowedText, classDef } from "../../config/classes.ts";
import { type Config, type ConfigObject, effective, findObject, objectsOf, splitList } from "../../config/model.ts";

export interface Field {
  /** Attribute in the command (ATTR=value), or "" for the positional object name/word. */
  attr: string;
  label: string;
  /** Value shown when the dialog opens (current or default). */
  initial: string;
  required?: boolean;
  /** Display only (the name in a Change/Show dialog, the method chosen in the menu). */
  fixed?: boolean;
  /** Values for the pick list (F4); enumerated fields are also a ring (Tab cycles). */
  choices?: string[];
  ring?: boolean;
  /** Pick list allows several values (comma-separated list attributes). */
  multi?: boolean;
  /** SMIT's right-hand hint: + list, # number, / path. */
  flag: "" | "+" | "#" | "/";
  help: string;
  /** Sent even when unchanged (the dialog's always-included options). */
  always?: boolean;
}

export interface Dialog {
  kind: "dialog";
  id: string;
  title: string;
  /** clmgr verb and class; the first positional field (attr "") is the object name. */
  prog: "clmgr" | "cbm";
  verb: string;
  cls?: string;
  fields: Field[];
  /** add: send set values; modify: send changed values; other: send set values. */
  mode: "add" | "modify" | "run";
  /** Ask "ARE YOU SURE?" before running. */
  confirm?: boolean;
}

export interface MenuItem {
  label: string;
  target: string;
}

export interface Menu {
  kind: "menu";
  id: string;
  title: string;
  items: MenuItem[];
}

/** A list to pick from before the dialog (SMIT's selector): the pick becomes the dialog's argument. */
export interface Selector {
  kind: "selector";
  id: string;
  title: string;
  prompt: string;
  choices: string[];
  /** Fast path of the screen that receives the pick. */
  next: string;
}

export type Node = Menu | Selector | Dialog;

export const TOP = "cbm";

/** Breadcrumb of the top menu as PowerHA SMIT reaches it. */
export const SMIT_PATH = "smit hacmp > Cluster Applications and Resources > Cloud Backup Configuration";

const MENUS: Record<string, { title: string; items: MenuItem[] }> = {
  hacmp: { title: "PowerHA SystemMirror", items: [{ label: "Cluster Applications and Resources", target: "cm_apps_resources" }] },
  cm_apps_resources: {
    title: "Cluster Applications and Resources",
    items: [{ label: "Cloud Backup Configuration", target: "cbm" }],
  },
  cbm: {
    title: "Cloud Backup Configuration",
    items: [
      { label: "Storage Configuration", target: "cbm_storage" },
      { label: "Backup Profiles", target: "cbm_profiles" },
      { label: "Backup Now", target: "cbm_backup_now" },
      { label: "Backup Files", target: "cbm_backup_files" },
      { label: "Cluster Services", target: "cbm_services" },
      { label: "Lab", target: "cbm_lab" },
    ],
  },
  cbm_storage: {
    title: "Storage Configuration",
    items: [
      { label: "Add Storage Configuration", target: "cbm_add_storage" },
      { label: "Change/Show Storage Configuration", target: "cbm_ch_storage" },
      { label: "Remove Storage Configuration", target: "cbm_rm_storage" },
    ],
  },
  cbm_profiles: {
    title: "Backup Profiles",
    items: [
      { label: "Add Backup Profile", target: "cbm_add_profile" },
      { label: "Change/Show Backup Profile", target: "cbm_ch_profile" },
      { label: "Remove Backup Profile", target: "cbm_rm_profile" },
    ],
  },
  cbm_add_profile: {
    title: "Add Backup Profile",
    items: [
      { label: "Cloud", target: "cbm_add_cloud_profile" },
      { label: "Remote Storage", target: "cbm_add_remote_profile" },
    ],
  },
  cbm_backup_files: {
    title: "Backup Files",
    items: [
      { label: "List Backup Files", target: "cbm_ls_backup_files" },
      { label: "Restore Backup Files", target: "cbm_restore_backup_files" },
      { label: "Verify Backup Files", target: "cbm_verify_backup_files" },
    ],
  },
  cbm_services: {
    title: "Cluster Services",
    items: [
      { label: "Start Cluster Services", target: "cbm_start_services" },
      { label: "Stop Cluster Services", target: "cbm_stop_services" },
    ],
  },
  cbm_lab: {
    title: "Lab",
    items: [
      { label: "Start the Lab", target: "cbm_lab_up" },
      { label: "Show the Lab", target: "cbm_lab_status" },
      { label: "Stop and Remove the Lab", target: "cbm_lab_down" },
    ],
  },
};

/** Every fast path with a one-line description (docs, `cbm smit -h`). */
export const FAST_PATHS: Array<[string, string]> = [
  ["cbm", "Cloud Backup Configuration (the default)"],
  ["hacmp", "PowerHA SystemMirror > Cluster Applications and Resources > Cloud Backup Configuration"],
  ["cbm_storage", "Storage Configuration"],
  ["cbm_add_storage", "Add Storage Configuration"],
  ["cbm_ch_storage", "Change/Show Storage Configuration"],
  ["cbm_rm_storage", "Remove Storage Configuration"],
  ["cbm_profiles", "Backup Profiles"],
  ["cbm_add_profile", "Add Backup Profile (Cloud / Remote Storage)"],
  ["cbm_add_cloud_profile", "Add Backup Profile > Cloud"],
  ["cbm_add_remote_profile", "Add Backup Profile > Remote Storage"],
  ["cbm_ch_profile", "Change/Show Backup Profile"],
  ["cbm_rm_profile", "Remove Backup Profile"],
  ["cbm_backup_now", "Backup Now"],
  ["cbm_backup_files", "Backup Files (List, Restore, Verify)"],
  ["cbm_ls_backup_files", "List Backup Files"],
  ["cbm_restore_backup_files", "Restore Backup Files"],
  ["cbm_verify_backup_files", "Verify Backup Files"],
  ["cbm_services", "Cluster Services (Start, Stop)"],
  ["cbm_start_services", "Start Cluster Services"],
  ["cbm_stop_services", "Stop Cluster Services"],
  ["cbm_lab", "Lab (up, status, down)"],
];

const names = (cfg: Config, cls: string) => objectsOf(cfg, cls).map((o) => o.name);

/** REPLICATED_RESOURCES values in use by the profiles (the consistency groups CBM knows of). */
export function consistencyGroups(cfg: Config): string[] {
  const set = new Set<string>();
  for (const p of objectsOf(cfg, "backup_profile")) {
    const v = effective(cfg, p, "REPLICATED_RESOURCES");
    if (v) set.add(v);
  }
  return [...set];
}

function flagOf(d: AttrDef): Field["flag"] {
  if (d.type.kind === "enum" || d.type.kind === "list") return "+";
  if (d.type.kind === "int") return "#";
  if (d.type.kind === "path") return "/";
  return "";
}

const LABELS: Record<string, string> = {
  TYPE: "Storage Type",
  ADDRESSES: "IP Addresses",
  USER: "User Name",
  BACKUP_PROFILE: "Used by Backup Profiles",
  SSH_KEY: "SSH Private Key",
  HOST_KEY: "Pinned SSH Host Key",
  ENABLE_BACKUP: "Enable Backup",
  BACKUP_METHOD: "Backup Method",
  VOLUME_GROUP: "Volume Group(s)",
  REPLICATED_RESOURCES: "Replicated Resources",
  STORAGE_NAME: "Storage Name(s)",
  NOTIFYMETHOD: "Notify Method",
  CLOUD_SERVICE: "Cloud Service",
  BUCKET_NAME: "Bucket Name",
  ENCRYPTION: "Encryption",
  COMPRESSION: "Compression",
  BACKUP_SCHEDULE: "Backup Schedule (HH:MM)",
  BACKUP_FREQUENCY: "Backup Frequency (days)",
  INC_BACKUP_FREQ: "Incremental Backup Frequency (hours)",
  TARGET_LOCATION: "Target Location",
  SPOOL: "Spool Images in Target Location",
  ENDPOINT: "Endpoint",
  REGION: "Region",
  AWS_PROFILE: "AWS Profile",
  CREDENTIALS_FILE: "Credentials File",
  ACCESS_KEY_ENV: "Access Key Variable",
  SECRET_KEY_ENV: "Secret Key Variable",
  KMS_KEY_ID: "KMS Key Id",
  REPO_KEY: "Repository Key",
  TARGET_DISKS: "Target Disks (local storage)",
  FREEZE_METHOD: "Freeze Method (local storage)",
  THAW_METHOD: "Thaw Method (local storage)",
  KEEP_LAST: "Keep Last N Backups",
};

function attrField(cfg: Config, cls: ClassDef, d: AttrDef, initial: string, rg?: string): Field {
  const f: Field = {
    attr: d.name,
    label: LABELS[d.name] ?? d.name,
    initial,
    flag: flagOf(d),
    help: `${d.name}: ${d.description}\nAllowed: ${allowedText(d.type)}${d.default !== undefined ? ` (default: ${d.default})` : ""}.`,
  };
  if (d.type.kind === "enum") {
    f.choices = [...d.type.values];
    f.ring = true;
  }
  if (cls.name === "backup_profile") {
    if (d.name === "STORAGE_NAME") {
      f.choices = objectsOf(cfg, "storage_system")
        .filter((s) => effective(cfg, s, "BACKUP_PROFILE") === "true")
        .map((s) => s.name);
      f.multi = true;
    } else if (d.name === "VOLUME_GROUP") {
      const rgo = rg ? findObject(cfg, "resource_group", rg) : undefined;
      f.choices = rgo ? splitList(effective(cfg, rgo, "VOLUME_GROUP")) : names(cfg, "volume_group");
      f.multi = true;
    } else if (d.name === "REPLICATED_RESOURCES") {
      f.choices = consistencyGroups(cfg);
      f.flag = "+";
    } else if (d.name === "TARGET_DISKS") {
      f.choices = names(cfg, "physical_volume");
      f.multi = true;
    }
  }
  return f;
}

const STORAGE_ADD = ["TYPE", "ADDRESSES", "USER", "BACKUP_PROFILE", "SSH_KEY"];
const REMOTE_ATTRS = ["ENABLE_BACKUP", "BACKUP_METHOD", "VOLUME_GROUP", "REPLICATED_RESOURCES", "STORAGE_NAME", "NOTIFYMETHOD"];
const PROFILE_REQUIRED = ["ENABLE_BACKUP", "BACKUP_METHOD", "VOLUME_GROUP", "REPLICATED_RESOURCES", "STORAGE_NAME"];

function nameField(label: string, initial: string, fixed: boolean, choices?: string[]): Field {
  return { attr: "", label, initial, required: true, fixed, flag: choices ? "+" : "", choices, help: `${label}.` };
}

/** Default value of an attribute for a new object (site default, else built-in default). */
function defaultFor(cfg: Config, cls: string, attr: string): string {
  return effective(cfg, { cls, name: "", attrs: {} }, attr);
}

function storageDialog(cfg: Config, id: string, obj?: ConfigObject): Dialog {
  const cls = classDef("storage_system")!;
  const fields: Field[] = [nameField("Storage Name", obj?.name ?? "", obj !== undefined)];
  for (const d of cls.attrs) {
    if (d.readOnly || (!obj && !STORAGE_ADD.includes(d.name))) continue;
    const f = attrField(cfg, cls, d, obj ? effective(cfg, obj, d.name) : defaultFor(cfg, cls.name, d.name));
    if (d.name === "TYPE") f.required = true;
    if (!obj && d.name === "TYPE") {
      f.initial = "SVC";
      f.always = true;
    }
    fields.push(f);
  }
  if (!obj) {
    fields.push({
      attr: "CHECK",
      label: "Check the Connection Now (SVC)",
      initial: "yes",
      choices: ["yes", "no"],
      ring: true,
      flag: "+",
      help: "CHECK: yes logs in to the SVC storage before adding it and pins its host key; no adds it offline.",
    });
  }
  return obj
    ? { kind: "dialog", id, title: "Change/Show Storage Configuration", prog: "clmgr", verb: "modify", cls: "storage_system", fields, mode: "modify" }
    : { kind: "dialog", id, title: "Add Storage Configuration", prog: "clmgr", verb: "add", cls: "storage_system", fields, mode: "add" };
}

function profileDialog(cfg: Config, id: string, rg: string, method: "cloud" | "remote_storage" | undefined): Dialog {
  const cls = classDef("backup_profile")!;
  const obj = method === undefined ? findObject(cfg, "backup_profile", rg) : undefined;
  const m = method ?? (obj ? effective(cfg, obj, "BACKUP_METHOD") : "cloud");
  const fields: Field[] = [nameField("Resource Group Name", rg, true, names(cfg, "resource_group"))];
  for (const d of cls.attrs) {
    if (d.readOnly) continue;
    if (m === "remote_storage" && !REMOTE_ATTRS.includes(d.name)) continue;
    let initial = obj ? effective(cfg, obj, d.name) : defaultFor(cfg, cls.name, d.name);
    if (!obj && d.name === "VOLUME_GROUP") {
      const rgo = findObject(cfg, "resource_group", rg);
      initial = rgo ? effective(cfg, rgo, "VOLUME_GROUP") : "";
    }
    const f = attrField(cfg, cls, d, initial, rg);
    if (d.name === "BACKUP_METHOD") {
      f.initial = m;
      f.fixed = method !== undefined;
    }
    if (PROFILE_REQUIRED.includes(d.name) || (m === "cloud" && d.name === "BUCKET_NAME")) {
      f.required = true;
      f.always = method !== undefined;
    }
    if (m === "cloud" && d.name === "REPLICATED_RESOURCES") {
      f.required = false;
      f.always = false;
    }
    fields.push(f);
  }
  if (method === undefined) {
    return { kind: "dialog", id, title: "Change/Show Backup Profile", prog: "clmgr", verb: "modify", cls: "backup_profile", fields, mode: "modify" };
  }
  const title = method === "cloud" ? "Add Backup Profile (Cloud)" : "Add Backup Profile (Remote Storage)";
  return { kind: "dialog", id, title, prog: "clmgr", verb: "add", cls: "backup_profile", fields, mode: "add" };
}

function removeDialog(id: string, title: string, cls: string, label: string, name: string): Dialog {
  return { kind: "dialog", id, title, prog: "clmgr", verb: "delete", cls, fields: [nameField(label, name, true)], mode: "run", confirm: true };
}

const field = (attr: string, label: string, initial: string, help: string, extra: Partial<Field> = {}): Field => ({
  attr,
  label,
  initial,
  flag: "",
  help,
  ...extra,
});

function cloudProfiles(cfg: Config): string[] {
  return objectsOf(cfg, "backup_profile")
    .filter((p) => effective(cfg, p, "BACKUP_METHOD") === "cloud")
    .map((p) => p.name);
}

function disksOf(cfg: Config, rg: string): string[] {
  const p = findObject(cfg, "backup_profile", rg);
  const vgs = p ? splitList(effective(cfg, p, "VOLUME_GROUP")) : names(cfg, "volume_group");
  const out: string[] = [];
  for (const vg of vgs) {
    const o = findObject(cfg, "volume_group", vg);
    if (o) out.push(...splitList(effective(cfg, o, "PHYSICAL_VOLUMES")));
  }
  return out;
}

/**
 * Resolves a fast path to its screen. `arg` is what a selector picked (the object name).
 * Returns undefined for an unknown fast path.
 */
export function resolve(cfg: Config, id: string, arg?: string): Node | undefined {
  const menu = MENUS[id];
  if (menu) return { kind: "menu", id, ...menu };
  const sel = (title: string, prompt: string, choices: string[], next: string): Selector => ({
    kind: "selector",
    id,
    title,
    prompt,
    choices,
    next,
  });
  const profiles = names(cfg, "backup_profile");
  switch (id) {
    case "cbm_add_storage":
      return storageDialog(cfg, id);
    case "cbm_ch_storage":
      if (arg === undefined) return sel("Change/Show Storage Configuration", "Storage Name", names(cfg, "storage_system"), id);
      return storageDialog(cfg, id, findObject(cfg, "storage_system", arg));
    case "cbm_rm_storage":
      if (arg === undefined) return sel("Remove Storage Configuration", "Storage Name", names(cfg, "storage_system"), id);
      return removeDialog(id, "Remove Storage Configuration", "storage_system", "Storage Name", arg);
    case "cbm_add_cloud_profile":
    case "cbm_add_remote_profile":
      if (arg === undefined) {
        const free = names(cfg, "resource_group").filter((r) => !profiles.includes(r));
        return sel("Add Backup Profile", "Resource Group Name", free, id);
      }
      return profileDialog(cfg, id, arg, id === "cbm_add_cloud_profile" ? "cloud" : "remote_storage");
    case "cbm_ch_profile":
      if (arg === undefined) return sel("Change/Show Backup Profile", "Backup Profile (Resource Group)", profiles, id);
      return profileDialog(cfg, id, arg, undefined);
    case "cbm_rm_profile":
      if (arg === undefined) return sel("Remove Backup Profile", "Backup Profile (Resource Group)", profiles, id);
      return removeDialog(id, "Remove Backup Profile", "backup_profile", "Backup Profile (Resource Group)", arg);
    case "cbm_backup_now":
      if (arg === undefined) return sel("Backup Now", "Backup Profile (Resource Group)", cloudProfiles(cfg), id);
      return {
        kind: "dialog", id, title: "Backup Now", prog: "clmgr", verb: "backup", cls: "backup_profile", mode: "run",
        fields: [
          nameField("Backup Profile (Resource Group)", arg, true),
          field("TYPE", "Backup Type", "full", "TYPE: full reads every disk; incremental stores what changed since the last backup.", {
            choices: ["full", "incremental"], ring: true, flag: "+", always: true,
          }),
        ],
      };
    case "cbm_ls_backup_files":
      return {
        kind: "dialog", id, title: "List Backup Files", prog: "clmgr", verb: "query", cls: "backup_files", mode: "run",
        fields: [field("RG_NAME", "Resource Group Name", cloudProfiles(cfg)[0] ?? "", "RG_NAME: the backup profile whose bucket is listed.", { choices: cloudProfiles(cfg), flag: "+" })],
      };
    case "cbm_restore_backup_files": {
      const rg = cloudProfiles(cfg)[0] ?? "";
      return {
        kind: "dialog", id, title: "Restore Backup Files", prog: "clmgr", verb: "restore", cls: "backup_files", mode: "run", confirm: true,
        fields: [
          field("", "Backup (name, id, latest)", "latest", "The backup to restore: its file name, its id, or latest.", { required: true, choices: ["latest"], flag: "+" }),
          field("RG_NAME", "Resource Group Name", rg, "RG_NAME: the backup profile whose backups are restored.", { choices: cloudProfiles(cfg), flag: "+" }),
          field("DISK", "Disk", "", "DISK: the physical volume (hdisk) to restore; empty restores every disk with TARGETS.", { choices: disksOf(cfg, rg), flag: "+" }),
          field("TARGET", "Target Device or File", "", "TARGET: the block device or image file that receives the disk (its size is checked first).", { flag: "/" }),
          field("TARGETS", "Targets (hdisk:target,...)", "", "TARGETS: several disks at once, hdisk:target pairs separated by commas (a volume group)."),
        ],
      };
    }
    case "cbm_verify_backup_files":
      return {
        kind: "dialog", id, title: "Verify Backup Files", prog: "clmgr", verb: "verify", cls: "backup_files", mode: "run",
        fields: [
          field("", "Backup (name, id, latest, all)", "all", "The backup to verify: its file name, its id, latest or all.", { required: true, choices: ["all", "latest"], flag: "+" }),
          field("RG_NAME", "Resource Group Name", cloudProfiles(cfg)[0] ?? "", "RG_NAME: the backup profile whose backups are verified.", { choices: cloudProfiles(cfg), flag: "+" }),
          field("SAMPLE", "Sample (fraction of chunks read)", "", "SAMPLE: read only this fraction of the chunks (empty: all)."),
        ],
      };
    case "cbm_start_services":
      return { kind: "dialog", id, title: "Start Cluster Services", prog: "clmgr", verb: "start", cls: "cluster", mode: "run", fields: [] };
    case "cbm_stop_services":
      return { kind: "dialog", id, title: "Stop Cluster Services", prog: "clmgr", verb: "stop", cls: "cluster", mode: "run", fields: [], confirm: true };
    case "cbm_lab_up":
      return {
        kind: "dialog", id, title: "Start the Lab", prog: "cbm", verb: "lab", cls: "up", mode: "run",
        fields: [field("DISK_MIB", "Disk Size (MiB)", "", "DISK_MIB: size of each lab disk (empty: the lab's default).", { flag: "#" })],
      };
    case "cbm_lab_status":
      return { kind: "dialog", id, title: "Show the Lab", prog: "cbm", verb: "lab", cls: "status", mode: "run", fields: [] };
    case "cbm_lab_down":
      return { kind: "dialog", id, title: "Stop and Remove the Lab", prog: "cbm", verb: "lab", cls: "down", mode: "run", fields: [], confirm: true };
  }
  return undefined;
}

/** The argv (after the program name) a dialog runs with these field values. */
export function commandArgv(d: Dialog, values: readonly string[]): string[] {
  const argv = [d.verb];
  if (d.cls) argv.push(d.cls);
  d.fields.forEach((f, i) => {
    const v = values[i].trim();
    if (f.attr === "") {
      if (v !== "") argv.push(v);
      return;
    }
    if (f.fixed && !f.always) return;
    const changed = v !== f.initial.trim();
    if (d.mode === "modify") {
      if (changed) argv.push(`${f.attr}=${v}`);
    } else if (v !== "" && (changed || f.always || d.mode === "run")) {
      argv.push(`${f.attr}=${v}`);
    }
  });
  return argv;
}

/** A command line for display and copy/paste: words quoted only when the shell needs it. */
export function commandText(prog: string, argv: readonly string[]): string {
  const q = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [prog, ...argv.map((a) => {
    const eq = a.indexOf("=");
    return eq > 0 && /^[A-Z_0-9]+$/.test(a.slice(0, eq)) ? `${a.slice(0, eq)}=${q(a.slice(eq + 1))}` : q(a);
  })].join(" ");
}
