/**
 * One simulated Spectrum Virtualize system: its persisted state, the command dispatcher, and the
 * background work (FlashCopy timers, remote-copy engine, fabric heartbeat). Independent of SSH, so
 * tests and seeding can drive it directly.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { SvcCliError, svcErr } from "./errors.ts";
import { parseArgs } from "./args.ts";
import { grepLines } from "./format.ts";
import { shellSplit, splitPipeline, ShellSyntaxError } from "./shell-split.ts";
import { makeSystemId, type LocalState, type RcStore } from "./model.ts";
import { loadLocalState, loadRcStore, mutateRcStore, saveLocalState } from "./state.ts";
import { clearStaleFences } from "./fence.ts";
import { volumesDir } from "./volumes.ts";
import * as fc from "./flashcopy.ts";
import { RcEngine, type RcEnv } from "./remotecopy.ts";
import {
  HEARTBEAT_MS,
  isAlive,
  rcStoreFile,
  readRegistrations,
  writeRegistration,
  type Registration,
} from "./fabric.ts";
import { COMMANDS } from "./commands/index.ts";

export interface SimTiming {
  /** FlashCopy preparing → prepared (ms, default 0) */
  prepareMs: number;
  /** FlashCopy stopping → stopped (ms, default 0) */
  stopMs: number;
  /** FlashCopy displayed progress 0 → 100 at copy_rate 50 (ms, default 1000) */
  fcCopyMs: number;
  /** remote-copy engine period (ms, default 200) */
  rcTickMs: number;
  /** remote-copy background copy budget per tick (bytes, default 8 MiB) */
  rcBytesPerTick: number;
  /** longest wait for host writes to drain at a FlashCopy start (ms, default 10 s) */
  fenceTimeoutMs: number;
}

export const DEFAULT_TIMING: SimTiming = {
  prepareMs: 0,
  stopMs: 0,
  fcCopyMs: 1000,
  rcTickMs: 200,
  rcBytesPerTick: 8 * 1024 * 1024,
  fenceTimeoutMs: 10_000,
};

export interface SystemOptions {
  stateDir: string;
  systemName: string;
  fabricDir?: string;
  /** management IP shown by lssystemip and matched by mkippartnership -clusterip (default 127.0.0.1) */
  clusterIp?: string;
  timing?: Partial<SimTiming>;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export class SvcSystem {
  readonly timing: SimTiming;
  private queue: Promise<unknown> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private engine: RcEngine;
  private rcBusy: Promise<void> = Promise.resolve();
  private port = 0;
  private closed = false;

  private constructor(
    readonly stateDir: string,
    readonly fabricDir: string | undefined,
    public state: LocalState,
    timing: SimTiming,
  ) {
    this.timing = timing;
    this.engine = new RcEngine(this.rcEnv(), timing.rcBytesPerTick);
  }

  /** Load (or create) the system in `stateDir`. The name given wins over the stored one. */
  static async open(o: SystemOptions): Promise<SvcSystem> {
    await fsp.mkdir(volumesDir(o.stateDir), { recursive: true });
    let state = await loadLocalState(o.stateDir);
    if (!state) {
      state = {
        version: 1,
        system: { id: makeSystemId(), name: o.systemName, clusterIp: o.clusterIp ?? "127.0.0.1", uidCounter: 0 },
        vdisks: [],
        hosts: [],
        hostMaps: [],
        fcMaps: [],
        fcGroups: [],
        partnerships: [],
      };
    }
    state.system.name = o.systemName;
    if (o.clusterIp) state.system.clusterIp = o.clusterIp;
    const sys = new SvcSystem(o.stateDir, o.fabricDir, state, { ...DEFAULT_TIMING, ...o.timing });
    await clearStaleFences(volumesDir(o.stateDir));
    await sys.save();
    return sys;
  }

  get id(): string {
    return this.state.system.id;
  }
  get name(): string {
    return this.state.system.name;
  }

  /** Run `fn` with exclusive access to the local state. */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  async save(): Promise<void> {
    await saveLocalState(this.stateDir, this.state);
  }

  // ---- remote copy store and fabric ------------------------------------------------------------

  get rcFile(): string {
    return this.fabricDir ? rcStoreFile(this.fabricDir) : path.join(this.stateDir, "rc.json");
  }

  readRc(): Promise<RcStore> {
    return loadRcStore(this.rcFile);
  }

  /** The RC store after applying any pending link-loss transitions (what ls commands show). */
  async settledRc(): Promise<RcStore> {
    const before = await this.readRc();
    await this.engine.handleDisconnects(before);
    return this.readRc();
  }

  mutateRc<T>(fn: (s: RcStore) => Promise<{ changed: boolean; result: T }> | { changed: boolean; result: T }): Promise<T> {
    return mutateRcStore(this.rcFile, fn);
  }

  async registrations(): Promise<Registration[]> {
    return this.fabricDir ? (await readRegistrations(this.fabricDir)).filter((r) => r.id !== this.id) : [];
  }

  /** A partner's registration by id or name. */
  async partner(ref: string): Promise<Registration | undefined> {
    return (await this.registrations()).find((r) => r.id === ref || r.name === ref);
  }

  /** Partnership link state between this system and `remoteId` (SVC-CLI.md §2.3). */
  async partnershipState(remoteId: string): Promise<string> {
    const local = this.state.partnerships.find((p) => p.remoteId === remoteId);
    const reg = (await this.registrations()).find((r) => r.id === remoteId);
    if (!local) return "";
    if (!isAlive(reg)) return "not_present";
    const remoteStarted = reg?.partnerships[this.id];
    if (remoteStarted === undefined) return "partially_configured_local";
    if (!local.started) return "fully_configured_stopped";
    if (!remoteStarted) return "fully_configured_remote_stopped";
    return "fully_configured";
  }

  async linkUp(remoteId: string): Promise<boolean> {
    if (remoteId === this.id) return true;
    return (await this.partnershipState(remoteId)) === "fully_configured";
  }

  rcEnv(): RcEnv {
    return {
      selfId: this.id,
      rcFile: this.rcFile,
      stateDirOf: async (id) => (id === this.id ? this.stateDir : (await this.partner(id))?.stateDir),
      connected: async (a, b) => {
        if (a === b) return true;
        if (a !== this.id && b !== this.id) return false;
        return this.linkUp(a === this.id ? b : a);
      },
    };
  }

  // ---- commands --------------------------------------------------------------------------------

  /** Run one command line as the SVC restricted shell would. */
  async exec(line: string): Promise<ExecResult> {
    let stages: string[][];
    try {
      stages = splitPipeline(shellSplit(line));
    } catch (e) {
      const msg = e instanceof ShellSyntaxError ? e.message : String(e);
      return { stdout: "", stderr: `rbash: ${msg}\n`, exitCode: 2 };
    }
    const [first, ...rest] = stages;
    if (first.length === 0) return { stdout: "", stderr: "", exitCode: 0 };
    const res = await this.execTokens(first);
    let stdout = res.stdout;
    for (const st of rest) {
      if (st[0] !== "grep") return { stdout: "", stderr: `rbash: ${st[0]}: command not found\n`, exitCode: 127 };
      try {
        stdout = grepLines(stdout, st.slice(1));
      } catch (e) {
        return { stdout: "", stderr: `${(e as Error).message}\n`, exitCode: 2 };
      }
    }
    return { ...res, stdout };
  }

  private async execTokens(tokens: string[]): Promise<ExecResult> {
    let [verb, ...args] = tokens;
    if ((verb === "svcinfo" || verb === "svctask") && args.length > 0) [verb, ...args] = args;
    const cmd = Object.hasOwn(COMMANDS, verb) ? COMMANDS[verb] : undefined;
    if (!cmd) return { stdout: "", stderr: `rbash: ${verb}: command not found\n`, exitCode: 127 };
    return this.serialize(async () => {
      try {
        const parsed = parseArgs(args, cmd.spec);
        const stdout = await cmd.run({ sys: this, args: parsed });
        if (cmd.mutates) await this.save();
        return { stdout, stderr: "", exitCode: 0 };
      } catch (e) {
        // a failed command may have half-changed the in-memory state: reload the last good copy
        if (cmd.mutates) this.state = (await loadLocalState(this.stateDir)) ?? this.state;
        const err =
          e instanceof SvcCliError
            ? e
            : new SvcCliError("CMMVC5786E", `The action failed because the system is not in a stable state (${(e as Error).message}).`);
        return { stdout: "", stderr: `${err.line}\n`, exitCode: 1 };
      }
    });
  }

  // ---- background work -------------------------------------------------------------------------

  /** Start timers: FlashCopy progress, remote-copy engine, fabric heartbeat. */
  async startBackground(port: number): Promise<void> {
    this.port = port;
    await this.heartbeat();
    this.timers.push(setInterval(() => void this.fcTick(), 100));
    this.timers.push(setInterval(() => void this.rcTick(), this.timing.rcTickMs));
    if (this.fabricDir) this.timers.push(setInterval(() => void this.heartbeat().catch(() => undefined), HEARTBEAT_MS));
  }

  private fcTick(): Promise<void> {
    return this.serialize(async () => {
      if (this.closed) return;
      if (fc.tick(this.state, this.fcTiming(), Date.now())) await this.save();
    }).catch(() => undefined);
  }

  private rcTick(): void {
    this.rcBusy = this.rcBusy
      .then(async () => {
        if (this.closed) return;
        await this.engine.tick(await this.readRc());
      })
      .catch(() => undefined);
  }

  fcTiming(): fc.FcTiming {
    return {
      prepareMs: this.timing.prepareMs,
      stopMs: this.timing.stopMs,
      copyMs: this.timing.fcCopyMs,
      fenceTimeoutMs: this.timing.fenceTimeoutMs,
    };
  }

  async heartbeat(online = true): Promise<void> {
    if (!this.fabricDir) return;
    const partnerships: Record<string, boolean> = {};
    for (const p of this.state.partnerships) partnerships[p.remoteId] = p.started;
    await writeRegistration(this.fabricDir, {
      id: this.id,
      name: this.name,
      clusterIp: this.state.system.clusterIp,
      port: this.port,
      stateDir: path.resolve(this.stateDir),
      pid: process.pid,
      online,
      heartbeatAt: Date.now(),
      partnerships,
    });
  }

  /** Stop timers, let running work finish, mark the system offline in the fabric. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.rcBusy;
    await this.serialize(async () => this.save());
    await this.heartbeat(false);
  }
}

/** Thrown by commands for a missing object; kept here to avoid an import cycle in commands. */
export const notFound = (kind: "ls" | "act"): SvcCliError => svcErr(kind === "ls" ? "CMMVC5754E" : "CMMVC5753E");
