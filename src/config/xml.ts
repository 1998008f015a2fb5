/**
 * cbm.xml codec, pure. One element per object, attributes as XML attributes:
 *   <cbm schema_version="1"><defaults .../><backup_profile name="RG1" BACKUP_METHOD="cloud" .../></cbm>
 * Decoding validates every element and attribute, so a hand-edited file that is wrong gives a message
 * naming the element and the problem.
 */
import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";
import { z } from "zod";
import { validationError } from "../util/errors.ts";
import { CLASS_NAMES, classDef } from "./classes.ts";
import { type Config, type ConfigObject, SCHEMA_VERSION, sortedObjects } from "./model.ts";
import { checkName, normalizeValue, requireAttr } from "./validate.ts";

const attrMap = z.record(z.string(), z.string());
const documentSchema = z.object({ cbm: z.record(z.string(), z.array(attrMap)) }).strict();

const corrupt = (file: string, what: string) =>
  validationError("CBM_CONFIG_INVALID", `${file} is not a valid CBM configuration: ${what}`);

export function decodeConfig(text: string, file = "cbm.xml"): Config {
  const syntax = XMLValidator.validate(text);
  if (syntax !== true) {
    throw corrupt(file, `XML syntax error at line ${syntax.err.line}, column ${syntax.err.col}: ${syntax.err.msg}`);
  }
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "",
    parseAttributeValue: false,
    ignoreDeclaration: true,
    isArray: (_name, jpath) => jpath.split(".").length === 2,
  });
  const raw: unknown = parser.parse(text);
  // Root attributes (schema_version) arrive mixed with child elements; separate them first.
  const root = (raw as { cbm?: unknown }).cbm;
  if (root === undefined || typeof root !== "object" || root === null) {
    throw corrupt(file, `the root element must be <cbm schema_version="${SCHEMA_VERSION}">.`);
  }
  const { schema_version: version, ...children } = root as Record<string, unknown>;
  if (version === undefined) throw corrupt(file, `<cbm> has no schema_version attribute.`);
  if (String(version) !== String(SCHEMA_VERSION)) {
    throw corrupt(
      file,
      `schema_version="${String(version)}" is not supported; this CBM reads schema_version="${SCHEMA_VERSION}"${Number(version) > SCHEMA_VERSION ? " (the file was written by a newer CBM)" : ""}.`,
    );
  }
  const parsed = documentSchema.safeParse({ cbm: children });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.slice(1).join(" > ");
    throw corrupt(file, `element <${where || "cbm"}>: ${issue.message}. Elements hold only attributes.`);
  }
  const cfg: Config = { schemaVersion: SCHEMA_VERSION, defaults: {}, objects: [] };
  for (const [element, entries] of Object.entries(parsed.data.cbm)) {
    if (element === "#text") throw corrupt(file, "<cbm> contains text; it holds only elements.");
    if (element === "defaults") {
      const profile = classDef("backup_profile")!;
      for (const [k, v] of Object.entries(entries[0] ?? {})) {
        const def = requireAttrIn(file, "defaults", profile.name, k);
        cfg.defaults[def] = wrap(file, `<defaults ${k}>`, () => normalizeValue(profile, requireAttr(profile, k), v, "defaults"));
      }
      continue;
    }
    const cls = classDef(element);
    if (!cls || cls.name !== element) {
      throw corrupt(file, `unknown element <${element}>. Known: defaults, ${CLASS_NAMES.join(", ")}.`);
    }
    for (const entry of entries) {
      const { name, ...attrs } = entry;
      if (name === undefined) throw corrupt(file, `an element <${element}> has no name attribute.`);
      wrap(file, `<${element} name="${name}">`, () => checkName(cls, name));
      const obj: ConfigObject = { cls: cls.name, name, attrs: {} };
      for (const [k, v] of Object.entries(attrs)) {
        const defName = requireAttrIn(file, `${element} name="${name}"`, cls.name, k);
        const def = requireAttr(cls, defName);
        const norm = wrap(file, `<${element} name="${name}">`, () => normalizeValue(cls, def, v, name));
        if (norm !== "") obj.attrs[def.name] = norm;
      }
      if (cfg.objects.some((o) => o.cls === obj.cls && o.name === obj.name)) {
        throw corrupt(file, `<${element} name="${name}"> appears twice.`);
      }
      cfg.objects.push(obj);
    }
  }
  return cfg;
}

function requireAttrIn(file: string, where: string, cls: string, attr: string): string {
  const def = classDef(cls)!.attrs.find((a) => a.name === attr);
  if (!def) throw corrupt(file, `<${where}> has unknown attribute ${attr}.`);
  return def.name;
}

function wrap<T>(file: string, where: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw corrupt(file, `${where}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function encodeConfig(cfg: Config): string {
  const builder = new XMLBuilder({
    ignoreAttributes: false,
    attributeNamePrefix: "@",
    format: true,
    indentBy: "  ",
    suppressEmptyNode: true,
    suppressBooleanAttributes: false,
  });
  const children: Record<string, Array<Record<string, string>>> = {};
  const attrsOf = (o: Record<string, string>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [`@${k}`, v]));
  if (Object.keys(cfg.defaults).length > 0) children.defaults = [attrsOf(cfg.defaults)];
  for (const o of sortedObjects(cfg)) {
    (children[o.cls] ??= []).push(attrsOf({ name: o.name, ...o.attrs }));
  }
  const body = builder.build({ cbm: { "@schema_version": String(cfg.schemaVersion), ...children } }) as string;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<!-- CBM configuration (written by clmgr; hand edits are validated on load). No secrets here:\n` +
    `     credentials are references (AWS profile, key file path, environment variable name). -->\n` +
    body
  );
}
