/**
 * The pipeline's bookkeeping (src/repo/tasks.ts, the Arena of pool.ts): a waiter is served when a
 * holder releases, leaves the queue when the operation stops, and a million waits leave nothing
 * behind (each chunk of a backup, restore or verify waits once).
 */
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, it } from "node:test";
import { Arena } from "../src/repo/pool.ts";
import { Semaphore, TaskGroup } from "../src/repo/tasks.ts";

describe("waiting for a slot or a permit", () => {
  it("a waiter is served by the next release, in order", async () => {
    const group = new TaskGroup();
    const arena = new Arena(1, 16);
    assert.equal(await arena.acquireUnless(group), 0);
    const waiting = [arena.acquireUnless(group), arena.acquireUnless(group)];
    arena.release(0);
    assert.equal(await waiting[0], 0);
    arena.release(0);
    assert.equal(await waiting[1], 0);
  });

  it("when the group stops, waiters get nothing and leave the queue: a later release frees the slot", async () => {
    const ctl = new AbortController();
    const group = new TaskGroup(ctl.signal);
    const arena = new Arena(1, 16);
    const sem = new Semaphore(1);
    assert.equal(await arena.acquireUnless(group), 0);
    assert.equal(await sem.acquireUnless(group), true);
    const waiting = [arena.acquireUnless(group), sem.acquireUnless(group)];
    ctl.abort();
    assert.deepEqual(await Promise.all(waiting), [undefined, false]);
    arena.release(0);
    sem.release();
    // The stopped waiters were not handed the released slot and permit: they are free again.
    assert.equal(await arena.acquire(), 0);
    await sem.acquire();
    assert.equal(await arena.acquireUnless(group), undefined, "a stopped group hands out nothing");
  });

  it("200,000 waits on a running group leave no garbage behind", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const group = new TaskGroup(new AbortController().signal);
    const arena = new Arena(2, 16);
    const sem = new Semaphore(2);
    const cycle = async () => {
      const [a, b] = await Promise.all([arena.acquireUnless(group), arena.acquireUnless(group)]);
      const c = arena.acquireUnless(group); // waits
      arena.release(a!);
      arena.release(b!);
      arena.release((await c)!);
      await sem.acquireUnless(group);
      sem.release();
    };
    for (let i = 0; i < 1000; i++) await cycle();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 200_000; i++) await cycle();
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    // Racing a promise that settles only on stop kept ~0.5 KiB per wait: 100+ MiB here.
    assert.ok(grown < 8 * 1024 * 1024, `heap grew by ${(grown / 2 ** 20).toFixed(1)} MiB over 200,000 waits`);
  });
});
