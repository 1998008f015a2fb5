// npm run build: bundles the program into dist/js/ with esbuild (the compiler tsx itself runs on).
//
// Why a bundle: Node's ES module loader costs ~0.4 ms per file, and a clmgr command loads ~90 of
// our files and ~150 of its packages' (zod alone is 75): ~40 ms of a 130 ms `clmgr -h`, and of every
// backup. Two entries — the CLI and the pipeline's worker thread (src/repo/pool.ts starts
// ./worker.js beside itself) — with shared code split into chunks; commands loaded on demand stay
// separate chunks. dist/js/ sits two levels below the root, as src/util/ does, so
// src/util/root.ts finds the root from either. Type checking is `npm run typecheck`.
//
// Not bundled: packages with native parts (loaded from node_modules as usual) and what the code
// loads through createRequire on purpose (the AWS SDK, zstd, BLAKE3: see their modules).
/* global console, process, URL */
import { build } from "esbuild";
import { rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}dist`;
rmSync(out, { recursive: true, force: true });
try {
  await build({
    absWorkingDir: root,
    entryPoints: { main: "src/cli/main.ts", worker: "src/repo/worker.ts" },
    outdir: "dist/js",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    chunkNames: "chunk-[hash]",
    external: ["better-sqlite3", "ssh2", "cpu-features", "s3rver", "tsx", "zstd-napi", "@napi-rs/blake-hash", "@aws-sdk/*"],
    // Bundled CommonJS packages call require() for Node's built-ins; ES modules have none.
    banner: { js: "import { createRequire as __cbmCreateRequire } from 'node:module'; const require = __cbmCreateRequire(import.meta.url);" },
    logLevel: "warning",
  });
} catch {
  process.exit(1); // esbuild has printed the errors
}
// bin/launch.mjs runs dist/js only while this is newer than every source file.
writeFileSync(`${out}/.built`, `${new Date().toISOString()}\n`);
console.log("built dist/js");
