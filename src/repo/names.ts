/**
 * Backup times, backup ids and the paper's per-disk backup file names (docs/format.md §6.1, §9).
 *
 * Times are carried as integer microseconds since the Unix epoch (UTC): JavaScript Dates stop at
 * milliseconds, the paper's names need microseconds, and 1.7e15 is well inside the exact range of
 * a double (2^53 ≈ 9e15).
 */
import { randomBytes } from "node:crypto";
import { CbmError } from "../util/errors.ts";
import { REPO } from "./codes.ts";

export type Micros = number;

/** Now, with the sub-millisecond part from the monotonic clock so that ids rarely collide. */
export function nowMicros(): Micros {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

export function dateToMicros(d: Date): Micros {
  return d.getTime() * 1000;
}

export function microsToDate(us: Micros): Date {
  return new Date(Math.floor(us / 1000));
}

function parts(us: Micros): { y: string; mo: string; d: string; h: string; mi: string; s: string; frac: string } {
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString(); // 2020-11-23T05:35:00.315Z
  const micro = ((us % 1_000_000) + 1_000_000) % 1_000_000;
  return {
    y: iso.slice(0, 4),
    mo: iso.slice(5, 7),
    d: iso.slice(8, 10),
    h: iso.slice(11, 13),
    mi: iso.slice(14, 16),
    s: iso.slice(17, 19),
    frac: String(micro).padStart(6, "0"),
  };
}

/** "2020-11-23T05:35:00.315851Z" */
export function formatIsoMicros(us: Micros): string {
  const p = parts(us);
  return `${p.y}-${p.mo}-${p.d}T${p.h}:${p.mi}:${p.s}.${p.frac}Z`;
}

/** "2020-11-23_05:35:00.315851", the paper's time stamp (UTC). */
export function formatPaperTime(us: Micros): string {
  const p = parts(us);
  return `${p.y}-${p.mo}-${p.d}_${p.h}:${p.mi}:${p.s}.${p.frac}`;
}

const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T_ ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Parses a time: ISO-8601 (`2020-11-23T05:35:00.315851Z`, an offset, or no zone = UTC), the paper's
 * `2020-11-23_05:35:00.315851`, or a date alone (midnight UTC). Undefined when it is none of these.
 */
export function parseTime(s: string): Micros | undefined {
  const m = TIME_RE.exec(s.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = "00", mi = "00", sec = "00", frac = "", zone] = m;
  const base = Date.UTC(+y, +mo - 1, +d, +h, +mi, +sec);
  const check = new Date(base);
  if (check.getUTCMonth() !== +mo - 1 || check.getUTCDate() !== +d || +h > 23 || +mi > 59 || +sec > 59) return undefined;
  let offsetMin = 0;
  if (zone && zone !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const z = zone.slice(1).replace(":", "");
    offsetMin = sign * (+z.slice(0, 2) * 60 + +z.slice(2, 4));
  }
  return (base - offsetMin * 60_000) * 1000 + +frac.padEnd(6, "0");
}

const ID_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{6})Z-([0-9a-f]{8})$/;

/** "20201123T053500.315851Z-9f3a0c1d": sorts in time order; the random part separates equal times. */
export function makeBackupId(us: Micros, random: string = randomBytes(4).toString("hex")): string {
  const p = parts(us);
  return `${p.y}${p.mo}${p.d}T${p.h}${p.mi}${p.s}.${p.frac}Z-${random}`;
}

export function isBackupId(s: string): boolean {
  return ID_RE.test(s);
}

/** Time of a backup id, from the id alone (no manifest download). */
export function backupIdTime(id: string): Micros | undefined {
  const m = ID_RE.exec(id);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac] = m;
  return parseTime(`${y}-${mo}-${d}T${h}:${mi}:${s}.${frac}Z`);
}

export interface FileNameParts {
  cluster: string;
  rg: string;
  vg: string;
  disk: string;
  time: Micros;
}

/** A name that goes into a file name must not contain "/" (it would become a path) or controls. */
export function checkNamePart(what: string, v: string): void {
  // eslint-disable-next-line no-control-regex
  if (v.length === 0 || v.length > 255 || /[/\u0000-\u001f\u007f]/.test(v)) {
    throw new CbmError(REPO.badRequest, `${what} ${JSON.stringify(v)} is not usable in a backup file name: use 1-255 printable characters without "/"`, "validation");
  }
}

/** `<cluster>_<RG>_<VG>_<disk>.<YYYY-MM-DD_HH:MM:SS.micro>.img` (UTC). */
export function backupFileName(p: FileNameParts): string {
  return `${p.cluster}_${p.rg}_${p.vg}_${p.disk}.${formatPaperTime(p.time)}.img`;
}

const NAME_RE = /^(.+)_([^_]+)_([^_]+)_([^_]+)\.(\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}\.\d{6})\.img$/;

export function looksLikeBackupFileName(s: string): boolean {
  return s.endsWith(".img") && NAME_RE.test(s);
}

/**
 * Splits a backup file name on its last three "_" (cluster names often contain "_", RG/VG/disk
 * names rarely do). Best effort, for display and for the time: resolve names against manifests by
 * exact comparison instead (docs/format.md §9).
 */
export function parseBackupFileName(s: string): FileNameParts | undefined {
  const m = NAME_RE.exec(s);
  if (!m) return undefined;
  const time = parseTime(m[5]);
  if (time === undefined) return undefined;
  return { cluster: m[1], rg: m[2], vg: m[3], disk: m[4], time };
}
