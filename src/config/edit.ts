/**
 * The clmgr edits as pure functions on a Config: add, modify, delete. Each validates its input and
 * throws before changing anything; the store then checks the whole result and writes it atomically.
 */
import { validationError } from "../util/errors.ts";
import type { ClassDef } from "./classes.ts";
import { type Config, findObject } from "./model.ts";
import { checkEdited, checkName, normalizeValue, referrers, requireAttr, requireClass, requireObject } from "./validate.ts";

export type AttrList = ReadonlyArray<readonly [string, string]>;

function normalizeAll(cls: ClassDef, name: string, attrs: AttrList, allowReadOnly: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of attrs) {
    const def = requireAttr(cls, k);
    if (def.readOnly && !allowReadOnly) {
      throw validationError(
        "CBM_READ_ONLY",
        `Attribute ${def.name} of ${cls.name} "${name}" is set by other actions (for example clmgr online/offline), not by add or modify.`,
      );
    }
    out[def.name] = normalizeValue(cls, def, v, name);
  }
  return out;
}

export function addObject(cfg: Config, clsName: string, name: string, attrs: AttrList): Config {
  const cls = requireClass(clsName);
  checkName(cls, name);
  const values = normalizeAll(cls, name, attrs, false);
  if (findObject(cfg, cls.name, name)) {
    throw validationError("CBM_DUPLICATE", `A ${cls.name} named "${name}" already exists; use modify to change it.`);
  }
  const set = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ""));
  const obj = { cls: cls.name, name, attrs: set };
  cfg.objects.push(obj);
  checkEdited(cfg, cls, obj);
  return cfg;
}

export function modifyObject(cfg: Config, clsName: string, name: string, attrs: AttrList, internal = false): Config {
  const cls = requireClass(clsName);
  const obj = requireObject(cfg, cls.name, name);
  const values = normalizeAll(cls, name, attrs, internal);
  for (const [k, v] of Object.entries(values)) {
    if (v === "") delete obj.attrs[k];
    else obj.attrs[k] = v;
  }
  if (!internal) checkEdited(cfg, cls, obj);
  return cfg;
}

export function deleteObject(cfg: Config, clsName: string, name: string): Config {
  const cls = requireClass(clsName);
  requireObject(cfg, cls.name, name);
  const users = referrers(cfg, cls.name, name);
  if (users.length > 0) {
    throw validationError(
      "CBM_IN_USE",
      `Cannot delete ${cls.name} "${name}": it is used by ${users.join(", ")}. Change or delete those first.`,
    );
  }
  cfg.objects = cfg.objects.filter((o) => !(o.cls === cls.name && o.name === name));
  return cfg;
}
