/**
 * Validation, pure: every message names the object, the attribute, the value given and what is
 * allowed, so that a person can correct the command without reading the documentation.
 */
import { bucketNameProblem } from "../objectstore/keys.ts";
import { validationError, usageError, notFound } from "../util/errors.ts";
import { didYouMean } from "../util/suggest.ts";
import {
  type AttrDef,
  type ClassDef,
  CLASS_NAMES,
  NAME_RULE,
  allowedText,
  attrDef,
  classDef,
  isValidName,
} from "./classes.ts";
import { type Config, type ConfigObject, effective, findObject, objectsOf, splitList } from "./model.ts";

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;
const ADDRESS = /^(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:]+\])(?::(\d{1,5}))?$/;

export function requireClass(name: string): ClassDef {
  const cls = classDef(name);
  if (!cls) {
    throw usageError(
      "CBM_UNKNOWN_CLASS",
      `Unknown object class "${name}". Classes: ${CLASS_NAMES.join(", ")}.${didYouMean(name, CLASS_NAMES)}`,
    );
  }
  return cls;
}

export function requireAttr(cls: ClassDef, name: string): AttrDef {
  const def = attrDef(cls, name);
  if (!def) {
    const names = cls.attrs.map((a) => a.name);
    throw validationError(
      "CBM_UNKNOWN_ATTRIBUTE",
      `Unknown attribute "${name}" for class ${cls.name}. Attributes: ${names.join(", ")}.${didYouMean(name, names)}`,
    );
  }
  return def;
}

export function checkName(cls: ClassDef, name: string): void {
  if (!isValidName(name)) {
    throw validationError(
      "CBM_BAD_NAME",
      `Invalid ${cls.name} name "${name}": expected ${NAME_RULE}.`,
    );
  }
}

/** Checks one attribute value and returns its normalized form ("" clears the attribute). */
export function normalizeValue(cls: ClassDef, def: AttrDef, value: string, objName: string): string {
  const v = value.trim();
  if (v === "") return "";
  const bad = (why = "") =>
    validationError(
      "CBM_BAD_VALUE",
      `Invalid value "${value}" for attribute ${def.name} of ${cls.name} "${objName}": expected ${allowedText(def.type)}.${why}`,
    );
  const t = def.type;
  switch (t.kind) {
    case "enum": {
      const hit = t.values.find((x) => x.toLowerCase() === v.toLowerCase());
      if (!hit) throw bad(didYouMean(v, t.values));
      return hit;
    }
    case "int": {
      if (!/^-?\d+$/.test(v)) throw bad();
      const n = Number(v);
      if (n < t.min || (t.max !== undefined && n > t.max)) throw bad();
      return String(n);
    }
    case "hhmm":
      if (!HHMM.test(v)) throw bad();
      return v;
    case "list": {
      const items = splitList(v);
      for (const it of items) {
        if (t.of === "address") {
          const m = ADDRESS.exec(it);
          if (!m || (m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65535))) {
            throw bad(` "${it}" is not a host or host:port.`);
          }
        } else if (!isValidName(it)) {
          throw bad(` "${it}" is not a valid name (${NAME_RULE}).`);
        }
      }
      return items.join(",");
    }
    case "path":
      if (!v.startsWith("/") || v.includes("\0")) throw bad();
      return v;
    case "url":
      if (!/^https?:\/\/[^\s]+$/.test(v) && !v.startsWith("/")) throw bad();
      return v;
    case "string":
      if (/[\0\n\r]/.test(v)) throw bad(" Control characters are not allowed.");
      if (t.pattern && !t.pattern.test(v)) throw bad();
      return v;
  }
}

/**
 * Cross-object rules of the whole configuration. Returns the first problem as an error, naming the
 * object and attribute. Run on the configuration a command would write, before writing it.
 */
export function checkConfig(cfg: Config): void {
  const names = (cls: string) => new Set(objectsOf(cfg, cls).map((o) => o.name));
  const ref = (obj: ConfigObject, attr: string, targetCls: string, values: string[]) => {
    const have = names(targetCls);
    for (const v of values) {
      if (!have.has(v)) {
        throw validationError(
          "CBM_BAD_REFERENCE",
          `${obj.cls} "${obj.name}": ${attr}="${v}" is not a defined ${targetCls}. Defined: ${[...have].join(", ") || "(none)"}.${didYouMean(v, [...have])}`,
        );
      }
    }
  };
  for (const o of cfg.objects) {
    const a = (k: string) => effective(cfg, o, k);
    switch (o.cls) {
      case "cluster":
        ref(o, "NODES", "node", splitList(a("NODES")));
        break;
      case "volume_group":
        ref(o, "PHYSICAL_VOLUMES", "physical_volume", splitList(a("PHYSICAL_VOLUMES")));
        break;
      case "resource_group":
        ref(o, "NODES", "node", splitList(a("NODES")));
        ref(o, "VOLUME_GROUP", "volume_group", splitList(a("VOLUME_GROUP")));
        break;
      case "storage_system":
        if (a("TYPE") === "") throw missing(o, "TYPE", "SVC|local");
        if (a("TYPE") === "SVC" && splitList(a("ADDRESSES")).length === 0) {
          throw missing(o, "ADDRESSES", "host[:port] of the storage's management address");
        }
        break;
      case "backup_profile":
        checkProfile(cfg, o, ref);
        break;
    }
  }
}

/**
 * TARGET_DISKS receive a copy of the sources at every backup, so a wrong entry destroys data: each
 * must be a defined physical_volume, named once, in no volume group, one per source disk.
 */
function checkTargetDisks(cfg: Config, o: ConfigObject, vgs: string[], ref: (obj: ConfigObject, attr: string, targetCls: string, values: string[]) => void): void {
  const targets = splitList(effective(cfg, o, "TARGET_DISKS"));
  if (targets.length === 0) return;
  ref(o, "TARGET_DISKS", "physical_volume", targets);
  const bad = (why: string) => validationError("CBM_BAD_VALUE", `backup_profile "${o.name}": TARGET_DISKS=${targets.join(",")}: ${why}`);
  const twice = targets.find((t, i) => targets.indexOf(t) !== i);
  if (twice) throw bad(`${twice} is named twice; each source disk needs its own target.`);
  const vgOf = (pv: string) => objectsOf(cfg, "volume_group").find((vg) => splitList(effective(cfg, vg, "PHYSICAL_VOLUMES")).includes(pv));
  for (const t of targets) {
    const vg = vgOf(t);
    if (vg) throw bad(`${t} belongs to volume_group ${vg.name}, and every backup overwrites its targets; name spare disks that are in no volume group.`);
  }
  const sources = vgs.flatMap((vg) => {
    const v = findObject(cfg, "volume_group", vg);
    return v ? splitList(effective(cfg, v, "PHYSICAL_VOLUMES")) : [];
  });
  if (targets.length !== sources.length) {
    throw bad(`${targets.length} target(s) for the ${sources.length} disk(s) of VOLUME_GROUP ${vgs.join(",")} (${sources.join(", ")}); give one per source disk, in that order.`);
  }
}

function missing(o: ConfigObject, attr: string, allowed: string) {
  return validationError("CBM_MISSING_ATTRIBUTE", `${o.cls} "${o.name}" needs ${attr} (${allowed}).`);
}

function checkProfile(
  cfg: Config,
  o: ConfigObject,
  ref: (obj: ConfigObject, attr: string, targetCls: string, values: string[]) => void,
): void {
  const a = (k: string) => effective(cfg, o, k);
  const rg = findObject(cfg, "resource_group", o.name);
  if (!rg) {
    const rgs = objectsOf(cfg, "resource_group").map((r) => r.name);
    throw validationError(
      "CBM_BAD_REFERENCE",
      `backup_profile "${o.name}": a backup profile is named after its resource group, and "${o.name}" is not a defined resource_group. Defined: ${rgs.join(", ") || "(none)"}.${didYouMean(o.name, rgs)}`,
    );
  }
  const method = a("BACKUP_METHOD");
  if (method === "") throw missing(o, "BACKUP_METHOD", "cloud|remote_storage");
  const vgs = splitList(a("VOLUME_GROUP"));
  if (vgs.length === 0) throw missing(o, "VOLUME_GROUP", "volume groups of the resource group");
  const rgVgs = splitList(effective(cfg, rg, "VOLUME_GROUP"));
  for (const vg of vgs) {
    if (!rgVgs.includes(vg)) {
      throw validationError(
        "CBM_BAD_REFERENCE",
        `backup_profile "${o.name}": VOLUME_GROUP="${vg}" is not in resource group ${o.name}. Allowed: ${rgVgs.join(", ") || "(the resource group has no volume group)"}.`,
      );
    }
  }
  const storages = splitList(a("STORAGE_NAME"));
  ref(o, "STORAGE_NAME", "storage_system", storages);
  for (const st of storages) {
    const so = findObject(cfg, "storage_system", st) as ConfigObject;
    if (effective(cfg, so, "BACKUP_PROFILE") !== "true") {
      throw validationError(
        "CBM_BAD_REFERENCE",
        `backup_profile "${o.name}": STORAGE_NAME="${st}" has BACKUP_PROFILE=false; allowed are storage systems with BACKUP_PROFILE=true.`,
      );
    }
  }
  if (method === "remote_storage") {
    if (storages.length !== 2 || storages[0] === storages[1]) {
      throw validationError(
        "CBM_BAD_VALUE",
        `backup_profile "${o.name}": BACKUP_METHOD=remote_storage needs STORAGE_NAME with exactly two different storage systems (primary, auxiliary); given "${storages.join(",")}".`,
      );
    }
    if (a("REPLICATED_RESOURCES") === "") throw missing(o, "REPLICATED_RESOURCES", "the remote-copy consistency group");
  } else {
    if (storages.length > 1) {
      throw validationError(
        "CBM_BAD_VALUE",
        `backup_profile "${o.name}": BACKUP_METHOD=cloud takes one STORAGE_NAME; given "${storages.join(",")}".`,
      );
    }
    if (a("BUCKET_NAME") === "") throw missing(o, "BUCKET_NAME", "the bucket that receives the backups");
    const badBucket = a("CLOUD_SERVICE") === "fs" ? undefined : bucketNameProblem(a("BUCKET_NAME"));
    if (badBucket) {
      throw validationError("CBM_BAD_VALUE", `Invalid value "${a("BUCKET_NAME")}" for attribute BUCKET_NAME of backup_profile "${o.name}": expected ${badBucket}.`);
    }
    if (a("SPOOL") === "yes" && a("TARGET_LOCATION") === "") {
      throw missing(o, "TARGET_LOCATION", "a spool directory, required by SPOOL=yes");
    }
  }
  checkTargetDisks(cfg, o, vgs, ref);
  if (a("INC_BACKUP_FREQ") !== "" && Number(a("INC_BACKUP_FREQ")) >= 24 * Number(a("BACKUP_FREQUENCY"))) {
    throw validationError(
      "CBM_BAD_VALUE",
      `backup_profile "${o.name}": INC_BACKUP_FREQ=${a("INC_BACKUP_FREQ")} hours is not shorter than BACKUP_FREQUENCY=${a("BACKUP_FREQUENCY")} days; allowed: 1 to ${24 * Number(a("BACKUP_FREQUENCY")) - 1}.`,
    );
  }
  const key = a("REPO_KEY");
  if (!/^(auto|none|file:\/.+|env:[A-Za-z_][A-Za-z0-9_]*)$/.test(key)) {
    throw validationError(
      "CBM_BAD_VALUE",
      `Invalid value "${key}" for attribute REPO_KEY of backup_profile "${o.name}": expected auto, none, file:/absolute/path or env:VARIABLE.`,
    );
  }
  for (const envAttr of ["ACCESS_KEY_ENV", "SECRET_KEY_ENV"]) {
    const v = a(envAttr);
    if (v !== "" && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) {
      throw validationError(
        "CBM_BAD_VALUE",
        `Invalid value "${v}" for attribute ${envAttr} of backup_profile "${o.name}": expected the NAME of an environment variable (secrets are never stored in cbm.xml).`,
      );
    }
  }
}

/** Objects that still refer to `name` of class `cls`: deleting it would break them. */
export function referrers(cfg: Config, cls: string, name: string): string[] {
  const uses: Array<[string, string]> = {
    node: [["cluster", "NODES"], ["resource_group", "NODES"]] as Array<[string, string]>,
    physical_volume: [["volume_group", "PHYSICAL_VOLUMES"], ["backup_profile", "TARGET_DISKS"]] as Array<[string, string]>,
    volume_group: [["resource_group", "VOLUME_GROUP"], ["backup_profile", "VOLUME_GROUP"]] as Array<[string, string]>,
    storage_system: [["backup_profile", "STORAGE_NAME"]] as Array<[string, string]>,
    resource_group: [] as Array<[string, string]>,
  }[cls] ?? [];
  const out: string[] = [];
  for (const [c, attr] of uses) {
    for (const o of objectsOf(cfg, c)) {
      if (splitList(effective(cfg, o, attr)).includes(name)) out.push(`${c} "${o.name}" (${attr})`);
    }
  }
  if (cls === "resource_group" && findObject(cfg, "backup_profile", name)) out.push(`backup_profile "${name}"`);
  return out;
}

export function requireObject(cfg: Config, cls: string, name: string): ConfigObject {
  const o = findObject(cfg, cls, name);
  if (!o) {
    const have = objectsOf(cfg, cls).map((x) => x.name);
    throw notFound(
      "CBM_NO_SUCH_OBJECT",
      `No ${cls} named "${name}". Defined: ${have.join(", ") || "(none)"}.${didYouMean(name, have)}`,
    );
  }
  return o;
}

/**
 * Rules checked on what a command changes, not on every load: a cbm.xml that predates them must
 * still load, so that the command that fixes it can run.
 */
export function checkEdited(cfg: Config, cls: ClassDef, o: ConfigObject): void {
  for (const def of cls.attrs) {
    const v = o.attrs[def.name];
    // user:password@ in a URL is a secret: refused, and not echoed back.
    if (def.type.kind === "url" && v !== undefined && /^https?:\/\/[^/\s]*@/.test(v)) {
      throw validationError(
        "CBM_BAD_VALUE",
        `Attribute ${def.name} of ${cls.name} "${o.name}" holds credentials (user:password@ in the URL), and cbm.xml never holds a secret: ` +
          `give the URL without them and name the credentials with ACCESS_KEY_ENV and SECRET_KEY_ENV, or AWS_PROFILE.`,
      );
    }
  }
  if (cls.name !== "backup_profile" || effective(cfg, o, "BACKUP_METHOD") !== "remote_storage") return;
  // The first STORAGE_NAME is the primary: the storage that provides the volume groups' disks (when they say).
  const storages = splitList(effective(cfg, o, "STORAGE_NAME"));
  for (const vg of splitList(effective(cfg, o, "VOLUME_GROUP"))) {
    const vgo = findObject(cfg, "volume_group", vg);
    for (const pv of vgo ? splitList(effective(cfg, vgo, "PHYSICAL_VOLUMES")) : []) {
      const pvo = findObject(cfg, "physical_volume", pv);
      const on = pvo ? effective(cfg, pvo, "STORAGE_NAME") : "";
      if (on !== "" && storages.length === 2 && on !== storages[0]) {
        const order = storages.includes(on) ? `${on},${storages.find((s) => s !== on)}` : `${on},<auxiliary>`;
        throw validationError(
          "CBM_BAD_VALUE",
          `backup_profile "${o.name}": STORAGE_NAME="${storages.join(",")}" names ${storages[0]} as the primary, but physical_volume ${pv} of ${vg} is on ${on}; ` +
            `give the primary (the storage of the disks) first: STORAGE_NAME=${order}.`,
        );
      }
    }
  }
}
