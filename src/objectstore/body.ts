/**
 * An object's bytes for put(): one buffer, or several sent back to back without joining them (a pack
 * of sealed chunks, docs/format.md §5.1: each chunk stays in the arena slot it was encoded into).
 */
import { createHash } from "node:crypto";

export type Body = Uint8Array | readonly Uint8Array[];

export function bodyParts(b: Body): readonly Uint8Array[] {
  return b instanceof Uint8Array ? [b] : b;
}

export function bodyLength(b: Body): number {
  return bodyParts(b).reduce((s, p) => s + p.length, 0);
}

/** The body as one buffer: itself, or a copy of the parts joined (paths that need one piece). */
export function bodyBytes(b: Body): Uint8Array {
  return b instanceof Uint8Array ? b : Buffer.concat(b);
}

export function md5Base64(b: Body): string {
  const h = createHash("md5");
  for (const p of bodyParts(b)) h.update(p);
  return h.digest("base64");
}
