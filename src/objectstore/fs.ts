/**
 * FsObjectStore: the object-store interface on a local directory (the zero-setup default outside
 * the lab). Key "a/b/c" is the file <root>/a/b/c.
 *
 * Atomicity: every write goes to a temporary file in the target's own directory (same filesystem),
 * is fsynced, then renamed over the target and the directory fsynced; a reader sees the old file or
 * the complete new one, and a crash leaves at most a stray temporary (named with TMP_MARK, skipped by
 * list). Create-only writes (ifNoneMatch) use link(2), which fails with EEXIST instead of replacing,
 * so two writers racing for one key cannot both win.
 *
 * Not supported here (ignored): server-side encryption and retention — they are properties of an
 * object-storage service; encrypt in the repository layer instead.
 * A key cannot be both an object and a "directory" of other keys ("a" and "a/b"): the second put fails.
 */
import { randomBytes } from "node:crypto";
import { constants as fsc } from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { errorMessage } from "../util/errors.ts";
import { bodyParts, type Body } from "./body.ts";
import { OBJ, ObjectStoreError, existsError, notFoundError, rangeError } from "./errors.ts";
import { TMP_MARK, checkRange, validateKey, validatePrefix } from "./keys.ts";
import type { ObjectInfo, ObjectStore, PutOptions } from "./types.ts";

type FileHandle = fsp.FileHandle;

function errno(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "string"
    ? (e as { code: string }).code
    : undefined;
}

export class FsObjectStore implements ObjectStore {
  readonly location: string;
  private readonly root: string;

  constructor(rootDir: string) {
    this.root = path.resolve(rootDir);
    this.location = this.root;
  }

  /** ObjectStore.ensureContainer: the root directory exists afterwards. */
  async ensureContainer(): Promise<void> {
    try {
      await fsp.mkdir(this.root, { recursive: true });
    } catch (e) {
      throw this.ioError("create", "(root)", e);
    }
  }

  private file(key: string): string {
    validateKey(key);
    return path.join(this.root, ...key.split("/"));
  }

  private ioError(op: string, key: string, e: unknown): ObjectStoreError {
    const code = errno(e);
    // EMFILE/EAGAIN/EBUSY can go away on their own; ENOSPC, EACCES, EISDIR will not.
    const transient = code === "EMFILE" || code === "ENFILE" || code === "EAGAIN" || code === "EBUSY";
    return new ObjectStoreError(
      OBJ.io,
      `${op} ${key} in ${this.location} failed: ${errorMessage(e)}`,
      "runtime",
      {
        cause: e,
        backendCode: code,
        transient,
      },
    );
  }

  async put(key: string, body: Body, opts?: PutOptions): Promise<void> {
    await this.write(key, opts, async (fh) => {
      for (const part of bodyParts(body)) {
        let off = 0;
        while (off < part.length) {
          const { bytesWritten } = await fh.write(part, off, part.length - off);
          off += bytesWritten;
        }
      }
    });
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void> {
    await this.write(key, opts, async (fh) => {
      for await (const chunk of body) {
        let off = 0;
        while (off < chunk.length) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
          off += bytesWritten;
        }
      }
    });
  }

  /** temp file + fill + fsync + rename (or link for create-only) + directory fsync. */
  private async write(key: string, opts: PutOptions | undefined, fill: (fh: FileHandle) => Promise<void>) {
    const target = this.file(key);
    const dir = path.dirname(target);
    const tmp = path.join(dir, `${path.basename(target)}${TMP_MARK}${randomBytes(6).toString("hex")}`);
    try {
      await fsp.mkdir(dir, { recursive: true });
    } catch (e) {
      throw this.ioError("put", key, e);
    }
    let fh: FileHandle | undefined;
    let placed = false;
    try {
      fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o644);
      await fill(fh);
      await fh.sync();
      await fh.close();
      fh = undefined;
      if (opts?.ifNoneMatch) {
        try {
          await fsp.link(tmp, target);
        } catch (e) {
          if (errno(e) === "EEXIST") throw existsError(this.location, key, e);
          throw e;
        }
        await fsp.unlink(tmp);
      } else {
        await fsp.rename(tmp, target);
      }
      placed = true;
      await syncDir(dir);
    } catch (e) {
      if (fh) await fh.close().catch(() => undefined);
      if (!placed) await fsp.unlink(tmp).catch(() => undefined);
      if (e instanceof ObjectStoreError) throw e;
      // A producer's own error (the AsyncIterable threw) is not ours to rename: pass it through.
      if (errno(e) === undefined) throw e;
      throw this.ioError("put", key, e);
    }
  }

  async get(key: string, range?: { offset: number; length: number }): Promise<Uint8Array> {
    const file = this.file(key);
    let fh: FileHandle;
    try {
      fh = await fsp.open(file, "r");
    } catch (e) {
      const c = errno(e);
      if (c === "ENOENT" || c === "ENOTDIR" || c === "EISDIR") throw notFoundError(this.location, key, e);
      throw this.ioError("get", key, e);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notFoundError(this.location, key);
      let offset = 0;
      let length = st.size;
      if (range) {
        checkRange(range);
        if (range.length === 0) return new Uint8Array(0);
        if (range.offset >= st.size) throw rangeError(this.location, key, range, st.size);
        offset = range.offset;
        length = Math.min(range.length, st.size - range.offset);
      }
      const buf = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break; // truncated underneath us: return what is there
        got += bytesRead;
      }
      return got === length ? buf : buf.subarray(0, got);
    } catch (e) {
      if (e instanceof ObjectStoreError) throw e;
      throw this.ioError("get", key, e);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const file = this.file(key);
    try {
      const st = await fsp.stat(file);
      return st.isFile() ? { key, size: st.size, mtime: st.mtime } : undefined;
    } catch (e) {
      const c = errno(e);
      if (c === "ENOENT" || c === "ENOTDIR") return undefined;
      throw this.ioError("head", key, e);
    }
  }

  async list(prefix: string, fn: (info: ObjectInfo) => void | Promise<void>): Promise<void> {
    validatePrefix(prefix);
    // Start the walk at the deepest directory the prefix names completely; filter the rest by name.
    const cut = prefix.lastIndexOf("/");
    const dirKey = cut < 0 ? "" : prefix.slice(0, cut);
    const start = dirKey === "" ? this.root : path.join(this.root, ...dirKey.split("/"));
    await this.walk(start, dirKey, prefix, fn);
  }

  private async walk(
    dir: string,
    dirKey: string,
    prefix: string,
    fn: (info: ObjectInfo) => void | Promise<void>,
  ): Promise<void> {
    const entries = await entriesOf(dir, (e) => this.ioError("list", dirKey === "" ? "(root)" : dirKey, e));
    for (const ent of entries) {
      if (ent.name.includes(TMP_MARK)) continue;
      const key = dirKey === "" ? ent.name : `${dirKey}/${ent.name}`;
      if (ent.isDirectory()) {
        // Descend only where keys below could still match the prefix.
        if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix)) {
          await this.walk(path.join(dir, ent.name), key, prefix, fn);
        }
      } else if (ent.isFile() && key.startsWith(prefix)) {
        let st;
        try {
          st = await fsp.stat(path.join(dir, ent.name));
        } catch (e) {
          if (errno(e) === "ENOENT") continue; // deleted while we walked
          throw this.ioError("list", key, e);
        }
        await fn({ key, size: st.size, mtime: st.mtime });
      }
    }
  }

  /** Temporary files (TMP_MARK) under prefix that a killed writer left, older than `before`. */
  async removeStale(prefix: string, before: Date): Promise<number> {
    validatePrefix(prefix);
    let removed = 0;
    const visit = async (dir: string): Promise<void> => {
      for (const ent of await entriesOf(dir, (e) => this.ioError("clean up", prefix, e))) {
        const p = path.join(dir, ent.name);
        if (ent.isDirectory()) await visit(p);
        else if (ent.name.includes(TMP_MARK)) {
          const st = await fsp.stat(p).catch(() => undefined);
          if (st && st.mtime < before && (await fsp.unlink(p).then(() => true, () => false))) removed++;
        }
      }
    };
    await visit(path.join(this.root, ...prefix.split("/").filter(Boolean)));
    return removed;
  }

  async delete(key: string): Promise<void> {
    const file = this.file(key);
    try {
      await fsp.unlink(file);
    } catch (e) {
      const c = errno(e);
      if (c === "ENOENT" || c === "ENOTDIR") return;
      throw this.ioError("delete", key, e);
    }
  }
}

/** A directory's entries; none when it does not exist (yet). */
async function entriesOf(dir: string, fail: (e: unknown) => Error): Promise<import("node:fs").Dirent[]> {
  try {
    return await fsp.readdir(dir, { withFileTypes: true });
  } catch (e) {
    const c = errno(e);
    if (c === "ENOENT" || c === "ENOTDIR") return [];
    throw fail(e);
  }
}

/** Makes a rename durable: the directory entry is only on disk once the directory is fsynced. */
async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
