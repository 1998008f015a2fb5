/**
 * Checks a dialog's command before it runs, with the code clmgr runs: the argv is parsed by the clmgr
 * grammar, applied by the edit functions to a copy of the configuration and the result checked by
 * checkConfig. Nothing is written; the message is clmgr's, word for word.
 */
import { addObject, deleteObject, modifyObject } from "../../config/edit.ts";
import { loadConfig } from "../../config/store.ts";
import { checkConfig, requireClass } from "../../config/validate.ts";
import { CbmError, usageError } from "../../util/errors.ts";
import { parseArgs } from "../args.ts";
import type { Dialog } from "./tree.ts";

export interface Problem {
  /** What clmgr prints: `clmgr: ERROR: <message> [CODE]`. */
  text: string;
  /** Index of the field the message is about, if one can be named. */
  field?: number;
}

/** Options of add storage_system that are not configuration attributes. */
const OPTIONS = ["CHECK"];

export async function precheck(home: string, d: Dialog, argv: string[]): Promise<Problem | undefined> {
  if (d.prog !== "clmgr" || !d.cls || !["add", "modify", "delete"].includes(d.verb)) return undefined;
  try {
    const a = parseArgs(argv);
    const cls = requireClass(a.cls ?? "");
    const name = a.name ?? a.attrs.find(([k]) => k === "NAME")?.[1];
    if (!name) {
      throw usageError("CBM_USAGE", `${a.verb} ${a.cls} needs an object name: clmgr ${a.verb} ${a.cls} NAME [ATTR=value ...]`);
    }
    const attrs = a.attrs.filter(([k]) => k !== "NAME" && !OPTIONS.includes(k));
    if (a.verb === "modify" && attrs.length === 0) {
      throw usageError("CBM_USAGE", `modify ${cls.name} ${name} needs at least one ATTR=value.`);
    }
    const cfg = structuredClone(await loadConfig(home));
    if (a.verb === "add") addObject(cfg, cls.name, name, attrs);
    else if (a.verb === "modify") modifyObject(cfg, cls.name, name, attrs);
    else deleteObject(cfg, cls.name, name);
    checkConfig(cfg);
    return undefined;
  } catch (e) {
    if (!(e instanceof CbmError)) throw e;
    return { text: `clmgr: ERROR: ${e.message} [${e.code}]`, field: fieldOf(d, e.message) };
  }
}

/** The field a message names: the first attribute mentioned, else the object name. */
export function fieldOf(d: Dialog, message: string): number | undefined {
  let best: { i: number; at: number } | undefined;
  d.fields.forEach((f, i) => {
    if (f.attr === "") return;
    const m = new RegExp(`\\b${f.attr}\\b`).exec(message);
    if (m && (!best || m.index < best.at)) best = { i, at: m.index };
  });
  if (best) return best.i;
  const nameIdx = d.fields.findIndex((f) => f.attr === "");
  return nameIdx >= 0 && /\bname\b|named/i.test(message) ? nameIdx : undefined;
}
