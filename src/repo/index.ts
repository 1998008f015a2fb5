/** Public API of the repository layer (see docs/format.md and repository.ts). */
export { Repository, backupInfo, REPOSITORY_NAMES, type BackupInfo } from "./repository.ts";
export type { BackupOptions, BackupSummary, BackupProgress, BackupMeta, BackupVgInput, BackupDiskInput, BackupDiskSummary } from "./backup.ts";
export type { RestoreOptions, RestoreSummary, RestoreProgress, RestoreDiskSummary } from "./restore.ts";
export type { VerifyOptions, VerifyReport, BadChunk, ChunkUse } from "./verify.ts";
export type { BackupRef, BackupScope } from "./catalog.ts";
export type { Credential, EncryptionSpec, InitOptions, RepoConfig, ScryptParams } from "./keys.ts";
export { createKeyFile } from "./keys.ts";
export type { Manifest, ManifestDisk, ManifestVg } from "./manifest.ts";
export { backupFileName, parseBackupFileName, formatIsoMicros, parseTime } from "./names.ts";
export { REPO } from "./codes.ts";
export { DEFAULT_CHUNK_SIZE } from "./chunk.ts";
export { applyRetention, policyActive, type RetentionPolicy, type RetentionDecision, type RetentionItem, type KeepReason } from "./retention.ts";
export { prune, readVerified, markVerified, type PruneOptions, type PruneReport } from "./prune.ts";
export { exportDisk, type ExportOptions, type ExportSummary } from "./export.ts";
