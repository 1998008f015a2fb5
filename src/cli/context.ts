import { usageError } from "../util/errors.ts";
import type { ParsedArgs } from "./args.ts";
import type { Out } from "./output.ts";

export interface Ctx {
  home: string;
  prog: string;
  out: Out;
  args: ParsedArgs;
  env: NodeJS.ProcessEnv;
}

/** The value of ATTR=value on the command line (names are upper-cased by the parser). */
export const argAttr = (ctx: Ctx, name: string): string | undefined => ctx.args.attrs.find(([k]) => k === name)?.[1];

/** Refuses any ATTR= the command does not take, naming the ones it does. */
export function checkAttrs(ctx: Ctx, allowed: readonly string[]): void {
  for (const [k] of ctx.args.attrs) {
    if (!allowed.includes(k)) {
      throw usageError("CBM_USAGE", `${ctx.args.verb} ${ctx.args.cls} does not take ${k}. Allowed: ${allowed.join(", ")}.`);
    }
  }
}
