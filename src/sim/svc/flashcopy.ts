/**
 * FlashCopy state machine (SVC-CLI.md §3.1). A "unit" is either a stand-alone mapping or a
 * consistency group with its members; group commands move all members together, and a group's status
 * is derived from its members. The point-in-time copy itself happens at start: the sources of all
 * members are fenced (fence.ts), each source is cloned/copied to its target, the fences are lowered.
 * After that the mapping shows `copying` with a progress that rises over a short, copy-rate-scaled
 * time (the data is already in place), then `idle_or_copied`.
 */
import { svcErr } from "./errors.ts";
import type { FcGroup, FcGroupState, FcMap, FcState, LocalState } from "./model.ts";
import { svcTimestamp } from "./model.ts";
import { withFences } from "./fence.ts";
import { copyVolume, volumePath, volumesDir } from "./volumes.ts";

export interface FcTiming {
  /** preparing → prepared delay (0: prestart lands in prepared at once) */
  prepareMs: number;
  /** stopping → stopped delay (0: stop lands in stopped at once) */
  stopMs: number;
  /** time for the displayed progress to reach 100 at copy_rate 50 (scaled by 50/copy_rate) */
  copyMs: number;
  /** longest wait for host writes to drain when fencing */
  fenceTimeoutMs: number;
}

/** Most active first: a group shows the most active status among its members. */
const PRIORITY: readonly FcState[] = [
  "copying",
  "stopping",
  "suspended",
  "preparing",
  "prepared",
  "stopped",
  "idle_or_copied",
];

export function membersOf(s: LocalState, groupId: number): FcMap[] {
  return s.fcMaps.filter((m) => m.groupId === groupId);
}

export function groupStatus(members: readonly FcMap[]): FcGroupState {
  if (members.length === 0) return "empty";
  for (const st of PRIORITY) if (members.some((m) => m.status === st)) return st;
  return "idle_or_copied";
}

/** Reject driving a grouped mapping on its own (it must go through its group) [K: code]. */
export function assertStandalone(m: FcMap): void {
  if (m.groupId !== null) throw svcErr("CMMVC5903E");
}

export function prestart(maps: readonly FcMap[], t: FcTiming, now: number): void {
  if (maps.length === 0) throw svcErr("CMMVC5903E");
  for (const m of maps) if (m.status !== "idle_or_copied" && m.status !== "stopped") throw svcErr("CMMVC5903E");
  for (const m of maps) {
    m.status = t.prepareMs > 0 ? "preparing" : "prepared";
    m.dueAt = t.prepareMs > 0 ? now + t.prepareMs : undefined;
  }
}

/** Check that a start is legal; returns whether a prepare is implied. Throws the SVC error. */
export function checkStart(maps: readonly FcMap[], prep: boolean): void {
  if (maps.length === 0) throw svcErr("CMMVC5903E");
  if (maps.some((m) => m.status === "copying")) throw svcErr("CMMVC5907E");
  for (const m of maps) {
    const ok = prep ? ["idle_or_copied", "stopped", "prepared"].includes(m.status) : m.status === "prepared";
    if (!ok) throw svcErr("CMMVC5903E");
  }
}

/** Take the point-in-time image of every member at once, then mark them copying. */
export async function start(
  s: LocalState,
  stateDir: string,
  maps: readonly FcMap[],
  group: FcGroup | undefined,
  t: FcTiming,
): Promise<void> {
  const pairs = maps.map((m) => {
    const src = s.vdisks.find((v) => v.id === m.sourceId);
    const dst = s.vdisks.find((v) => v.id === m.targetId);
    if (!src || !dst) throw svcErr("CMMVC5753E");
    return { src, dst };
  });
  const uids = [...new Set(pairs.map((p) => p.src.uid))];
  await withFences(volumesDir(stateDir), uids, t.fenceTimeoutMs, async () => {
    for (const { src, dst } of pairs) {
      await copyVolume(volumePath(stateDir, src.uid), volumePath(stateDir, dst.uid), src.capacity);
    }
  });
  const now = Date.now();
  const stamp = svcTimestamp(new Date(now));
  for (const m of maps) {
    m.status = "copying";
    m.progress = 0;
    m.startTime = stamp;
    m.startedAtMs = now;
    m.dueAt = undefined;
  }
  if (group) group.startTime = stamp;
}

export function stop(maps: readonly FcMap[], t: FcTiming, now: number): void {
  if (maps.length > 0 && maps.every((m) => m.status === "stopped")) throw svcErr("CMMVC5912E");
  for (const m of maps) {
    switch (m.status) {
      case "idle_or_copied": // no effect on current code levels
      case "stopping":
      case "stopped":
        break;
      case "preparing":
      case "prepared":
      case "suspended":
        m.status = "stopped";
        m.dueAt = undefined;
        break;
      case "copying":
        if (m.progress >= 100) m.status = "idle_or_copied";
        else if (t.stopMs > 0) {
          m.status = "stopping";
          m.dueAt = now + t.stopMs;
        } else m.status = "stopped";
        break;
    }
  }
}

/** Remove a mapping from the model, deleting an autodelete group that becomes empty. */
export function deleteMap(s: LocalState, m: FcMap): void {
  s.fcMaps = s.fcMaps.filter((x) => x !== m);
  if (m.groupId !== null) dropGroupIfAutodeleteEmpty(s, m.groupId);
}

export function dropGroupIfAutodeleteEmpty(s: LocalState, groupId: number): void {
  const g = s.fcGroups.find((x) => x.id === groupId);
  if (g && g.autodelete && membersOf(s, groupId).length === 0) s.fcGroups = s.fcGroups.filter((x) => x !== g);
}

/** rmfcmap rules: idle_or_copied → delete; stopped needs -force; anything else is refused. */
export function checkRemovable(m: FcMap, force: boolean): void {
  if (m.status === "idle_or_copied") return;
  if (m.status === "stopped" && force) return;
  throw svcErr("CMMVC5903E");
}

/** Advance time: timed transitions and displayed copy progress. Returns true if anything changed. */
export function tick(s: LocalState, t: FcTiming, now: number): boolean {
  let changed = false;
  for (const m of [...s.fcMaps]) {
    if (m.dueAt !== undefined && now >= m.dueAt) {
      if (m.status === "preparing") m.status = "prepared";
      else if (m.status === "stopping") m.status = "stopped";
      m.dueAt = undefined;
      changed = true;
    }
    if (m.status === "copying" && m.copyRate > 0) {
      const span = Math.max(1, (t.copyMs * 50) / m.copyRate);
      const p = Math.min(100, Math.floor(((now - (m.startedAtMs ?? now)) / span) * 100));
      if (p !== m.progress) {
        m.progress = p;
        changed = true;
      }
      if (p >= 100) {
        m.status = "idle_or_copied";
        if (m.autodelete) deleteMap(s, m);
        changed = true;
      }
    }
  }
  return changed;
}
