import { usageError, validationError } from "../util/errors.ts";
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

/** Selectors whose empty value would otherwise read as "not given" (and pick a default). */
const NEVER_EMPTY = new Set(["RG_NAME", "NAME", "DISK", "VG", "TARGET", "TARGETS", "AT", "TYPE", "SAMPLE", "DRY_RUN"]);

/**
 * Refuses any ATTR= the command does not take, naming the ones it does, and words it would ignore:
 * a second positional word, or a name where the command takes none (`takesName: false`).
 */
export function checkAttrs(ctx: Ctx, allowed: readonly string[], opts: { takesName?: boolean } = {}): void {
  const what = `${ctx.args.verb} ${ctx.args.cls}`;
  if (ctx.args.words.length > 0) throw usageError("CBM_USAGE", `${what}: unexpected argument "${ctx.args.words[0]}"; arguments after the name are ATTR=value.`);
  if (opts.takesName === false && ctx.args.name !== undefined) {
    const hint = allowed.includes("RG_NAME") ? ` (for a resource group, RG_NAME=${ctx.args.name})` : "";
    throw usageError("CBM_USAGE", `${what} takes no name; given "${ctx.args.name}"${hint}.`);
  }
  for (const [k, v] of ctx.args.attrs) {
    if (v === "" && NEVER_EMPTY.has(k)) throw usageError("CBM_USAGE", `${what}: ${k}= is empty; give a value or leave ${k} out.`);
    if (!allowed.includes(k)) {
      // A bad attribute is a validation error (exit 3), as it is for add and modify.
      throw validationError("CBM_UNKNOWN_ATTRIBUTE", `${ctx.args.verb} ${ctx.args.cls} does not take ${k}. Allowed: ${allowed.join(", ")}.`);
    }
  }
}
