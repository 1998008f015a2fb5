/**
 * Backup schedules (the paper's Figure 5), pure. A profile has a daily time (BACKUP_SCHEDULE, HH:MM,
 * local time of the daemon — TZ honoured), a full period in days (BACKUP_FREQUENCY) and an optional
 * incremental period in hours (INC_BACKUP_FREQ).
 *
 *  - Fulls run at HH:MM every N days, anchored on the slot of the last successful full (the latest
 *    HH:MM at or before it started), or, before any full, at the first HH:MM at or after the time the
 *    profile was enabled.
 *  - Incrementals run every M hours on a grid anchored at the last full's start (full + M, + 2M, …),
 *    only after a full exists, and only strictly before the next full: a slot that coincides with a
 *    full is the full.
 *  - A slot missed (daemon down, RG offline) is caught up once: the next slot is computed from the
 *    run that catches up, never replayed slot by slot.
 *  - A failed full is retried after `retryMs`; a failed incremental consumes its slot.
 */

export interface ScheduleSpec {
  /** "HH:MM" */
  time: string;
  fullDays: number;
  incHours?: number;
}

export interface ScheduleState {
  /** When the daemon first saw the profile enabled (ms). */
  enabledSince: number;
  /** Start times (ms) of the last successful full / incremental. */
  lastFull?: number;
  lastIncremental?: number;
  /** Start time of the last failed full / incremental (after the last success of that type). */
  lastFailedFull?: number;
  lastFailedIncremental?: number;
}

export interface ScheduleDecision {
  nextFull: number;
  nextIncremental?: number;
  due?: "full" | "incremental";
}

export const HOUR = 3_600_000;
export const DEFAULT_RETRY_MS = HOUR;

export function parseHHMM(s: string): { h: number; m: number } {
  const m = /^(\d{1,2}):(\d{2})$/.exec(s.trim());
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) throw new Error(`BACKUP_SCHEDULE "${s}" is not HH:MM`);
  return { h: Number(m[1]), m: Number(m[2]) };
}

/** The HH:MM of the local day of t, `days` days later (calendar days: DST-safe). */
function slotOfDay(t: number, hhmm: string, days = 0): number {
  const { h, m } = parseHHMM(hhmm);
  const d = new Date(t);
  d.setDate(d.getDate() + days);
  d.setHours(h, m, 0, 0);
  return d.getTime();
}

/** The latest HH:MM slot at or before t. */
export function slotAtOrBefore(t: number, hhmm: string): number {
  const s = slotOfDay(t, hhmm);
  return s <= t ? s : slotOfDay(t, hhmm, -1);
}

/** The first HH:MM slot at or after t. */
export function slotAtOrAfter(t: number, hhmm: string): number {
  const s = slotOfDay(t, hhmm);
  return s >= t ? s : slotOfDay(t, hhmm, 1);
}

/** When the next full is scheduled (ignoring retries). */
export function nextFullSlot(spec: ScheduleSpec, st: ScheduleState): number {
  if (st.lastFull === undefined) return slotAtOrAfter(st.enabledSince, spec.time);
  return slotOfDay(slotAtOrBefore(st.lastFull, spec.time), spec.time, Math.max(1, spec.fullDays));
}

export function decide(spec: ScheduleSpec, st: ScheduleState, now: number, retryMs = DEFAULT_RETRY_MS): ScheduleDecision {
  const slot = nextFullSlot(spec, st);
  // A failed attempt at (or after) the slot postpones the full by retryMs.
  const nextFull = st.lastFailedFull !== undefined && st.lastFailedFull >= slot ? Math.max(slot, st.lastFailedFull + retryMs) : slot;
  let nextIncremental: number | undefined;
  if (spec.incHours && spec.incHours > 0 && st.lastFull !== undefined) {
    const step = spec.incHours * HOUR;
    const after = Math.max(st.lastFull, st.lastIncremental ?? 0, st.lastFailedIncremental ?? 0);
    const k = Math.floor((after - st.lastFull) / step) + 1;
    const cand = st.lastFull + k * step;
    if (cand < slot) nextIncremental = cand;
  }
  let due: ScheduleDecision["due"];
  if (now >= nextFull) due = "full";
  else if (nextIncremental !== undefined && now >= nextIncremental) due = "incremental";
  return { nextFull, nextIncremental, due };
}

/** The schedule attributes of a profile (effective values). */
export function specOf(attrs: Record<string, string>): ScheduleSpec {
  const inc = Number(attrs.INC_BACKUP_FREQ || 0);
  return { time: attrs.BACKUP_SCHEDULE || "00:42", fullDays: Number(attrs.BACKUP_FREQUENCY || 1) || 1, incHours: inc > 0 ? inc : undefined };
}
