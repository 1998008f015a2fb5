/**
 * Disaster-recovery and repository-maintenance commands:
 *
 *   clmgr prune backup_files [RG_NAME=RG] [DRY_RUN=yes] [KEEP_LAST=… KEEP_DAILY=… …] [repository attrs]
 *   clmgr export backup_files <name|id|latest|time> [DISK=] [VG=] [RG_NAME=] TARGET=s3://bucket/key.img|/path/file.img
 *   clmgr verify backup_profile RG [SAMPLE=pct]      rotating verify job (job history, notify)
 *   clmgr query repository [RG_NAME=] [repository attrs]   what a repository holds: clusters, RGs, backups
 *
 * Like query/restore/verify backup_files, the repository is found through the RG's profile, and the
 * attributes BUCKET_NAME, CLOUD_SERVICE, ENDPOINT, ACCESS_KEY_ENV, SECRET_KEY_ENV, REPO_KEY … given on
 * the command line override it, so all of these work from an empty CBM_HOME.
 */
import type { Config } from "../config/model.ts";
import { loadConfig } from "../config/store.ts";
import { storeSpec } from "../jobs/plan.ts";
import { pruneSettings, pruneText, pruneWith } from "../jobs/prune.ts";
import { openObjectStore } from "../objectstore/open.ts";
import { badText, runVerifyJob, type VerifyJobResult } from "../jobs/verify-job.ts";
import { exportDisk, readVerified, REPOSITORY_NAMES } from "../repo/index.ts";
import { CbmError, usageError, validationError } from "../util/errors.ts";
import { canonicalPath } from "../util/paths.ts";
import { objectName } from "./cmd-config.ts";
import { argAttr, checkAttrs, type Ctx } from "./context.ts";
import { interruptible } from "./interrupt.ts";
import { openRepoOf, REPO_ATTRS, resolveRepoAttrs } from "./repo-args.ts";
import { table, toJson } from "./output.ts";
import { humanBytes } from "../util/bytes.ts";
import { progressBar } from "./progress.ts";

const POLICY_ATTRS = ["KEEP_LAST", "KEEP_DAILY", "KEEP_WEEKLY", "KEEP_MONTHLY", "PRUNE_GRACE_HOURS", "OBJECT_LOCK_DAYS"];

const clusterName = (cfg: Config) => cfg.objects.find((o) => o.cls === "cluster")?.name;

export async function pruneBackupFiles(ctx: Ctx): Promise<void> {
  checkAttrs(ctx, ["RG_NAME", "DRY_RUN", ...POLICY_ATTRS, ...REPO_ATTRS], { takesName: false });
  const dry = argAttr(ctx, "DRY_RUN") ?? "no";
  if (dry !== "yes" && dry !== "no") throw validationError("CBM_BAD_VALUE", `Invalid value "${dry}" for attribute DRY_RUN: expected yes|no.`);
  const cfg = await loadConfig(ctx.home);
  const { rg, attrs } = resolveRepoAttrs(ctx, cfg, [...POLICY_ATTRS, ...REPO_ATTRS]);
  if (!rg) throw usageError("CBM_USAGE", `Usage: ${ctx.prog} prune backup_files RG_NAME=RG [DRY_RUN=yes]: retention applies to one resource group.`);
  const repo = await openRepoOf(ctx, attrs, rg);
  try {
    const s = pruneSettings(attrs);
    const cluster = argAttr(ctx, "BUCKET_NAME") ? undefined : clusterName(cfg);
    const report = await pruneWith(repo, cluster ?? "", rg, s, { dryRun: dry === "yes" });
    if (ctx.out.json) ctx.out.print(toJson(report));
    else ctx.out.print(pruneText(report));
  } finally {
    await repo.close();
  }
}

/** s3://bucket/key → { bucket, key }; anything else must be an absolute path. */
function parseTarget(t: string): { bucket: string; key: string } | string {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(t);
  if (m) return { bucket: m[1], key: m[2] };
  if (t.startsWith("s3://")) throw usageError("CBM_USAGE", `TARGET=${t}: give s3://bucket/key.img (a key is needed).`);
  if (!t.startsWith("/")) throw usageError("CBM_USAGE", `TARGET=${t}: give s3://bucket/key.img or an absolute path /path/file.img.`);
  return t;
}

/**
 * An export goes somewhere other than the repository it reads: never over its objects (an image
 * written as `config` would make every backup unreadable), and an s3:// target only from an S3
 * repository (from a directory repository it would quietly land in a local directory).
 */
function refuseIntoRepository(home: string, attrs: Record<string, string>, target: { bucket: string; key: string } | string, text: string): void {
  const refuse = (why: string) => validationError("CBM_BAD_TARGET", `TARGET=${text} ${why}. Nothing was written.`);
  if (attrs.CLOUD_SERVICE === "fs") {
    if (typeof target !== "string") throw refuse("is an S3 location, but the repository is a directory (CLOUD_SERVICE=fs): give a path, or export from an S3 repository");
    const spec = storeSpec(home, attrs);
    // Through symlinks too: compare real paths.
    const root = spec.kind === "fs" ? canonicalPath(spec.path) : "";
    const where = canonicalPath(target);
    if (root && (where === root || where.startsWith(`${root}/`))) throw refuse(`is inside the repository (${root})`);
    return;
  }
  if (typeof target === "string" || !attrs.BUCKET_NAME) return;
  const [bucket, ...rest] = attrs.BUCKET_NAME.split("/");
  const prefix = rest.filter(Boolean).join("/");
  if (target.bucket !== bucket) return;
  if (prefix && !target.key.startsWith(`${prefix}/`)) return;
  const first = (prefix ? target.key.slice(prefix.length + 1) : target.key).split("/")[0];
  if (REPOSITORY_NAMES.includes(first)) throw refuse(`would overwrite the repository's own objects (${first}) in s3://${attrs.BUCKET_NAME}`);
}

export async function exportBackupFiles(ctx: Ctx): Promise<void> {
  checkAttrs(ctx, ["RG_NAME", "DISK", "VG", "TARGET", "AT", ...REPO_ATTRS]);
  const ref = argAttr(ctx, "AT") ?? ctx.args.name;
  const targetText = argAttr(ctx, "TARGET");
  if (!ref || !targetText) {
    throw usageError("CBM_USAGE", `Usage: ${ctx.prog} export backup_files <name|id|latest> [RG_NAME=RG] [DISK=hdisk] TARGET=s3://bucket/key.img|/path/file.img`);
  }
  const target = parseTarget(targetText);
  const cfg = await loadConfig(ctx.home);
  const { rg, attrs } = resolveRepoAttrs(ctx, cfg, REPO_ATTRS);
  refuseIntoRepository(ctx.home, attrs, target, targetText);
  const repo = await openRepoOf(ctx, attrs, rg);
  try {
    const m = await repo.findBackup(ref, rg ? { rg } : undefined);
    const all = m.vgs.flatMap((vg) => vg.disks.map((d) => ({ vg: vg.name, d })));
    const diskName = argAttr(ctx, "DISK");
    const vgName = argAttr(ctx, "VG");
    const hits = all.filter((x) => (diskName ? x.d.name === diskName : x.d.fileName === ref) && (!vgName || x.vg === vgName));
    const pick = hits.length === 1 ? hits[0] : !diskName && all.length === 1 ? all[0] : undefined;
    if (!pick) {
      if (hits.length > 1) throw usageError("CBM_USAGE", `Disk ${diskName} is in several volume groups of backup ${m.id}: give VG=.`);
      if (diskName) throw new CbmError("CBM_DISK_NOT_FOUND", `Backup ${m.id} has no disk ${diskName} (it has ${all.map((x) => x.d.name).join(", ")}).`, "notfound");
      throw usageError("CBM_USAGE", `Backup ${m.id} holds ${all.map((x) => x.d.name).join(", ")}: give DISK= (one image per export).`);
    }
    const bar = progressBar(`export ${pick.d.name}`, !ctx.out.json && process.stderr.isTTY === true);
    const onProgress = (p: { bytesWritten: number; bytesTotal: number }) => bar.update(p.bytesWritten, p.bytesTotal);
    const dest = typeof target === "string" ? target : { store: openObjectStore(storeSpec(ctx.home, { ...attrs, BUCKET_NAME: target.bucket }), { env: ctx.env }), key: target.key };
    const summary = await interruptible(ctx, "export", (signal) => exportDisk(repo, m, pick.d, dest, { onProgress, signal }));
    bar.done();
    if (typeof target !== "string") summary.target = `s3://${target.bucket}/${target.key}`;
    if (ctx.out.json) return ctx.out.print(toJson(summary));
    ctx.out.print(
      `Exported ${summary.fileName} (${humanBytes(summary.size)}) of backup ${summary.backupId} to ${summary.target} in ${(summary.durationMs / 1000).toFixed(1)} s.\n` +
        `SHA-256 ${summary.sha256} (sha256sum of the image; every chunk and the image digest were checked).\n` +
        `Write it to a disk with: dd if=<image> of=/dev/<disk> bs=1M conv=fsync`,
    );
  } finally {
    await repo.close();
  }
}

export async function verifyProfileJob(ctx: Ctx): Promise<void> {
  checkAttrs(ctx, ["SAMPLE"]);
  const rg = objectName(ctx, true)!;
  const sampleText = argAttr(ctx, "SAMPLE");
  const sample = sampleText === undefined ? undefined : Number(sampleText);
  if (sample !== undefined && !(Number.isInteger(sample) && sample >= 1 && sample <= 100)) {
    throw validationError("CBM_BAD_VALUE", `Invalid value "${sampleText}" for attribute SAMPLE: expected a percentage from 1 to 100.`);
  }
  const cfg = await loadConfig(ctx.home);
  let res: VerifyJobResult;
  try {
    res = await runVerifyJob(ctx.home, cfg, rg, { sample, env: ctx.env, trigger: "manual" });
  } catch (e) {
    const r = (e as { result?: VerifyJobResult }).result;
    if (r) {
      if (ctx.out.json) ctx.out.print(toJson(r));
      else ctx.out.print(summaryText(r));
    }
    throw e;
  }
  if (ctx.out.json) ctx.out.print(toJson(res));
  else ctx.out.print(summaryText(res));
}

function summaryText(r: VerifyJobResult): string {
  const rep = r.report;
  const lines = [
    `Verify run ${r.run} of ${r.rg} (${r.sample} % per run): checked ${rep.chunksChecked} of ${rep.chunksReferenced} chunks (${humanBytes(rep.bytesChecked)}) ` +
      `of ${rep.backups.length} backup(s): ${rep.ok ? "all good" : `${rep.missing} missing, ${rep.corrupt} corrupt`}.` +
      (r.cycleComplete ? ` Cycle complete${r.verifiedMarked.length ? `; verified: ${r.verifiedMarked.join(", ")}` : ""}.` : ""),
    ...badText(rep).map((l) => `  ${l}`),
  ];
  return lines.join("\n");
}

export async function queryRepository(ctx: Ctx): Promise<void> {
  checkAttrs(ctx, ["RG_NAME", ...REPO_ATTRS], { takesName: false });
  const cfg = await loadConfig(ctx.home);
  const { rg, attrs } = resolveRepoAttrs(ctx, cfg, REPO_ATTRS);
  const repo = await openRepoOf(ctx, attrs, rg);
  try {
    const backups = await repo.listBackups();
    const verified = await readVerified(repo.store);
    const { chunks, bytes } = await repo.storedChunks();
    const groups = new Map<string, { cluster: string; rg: string; backups: number; first: string; last: string; lastId: string; verified: number; disks: Set<string> }>();
    for (const b of backups) {
      const k = `${b.cluster}\u0000${b.rg}`;
      const g = groups.get(k) ?? { cluster: b.cluster, rg: b.rg, backups: 0, first: b.time, last: b.time, lastId: b.id, verified: 0, disks: new Set<string>() };
      g.backups++;
      g.last = b.time;
      g.lastId = b.id;
      if (verified.has(b.id)) g.verified++;
      for (const vg of b.vgs) for (const d of vg.disks) g.disks.add(`${vg.name}/${d.name}`);
      groups.set(k, g);
    }
    const info = {
      location: repo.store.location,
      id: repo.config.id,
      encryption: repo.config.encryption,
      chunkSize: repo.config.chunkSize,
      backups: backups.length,
      chunks,
      bytesStored: bytes,
      groups: [...groups.values()].map((g) => ({ ...g, disks: [...g.disks] })),
    };
    if (ctx.out.json) return ctx.out.print(toJson(info));
    ctx.out.print(
      `Repository ${info.location} (id ${info.id}, ${info.encryption}, ${humanBytes(info.chunkSize)} chunks): ${info.backups} backup(s), ${chunks} chunk(s), ${humanBytes(bytes)} stored.`,
    );
    if (info.groups.length > 0) {
      ctx.out.print(table(["CLUSTER", "RG", "BACKUPS", "VERIFIED", "FIRST", "LAST", "DISKS"], info.groups.map((g) => [g.cluster, g.rg, g.backups, g.verified, g.first, g.last, g.disks.join(",")])));
    }
  } finally {
    await repo.close();
  }
}
