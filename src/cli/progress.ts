/** A one-line progress bar (bytes, rate, ETA) on a terminal; silent when stderr is not a TTY. */
import { humanBytes } from "../util/bytes.ts";

export interface ProgressBar {
  update(done: number, total: number, extra?: string): void;
  done(): void;
}

export function progressBar(label: string, enabled = process.stderr.isTTY === true): ProgressBar {
  const start = Date.now();
  let last = 0;
  let drawn = false;
  return {
    update(done, total, extra = "") {
      if (!enabled) return;
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const secs = (now - start) / 1000;
      const rate = secs > 0 ? done / secs : 0;
      const frac = total > 0 ? Math.min(1, done / total) : 0;
      const eta = rate > 0 ? Math.max(0, (total - done) / rate) : 0;
      const width = 24;
      const bar = "=".repeat(Math.floor(frac * width)).padEnd(width, " ");
      const line = `${label} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${humanBytes(done)}/${humanBytes(total)} ${humanBytes(rate)}/s ETA ${eta.toFixed(0)}s ${extra}`;
      process.stderr.write(`\r${line.slice(0, (process.stderr.columns || 80) - 1)}\x1b[K`);
      drawn = true;
    },
    done() {
      if (drawn) process.stderr.write("\n");
    },
  };
}
