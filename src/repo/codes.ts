/**
 * Stable error codes of the repository layer. Callers (CLI, jobs) branch on these, so they never
 * change meaning; add new ones instead.
 */
export const REPO = {
  /** init() on a store that already holds a repository (config exists). */
  exists: "CBM_REPO_EXISTS",
  /** open() on a store with no config. */
  missing: "CBM_REPO_NOT_FOUND",
  /** No key slot accepts the passphrase / key file. */
  badKey: "CBM_REPO_BAD_KEY",
  /** The repository is encrypted and no key was given, or a key was given for an unencrypted one. */
  keyRequired: "CBM_REPO_KEY_REQUIRED",
  /** A key file that is not 32 bytes raw or 64 hex digits, or cannot be read/written. */
  keyFile: "CBM_REPO_KEY_FILE",
  /** An object failed a format, checksum or authentication check. */
  corrupt: "CBM_REPO_CORRUPT",
  /** config / key slot / manifest of a version or kind this code does not know. */
  unsupported: "CBM_REPO_UNSUPPORTED",
  /** A chunk referenced by a manifest is not in the store. */
  chunkMissing: "CBM_REPO_CHUNK_MISSING",
  /** findBackup found nothing (unknown id, name, or a time before the first backup). */
  backupNotFound: "CBM_BACKUP_NOT_FOUND",
  /** A disk name that the backup does not contain. */
  diskNotFound: "CBM_DISK_NOT_FOUND",
  /** A reference that matches several backups (same file name twice). */
  ambiguous: "CBM_BACKUP_AMBIGUOUS",
  /** Bad backup/restore request: sizes, names, duplicate disks, chunk size. */
  badRequest: "CBM_REPO_BAD_REQUEST",
  /** A restore target smaller than the source disk, or of unknown size. */
  targetTooSmall: "CBM_RESTORE_TARGET_TOO_SMALL",
  /** A restore target file that another restore is writing. */
  targetBusy: "CBM_TARGET_BUSY",
  /** Reading a source disk or writing a target failed. */
  io: "CBM_REPO_IO",
  /** The operation was cancelled through its AbortSignal. */
  aborted: "CBM_ABORTED",
  /** A backup's lease could not be renewed in time: a prune may have run, so no manifest is written. */
  leaseLapsed: "CBM_LEASE_LAPSED",
} as const;
