#!/usr/bin/env node
// Summarises V8 .cpuprofile files (from CBM_PROF=1 bench/run.sh: one per thread of a clmgr run):
// per profile, total sampled time, idle share, and the top functions by self time.
//   node bench/prof-top.mjs bench/results/prof/full-2048-1 [topN]
/* global process, console */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, basename } from "node:path";

const [, , dir, topArg = "15"] = process.argv;
const topN = Number(topArg);
const files = statSync(dir).isDirectory() ? readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).map((f) => join(dir, f)) : [dir];

for (const f of files.sort()) {
  const p = JSON.parse(readFileSync(f, "utf8"));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dts = p.timeDeltas;
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]);
    const dt = (dts[i] ?? 0) / 1000;
    total += dt;
    const cf = n.callFrame;
    const url = (cf.url || "").replace(/^.*\/(node_modules\/[^/]+(\/[^/]+)?|src)\//, "$1/");
    const key = `${cf.functionName || "(anonymous)"} ${url ? `${url}:${cf.lineNumber + 1}` : ""}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const idle = (self.get("(idle)") ?? 0) + (self.get("(program)") ?? 0) * 0;
  const span = (p.endTime - p.startTime) / 1000;
  console.log(`\n${basename(f)}: span ${(span / 1000).toFixed(2)} s, sampled ${(total / 1000).toFixed(2)} s, idle ${(idle / 1000).toFixed(2)} s, busy ${((total - idle) / 1000).toFixed(2)} s`);
  const rows = [...self].filter(([k]) => k !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, topN);
  for (const [k, ms] of rows) console.log(`  ${(ms / 1000).toFixed(2).padStart(7)} s  ${((100 * ms) / (total - idle || 1)).toFixed(1).padStart(5)}%  ${k}`);
}
