/**
 * Errors of the object-store layer. Every backend throws ObjectStoreError (a CbmError), so callers
 * see one set of codes whatever the backend, and the retry wrapper can tell a transient failure
 * (worth another attempt) from a permanent one without knowing which backend produced it.
 */
import { CbmError, type ErrorKind } from "../util/errors.ts";

/** Stable codes; documented here because callers branch on them. */
export const OBJ = {
  /** get() of a key that does not exist. */
  notFound: "CBM_OBJ_NOT_FOUND",
  /** put(ifNoneMatch) of a key that already exists. */
  exists: "CBM_OBJ_EXISTS",
  /** A key or prefix that cannot map to a file or object (.., empty segment, absolute path). */
  badKey: "CBM_OBJ_KEY",
  /** A range starting at or past the end of the object. */
  range: "CBM_OBJ_RANGE",
  /** The server refused our credentials or permissions. */
  denied: "CBM_OBJ_DENIED",
  /** The server could not use the KMS key asked for (unknown key id, or no KMS configured). */
  kms: "CBM_OBJ_KMS",
  /** The bucket does not exist. */
  noBucket: "CBM_OBJ_NO_BUCKET",
  /** Anything else the backend reported (I/O error, S3 error, network). */
  io: "CBM_OBJ_IO",
} as const;

export interface ObjectStoreErrorDetails {
  /** True when the same request may succeed if repeated (5xx, throttling, connection reset, timeout). */
  transient?: boolean;
  /** HTTP status, when the backend is HTTP. */
  status?: number;
  /** The backend's own error name: an S3 error code (NoSuchKey, SlowDown) or an errno code (ENOSPC). */
  backendCode?: string;
  cause?: unknown;
}

export class ObjectStoreError extends CbmError {
  readonly transient: boolean;
  readonly status: number | undefined;
  readonly backendCode: string | undefined;
  constructor(code: string, message: string, kind: ErrorKind, details: ObjectStoreErrorDetails = {}) {
    super(code, message, kind, { cause: details.cause });
    this.name = "ObjectStoreError";
    this.transient = details.transient ?? false;
    this.status = details.status;
    this.backendCode = details.backendCode;
  }
}

export function notFoundError(location: string, key: string, cause?: unknown): ObjectStoreError {
  return new ObjectStoreError(OBJ.notFound, `object not found: ${key} in ${location}`, "notfound", {
    cause,
    backendCode: "NoSuchKey",
    status: 404,
  });
}

export function existsError(location: string, key: string, cause?: unknown): ObjectStoreError {
  return new ObjectStoreError(
    OBJ.exists,
    `object already exists: ${key} in ${location} (written with create-only semantics)`,
    "runtime",
    { cause, status: 412 },
  );
}

export function rangeError(
  location: string,
  key: string,
  range: { offset: number; length: number },
  size?: number,
): ObjectStoreError {
  const sz = size === undefined ? "" : ` of ${size} bytes`;
  return new ObjectStoreError(
    OBJ.range,
    `range offset=${range.offset} length=${range.length} starts at or past the end of ${key}${sz} in ${location}`,
    "validation",
    { status: 416, backendCode: "InvalidRange" },
  );
}

/** errno codes of a connection that broke or stalled: repeating the request may well work. */
const TRANSIENT_ERRNO = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** Reads an errno-like `code` from any thrown value, looking through `cause` chains. */
export function errnoCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    if (typeof cur !== "object") return undefined;
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string" && !code.startsWith("CBM_")) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A network-level failure (no HTTP answer, or the connection broke mid-answer). */
export function isTransientNetworkError(e: unknown): boolean {
  const code = errnoCode(e);
  if (code && TRANSIENT_ERRNO.has(code)) return true;
  const msg = e instanceof Error ? e.message : "";
  return /socket hang up|network socket disconnected|timed? ?out|premature close|aborted/i.test(msg);
}

/** Whether a failure from any backend is worth retrying. */
export function isTransient(e: unknown): boolean {
  if (e instanceof ObjectStoreError) return e.transient;
  if (e instanceof CbmError) return false;
  return isTransientNetworkError(e);
}
