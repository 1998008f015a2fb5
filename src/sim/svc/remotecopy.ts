/**
 * Remote copy (Metro/Global Mirror) state machine (SVC-CLI.md §3.2) and its copy engine.
 *
 * Each relationship and group is stored once, in the RC store shared by both systems (state.ts).
 * The stored state is the "connected" state; what each half shows while the partnership is down is
 * derived (viewState). When a system notices the link is down it moves running relationships to their
 * stopped state (consistent ones freeze: freeze_time and the files' mtimes are recorded, which later
 * tell `sync` in_sync/out_of_sync).
 *
 * The engine runs in the process of the system that holds the primary copy: it copies the primary
 * volume file to the secondary one in 1 MiB blocks (background copy, shown as progress), then, while
 * consistent_synchronized, polls the primary for changed blocks (mtime, then SHA-256 per block) and
 * copies them (asynchronous mirroring, as Global Mirror).
 */
import { promises as fsp } from "node:fs";
import { svcErr } from "./errors.ts";
import type { RcGroup, RcPrimary, RcRel, RcStore, RcStoredState, RcViewState } from "./model.ts";
import { freezeTimestamp } from "./model.ts";
import { mutateRcStore } from "./state.ts";
import { BLOCK, hashBlock, mtimeNs, volumePath } from "./volumes.ts";

/** What the engine and the commands need to know about the world. */
export interface RcEnv {
  selfId: string;
  rcFile: string;
  /** state directory of a system (self or a registered partner) */
  stateDirOf(systemId: string): Promise<string | undefined>;
  /** is the partnership between these two systems up (always true for one system) */
  connected(a: string, b: string): Promise<boolean>;
}

export const relKey = (r: RcRel): string => `${r.masterSystemId}:${r.id}`;

export const involves = (o: { masterSystemId: string; auxSystemId: string }, sysId: string): boolean =>
  o.masterSystemId === sysId || o.auxSystemId === sysId;

/** The system holding the primary copy (the master's system while there is no direction). */
export function primarySystem(o: { masterSystemId: string; auxSystemId: string; primary: RcPrimary }): string {
  return o.primary === "aux" ? o.auxSystemId : o.masterSystemId;
}

/** The state one half shows (SVC-CLI.md §3.2 "link lost"). */
export function viewState(stored: RcStoredState, selfIsPrimary: boolean, connected: boolean): RcViewState {
  if (connected) return stored;
  if (stored === "idling") return "idling_disconnected";
  if (stored.startsWith("inconsistent")) return selfIsPrimary ? "inconsistent_stopped" : "inconsistent_disconnected";
  return selfIsPrimary ? "consistent_stopped" : "consistent_disconnected";
}

export interface RelFiles {
  master: string;
  aux: string;
}

export async function relFiles(env: RcEnv, r: RcRel): Promise<RelFiles | undefined> {
  const md = await env.stateDirOf(r.masterSystemId);
  const ad = await env.stateDirOf(r.auxSystemId);
  if (md === undefined || ad === undefined) return undefined;
  return { master: volumePath(md, r.masterUid), aux: volumePath(ad, r.auxUid) };
}

async function currentMtimes(env: RcEnv, r: RcRel): Promise<{ master: string; aux: string }> {
  const f = await relFiles(env, r);
  if (!f) return { master: "", aux: "" };
  return { master: await mtimeNs(f.master), aux: await mtimeNs(f.aux) };
}

/** in_sync when neither file changed since the image was frozen. */
export async function inSync(env: RcEnv, r: RcRel): Promise<boolean> {
  if (!r.frozen) return false;
  const now = await currentMtimes(env, r);
  return now.master === r.frozen.master && now.aux === r.frozen.aux;
}

/** A unit of control: a stand-alone relationship, or a group with its members. */
export interface RcUnit {
  group?: RcGroup;
  rels: RcRel[];
}

export function unitState(u: RcUnit): RcStoredState {
  return u.group ? u.group.state : u.rels[0].state;
}

function setAll(u: RcUnit, f: (o: RcRel | RcGroup) => void): void {
  if (u.group) f(u.group);
  for (const r of u.rels) f(r);
}

async function freeze(env: RcEnv, u: RcUnit, now: Date): Promise<void> {
  const stamp = freezeTimestamp(now);
  for (const r of u.rels) {
    r.freezeTime = stamp;
    r.frozen = await currentMtimes(env, r);
  }
  if (u.group) u.group.freezeTime = stamp;
}

export interface StartOpts {
  primary?: "master" | "aux";
  force: boolean;
}

/** start: computes and applies the transition (SVC-CLI.md §3.2 transitions and rejections). */
export async function startUnit(env: RcEnv, u: RcUnit, o: StartOpts): Promise<void> {
  const st = unitState(u);
  const cur = u.group ? u.group.primary : u.rels[0].primary;
  let sync = true;
  for (const r of u.rels) if (!(await inSync(env, r))) sync = false;
  let next: RcStoredState;
  let primary: RcPrimary = cur;
  switch (st) {
    case "inconsistent_stopped":
      if (o.primary && o.primary !== cur) throw svcErr("CMMVC5982E");
      next = "inconsistent_copying";
      break;
    case "consistent_stopped":
      if (o.primary && o.primary !== cur) {
        // [K] reversing the direction of a stopped relationship discards the secondary's image
        if (!o.force) throw svcErr("CMMVC5982E");
        primary = o.primary;
        next = "inconsistent_copying";
      } else if (sync) next = "consistent_synchronized";
      else if (o.force) next = "inconsistent_copying";
      else throw svcErr("CMMVC5982E");
      break;
    case "idling":
      if (!o.primary) throw svcErr("CMMVC5963E");
      primary = o.primary;
      if (sync) next = "consistent_synchronized";
      else if (o.force) next = "inconsistent_copying";
      else throw svcErr("CMMVC5982E");
      break;
    default:
      throw svcErr("CMMVC5982E");
  }
  setAll(u, (x) => {
    x.state = next;
    x.primary = primary;
    if (next === "consistent_synchronized") x.freezeTime = "";
  });
  for (const r of u.rels) {
    r.progress = next === "inconsistent_copying" ? 0 : null;
    if (next === "inconsistent_copying") r.copyEpoch++;
    r.frozen = null;
  }
}

/** stop [-access] (SVC-CLI.md §3.2). `connected` false: only the secondary's -access is meaningful. */
export async function stopUnit(env: RcEnv, u: RcUnit, access: boolean, now: Date): Promise<void> {
  const st = unitState(u);
  if (access) {
    if (st.startsWith("inconsistent")) throw svcErr("CMMVC5982E");
    if (st === "idling") return;
    if (st === "consistent_synchronized") await freeze(env, u, now);
    setAll(u, (x) => {
      x.state = "idling";
      x.primary = "";
    });
    for (const r of u.rels) r.progress = null;
    return;
  }
  if (st === "inconsistent_copying") {
    setAll(u, (x) => (x.state = "inconsistent_stopped"));
  } else if (st === "consistent_synchronized") {
    await freeze(env, u, now);
    setAll(u, (x) => (x.state = "consistent_stopped"));
    for (const r of u.rels) r.progress = null;
  }
  // [K] stop of an already stopped or idling relationship is accepted and changes nothing
}

export function switchUnit(u: RcUnit, primary: "master" | "aux"): void {
  if (unitState(u) !== "consistent_synchronized") throw svcErr("CMMVC5982E");
  setAll(u, (x) => (x.primary = primary));
}

/** The link went down: running relationships stop, consistent ones freeze. */
export async function disconnectUnit(env: RcEnv, u: RcUnit, now: Date): Promise<boolean> {
  const st = unitState(u);
  if (st === "inconsistent_copying") {
    setAll(u, (x) => (x.state = "inconsistent_stopped"));
    return true;
  }
  if (st === "consistent_synchronized") {
    await freeze(env, u, now);
    setAll(u, (x) => (x.state = "consistent_stopped"));
    for (const r of u.rels) r.progress = null;
    return true;
  }
  return false;
}

/** Units of a store: every group with members, plus stand-alone relationships. */
export function unitsOf(s: RcStore): RcUnit[] {
  const out: RcUnit[] = [];
  for (const g of s.groups) {
    const rels = s.relationships.filter((r) => r.groupId === g.id);
    if (rels.length > 0) out.push({ group: g, rels });
  }
  for (const r of s.relationships) if (r.groupId === null) out.push({ rels: [r] });
  return out;
}

interface CopyCache {
  /** primary file mtime when the last full scan started */
  mtime: string;
  hashes: string[];
  /** next block of the initial background copy */
  cursor: number;
}

/** The background copy engine of one system. Call `tick()` periodically; ticks never overlap. */
export class RcEngine {
  private cache = new Map<string, CopyCache>();
  private running = false;

  constructor(
    private readonly env: RcEnv,
    private readonly bytesPerTick: number,
  ) {}

  /**
   * One engine step. The copy work runs while holding the RC store lock, so a stop/switch command
   * (which takes the same lock) never interleaves with a write pass: a freeze records the files'
   * state after the last mirrored write.
   */
  async tick(store: RcStore): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.handleDisconnects(store);
      if (!(await this.hasWork(store))) return;
      await mutateRcStoreAsync(this.env.rcFile, async (s) => {
        let changed = false;
        for (const u of unitsOf(s)) {
          if (!(await this.isMine(u))) continue;
          if (unitState(u) === "inconsistent_copying") changed = (await this.initialCopy(u)) || changed;
          else for (const r of u.rels) await this.mirror(r);
        }
        return changed;
      });
    } finally {
      this.running = false;
    }
  }

  private async isMine(u: RcUnit): Promise<boolean> {
    const st = unitState(u);
    if (st !== "inconsistent_copying" && st !== "consistent_synchronized") return false;
    const r0 = u.rels[0];
    if (primarySystem(u.group ?? r0) !== this.env.selfId) return false;
    return this.env.connected(r0.masterSystemId, r0.auxSystemId);
  }

  private async hasWork(store: RcStore): Promise<boolean> {
    for (const u of unitsOf(store)) if (await this.isMine(u)) return true;
    return false;
  }

  /** Stop running relationships whose link is down (also called by ls commands before showing state). */
  async handleDisconnects(store: RcStore): Promise<void> {
    const down: string[] = [];
    for (const u of unitsOf(store)) {
      const r0 = u.rels[0];
      if (!involves(r0, this.env.selfId)) continue;
      const st = unitState(u);
      if (st !== "inconsistent_copying" && st !== "consistent_synchronized") continue;
      if (!(await this.env.connected(r0.masterSystemId, r0.auxSystemId))) down.push(unitKey(u));
    }
    if (down.length === 0) return;
    const now = new Date();
    await mutateRcStoreAsync(this.env.rcFile, async (s) => {
      let changed = false;
      for (const u of unitsOf(s)) if (down.includes(unitKey(u)) && (await disconnectUnit(this.env, u, now))) changed = true;
      return changed;
    });
    this.cache.clear();
  }

  private mirrorKey(r: RcRel): string {
    return `${relKey(r)}:${r.primary}:mirror`;
  }

  private initKey(r: RcRel): string {
    return `${relKey(r)}:${r.primary}:init:${r.copyEpoch}`;
  }

  private async paths(r: RcRel): Promise<{ src: string; dst: string } | undefined> {
    const f = await relFiles(this.env, r);
    if (!f) return undefined;
    return r.primary === "aux" ? { src: f.aux, dst: f.master } : { src: f.master, dst: f.aux };
  }

  /** Background copy: up to bytesPerTick per tick, spread over the members; then synchronized. */
  private async initialCopy(u: RcUnit): Promise<boolean> {
    let budget = this.bytesPerTick;
    const progress = new Map<string, number>();
    for (const r of u.rels) {
      const p = await this.paths(r);
      if (!p) return false;
      const key = this.initKey(r);
      let c = this.cache.get(key);
      if (!c) {
        c = { mtime: await mtimeNs(p.src), hashes: [], cursor: 0 };
        this.cache.set(key, c);
      }
      const blocks = Math.ceil(r.capacity / BLOCK);
      if (c.cursor < blocks && budget > 0) {
        const sh = await fsp.open(p.src, "r");
        const dh = await fsp.open(p.dst, "r+");
        try {
          const buf = Buffer.alloc(BLOCK);
          while (c.cursor < blocks && budget > 0) {
            const off = c.cursor * BLOCK;
            const n = Math.min(BLOCK, r.capacity - off);
            await sh.read(buf, 0, n, off);
            await dh.write(buf, 0, n, off);
            c.hashes[c.cursor] = hashBlock(buf.subarray(0, n));
            c.cursor++;
            budget -= n;
          }
        } finally {
          await sh.close();
          await dh.close();
        }
      }
      progress.set(relKey(r), Math.floor((c.cursor / blocks) * 100));
      if (c.cursor >= blocks) {
        // the mirror phase rescans if the primary changed since this pass began
        this.cache.set(this.mirrorKey(r), { mtime: c.mtime, hashes: c.hashes, cursor: blocks });
      }
    }
    const allDone = [...progress.values()].every((p) => p >= 100);
    if (allDone) {
      setAll(u, (x) => {
        x.state = "consistent_synchronized";
        x.freezeTime = "";
      });
      for (const r of u.rels) {
        r.progress = null;
        r.frozen = null;
      }
      return true;
    }
    let changed = false;
    for (const r of u.rels) {
      const p = Math.min(99, progress.get(relKey(r)) ?? r.progress ?? 0);
      if (p !== r.progress) {
        r.progress = p;
        changed = true;
      }
    }
    return changed;
  }

  /** Steady state: copy the blocks of the primary that changed since the last scan. */
  private async mirror(r: RcRel): Promise<void> {
    const p = await this.paths(r);
    if (!p) return;
    const key = this.mirrorKey(r);
    const c = this.cache.get(key);
    const m = await mtimeNs(p.src);
    if (c && c.mtime === m) return;
    const blocks = Math.ceil(r.capacity / BLOCK);
    const hashes: string[] = [];
    const sh = await fsp.open(p.src, "r");
    const dh = await fsp.open(p.dst, "r+");
    try {
      const buf = Buffer.alloc(BLOCK);
      const dbuf = Buffer.alloc(BLOCK);
      for (let i = 0; i < blocks; i++) {
        const off = i * BLOCK;
        const n = Math.min(BLOCK, r.capacity - off);
        await sh.read(buf, 0, n, off);
        const h = hashBlock(buf.subarray(0, n));
        hashes[i] = h;
        let differs: boolean;
        if (c) differs = c.hashes[i] !== h;
        else {
          await dh.read(dbuf, 0, n, off);
          differs = !buf.subarray(0, n).equals(dbuf.subarray(0, n));
        }
        if (differs) await dh.write(buf, 0, n, off);
      }
    } finally {
      await sh.close();
      await dh.close();
    }
    this.cache.set(key, { mtime: m, hashes, cursor: blocks });
  }
}

/** mutateRcStore with an async mutator returning whether it changed the store. */
export async function mutateRcStoreAsync(file: string, fn: (s: RcStore) => Promise<boolean>): Promise<void> {
  await mutateRcStore(file, async (s) => ({ changed: await fn(s), result: undefined }));
}

const unitKey = (u: RcUnit): string => (u.group ? `g:${u.group.masterSystemId}:${u.group.id}` : relKey(u.rels[0]));
