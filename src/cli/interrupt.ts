/**
 * Ctrl-C (SIGINT) or SIGTERM during a long command. The first one cancels the command through its
 * AbortSignal, so it ends the way a failure does — a restore removes the file it created, a
 * backup's history row says it was interrupted and its lease is given back — and exits 130; a
 * second one exits at once.
 */
import { CbmError, errorMessage, EXIT } from "../util/errors.ts";
import type { Ctx } from "./context.ts";

export async function interruptible<T>(ctx: Ctx, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let got: NodeJS.Signals | undefined;
  const on = (sig: NodeJS.Signals) => {
    if (got) process.exit(EXIT.interrupted);
    got = sig;
    ctx.out.err(`${ctx.prog}: ${sig}: stopping the ${what} (again to exit at once)`);
    ac.abort(new CbmError("CBM_INTERRUPTED", `interrupted by ${sig}`, "interrupted"));
  };
  process.on("SIGINT", on);
  process.on("SIGTERM", on);
  try {
    return await fn(ac.signal);
  } catch (e) {
    if (got) {
      const msg = errorMessage(e);
      throw new CbmError("CBM_INTERRUPTED", msg.includes(got) ? msg : `${msg} (interrupted by ${got})`, "interrupted", { cause: e });
    }
    throw e;
  } finally {
    process.off("SIGINT", on);
    process.off("SIGTERM", on);
  }
}
