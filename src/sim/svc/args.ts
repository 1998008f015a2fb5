/**
 * Flag parsing with a per-command table (SVC-CLI.md §4, §5.2): each flag takes no argument or one;
 * an unknown flag gives CMMVC5709E; a bare token is the object argument (id or name).
 */
import { svcErr, unsupportedFlag } from "./errors.ts";

export type FlagKind = "none" | "one";

export interface ArgSpec {
  flags: Readonly<Record<string, FlagKind>>;
  /** whether the command takes an object id/name argument */
  obj: "none" | "optional" | "required";
  /** flags that must be present (CMMVC5707E otherwise) */
  required?: readonly string[];
}

export interface ParsedArgs {
  flags: ReadonlyMap<string, string | true>;
  obj?: string;
}

export function parseArgs(tokens: readonly string[], spec: ArgSpec): ParsedArgs {
  const flags = new Map<string, string | true>();
  let obj: string | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.startsWith("-") && t.length > 1) {
      const kind = spec.flags[t];
      if (kind === undefined) throw unsupportedFlag(t);
      if (kind === "one") {
        if (i + 1 >= tokens.length) {
          throw svcErr("CMMVC5708E", `The [${t}] parameter is missing its associated arguments.`);
        }
        flags.set(t, tokens[++i]);
      } else {
        flags.set(t, true);
      }
    } else {
      if (spec.obj === "none" || obj !== undefined) throw svcErr("CMMVC5706E");
      obj = t;
    }
  }
  for (const r of spec.required ?? []) if (!flags.has(r)) throw svcErr("CMMVC5707E");
  if (spec.obj === "required" && obj === undefined) throw svcErr("CMMVC5701E");
  return { flags, obj };
}

/** The string value of a one-argument flag, if given. */
export function flagStr(a: ParsedArgs, name: string): string | undefined {
  const v = a.flags.get(name);
  return typeof v === "string" ? v : undefined;
}

export function flagOn(a: ParsedArgs, name: string): boolean {
  return a.flags.has(name);
}

/** A decimal integer flag value within [min, max]; CMMVC5706E otherwise. */
export function flagInt(a: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const v = flagStr(a, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw svcErr("CMMVC5706E");
  const n = Number(v);
  if (n < min || n > max) throw svcErr("CMMVC5706E");
  return n;
}

/** The common flags of every `ls` command. */
export const LS_FLAGS: Readonly<Record<string, FlagKind>> = {
  "-delim": "one",
  "-nohdr": "none",
  "-filtervalue": "one",
  "-filtervalue?": "none",
  "-bytes": "none",
};
