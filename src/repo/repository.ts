/**
 * Repository: the engine API used by the CLI and the jobs. One object per open repository; it holds
 * the config, the subkeys, and a worker pool started on first use (call close() when done; idle
 * workers never keep the process alive anyway).
 *
 *   const repo = await Repository.init(store, { encryption: { passphrase } });
 *   const repo = await Repository.open(store, { passphrase });
 *   await repo.backup({ type: "full", meta, vgs, compression: true });
 *   await repo.restoreDisk("latest", "hdisk18", "/dev/sdx");
 *
 * Nothing here assumes the store is a local filesystem: all repository I/O goes through ObjectStore.
 * Only the disks being backed up or restored are local files or block devices.
 */
import type { ObjectStore } from "../objectstore/types.ts";
import { CbmError } from "../util/errors.ts";
import { runBackup, type BackupOptions, type BackupSummary } from "./backup.ts";
import { classifyRef, findDisk, inScope, listBackupIds, pickBackup, readManifest, readManifests, type BackupRef, type BackupScope } from "./catalog.ts";
import { REPO } from "./codes.ts";
import type { Engine } from "./engine.ts";
import { addKeySlot, initRepo, KEYS_PREFIX, openRepo, writesPacks, type Credential, type InitOptions, type OpenedRepo, type RepoConfig, type ScryptParams } from "./keys.ts";
import { MANIFESTS_PREFIX, manifestKey, type Manifest } from "./manifest.ts";
import { LEASES_PREFIX, SWEEPS_PREFIX } from "./lease.ts";
import { PRUNE_PREFIX, VERIFIED_PREFIX } from "./prune.ts";
import { DAMAGED_PREFIX } from "./damaged.ts";
import { backupIdTime } from "./names.ts";
import { WORKER_NICE, WorkerPool } from "./pool.ts";
import { runRestore, type RestoreJob, type RestoreOptions, type RestoreSummary } from "./restore.ts";
import { runVerify, type VerifyOptions, type VerifyReport } from "./verify.ts";
import { decodeChunk } from "./chunk.ts";
import { ChunkIndex, ChunkReader, CHUNKS_PREFIX, fetchChunk } from "./chunkindex.ts";
import { PACKS_PREFIX, type ChunkLocation } from "./pack.ts";

export interface BackupInfo {
  id: string;
  time: string;
  type: "full" | "incremental";
  cluster: string;
  rg: string;
  node: string;
  consistencyGroup: string | null;
  parent: string | null;
  /** Encoded bytes of the chunk objects this backup uploaded. */
  bytesStored: number;
  size: number;
  vgs: {
    name: string;
    disks: { name: string; uuid: string | null; pvid: string | null; fileName: string; size: number; sha256: string; bytesStored: number }[];
  }[];
}

export function backupInfo(m: Manifest): BackupInfo {
  return {
    id: m.id,
    time: m.time,
    type: m.type,
    cluster: m.cluster,
    rg: m.rg,
    node: m.node,
    consistencyGroup: m.consistencyGroup,
    parent: m.parent,
    bytesStored: m.stats.bytesNew,
    size: m.vgs.reduce((s, vg) => s + vg.disks.reduce((t, d) => t + d.size, 0), 0),
    vgs: m.vgs.map((vg) => ({
      name: vg.name,
      disks: vg.disks.map((d) => ({ name: d.name, uuid: d.uuid, pvid: d.pvid, fileName: d.fileName, size: d.size, sha256: d.sha256, bytesStored: d.stats.bytesNew })),
    })),
  };
}

/** Top-level names of a repository's objects (docs/format.md §1): nothing else may be written there. */
export const REPOSITORY_NAMES: readonly string[] = ["config", ...[KEYS_PREFIX, PACKS_PREFIX, CHUNKS_PREFIX, MANIFESTS_PREFIX, LEASES_PREFIX, SWEEPS_PREFIX, PRUNE_PREFIX, VERIFIED_PREFIX, DAMAGED_PREFIX].map((p) => p.replace(/\/$/, ""))];

/** How an opened repository runs its work. */
export interface RunOptions {
  /** Nice value of the worker threads (default WORKER_NICE); 0 leaves them at the caller's. */
  workerNice?: number;
}

export class Repository {
  private workers: WorkerPool | undefined;
  private readonly engine: Engine;

  private constructor(
    readonly store: ObjectStore,
    private readonly opened: OpenedRepo,
    /** Told about manifests a listing or lookup had to leave out (see allManifests). */
    private readonly warn: (message: string) => void = () => undefined,
    workerNice: number = WORKER_NICE,
  ) {
    this.engine = {
      store,
      config: opened.config,
      keys: opened.keys,
      pool: () => (this.workers ??= new WorkerPool({ idKey: opened.keys.idKey, chunkKey: opened.keys.chunkKey, chunkDigest: opened.keys.chunkDigest, nice: workerNice })),
    };
  }

  /**
   * Creates a repository in an empty store. encryption: { passphrase } (scrypt), { keyFile } (created
   * 0600 when missing, used when present), { keyBytes }, or "none". Throws CBM_REPO_EXISTS when the
   * store already holds one.
   */
  static async init(store: ObjectStore, o: InitOptions & RunOptions): Promise<Repository> {
    return new Repository(store, await initRepo(store, o), undefined, o.workerNice);
  }

  /**
   * Opens a repository. Omit the key (or pass "none") for an unencrypted one. A wrong passphrase or
   * key file throws CBM_REPO_BAD_KEY (kind validation) and writes nothing.
   */
  static async open(store: ObjectStore, key?: Credential | "none", o: RunOptions & { onWarning?: (message: string) => void } = {}): Promise<Repository> {
    return new Repository(store, await openRepo(store, key), o.onWarning, o.workerNice);
  }

  get config(): RepoConfig {
    return this.opened.config;
  }

  get encrypted(): boolean {
    return this.opened.config.encryption !== "none";
  }

  /** Adds a key slot (another passphrase or key file). Returns the slot id. */
  addKey(cred: Credential, opts: { scrypt?: ScryptParams; label?: string } = {}): Promise<string> {
    return addKeySlot(this.store, this.opened, cred, opts);
  }

  /** Backs up the disks of the given VGs; the manifest is written last. See BackupOptions. */
  backup(o: BackupOptions): Promise<BackupSummary> {
    return runBackup(this.engine, o);
  }

  /** Reads one manifest by backup id. */
  manifest(id: string): Promise<Manifest> {
    return readManifest(this.store, id, this.opened.keys.manifestKey);
  }

  /** Every manifest, oldest first; one that cannot be read is an error (prune, retention). */
  private async allManifests(): Promise<Manifest[]> {
    return readManifests(this.store, await listBackupIds(this.store), this.opened.keys.manifestKey);
  }

  /**
   * Every readable manifest, oldest first, and the backups whose manifest cannot be read (left out,
   * so the others stay listable and restorable; `warn`: with a warning naming each). One deleted
   * since the listing (a prune) is simply gone, not damage, and is not among them.
   */
  private async readableManifests(warn: boolean): Promise<{ manifests: Manifest[]; unreadable: Array<{ id: string; message: string }> }> {
    const unreadable: Array<{ id: string; message: string }> = [];
    const manifests = await readManifests(this.store, await listBackupIds(this.store), this.opened.keys.manifestKey, (id, e) => {
      if (warn) this.warn(`Warning: backup ${id} left out, its manifest cannot be read: ${e.message}`);
      if (e.kind !== "notfound") unreadable.push({ id, message: e.message });
    });
    return { manifests, unreadable };
  }

  /** Every backup (optionally of one cluster/RG), oldest first. */
  async listBackups(scope?: BackupScope): Promise<BackupInfo[]> {
    return (await this.readableManifests(true)).manifests.filter((m) => inScope(m, scope)).map(backupInfo);
  }

  /**
   * Finds a backup by id, by per-disk backup file name, by "latest", or by time (a Date, an ISO time,
   * or the paper's 2020-11-23_05:35:00.315851: the newest backup at or before it). Throws
   * CBM_BACKUP_NOT_FOUND (kind notfound) with the reason, e.g. a time before the first backup.
   */
  async findBackup(ref: BackupRef, scope?: BackupScope): Promise<Manifest> {
    const kind = classifyRef(ref);
    if (kind.kind === "id") return pickBackup([await this.manifest(kind.id)], kind, scope);
    const { manifests, unreadable } = await this.readableManifests(true);
    const m = pickBackup(manifests, kind, scope);
    // "latest" or "at this time" must not quietly become an older backup because the one meant
    // cannot be read: the operator names the older one if that is what they want.
    if (kind.kind === "latest" || kind.kind === "time") {
      const skipped = unreadable.filter((u) => u.id > m.id && (kind.kind === "latest" || (backupIdTime(u.id) ?? Infinity) <= kind.time));
      if (skipped.length > 0) {
        // An unreadable manifest's resource group cannot be told: with a scope it may be another's.
        const whose = scope?.rg || scope?.cluster ? " (or another resource group's: its manifest cannot tell)" : "";
        throw new CbmError(
          REPO.corrupt,
          `the backup that ${kind.kind === "latest" ? "is the latest" : "matches that time"} may be ${skipped.at(-1)!.id}${whose}, whose manifest cannot be read (${skipped.at(-1)!.message}); ` +
            `to restore an older one, name it (clmgr query backup_files lists them: ${m.id} is the newest readable)`,
          "integrity",
        );
      }
    }
    return m;
  }

  private diskJob(m: Manifest, diskName: string, target: string): RestoreJob {
    const found = findDisk(m, diskName);
    if (!found) {
      const have = m.vgs.flatMap((vg) => vg.disks.map((d) => `${vg.name}/${d.name}`)).join(", ");
      throw new CbmError(REPO.diskNotFound, `backup ${m.id} has no disk ${diskName} (it has ${have})`, "notfound");
    }
    return { vg: found.vg, disk: found.disk, target };
  }

  /**
   * Restores one disk of a backup to a file or block device. diskName is the disk's name (hdisk18),
   * "VG/disk", or its backup file name. The target is checked before anything is written: a block
   * device smaller than the disk is refused (CBM_RESTORE_TARGET_TOO_SMALL); a file is created or
   * extended. Corrupt chunks fail with CbmError kind "integrity" naming the disk and byte offset.
   */
  async restoreDisk(backupRef: BackupRef, diskName: string, targetPath: string, o: RestoreOptions & { scope?: BackupScope } = {}): Promise<RestoreSummary> {
    const m = await this.findBackup(backupRef, o.scope);
    return runRestore(this.engine, m, [this.diskJob(m, diskName, targetPath)], o);
  }

  /**
   * Restores several disks of one VG (or of the backup: disk names may be "VG/disk") in one run;
   * mapping is disk name → target path. Every target is checked before the first write.
   */
  async restoreVg(backupRef: BackupRef, vgName: string, mapping: Record<string, string>, o: RestoreOptions & { scope?: BackupScope } = {}): Promise<RestoreSummary> {
    const m = await this.findBackup(backupRef, o.scope);
    const vg = m.vgs.find((v) => v.name === vgName);
    if (!vg) throw new CbmError(REPO.diskNotFound, `backup ${m.id} has no volume group ${vgName} (it has ${m.vgs.map((v) => v.name).join(", ")})`, "notfound");
    const jobs = Object.entries(mapping).map(([disk, target]) => this.diskJob(m, disk.includes("/") ? disk : `${vgName}/${disk}`, target));
    const unmapped = vg.disks.filter((d) => !jobs.some((j) => j.disk === d)).map((d) => d.name);
    if (unmapped.length > 0) {
      throw new CbmError(REPO.badRequest, `no restore target given for disk(s) ${unmapped.join(", ")} of ${vgName}: map every disk of the volume group`, "validation");
    }
    return runRestore(this.engine, m, jobs, o);
  }

  /** Checks that the chunks of one backup (or "all") are present and intact; see VerifyReport. */
  async verify(backupRef: BackupRef | "all", o: VerifyOptions & { scope?: BackupScope } = {}): Promise<VerifyReport> {
    if (backupRef !== "all") return runVerify(this.engine, [await this.findBackup(backupRef, o.scope)], o);
    // An unreadable manifest is a finding (whatever its scope: it cannot be told) and the others
    // are still checked.
    const { manifests, unreadable } = await this.readableManifests(false);
    return runVerify(this.engine, manifests.filter((m) => inScope(m, o.scope)), o, unreadable);
  }

  /** Deletes a backup's manifest (its chunks stay until prune). Unknown id → CBM_BACKUP_NOT_FOUND. */
  async deleteBackup(id: string): Promise<void> {
    const m = await this.manifest(id);
    await this.store.delete(manifestKey(m.id));
  }

  /** Every manifest (optionally of one cluster/RG), oldest first — for retention, prune and verify jobs. */
  async manifests(scope?: BackupScope): Promise<Manifest[]> {
    return (await this.allManifests()).filter((m) => inScope(m, scope));
  }

  /** Backup ids present now, oldest first (a listing, no downloads). */
  backupIds(): Promise<string[]> {
    return listBackupIds(this.store);
  }

  /**
   * Verifies exactly the chunks these manifests reference (callers may null out entries to restrict
   * the set: a rotating verify job checks one slice per run). See runVerify.
   */
  verifyManifests(manifests: Manifest[], o: VerifyOptions = {}): Promise<VerifyReport> {
    return runVerify(this.engine, manifests, o);
  }

  /** What the repository stores: distinct chunks, chunk and pack objects and their bytes, incomplete packs. */
  async storedChunks(): Promise<{ chunks: number; objects: number; bytes: number; incomplete: number }> {
    const idx = await ChunkIndex.fromListing(this.store);
    return { chunks: idx.size, objects: idx.objects, bytes: idx.bytes, incomplete: idx.incomplete };
  }

  /** Reads chunks wherever they are: one listing of packs/ and chunks/ (format §5.1), again on a miss. */
  chunkReader(): Promise<ChunkReader> {
    return ChunkReader.open(this.store, writesPacks(this.opened.config));
  }

  /** Downloads and decodes one chunk with every check (export, tools). Errors name `context`. */
  async readChunk(chunks: ChunkReader, id: string, context?: string): Promise<Buffer> {
    const got = await chunks.fetch(id);
    if (!got) throw new CbmError(REPO.chunkMissing, `${chunks.missing(id)}${context ? ` (${context})` : ""}`, "integrity");
    return decodeChunk(new Uint8Array(got.object), id, this.opened.keys, { context: `${context ? `${context}, ` : ""}in ${got.key}` });
  }

  /** The sealed object at `loc` of chunk `id`, after every check of its contents (prune copies checked objects only). */
  async checkedChunkObject(loc: ChunkLocation, id: string, context?: string): Promise<Uint8Array> {
    const ab = await fetchChunk(this.store, loc);
    if (!ab) throw new CbmError(REPO.chunkMissing, `chunk ${id}${context ? ` (${context})` : ""} is missing from ${this.store.location}`, "integrity");
    const object = new Uint8Array(ab);
    decodeChunk(object, id, this.opened.keys, { context });
    return object;
  }

  /** Stops the worker threads. The object stays usable: they restart on the next operation. */
  async close(): Promise<void> {
    const w = this.workers;
    this.workers = undefined;
    await w?.close();
  }
}
