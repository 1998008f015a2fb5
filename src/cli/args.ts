/**
 * clmgr grammar, pure: `clmgr [-o json] <verb> <class> [NAME] [ATTR=value ...] [-h]`.
 * Attribute names are case-insensitive; list values are comma-separated and a space after a comma
 * continues the list (the paper's `STORAGE_NAME=storage1, storage2`).
 */
import { usageError } from "../util/errors.ts";
import { didYouMean } from "../util/suggest.ts";

export interface ParsedArgs {
  verb: string;
  cls?: string;
  name?: string;
  /** Upper-cased attribute name → raw value, in the order given. */
  attrs: Array<[string, string]>;
  json: boolean;
  help: boolean;
  /** Positional words after the class that are neither NAME nor ATTR=value (sub-commands like `lab up`). */
  words: string[];
}

const VERB_ALIASES: Record<string, string> = {
  add: "add", a: "add", create: "add", mk: "add", make: "add",
  modify: "modify", mod: "modify", change: "modify", set: "modify", ch: "modify",
  query: "query", q: "query", ls: "query", list: "query", get: "query", show: "query",
  delete: "delete", del: "delete", rm: "delete", remove: "delete",
  start: "start", stop: "stop", online: "online", offline: "offline",
  backup: "backup", restore: "restore", verify: "verify", export: "export", prune: "prune",
  help: "help", lab: "lab", daemon: "daemon", smit: "smit", smitty: "smit", version: "version", setup: "setup",
};
export const VERBS = [...new Set(Object.values(VERB_ALIASES))];

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { verb: "", attrs: [], json: false, help: false, words: [] };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") out.help = true;
    else if (a === "--json") out.json = true;
    else if (a === "-o" || a === "--output") {
      const v = argv[++i];
      if (v !== "json" && v !== "text") throw usageError("CBM_USAGE", `-o takes json or text; given "${v ?? ""}".`);
      out.json = v === "json";
    } else if ((a.startsWith("-o") && a.length > 2) || a.startsWith("--output=")) {
      const v = a.startsWith("--") ? a.slice("--output=".length) : a.slice(2);
      if (v !== "json" && v !== "text") throw usageError("CBM_USAGE", `-o takes json or text; given "${v}".`);
      out.json = v === "json";
    } else if (a.startsWith("-") && a.length > 1) {
      throw usageError("CBM_USAGE", `Unknown option "${a}". Options: -o json|text (or --output=, --json), -h (--help).`);
    } else rest.push(a);
  }
  if (rest.length === 0) {
    out.verb = "help";
    return out;
  }
  const verbWord = rest[0].toLowerCase();
  const verb = VERB_ALIASES[verbWord];
  if (!verb) {
    throw usageError(
      "CBM_UNKNOWN_VERB",
      `Unknown action "${rest[0]}". Actions: ${VERBS.join(", ")}.${didYouMean(rest[0], Object.keys(VERB_ALIASES))}`,
    );
  }
  out.verb = verb;
  let lastAttr: [string, string] | undefined;
  for (const tok of rest.slice(1)) {
    const eq = tok.indexOf("=");
    if (eq > 0 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(tok.slice(0, eq))) {
      lastAttr = [tok.slice(0, eq).toUpperCase(), tok.slice(eq + 1)];
      const dup = out.attrs.find(([k]) => k === lastAttr![0]);
      if (dup) throw usageError("CBM_USAGE", `Attribute ${lastAttr[0]} is given twice.`);
      out.attrs.push(lastAttr);
    } else if (lastAttr && (lastAttr[1].trimEnd().endsWith(",") || tok.startsWith(","))) {
      // "STORAGE_NAME=storage1, storage2": the shell split the list at the space after the comma.
      lastAttr[1] = `${lastAttr[1]}${tok}`;
    } else if (lastAttr) {
      throw usageError(
        "CBM_USAGE",
        `Unexpected argument "${tok}" after ${lastAttr[0]}=${lastAttr[1]}: arguments after the object name are ATTR=value.`,
      );
    } else if (out.cls === undefined) {
      out.cls = tok.toLowerCase();
    } else if (out.name === undefined) {
      out.name = tok;
    } else {
      out.words.push(tok);
    }
  }
  return out;
}
