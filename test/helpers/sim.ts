/**
 * Test helpers for the SVC simulator: temp dirs, client keys, start/stop bound to the test, an ssh2
 * client session to run CLI commands, output parsers and a bounded wait.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { TestContext } from "node:test";
import ssh2 from "ssh2";
import { startSvcSimulator, type SvcSimulator, type SvcSimulatorOptions } from "../../src/sim/svc/server.ts";
import { generateEd25519 } from "../../src/util/sshkey.ts";

const { Client } = ssh2;

export interface KeyPair {
  private: string;
  public: string;
}

let cachedKey: KeyPair | undefined;
/** One ed25519 client key per test process (OpenSSH format). */
export function clientKey(): KeyPair {
  cachedKey ??= generateEd25519("test-client");
  return cachedKey;
}

const stacks = new WeakMap<TestContext, Array<() => unknown>>();

/** Run `fn` when the test ends, in reverse order of registration (last started, first stopped). */
export function defer(t: TestContext, fn: () => unknown): void {
  let st = stacks.get(t);
  if (!st) {
    const list: Array<() => unknown> = [];
    stacks.set(t, list);
    t.after(async () => {
      for (const f of list.reverse()) await f();
    });
    st = list;
  }
  st.push(fn);
}

/** A temp directory removed when the test ends. */
export function tempDir(t: TestContext, prefix = "svc-sim-"): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  defer(t, () => rmSync(d, { recursive: true, force: true }));
  return d;
}

export type SimOpts = Partial<SvcSimulatorOptions> & { stateDir: string; systemName?: string };

/** Start a simulator that the test stops (even on failure). */
export async function startSim(t: TestContext, o: SimOpts): Promise<SvcSimulator> {
  const sim = await startSvcSimulator({
    systemName: "SVC_STORAGE",
    authorizedKeys: [clientKey().public],
    ...o,
  });
  defer(t, () => sim.stop());
  return sim;
}

export interface CmdResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** One SSH connection running exec commands, closed when the test ends. */
export class SshSession {
  private constructor(readonly client: InstanceType<typeof Client>) {}

  static async open(t: TestContext | undefined, port: number, auth: { privateKey?: string; password?: string } = {}): Promise<SshSession> {
    const client = new Client();
    await new Promise<void>((resolve, reject) => {
      client.once("ready", () => {
        client.setNoDelay(true);
        resolve();
      });
      client.once("error", reject);
      client.connect({
        host: "127.0.0.1",
        port,
        username: "admin",
        privateKey: auth.password === undefined ? (auth.privateKey ?? clientKey().private) : undefined,
        password: auth.password,
        readyTimeout: 10_000,
      });
    });
    const s = new SshSession(client);
    if (t) defer(t, () => s.close());
    return s;
  }

  run(command: string): Promise<CmdResult> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, ch) => {
        if (err) return reject(err);
        let stdout = "";
        let stderr = "";
        let code = -1;
        ch.on("data", (d: Buffer) => (stdout += d.toString()));
        ch.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        ch.on("exit", (c: number | null) => (code = c ?? -1));
        ch.on("close", () => resolve({ stdout, stderr, code }));
      });
    });
  }

  /** Run and require success; returns stdout. */
  async ok(command: string): Promise<string> {
    const r = await this.run(command);
    if (r.code !== 0) throw new Error(`${command}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** Run and require failure with the given CMMVC code. */
  async fails(command: string, code: string): Promise<void> {
    const r = await this.run(command);
    if (r.code !== 1 || !r.stderr.startsWith(code) || r.stdout !== "") {
      throw new Error(`${command}: expected ${code}, got exit ${r.code} stdout=${JSON.stringify(r.stdout)} stderr=${JSON.stringify(r.stderr)}`);
    }
  }

  close(): void {
    this.client.end();
  }
}

/** Parse a concise view printed with -delim. */
export function parseConcise(text: string, delim = ":"): Record<string, string>[] {
  const lines = text.split("\n").filter((l) => l !== "");
  if (lines.length === 0) return [];
  const head = lines[0].split(delim);
  return lines.slice(1).map((l) => {
    const v = l.split(delim);
    return Object.fromEntries(head.map((h, i) => [h, v[i] ?? ""]));
  });
}

/** Parse a detailed view printed with -delim (first occurrence of each key wins). */
export function parseDetailed(text: string, delim = ":"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of text.split("\n")) {
    const i = l.indexOf(delim);
    if (i <= 0) continue;
    const k = l.slice(0, i);
    if (!(k in out)) out[k] = l.slice(i + 1);
  }
  return out;
}

/** Poll `fn` until it returns a defined value, or fail after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/** One attribute of a detailed view: `field(s, "lsfcmap", "fcmap0", "status")`. */
export async function field(s: SshSession, verb: string, obj: string, key: string): Promise<string> {
  return parseDetailed(await s.ok(`${verb} -delim : ${obj}`))[key] ?? "";
}
