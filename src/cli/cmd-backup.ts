/**
 * Backup operations: `backup backup_profile`, `query|restore|verify backup_files`.
 * The repository is found through the resource group's profile; the same attributes given on the
 * command line override it, so a machine with no profile (the day the site is gone) can still list
 * and restore: clmgr query backup_files BUCKET_NAME=pha-bucket CLOUD_SERVICE=s3 ENDPOINT=… REPO_KEY=file:/…
 */
import { stat } from "node:fs/promises";
import { type Config, effectiveAttrs, findObject } from "../config/model.ts";
import { loadConfig } from "../config/store.ts";
import { requireObject } from "../config/validate.ts";
import { runBackupJob } from "../jobs/backup.ts";
import { recordJob } from "../jobs/history.ts";
import { interruptible } from "./interrupt.ts";
import { diskOf, requireCloudProfile } from "../jobs/plan.ts";
import { refuseOnlineDisks } from "../jobs/restore-guard.ts";
import { REPO, type BackupInfo, type Repository } from "../repo/index.ts";
import { CbmError, integrityError, usageError, validationError } from "../util/errors.ts";
import { objectName } from "./cmd-config.ts";
import { argAttr, checkAttrs, type Ctx } from "./context.ts";
import { openRepoOf, REPO_ATTRS, resolveRepoAttrs } from "./repo-args.ts";
import { table, toJson } from "./output.ts";
import { humanBytes } from "../util/bytes.ts";
import { progressBar } from "./progress.ts";

/**
 * The repository of RG_NAME (or of the command-line attributes); none when no cloud profile is
 * configured. Where the profile's repository does not exist yet (no backup has run), a listing
 * (`emptyOk`) is empty with a note; otherwise, and always when the location was given on the command
 * line (the disaster-recovery path, where a typo must not read as "no backups"), it is an error.
 */
async function openRepoFor(ctx: Ctx, cfg: Config, opts: { emptyOk?: boolean } = {}): Promise<{ rg?: string; repo?: Repository }> {
  const { rg, attrs } = resolveRepoAttrs(ctx, cfg);
  if (!attrs.BUCKET_NAME) {
    if (rg && !findObject(cfg, "backup_profile", rg) && !findObject(cfg, "resource_group", rg)) {
      requireObject(cfg, "backup_profile", rg);
    }
    // No cloud repository configured: nothing stored through this profile — said, so that an empty
    // listing never reads as "the backups are gone".
    if (opts.emptyOk) {
      const prof = rg ? findObject(cfg, "backup_profile", rg) : undefined;
      const why = !rg ? "no RG_NAME given" : !prof ? `resource group ${rg} has no backup_profile` : `backup_profile ${rg} has BACKUP_METHOD=${effectiveAttrs(cfg, prof).BACKUP_METHOD}`;
      ctx.out.err(`No backup repository to list (${why}); to list one, give BUCKET_NAME= with CLOUD_SERVICE= and ENDPOINT=.`);
    }
    return { rg };
  }
  const given = REPO_ATTRS.filter((k) => argAttr(ctx, k) !== undefined);
  const repo = await openRepoOf(ctx, attrs, rg).catch((e: unknown) => {
    if (!(e instanceof CbmError && e.code === REPO.missing)) throw e;
    if (opts.emptyOk && given.length === 0) {
      ctx.out.err(`No backups yet: ${e.message}.`);
      return undefined;
    }
    const from = given.length > 0 ? `check ${given.join(", ")}` : `the backup profile${rg ? ` of ${rg}` : ""} has not run a backup yet`;
    throw new CbmError(REPO.missing, `${e.message}: ${from}.`, "notfound");
  });
  return { rg, repo };
}

export async function backupNow(ctx: Ctx): Promise<void> {
  if (ctx.args.cls !== "backup_profile") {
    throw usageError("CBM_USAGE", `Usage: ${ctx.prog} backup backup_profile RG [TYPE=full|incremental]`);
  }
  checkAttrs(ctx, ["TYPE", "NAME"]);
  const rg = objectName(ctx, true)!;
  const type = argAttr(ctx, "TYPE") ?? "full";
  if (type !== "full" && type !== "incremental") {
    throw validationError("CBM_BAD_VALUE", `Invalid value "${type}" for attribute TYPE: expected full|incremental.`);
  }
  const cfg = await loadConfig(ctx.home);
  requireCloudProfile(cfg, rg); // an unknown or non-cloud profile is refused before a job is recorded
  const bar = progressBar(`backup ${rg}`, !ctx.out.json && process.stderr.isTTY === true);
  const res = await interruptible(ctx, "backup", (signal) =>
    recordJob(ctx.home, { profile: rg, type, trigger: "manual", cfg, env: ctx.env }, () =>
      runBackupJob(ctx.home, cfg, rg, {
        type,
        env: ctx.env,
        signal,
        onInfo: (m) => ctx.out.err(m),
        onProgress: (p) => bar.update(p.bytesRead, p.bytesTotal, `stored ${humanBytes(p.bytesStored)}`),
      }),
    ),
  );
  bar.done();
  if (ctx.out.json) {
    ctx.out.print(toJson(res));
    return;
  }
  ctx.out.print(
    `Backup ${res.id} (${res.type}) of ${rg} to ${res.location}\n` +
      res.fileNames.map((n) => `  ${n}`).join("\n") +
      `\nRead ${humanBytes(res.bytesRead)}, stored ${humanBytes(res.bytesStored)} new ` +
      `(${res.chunksNew} of ${res.chunksTotal} chunks new, ${res.chunksZero} zero) in ${(res.durationMs / 1000).toFixed(1)} s.`,
  );
}

export async function queryBackupFiles(ctx: Ctx): Promise<void> {
  checkAttrs(ctx, ["RG_NAME", ...REPO_ATTRS], { takesName: false });
  const cfg = await loadConfig(ctx.home);
  const { rg, repo } = await openRepoFor(ctx, cfg, { emptyOk: true });
  const backups: BackupInfo[] = repo ? await repo.listBackups(rg ? { rg } : undefined).finally(() => repo.close()) : [];
  const rows = backups.flatMap((b) =>
    b.vgs.flatMap((vg) => vg.disks.map((d) => ({ name: d.fileName, id: b.id, type: b.type, time: b.time, cluster: b.cluster, rg: b.rg, vg: vg.name, disk: d.name, size: d.size, stored: d.bytesStored }))),
  );
  if (ctx.out.json) return ctx.out.print(toJson(rows));
  if (rows.length === 0) return;
  ctx.out.print(table(["NAME", "ID", "TYPE", "SIZE", "STORED"], rows.map((r) => [r.name, r.id, r.type, humanBytes(r.size), humanBytes(r.stored)])));
}

/** TARGET=path for one disk, or TARGETS=disk:target,… for several (a target without "/" is a physical_volume). */
function restoreTargets(ctx: Ctx, cfg: Config): Record<string, string> | string {
  const one = argAttr(ctx, "TARGET");
  const many = argAttr(ctx, "TARGETS");
  if (one && many) throw usageError("CBM_USAGE", "Give TARGET= (one disk) or TARGETS= (several), not both.");
  const resolve = (t: string) => {
    if (t.startsWith("/")) return t;
    if (!findObject(cfg, "physical_volume", t)) {
      throw validationError("CBM_BAD_VALUE", `Restore target "${t}" is neither an absolute path nor a defined physical_volume.`);
    }
    return diskOf(cfg, t).device;
  };
  if (one) return resolve(one);
  if (!many) throw usageError("CBM_USAGE", `restore needs TARGET=/dev/... (one disk) or TARGETS=hdisk18:hdisk21,hdisk19:/dev/sdy (a volume group).`);
  const map: Record<string, string> = {};
  for (const pair of many.split(",").map((s) => s.trim()).filter(Boolean)) {
    const i = pair.indexOf(":");
    if (i <= 0) throw usageError("CBM_USAGE", `TARGETS entry "${pair}" is not disk:target.`);
    const disk = pair.slice(0, i);
    if (Object.hasOwn(map, disk)) throw usageError("CBM_USAGE", `TARGETS names disk ${disk} twice; give one target per disk.`);
    map[disk] = resolve(pair.slice(i + 1));
  }
  return map;
}

export async function restoreBackupFiles(ctx: Ctx): Promise<void> {
  checkAttrs(ctx, ["RG_NAME", "DISK", "VG", "TARGET", "TARGETS", "AT", ...REPO_ATTRS]);
  const ref = argAttr(ctx, "AT") ?? ctx.args.name;
  if (!ref) throw usageError("CBM_USAGE", `Usage: ${ctx.prog} restore backup_files <name|id|latest> [RG_NAME=RG] [DISK=hdisk] TARGET=... (or AT=time)`);
  const cfg = await loadConfig(ctx.home);
  const targets = restoreTargets(ctx, cfg);
  await refuseOnlineDisks(cfg, typeof targets === "string" ? [targets] : Object.values(targets), ctx.env, (m) => ctx.out.err(m));
  const { rg, repo } = await openRepoFor(ctx, cfg);
  if (!repo) throw validationError("CBM_NO_REPOSITORY", `No backup repository is configured${rg ? ` for ${rg}` : ""}; give RG_NAME= or BUCKET_NAME=.`);
  const bar = progressBar("restore", !ctx.out.json && process.stderr.isTTY === true);
  const onProgress = (p: { bytesWritten: number; bytesTotal: number }) => bar.update(p.bytesWritten, p.bytesTotal);
  const scope = rg ? { rg } : undefined;
  try {
    let summary;
    if (typeof targets === "string") {
      const m = await repo.findBackup(ref, scope);
      let disk = argAttr(ctx, "DISK");
      if (!disk) {
        const byName = m.vgs.flatMap((vg) => vg.disks).find((d) => d.fileName === ref);
        const all = m.vgs.flatMap((vg) => vg.disks);
        if (byName) disk = byName.name;
        else if (all.length === 1) disk = all[0].name;
        else throw usageError("CBM_USAGE", `Backup ${m.id} holds ${all.map((d) => d.name).join(", ")}: give DISK=, or TARGETS= for all.`);
      }
      summary = await interruptible(ctx, "restore", (signal) => repo.restoreDisk(m.id, disk, targets, { onProgress, growFiles: false, signal }));
    } else {
      const m = await repo.findBackup(ref, scope);
      const vg = argAttr(ctx, "VG") ?? (m.vgs.length === 1 ? m.vgs[0].name : undefined);
      if (!vg) throw usageError("CBM_USAGE", `Backup ${m.id} holds several volume groups; give VG=.`);
      summary = await interruptible(ctx, "restore", (signal) => repo.restoreVg(m.id, vg, targets, { onProgress, growFiles: false, signal }));
    }
    bar.done();
    // A larger image file keeps its bytes past the disk's end (it may be a bigger disk): said, since
    // the file as a whole is then not the backed-up image.
    for (const d of summary.disks) {
      const st = await stat(d.target).catch(() => undefined);
      if (st?.isFile() && st.size > d.size) {
        ctx.out.err(`Note: ${d.target} has ${st.size} bytes, more than disk ${d.disk} (${d.size}); the bytes after ${d.size} are as they were. For an exact image: truncate -s ${d.size} ${d.target}`);
      }
    }
    if (ctx.out.json) return ctx.out.print(toJson(summary));
    ctx.out.print(
      summary.disks.map((d) => `Restored ${d.fileName} (${humanBytes(d.size)}) to ${d.target}`).join("\n") +
        `\nBackup ${summary.backupId}: ${humanBytes(summary.bytesWritten)} in ${(summary.durationMs / 1000).toFixed(1)} s; every chunk and each image digest verified.`,
    );
  } finally {
    await repo.close();
  }
}

export async function verifyBackupFiles(ctx: Ctx): Promise<void> {
  checkAttrs(ctx, ["RG_NAME", "SAMPLE", ...REPO_ATTRS]);
  const ref = ctx.args.name ?? "all";
  const sample = argAttr(ctx, "SAMPLE");
  if (sample !== undefined && !(Number(sample) > 0 && Number(sample) <= 100)) {
    throw validationError("CBM_BAD_VALUE", `Invalid value "${sample}" for attribute SAMPLE: expected a percentage from 1 to 100.`);
  }
  const cfg = await loadConfig(ctx.home);
  const { rg, repo } = await openRepoFor(ctx, cfg);
  if (!repo) throw validationError("CBM_NO_REPOSITORY", `No backup repository is configured${rg ? ` for ${rg}` : ""}.`);
  try {
    const report = await interruptible(ctx, "verify", (signal) => repo.verify(ref === "all" ? "all" : ref, { sample: sample ? Number(sample) : undefined, scope: rg ? { rg } : undefined, signal }));
    if (ctx.out.json) ctx.out.print(toJson(report));
    else {
      ctx.out.print(
        `Checked ${report.chunksChecked} of ${report.chunksReferenced} chunks (${humanBytes(report.bytesChecked)}) of ${report.backups.length} backup(s): ` +
          (report.ok ? "all good." : `${report.missing} missing, ${report.corrupt} corrupt${report.unreadable.length ? `, ${report.unreadable.length} unreadable manifest(s)` : ""}.`),
      );
      for (const u of report.unreadable) ctx.out.print(`  unreadable manifest of backup ${u.id}: ${u.message} — its chunks were not checked`);
      for (const b of report.bad) {
        const uses = b.usedBy.map((u) => `${u.fileName} at offset ${u.offset}`).join("; ");
        ctx.out.print(`  ${b.problem} chunk ${b.id}: ${b.message} — needed by ${uses}`);
      }
      if (report.bad.length > 0) {
        ctx.out.print("The next backup stores each of these chunks again where its disk still holds the data (corrupt ones are marked damaged/<id> for it); verify again afterwards.");
      }
    }
    if (!report.ok) {
      const manifests = report.unreadable.length ? ` and ${report.unreadable.length} unreadable manifest(s)` : "";
      throw integrityError("CBM_VERIFY_FAILED", `Verification found ${report.missing} missing and ${report.corrupt} corrupt chunk(s)${manifests}; see the list above.`);
    }
  } finally {
    await repo.close();
  }
}
