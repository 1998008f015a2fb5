/**
 * S3ObjectStore: the object-store interface on any S3 implementation through the AWS SDK v3 —
 * AWS regions, IBM Cloud Object Storage (e.g. endpoint https://s3.us-south.cloud-object-storage.appdomain.cloud),
 * Ceph RGW, MinIO, s3rver — virtual-hosted or path-style.
 *
 * Choices that matter for correctness:
 *  - requestChecksumCalculation / responseChecksumValidation = WHEN_REQUIRED: otherwise the SDK sends
 *    aws-chunked bodies with a checksum trailer, which s3rver stores as object bytes (silent
 *    corruption) and Ceph 16 refuses.
 *  - Every PUT and part is checked by the server: Content-MD5 (BadDigest), or for chunk objects the
 *    signed payload SHA-256 the backup's workers computed (PutOptions.payloadSha256); object lock
 *    requires Content-MD5 as well. Both mismatches are transient errors: the retry sends it again.
 *  - The SDK's own retries are off (maxAttempts 1 by default); retry.ts is the one retry policy.
 *  - Ranges are always `bytes=a-b`, never suffix ranges (s3rver answers those wrongly).
 *  - GET checks the received length against Content-Length: a body cut short is a transient error,
 *    never a short object.
 *  - With an endpoint URL and path-style addressing, GET, PUT, HEAD, DELETE, ListObjectsV2 and the
 *    bucket's HEAD/create skip the SDK (s3direct.ts): signed with the SDK's own SigV4 signer, sent
 *    on the same sockets, their errors shaped like the SDK's for s3errors.ts. The SDK module loads
 *    only for the rest (multipart, retention after multipart, AWS's own endpoints, keys that need
 *    encoding in a path, credentials from a profile or the default chain): ~0.15 s of start-up
 *    and ~1 ms of CPU per request that a backup to IBM COS, Ceph, MinIO or s3rver with explicit
 *    keys never pays.
 * Server differences: `If-None-Match: *` (create-only) is enforced by AWS and Ceph; s3rver ignores it
 * and overwrites. SSE-KMS needs a KMS on the server (Ceph: the testing backend, see shared/s3).
 * HEAD cannot tell a missing key from a missing bucket (both 404 without a body): head() says
 * undefined for both; get() and list() name the missing bucket.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { Readable } from "node:stream";
import type {
  BucketLocationConstraint,
  CreateMultipartUploadCommandInput,
  ObjectLockMode,
  PutObjectCommandInput,
  S3Client,
  S3ClientConfig,
} from "@aws-sdk/client-s3";
import { OBJ, ObjectStoreError, notFoundError } from "./errors.ts";
import { bucketNameProblem, checkRange, validateKey, validatePrefix } from "./keys.ts";
import { bodyBytes, bodyLength, md5Base64, type Body } from "./body.ts";
import { uploadStream } from "./multipart.ts";
import { createOnlyRecover, retrying, type Recover, type RetryPolicy } from "./retry.ts";
import { DirectS3, PLAIN_PATH, readBody } from "./s3direct.ts";
import { mapS3Error, s3ErrorCode } from "./s3errors.ts";
import { credentialProviders, s3sdk } from "./s3sdk.ts";
import type { ObjectInfo, ObjectStore, PutOptions } from "./types.ts";

const MiB = 1024 * 1024;

export interface S3StoreOptions {
  bucket: string;
  /** Keys are stored under this prefix ("backups/prod" → "backups/prod/<key>"). */
  prefix?: string;
  /** Default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1 for custom endpoints. */
  region?: string;
  /** Any S3 endpoint URL; omit for AWS. */
  endpoint?: string;
  /** Path-style URLs (endpoint/bucket/key). Default: true when an endpoint is given, false for AWS. */
  forcePathStyle?: boolean;
  /** Named profile of ~/.aws/credentials and ~/.aws/config (fromIni). */
  profile?: string;
  /** Shared credentials file holding `profile` (default ~/.aws/credentials). */
  credentialsFile?: string;
  /** Explicit credentials; otherwise the profile, otherwise the SDK's default provider chain. */
  credentials?: S3ClientConfig["credentials"];
  /** The SDK's own attempts per request. Default 1: retries belong to retry.ts. */
  maxAttempts?: number;
  /** Retries of the requests inside list (pages) and putStream (parts, create, complete). */
  retry?: RetryPolicy;
  /** Multipart part size in bytes, 5 MiB–5 GiB; default 8 MiB. */
  partSize?: number;
  /** Parts uploaded at once by one putStream; default 4. */
  queueSize?: number;
  /** Mode used with PutOptions.retainUntil; default GOVERNANCE (COMPLIANCE cannot be undone by anyone). */
  objectLockMode?: ObjectLockMode;
  /** Keys per ListObjectsV2 page (MaxKeys); default the server's (1000 on AWS, Ceph, s3rver). */
  listPageSize?: number;
  /** Keep-alive sockets per host; default 32 (8 parallel transfers × queue of 4). */
  maxSockets?: number;
  connectionTimeoutMs?: number;
  /** Idle-socket timeout; default 120 s. */
  socketTimeoutMs?: number;
}

/** What HEAD says beyond ObjectInfo: for checks of SSE and retention. */
export interface S3ObjectDetails extends ObjectInfo {
  etag?: string;
  serverSideEncryption?: string;
  kmsKeyId?: string;
  objectLockMode?: string;
  retainUntil?: Date;
}

type Range = { offset: number; length: number };

/** The first byte position of a Content-Range header ("bytes 10-19/100"), or undefined. */
function contentRangeStart(h: string | undefined): number | undefined {
  const m = h ? /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(h.trim()) : null;
  return m ? Number(m[1]) : undefined;
}

/**
 * The bytes asked for out of a GET's body. A server may send more than asked: s3rver answers
 * "bytes=0-0" with the whole object (and an honest Content-Range), one that ignores Range sends 200
 * without one.
 */
function cutToRange(bytes: Uint8Array, contentRange: string | undefined, range: Range | undefined, what: string): Uint8Array {
  if (!range) return bytes;
  const start = contentRangeStart(contentRange) ?? 0;
  if (start > range.offset) {
    throw new ObjectStoreError(OBJ.io, `get ${what}: asked for bytes from ${range.offset}, server sent from ${start}`, "runtime");
  }
  const from = range.offset - start;
  return from !== 0 || bytes.length > range.length ? bytes.subarray(from, from + range.length) : bytes;
}

export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  readonly bucket: string;
  readonly prefix: string;
  private readonly opts: S3StoreOptions;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly region: string | undefined;
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly socketTimeoutMs: number;
  /** Requests without the SDK (s3direct.ts): for an http(s) endpoint URL with path-style addressing. */
  private readonly direct: DirectS3 | undefined;
  private sdkClient: S3Client | undefined;
  readonly checksUploads = true;

  constructor(opts: S3StoreOptions) {
    this.opts = opts;
    this.bucket = opts.bucket;
    if (!opts.bucket)
      throw new ObjectStoreError(OBJ.badKey, "S3 object store: bucket is required", "validation");
    const badName = bucketNameProblem(opts.bucket);
    if (badName) throw new ObjectStoreError(OBJ.badKey, `invalid bucket name ${JSON.stringify(opts.bucket)}: ${badName}`, "validation");
    const p = (opts.prefix ?? "").replace(/^\/+|\/+$/g, "");
    if (p) validatePrefix(p);
    this.prefix = p ? `${p}/` : "";
    this.location = `s3://${opts.bucket}/${this.prefix}${opts.endpoint ? ` at ${opts.endpoint}` : ""}`;
    this.partSize = opts.partSize ?? 8 * MiB;
    if (this.partSize < 5 * MiB || this.partSize > 5 * 1024 * MiB) {
      throw new ObjectStoreError(
        OBJ.io,
        `S3 part size ${this.partSize} is outside 5 MiB..5 GiB`,
        "validation",
      );
    }
    this.queueSize = Math.max(1, opts.queueSize ?? 4);
    const maxSockets = opts.maxSockets ?? 32;
    const agentOpts = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets };
    this.agents = { http: new http.Agent(agentOpts), https: new https.Agent(agentOpts) };
    this.socketTimeoutMs = opts.socketTimeoutMs ?? 120_000;
    this.region =
      opts.region ??
      process.env.AWS_REGION ??
      process.env.AWS_DEFAULT_REGION ??
      (opts.endpoint || !opts.profile ? "us-east-1" : undefined);
    const url = opts.endpoint ? new URL(opts.endpoint) : undefined;
    if (url && this.region && (url.protocol === "http:" || url.protocol === "https:") && (opts.forcePathStyle ?? true) && PLAIN_PATH.test(this.bucket) && !url.search) {
      this.direct = new DirectS3({
        url,
        bucket: this.bucket,
        region: this.region,
        // Explicit keys sign at once; a profile or the default chain resolves through the SDK client.
        credentials: opts.credentials ?? (() => this.client.config.credentials()),
        agent: url.protocol === "https:" ? this.agents.https : this.agents.http,
        connectionTimeoutMs: opts.connectionTimeoutMs ?? 10_000,
        socketTimeoutMs: this.socketTimeoutMs,
      });
    }
  }

  /** The SDK client (created, and the SDK loaded, on first use), for requests we do not make directly. */
  get client(): S3Client {
    if (this.sdkClient) return this.sdkClient;
    const opts = this.opts;
    this.sdkClient = new (s3sdk().S3Client)({
      region: this.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
      profile: opts.profile,
      credentials: opts.credentials ?? (opts.profile ? credentialProviders().fromIni({ profile: opts.profile, filepath: opts.credentialsFile }) : undefined),
      maxAttempts: opts.maxAttempts ?? 1,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: {
        httpAgent: this.agents.http,
        httpsAgent: this.agents.https,
        connectionTimeout: opts.connectionTimeoutMs ?? 10_000,
        socketTimeout: this.socketTimeoutMs,
      },
    });
    return this.sdkClient;
  }

  /** Closes the keep-alive sockets. The store must not be used afterwards. */
  destroy(): void {
    this.sdkClient?.destroy();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** The direct path for this S3 key, when it needs no encoding. */
  private directFor(s3Key: string): DirectS3 | undefined {
    return this.direct && PLAIN_PATH.test(s3Key) ? this.direct : undefined;
  }

  private s3Key(key: string): string {
    validateKey(key);
    return this.prefix + key;
  }

  /** One request: SDK errors become ObjectStoreError naming op, key and S3 code. */
  private async call<T>(
    op: string,
    key: string | undefined,
    fn: () => Promise<T>,
    range?: Range,
  ): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw mapS3Error(e, { op, location: this.location, key, range });
    }
  }

  /** A request inside a multi-request operation: retried here under opts.retry (see retry.ts). */
  private request<T>(
    op: string,
    key: string | undefined,
    fn: () => Promise<T>,
    recover?: Recover<T>,
  ): Promise<T> {
    const once = () => this.call(op, key, fn);
    return this.opts.retry ? retrying(this.opts.retry, `${op} ${key ?? ""}`, once, recover) : once();
  }

  private writeParams(opts?: PutOptions): Partial<PutObjectCommandInput & CreateMultipartUploadCommandInput> {
    const p: Partial<PutObjectCommandInput> = {};
    if (opts?.sse?.mode === "kms") {
      p.ServerSideEncryption = "aws:kms";
      if (opts.sse.keyId) p.SSEKMSKeyId = opts.sse.keyId;
    } else if (opts?.sse?.mode === "aes") {
      p.ServerSideEncryption = "AES256";
    }
    if (opts?.retainUntil) {
      p.ObjectLockMode = this.opts.objectLockMode ?? "GOVERNANCE";
      p.ObjectLockRetainUntilDate = opts.retainUntil;
    }
    return p;
  }

  /** writeParams as the request headers the SDK would send (for the direct path). */
  private writeHeaders(opts: PutOptions | undefined, contentMd5: string | undefined): Record<string, string> {
    const p = this.writeParams(opts);
    const h: Record<string, string> = {};
    if (p.ServerSideEncryption) h["x-amz-server-side-encryption"] = p.ServerSideEncryption;
    if (p.SSEKMSKeyId) h["x-amz-server-side-encryption-aws-kms-key-id"] = p.SSEKMSKeyId;
    if (p.ObjectLockMode) h["x-amz-object-lock-mode"] = p.ObjectLockMode;
    if (p.ObjectLockRetainUntilDate) h["x-amz-object-lock-retain-until-date"] = new Date(p.ObjectLockRetainUntilDate).toISOString().replace(".000Z", "Z");
    if (contentMd5) h["content-md5"] = contentMd5;
    if (opts?.ifNoneMatch) h["if-none-match"] = "*";
    return h;
  }

  async put(key: string, body: Body, opts?: PutOptions): Promise<void> {
    const Key = this.s3Key(key);
    const contentMd5 = opts?.contentMd5 ?? (opts?.payloadSha256 && !opts.retainUntil ? undefined : md5Base64(body));
    const payloadSha256 = opts?.payloadSha256;
    const direct = this.directFor(Key);
    if (direct) return this.call("put", key, () => direct.put(Key, body, this.writeHeaders(opts, contentMd5), payloadSha256));
    await this.call("put", key, () => {
      const cmd = new (s3sdk().PutObjectCommand)({
        ...this.writeParams(opts),
        Bucket: this.bucket,
        Key,
        Body: bodyBytes(body),
        ContentLength: bodyLength(body),
        ContentMD5: contentMd5,
        IfNoneMatch: opts?.ifNoneMatch ? "*" : undefined,
      });
      // Set before signing (the build step precedes finalizeRequest): the signer then signs this
      // value instead of hashing the body itself.
      if (payloadSha256) {
        cmd.middlewareStack.add(
          (next) => async (args) => {
            const req = args.request as { headers?: Record<string, string> };
            if (req.headers) req.headers["x-amz-content-sha256"] = payloadSha256;
            return next(args);
          },
          { step: "build", name: "cbmPayloadSha256" },
        );
      }
      return this.client.send(cmd);
    });
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void> {
    const s3Key = this.s3Key(key);
    // Create-only: fail before uploading gigabytes; If-None-Match on Complete closes the race.
    if (opts?.ifNoneMatch && (await this.request("head", key, () => this.head(key)))) {
      throw new ObjectStoreError(OBJ.exists, `object already exists: ${key} in ${this.location}`, "runtime", {
        status: 412,
      });
    }
    await uploadStream(
      {
        client: this.client,
        bucket: this.bucket,
        s3Key,
        createParams: this.writeParams(opts),
        partSize: this.partSize,
        queueSize: this.queueSize,
        ifNoneMatch: opts?.ifNoneMatch ?? false,
        request: (op, fn, recover) => this.request(op, key, fn, recover),
        putSingle: (b) => this.request("put", key, () => this.put(key, b, opts), createOnlyRecover(opts, b, () => this.get(key))),
        storedSize: async () => (await this.head(key).catch(() => undefined))?.size,
      },
      body,
    );
    // Ceph 16 ignores the object-lock headers of CreateMultipartUpload (the completed object has no
    // retention); setting it afterwards works everywhere and is idempotent for an equal date.
    if (opts?.retainUntil) {
      const retainUntil = opts.retainUntil;
      await this.request("set retention", key, () =>
        this.client.send(
          new (s3sdk().PutObjectRetentionCommand)({
            Bucket: this.bucket,
            Key: s3Key,
            Retention: { Mode: this.opts.objectLockMode ?? "GOVERNANCE", RetainUntilDate: retainUntil },
          }),
        ),
      );
    }
  }

  async get(key: string, range?: Range): Promise<Uint8Array> {
    const Key = this.s3Key(key);
    if (range) {
      checkRange(range);
      // "bytes=a-(a-1)" is not a valid range: answer an empty read, but only for an existing object.
      if (range.length === 0) {
        if (!(await this.head(key))) throw notFoundError(this.location, key);
        return new Uint8Array(0);
      }
    }
    const what = `${key} in ${this.location}`;
    const direct = this.directFor(Key);
    return this.call(
      "get",
      key,
      async () => {
        if (direct) {
          const { body, contentRange } = await direct.get(Key, range);
          return cutToRange(body, contentRange, range, what);
        }
        const res = await this.client.send(
          new (s3sdk().GetObjectCommand)({
            Bucket: this.bucket,
            Key,
            Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined,
          }),
        );
        if (!res.Body) throw new ObjectStoreError(OBJ.io, `get ${what}: empty response body`, "runtime");
        // On Node the SDK's body is the response stream itself.
        return cutToRange(await readBody(res.Body as Readable, res.ContentLength, `get ${what}`), res.ContentRange, range, what);
      },
      range,
    );
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const d = await this.describe(key);
    return d && { key: d.key, size: d.size, mtime: d.mtime };
  }

  /** HEAD with the encryption and retention headers; undefined when the key does not exist. */
  async describe(key: string): Promise<S3ObjectDetails | undefined> {
    const Key = this.s3Key(key);
    const direct = this.directFor(Key);
    try {
      if (direct) {
        const h = await direct.head(Key);
        if (!h) return undefined;
        const one = (name: string) => {
          const v = h[name];
          return typeof v === "string" ? v : undefined;
        };
        const retain = one("x-amz-object-lock-retain-until-date");
        const modified = one("last-modified");
        return {
          key,
          size: Number(one("content-length") ?? 0),
          mtime: modified ? new Date(modified) : new Date(0),
          etag: one("etag"),
          serverSideEncryption: one("x-amz-server-side-encryption"),
          kmsKeyId: one("x-amz-server-side-encryption-aws-kms-key-id"),
          objectLockMode: one("x-amz-object-lock-mode"),
          retainUntil: retain ? new Date(retain) : undefined,
        };
      }
      const r = await this.client.send(new (s3sdk().HeadObjectCommand)({ Bucket: this.bucket, Key }));
      return {
        key,
        size: r.ContentLength ?? 0,
        mtime: r.LastModified ?? new Date(0),
        etag: r.ETag,
        serverSideEncryption: r.ServerSideEncryption,
        kmsKeyId: r.SSEKMSKeyId,
        objectLockMode: r.ObjectLockMode,
        retainUntil: r.ObjectLockRetainUntilDate,
      };
    } catch (e) {
      const { name, status } = s3ErrorCode(e);
      if (status === 404 || name === "NotFound" || name === "NoSuchKey") return undefined;
      throw mapS3Error(e, { op: "head", location: this.location, key });
    }
  }

  /** One ListObjectsV2 page, direct whenever the store is (the prefix goes into the query, encoded). */
  private async listPage(s3Prefix: string, token: string | undefined): Promise<{ contents: ObjectInfo[]; truncated: boolean; next: string | undefined }> {
    const maxKeys = this.opts.listPageSize;
    if (this.direct) return this.direct.list(s3Prefix, token, maxKeys);
    const page = await this.client.send(new (s3sdk().ListObjectsV2Command)({ Bucket: this.bucket, Prefix: s3Prefix, ContinuationToken: token, MaxKeys: maxKeys }));
    return {
      contents: (page.Contents ?? []).map((o) => ({ key: o.Key ?? "", size: o.Size ?? 0, mtime: o.LastModified ?? new Date(0) })),
      truncated: page.IsTruncated ?? false,
      next: page.NextContinuationToken,
    };
  }

  async list(prefix: string, fn: (info: ObjectInfo) => void | Promise<void>): Promise<void> {
    validatePrefix(prefix);
    let token: string | undefined;
    do {
      const page = await this.request("list", prefix === "" ? "(all)" : `${prefix}*`, () => this.listPage(this.prefix + prefix, token));
      for (const o of page.contents) {
        if (!o.key.startsWith(this.prefix)) continue;
        await fn({ ...o, key: o.key.slice(this.prefix.length) });
      }
      token = page.truncated ? page.next : undefined;
      if (page.truncated && !token) {
        throw new ObjectStoreError(
          OBJ.io,
          `list ${this.location}: truncated page without a continuation token`,
          "runtime",
        );
      }
    } while (token);
  }

  async delete(key: string): Promise<void> {
    const Key = this.s3Key(key);
    const direct = this.directFor(Key);
    try {
      if (direct) await direct.delete(Key);
      else await this.client.send(new (s3sdk().DeleteObjectCommand)({ Bucket: this.bucket, Key }));
    } catch (e) {
      const { name, status } = s3ErrorCode(e);
      if (name === "NoSuchKey" || (status === 404 && name !== "NoSuchBucket")) return;
      throw mapS3Error(e, { op: "delete", location: this.location, key });
    }
  }

  /**
   * ObjectStore.ensureContainer: the bucket exists afterwards (a missing one is created, with object
   * lock when asked).
   */
  ensureContainer(opts: { objectLock?: boolean } = {}): Promise<void> {
    return this.ensureBucket(opts);
  }

  /**
   * Creates the bucket if it does not exist (for the lab and tests). objectLock enables S3 Object
   * Lock on a new bucket (it cannot be turned on later on most servers).
   */
  async ensureBucket(opts: { objectLock?: boolean } = {}): Promise<void> {
    const direct = this.direct;
    try {
      if (direct ? await direct.headBucket() : await this.client.send(new (s3sdk().HeadBucketCommand)({ Bucket: this.bucket }))) return;
    } catch (e) {
      const { name, status } = s3ErrorCode(e);
      if (!(status === 404 || name === "NotFound" || name === "NoSuchBucket")) {
        throw mapS3Error(e, { op: "check bucket", location: this.location });
      }
    }
    try {
      // A direct store has an endpoint URL: no LocationConstraint (only AWS wants one).
      if (direct) return await direct.createBucket(opts.objectLock ?? false);
      const region = await this.client.config.region();
      // Only AWS wants a LocationConstraint outside us-east-1; other servers reject unknown ones.
      const constraint = !this.opts.endpoint && region !== "us-east-1" ? region : undefined;
      await this.client.send(
        new (s3sdk().CreateBucketCommand)({
          Bucket: this.bucket,
          ObjectLockEnabledForBucket: opts.objectLock || undefined,
          CreateBucketConfiguration: constraint
            ? { LocationConstraint: constraint as BucketLocationConstraint }
            : undefined,
        }),
      );
    } catch (e) {
      const { name } = s3ErrorCode(e);
      if (name === "BucketAlreadyOwnedByYou") return;
      throw mapS3Error(e, { op: "create bucket", location: this.location });
    }
  }
}
