/**
 * Manifests (docs/format.md §6): one per backup, JSON sealed (zstd + AES-256-GCM or checksum) under
 * manifests/<backupId>. Reader and writer; pure.
 */
import { z } from "zod";
import { CbmError } from "../util/errors.ts";
import { chunkCount } from "./chunk.ts";
import { REPO } from "./codes.ts";
import { FORMAT_VERSION } from "./keys.ts";
import { isBackupId } from "./names.ts";
import { seal, unseal } from "./sealed.ts";

export const MANIFESTS_PREFIX = "manifests/";

const chunkRef = z.union([z.string().regex(/^[0-9a-f]{64}$/), z.null()]);

const diskSchema = z.object({
  name: z.string().min(1),
  uuid: z.string().nullable(),
  pvid: z.string().nullable(),
  size: z.number().int().min(0),
  chunkSize: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  fileName: z.string(),
  chunks: z.array(chunkRef),
  stats: z.object({ chunksNew: z.number().int(), chunksZero: z.number().int(), bytesNew: z.number().int() }),
});

const manifestSchema = z.object({
  format: z.literal("cbm-manifest"),
  version: z.number().int(),
  id: z.string(),
  time: z.string(),
  type: z.enum(["full", "incremental"]),
  cluster: z.string(),
  rg: z.string(),
  node: z.string(),
  consistencyGroup: z.string().nullable(),
  parent: z.string().nullable(),
  tool: z.string(),
  compression: z.boolean(),
  vgs: z.array(z.object({ name: z.string().min(1), disks: z.array(diskSchema) })),
  stats: z.object({
    bytesRead: z.number().int(),
    bytesNew: z.number().int(),
    chunksTotal: z.number().int(),
    chunksNew: z.number().int(),
    chunksZero: z.number().int(),
    durationMs: z.number(),
  }),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestDisk = z.infer<typeof diskSchema>;
export type ManifestVg = Manifest["vgs"][number];

export function manifestKey(id: string): string {
  return `${MANIFESTS_PREFIX}${id}`;
}

export function backupIdFromKey(key: string): string | undefined {
  if (!key.startsWith(MANIFESTS_PREFIX)) return undefined;
  const id = key.slice(MANIFESTS_PREFIX.length);
  return isBackupId(id) ? id : undefined;
}

function corrupt(id: string, msg: string): CbmError {
  return new CbmError(REPO.corrupt, `manifest ${id}: ${msg}`, "integrity");
}

/** Structural checks beyond the schema: the invariants a restore relies on. */
export function checkManifest(m: Manifest, expectedId: string): void {
  if (m.version !== FORMAT_VERSION) {
    throw new CbmError(REPO.unsupported, `manifest ${expectedId} has version ${m.version}; this program reads version ${FORMAT_VERSION}`, "integrity");
  }
  if (m.id !== expectedId) throw corrupt(expectedId, `its id field says ${m.id}`);
  for (const vg of m.vgs) {
    for (const d of vg.disks) {
      const want = chunkCount(d.size, d.chunkSize);
      if (d.chunks.length !== want) {
        throw corrupt(expectedId, `disk ${d.name} of ${d.size} bytes in ${d.chunkSize}-byte chunks needs ${want} chunk entries, has ${d.chunks.length}`);
      }
    }
  }
}

export function encodeManifest(m: Manifest, key: Buffer | null): Buffer {
  const json = Buffer.from(JSON.stringify(m), "utf8");
  return seal(json, { kind: "manifest", key, name: Buffer.from(m.id, "ascii"), compress: true }).object;
}

export function decodeManifest(obj: Uint8Array, id: string, key: Buffer | null): Manifest {
  const { plain } = unseal(obj, { kind: "manifest", key, name: Buffer.from(id, "ascii"), what: `manifest ${id}` });
  let json: unknown;
  try {
    json = JSON.parse(plain.toString("utf8"));
  } catch {
    throw corrupt(id, "payload is not JSON");
  }
  const r = manifestSchema.safeParse(json);
  if (!r.success) {
    throw corrupt(id, `malformed: ${r.error.issues.slice(0, 5).map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  checkManifest(r.data, id);
  return r.data;
}
