/**
 * Verification: is every chunk that the chosen backups need present and intact? Presence comes from
 * one listing of packs/ and chunks/ (incomplete packs count for nothing); intactness from downloading (all, or a random sample of) the chunks and
 * decoding them with every check, including recomputing the id. Bad chunks are reported with every
 * backup, disk and byte offset that needs them, so the operator knows what is affected.
 */
import { randomInt } from "node:crypto";
import { CbmError, errorMessage } from "../util/errors.ts";
import { chunkRange } from "./chunk.ts";
import { ChunkReader } from "./chunkindex.ts";
import { clearDamaged, markDamaged, readDamaged } from "./damaged.ts";
import { REPO } from "./codes.ts";
import { arenaSlots, DEFAULT_CONCURRENCY, type Engine } from "./engine.ts";
import type { Manifest } from "./manifest.ts";
import { Arena } from "./pool.ts";
import { TaskGroup } from "./tasks.ts";

export interface ChunkUse {
  backupId: string;
  vg: string;
  disk: string;
  fileName: string;
  offset: number;
}

export interface BadChunk {
  id: string;
  problem: "missing" | "corrupt";
  message: string;
  usedBy: ChunkUse[];
}

export interface VerifyOptions {
  /** Percentage (0–100] of the referenced chunks to download and check; default 100. */
  sample?: number;
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (p: { chunksChecked: number; chunksToCheck: number; bytesChecked: number }) => void;
}

export interface VerifyReport {
  ok: boolean;
  backups: string[];
  chunksReferenced: number;
  chunksChecked: number;
  bytesChecked: number;
  missing: number;
  corrupt: number;
  bad: BadChunk[];
  /** Backups whose manifest could not be read (verify all): their chunks were not checked. */
  unreadable: { id: string; message: string }[];
  durationMs: number;
}

interface Need {
  length: number;
  uses: ChunkUse[];
}

/** Every chunk id the manifests reference, with its plaintext length and where it is used. Pure. */
export function chunkUses(manifests: Manifest[]): Map<string, Need> {
  const needs = new Map<string, Need>();
  for (const m of manifests) {
    for (const vg of m.vgs) {
      for (const d of vg.disks) {
        d.chunks.forEach((id, i) => {
          if (!id) return;
          const { offset, length } = chunkRange(i, d.size, d.chunkSize);
          let n = needs.get(id);
          if (!n) needs.set(id, (n = { length, uses: [] }));
          n.uses.push({ backupId: m.id, vg: vg.name, disk: d.name, fileName: d.fileName, offset });
        });
      }
    }
  }
  return needs;
}

/** A uniform random sample of `percent` % of ids (at least one when there are any). */
export function sampleIds(ids: string[], percent: number): string[] {
  if (percent >= 100) return ids;
  const k = Math.min(ids.length, Math.max(1, Math.ceil((ids.length * percent) / 100)));
  const a = ids.slice();
  for (let i = 0; i < k; i++) {
    const j = i + randomInt(a.length - i);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, k);
}

export async function runVerify(e: Engine, manifests: Manifest[], o: VerifyOptions = {}, unreadable: VerifyReport["unreadable"] = []): Promise<VerifyReport> {
  const started = performance.now();
  const sample = o.sample ?? 100;
  if (!(sample > 0 && sample <= 100)) {
    throw new CbmError(REPO.badRequest, `sample ${sample}: give a percentage greater than 0 and at most 100`, "validation");
  }
  const needs = chunkUses(manifests);
  const present = await ChunkReader.open(e.store);
  const damaged = await readDamaged(e.store);
  const bad: BadChunk[] = [];
  const presentIds: string[] = [];
  for (const [id, n] of needs) {
    if (present.has(id)) presentIds.push(id);
    else bad.push({ id, problem: "missing", message: present.missing(id), usedBy: n.uses });
  }
  const toCheck = sampleIds(presentIds, sample);

  const pool = e.pool();
  const concurrency = o.concurrency ?? DEFAULT_CONCURRENCY;
  // A loop, not Math.max(...ids): a spread of a few hundred thousand arguments overflows the stack.
  const maxLen = toCheck.reduce((m, id) => Math.max(m, needs.get(id)!.length), 1);
  const arena = new Arena(arenaSlots(concurrency, pool.size), maxLen);
  const group = new TaskGroup(o.signal);
  let chunksChecked = 0;
  let bytesChecked = 0;
  for (const id of toCheck) {
    if (group.stopped) break;
    const slot = await arena.acquireUnless(group);
    if (slot === undefined) break;
    const need = needs.get(id)!;
    const first = need.uses[0];
    group.spawn(async () => {
      try {
        const got = await present.fetch(id);
        if (!got) {
          bad.push({ id, problem: "missing", message: `chunk ${id} disappeared during verify`, usedBy: need.uses });
          return;
        }
        bytesChecked += got.object.byteLength;
        try {
          await pool.run(
            { op: "decode", object: got.object, id, recomputeId: true, context: `in ${got.key}; disk ${first.disk} at byte offset ${first.offset} of backup ${first.backupId}`, ...arena.ref(slot, need.length) },
            [got.object],
          );
        } catch (err) {
          if (err instanceof CbmError && err.kind === "integrity") {
            bad.push({ id, problem: "corrupt", message: errorMessage(err), usedBy: need.uses });
            // The next backup that reads this data stores a good copy (damaged.ts).
            await markDamaged(e.store, id, got.key, errorMessage(err));
            return;
          } else throw err;
        }
        if (damaged.has(id)) await clearDamaged(e.store, id); // a good copy is what readers get now
      } finally {
        arena.release(slot);
        chunksChecked++;
        o.onProgress?.({ chunksChecked, chunksToCheck: toCheck.length, bytesChecked });
      }
    });
  }
  await group.finish("verify");
  return {
    ok: bad.length === 0 && unreadable.length === 0,
    backups: manifests.map((m) => m.id),
    chunksReferenced: needs.size,
    chunksChecked,
    bytesChecked,
    missing: bad.filter((b) => b.problem === "missing").length,
    corrupt: bad.filter((b) => b.problem === "corrupt").length,
    bad,
    unreadable,
    durationMs: Math.round(performance.now() - started),
  };
}
