/**
 * Cluster services commands:
 *   cbm daemon                                  the daemon in the foreground (systemd: contrib/cbm.service)
 *   clmgr start cluster | clmgr stop cluster    the daemon detached / stopped
 *   clmgr query backup_jobs [RG_NAME=RG] [-o json]   the job history
 *   clmgr query backup_profile RG               + NEXT_FULL, NEXT_INCREMENTAL, LAST_BACKUP (scheduleDecorator)
 */
import { effectiveAttrs, findObject } from "../config/model.ts";
import { loadConfig } from "../config/store.ts";
import { formatLocal, clockFromEnv } from "../daemon/clock.ts";
import { runDaemon, runningPid, startDetached, stopDaemon } from "../daemon/daemon.ts";
import { scheduleFor } from "../daemon/scheduler.ts";
import { existsSync } from "node:fs";
import { BACKUP_TYPES, JobHistory, jobsDbPath, type JobRow } from "../jobs/history.ts";
import { notFound, validationError } from "../util/errors.ts";
import { argAttr, checkAttrs, type Ctx } from "./context.ts";
import { table, toJson } from "./output.ts";
import { humanBytes } from "../util/bytes.ts";

export async function daemonCommand(ctx: Ctx): Promise<void> {
  await runDaemon(ctx.home, ctx.env, { stderr: ctx.env.CBM_DAEMON_DETACHED !== "1" });
}

export async function startStopCluster(ctx: Ctx): Promise<void> {
  if (ctx.args.verb === "start") {
    const pid = await startDetached(ctx.home, ctx.env);
    ctx.out.print(ctx.out.json ? toJson({ started: { pid } }) : `Cluster services started (pid ${pid}). Log: ${ctx.home}/logs/cbm.log`);
    return;
  }
  const pid = await stopDaemon(ctx.home);
  if (ctx.out.json) ctx.out.print(toJson({ stopped: pid === undefined ? null : { pid } }));
  else ctx.out.print(pid === undefined ? "Cluster services are not running." : `Cluster services stopped (pid ${pid}).`);
}

const fmt = (t: number | null) => (t === null ? "" : formatLocal(t));

export async function queryBackupJobs(ctx: Ctx): Promise<void> {
  checkAttrs(ctx, ["RG_NAME", "LIMIT"]);
  const rg = argAttr(ctx, "RG_NAME") ?? ctx.args.name;
  const limitText = argAttr(ctx, "LIMIT") ?? "0";
  if (!/^\d+$/.test(limitText) || !Number.isSafeInteger(Number(limitText))) throw validationError("CBM_BAD_VALUE", `Invalid value "${limitText}" for attribute LIMIT: expected a whole number of rows (0: all).`);
  const limit = Number(limitText);
  // A home where nothing ever ran has no history: nothing to list, and no database to create.
  const hist = existsSync(jobsDbPath(ctx.home)) ? JobHistory.open(ctx.home) : undefined;
  let rows: JobRow[] = [];
  try {
    if (rg !== undefined && !findObject(await loadConfig(ctx.home), "backup_profile", rg) && !hist?.profiles().includes(rg)) {
      throw notFound("CBM_NOT_FOUND", `No backup_profile or job history named "${rg}" (RG_NAME).`);
    }
    rows = hist?.list({ profile: rg, newest: limit > 0 ? limit : undefined }) ?? [];
  } finally {
    hist?.close();
  }
  if (ctx.out.json) {
    ctx.out.print(toJson(rows.map((r) => ({ ...r, startTime: fmt(r.start), endTime: fmt(r.end) }))));
    return;
  }
  if (rows.length === 0) return;
  ctx.out.print(
    table(
      ["ID", "RG", "TYPE", "TRIGGER", "START", "END", "RESULT", "READ", "STORED", "BACKUP_ID", "ERROR"],
      rows.map((r) => [r.id, r.profile, r.type, r.trigger, fmt(r.start), fmt(r.end), r.result, humanBytes(r.bytesRead), humanBytes(r.bytesStored), r.backupId, r.error]),
    ),
  );
}

type Decorator = (attrs: Record<string, string>) => Promise<Record<string, string>>;

/** NEXT_FULL / NEXT_INCREMENTAL / LAST_BACKUP of a cloud profile, from the job history. */
export function scheduleDecorator(ctx: Ctx): Decorator {
  return async (a): Promise<Record<string, string>> => {
    if (a.BACKUP_METHOD !== "cloud") return {};
    const cfg = await loadConfig(ctx.home);
    const prof = findObject(cfg, "backup_profile", a.NAME);
    if (!prof) return {};
    const attrs = effectiveAttrs(cfg, prof);
    const hist = JobHistory.open(ctx.home);
    try {
      const now = clockFromEnv(ctx.env).now();
      const last = hist.last(a.NAME, { type: BACKUP_TYPES, result: "success" });
      const enabled = attrs.ENABLE_BACKUP === "yes";
      const d = enabled ? scheduleFor(hist, a.NAME, attrs, now) : undefined;
      return {
        NEXT_FULL: d ? formatLocal(d.due === "full" ? now : d.nextFull) : "",
        NEXT_INCREMENTAL: d?.nextIncremental !== undefined ? formatLocal(d.due === "incremental" ? now : d.nextIncremental) : "",
        LAST_BACKUP: last ? `${formatLocal(last.start)} ${last.type} ${last.backupId}` : "",
        CLUSTER_SERVICES: runningPid(ctx.home) !== undefined ? "running" : "stopped",
      };
    } finally {
      hist.close();
    }
  };
}

/** Several decorators, merged in order. */
export const combineDecorators =
  (...ds: Decorator[]): Decorator =>
  async (a) =>
    Object.assign({}, ...(await Promise.all(ds.map((d) => d(a)))));
