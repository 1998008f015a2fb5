/**
 * Maps AWS SDK v3 failures to ObjectStoreError: one stable code per situation a caller handles,
 * a message that names the operation, bucket, key, S3 error code and HTTP status, and a transient
 * flag for the retry policy. SDK errors carry no secrets in their messages; we add none either.
 */
import { errorMessage } from "../util/errors.ts";
import {
  OBJ,
  ObjectStoreError,
  errnoCode,
  existsError,
  isTransientNetworkError,
  notFoundError,
  rangeError,
} from "./errors.ts";

/** What we read from an SDK error: S3ServiceException's name, $metadata and the errno of network errors. */
interface SdkErrorShape {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

/** S3 codes that mean "ask again later", whatever the status (RequestTimeout is a 400). */
const TRANSIENT_CODES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalError",
  "ServiceUnavailable",
  "ConditionalRequestConflict", // 409 from a conditional write racing another: AWS says retry
  "TimeoutError", // the SDK's own request timeout
  // The body arrived different from what was sent (its Content-MD5 or signed SHA-256 does not
  // match): corrupted in transit, so sending it again is the cure.
  "BadDigest",
  "XAmzContentSHA256Mismatch",
]);

const DENIED_CODES = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "InvalidToken",
  "TokenRefreshRequired",
  "CredentialsProviderError",
  "AllAccessDisabled",
  "AccountProblem",
]);

export interface S3ErrorContext {
  op: string;
  /** "s3://bucket/prefix" plus the endpoint when not AWS: where the request went. */
  location: string;
  /** The key as the caller named it (without the store prefix), or undefined for bucket operations. */
  key?: string;
  range?: { offset: number; length: number };
}

export function s3ErrorCode(e: unknown): { name: string | undefined; status: number | undefined } {
  if (typeof e !== "object" || e === null) return { name: undefined, status: undefined };
  const s = e as SdkErrorShape;
  return { name: s.Code ?? s.name, status: s.$metadata?.httpStatusCode };
}

/** What an administrator should check when the endpoint cannot be reached at all. */
function networkHint(e: unknown): string {
  switch (errnoCode(e)) {
    case "ECONNREFUSED":
      return "; nothing accepts connections there: check ENDPOINT and that the object store is running";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "; the endpoint's host name does not resolve: check ENDPOINT and the DNS";
    case "ETIMEDOUT":
    case "ENETUNREACH":
    case "EHOSTUNREACH":
    case "UND_ERR_CONNECT_TIMEOUT":
      return "; no route or no answer: check ENDPOINT, the network and firewalls";
    default:
      return "";
  }
}

export function mapS3Error(e: unknown, ctx: S3ErrorContext): ObjectStoreError {
  if (e instanceof ObjectStoreError) return e;
  const { name, status } = s3ErrorCode(e);
  const what = ctx.key === undefined ? ctx.location : `${ctx.key} in ${ctx.location}`;
  // Ceph answers many errors without a message; the SDK then says "UnknownError": leave that out.
  const msg = errorMessage(e);
  const label = name && name !== "Error" ? name : undefined;
  const head = [label, status ? `(HTTP ${status})` : undefined].filter(Boolean).join(" ") || "error";
  const detail = msg && msg !== "UnknownError" && msg !== name ? `${head}: ${msg}` : head;

  const otherMissing = name === "NoSuchBucket" || name === "NoSuchUpload";
  if (ctx.key !== undefined && (name === "NoSuchKey" || (status === 404 && !otherMissing))) {
    return notFoundError(ctx.location, ctx.key, e);
  }
  if (name === "NoSuchBucket") {
    return new ObjectStoreError(
      OBJ.noBucket,
      `${ctx.op} ${what}: the bucket does not exist (${detail}); create it or check the bucket name and endpoint`,
      "notfound",
      { cause: e, status, backendCode: name },
    );
  }
  if (status === 412 || name === "PreconditionFailed") {
    return existsError(ctx.location, ctx.key ?? "", e);
  }
  if ((status === 416 || name === "InvalidRange") && ctx.key !== undefined && ctx.range) {
    return rangeError(ctx.location, ctx.key, ctx.range);
  }
  // Ceph reports an unusable SSE-KMS key as InvalidAccessKeyId (403) or InvalidArgument (400): not a
  // credentials problem, so say what it is. A 5xx that mentions KMS (an outage) stays transient.
  if ((status === undefined || status < 500) && /Failed to retrieve the actual key|kms/i.test(errorMessage(e))) {
    return new ObjectStoreError(
      OBJ.kms,
      `${ctx.op} ${what}: the server could not use the SSE-KMS key, ${detail}; check the key id ` +
        `(ENCRYPTION=kms) and that the server has a KMS configured`,
      "validation",
      { cause: e, status, backendCode: name },
    );
  }
  if ((name && DENIED_CODES.has(name)) || status === 403 || status === 401) {
    const hint =
      name === "CredentialsProviderError"
        ? "no credentials found: set a profile, or the access-key environment variables named in the configuration"
        : name === "RequestTimeTooSkewed"
          ? "this machine's clock is more than 15 minutes off the server's: set it (NTP) and retry"
          : "check the credentials (profile or access-key environment variables) and the bucket policy";
    return new ObjectStoreError(
      OBJ.denied,
      `${ctx.op} ${what}: access refused, ${detail}; ${hint}`,
      "runtime",
      {
        cause: e,
        status,
        backendCode: name,
      },
    );
  }
  const transient =
    (status !== undefined && (status >= 500 || status === 429)) ||
    (name !== undefined && TRANSIENT_CODES.has(name)) ||
    (status === undefined && isTransientNetworkError(e)) ||
    // A 2xx answer cut short or garbled in transit (a proxy or load balancer dropped it mid-body).
    /Deserialization error|Unexpected end|premature close/i.test(errorMessage(e));
  return new ObjectStoreError(OBJ.io, `${ctx.op} ${what} failed: ${detail}${networkHint(e)}`, "runtime", {
    cause: e,
    status,
    backendCode: name,
    transient,
  });
}
