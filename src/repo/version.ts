/** "cbm <version>" recorded in config and manifests (which program wrote them, for support). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../util/root.ts";

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

export const TOOL = `cbm ${readVersion()}`;
