/**
 * Repository config and key slots (docs/format.md §2, §3): init, open, add a key, key files.
 *
 * The master key is random; each key slot wraps it with a KEK from scrypt(passphrase) or from a
 * 32-byte key file. Subkeys for chunk ids, chunk and manifest encryption come from HKDF so that one
 * key is never used for two purposes.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, scrypt as scryptCb } from "node:crypto";
import { constants as fsc } from "node:fs";
import * as fsp from "node:fs/promises";
import { z } from "zod";
import type { ObjectStore } from "../objectstore/types.ts";
import { CbmError, errorMessage } from "../util/errors.ts";
import { DEFAULT_CHUNK_SIZE, validateChunkSize, type ChunkDigest } from "./chunk.ts";
import { REPO } from "./codes.ts";
import { TOOL } from "./version.ts";

export const CONFIG_KEY = "config";
export const KEYS_PREFIX = "keys/";
/** Version of key slots and manifests (and of the sealed header byte). */
export const FORMAT_VERSION = 1;
/**
 * Repository (config) version new repositories get: 2 stores chunks in packs (format §5.1). A
 * version 1 repository keeps one object per chunk, so that older programs still read it.
 */
export const REPO_VERSION = 2;
const REPO_VERSIONS_READ = [1, 2];

/** True when chunks are written in packs (config version 2), false for version 1 chunk objects. */
export function writesPacks(c: Pick<RepoConfig, "version">): boolean {
  return c.version >= 2;
}

/** How to unlock (or, for init, protect) a repository. keyBytes is for programs holding the key. */
export type Credential = { passphrase: string } | { keyFile: string } | { keyBytes: Uint8Array };
export type EncryptionSpec = Credential | "none";

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}
/** 2^15·8·128 B = 32 MiB and ~0.1 s per attempt on this class of machine. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 32768, r: 8, p: 1 };

const hex32 = z.string().regex(/^[0-9a-f]{32}$/);
const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

const configSchema = z.object({
  format: z.literal("cbm-repo"),
  version: z.number().int(),
  id: hex32,
  created: z.string(),
  chunkSize: z.number().int(),
  encryption: z.enum(["none", "aes-256-gcm"]),
  chunkIdAlgorithm: z.enum(["sha256", "hmac-sha256", "blake3", "hmac-blake3"]),
  tool: z.string().optional(),
});
export type RepoConfig = z.infer<typeof configSchema>;

const slotSchema = z.object({
  format: z.literal("cbm-key"),
  version: z.number().int(),
  id: hex32,
  created: z.string(),
  kdf: z.enum(["scrypt", "keyfile"]),
  scrypt: z
    .object({
      N: z.number().int().min(16384).max(1 << 20).refine((n) => (n & (n - 1)) === 0, "N must be a power of two"),
      r: z.number().int().min(1).max(32),
      p: z.number().int().min(1).max(16),
      salt: b64,
    })
    .optional(),
  keyfile: z.object({ salt: b64 }).optional(),
  nonce: b64,
  wrapped: b64,
  label: z.string().optional(),
});
export type KeySlot = z.infer<typeof slotSchema>;

/** Subkeys of an open repository (all null when it is unencrypted), and its chunk digest. */
export interface RepoKeys {
  idKey: Buffer | null;
  chunkKey: Buffer | null;
  manifestKey: Buffer | null;
  chunkDigest: ChunkDigest;
}

/** The plaintext digest behind a repository's chunk ids: "hmac-blake3" → blake3 (docs/format.md §2). */
export function chunkDigestOf(c: Pick<RepoConfig, "chunkIdAlgorithm">): ChunkDigest {
  return c.chunkIdAlgorithm.endsWith("blake3") ? "blake3" : "sha256";
}

function chunkIdAlgorithm(encrypted: boolean, digest: ChunkDigest): RepoConfig["chunkIdAlgorithm"] {
  return encrypted ? `hmac-${digest}` : digest;
}

export interface OpenedRepo {
  config: RepoConfig;
  keys: RepoKeys;
  /** Kept so that addKey can wrap it again; null when unencrypted. */
  master: Buffer | null;
}

function invalid(code: string, msg: string, cause?: unknown): CbmError {
  return new CbmError(code, msg, "validation", { cause });
}

export function parseConfig(bytes: Uint8Array, where: string): RepoConfig {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (e) {
    throw new CbmError(REPO.corrupt, `config of ${where} is not JSON: ${errorMessage(e)}`, "integrity");
  }
  const r = configSchema.safeParse(json);
  if (!r.success) {
    throw new CbmError(REPO.corrupt, `config of ${where} is malformed: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, "integrity");
  }
  const c = r.data;
  if (!REPO_VERSIONS_READ.includes(c.version)) {
    throw new CbmError(REPO.unsupported, `repository ${where} has format version ${c.version}; this program reads versions ${REPO_VERSIONS_READ.join(" and ")}`, "validation");
  }
  const expectAlg = chunkIdAlgorithm(c.encryption !== "none", chunkDigestOf(c));
  if (c.chunkIdAlgorithm !== expectAlg) {
    throw new CbmError(REPO.corrupt, `config of ${where}: chunkIdAlgorithm ${c.chunkIdAlgorithm} does not go with encryption ${c.encryption} (expected ${expectAlg})`, "integrity");
  }
  validateChunkSize(c.chunkSize);
  return c;
}

export function parseKeySlot(bytes: Uint8Array, where: string): KeySlot {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (e) {
    throw new CbmError(REPO.corrupt, `key slot ${where} is not JSON: ${errorMessage(e)}`, "integrity");
  }
  const r = slotSchema.safeParse(json);
  if (!r.success) {
    throw new CbmError(REPO.corrupt, `key slot ${where} is malformed: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, "integrity");
  }
  const s = r.data;
  if (s.version !== FORMAT_VERSION) {
    throw new CbmError(REPO.unsupported, `key slot ${where} has version ${s.version}; this program reads version ${FORMAT_VERSION}`, "validation");
  }
  if ((s.kdf === "scrypt" && !s.scrypt) || (s.kdf === "keyfile" && !s.keyfile)) {
    throw new CbmError(REPO.corrupt, `key slot ${where}: kdf ${s.kdf} without its parameters`, "integrity");
  }
  return s;
}

function scrypt(pass: string, salt: Buffer, p: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem above 128·N·r so that the parameters we allow are never refused by node's default cap.
    scryptCb(pass, salt, 32, { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from(info, "ascii"), 32));
}

/** The keys of an open repository: subkeys of its master key, or none (unencrypted). */
export function repoKeys(master: Buffer | null, config: Pick<RepoConfig, "id" | "chunkIdAlgorithm">): RepoKeys {
  const chunkDigest = chunkDigestOf(config);
  if (!master) return { idKey: null, chunkKey: null, manifestKey: null, chunkDigest };
  const salt = Buffer.from(config.id, "hex");
  return {
    idKey: hkdf(master, salt, "cbm/v1/chunk-id"),
    chunkKey: hkdf(master, salt, "cbm/v1/chunk-enc"),
    manifestKey: hkdf(master, salt, "cbm/v1/manifest-enc"),
    chunkDigest,
  };
}

/** Parses a key file's bytes: exactly 32 raw bytes, or 64 hex digits (surrounding whitespace ignored). */
export function parseKeyFileBytes(data: Uint8Array, where: string): Buffer {
  const buf = Buffer.from(data);
  if (buf.length === 32) return buf;
  const text = buf.toString("latin1").trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, "hex");
  throw invalid(REPO.keyFile, `key file ${where} must hold 32 random bytes, raw or as 64 hex digits (it has ${buf.length} bytes)`);
}

export async function readKeyFile(path: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await fsp.readFile(path);
  } catch (e) {
    throw invalid(REPO.keyFile, `cannot read key file ${path}: ${errorMessage(e)}`, e);
  }
  return parseKeyFileBytes(data, path);
}

/** Writes a new key file (64 hex digits + newline, mode 0600). Refuses to overwrite an existing file. */
export async function createKeyFile(path: string): Promise<Buffer> {
  const key = randomBytes(32);
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
    await fh.writeFile(`${key.toString("hex")}\n`);
    await fh.sync();
  } catch (e) {
    throw invalid(REPO.keyFile, `cannot create key file ${path}: ${errorMessage(e)}`, e);
  } finally {
    await fh?.close();
  }
  return key;
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await fsp.stat(path);
    return true;
  } catch {
    return false;
  }
}

type SlotKind = "scrypt" | "keyfile";
function slotKind(c: Credential): SlotKind {
  return "passphrase" in c ? "scrypt" : "keyfile";
}

function describe(c: Credential): string {
  if ("passphrase" in c) return "passphrase";
  if ("keyFile" in c) return `key file ${c.keyFile}`;
  return "key";
}

async function keyFileBytes(c: { keyFile: string } | { keyBytes: Uint8Array }): Promise<Buffer> {
  return "keyFile" in c ? readKeyFile(c.keyFile) : parseKeyFileBytes(c.keyBytes, "(given key bytes)");
}

function wrapAad(repoId: string): Buffer {
  return Buffer.from(`cbm/v1/key:${repoId}`, "ascii");
}

async function kekFor(slot: KeySlot, c: Credential): Promise<Buffer> {
  if ("passphrase" in c) {
    const s = slot.scrypt!;
    return scrypt(c.passphrase, Buffer.from(s.salt, "base64"), s);
  }
  return hkdf(await keyFileBytes(c), Buffer.from(slot.keyfile!.salt, "base64"), "cbm/v1/keyfile-kek");
}

/** Builds a key slot wrapping `master` for credential `c`. */
export async function makeKeySlot(master: Buffer, repoId: string, c: Credential, opts: { scrypt?: ScryptParams; label?: string } = {}): Promise<KeySlot> {
  const salt = randomBytes(32).toString("base64");
  const slot: KeySlot = {
    format: "cbm-key",
    version: FORMAT_VERSION,
    id: randomBytes(16).toString("hex"),
    created: new Date().toISOString(),
    kdf: slotKind(c),
    nonce: randomBytes(12).toString("base64"),
    wrapped: "",
    ...(opts.label ? { label: opts.label } : {}),
  };
  if (slot.kdf === "scrypt") slot.scrypt = { ...(opts.scrypt ?? DEFAULT_SCRYPT), salt };
  else slot.keyfile = { salt };
  const kek = await kekFor(slot, c);
  const cipher = createCipheriv("aes-256-gcm", kek, Buffer.from(slot.nonce, "base64"));
  cipher.setAAD(wrapAad(repoId));
  slot.wrapped = Buffer.concat([cipher.update(master), cipher.final(), cipher.getAuthTag()]).toString("base64");
  return slot;
}

/** The master key, or undefined when this credential does not open this slot. */
export async function unwrapKeySlot(slot: KeySlot, repoId: string, c: Credential): Promise<Buffer | undefined> {
  if (slot.kdf !== slotKind(c)) return undefined;
  const kek = await kekFor(slot, c);
  const wrapped = Buffer.from(slot.wrapped, "base64");
  if (wrapped.length !== 48) return undefined;
  const d = createDecipheriv("aes-256-gcm", kek, Buffer.from(slot.nonce, "base64"));
  d.setAAD(wrapAad(repoId));
  d.setAuthTag(wrapped.subarray(32));
  try {
    return Buffer.concat([d.update(wrapped.subarray(0, 32)), d.final()]);
  } catch {
    return undefined;
  }
}

export interface InitOptions {
  encryption: EncryptionSpec;
  chunkSize?: number;
  /** Plaintext digest of chunk ids; default BLAKE3 (see ChunkDigest). */
  chunkDigest?: ChunkDigest;
  /** Override scrypt cost (tests); defaults to DEFAULT_SCRYPT. */
  scrypt?: ScryptParams;
  label?: string;
  /** Repository version (default REPO_VERSION); 1 writes one object per chunk, for older readers and tests. */
  version?: 1 | 2;
}

/**
 * Creates a repository: key slot first, config last (config marks the repository as existing, and is
 * written create-only so two concurrent inits cannot both win). With { keyFile } a missing key file is
 * created (0600); an existing one is used.
 */
export async function initRepo(store: ObjectStore, o: InitOptions): Promise<OpenedRepo> {
  const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
  validateChunkSize(chunkSize);
  if (await store.head(CONFIG_KEY)) {
    throw invalid(REPO.exists, `a repository already exists at ${store.location} (found its config); open it instead`);
  }
  const encrypted = o.encryption !== "none";
  const config: RepoConfig = {
    format: "cbm-repo",
    version: o.version ?? REPO_VERSION,
    id: randomBytes(16).toString("hex"),
    created: new Date().toISOString(),
    chunkSize,
    encryption: encrypted ? "aes-256-gcm" : "none",
    chunkIdAlgorithm: chunkIdAlgorithm(encrypted, o.chunkDigest ?? "blake3"),
    tool: TOOL,
  };
  let master: Buffer | null = null;
  if (o.encryption !== "none") {
    let cred: Credential = o.encryption;
    if ("keyFile" in cred && !(await fileExists(cred.keyFile))) {
      cred = { keyBytes: await createKeyFile(cred.keyFile) };
    }
    master = randomBytes(32);
    const slot = await makeKeySlot(master, config.id, cred, { scrypt: o.scrypt, label: o.label });
    await store.put(`${KEYS_PREFIX}${slot.id}`, Buffer.from(JSON.stringify(slot, null, 2)), { ifNoneMatch: true });
  }
  try {
    await store.put(CONFIG_KEY, Buffer.from(JSON.stringify(config, null, 2)), { ifNoneMatch: true });
  } catch (e) {
    if (e instanceof CbmError && e.code === "CBM_OBJ_EXISTS") {
      throw invalid(REPO.exists, `a repository was created at ${store.location} concurrently; open it instead`, e);
    }
    throw e;
  }
  return { config, keys: repoKeys(master, config), master };
}

export async function readConfig(store: ObjectStore): Promise<RepoConfig> {
  let bytes: Uint8Array;
  try {
    bytes = await store.get(CONFIG_KEY);
  } catch (e) {
    if (e instanceof CbmError && e.kind === "notfound") {
      throw new CbmError(REPO.missing, `no CBM repository at ${store.location} (no config object)`, "notfound", { cause: e });
    }
    throw e;
  }
  return parseConfig(bytes, store.location);
}

export async function listKeySlots(store: ObjectStore): Promise<KeySlot[]> {
  const keys: string[] = [];
  await store.list(KEYS_PREFIX, (info) => {
    if (/^keys\/[0-9a-f]{32}$/.test(info.key)) keys.push(info.key);
  });
  keys.sort();
  return Promise.all(keys.map(async (k) => parseKeySlot(await store.get(k), `${k} in ${store.location}`)));
}

/**
 * Opens a repository. Reads only: a wrong credential writes nothing. Throws CBM_REPO_BAD_KEY
 * (validation) when no slot accepts the credential, CBM_REPO_KEY_REQUIRED when a key is missing.
 */
export async function openRepo(store: ObjectStore, cred?: Credential | "none"): Promise<OpenedRepo> {
  const config = await readConfig(store);
  const given = cred === undefined || cred === "none" ? undefined : cred;
  if (config.encryption === "none") {
    if (given) throw invalid(REPO.keyRequired, `repository ${store.location} is not encrypted; open it without a passphrase or key file`);
    return { config, keys: repoKeys(null, config), master: null };
  }
  if (!given) {
    throw invalid(REPO.keyRequired, `repository ${store.location} is encrypted; give its passphrase or key file`);
  }
  const slots = await listKeySlots(store);
  const kind = slotKind(given);
  const candidates = slots.filter((s) => s.kdf === kind);
  for (const slot of candidates) {
    const master = await unwrapKeySlot(slot, config.id, given);
    if (master) return { config, keys: repoKeys(master, config), master };
  }
  const have = `${slots.length} key slot(s): ${slots.filter((s) => s.kdf === "scrypt").length} passphrase, ${slots.filter((s) => s.kdf === "keyfile").length} key file`;
  throw invalid(REPO.badKey, `wrong ${describe(given)} for repository ${store.location}: no key slot accepts it (${have})`);
}

/** Adds a key slot for another credential (the repository must be open). Returns the slot id. */
export async function addKeySlot(store: ObjectStore, opened: OpenedRepo, cred: Credential, opts: { scrypt?: ScryptParams; label?: string } = {}): Promise<string> {
  if (!opened.master) throw invalid(REPO.keyRequired, `repository ${store.location} is not encrypted: it has no keys to add`);
  let c = cred;
  if ("keyFile" in c && !(await fileExists(c.keyFile))) c = { keyBytes: await createKeyFile(c.keyFile) };
  const slot = await makeKeySlot(opened.master, opened.config.id, c, opts);
  await store.put(`${KEYS_PREFIX}${slot.id}`, Buffer.from(JSON.stringify(slot, null, 2)), { ifNoneMatch: true });
  return slot.id;
}
