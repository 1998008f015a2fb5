import { CLASSES, type ClassDef, classDef } from "./classes.ts";

/** Version of the cbm.xml schema this code reads and writes. */
export const SCHEMA_VERSION = 1;

/** One clmgr object. Attribute values are normalized strings; lists are joined with ",". */
export interface ConfigObject {
  cls: string;
  name: string;
  attrs: Record<string, string>;
}

export interface Config {
  schemaVersion: number;
  /** Site defaults for backup_profile attributes (the lab points cloud defaults at its S3 server). */
  defaults: Record<string, string>;
  objects: ConfigObject[];
}

export const emptyConfig = (): Config => ({ schemaVersion: SCHEMA_VERSION, defaults: {}, objects: [] });

export function findObject(cfg: Config, cls: string, name: string): ConfigObject | undefined {
  return cfg.objects.find((o) => o.cls === cls && o.name === name);
}

export function objectsOf(cfg: Config, cls: string): ConfigObject[] {
  return cfg.objects.filter((o) => o.cls === cls);
}

export const splitList = (v: string | undefined): string[] =>
  (v ?? "")
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");

/** The value an attribute has for a user: set, else the site default, else the built-in default. */
export function effective(cfg: Config, obj: ConfigObject, attr: string): string {
  const set = obj.attrs[attr];
  if (set !== undefined) return set;
  if (obj.cls === "backup_profile" && cfg.defaults[attr] !== undefined) return cfg.defaults[attr];
  const def = (classDef(obj.cls) as ClassDef).attrs.find((a) => a.name === attr);
  return def?.default ?? "";
}

/** All attributes of an object in definition order, defaults included (what query shows). */
export function effectiveAttrs(cfg: Config, obj: ConfigObject): Record<string, string> {
  const out: Record<string, string> = { NAME: obj.name };
  for (const a of (classDef(obj.cls) as ClassDef).attrs) out[a.name] = effective(cfg, obj, a.name);
  return out;
}

/** Stable order for the file: by class order, then insertion order within the class. */
export function sortedObjects(cfg: Config): ConfigObject[] {
  const rank = new Map(CLASSES.map((c, i) => [c.name, i]));
  return cfg.objects
    .map((o, i) => ({ o, i }))
    .sort((a, b) => (rank.get(a.o.cls) ?? 99) - (rank.get(b.o.cls) ?? 99) || a.i - b.i)
    .map((x) => x.o);
}
