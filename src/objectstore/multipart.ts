/**
 * Multipart upload of a stream of unknown length, with bounded memory. Written here rather than with
 * @aws-sdk/lib-storage's Upload because we need, per part: Content-MD5 (Ceph verifies it, and object
 * lock requires it), retries under our own policy (a part is a buffer, so unlike the stream it can be
 * replayed), and on the first failure: stop reading the source, stop starting parts, abort the upload.
 * (Upload sends parts without Content-MD5, relies on the SDK's retries, and its other workers keep
 * consuming and uploading the rest of the stream after a part failed.)
 *
 * Memory: at most queueSize parts in flight plus the one being filled.
 * Part sizes: partSize for the first 5000 parts, twice that for the next 5000 (S3's limit is 10000
 * parts): 8 MiB parts take objects up to 120 GiB.
 * Visibility: S3 shows the object only when CompleteMultipartUpload succeeds, so a failed or aborted
 * upload never leaves a partial object under the key. (Servers without AbortMultipartUpload, such as
 * s3rver, keep the orphaned parts, invisible to GET and LIST.)
 */
import { md5Base64 } from "./body.ts";
import type { CompletedPart, CreateMultipartUploadCommandInput, S3Client } from "@aws-sdk/client-s3";
import { OBJ, ObjectStoreError } from "./errors.ts";
import type { Recover } from "./retry.ts";
import { s3sdk } from "./s3sdk.ts";

export const MAX_PARTS = 10_000;

export interface MultipartTarget {
  client: S3Client;
  bucket: string;
  /** The full S3 key (store prefix included). */
  s3Key: string;
  /** Header parameters of CreateMultipartUpload: SSE, object lock. */
  createParams: Partial<CreateMultipartUploadCommandInput>;
  partSize: number;
  queueSize: number;
  /** Create-only: sent as If-None-Match: * on CompleteMultipartUpload. */
  ifNoneMatch: boolean;
  /** Runs one request under the store's retry policy, mapping SDK errors to ObjectStoreError. */
  request: <T>(op: string, fn: () => Promise<T>, recover?: Recover<T>) => Promise<T>;
  /** For a stream that fits in one part: a plain PUT is cheaper and just as atomic. */
  putSingle: (body: Uint8Array) => Promise<void>;
  /** For recovery of a Complete whose answer was lost: the stored size, or undefined. */
  storedSize: () => Promise<number | undefined>;
}


/** Part n (1-based) size: doubles after half the part budget, so long streams still fit. */
export function partSizeFor(base: number, n: number): number {
  return n <= MAX_PARTS / 2 ? base : base * 2;
}

/** Cuts the stream into parts of exactly the planned size (the last one shorter). */
async function* cutParts(body: AsyncIterable<Uint8Array>, base: number): AsyncGenerator<Uint8Array> {
  let n = 1;
  let buf = Buffer.allocUnsafe(partSizeFor(base, n));
  let fill = 0;
  for await (const chunk of body) {
    let off = 0;
    while (off < chunk.length) {
      const take = Math.min(chunk.length - off, buf.length - fill);
      buf.set(chunk.subarray(off, off + take), fill);
      fill += take;
      off += take;
      if (fill === buf.length) {
        yield buf;
        n++;
        buf = Buffer.allocUnsafe(partSizeFor(base, n));
        fill = 0;
      }
    }
  }
  if (fill > 0 || n === 1) yield buf.subarray(0, fill);
}

export async function uploadStream(t: MultipartTarget, body: AsyncIterable<Uint8Array>): Promise<void> {
  const parts = cutParts(body, t.partSize);
  try {
    const first = await parts.next();
    const second = first.done ? first : await parts.next();
    if (first.done || second.done) {
      await t.putSingle(first.done ? new Uint8Array(0) : first.value);
      return;
    }
    await multipart(t, first.value, second.value, parts);
  } finally {
    await parts.return(undefined); // closes the source if we stopped early
  }
}

async function multipart(
  t: MultipartTarget,
  first: Uint8Array,
  second: Uint8Array,
  rest: AsyncGenerator<Uint8Array>,
): Promise<void> {
  const { client, bucket, s3Key: key } = t;
  const created = await t.request("create multipart upload", () =>
    client.send(new (s3sdk().CreateMultipartUploadCommand)({ ...t.createParams, Bucket: bucket, Key: key })),
  );
  const uploadId = created.UploadId;
  if (!uploadId)
    throw new ObjectStoreError(OBJ.io, `CreateMultipartUpload for ${key} returned no UploadId`, "runtime");

  const done: CompletedPart[] = [];
  const inflight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let total = 0;

  const start = (n: number, data: Uint8Array) => {
    total += data.length;
    const md5 = md5Base64(data);
    const p = t
      .request(`upload part ${n}`, () =>
        client.send(
          new (s3sdk().UploadPartCommand)({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: n,
            Body: data,
            ContentLength: data.length,
            ContentMD5: md5,
          }),
        ),
      )
      .then((r) => {
        if (!r.ETag)
          throw new ObjectStoreError(OBJ.io, `UploadPart ${n} of ${key} returned no ETag`, "runtime");
        done.push({ PartNumber: n, ETag: r.ETag });
      })
      .catch((error: unknown) => {
        failure ??= { error };
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  try {
    start(1, first);
    start(2, second);
    let n = 2;
    while (!failure) {
      while (inflight.size >= t.queueSize && !failure) await Promise.race(inflight);
      if (failure) break;
      const next = await rest.next();
      if (next.done) break;
      if (++n > MAX_PARTS) {
        throw new ObjectStoreError(
          OBJ.io,
          `stream for ${key} exceeds ${MAX_PARTS} parts; raise the part size`,
          "validation",
        );
      }
      start(n, next.value);
    }
    await Promise.all(inflight);
    if (failure) throw failure.error;

    done.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    await t.request(
      "complete multipart upload",
      () =>
        client.send(
          new (s3sdk().CompleteMultipartUploadCommand)({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: done },
            IfNoneMatch: t.ifNoneMatch ? "*" : undefined,
          }),
        ),
      // If an earlier Complete took effect but its answer was lost, the retry meets NoSuchUpload.
      async (e) =>
        e instanceof ObjectStoreError && e.backendCode === "NoSuchUpload" && (await t.storedSize()) === total
          ? { ok: true, value: {} }
          : undefined,
    );
  } catch (e) {
    failure ??= { error: e };
    await Promise.allSettled(inflight);
    // Best effort: the upload is invisible anyway; this frees the stored parts.
    await client
      .send(new (s3sdk().AbortMultipartUploadCommand)({ Bucket: bucket, Key: key, UploadId: uploadId }))
      .catch(() => undefined);
    throw failure.error;
  }
}
