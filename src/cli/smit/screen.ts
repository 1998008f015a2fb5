/** Drawing helpers: a frame is a list of plain rows plus at most one highlighted span per row. */
export interface Frame {
  rows: string[];
  /** row → [from, to) columns shown in reverse video (when colour is allowed) */
  hi: Map<number, [number, number]>;
  /** Where the terminal cursor goes (an entry field being edited), else hidden. */
  cursor?: [number, number];
}

export const fit = (s: string, w: number): string => (s.length > w ? s.slice(0, w) : s.padEnd(w));

export const center = (s: string, w: number): string => fit(" ".repeat(Math.max(0, Math.floor((w - s.length) / 2))) + s, w);

/** Word-wraps text to width w (long words are cut). */
export function wrap(text: string, w: number): string[] {
  const out: string[] = [];
  for (const para of text.split("\n")) {
    let line = "";
    for (const word of para.split(/ +/)) {
      let wd = word;
      while (wd.length > w) {
        if (line) {
          out.push(line);
          line = "";
        }
        out.push(wd.slice(0, w));
        wd = wd.slice(w);
      }
      if (line === "") line = wd;
      else if (line.length + 1 + wd.length <= w) line += ` ${wd}`;
      else {
        out.push(line);
        line = wd;
      }
    }
    out.push(line);
  }
  return out;
}

/** SMIT's function-key footer: cells of 20 columns. */
export function footer(lines: string[][], w: number): string[] {
  return lines.map((cells) => fit(cells.map((c) => c.padEnd(20)).join(""), w));
}

/** Puts `text` over `row` at column `col` (the row is padded as needed). */
export function overlay(rows: string[], row: number, col: number, text: string): void {
  const r = (rows[row] ?? "").padEnd(col + text.length);
  rows[row] = r.slice(0, col) + text + r.slice(col + text.length);
}

/** The escape sequences that draw a frame from the top-left corner. */
export function paint(f: Frame, w: number, color: boolean): string {
  let s = "\x1b[H";
  f.rows.forEach((row, i) => {
    const line = fit(row, w);
    const hi = f.hi.get(i);
    if (hi && color) s += `${line.slice(0, hi[0])}\x1b[7m${line.slice(hi[0], hi[1])}\x1b[0m${line.slice(hi[1])}`;
    else s += line;
    if (i < f.rows.length - 1) s += "\r\n";
  });
  if (f.cursor) s += `\x1b[${f.cursor[0] + 1};${f.cursor[1] + 1}H\x1b[?25h`;
  else s += "\x1b[?25l";
  return s;
}
