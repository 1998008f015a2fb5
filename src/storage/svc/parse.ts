/**
 * Parsers of SVC CLI output, pure. Concise views are read by header name (newer code levels add
 * columns, so never by position); detailed views keep repeated keys in order; an error is the
 * single `CMMVCnnnnE text` line on stderr.
 */
import { CbmError } from "../../util/errors.ts";

export type Row = Record<string, string>;

/** Concise view printed with `-delim <d>`: header line, then one line per object; empty = none. */
export function parseConcise(text: string, delim: string): Row[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  if (lines.length === 0) return [];
  const head = lines[0].split(delim);
  return lines.slice(1).map((line) => {
    const cells = line.split(delim);
    // Fewer cells than columns is output cut short (a value cannot hide a delimiter that way).
    if (cells.length < head.length) {
      throw new CbmError("CBM_SVC_OUTPUT", `storage output cut short: a row of ${cells.length} fields under a header of ${head.length} ("${line.slice(0, 80)}")`);
    }
    const row: Row = {};
    head.forEach((h, i) => (row[h] = cells[i] ?? ""));
    return row;
  });
}

export interface Detailed {
  /** First value of each key. */
  fields: Row;
  /** Every key/value line in order, for repeated keys (members of a group). */
  pairs: Array<[string, string]>;
}

/**
 * Detailed view printed with `-delim <d>`: `key<d>value` lines. Stops at the first blank line
 * (lsvdisk prints per-copy blocks after one; the volume's own fields come first).
 */
export function parseDetailed(text: string, delim: string): Detailed {
  const pairs: Array<[string, string]> = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === "") {
      if (pairs.length > 0) break;
      continue;
    }
    const i = line.indexOf(delim);
    if (i <= 0) continue;
    pairs.push([line.slice(0, i), line.slice(i + delim.length)]);
  }
  const fields: Row = {};
  for (const [k, v] of pairs) if (!(k in fields)) fields[k] = v;
  return { fields, pairs };
}

/** Values of a repeated key, in order (e.g. FC_mapping_name of lsfcconsistgrp <grp>). */
export const allOf = (d: Detailed, key: string): string[] => d.pairs.filter(([k]) => k === key).map(([, v]) => v);

/** `CMMVC5754E The specified object does not exist…` → { code, text }. */
export function parseCmmvc(stderr: string): { code: string; text: string } | undefined {
  const m = /(CMMVC\d{4}[EW])\s*(.*)/.exec(stderr);
  return m ? { code: m[1], text: m[2].trim() } : undefined;
}

/** The id in a creation message: `FlashCopy Mapping, id [3], successfully created`. */
export function parseCreatedId(stdout: string): number | undefined {
  const m = /\[([0-9]+)\],? successfully created/.exec(stdout);
  return m ? Number(m[1]) : undefined;
}
