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
 *  - Whole-object GETs from an endpoint URL (path style) skip the SDK's middleware: signed with the
 *    SDK's own SigV4 signer and sent on the same sockets, they cost ~1 ms less CPU each, a tenth
 *    of a restore's main thread. 5xx and 429 are transient errors (retry.ts retries them); any
 *    other answer but 200 goes through the SDK again, which names the error exactly.
 * Server differences: `If-None-Match: *` (create-only) is enforced by AWS and Ceph; s3rver ignores it
 * and overwrites. SSE-KMS needs a KMS on the server (Ceph: the testing backend, see shared/s3).
 * HEAD cannot tell a missing key from a missing bucket (both 404 without a body): head() says
 * undefined for both; get() and list() name the missing bucket.
 */
import * as http from "node:http";
import * as https from "node:https";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectRetentionCommand,
  S3Client,
  type BucketLocationConstraint,
  type CreateMultipartUploadCommandInput,
  type ObjectLockMode,
  type PutObjectCommandInput,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { fromIni } from "@aws-sdk/credential-providers";
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { OBJ, ObjectStoreError, notFoundError } from "./errors.ts";
import { checkRange, validateKey, validatePrefix } from "./keys.ts";
import { md5Base64, uploadStream, type Recover } from "./multipart.ts";
import { retrying, type RetryPolicy } from "./retry.ts";
import { mapS3Error, s3ErrorCode } from "./s3errors.ts";
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
 * The body of a GET, copied as it arrives into one buffer of the announced length (its own
 * ArrayBuffer, so a caller can transfer it to a worker): no list of pieces and no final
 * concatenation, which at 4 MiB per chunk was a tenth of a restore's main-thread time. A body of
 * another length than announced (cut short in transit, or more) is a transient error, never a
 * short object. `what` names the object in that message.
 */
async function readBody(body: AsyncIterable<Uint8Array>, announced: number | undefined, what: string): Promise<Uint8Array> {
  if (announced === undefined) {
    const parts: Uint8Array[] = [];
    for await (const p of body) parts.push(p);
    return Buffer.concat(parts);
  }
  const bytes = new Uint8Array(new ArrayBuffer(announced));
  let length = 0;
  for await (const p of body) {
    if (length + p.length > announced) {
      length += p.length;
      break;
    }
    bytes.set(p, length);
    length += p.length;
  }
  if (length !== announced) {
    throw new ObjectStoreError(OBJ.io, `get ${what}: received ${length} of ${announced} bytes`, "runtime", { transient: true });
  }
  return bytes;
}

/** Keys and bucket names the direct GET puts into a path as they are (no encoding needed). */
const PLAIN_PATH = /^[A-Za-z0-9._\-/]+$/;

/** How the direct GET reaches the endpoint: its signer, URL and the client's own agent. */
interface DirectGet {
  signer: SignatureV4;
  url: URL;
  agent: http.Agent | https.Agent;
  socketTimeoutMs: number;
}

export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  readonly bucket: string;
  readonly prefix: string;
  /** The SDK client, for tests and tools that need a request we do not wrap. */
  readonly client: S3Client;
  private readonly opts: S3StoreOptions;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly direct: DirectGet | undefined;
  readonly checksUploads = true;

  constructor(opts: S3StoreOptions) {
    this.opts = opts;
    this.bucket = opts.bucket;
    if (!opts.bucket)
      throw new ObjectStoreError(OBJ.badKey, "S3 object store: bucket is required", "validation");
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
    const httpAgent = new http.Agent(agentOpts);
    const httpsAgent = new https.Agent(agentOpts);
    const socketTimeoutMs = opts.socketTimeoutMs ?? 120_000;
    this.client = new S3Client({
      region:
        opts.region ??
        process.env.AWS_REGION ??
        process.env.AWS_DEFAULT_REGION ??
        (opts.endpoint || !opts.profile ? "us-east-1" : undefined),
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
      profile: opts.profile,
      credentials: opts.credentials ?? (opts.profile ? fromIni({ profile: opts.profile, filepath: opts.credentialsFile }) : undefined),
      maxAttempts: opts.maxAttempts ?? 1,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: {
        httpAgent,
        httpsAgent,
        connectionTimeout: opts.connectionTimeoutMs ?? 10_000,
        socketTimeout: socketTimeoutMs,
      },
    });
    const url = opts.endpoint ? new URL(opts.endpoint) : undefined;
    if (url && (url.protocol === "http:" || url.protocol === "https:") && (opts.forcePathStyle ?? true) && PLAIN_PATH.test(this.bucket) && !url.search) {
      const signer = new SignatureV4({
        credentials: this.client.config.credentials,
        region: this.client.config.region,
        service: "s3",
        sha256: Hash.bind(null, "sha256"),
        uriEscapePath: false, // S3 signs the path as sent, encoded once
      });
      this.direct = { signer, url, agent: url.protocol === "https:" ? httpsAgent : httpAgent, socketTimeoutMs };
    }
  }

  /** Closes the keep-alive sockets. The store must not be used afterwards. */
  destroy(): void {
    this.client.destroy();
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

  async put(key: string, body: Uint8Array, opts?: PutOptions): Promise<void> {
    const Key = this.s3Key(key);
    const contentMd5 = opts?.contentMd5 ?? (opts?.payloadSha256 && !opts.retainUntil ? undefined : md5Base64(body));
    const payloadSha256 = opts?.payloadSha256;
    await this.call("put", key, () => {
      const cmd = new PutObjectCommand({
        ...this.writeParams(opts),
        Bucket: this.bucket,
        Key,
        Body: body,
        ContentLength: body.length,
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
    if (opts?.ifNoneMatch && (await this.head(key))) {
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
        putSingle: (b) => this.put(key, b, opts),
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
          new PutObjectRetentionCommand({
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
    if (!range && this.direct && PLAIN_PATH.test(Key)) {
      const got = await this.call("get", key, () => this.getDirect(this.direct!, key, Key));
      if (got) return got;
    }
    return this.call(
      "get",
      key,
      async () => {
        const res = await this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key,
            Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined,
          }),
        );
        if (!res.Body)
          throw new ObjectStoreError(
            OBJ.io,
            `get ${key} in ${this.location}: empty response body`,
            "runtime",
          );
        let bytes = await readBody(res.Body as AsyncIterable<Uint8Array>, res.ContentLength, `${key} in ${this.location}`);
        // A server may send more than asked: s3rver answers "bytes=0-0" with the whole object (and an
        // honest Content-Range), one that ignores Range sends 200 without one. Cut to what was asked.
        if (range) {
          const start = contentRangeStart(res.ContentRange) ?? 0;
          if (start > range.offset) {
            throw new ObjectStoreError(
              OBJ.io,
              `get ${key} in ${this.location}: asked for bytes from ${range.offset}, server sent from ${start}`,
              "runtime",
            );
          }
          const from = range.offset - start;
          if (from !== 0 || bytes.length > range.length) bytes = bytes.subarray(from, from + range.length);
        }
        return bytes;
      },
      range,
    );
  }

  /**
   * A whole-object GET without the SDK's middleware: the object; a transient error for 5xx and
   * 429; undefined for any other answer (the caller asks again through the SDK, which says exactly
   * what went wrong: no such key or bucket, access refused…).
   */
  private async getDirect(d: DirectGet, key: string, s3Key: string): Promise<Uint8Array | undefined> {
    const u = d.url;
    const path = `${u.pathname.replace(/\/+$/, "")}/${this.bucket}/${s3Key}`;
    const signed = await d.signer.sign({ method: "GET", protocol: u.protocol, hostname: u.hostname, port: u.port ? Number(u.port) : undefined, path, query: {}, headers: { host: u.host } });
    return new Promise<Uint8Array | undefined>((resolve, reject) => {
      const req = (u.protocol === "https:" ? https : http).request(
        { method: "GET", hostname: u.hostname, port: u.port || undefined, path, headers: signed.headers, agent: d.agent },
        (res) => {
          const status = res.statusCode ?? 0;
          const announced = Number(res.headers["content-length"]);
          if (status !== 200 || !Number.isSafeInteger(announced)) {
            res.resume();
            if (status >= 500 || status === 429) {
              reject(new ObjectStoreError(OBJ.io, `get ${key} in ${this.location} failed: HTTP ${status}`, "runtime", { status, transient: true }));
            } else resolve(undefined);
            return;
          }
          readBody(res, announced, `${key} in ${this.location}`).then(resolve, reject);
        },
      );
      req.setTimeout(d.socketTimeoutMs, () => req.destroy(Object.assign(new Error(`no data for ${d.socketTimeoutMs} ms: timed out`), { code: "ETIMEDOUT" })));
      req.on("error", reject);
      req.end();
    });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const d = await this.describe(key);
    return d && { key: d.key, size: d.size, mtime: d.mtime };
  }

  /** HEAD with the encryption and retention headers; undefined when the key does not exist. */
  async describe(key: string): Promise<S3ObjectDetails | undefined> {
    const Key = this.s3Key(key);
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
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

  async list(prefix: string, fn: (info: ObjectInfo) => void | Promise<void>): Promise<void> {
    validatePrefix(prefix);
    let token: string | undefined;
    do {
      const page = await this.request("list", prefix === "" ? "(all)" : `${prefix}*`, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ContinuationToken: token,
          }),
        ),
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key?.startsWith(this.prefix)) continue;
        await fn({
          key: o.Key.slice(this.prefix.length),
          size: o.Size ?? 0,
          mtime: o.LastModified ?? new Date(0),
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && !token) {
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
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
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
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (e) {
      const { name, status } = s3ErrorCode(e);
      if (!(status === 404 || name === "NotFound" || name === "NoSuchBucket")) {
        throw mapS3Error(e, { op: "check bucket", location: this.location });
      }
    }
    const region = await this.client.config.region();
    // Only AWS wants a LocationConstraint outside us-east-1; other servers reject unknown ones.
    const constraint = !this.opts.endpoint && region !== "us-east-1" ? region : undefined;
    try {
      await this.client.send(
        new CreateBucketCommand({
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
