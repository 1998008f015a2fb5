/** Shared rendering of `ls` commands: concise/detailed views, filters, -filtervalue?. */
import { flagOn, flagStr } from "../args.ts";
import { svcErr } from "../errors.ts";
import { formatConcise, formatDetailed, matchFilters, parseFilters, type Pair, type Row, type ViewOpts } from "../format.ts";
import type { Ctx } from "./types.ts";

export function viewOpts(ctx: Ctx): ViewOpts {
  return { delim: flagStr(ctx.args, "-delim"), nohdr: flagOn(ctx.args, "-nohdr") };
}

export const bytesFlag = (ctx: Ctx): boolean => flagOn(ctx.args, "-bytes");

export interface ListSpec<T> {
  columns: readonly string[];
  /** extra filter attributes beyond the columns (their values must be in the row) */
  extraFilters?: readonly string[];
  items: readonly T[];
  row(t: T): Row;
  /** detailed view; undefined means the object argument filters the concise view instead */
  detail?(t: T): Pair[];
  find(ref: string): T | undefined;
}

export function renderList<T>(ctx: Ctx, spec: ListSpec<T>): string {
  const o = viewOpts(ctx);
  const filterable = [...spec.columns, ...(spec.extraFilters ?? [])];
  if (flagOn(ctx.args, "-filtervalue?")) return filterable.map((a) => `${a}\n`).join("");
  const fexpr = flagStr(ctx.args, "-filtervalue");
  const filters = fexpr === undefined ? [] : parseFilters(fexpr, filterable);
  const ref = ctx.args.obj;
  if (ref !== undefined && spec.detail) {
    if (fexpr !== undefined) throw svcErr("CMMVC5713E");
    const t = spec.find(ref);
    if (t === undefined) throw svcErr("CMMVC5754E");
    return formatDetailed(spec.detail(t), o);
  }
  const rows = spec.items.map((t) => spec.row(t)).filter((r) => matchFilters(r, filters));
  return formatConcise(spec.columns, rows, o);
}

/** Pairs from a row object, in the given key order. */
export const pairs = (keys: readonly string[], r: Row): Pair[] => keys.map((k) => [k, r[k] ?? ""] as const);

export const s = (v: number | string | null | undefined): string => (v === null || v === undefined ? "" : String(v));
