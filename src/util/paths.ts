/** Comparing paths the way the kernel resolves them. */
import { realpathSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

/**
 * The real path of `p` through symlinks: of `p` itself when it exists, else of its directory (a file
 * about to be created), else just the absolute path.
 */
export function canonicalPath(p: string): string {
  for (const [base, rest] of [
    [p, ""],
    [dirname(p), basename(p)],
  ]) {
    try {
      return rest ? join(realpathSync(base), rest) : realpathSync(base);
    } catch {
      // not there: try the next
    }
  }
  return resolve(p);
}
