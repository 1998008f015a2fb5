#!/usr/bin/env node
// Deterministic synthetic "disk image" generator.
// Copied from the shared peer kit (gen-disk.js) so a clone of this repo has it.
// Usage: node gen-disk.cjs OUT [--size-mib 2048] [--seed 1]
//        node gen-disk.cjs --mutate FILE [--pct 1] [--seed 2]   (in place, 1 MiB-aligned)
// Layout: 1 MiB pieces, shuffled (seeded): ~40% random (AES-CTR keystream,
// incompressible), ~40% compressible (half log-like text, half structured
// binary records), ~20% zeros. Every piece is unique (no accidental dedup).
/* global require, process, console, Buffer */
/* eslint-disable @typescript-eslint/no-require-imports */
'use strict';
const fs = require('fs');
const crypto = require('crypto');

const MiB = 1 << 20;
const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
}
const mutate = opt('--mutate', null);
const seed = Number(opt('--seed', mutate ? 2 : 1));
const sizeMiB = Number(opt('--size-mib', 2048));
const pct = Number(opt('--pct', 1));

// xorshift128+ style PRNG (deterministic, fast enough for layout/text)
function prng(s) {
  let a = (s * 0x9e3779b1) >>> 0 || 1, b = 0x6a09e667 ^ s, c = 0xbb67ae85, d = 0x3c6ef372;
  return function () {
    // xoshiro128**
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = rotl(d, 11);
    return r / 4294967296;
  };
}
function rotl(x, k) { return (x << k) | (x >>> (32 - k)); }

function randomPiece(seedTag, idx) {
  // AES-256-CTR keystream keyed by seed -> incompressible, deterministic
  const key = crypto.createHash('sha256').update(`disk-seed-${seedTag}`).digest();
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(idx, 0);
  const c = crypto.createCipheriv('aes-256-ctr', key, iv);
  return c.update(Buffer.alloc(MiB));
}

const WORDS = ('kernel systemd nginx postgres sshd cron dockerd containerd kubelet ' +
  'GET POST PUT DELETE /api/v1/users /api/v1/orders /static/app.js /healthz ' +
  'INFO WARN ERROR DEBUG connection accepted closed timeout retry session user ' +
  'query commit rollback checkpoint vacuum index scan rows bytes latency ms ' +
  'started stopped reloaded failed succeeded mounted unmounted eth0 lo sda1').split(' ');
const HOSTS = ['web-01', 'web-02', 'db-01', 'cache-01', 'worker-07'];

function textPiece(rnd, idx) {
  const parts = [];
  let len = 0;
  let ts = 1700000000 + idx * 3600;
  while (len < MiB) {
    ts += Math.floor(rnd() * 5);
    const n = 4 + Math.floor(rnd() * 10);
    let line = `${new Date(ts * 1000).toISOString()} ${HOSTS[Math.floor(rnd() * 5)]} ` +
      `pid=${Math.floor(rnd() * 65536)} req=${Math.floor(rnd() * 0xffffffff).toString(16)}`;
    for (let i = 0; i < n; i++) line += ' ' + WORDS[Math.floor(rnd() * WORDS.length)];
    line += ` took=${(rnd() * 1000).toFixed(2)}ms\n`;
    parts.push(line);
    len += line.length;
  }
  return Buffer.from(parts.join(''), 'latin1').subarray(0, MiB);
}

function structPiece(rnd, idx) {
  // DB-page-like: 64-byte records, small ints, mostly-zero padding, repeated headers
  const b = Buffer.alloc(MiB);
  for (let off = 0; off < MiB; off += 64) {
    b.writeUInt32LE(0xfeedbeef, off);
    b.writeUInt32LE(idx * 16384 + off / 64, off + 4);
    b.writeUInt32LE(Math.floor(rnd() * 1000), off + 8);
    b.writeDoubleLE(Math.round(rnd() * 1e6) / 100, off + 12);
    b.writeUInt16LE(Math.floor(rnd() * 50), off + 20);
    const name = WORDS[Math.floor(rnd() * WORDS.length)];
    b.write(name, off + 24, 24, 'latin1');
  }
  return b;
}

if (mutate) {
  const fd = fs.openSync(mutate, 'r+');
  const pieces = Math.floor(fs.fstatSync(fd).size / MiB);
  const n = Math.max(1, Math.round((pieces * pct) / 100));
  const rnd = prng(seed);
  const chosen = new Set();
  while (chosen.size < n) chosen.add(Math.floor(rnd() * pieces));
  const list = [...chosen].sort((x, y) => x - y);
  for (const p of list) fs.writeSync(fd, randomPiece(`mut-${seed}`, p), 0, MiB, p * MiB);
  fs.closeSync(fd);
  console.error(`mutated ${n} x 1 MiB pieces (${pct}%) in ${mutate}: ${list.slice(0, 8).join(',')}...`);
  process.exit(0);
}

const out = args[0];
if (!out) { console.error('usage: gen-disk.cjs OUT [--size-mib N] [--seed S]'); process.exit(2); }
const rnd = prng(seed);
const nR = Math.round(sizeMiB * 0.4), nZ = Math.round(sizeMiB * 0.2), nC = sizeMiB - nR - nZ;
const types = [];
for (let i = 0; i < nR; i++) types.push('R');
for (let i = 0; i < nC; i++) types.push(i % 2 ? 'S' : 'T');
for (let i = 0; i < nZ; i++) types.push('Z');
for (let i = types.length - 1; i > 0; i--) {
  const j = Math.floor(rnd() * (i + 1));
  [types[i], types[j]] = [types[j], types[i]];
}
const fd = fs.openSync(out, 'w');
const zero = Buffer.alloc(MiB);
const counts = { R: 0, T: 0, S: 0, Z: 0 };
for (let i = 0; i < sizeMiB; i++) {
  const t = types[i];
  counts[t]++;
  const buf = t === 'R' ? randomPiece(seed, i) : t === 'T' ? textPiece(rnd, i) : t === 'S' ? structPiece(rnd, i) : zero;
  fs.writeSync(fd, buf, 0, MiB, i * MiB);
}
fs.closeSync(fd);
console.error(`wrote ${out}: ${sizeMiB} MiB, seed ${seed}, pieces random=${counts.R} text=${counts.T} struct=${counts.S} zero=${counts.Z}`);
