/** Output helpers: clmgr-style ATTR="value" lines, or JSON with -o json. */
export interface Out {
  json: boolean;
  print(text: string): void;
  err(text: string): void;
}

export const stdOut = (json: boolean): Out => ({
  json,
  print: (t) => void process.stdout.write(t.endsWith("\n") ? t : `${t}\n`),
  err: (t) => void process.stderr.write(t.endsWith("\n") ? t : `${t}\n`),
});

export function attrLines(attrs: Record<string, string | number | undefined>): string {
  return Object.entries(attrs)
    .map(([k, v]) => `${k}="${String(v ?? "").replace(/(["\\])/g, "\\$1")}"`)
    .join("\n");
}

export const toJson = (v: unknown): string => JSON.stringify(v, null, 2);

/** A plain table: columns padded to their widest cell. */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  // reduce, not Math.max(...): a listing of a few hundred thousand rows would overflow the stack.
  const widths = header.map((_, i) => cells.reduce((w, r) => Math.max(w, (r[i] ?? "").length), 0));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ")).join("\n");
}
