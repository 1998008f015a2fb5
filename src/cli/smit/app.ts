/**
 * The SMIT-like screens and their keys: menus, selectors, entry-field dialogs with pick lists,
 * the command a dialog runs (F6), and COMMAND STATUS with the command's output as it streams.
 * Terminal I/O is injected (see cmd-smit.ts), so this file knows nothing of raw mode.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { loadConfig } from "../../config/store.ts";
import { CbmError, errorMessage } from "../../util/errors.ts";
import { PROJECT_ROOT } from "../../util/root.ts";
import type { Key } from "./keys.ts";
import { type Problem, precheck } from "./precheck.ts";
import { type Frame, center, fit, footer, overlay, wrap } from "./screen.ts";
import { type Dialog, type Menu, type Node, type Selector, SMIT_PATH, TOP, commandArgv, commandText, resolve } from "./tree.ts";

const BIN = join(PROJECT_ROOT, "bin") + "/";

type Popup =
  | { kind: "list"; title: string; items: string[]; cursor: number; marks: Set<number>; multi: boolean }
  | { kind: "text"; title: string; text: string }
  | { kind: "confirm" };

interface MenuScreen {
  kind: "menu";
  node: Menu;
  cursor: number;
}
interface SelectorScreen {
  kind: "selector";
  node: Selector;
  cursor: number;
}
interface FormScreen {
  kind: "form";
  node: Dialog;
  arg?: string;
  values: string[];
  cursor: number;
  top: number;
  /** The next typed character replaces the value (the field was just entered). */
  fresh: boolean;
  problem?: Problem;
  info?: string;
  popup?: Popup;
}
interface StatusScreen {
  kind: "status";
  command: string;
  state: "RUNNING" | "OK" | "Failed";
  out: string;
  stdout: boolean;
  stderr: boolean;
  top: number;
  follow: boolean;
  child?: ChildProcess;
  popup?: Popup;
  started: number;
}
type Screen = MenuScreen | SelectorScreen | FormScreen | StatusScreen;

export interface AppIO {
  home: string;
  env: NodeJS.ProcessEnv;
  size(): { cols: number; rows: number };
  /** Called after every change of state with the new frame. */
  draw(f: Frame): void;
  /** Called once when the user leaves. */
  quit(): void;
}

export class SmitApp {
  private stack: Screen[] = [];
  private busy = false;

  constructor(private readonly io: AppIO) {}

  async start(fastPath: string): Promise<void> {
    await this.open(fastPath || TOP);
    if (this.stack.length === 0) this.io.quit();
  }

  private get top(): Screen | undefined {
    return this.stack[this.stack.length - 1];
  }

  private async open(id: string, arg?: string): Promise<void> {
    let node: Node | undefined;
    try {
      node = resolve(await loadConfig(this.io.home), id, arg);
    } catch (e) {
      this.pushStatus(`(loading the configuration)`, "Failed", e instanceof CbmError ? `clmgr: ERROR: ${e.message} [${e.code}]\n` : `${errorMessage(e)}\n`);
      return;
    }
    if (!node) return;
    if (node.kind === "menu") this.stack.push({ kind: "menu", node, cursor: 0 });
    else if (node.kind === "selector") this.stack.push({ kind: "selector", node, cursor: 0 });
    else this.stack.push({ kind: "form", node, arg, values: node.fields.map((f) => f.initial), cursor: 0, top: 0, fresh: true });
    this.render();
  }

  /** Reloads a selector's list (after an add or remove). */
  private async refreshTop(): Promise<void> {
    const t = this.top;
    if (t?.kind === "selector") {
      try {
        const n = resolve(await loadConfig(this.io.home), t.node.id);
        if (n?.kind === "selector") {
          t.node = n;
          t.cursor = Math.min(t.cursor, Math.max(0, n.choices.length - 1));
        }
      } catch {
        // keep the old list
      }
    }
  }

  private async back(): Promise<void> {
    const t = this.top;
    if (t?.kind === "status" && t.state === "RUNNING") return;
    this.stack.pop();
    if (this.stack.length === 0) {
      this.io.quit();
      return;
    }
    await this.refreshTop();
  }

  exit(): void {
    for (const s of this.stack) if (s.kind === "status" && s.child && s.state === "RUNNING") s.child.kill("SIGTERM");
    this.io.quit();
  }

  async key(k: Key): Promise<void> {
    if (this.busy) return;
    if (k.name === "ctrl-c" || k.name === "f10") return this.exit();
    const t = this.top;
    if (!t) return;
    if (k.name === "ctrl-l" || k.name === "f2") {
      await this.refreshTop();
      return this.render();
    }
    this.busy = true;
    try {
      if (t.kind === "menu" || t.kind === "selector") await this.listKey(t, k);
      else if (t.kind === "form") await this.formKey(t, k);
      else await this.statusKey(t, k);
    } finally {
      this.busy = false;
    }
    if (this.stack.length > 0) this.render();
  }

  private async listKey(t: MenuScreen | SelectorScreen, k: Key): Promise<void> {
    const n = t.kind === "menu" ? t.node.items.length : t.node.choices.length;
    switch (k.name) {
      case "up":
        t.cursor = Math.max(0, t.cursor - 1);
        return;
      case "down":
        t.cursor = Math.min(n - 1, t.cursor + 1);
        return;
      case "home":
      case "pgup":
        t.cursor = 0;
        return;
      case "end":
      case "pgdn":
        t.cursor = n - 1;
        return;
      case "esc":
      case "f3":
        return this.back();
      case "enter":
        if (n === 0) return;
        if (t.kind === "menu") return this.open(t.node.items[t.cursor].target);
        return this.open(t.node.next, t.node.choices[t.cursor]);
    }
  }

  private fieldRows(): number {
    return this.io.size().rows - 6 - 4 - 3;
  }

  private async formKey(t: FormScreen, k: Key): Promise<void> {
    if (t.popup) return this.popupKey(t, t.popup, k);
    const d = t.node;
    const f = d.fields[t.cursor];
    const set = (v: string) => {
      t.values[t.cursor] = v;
      t.fresh = false;
      t.problem = undefined;
      t.info = undefined;
    };
    const move = (to: number) => {
      if (d.fields.length === 0) return;
      t.cursor = Math.max(0, Math.min(d.fields.length - 1, to));
      t.fresh = true;
    };
    switch (k.name) {
      case "up":
      case "backtab":
        if (k.name === "backtab" && f?.ring && !f.fixed) return set(cycle(f.choices ?? [], t.values[t.cursor], -1));
        return move(t.cursor - 1);
      case "down":
        return move(t.cursor + 1);
      case "pgup":
        return move(t.cursor - this.fieldRows());
      case "pgdn":
        return move(t.cursor + this.fieldRows());
      case "home":
        return move(0);
      case "end":
        return move(d.fields.length - 1);
      case "esc":
      case "f3":
        return this.back();
      case "f1":
        t.popup = { kind: "text", title: f ? f.label : d.title, text: f ? f.help : `${d.title}: press Enter to run the command shown by F6.` };
        return;
      case "f6":
        t.popup = { kind: "text", title: "COMMAND STRING", text: commandText(d.prog, commandArgv(d, t.values)) };
        return;
      case "f5":
        if (f) set(f.initial);
        return;
      case "enter":
        return this.submit(t);
    }
    if (!f) return;
    if (f.fixed) {
      if (k.name === "char" || k.name === "space" || k.name === "backspace" || k.name === "tab" || k.name === "f4" || k.name === "ctrl-u") {
        t.info = `${f.label} cannot be changed here.`;
      }
      return;
    }
    switch (k.name) {
      case "char":
      case "space":
        return set(t.fresh ? (k.ch ?? "") : t.values[t.cursor] + (k.ch ?? ""));
      case "backspace":
        return set(t.values[t.cursor].slice(0, -1));
      case "ctrl-u":
        return set("");
      case "tab":
        if (f.ring && f.choices) return set(cycle(f.choices, t.values[t.cursor], 1));
        return move(t.cursor + 1);
      case "f4": {
        const items = f.choices ?? [];
        if (items.length === 0) {
          t.info = f.choices ? `No ${f.label} to choose from: type a value.` : `${f.label} has no list: type a value.`;
          return;
        }
        const cur = f.multi ? t.values[t.cursor].split(",").map((x) => x.trim()) : [t.values[t.cursor].trim()];
        const marks = new Set(f.multi ? items.map((it, i) => (cur.includes(it) ? i : -1)).filter((i) => i >= 0) : []);
        t.popup = { kind: "list", title: f.label, items, cursor: Math.max(0, items.indexOf(cur[0])), marks, multi: f.multi === true };
        return;
      }
    }
  }

  private async popupKey(t: FormScreen, p: Popup, k: Key): Promise<void> {
    if (k.name === "esc" || k.name === "f3") {
      t.popup = undefined;
      return;
    }
    if (p.kind === "text") {
      if (k.name === "enter" || k.name === "f6" || k.name === "f1") t.popup = undefined;
      return;
    }
    if (p.kind === "confirm") {
      if (k.name === "enter") {
        t.popup = undefined;
        this.run(t);
      }
      return;
    }
    switch (k.name) {
      case "up":
        p.cursor = Math.max(0, p.cursor - 1);
        return;
      case "down":
        p.cursor = Math.min(p.items.length - 1, p.cursor + 1);
        return;
      case "space":
      case "f7":
        if (!p.multi) return;
        if (p.marks.has(p.cursor)) p.marks.delete(p.cursor);
        else p.marks.add(p.cursor);
        return;
      case "enter": {
        const picked = p.multi && p.marks.size > 0 ? [...p.marks].sort((a, b) => a - b).map((i) => p.items[i]) : [p.items[p.cursor]];
        t.values[t.cursor] = picked.join(",");
        t.fresh = true;
        t.problem = undefined;
        t.popup = undefined;
        return;
      }
    }
  }

  private async submit(t: FormScreen): Promise<void> {
    const argv = commandArgv(t.node, t.values);
    t.info = undefined;
    t.problem = await precheck(this.io.home, t.node, argv);
    if (t.problem) {
      if (t.problem.field !== undefined) {
        t.cursor = t.problem.field;
        t.fresh = true;
      }
      return;
    }
    if (t.node.confirm) {
      t.popup = { kind: "confirm" };
      return;
    }
    this.run(t);
  }

  private pushStatus(command: string, state: StatusScreen["state"], out: string): StatusScreen {
    const s: StatusScreen = { kind: "status", command, state, out, stdout: false, stderr: out !== "", top: 0, follow: true, started: Date.now() };
    this.stack.push(s);
    this.render();
    return s;
  }

  /** Runs the dialog's command as its own process (bin/clmgr or bin/cbm), streaming its output. */
  private run(t: FormScreen): void {
    const d = t.node;
    const argv = commandArgv(d, t.values);
    const s = this.pushStatus(commandText(d.prog, argv), "RUNNING", "");
    s.stderr = false;
    const child = spawn(join(BIN, d.prog), argv, {
      env: { ...this.io.env, CBM_HOME: this.io.home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    s.child = child;
    // The elapsed time ticks while a long command (backup, restore) runs.
    const tick = setInterval(() => this.top === s && this.render(), 1000);
    const add = (which: "stdout" | "stderr") => (b: Buffer) => {
      s[which] = true;
      // A carriage return (a progress line redrawn in place) replaces the current line.
      for (const part of b.toString().split(/(\r(?!\n))/)) {
        if (part === "\r") s.out = s.out.slice(0, s.out.lastIndexOf("\n") + 1);
        else s.out += part;
      }
      this.render();
    };
    child.stdout?.on("data", add("stdout"));
    child.stderr?.on("data", add("stderr"));
    child.on("error", (e) => {
      clearInterval(tick);
      s.out += `${e.message}\n`;
      s.state = "Failed";
      this.render();
    });
    child.on("close", (code) => {
      clearInterval(tick);
      s.state = code === 0 ? "OK" : "Failed";
      s.child = undefined;
      if (this.top === s) this.render();
    });
  }

  private async statusKey(s: StatusScreen, k: Key): Promise<void> {
    const page = this.io.size().rows - 10;
    if (s.popup) {
      if (["esc", "f3", "enter", "f6"].includes(k.name)) s.popup = undefined;
      return;
    }
    switch (k.name) {
      case "up":
        s.top = Math.max(0, s.top - 1);
        s.follow = false;
        return;
      case "down":
        s.top += 1;
        return;
      case "pgup":
        s.top = Math.max(0, s.top - page);
        s.follow = false;
        return;
      case "pgdn":
        s.top += page;
        return;
      case "home":
        s.top = 0;
        s.follow = false;
        return;
      case "end":
        s.follow = true;
        return;
      case "f6":
        s.popup = { kind: "text", title: "COMMAND STRING", text: s.command };
        return;
      case "esc":
      case "f3":
      case "enter":
        if (s.state !== "RUNNING") await this.back();
        return;
    }
  }

  // ------------------------------------------------------------------ drawing

  render(): void {
    const t = this.top;
    if (!t) return;
    const { cols: w, rows: h } = this.io.size();
    const f: Frame = { rows: Array.from({ length: h }, () => ""), hi: new Map() };
    const crumbs = this.stack.filter((s): s is MenuScreen => s.kind === "menu").map((s) => s.node.title);
    const crumb = crumbs[0] === "Cloud Backup Configuration" ? [SMIT_PATH, ...crumbs.slice(1)].join(" > ") : ["smit", ...crumbs].join(" > ");
    const put = (row: number, text: string) => {
      if (row >= 0 && row < h) f.rows[row] = fit(text, w);
    };
    const foot = (lines: string[][]) => footer(lines, w).forEach((l, i) => put(h - 3 + i, l));
    if (t.kind === "menu" || t.kind === "selector") {
      const title = t.kind === "menu" ? t.node.title : t.node.title;
      put(0, center(title, w));
      const parts = crumb.split(" > ");
      while (parts.length > 1 && parts.join(" > ").length > w) parts.splice(0, parts[0] === "..." ? 2 : 1, "...");
      put(1, parts.join(" > "));
      put(2, t.kind === "menu" ? "Move cursor to desired item and press Enter." : `Select ${t.node.prompt} and press Enter.`);
      const items = t.kind === "menu" ? t.node.items.map((i) => i.label) : t.node.choices;
      const avail = h - 4 - 4;
      const first = Math.max(0, Math.min(t.cursor - avail + 1, items.length - avail));
      if (items.length === 0) put(4, t.kind === "selector" ? `  There are no ${t.node.prompt} items to select.` : "");
      items.slice(first, first + avail).forEach((label, i) => {
        const row = 4 + i;
        const sel = first + i === t.cursor;
        put(row, `${sel ? ">" : " "} ${label}`);
        if (sel) f.hi.set(row, [2, 2 + label.length]);
      });
      if (first > 0 || first + avail < items.length) put(h - 4, `[MORE...${items.length - first - Math.min(avail, items.length - first)}]`);
      foot([["F1=Help", "F2=Refresh", "F3=Cancel", "F10=Exit"], ["Enter=Do", "Esc+N=F<N>", "Esc=Back"]]);
    } else if (t.kind === "form") {
      this.drawForm(t, f, w, h, put, foot);
    } else {
      put(0, center("COMMAND STATUS", w));
      const state = t.state === "RUNNING" ? `running ${Math.floor((Date.now() - t.started) / 1000)} s` : t.state;
      put(2, `Command: ${state.padEnd(16)}stdout: ${t.stdout ? "yes" : "no"}           stderr: ${t.stderr ? "yes" : "no"}`);
      put(4, "Before command completion, additional instructions may appear below.");
      const lines = t.out.replace(/\n$/, "").split("\n").flatMap((l) => (l === "" ? [""] : wrap(l, w)));
      const avail = h - 6 - 4;
      const maxTop = Math.max(0, lines.length - avail);
      if (t.follow || t.top > maxTop) t.top = maxTop;
      lines.slice(t.top, t.top + avail).forEach((l, i) => put(6 + i, l));
      if (lines.length > avail) put(h - 4, t.top + avail < lines.length ? `[MORE...${lines.length - t.top - avail}]` : "[BOTTOM]");
      foot([["F1=Help", "F2=Refresh", "F3=Cancel", "F6=Command"], ["F10=Exit", "PgUp/PgDn=Scroll", "Enter=Back"]]);
      if (t.popup) drawPopup(f, t.popup, w, h);
    }
    this.io.draw(f);
  }

  private drawForm(t: FormScreen, f: Frame, w: number, h: number, put: (r: number, s: string) => void, foot: (l: string[][]) => void): void {
    const d = t.node;
    put(0, center(d.title, w));
    put(2, "Type or select values in entry fields.");
    put(3, "Press Enter AFTER making all desired changes.");
    const labelW = Math.min(40, w - 38);
    const valX = labelW + 2;
    const valW = Math.max(8, w - valX - 4);
    if (d.fields.length === 0) put(5, "  There are no entry fields: press Enter to run the command (F6 shows it).");
    else put(5, `${"".padEnd(valX)}[Entry Fields]`);
    const msg = t.problem?.text ?? t.info;
    const msgLines = msg ? wrap(msg, w).slice(0, 6) : [];
    const avail = Math.max(1, h - 6 - 3 - 1 - msgLines.length);
    if (t.cursor < t.top) t.top = t.cursor;
    if (t.cursor >= t.top + avail) t.top = t.cursor - avail + 1;
    d.fields.slice(t.top, t.top + avail).forEach((fd, i) => {
      const idx = t.top + i;
      const row = 6 + i;
      const v = t.values[idx];
      const shown = v.length > valW ? `<${v.slice(v.length - valW + 1)}` : v;
      const flag = t.problem?.field === idx ? "!" : fd.flag;
      const cell = fd.fixed ? ` ${shown}`.padEnd(valW + 2) : `[${shown.padEnd(valW)}]`;
      put(row, `${idx === t.cursor ? ">" : " "}${fd.required ? "*" : " "}${fit(fd.label, labelW - 1)} ${cell} ${flag}`);
      if (idx === t.cursor) {
        f.hi.set(row, [valX, valX + valW + 2]);
        if (!fd.fixed && !t.popup) f.cursor = [row, valX + 1 + shown.length];
      }
    });
    const more = d.fields.length - t.top - avail;
    if (d.fields.length > avail) put(6 + avail, more > 0 ? `[MORE...${more}]` : "[BOTTOM]");
    msgLines.forEach((l, i) => put(h - 3 - msgLines.length + i, l));
    foot([
      ["F1=Help", "F2=Refresh", "F3=Cancel", "F4=List"],
      ["F5=Reset", "F6=Command", "Tab=Next value", "Ctrl-U=Clear"],
      ["F10=Exit", "Enter=Do", "Esc+N=F<N>"],
    ]);
    if (t.popup) drawPopup(f, t.popup, w, h);
  }
}

function cycle(values: readonly string[], cur: string, step: number): string {
  if (values.length === 0) return cur;
  const i = values.findIndex((v) => v.toLowerCase() === cur.trim().toLowerCase());
  return values[(((i < 0 ? (step > 0 ? -1 : 0) : i) + step) % values.length + values.length) % values.length];
}

/** A boxed pop-up over the middle of the screen. */
function drawPopup(f: Frame, p: Popup, w: number, h: number): void {
  const bw = Math.min(w - 4, 72);
  const inner = bw - 4;
  const body: string[] = [];
  let title = "";
  let keys = "";
  let hiLine = -1;
  if (p.kind === "text") {
    title = p.title;
    body.push(...wrap(p.text, inner));
    keys = "F3=Cancel  Enter=Done";
  } else if (p.kind === "confirm") {
    title = "ARE YOU SURE?";
    body.push("Continuing may delete information you may want", "to keep. This is your last chance to stop", "before continuing.");
    keys = "F3=Cancel  Enter=Do";
  } else {
    title = p.title;
    body.push(p.multi ? "Space or F7 selects one or more; Enter when done." : "Move cursor to desired item and press Enter.", "");
    const avail = Math.max(1, h - 10 - body.length);
    const first = Math.max(0, Math.min(p.cursor - avail + 1, p.items.length - avail));
    p.items.slice(first, first + avail).forEach((it, i) => {
      const idx = first + i;
      if (idx === p.cursor) hiLine = body.length;
      body.push(`${idx === p.cursor ? ">" : " "}${p.multi ? (p.marks.has(idx) ? " [x] " : " [ ] ") : " "}${it}`);
    });
    keys = p.multi ? "F3=Cancel  F7=Select  Enter=Do" : "F3=Cancel  Enter=Do";
  }
  const lines = [center(title, inner), "", ...body, "", keys];
  const top = Math.max(1, Math.floor((h - lines.length - 2) / 2));
  const left = Math.floor((w - bw) / 2);
  for (let r = top; r <= top + 1 + lines.length; r++) f.hi.delete(r);
  overlay(f.rows, top, left, `+${"-".repeat(bw - 2)}+`);
  lines.forEach((l, i) => {
    overlay(f.rows, top + 1 + i, left, `| ${fit(l, inner)} |`);
    if (i - 2 === hiLine && hiLine >= 0) f.hi.set(top + 1 + i, [left + 2, left + 2 + inner]);
  });
  overlay(f.rows, top + 1 + lines.length, left, `+${"-".repeat(bw - 2)}+`);
  f.cursor = undefined;
}
