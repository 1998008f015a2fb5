/**
 * Deterministic disk images with mixed content, in 1 MiB pieces: ~40% random (incompressible),
 * ~40% compressible (log-like text), ~20% zeros. Every non-zero piece is unique.
 */
import { createCipheriv, createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const MiB = 1024 * 1024;

function randomPiece(tag: string, idx: number): Buffer {
  const key = createHash("sha256").update(`disk-${tag}`).digest();
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(idx, 0);
  return createCipheriv("aes-256-ctr", key, iv).update(Buffer.alloc(MiB));
}

function textPiece(tag: string, idx: number): Buffer {
  const lines: string[] = [];
  let len = 0;
  for (let i = 0; len < MiB; i++) {
    const l = `2026-11-${String((idx % 28) + 1).padStart(2, "0")} ${tag} node1 app[${idx}]: request ${i} served in ${(i * 7) % 1000} ms status=200 user=u${i % 97}\n`;
    lines.push(l);
    len += l.length;
  }
  return Buffer.from(lines.join(""), "latin1").subarray(0, MiB);
}

/** Kind of piece i for a seed: R(andom), T(ext), Z(ero). */
export function pieceKind(seed: number, i: number): "R" | "T" | "Z" {
  const h = createHash("sha256").update(`${seed}:${i}`).digest()[0] / 256;
  return h < 0.4 ? "R" : h < 0.8 ? "T" : "Z";
}

export async function makeDisk(path: string, sizeMiB: number, seed: number): Promise<void> {
  const fh = await open(path, "w", 0o600);
  try {
    await fh.truncate(sizeMiB * MiB);
    for (let i = 0; i < sizeMiB; i++) {
      const k = pieceKind(seed, i);
      if (k === "Z") continue;
      await fh.write(k === "R" ? randomPiece(`s${seed}`, i) : textPiece(`s${seed}`, i), 0, MiB, i * MiB);
    }
  } finally {
    await fh.close();
  }
}

/** Overwrites pct% of the 1 MiB pieces (at least one) with new random data; returns their indexes. */
export async function mutateDisk(path: string, pct: number, seed: number): Promise<number[]> {
  const fh = await open(path, "r+");
  try {
    const pieces = Math.floor((await fh.stat()).size / MiB);
    const n = Math.max(1, Math.round((pieces * pct) / 100));
    const chosen = new Set<number>();
    for (let j = 0; chosen.size < n; j++) chosen.add(createHash("sha256").update(`m${seed}:${j}`).digest().readUInt32BE(0) % pieces);
    for (const p of chosen) await fh.write(randomPiece(`mut${seed}`, p), 0, MiB, p * MiB);
    return [...chosen];
  } finally {
    await fh.close();
  }
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const b of createReadStream(path, { highWaterMark: 4 * MiB })) h.update(b as Buffer);
  return h.digest("hex");
}

/**
 * A two-disk volume group for a site in `dir`: sda/sdb with mixed content from seeds[0]/seeds[1],
 * and empty same-size spares sdc/sdd (restore targets).
 */
export async function makeSiteDisks(dir: string, sizeMiB: number, seeds: [number, number]): Promise<{ disks: string[]; spares: string[] }> {
  await mkdir(dir, { recursive: true });
  const disks = [join(dir, "sda.img"), join(dir, "sdb.img")];
  const spares = [join(dir, "sdc.img"), join(dir, "sdd.img")];
  await makeDisk(disks[0], sizeMiB, seeds[0]);
  await makeDisk(disks[1], sizeMiB, seeds[1]);
  for (const s of spares) {
    await writeFile(s, "");
    await truncate(s, sizeMiB * MiB);
  }
  return { disks, spares };
}
