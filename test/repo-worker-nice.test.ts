/**
 * A backup's compression and encryption threads yield the CPU to the node's applications: they run
 * at nice 10 (or CBM_WORKER_NICE), while the thread that reads disks and feeds uploads keeps the
 * command's priority. Read from /proc, as `top -H` shows it to an administrator.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { Repository } from "../src/repo/index.ts";

/** Nice value of each thread of this process (field 19 of /proc/self/task/<tid>/stat). */
async function threadNices(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const tid of await readdir("/proc/self/task")) {
    const stat = await readFile(`/proc/self/task/${tid}/stat`, "utf8").catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from 3 on
    if (fields.length > 17) out.set(Number(tid), Number(fields[16]));
  }
  return out;
}

const linux = process.platform === "linux";

describe("worker thread priority", { skip: !linux && "per-thread nice values are a Linux feature" }, () => {
  for (const [label, workerNice, levels] of [
    ["default", undefined, 10],
    ["CBM_WORKER_NICE=15", 15, 15],
    ["CBM_WORKER_NICE=0", 0, 0],
  ] as const) {
    it(`${label}: the pipeline's workers run ${levels} nice levels below the main thread, which keeps the caller's`, async () => {
      const dir = await mkdtemp(join(tmpdir(), "cbm-nice-"));
      const repo = await Repository.init(new FsObjectStore(join(dir, "repo")), { encryption: "none", workerNice });
      try {
        const before = await threadNices();
        const base = before.get(process.pid)!;
        const want = Math.min(19, base + levels);
        const disk = join(dir, "hdisk1.img");
        await writeFile(disk, Buffer.alloc(8 * 1024 * 1024, "some data "));
        const vgs = [{ name: "VG1", disks: [{ name: "hdisk1", path: disk }] }];
        await repo.backup({ type: "full", meta: { cluster: "c1", rg: "RG1", node: "node1" }, vgs, compression: true });
        const after = await threadNices();
        const started = [...after].filter(([tid]) => !before.has(tid)).map(([, nice]) => nice);
        // One worker per CPU (pool.ts) at `want`; the other new threads (libuv's file I/O pool) at the caller's.
        const shown = `threads started by the backup, by nice value: ${JSON.stringify(started)}`;
        if (levels > 0) assert.equal(started.filter((n) => n === want).length, availableParallelism(), shown);
        assert.equal(started.filter((n) => n === want || n === base).length, started.length, shown);
        assert.equal(after.get(process.pid), base, "the main thread keeps its priority");
      } finally {
        await repo.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
