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
import { classHelp, generalHelp } from "./help.ts";
import { stdOut } from "./output.ts";
import { runLab } from "./cmd-lab.ts";
import { addStorageSystem, profileDecorator, setupBackupProfile, startBackupProfile } from "./cmd-storage.ts";
import { backupNow, queryBackupFiles, restoreBackupFiles, verifyBackupFiles } from "./cmd-backup.ts";
import { exportBackupFiles, pruneBackupFiles, queryRepository, verifyProfileJob } from "./cmd-dr.ts";
import { combineDecorators, daemonCommand, queryBackupJobs, scheduleDecorator, startStopCluster } from "./cmd-daemon.ts";

export async function main(argv: string[], opts: { argv0?: string } = {}): Promise<number> {
  const prog = basename(opts.argv0 ?? "clmgr");
  let json = argv.includes("-o") && argv[argv.indexOf("-o") + 1] === "json";
  try {
    const args = parseArgs(argv);
    json = args.json;
    const ctx: Ctx = { home: cbmHome(), prog, out: stdOut(args.json), args, env: process.env };
    await dispatch(ctx);
    return EXIT.ok;
  } catch (e) {
    const out = stdOut(json);
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
  if (cls === "backup_files") {
    if (verb === "query") return queryBackupFiles(ctx);
    if (verb === "restore") return restoreBackupFiles(ctx);
    if (verb === "verify") return verifyBackupFiles(ctx);
    if (verb === "prune") return pruneBackupFiles(ctx);
    if (verb === "export") return exportBackupFiles(ctx);
  }
  if (cls === "backup_profile" && verb === "verify") return verifyProfileJob(ctx);
  if (cls === "repository" && verb === "query") return queryRepository(ctx);
  if (verb === "add" && cls === "storage_system") return addStorageSystem(ctx);
  if (cls === "backup_profile" && verb === "setup") return setupBackupProfile(ctx);
  if (cls === "backup_profile" && verb === "start") return startBackupProfile(ctx);
  if (cls === "backup_profile" && verb === "query") return query(ctx, combineDecorators(profileDecorator(ctx), scheduleDecorator(ctx)));
  if (verb === "daemon") return daemonCommand(ctx);
  if (cls === "cluster" && (verb === "start" || verb === "stop")) return startStopCluster(ctx);
  if (cls === "backup_jobs" && verb === "query") return queryBackupJobs(ctx);
  switch (verb) {
    case "backup":
      return backupNow(ctx);
    case "version":
      ctx.out.print("cbm 0.1.0");
      return;
    case "lab":
      return runLab(ctx);
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
