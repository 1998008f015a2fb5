/**
 * Storage commands of the SVC path, as handlers the dispatcher calls:
 *   clmgr add storage_system NAME TYPE=SVC ADDRESSES=… [USER=] [SSH_KEY=] [CHECK=no]   addStorageSystem
 *   clmgr setup backup_profile RG [APPLY=yes]                                          setupBackupProfile
 *   clmgr start backup_profile RG [WAIT=yes] [TIMEOUT=seconds]                         startBackupProfile
 *   clmgr query backup_profile [RG]   (live REPLICATION_STATE/PROGRESS)                 query(ctx, profileDecorator(ctx))
 */
import { addObject } from "../config/edit.ts";
import { findObject, splitList } from "../config/model.ts";
import { loadConfig } from "../config/store.ts";
import { replicationStatus, startReplication, type ReplicationStatus } from "../jobs/replication.ts";
import { setupProfile } from "../jobs/setup.ts";
import { openSvc } from "../storage/svc/connect.ts";
import { fingerprint } from "../storage/svc/ssh.ts";
import { mappedTo } from "../storage/svc/discover.ts";
import { localNode } from "../jobs/plan.ts";
import { errorText, usageError } from "../util/errors.ts";
import { objectName, runConfigVerb } from "./cmd-config.ts";
import { argAttr, type Ctx } from "./context.ts";
import { toJson } from "./output.ts";

const yes = (v: string | undefined, def: boolean): boolean => (v === undefined ? def : /^(yes|true|1|y)$/i.test(v));

/** A copy of ctx without our own option attributes (they are not configuration attributes). */
function without(ctx: Ctx, keys: string[]): Ctx {
  return { ...ctx, args: { ...ctx.args, attrs: ctx.args.attrs.filter(([k]) => !keys.includes(k)) } };
}

export interface StorageCheck {
  systemName: string;
  systemId: string;
  codeLevel: string;
  address: string;
  hostKeyFingerprint: string;
  host: string;
  volumes: Array<{ name: string; uid: string; capacity: number; hdisk?: string }>;
}

/**
 * add storage_system: for TYPE=SVC, the connection is checked BEFORE anything is written, so a
 * storage that cannot be reached never lands in the configuration; CHECK=no adds an offline storage.
 * The host key seen during the check is pinned in HOST_KEY.
 */
export async function addStorageSystem(ctx: Ctx): Promise<void> {
  const check = yes(argAttr(ctx, "CHECK"), true);
  const plain = without(ctx, ["CHECK"]);
  const type = argAttr(ctx, "TYPE") ?? "";
  if (!check || type.toUpperCase() !== "SVC") return runConfigVerb(plain);
  const name = objectName(ctx, true)!;
  const cfg = await loadConfig(ctx.home);
  // Validate the attributes exactly as the add will, on a scratch copy, before connecting.
  const scratch = addObject(structuredClone(cfg), "storage_system", name, plain.args.attrs.filter(([k]) => k !== "NAME"));
  const obj = findObject(scratch, "storage_system", name)!;
  const opened = await openSvc(ctx.home, scratch, obj, { recordHostKey: false });
  let found: StorageCheck;
  try {
    const sys = await opened.client.lssystem();
    const host = localNode(cfg, ctx.env);
    const view = { vdisks: await opened.client.lsvdisks(), maps: await opened.client.lshostvdiskmap() };
    const pvs = cfg.objects.filter((o) => o.cls === "physical_volume");
    found = {
      systemName: sys.name,
      systemId: sys.id,
      codeLevel: sys.codeLevel,
      address: opened.address,
      hostKeyFingerprint: fingerprint(opened.hostKey),
      host,
      volumes: (host ? mappedTo(view, host) : []).map((v) => ({
        name: v.name,
        uid: v.uid,
        capacity: v.capacity,
        hdisk: pvs.find((p) => (p.attrs.UUID ?? "").toUpperCase() === v.uid)?.name,
      })),
    };
  } finally {
    opened.client.close();
  }
  const captured: string[] = [];
  const pin: Record<string, string> = obj.attrs.HOST_KEY ? {} : { HOST_KEY: opened.hostKey };
  await runConfigVerb({ ...plain, out: { ...plain.out, print: (t) => void captured.push(t) } }, () => pin);
  if (ctx.out.json) {
    ctx.out.print(toJson({ added: { class: "storage_system", name }, storage: found }));
    return;
  }
  const vols = found.volumes.map((v) => `  ${v.name.padEnd(12)} ${v.uid}  ${v.capacity} bytes${v.hdisk ? `  = ${v.hdisk}` : ""}`);
  ctx.out.print(
    [
      `Connected to ${found.systemName} (id ${found.systemId}, code level ${found.codeLevel || "?"}) at ${found.address}.`,
      `Host key ${found.hostKeyFingerprint} pinned in HOST_KEY.`,
      found.host
        ? `${found.volumes.length} volume(s) mapped to host ${found.host}:${vols.length ? `\n${vols.join("\n")}` : ""}`
        : `No local node is configured, so volumes mapped to it were not listed.`,
      ...captured.map((t) => t.trimEnd()),
    ].join("\n"),
  );
}

function needProfile(ctx: Ctx): string {
  if (ctx.args.cls !== "backup_profile") {
    throw usageError("CBM_USAGE", `${ctx.args.verb} applies to backup_profile: ${ctx.prog} ${ctx.args.verb} backup_profile RG ...`);
  }
  return objectName(ctx, true)!;
}

/** clmgr setup backup_profile RG [APPLY=yes]: dry run by default. */
export async function setupBackupProfile(ctx: Ctx): Promise<void> {
  const rg = needProfile(ctx);
  const apply = yes(argAttr(ctx, "APPLY"), false);
  const cfg = await loadConfig(ctx.home);
  const r = await setupProfile(ctx.home, cfg, rg, { apply, env: ctx.env });
  if (ctx.out.json) {
    ctx.out.print(toJson({ rg, method: r.method, applied: r.applied, commands: r.steps.map((s) => ({ storage: s.storage, command: s.command.text, why: s.why })), present: r.present }));
    return;
  }
  const lines: string[] = [];
  if (r.present.length > 0) lines.push("Already in place:", ...r.present.map((p) => `  ${p}`));
  if (r.steps.length === 0) lines.push(`Nothing to do: the storage is already set up for backup_profile ${rg}.`);
  else {
    lines.push(apply ? "Ran:" : "Would run (dry run; add APPLY=yes to run):");
    for (const s of r.steps) lines.push(`  ${s.storage}: ${s.command.text}`, `      # ${s.why}`);
  }
  ctx.out.print(lines.join("\n"));
}

const statusLine = (s: ReplicationStatus) =>
  `${s.group}: ${s.state}${s.progress !== undefined ? ` ${s.progress}%` : ""}${s.relationships.length ? ` (${s.relationships.map((r) => `${r.master}→${r.aux} ${r.state}${r.progress ? ` ${r.progress}%` : ""}`).join(", ")})` : ""}`;

/** clmgr start backup_profile RG [WAIT=yes] [TIMEOUT=seconds]: start (creating if needed) the replication. */
export async function startBackupProfile(ctx: Ctx): Promise<void> {
  const rg = needProfile(ctx);
  const wait = yes(argAttr(ctx, "WAIT"), false);
  const timeout = Number(argAttr(ctx, "TIMEOUT") ?? 600);
  if (!Number.isFinite(timeout) || timeout <= 0) throw usageError("CBM_USAGE", `TIMEOUT must be a number of seconds; given "${argAttr(ctx, "TIMEOUT")}".`);
  const cfg = await loadConfig(ctx.home);
  let last = "";
  const st = await startReplication(ctx.home, cfg, rg, {
    wait,
    timeoutMs: timeout * 1000,
    env: ctx.env,
    onInfo: (m) => (ctx.out.json ? ctx.out.err(m) : ctx.out.print(m)),
    onProgress: (s) => {
      const line = statusLine(s);
      if (line !== last && !ctx.out.json) ctx.out.print(line);
      last = line;
    },
  });
  if (ctx.out.json) ctx.out.print(toJson(st));
  else if (!wait) ctx.out.print(`${statusLine(st)}\nFollow it with: ${ctx.prog} query backup_profile ${rg}  (or start again with WAIT=yes)`);
  else ctx.out.print(`backup_profile ${rg}: ${st.group} is consistent_synchronized.`);
}

/** Live fields for `query backup_profile`: replication state and progress of remote_storage profiles. */
export function profileDecorator(ctx: Ctx): (attrs: Record<string, string>) => Promise<Record<string, string>> {
  return async (a): Promise<Record<string, string>> => {
    if (a.BACKUP_METHOD !== "remote_storage" || splitList(a.STORAGE_NAME).length < 2) return {};
    try {
      const s = await replicationStatus(ctx.home, await loadConfig(ctx.home), a.NAME);
      return {
        REPLICATION_STATE: s.state,
        REPLICATION_PROGRESS: s.progress === undefined ? "" : String(s.progress),
        ...(s.uncovered.length > 0 ? { REPLICATION_UNCOVERED: s.uncovered.join(",") } : {}),
      };
    } catch (e) {
      return { REPLICATION_STATE: "unknown", REPLICATION_ERROR: errorText(e) };
    }
  };
}
