/**
 * Terminal input → keys. xterm/tmux/linux-console sequences for arrows, paging and F1–F10, and SMIT's
 * Esc+digit equivalents (Esc+4 = F4, Esc+0 = F10). A lone Esc is held briefly: if a digit follows it is
 * Esc+digit, otherwise it is Esc (the caller calls flush() when its timer fires).
 */
export type KeyName =
  | "up" | "down" | "left" | "right" | "pgup" | "pgdn" | "home" | "end"
  | "enter" | "tab" | "backtab" | "backspace" | "delete" | "esc" | "space"
  | "f1" | "f2" | "f3" | "f4" | "f5" | "f6" | "f7" | "f8" | "f9" | "f10"
  | "ctrl-c" | "ctrl-u" | "ctrl-l" | "char";

export interface Key {
  name: KeyName;
  /** The character typed, for name "char" (and "space"). */
  ch?: string;
}

const SEQ: Record<string, KeyName> = {
  "[A": "up", "[B": "down", "[C": "right", "[D": "left", OA: "up", OB: "down", OC: "right", OD: "left",
  "[5~": "pgup", "[6~": "pgdn", "[H": "home", "[F": "end", OH: "home", OF: "end",
  "[1~": "home", "[4~": "end", "[7~": "home", "[8~": "end", "[3~": "delete", "[2~": "char", "[Z": "backtab",
  OP: "f1", OQ: "f2", OR: "f3", OS: "f4",
  "[11~": "f1", "[12~": "f2", "[13~": "f3", "[14~": "f4", "[15~": "f5",
  "[17~": "f6", "[18~": "f7", "[19~": "f8", "[20~": "f9", "[21~": "f10",
  "[[A": "f1", "[[B": "f2", "[[C": "f3", "[[D": "f4", "[[E": "f5",
};

const ESC_DIGIT: Record<string, KeyName> = {
  "1": "f1", "2": "f2", "3": "f3", "4": "f4", "5": "f5", "6": "f6", "7": "f7", "8": "f8", "9": "f9", "0": "f10",
};

export class KeyDecoder {
  private pendingEsc = false;

  /** True when a lone Esc is waiting for a possible digit; call flush() after a short delay. */
  get waiting(): boolean {
    return this.pendingEsc;
  }

  flush(): Key[] {
    if (!this.pendingEsc) return [];
    this.pendingEsc = false;
    return [{ name: "esc" }];
  }

  feed(data: string): Key[] {
    const keys: Key[] = [];
    let s = data;
    if (this.pendingEsc) {
      this.pendingEsc = false;
      s = `\x1b${s}`;
    }
    let i = 0;
    while (i < s.length) {
      const c = s[i];
      if (c === "\x1b") {
        const rest = s.slice(i + 1);
        if (rest === "") {
          this.pendingEsc = true;
          break;
        }
        const d = ESC_DIGIT[rest[0]];
        if (d) {
          keys.push({ name: d });
          i += 2;
          continue;
        }
        const m = /^(\[\[[A-E]|\[[0-9;]*[~A-Za-z]|O[A-Za-z])/.exec(rest);
        if (m) {
          // Strip modifier parameters ("[1;5A" → "[A") before the lookup.
          const seq = m[1].replace(/^\[1;\d+([A-Za-z])$/, "[$1");
          const name = SEQ[seq];
          if (name && name !== "char") keys.push({ name });
          i += 1 + m[1].length;
          continue;
        }
        if (rest[0] === "\x1b") {
          keys.push({ name: "esc" });
          i += 1;
          continue;
        }
        keys.push({ name: "esc" });
        i += 1;
        continue;
      }
      i += 1;
      if (c === "\r" || c === "\n") keys.push({ name: "enter" });
      else if (c === "\t") keys.push({ name: "tab" });
      else if (c === "\x7f" || c === "\b") keys.push({ name: "backspace" });
      else if (c === "\x03") keys.push({ name: "ctrl-c" });
      else if (c === "\x15") keys.push({ name: "ctrl-u" });
      else if (c === "\x0c") keys.push({ name: "ctrl-l" });
      else if (c === " ") keys.push({ name: "space", ch: " " });
      else if (c >= " ") keys.push({ name: "char", ch: c });
    }
    return keys;
  }
}
