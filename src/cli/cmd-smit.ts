/**
 * `cbm smit [fastpath]` (also `smitty`): the SMIT screens of Cloud Backup Configuration on a terminal,
 * drawn with ANSI escapes on raw stdin. Esc at the first screen, F10 (Esc+0) or Ctrl-C leaves and
 * restores the terminal. Every change is made by running the clmgr command the dialog shows (F6).
 */
import { usageError } from "../util/errors.ts";
import { didYouMean } from "../util/suggest.ts";
import type { Ctx } from "./context.ts";
import { SmitApp } from "./smit/app.ts";
import { KeyDecoder } from "./smit/keys.ts";
import { paint } from "./smit/screen.ts";
import { FAST_PATHS, TOP } from "./smit/tree.ts";

export function smitHelp(prog: string): string {
  const w = Math.max(...FAST_PATHS.map(([id]) => id.length));
  return [
    `Usage: ${prog} smit [FASTPATH]     (also: ${prog} smitty)`,
    "The SMIT screens of Cloud Backup Configuration. Fast paths:",
    ...FAST_PATHS.map(([id, what]) => `  ${id.padEnd(w)}  ${what}`),
    "",
    "Keys: arrows move; Enter selects or runs; F4 (Esc+4) lists values; Tab cycles a ring field;",
    "F6 (Esc+6) shows the clmgr command; F5 resets a field; F1 help; F3/Esc back; F10 (Esc+0)/Ctrl-C exit.",
  ].join("\n");
}

export async function runSmit(ctx: Ctx): Promise<void> {
  if (ctx.args.help) {
    ctx.out.print(smitHelp(ctx.prog));
    return;
  }
  const fast = ctx.args.cls ?? TOP;
  const ids = FAST_PATHS.map(([id]) => id);
  const all = [...ids, "cm_apps_resources", "cbm_lab_up", "cbm_lab_status", "cbm_lab_down"];
  if (!all.includes(fast)) {
    throw usageError("CBM_USAGE", `Unknown SMIT fast path "${fast}". Fast paths: ${ids.join(", ")}.${didYouMean(fast, ids)}`);
  }
  const stdin = process.stdin;
  const stdout = process.stdout;
  if (!stdin.isTTY || !stdout.isTTY) {
    throw usageError("CBM_USAGE", `smit needs a terminal (stdin and stdout); use clmgr for scripts (${ctx.prog} smit -h lists the fast paths).`);
  }
  const color = !("NO_COLOR" in ctx.env) && ctx.env.TERM !== "dumb";
  await new Promise<void>((resolveDone) => {
    const decoder = new KeyDecoder();
    let escTimer: NodeJS.Timeout | undefined;
    let closed = false;
    const size = () => ({ cols: Math.max(40, stdout.columns || 80), rows: Math.max(12, stdout.rows || 24) });
    const restore = () => {
      stdout.write("\x1b[0m\x1b[?25h\x1b[?1049l");
      if (stdin.isTTY) stdin.setRawMode(false);
    };
    const onSignal = () => quit();
    const quit = () => {
      if (closed) return;
      closed = true;
      if (escTimer) clearTimeout(escTimer);
      stdin.off("data", onData);
      stdout.off("resize", onResize);
      process.off("SIGTERM", onSignal);
      process.off("SIGHUP", onSignal);
      process.off("exit", restore);
      restore();
      stdin.pause();
      resolveDone();
    };
    const app = new SmitApp({
      home: ctx.home,
      env: ctx.env,
      size,
      draw: (f) => {
        if (!closed) stdout.write(paint(f, size().cols, color));
      },
      quit,
    });
    // Keys are handled one at a time, in order, even when a handler awaits (loading, checking).
    let chain = Promise.resolve();
    const handle = (keys: ReturnType<KeyDecoder["feed"]>) => {
      for (const k of keys) chain = chain.then(() => (closed ? undefined : app.key(k))).catch(() => undefined);
    };
    const onData = (d: Buffer | string) => {
      if (escTimer) clearTimeout(escTimer);
      handle(decoder.feed(d.toString()));
      if (decoder.waiting) escTimer = setTimeout(() => handle(decoder.flush()), 350);
    };
    const onResize = () => {
      stdout.write("\x1b[2J");
      app.render();
    };
    process.on("exit", restore);
    process.on("SIGTERM", onSignal);
    process.on("SIGHUP", onSignal);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on("data", onData);
    stdout.on("resize", onResize);
    stdout.write("\x1b[?1049h\x1b[2J\x1b[H");
    void app.start(fast);
  });
}
