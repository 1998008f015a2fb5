/** The object-store layer's public surface: import from here rather than from the modules. */
export type { ObjectInfo, ObjectStore, PutOptions, ServerSideEncryption } from "./types.ts";
export type { Body } from "./body.ts";
export { OBJ, ObjectStoreError, isTransient } from "./errors.ts";
export { FsObjectStore } from "./fs.ts";
export { S3ObjectStore, type S3ObjectDetails, type S3StoreOptions } from "./s3.ts";
export { DEFAULT_RETRY, retrying, withRetry, type RetryPolicy } from "./retry.ts";
export { openObjectStore, type ObjectStoreSpec, type OpenOptions } from "./open.ts";
