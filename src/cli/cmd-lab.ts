import { stat } from "node:fs/promises";
/** cbm lab up|down|status|demo: the paper's topology on this machine (simulated SVC storage + S3). */
import { labDown, labStatusJson, labUp, readLabState, type LabState } from "../lab/lab.ts";
import { runDemo } from "../lab/demo.ts";
import { usageError } from "../util/errors.ts";
import { argAttr, type Ctx } from "./context.ts";
import { table, toJson } from "./output.ts";


function statusText(st: LabState): string {
  return [
    `Lab in ${st.home} (since ${st.createdAt})`,
    "",
    "Storage (SSH, key login):",
    table(
      ["name", "system", "address", "user", "key", "pid"],
      st.storage.map((s) => [s.name, s.systemName, s.address, s.user, s.keyPath, s.pid]),
    ),
    `  e.g. ssh -p ${st.storage[0].port} -i ${st.keyPath} ${st.storage[0].user}@127.0.0.1 lshostvdiskmap`,
    `  add them as in the paper: clmgr add storage_system ${st.storage[0].name} TYPE=SVC ADDRESSES=127.0.0.1 USER=admin BACKUP_PROFILE=true`,
    "",
    `S3: ${st.s3.endpoint}  access key ${st.s3.accessKeyId}  secret ${st.s3.secretAccessKey}  bucket ${st.s3.bucket}  (pid ${st.s3.pid})`,
    `  credentials file ${st.s3.credentialsFile}, profile ${st.s3.profile}; backup_profile defaults point here`,
    "",
    "Disks (physical_volume = volume):",
    table(["hdisk", "volume", "storage", "UID", "device"], st.disks.map((d) => [d.hdisk, d.vdisk, d.storage, d.uid, d.path])),
  ].join("\n");
}

export async function runLab(ctx: Ctx): Promise<void> {
  const sub = ctx.args.cls ?? "status";
  switch (sub) {
    case "up": {
      const mib = argAttr(ctx, "DISK_MIB");
      const st = await labUp(ctx.home, { diskMiB: mib ? Number(mib) : undefined });
      ctx.out.print(ctx.out.json ? toJson(labStatusJson(st)) : `Lab is up.\n\n${statusText(st)}`);
      return;
    }
    case "down": {
      // Cluster services started on the lab would poll storage that is about to vanish; ones that
      // ran before it (for the site's own profiles) are left alone.
      const { pidPath, runningPid, stopDaemon } = await import("../daemon/daemon.ts");
      const lab = await readLabState(ctx.home);
      const pid = lab ? runningPid(ctx.home) : undefined;
      const since = pid !== undefined ? (await stat(pidPath(ctx.home)).catch(() => undefined))?.mtimeMs : undefined;
      const onLab = lab !== undefined && since !== undefined && since >= Date.parse(lab.createdAt);
      const daemon = onLab ? await stopDaemon(ctx.home) : undefined;
      const st = await labDown(ctx.home);
      if (daemon !== undefined) ctx.out.print(`Cluster services (pid ${daemon}) stopped.`);
      else if (pid !== undefined) ctx.out.print(`Cluster services (pid ${pid}) keep running: they were started before the lab.`);
      ctx.out.print(st ? `Lab stopped and removed from ${ctx.home}.` : `No lab in ${ctx.home}.`);
      return;
    }
    case "status": {
      const st = await readLabState(ctx.home);
      if (ctx.out.json) return ctx.out.print(toJson(st ? labStatusJson(st) : { up: false, home: ctx.home }));
      ctx.out.print(st ? statusText(st) : `No lab in ${ctx.home}. Start one: cbm lab up`);
      return;
    }
    case "demo": {
      const keep = /^(yes|true|1)$/i.test(argAttr(ctx, "KEEP") ?? "no");
      const mib = argAttr(ctx, "DISK_MIB");
      return runDemo(ctx, { keep, diskMiB: mib ? Number(mib) : undefined });
    }
    default:
      throw usageError("CBM_USAGE", `Unknown lab action "${sub}". Use: cbm lab up|down|status|demo [KEEP=yes] [DISK_MIB=n].`);
  }
}
