/**
 * Retention policy (restic's `forget` rules), pure: which backups of one cluster/resource group to
 * keep. Backups are taken newest first; each rule keeps, for its N most recent distinct periods, the
 * newest backup of the period:
 *
 *   keepLast     the N newest backups
 *   keepDaily    the newest backup of each of the N most recent days that have a backup
 *   keepWeekly   … of ISO weeks (Monday to Sunday)
 *   keepMonthly  … of calendar months
 *
 * Periods are computed in UTC (backup times and file names are UTC, docs/format.md §6.1, §9), so the
 * decision does not depend on the host's zone. A backup is kept when any rule keeps it. Besides the
 * rules, `protect` ids are always kept (the newest verified backup) and so is every backup whose
 * object-lock retention has not expired (`lockedUntil`): the server would refuse to delete it.
 * A policy whose rules are all 0 keeps everything (the default: nothing is ever deleted).
 */

export interface RetentionPolicy {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
}

export interface RetentionItem {
  id: string;
  /** ISO-8601 time of the backup (manifest `time`). */
  time: string;
}

export type KeepReason = "last" | "daily" | "weekly" | "monthly" | "verified" | "locked" | "no-policy";

export interface RetentionDecision {
  /** Newest first. */
  keep: Array<{ id: string; time: string; reasons: KeepReason[] }>;
  /** Newest first. */
  remove: Array<{ id: string; time: string }>;
}

export function policyActive(p: RetentionPolicy): boolean {
  return (p.keepLast ?? 0) > 0 || (p.keepDaily ?? 0) > 0 || (p.keepWeekly ?? 0) > 0 || (p.keepMonthly ?? 0) > 0;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

export function dayKey(d: Date): string {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

export function monthKey(d: Date): string {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}`;
}

/** ISO-8601 week, e.g. 2026-W09 (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeekKey(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dow = t.getUTCDay() || 7; // Monday = 1 … Sunday = 7
  t.setUTCDate(t.getUTCDate() + 4 - dow); // the Thursday of this week decides its year
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${pad(week)}`;
}

/**
 * Applies the policy to the backups of one scope (any order; ties on time broken by id, the newest
 * id first). `now` and `lockedUntil` decide object-lock protection: a backup is locked while
 * lockedUntil(item) > now.
 */
export function applyRetention(
  items: RetentionItem[],
  policy: RetentionPolicy,
  o: { protect?: Iterable<string>; lockedUntil?: (item: RetentionItem) => Date | undefined; now?: Date } = {},
): RetentionDecision {
  const sorted = items.slice().sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const reasons = new Map<string, KeepReason[]>(sorted.map((i) => [i.id, []]));
  if (!policyActive(policy)) {
    for (const i of sorted) reasons.get(i.id)!.push("no-policy");
  } else {
    sorted.slice(0, Math.max(0, policy.keepLast ?? 0)).forEach((i) => reasons.get(i.id)!.push("last"));
    const rule = (n: number | undefined, key: (d: Date) => string, why: KeepReason) => {
      let left = Math.max(0, n ?? 0);
      let last: string | undefined;
      for (const i of sorted) {
        if (left === 0) break;
        const k = key(new Date(i.time));
        if (k === last) continue;
        last = k;
        reasons.get(i.id)!.push(why);
        left--;
      }
    };
    rule(policy.keepDaily, dayKey, "daily");
    rule(policy.keepWeekly, isoWeekKey, "weekly");
    rule(policy.keepMonthly, monthKey, "monthly");
  }
  for (const id of o.protect ?? []) reasons.get(id)?.push("verified");
  const now = o.now ?? new Date();
  if (o.lockedUntil) {
    for (const i of sorted) {
      const until = o.lockedUntil(i);
      if (until && until.getTime() > now.getTime()) reasons.get(i.id)!.push("locked");
    }
  }
  const keep: RetentionDecision["keep"] = [];
  const remove: RetentionDecision["remove"] = [];
  for (const i of sorted) {
    const r = reasons.get(i.id)!;
    if (r.length > 0) keep.push({ id: i.id, time: i.time, reasons: r });
    else remove.push({ id: i.id, time: i.time });
  }
  return { keep, remove };
}
