/**
 * Output formatting of the SVC CLI (pure): concise and detailed views, -delim/-nohdr, capacity
 * units, and -filtervalue (SVC-CLI.md §1.2, §1.3).
 */
import { svcErr } from "./errors.ts";

export type Row = Readonly<Record<string, string>>;

export interface ViewOpts {
  /** -delim character; undefined means space-aligned columns */
  delim?: string;
  nohdr: boolean;
}

/** Concise view: header + one line per row. No rows means no output at all (no header). */
export function formatConcise(columns: readonly string[], rows: readonly Row[], o: ViewOpts): string {
  if (rows.length === 0) return "";
  const lines: string[][] = [];
  if (!o.nohdr) lines.push([...columns]);
  for (const r of rows) lines.push(columns.map((c) => r[c] ?? ""));
  if (o.delim !== undefined) return lines.map((l) => l.join(o.delim) + "\n").join("");
  const widths = columns.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  return lines
    .map((l) => l.map((v, i) => (i === l.length - 1 ? v : v.padEnd(widths[i]))).join(" ").trimEnd() + "\n")
    .join("");
}

/** A detailed-view item; a `null` entry is a blank separator line. */
export type Pair = readonly [string, string] | null;

/** Detailed view: `name value` (or `name<delim>value`); -nohdr prints values only. */
export function formatDetailed(pairs: readonly Pair[], o: ViewOpts): string {
  return pairs
    .map((p) => {
      if (p === null) return "\n";
      if (o.nohdr) return `${p[1]}\n`;
      return `${p[0]}${o.delim ?? " "}${p[1]}\n`;
    })
    .join("");
}

const UNITS = ["B", "KB", "MB", "GB", "TB", "PB"] as const;

/** Capacity as bytes (-bytes) or two decimals with a binary unit; zero is `0.00MB`. */
export function formatCapacity(bytes: number, asBytes: boolean): string {
  if (asBytes) return String(bytes);
  if (bytes === 0) return "0.00MB";
  let u = 0;
  let v = bytes;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(2)}${UNITS[u]}`;
}

const UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1024,
  mb: 1024 ** 2,
  gb: 1024 ** 3,
  tb: 1024 ** 4,
  pb: 1024 ** 5,
};

/** Parse `-size n -unit u` into bytes (default unit MB; with -unit b a multiple of 512). */
export function parseSize(size: string, unit: string | undefined): number {
  const mult = UNIT_BYTES[(unit ?? "mb").toLowerCase()];
  if (mult === undefined) throw svcErr("CMMVC5706E");
  if (!/^\d+(\.\d+)?$/.test(size)) throw svcErr("CMMVC5706E");
  const bytes = Math.round(Number(size) * mult);
  if (bytes <= 0) throw svcErr("CMMVC6010E");
  if (bytes % 512 !== 0) throw svcErr("CMMVC5706E");
  return bytes;
}

export interface Filter {
  attr: string;
  /** exact value, or a pattern with one `*` */
  value: string;
}

/**
 * Parse `a=v[:b=w...]`. Only attributes in `allowed` may be used (CMMVC5741E otherwise); at most
 * one `*` wildcard per filter.
 */
export function parseFilters(expr: string, allowed: readonly string[]): Filter[] {
  const out: Filter[] = [];
  for (const part of expr.split(":")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw svcErr("CMMVC5741E");
    const attr = part.slice(0, eq);
    const value = part.slice(eq + 1);
    const canonical = allowed.find((a) => a.toLowerCase() === attr.toLowerCase());
    if (canonical === undefined) throw svcErr("CMMVC5741E");
    if (value.split("*").length > 2) throw svcErr("CMMVC5741E");
    out.push({ attr: canonical, value });
  }
  return out;
}

export function matchValue(actual: string, pattern: string): boolean {
  const star = pattern.indexOf("*");
  if (star < 0) return actual === pattern;
  const pre = pattern.slice(0, star);
  const post = pattern.slice(star + 1);
  return actual.length >= pre.length + post.length && actual.startsWith(pre) && actual.endsWith(post);
}

export function matchFilters(row: Row, filters: readonly Filter[]): boolean {
  return filters.every((f) => matchValue(row[f.attr] ?? "", f.value));
}

/** `grep [-w] [-i] [-v] pattern` over output lines (the restricted shell's pipe, REDP-5651 step c). */
export function grepLines(text: string, args: readonly string[]): string {
  let word = false;
  let icase = false;
  let invert = false;
  let pattern: string | undefined;
  for (const a of args) {
    if (a.startsWith("-") && pattern === undefined && a.length > 1) {
      for (const ch of a.slice(1)) {
        if (ch === "w") word = true;
        else if (ch === "i") icase = true;
        else if (ch === "v") invert = true;
        else throw new Error(`grep: invalid option -- '${ch}'`);
      }
    } else if (pattern === undefined) pattern = a;
    else throw new Error("grep: only one pattern and no files are supported here");
  }
  if (pattern === undefined) throw new Error("grep: no pattern");
  const esc = pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const re = new RegExp(word ? `(^|[^A-Za-z0-9_])${esc}($|[^A-Za-z0-9_])` : esc, icase ? "i" : "");
  const lines = text.split("\n").filter((l, i, all) => !(i === all.length - 1 && l === ""));
  const kept = lines.filter((l) => re.test(l) !== invert);
  return kept.map((l) => l + "\n").join("");
}
