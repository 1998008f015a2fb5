// Shared by bin/cbm and bin/clmgr (one program, two names).
//
// Runs the bundle in dist/js/ (built by `npm run build`, which `npm ci` runs through the prepare
// script; see scripts/build.mjs) when the build is at least as new as every file under src/: no
// TypeScript loader in the process or in its worker threads, and a few files instead of hundreds,
// which saves start-up time and memory. Otherwise — no
// build, sources edited since, or CBM_FROM_SOURCE=1 — the TypeScript sources run through tsx, so a
// checkout with edited or unbuilt sources still runs what its sources say.
import { readdirSync, statSync } from "node:fs";
/* global process, URL */
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** True when dist/.built exists and no file under src/ is newer. Stats ~100 files: a few ms. */
function buildIsFresh() {
  if (process.env.CBM_FROM_SOURCE === "1") return false;
  let built;
  try {
    built = statSync(`${root}dist/.built`).mtimeMs;
  } catch {
    return false;
  }
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) {
        if (!walk(p)) return false;
      } else if (statSync(p).mtimeMs > built) return false;
    }
    return true;
  };
  try {
    return walk(`${root}src`);
  } catch {
    return false;
  }
}

export async function launch() {
  let main;
  if (buildIsFresh()) {
    ({ main } = await import("../dist/js/main.js"));
  } else {
    const { register } = await import("tsx/esm/api");
    register();
    ({ main } = await import("../src/cli/main.ts"));
  }
  process.exitCode = await main(process.argv.slice(2), { argv0: process.argv[1] });
}
