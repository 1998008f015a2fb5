#!/usr/bin/env node
// Turns bench/results/raw.tsv (written by bench/run.sh) into the markdown table of bench/README.md:
// medians per operation and image size, and our speed ratio to each peer against the goals.
/* global process, console, URL */
import { readFileSync } from "node:fs";

const [, , rawPath = new URL("./results/raw.tsv", import.meta.url).pathname] = process.argv;
const lines = readFileSync(rawPath, "utf8").trim().split("\n");
const head = lines[0].split("\t");
const rows = lines.slice(1).map((l) => Object.fromEntries(l.split("\t").map((v, i) => [head[i], v])));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// [ours, peer, goal: our speed / peer speed must be at least (or above, when strict)]
const RATIOS = [
  ["cbm: backup full", "restic: backup --stdin full", 2, false],
  ["cbm: backup full", "zstd -3 -T2 | aws s3 cp -", 1, true],
  ["cbm: backup incremental (1%)", "restic: backup --stdin 1% changed", 4, false],
  ["cbm: restore latest", "restic: restore latest", 1.5, false],
];
const RSS_GOAL_MIB = 300;

const out = [];
for (const size of [...new Set(rows.map((r) => r.size_mib))]) {
  const bytes = Number(size) * 1024 * 1024;
  const ops = new Map();
  for (const r of rows.filter((x) => x.size_mib === size)) {
    if (!ops.has(r.name)) ops.set(r.name, []);
    ops.get(r.name).push(r);
  }
  const stat = new Map();
  out.push(`## ${size} MiB image (${(bytes / 2 ** 30).toFixed(0)} GiB), MB/s = 10^6 image bytes per wall second\n`);
  out.push("| operation | runs | wall s (median) | all runs s | MB/s | peak RSS MiB (largest process) | peak RSS MiB (process tree, sampled) | client CPU s (user+sys) | s3rver CPU s | load avg before/after | rc |");
  out.push("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const [name, rs] of ops) {
    const walls = rs.map((r) => Number(r.wall_s));
    const w = median(walls);
    const rss = median(rs.map((r) => Number(r.maxrss_kb))) / 1024;
    const tree = median(rs.map((r) => Number(r.tree_rss_kb))) / 1024;
    const srv = median(rs.map((r) => Number(r.srv_cpu_s)));
    const cpu = median(rs.map((r) => Number(r.user_s) + Number(r.sys_s)));
    const load = rs.map((r) => r.load1 ?? "").join(" ; ");
    const rc = [...new Set(rs.map((r) => r.rc))].join(",");
    stat.set(name, { w, rss, ok: rc === "0" });
    out.push(
      `| ${name.replace(/\|/g, "\\|")} | ${rs.length} | ${w.toFixed(1)} | ${walls.map((x) => x.toFixed(1)).join(" / ")} | ${(bytes / w / 1e6).toFixed(0)} | ${rss.toFixed(0)} | ${tree.toFixed(0)} | ${cpu.toFixed(1)} | ${srv.toFixed(1)} | ${load} | ${rc} |`,
    );
  }
  out.push("\n| ours vs peer | ours s | peer s | speed ratio (peer s / ours s) | goal | met |");
  out.push("|---|---|---|---|---|---|");
  for (const [ours, peer, goal, strict] of RATIOS) {
    const a = stat.get(ours);
    const b = stat.get(peer);
    if (!a || !b) continue;
    const ratio = b.w / a.w;
    const met = a.ok && b.ok && (strict ? ratio > goal : ratio >= goal);
    out.push(`| ${ours} vs ${peer.replace(/\|/g, "\\|")} | ${a.w.toFixed(1)} | ${b.w.toFixed(1)} | ${ratio.toFixed(2)}× | ${strict ? ">" : "≥"} ${goal}× | ${met ? "yes" : "**no**"} |`);
  }
  for (const [name, s] of stat) {
    if (!name.startsWith("cbm:")) continue;
    out.push(`| ${name}: peak RSS | ${s.rss.toFixed(0)} MiB | | | ≤ ${RSS_GOAL_MIB} MiB | ${s.rss <= RSS_GOAL_MIB ? "yes" : "**no**"} |`);
  }
  out.push("");
}
console.log(out.join("\n"));
