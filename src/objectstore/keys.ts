/**
 * Key rules shared by all backends. Keys are "/"-separated relative paths. The fs backend maps them
 * to files, so anything that could escape the root or alias another key is refused everywhere — a
 * repository that works on S3 must also work on a directory, and the other way round.
 */
import { OBJ, ObjectStoreError } from "./errors.ts";

/** Marker in the names of the fs backend's temporary files; keys may not contain it. */
export const TMP_MARK = ".cbm-tmp-";

function badKey(what: string, key: string, why: string): ObjectStoreError {
  return new ObjectStoreError(
    OBJ.badKey,
    `invalid object ${what} ${JSON.stringify(key)}: ${why}; keys are relative "/"-separated paths ` +
      `without empty, "." or ".." segments`,
    "validation",
  );
}

function checkSegments(what: string, key: string, segments: string[]): void {
  for (const s of segments) {
    if (s === "") throw badKey(what, key, "empty segment");
    if (s === "." || s === "..") throw badKey(what, key, `segment "${s}"`);
    if (s.includes(TMP_MARK)) throw badKey(what, key, `contains reserved "${TMP_MARK}"`);
  }
}

/** Throws CBM_OBJ_KEY unless key is a valid object key. */
export function validateKey(key: string): void {
  if (key === "") throw badKey("key", key, "empty");
  if (key.startsWith("/")) throw badKey("key", key, "absolute");
  if (key.includes("\0") || key.includes("\\")) throw badKey("key", key, "NUL or backslash");
  checkSegments("key", key, key.split("/"));
}

/**
 * Throws CBM_OBJ_KEY unless prefix is a valid list prefix: "" (everything), a key, a key ending in
 * "/", or a key whose last segment is partial ("chunks/ab").
 */
export function validatePrefix(prefix: string): void {
  if (prefix === "") return;
  if (prefix.startsWith("/")) throw badKey("prefix", prefix, "absolute");
  if (prefix.includes("\0") || prefix.includes("\\")) throw badKey("prefix", prefix, "NUL or backslash");
  const segs = prefix.split("/");
  if (segs[segs.length - 1] === "") segs.pop();
  checkSegments("prefix", prefix, segs);
}

/** Ranges are plain offsets: non-negative safe integers. */
export function checkRange(range: { offset: number; length: number }): void {
  if (
    !Number.isSafeInteger(range.offset) ||
    !Number.isSafeInteger(range.length) ||
    range.offset < 0 ||
    range.length < 0
  ) {
    throw new ObjectStoreError(
      OBJ.range,
      `invalid range offset=${range.offset} length=${range.length}: both must be non-negative integers`,
      "validation",
    );
  }
}

/**
 * S3 bucket names, loosely (legacy AWS buckets may have capitals and "_"): 3 to 255 letters,
 * digits, ".", "-" or "_", beginning and ending with a letter or digit. Above all no "/", which a
 * path-style URL would read as another bucket with a key prefix. Returns why a name is refused.
 */
export function bucketNameProblem(name: string): string | undefined {
  if (/^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/.test(name)) return undefined;
  return `3 to 255 letters, digits, ".", "-" or "_", beginning and ending with a letter or digit (a prefix inside the bucket is set apart)`;
}
