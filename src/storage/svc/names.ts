/**
 * Driver-side checks of every value that reaches an SVC command line, and the command builder that
 * applies them. The driver never interpolates unchecked text: a command is a verb from a fixed list,
 * flags written in this code, and values that are either SVC object names, numbers we produced, or
 * vdisk UIDs — each checked here BEFORE anything is sent. This is our own reading of the naming rules
 * (SVC-CLI.md §1.5), deliberately independent of the simulator's.
 *
 * Stricter than the storage on one point: the SVC allows inner spaces in names, we refuse them,
 * because a command line is split by a shell-like parser on the other side and we never quote.
 * Objects the storage itself named that way (a partner system "FlashSystem V9000", a volume "erp
 * data") are sent by id instead: objRef / systemRef.
 */
import { CbmError } from "../../util/errors.ts";

/** Letters, digits, _ . - ; first a letter or _; at most 63 characters. */
const SVC_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,62}$/;
const SVC_UID = /^[0-9A-Fa-f]{32}$/;
/** A system id as lssystem and lspartnership show it: 16 hex digits. */
const SYSTEM_ID = /^[0-9A-Fa-f]{16}$/;
const NUMBER = /^(0|[1-9][0-9]{0,9})$/;
const FLAG = /^-[a-z][a-z0-9]*$/;
/** Attribute names used with -filtervalue (ours, fixed). */
const FILTER_ATTR = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class SvcNameError extends CbmError {
  constructor(
    readonly what: string,
    readonly value: string,
  ) {
    super(
      "CBM_SVC_BAD_NAME",
      `Refusing to send ${what} "${value}" to the storage: SVC object names are 1–63 characters of letters, digits, _ . - ` +
        `starting with a letter or _ (no spaces, quotes or shell characters). Nothing was sent.`,
      "validation",
    );
  }
}

export const isSvcName = (v: string): boolean => SVC_NAME.test(v);

/** Throws SvcNameError unless `v` is a valid SVC object name. */
export function checkSvcName(v: string, what: string): string {
  if (!isSvcName(v)) throw new SvcNameError(what, v);
  return v;
}

/** A name or an all-digit id (ids are numbers the storage gave us). */
export function checkObjectRef(v: string, what: string): string {
  if (NUMBER.test(v) || isSvcName(v)) return v;
  throw new SvcNameError(what, v);
}

export function checkUid(v: string, what = "volume UID"): string {
  if (!SVC_UID.test(v)) throw new SvcNameError(what, v);
  return v.toUpperCase();
}

/** Allowed verbs: what this driver may run. Anything else is a programming error. */
export const SVC_VERBS = [
  "lssystem", "lssystemip", "lspartnership", "lsvdisk", "lshost", "lshostvdiskmap", "lsvdiskhostmap",
  "lsfcmap", "lsfcconsistgrp", "mkfcconsistgrp", "mkfcmap", "startfcconsistgrp", "stopfcconsistgrp",
  "lsrcconsistgrp", "lsrcrelationship", "mkrcconsistgrp", "mkrcrelationship", "startrcconsistgrp",
  "stoprcconsistgrp", "mkvdisk", "mkhost", "mkvdiskhostmap", "mkippartnership",
] as const;
export type SvcVerb = (typeof SVC_VERBS)[number];

/** One value on a command line, already tagged with how it must be checked. */
export type SvcValue =
  | { name: string; what: string }
  | { ref: string; what: string }
  | { systemId: string; what: string }
  | { num: number }
  | { filter: Record<string, string> }
  /** An IPv4 address, optionally with :port (mkippartnership -clusterip). */
  | { ipv4: string }
  /** A Fibre Channel WWPN, 16 hex digits (mkhost -fcwwpn). */
  | { wwpn: string }
  | { literal: "!" | "ipv4" | "mb" | "b" | "master" | "aux" };

export type SvcArg = string | SvcValue;

/** A checked command line. `text` is exactly what goes over SSH. */
export interface SvcCommand {
  readonly verb: SvcVerb;
  readonly argv: readonly string[];
  readonly text: string;
}

function render(v: SvcValue): string {
  if ("name" in v) return checkSvcName(v.name, v.what);
  if ("ref" in v) return checkObjectRef(v.ref, v.what);
  if ("systemId" in v) {
    if (!SYSTEM_ID.test(v.systemId)) throw new SvcNameError(v.what, v.systemId);
    return v.systemId;
  }
  if ("num" in v) {
    if (!Number.isSafeInteger(v.num) || v.num < 0) throw new CbmError("CBM_SVC_BAD_NUMBER", `Not a count or id: ${v.num}.`, "validation");
    return String(v.num);
  }
  if ("filter" in v) {
    return Object.entries(v.filter)
      .map(([k, val]) => {
        if (!FILTER_ATTR.test(k)) throw new SvcNameError("filter attribute", k);
        return `${k}=${checkObjectRef(val, `filter value for ${k}`)}`;
      })
      .join(":");
  }
  if ("ipv4" in v) {
    if (!/^(\d{1,3})(\.\d{1,3}){3}(:\d{1,5})?$/.test(v.ipv4)) throw new SvcNameError("IPv4 address", v.ipv4);
    return v.ipv4;
  }
  if ("wwpn" in v) {
    if (!/^[0-9A-Fa-f]{16}$/.test(v.wwpn)) throw new SvcNameError("WWPN", v.wwpn);
    return v.wwpn;
  }
  return v.literal;
}

/**
 * Builds a command: plain strings must be flags (`-name`), everything else a tagged value.
 * Throws before returning if any part is not acceptable, so an unchecked command cannot exist.
 */
export function svcCommand(verb: SvcVerb, ...args: SvcArg[]): SvcCommand {
  if (!(SVC_VERBS as readonly string[]).includes(verb)) throw new CbmError("CBM_SVC_BAD_VERB", `Not an allowed SVC command: ${verb}.`, "validation");
  const argv: string[] = [verb];
  for (const a of args) {
    if (typeof a === "string") {
      if (!FLAG.test(a)) throw new CbmError("CBM_SVC_BAD_FLAG", `Not a flag: ${a}.`, "validation");
      argv.push(a);
    } else argv.push(render(a));
  }
  return { verb, argv, text: argv.join(" ") };
}

export const nm = (name: string, what: string): SvcValue => ({ name, what });
export const ref = (r: string, what: string): SvcValue => ({ ref: r, what });
export const num = (n: number): SvcValue => ({ num: n });
/** An object the storage listed: by name when that is safe to send, else by its (numeric) id. */
export const objRef = (o: { id: string; name: string }, what: string): SvcValue => (isSvcName(o.name) ? nm(o.name, what) : ref(o.id, what));
/** A system (-cluster): by name when that is safe to send, else by its 16-hex-digit id. */
export const systemRef = (s: { id: string; name: string }, what: string): SvcValue => (isSvcName(s.name) ? nm(s.name, what) : { systemId: s.id, what: `${what} (id)` });
