/**
 * From the configuration to what a job needs, pure: the profile's disks in order, the storage system,
 * where the repository lives and which key opens it. Every problem is a message naming the attribute.
 */
import { join } from "node:path";
import { type Config, type ConfigObject, effective, effectiveAttrs, findObject, splitList } from "../config/model.ts";
import { requireObject } from "../config/validate.ts";
import type { DiskRef } from "../storage/types.ts";
import { validationError } from "../util/errors.ts";
import type { ServerSideEncryption } from "../objectstore/types.ts";
import type { ObjectStoreSpec } from "../objectstore/open.ts";

export interface VgPlan {
  name: string;
  disks: DiskRef[];
}

/** Where the repository lives: the object store's own spec type, built from profile attributes. */
export type StoreSpec = ObjectStoreSpec;

export type KeySpec = { kind: "none" } | { kind: "keyFile"; path: string; create: boolean } | { kind: "passphraseEnv"; variable: string };

export interface ProfilePlan {
  rg: string;
  cluster: string;
  attrs: Record<string, string>;
  vgs: VgPlan[];
  storage?: ConfigObject;
  store: StoreSpec;
  key: KeySpec;
  sse?: ServerSideEncryption;
  compression: boolean;
}

export function diskOf(cfg: Config, pvName: string): DiskRef {
  const pv = requireObject(cfg, "physical_volume", pvName);
  const device = effective(cfg, pv, "DEVICE");
  if (!device) {
    throw validationError("CBM_NO_DEVICE", `physical_volume "${pvName}" has no DEVICE; set it with clmgr modify physical_volume ${pvName} DEVICE=/dev/...`);
  }
  return {
    name: pvName,
    device,
    size: Number(effective(cfg, pv, "SIZE") || 0),
    uuid: effective(cfg, pv, "UUID") || undefined,
    pvid: effective(cfg, pv, "PVID") || undefined,
  };
}

export function storeSpec(home: string, a: Record<string, string>): StoreSpec {
  const bucket = a.BUCKET_NAME;
  switch (a.CLOUD_SERVICE) {
    case "fs":
      return { kind: "fs", path: join(a.ENDPOINT || join(home, "repos"), bucket) };
    case "ibm":
      return {
        kind: "s3",
        bucket,
        region: a.REGION,
        endpoint: a.ENDPOINT || `https://s3.${a.REGION}.cloud-object-storage.appdomain.cloud`,
        ...creds(a),
      };
    case "s3":
      if (!a.ENDPOINT) {
        throw validationError("CBM_MISSING_ATTRIBUTE", `CLOUD_SERVICE=s3 needs ENDPOINT (the S3 endpoint URL, e.g. http://127.0.0.1:9000).`);
      }
      return { kind: "s3", bucket, region: a.REGION, endpoint: a.ENDPOINT, forcePathStyle: true, ...creds(a) };
    default:
      return { kind: "s3", bucket, region: a.REGION, endpoint: a.ENDPOINT || undefined, ...creds(a) };
  }
}

function creds(a: Record<string, string>) {
  return {
    profile: a.AWS_PROFILE || undefined,
    credentialsFile: a.CREDENTIALS_FILE || undefined,
    accessKeyEnv: a.ACCESS_KEY_ENV || undefined,
    secretKeyEnv: a.SECRET_KEY_ENV || undefined,
  };
}

/** REPO_KEY: auto (a key file under CBM_HOME/keys, made on first use), file:/path, env:VAR, none. */
export function keySpec(home: string, a: Record<string, string>): KeySpec {
  const k = a.REPO_KEY || "auto";
  if (k === "none") return { kind: "none" };
  if (k === "auto") {
    const safe = `${a.CLOUD_SERVICE}-${a.BUCKET_NAME}`.replace(/[^A-Za-z0-9_.-]/g, "_");
    return { kind: "keyFile", path: join(home, "keys", `${safe}.key`), create: true };
  }
  if (k.startsWith("file:")) return { kind: "keyFile", path: k.slice(5), create: false };
  return { kind: "passphraseEnv", variable: k.slice(4) };
}

export function sseOf(a: Record<string, string>): ServerSideEncryption | undefined {
  if (a.ENCRYPTION === "kms") return { mode: "kms", keyId: a.KMS_KEY_ID || undefined };
  if (a.ENCRYPTION === "aes") return { mode: "aes" };
  return undefined;
}

/**
 * The plan of a profile that keeps backups in object storage. Any other profile is refused here,
 * before a job is recorded or a notify method run: a command that was refused changed nothing.
 */
export function cloudPlan(home: string, cfg: Config, rg: string, what = "backups"): ProfilePlan {
  requireCloudProfile(cfg, rg, what);
  return planProfile(home, cfg, rg);
}

/** That a cloud backup_profile of this name exists (no more: the rest is the job's, and recorded). */
export function requireCloudProfile(cfg: Config, rg: string, what = "backups"): void {
  const method = effective(cfg, requireObject(cfg, "backup_profile", rg), "BACKUP_METHOD");
  if (method !== "cloud") {
    throw validationError(
      "CBM_NOT_CLOUD",
      `backup_profile "${rg}" has BACKUP_METHOD=${method}; ${what} in object storage need BACKUP_METHOD=cloud (remote_storage replicates continuously: clmgr start cluster).`,
    );
  }
}

export function planProfile(home: string, cfg: Config, rg: string): ProfilePlan {
  const prof = requireObject(cfg, "backup_profile", rg);
  const attrs = effectiveAttrs(cfg, prof);
  const cluster = cfg.objects.find((o) => o.cls === "cluster")?.name ?? "cluster";
  const vgs = splitList(attrs.VOLUME_GROUP).map((vg) => ({
    name: vg,
    disks: splitList(effective(cfg, requireObject(cfg, "volume_group", vg), "PHYSICAL_VOLUMES")).map((pv) => diskOf(cfg, pv)),
  }));
  const storageName = splitList(attrs.STORAGE_NAME)[0];
  return {
    rg,
    cluster,
    attrs,
    vgs,
    storage: storageName ? findObject(cfg, "storage_system", storageName) : undefined,
    store: storeSpec(home, attrs),
    key: keySpec(home, attrs),
    sse: sseOf(attrs),
    compression: attrs.COMPRESSION === "enable",
  };
}

/** The node this CBM_HOME runs as: $CBM_NODE, else the cluster's LOCAL_NODE, else its first node. */
export function localNode(cfg: Config, env: NodeJS.ProcessEnv = process.env): string {
  const cl = cfg.objects.find((o) => o.cls === "cluster");
  return env.CBM_NODE || (cl && effective(cfg, cl, "LOCAL_NODE")) || splitList(cl && effective(cfg, cl, "NODES"))[0] || "";
}
