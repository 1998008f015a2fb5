/**
 * Structured logs: one JSON object per line in CBM_HOME/logs/cbm.log —
 * {"time":"…","level":"info","event":"backup_start","rg":"RG1",…}. The foreground daemon also
 * writes each line to stderr (systemd's journal picks it up).
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Clock } from "./clock.ts";

export type Level = "debug" | "info" | "warn" | "error";
export type Logger = (level: Level, event: string, fields?: Record<string, unknown>) => void;

export const logPath = (home: string) => join(home, "logs", "cbm.log");

const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Lines below `level` (default info: the per-tick debug lines stay out unless CBM_LOG_LEVEL=debug) are dropped. */
export function fileLogger(home: string, o: { clock?: Clock; stderr?: boolean; level?: string } = {}): Logger {
  mkdirSync(join(home, "logs"), { recursive: true, mode: 0o700 });
  const path = logPath(home);
  const min = RANK[(o.level ?? "info") as Level] ?? RANK.info;
  return (level, event, fields = {}) => {
    if (RANK[level] < min) return;
    const line = JSON.stringify({ time: new Date(o.clock?.now() ?? Date.now()).toISOString(), level, event, pid: process.pid, ...fields });
    try {
      appendFileSync(path, `${line}\n`, { mode: 0o600 });
    } catch {
      /* a full disk must not stop backups */
    }
    if (o.stderr) process.stderr.write(`${line}\n`);
  };
}
