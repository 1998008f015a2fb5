/**
 * S3 requests without the AWS SDK's client: GET, PUT, HEAD, DELETE and ListObjectsV2 on an endpoint
 * URL with path-style addressing, signed by the SDK's own SigV4 signer (@smithy/signature-v4) and
 * sent with node:http on the store's keep-alive agent.
 *
 * Why: loading @aws-sdk/client-s3 costs ~0.15 s of start-up (a tenth of an incremental backup) and
 * its middleware ~1 ms of CPU per request (a backup makes one per 4 MiB chunk). These five requests,
 * and the bucket's HEAD and create, are all a backup, restore or verify makes; everything else
 * (multipart, retention after multipart, AWS's virtual-hosted addressing, keys that need encoding
 * in a path) stays with the SDK, loaded on first use.
 *
 * Answers: 2xx is the result; anything else becomes an error shaped like the SDK's (the S3 error
 * code from the XML body as `name`, the status in `$metadata`), so s3errors.ts maps both alike.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { XMLParser } from "fast-xml-parser";
import { bodyBytes, bodyLength, bodyParts, type Body } from "./body.ts";
import { OBJ, ObjectStoreError } from "./errors.ts";
import type { ObjectInfo } from "./types.ts";

/** Bucket names and keys that go into a path as they are (no encoding, so no ambiguity in signing). */
export const PLAIN_PATH = /^[A-Za-z0-9._\-/]+$/;

export interface DirectOptions {
  url: URL;
  bucket: string;
  region: string;
  credentials: ConstructorParameters<typeof SignatureV4>[0]["credentials"];
  agent: http.Agent | https.Agent;
  connectionTimeoutMs: number;
  socketTimeoutMs: number;
}

export interface DirectResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
}

/** An S3 error answer, shaped like the SDK's S3ServiceException for mapS3Error. */
export class S3DirectError extends Error {
  readonly $metadata: { httpStatusCode: number; requestId?: string };
  constructor(name: string | undefined, message: string, status: number, requestId?: string) {
    super(message);
    this.name = name ?? `HTTP ${status}`;
    this.$metadata = { httpStatusCode: status, requestId };
  }
}

/** RFC 3986 percent-encoding, as SigV4 canonicalises query values. */
const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * As the SDK parses S3's XML: values untrimmed (a key may begin or end with a space) and numeric
 * character references decoded (S3 writes a CR in a key as &#13;).
 */
const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: false, htmlEntities: true, isArray: (name) => name === "Contents" });

/** Code and Message of an S3 XML error body; nothing from a body that is not one (a proxy's HTML page). */
function errorFields(text: string): { code?: string; message?: string } {
  try {
    const e = (xml.parse(text) as { Error?: { Code?: unknown; Message?: unknown } }).Error;
    return { code: typeof e?.Code === "string" ? e.Code.trim() : undefined, message: typeof e?.Message === "string" ? e.Message.trim() : undefined };
  } catch {
    return {};
  }
}

/** The S3 error of a non-2xx answer: code and message from its XML body (HEAD answers have none). */
function errorOf(method: string, r: DirectResponse): S3DirectError {
  const { code, message } = errorFields(Buffer.from(r.body).toString("utf8"));
  const requestId = (r.headers["x-amz-request-id"] as string | undefined) ?? undefined;
  // Without a body (HEAD) the status names the error, as the SDK does: NotFound, Forbidden…
  const name = code ?? http.STATUS_CODES[r.status]?.replace(/\W/g, "");
  return new S3DirectError(name, message ?? `${method} answered HTTP ${r.status}`, r.status, requestId);
}

export interface ListPage {
  contents: ObjectInfo[];
  truncated: boolean;
  next: string | undefined;
}

export class DirectS3 {
  private readonly signer: SignatureV4;
  private readonly base: string;

  constructor(private readonly o: DirectOptions) {
    this.signer = new SignatureV4({
      credentials: o.credentials,
      region: o.region,
      service: "s3",
      sha256: Hash.bind(null, "sha256"),
      uriEscapePath: false, // S3 signs the path as sent, encoded once
    });
    this.base = `${o.url.pathname.replace(/\/+$/, "")}/${o.bucket}`;
  }

  /**
   * One signed request; resolves with any HTTP answer (the caller judges the status), rejects on
   * network errors and timeouts. `payloadSha256`: the body's hex SHA-256, signed instead of hashing
   * the body here.
   */
  async send(method: string, s3Key: string | undefined, opts: { query?: Record<string, string>; headers?: Record<string, string>; body?: Body; payloadSha256?: string } = {}): Promise<DirectResponse> {
    const u = this.o.url;
    const path = s3Key === undefined ? this.base : `${this.base}/${s3Key}`;
    const headers: Record<string, string> = { host: u.host, ...opts.headers };
    // A PUT always has a length: without one it would go out chunked, which S3 refuses.
    if (opts.body || method === "PUT") headers["content-length"] = String(opts.body ? bodyLength(opts.body) : 0);
    if (opts.payloadSha256) headers["x-amz-content-sha256"] = opts.payloadSha256;
    const query = opts.query ?? {};
    const signed = await this.signer.sign({ method, protocol: u.protocol, hostname: u.hostname, port: u.port ? Number(u.port) : undefined, path, query, headers, body: opts.body && !opts.payloadSha256 ? bodyBytes(opts.body) : undefined });
    const qs = Object.entries(query)
      .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
      .join("&");
    return new Promise<DirectResponse>((resolve, reject) => {
      let responded = false;
      // A timeout is the reason to report, also when it cuts a body short (then read as "aborted").
      let timedOut: Error | undefined;
      const timeout = (what: string) => {
        timedOut = Object.assign(new Error(`${what}: timed out`), { code: "ETIMEDOUT" });
        req.destroy(timedOut);
      };
      const req = (u.protocol === "https:" ? https : http).request(
        // An IPv6 literal is "[::1]" in a URL, "::1" to node:http (the host header keeps the brackets).
        { method, hostname: u.hostname.replace(/^\[(.*)\]$/, "$1"), port: u.port || undefined, path: qs ? `${path}?${qs}` : path, headers: signed.headers, agent: this.o.agent },
        (res) => {
          responded = true;
          const status = res.statusCode ?? 0;
          // An error answer keeps its status whatever becomes of its body; a success needs all of it.
          const body = status >= 200 && status < 300 ? readBody(res, method === "HEAD" ? 0 : undefined, `${method} ${s3Key ?? this.o.bucket}`) : readErrorBody(res);
          body.then((b) => resolve({ status, headers: res.headers, body: b }), (e) => reject(timedOut ?? e));
        },
      );
      req.on("socket", (s) => {
        if (!s.connecting) return;
        const t = setTimeout(() => timeout(`no connection in ${this.o.connectionTimeoutMs} ms`), this.o.connectionTimeoutMs);
        s.once("connect", () => clearTimeout(t));
        s.once("close", () => clearTimeout(t));
      });
      req.setTimeout(this.o.socketTimeoutMs, () => timeout(`no data for ${this.o.socketTimeoutMs} ms`));
      // Once an answer has begun, its body's reading decides (a cut connection is a short body, or
      // for an error answer, its status with what came of the body).
      req.on("error", (e) => {
        if (!responded) reject(e);
      });
      for (const part of opts.body ? bodyParts(opts.body) : []) req.write(part);
      req.end();
    });
  }

  /** The object (or the range asked: the answer's body and Content-Range header). */
  async get(s3Key: string, range?: { offset: number; length: number }): Promise<{ body: Uint8Array; contentRange: string | undefined }> {
    const r = await this.send("GET", s3Key, range ? { headers: { range: `bytes=${range.offset}-${range.offset + range.length - 1}` } } : {});
    if (r.status !== 200 && r.status !== 206) throw errorOf("GET", r);
    return { body: r.body, contentRange: r.headers["content-range"] };
  }

  async put(s3Key: string, body: Body, headers: Record<string, string>, payloadSha256: string | undefined): Promise<void> {
    const r = await this.send("PUT", s3Key, { headers, body, payloadSha256 });
    if (r.status !== 200) throw errorOf("PUT", r);
  }

  /** The answer's headers, or undefined for 404 (no such key, or no such bucket: HEAD cannot tell). */
  async head(s3Key: string): Promise<IncomingHttpHeaders | undefined> {
    const r = await this.send("HEAD", s3Key);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw errorOf("HEAD", r);
    return r.headers;
  }

  async delete(s3Key: string): Promise<void> {
    const r = await this.send("DELETE", s3Key);
    if (r.status !== 204 && r.status !== 200) throw errorOf("DELETE", r);
  }

  /** True when the bucket exists; a 404 is false (create it), any other answer an error. */
  async headBucket(): Promise<boolean> {
    const r = await this.send("HEAD", undefined);
    if (r.status === 404) return false;
    if (r.status !== 200) throw errorOf("HEAD", r);
    return true;
  }

  /** CreateBucket without a LocationConstraint (an endpoint URL, not AWS), with object lock when asked. */
  async createBucket(objectLock: boolean): Promise<void> {
    const r = await this.send("PUT", undefined, objectLock ? { headers: { "x-amz-bucket-object-lock-enabled": "true" } } : {});
    if (r.status !== 200) throw errorOf("CreateBucket", r);
  }

  /** One ListObjectsV2 page of keys under `prefix` (full S3 keys, the store prefix included). */
  async list(prefix: string, token: string | undefined, maxKeys?: number): Promise<ListPage> {
    const query: Record<string, string> = { "list-type": "2", prefix };
    if (token) query["continuation-token"] = token;
    if (maxKeys) query["max-keys"] = String(maxKeys);
    const r = await this.send("GET", undefined, { query });
    if (r.status !== 200) throw errorOf("LIST", r);
    const doc = xml.parse(Buffer.from(r.body).toString("utf8")) as { ListBucketResult?: { Contents?: { Key?: string; Size?: string; LastModified?: string }[]; IsTruncated?: string; NextContinuationToken?: string } };
    const page = doc.ListBucketResult;
    if (!page) throw new ObjectStoreError(OBJ.io, `list s3://${this.o.bucket}/${prefix}: the answer is not a ListBucketResult`, "runtime", { transient: true });
    return {
      contents: (page.Contents ?? []).map((c) => ({ key: c.Key ?? "", size: Number(c.Size ?? 0), mtime: c.LastModified ? new Date(c.LastModified) : new Date(0) })),
      truncated: page.IsTruncated === "true",
      next: page.NextContinuationToken || undefined,
    };
  }
}

/**
 * A response body, copied as it arrives into one buffer of the announced length (its own
 * ArrayBuffer, so a caller can transfer it to a worker; a body without a length is concatenated):
 * no list of pieces and no final concatenation, which at 4 MiB per chunk was a tenth of a
 * restore's main-thread time. Events rather than `for await`: no promise per 64 KiB piece (~0.15 s
 * of CPU per GiB received). A body of another length than announced (cut short in transit, or
 * more) is a transient error, never a short object. `expected` overrides Content-Length (HEAD: 0,
 * the SDK's ContentLength); `what` names the request.
 */
export function readBody(res: Readable, expected: number | undefined, what: string): Promise<Uint8Array> {
  const announced = expected ?? ("headers" in res ? contentLength((res as IncomingMessage).headers) : undefined);
  return new Promise<Uint8Array>((resolve, reject) => {
    // A failed read leaves the connection in an unknown state: close it rather than reuse it.
    const fail = (e: unknown) => {
      res.destroy();
      reject(e);
    };
    const parts: Uint8Array[] = [];
    let bytes: Uint8Array | undefined;
    try {
      bytes = announced === undefined ? undefined : new Uint8Array(new ArrayBuffer(announced));
    } catch (e) {
      fail(new ObjectStoreError(OBJ.io, `${what}: cannot hold a body of ${announced} bytes: ${e instanceof Error ? e.message : String(e)}`, "runtime"));
      return;
    }
    let length = 0;
    res.on("data", (p: Buffer) => {
      if (!bytes) parts.push(p);
      else if (length + p.length <= bytes.length) bytes.set(p, length);
      length += p.length;
    });
    res.on("error", fail);
    // A connection cut mid-body ends without "end": the promise settles as a short body then.
    res.on("close", () => reject(shortBody(what, length, announced ?? length + 1)));
    res.on("end", () => {
      if (!bytes) resolve(Buffer.concat(parts));
      else if (length === bytes.length) resolve(bytes);
      else fail(shortBody(what, length, bytes.length));
    });
  });
}

const ERROR_BODY_MAX = 64 * 1024;

/** An error answer's body, only for its code and message: at most 64 KiB, whatever its length or fate. */
function readErrorBody(res: IncomingMessage): Promise<Uint8Array> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let n = 0;
    const done = () => resolve(Buffer.concat(parts));
    res.on("data", (p: Buffer) => {
      if (n < ERROR_BODY_MAX) parts.push(p);
      n += p.length;
    });
    res.on("end", done);
    res.on("error", done);
    res.on("close", done);
  });
}

function shortBody(what: string, got: number, announced: number): ObjectStoreError {
  return new ObjectStoreError(OBJ.io, `${what}: received ${got} of ${announced} bytes`, "runtime", { transient: true });
}

function contentLength(h: IncomingHttpHeaders): number | undefined {
  const n = Number(h["content-length"]);
  return h["content-length"] !== undefined && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
