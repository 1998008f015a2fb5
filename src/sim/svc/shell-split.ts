/**
 * POSIX-shell-style word splitting for one command line (pure). Handles single quotes (literal),
 * double quotes (backslash escapes \\ \" \$ \` only), backslash escapes outside quotes, and the
 * unquoted pipe operator `|`, which becomes an operator token. No expansion of any kind.
 */
export interface ShellToken {
  value: string;
  /** true for an unquoted `|` */
  op: boolean;
}

export class ShellSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShellSyntaxError";
  }
}

export function shellSplit(line: string): ShellToken[] {
  const out: ShellToken[] = [];
  let cur = "";
  let inWord = false;
  let i = 0;
  const flush = (): void => {
    if (inWord) out.push({ value: cur, op: false });
    cur = "";
    inWord = false;
  };
  while (i < line.length) {
    const c = line[i];
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      flush();
      i++;
    } else if (c === "|") {
      flush();
      out.push({ value: "|", op: true });
      i++;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new ShellSyntaxError("unterminated single quote");
      cur += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      inWord = true;
      for (;;) {
        if (i >= line.length) throw new ShellSyntaxError("unterminated double quote");
        const d = line[i];
        if (d === '"') {
          i++;
          break;
        }
        if (d === "\\" && i + 1 < line.length && '\\"$`\n'.includes(line[i + 1])) {
          if (line[i + 1] !== "\n") cur += line[i + 1];
          i += 2;
          continue;
        }
        cur += d;
        i++;
      }
    } else if (c === "\\") {
      if (i + 1 < line.length) {
        if (line[i + 1] !== "\n") cur += line[i + 1];
        inWord = true;
      }
      i += 2;
    } else {
      cur += c;
      inWord = true;
      i++;
    }
  }
  flush();
  return out;
}

/** Split tokens into pipeline stages at operator tokens. An empty stage is a syntax error. */
export function splitPipeline(tokens: readonly ShellToken[]): string[][] {
  const stages: string[][] = [[]];
  for (const t of tokens) {
    if (t.op) stages.push([]);
    else stages[stages.length - 1].push(t.value);
  }
  if (stages.length > 1 && stages.some((s) => s.length === 0)) {
    throw new ShellSyntaxError("syntax error near unexpected token `|'");
  }
  return stages;
}
