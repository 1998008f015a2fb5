/**
 * The daemon's clock, injectable. Production uses the system clock; tests (and demos) may make it
 * simulated with CBM_CLOCK_START (an ISO time; without an offset it is local time) and
 * CBM_CLOCK_SPEED (simulated seconds per real second, default 1). Both the daemon and `clmgr`
 * (which records manual runs in the job history) honour them, so they agree on "now".
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that starts at `start` and runs `speed` times faster than real time. */
export function simulatedClock(start: number, speed = 1, real: () => number = Date.now): Clock {
  const t0 = real();
  return { now: () => Math.floor(start + (real() - t0) * speed) };
}

/** A clock that only moves when told: for in-process tests. */
export class ManualClock implements Clock {
  constructor(private t: number) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export function clockFromEnv(env: NodeJS.ProcessEnv = process.env): Clock {
  const start = env.CBM_CLOCK_START;
  if (!start) return systemClock;
  const t = Date.parse(start);
  const speed = Number(env.CBM_CLOCK_SPEED ?? "1");
  if (!Number.isFinite(t)) throw new Error(`CBM_CLOCK_START="${start}" is not a time (e.g. 2026-03-01T17:29:50).`);
  if (!(speed > 0)) throw new Error(`CBM_CLOCK_SPEED="${env.CBM_CLOCK_SPEED}" must be a positive number.`);
  return simulatedClock(t, speed);
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Local time as YYYY-MM-DDTHH:MM:SS±HH:MM (the daemon's time zone, TZ honoured). */
export function formatLocal(ms: number): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    `${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`
  );
}
