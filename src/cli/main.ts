/**
 * Entry point of `clmgr` / `cbm`: parse, dispatch, and turn errors into a message and an exit code.
 * Never a stack trace for a known error; unexpected ones print one line and exit 1 (CBM_DEBUG=1 for more).
 */
import { basename } from "node:path";
import { classDef } from "../config/classes.ts";
import { cbmHome } from "../config/store.ts";
import { CbmError, EXIT, usageError } from "../util/errors.ts";
import { parseArgs } from "./args.ts";
import { onlineOffline, query, runConfigVerb } from "./cmd-config.ts";
import type { Ctx } from "./context.ts";
import { classHelp, commandHelp, generalHelp } from "./help.ts";
import { stdOut } from "./output.ts";

// Command modules load on demand: each start of clmgr then pays only for what its command uses (the
// SSH stack, the lab and the daemon stay unloaded for a backup or a restore).
const backupCmds = () => import("./cmd-backup.ts");
const drCmds = () => import("./cmd-dr.ts");
const storageCmds = () => import("./cmd-storage.ts");
const daemonCmds = () => import("./cmd-daemon.ts");

export async function main(argv: string[], opts: { argv0?: string } = {}): Promise<number> {
  // A file size limit (ulimit -f) met by a write must surface as EFBIG on that write, as Node
  // arranges by ignoring SIGXFSZ. signal-exit (loaded with proper-lockfile) re-raises that signal
  // when only its own listener is registered, killing the process mid-write; ours keeps it from it.
  process.on("SIGXFSZ", () => undefined);
  // `clmgr query … | head` closes the pipe early: the reader has what it wanted, not an error.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(EXIT.ok);
    throw e;
  });
  const prog = basename(opts.argv0 ?? "clmgr");
  let json = argv.includes("-o") && argv[argv.indexOf("-o") + 1] === "json";
  try {
    const args = parseArgs(argv);
    json = args.json;
    const ctx: Ctx = { home: cbmHome(), prog, out: stdOut(args.json), args, env: process.env };
    await dispatch(ctx);
    return EXIT.ok;
  } catch (caught) {
    const out = stdOut(json);
    const e = fromEnvironment(caught);
    if (e instanceof CbmError) {
      if (json) out.err(JSON.stringify({ error: { code: e.code, message: e.message } }));
      else out.err(`${prog}: ERROR: ${e.message} [${e.code}]`);
      return e.exitCode;
    }
    out.err(`${prog}: internal error: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.CBM_DEBUG && e instanceof Error) out.err(e.stack ?? "");
    return EXIT.internal;
  }
}

/**
 * The machine refusing something (a permission, a missing directory, a read-only or full disk,
 * SQLite's own errors) is a runtime failure (exit 4) with the system's message, not a bug (exit 1).
 */
function fromEnvironment(e: unknown): unknown {
  if (!(e instanceof Error) || e instanceof CbmError) return e;
  const code = (e as { code?: unknown }).code;
  // SQLite: only what the machine causes (a read-only, full, locked or damaged file); SQLITE_ERROR is ours.
  const sqlite = e.name === "SqliteError" && typeof code === "string" && /^SQLITE_(READONLY|CANTOPEN|FULL|IOERR|BUSY|LOCKED|PERM|NOTADB|CORRUPT)/.test(code);
  const system = typeof code === "string" && ("syscall" in e || sqlite);
  return system ? new CbmError(code, e.message, "runtime", { cause: e }) : e;
}

async function dispatch(ctx: Ctx): Promise<void> {
  const { verb, cls, help } = ctx.args;
  if (verb === "smit") return (await import("./cmd-smit.ts")).runSmit(ctx);
  if (verb === "help" || (help && !cls)) {
    const c = verb === "help" && cls ? classDef(cls) : undefined;
    ctx.out.print(c ? classHelp(ctx.prog, "add", c) : generalHelp(ctx.prog));
    return;
  }
  if (help && cls && classDef(cls)) {
    ctx.out.print(classHelp(ctx.prog, verb, classDef(cls)!));
    return;
  }
  // -h asks, it never runs the command (a prune with -h used to forget backups).
  if (help) {
    ctx.out.print(commandHelp(ctx.prog, verb, cls));
    return;
  }
  if (cls === "backup_files") {
    if (verb === "query") return (await backupCmds()).queryBackupFiles(ctx);
    if (verb === "restore") return (await backupCmds()).restoreBackupFiles(ctx);
    if (verb === "verify") return (await backupCmds()).verifyBackupFiles(ctx);
    if (verb === "prune") return (await drCmds()).pruneBackupFiles(ctx);
    if (verb === "export") return (await drCmds()).exportBackupFiles(ctx);
  }
  if (cls === "backup_profile" && verb === "verify") return (await drCmds()).verifyProfileJob(ctx);
  if (cls === "repository" && verb === "query") return (await drCmds()).queryRepository(ctx);
  if (verb === "add" && cls === "storage_system") return (await storageCmds()).addStorageSystem(ctx);
  if (cls === "backup_profile" && verb === "setup") return (await storageCmds()).setupBackupProfile(ctx);
  if (cls === "backup_profile" && verb === "start") return (await storageCmds()).startBackupProfile(ctx);
  if (cls === "backup_profile" && verb === "query") {
    const [{ profileDecorator }, { combineDecorators, scheduleDecorator }] = await Promise.all([storageCmds(), daemonCmds()]);
    return query(ctx, combineDecorators(profileDecorator(ctx), scheduleDecorator(ctx)));
  }
  if (verb === "daemon") return (await daemonCmds()).daemonCommand(ctx);
  if (cls === "cluster" && (verb === "start" || verb === "stop")) return (await daemonCmds()).startStopCluster(ctx);
  if (cls === "backup_jobs" && verb === "query") return (await daemonCmds()).queryBackupJobs(ctx);
  switch (verb) {
    case "backup":
      return (await backupCmds()).backupNow(ctx);
    case "version":
      ctx.out.print("cbm 0.1.0");
      return;
    case "lab":
      return (await import("./cmd-lab.ts")).runLab(ctx);
    case "online":
    case "offline":
      return onlineOffline(ctx);
    case "add":
    case "modify":
    case "query":
    case "delete":
      return runConfigVerb(ctx); // an unknown class gets "Unknown object class … Did you mean"
  }
  if (!cls) throw usageError("CBM_USAGE", `${verb} needs a class: ${ctx.prog} ${verb} <class> ... (see ${ctx.prog} help)`);
  throw usageError("CBM_USAGE", `"${verb} ${cls}" is not a known command. See ${ctx.prog} help.`);
}
