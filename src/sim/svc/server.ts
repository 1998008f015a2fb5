/**
 * The SSH front end: an ssh2 server on 127.0.0.1 that runs each exec request as one SVC CLI command
 * (stdout, stderr, exit status), and offers a minimal interactive shell with the `NAME:user>` prompt.
 * Login: public key (OpenSSH authorized_keys lines), or a password if one is configured.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { timingSafeEqual } from "node:crypto";
import ssh2 from "ssh2";
import type { Connection, ParsedKey, ServerChannel } from "ssh2";
import { SvcSystem, type SimTiming } from "./system.ts";
import { generateEd25519 } from "../../util/sshkey.ts";

const { Server, utils } = ssh2;

export interface SvcSimulatorOptions {
  stateDir: string;
  /** TCP port on 127.0.0.1; 0 (default) picks a free one */
  port?: number;
  systemName: string;
  /** shared directory for partnerships and remote copy between simulators */
  fabricDir?: string;
  /** OpenSSH public key lines (authorized_keys format) allowed to log in */
  authorizedKeys: string[];
  password?: string;
  /** management IP (default 127.0.0.1) */
  clusterIp?: string;
  timing?: Partial<SimTiming>;
}

export interface SvcSimulator {
  port: number;
  /** the host key as an OpenSSH public key line (`ssh-ed25519 AAAA...`) */
  hostKeyPublic: string;
  systemId: string;
  systemName: string;
  /** run one CLI command in-process (no SSH), e.g. for seeding */
  exec(command: string): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  stop(): Promise<void>;
}

const HOST_KEY = "ssh_host_ed25519_key";

/** Load the host key from the state dir, generating an ed25519 key on first start. */
export async function loadOrCreateHostKey(stateDir: string): Promise<{ privateKey: string; publicKey: string }> {
  const priv = path.join(stateDir, HOST_KEY);
  try {
    return { privateKey: await fsp.readFile(priv, "utf8"), publicKey: (await fsp.readFile(`${priv}.pub`, "utf8")).trim() };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const kp = generateEd25519("svc-simulator");
  await fsp.writeFile(priv, kp.private, { mode: 0o600 });
  await fsp.writeFile(`${priv}.pub`, kp.public.trim() + "\n", { mode: 0o644 });
  return { privateKey: kp.private, publicKey: kp.public.trim() };
}

function parseAuthorizedKeys(lines: readonly string[]): ParsedKey[] {
  const out: ParsedKey[] = [];
  for (const raw of lines.flatMap((l) => l.split("\n"))) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const k = utils.parseKey(line);
    if (k instanceof Error) throw new Error(`authorized key not understood: ${k.message}`);
    out.push(Array.isArray(k) ? (k[0] as ParsedKey) : k);
  }
  return out;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function startSvcSimulator(opts: SvcSimulatorOptions): Promise<SvcSimulator> {
  await fsp.mkdir(opts.stateDir, { recursive: true });
  const hostKey = await loadOrCreateHostKey(opts.stateDir);
  const keys = parseAuthorizedKeys(opts.authorizedKeys);
  const sys = await SvcSystem.open({
    stateDir: opts.stateDir,
    systemName: opts.systemName,
    fabricDir: opts.fabricDir,
    clusterIp: opts.clusterIp,
    timing: opts.timing,
  });
  const clients = new Set<Connection>();

  const runCommand = async (line: string): Promise<{ stdout: string; stderr: string; exitCode: number }> => {
    try {
      return await sys.exec(line);
    } catch (e) {
      // an unexpected fault is reported like a failed command, never as a dropped connection
      return { stdout: "", stderr: `CMMVC5786E The action failed because the system is not in a stable state: ${(e as Error).message}\n`, exitCode: 1 };
    }
  };

  const server = new Server({ hostKeys: [hostKey.privateKey], ident: "SVC-Simulator" }, (client) => {
    clients.add(client);
    // small request/response exchanges: Nagle + delayed ACK would add ~40 ms per command
    (client as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    let user = "admin";
    client.on("authentication", (ctx) => {
      user = ctx.username;
      if (ctx.method === "publickey") {
        const k = keys.find((x) => x.type === ctx.key.algo && x.getPublicSSH().equals(ctx.key.data));
        if (!k) return ctx.reject();
        if (!ctx.signature || !ctx.blob) return ctx.accept(); // key probe
        return k.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true ? ctx.accept() : ctx.reject();
      }
      if (ctx.method === "password" && opts.password !== undefined && safeEqual(ctx.password, opts.password)) {
        return ctx.accept();
      }
      return ctx.reject(opts.password !== undefined ? ["publickey", "password"] : ["publickey"]);
    });
    client.on("ready", () => {
      client.on("session", (acceptSession) => {
        const session = acceptSession();
        let pty = false;
        session.on("pty", (accept) => {
          pty = true;
          accept?.();
        });
        session.on("env", (accept) => accept?.());
        session.on("exec", (accept, _reject, info) => {
          const ch = accept();
          void runCommand(info.command).then((r) => {
            if (r.stdout) ch.write(r.stdout);
            if (r.stderr) ch.stderr.write(r.stderr);
            ch.exit(r.exitCode);
            ch.end();
          });
        });
        session.on("shell", (accept) => interactive(accept(), `${sys.name}:${user}>`, pty, runCommand));
      });
    });
    client.on("error", () => undefined);
    client.on("close", () => clients.delete(client));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : 0;
  await sys.startBackground(port);

  let stopped: Promise<void> | undefined;
  return {
    port,
    hostKeyPublic: hostKey.publicKey,
    systemId: sys.id,
    systemName: sys.name,
    exec: runCommand,
    stop() {
      stopped ??= (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()));
        for (const c of clients) c.end();
        await closed;
        await sys.close();
      })();
      return stopped;
    },
  };
}

/** A line-oriented shell: echo when a pty was requested, run each line, print the prompt. */
function interactive(
  ch: ServerChannel,
  prompt: string,
  echo: boolean,
  run: (line: string) => Promise<{ stdout: string; stderr: string; exitCode: number }>,
): void {
  const nl = echo ? "\r\n" : "\n";
  const out = (t: string): void => void ch.write(echo ? t.replace(/\r?\n/g, "\r\n") : t);
  let buf = "";
  let busy: Promise<void> = Promise.resolve();
  out(prompt);
  ch.on("data", (d: Buffer) => {
    for (const c of d.toString("utf8")) {
      if (c === "\r" || c === "\n") {
        if (echo) ch.write("\r\n");
        const line = buf.trim();
        buf = "";
        busy = busy.then(async () => {
          if (line === "exit" || line === "logout") {
            ch.exit(0);
            ch.end();
            return;
          }
          if (line) {
            const r = await run(line);
            out(r.stdout);
            if (r.stderr) ch.stderr.write(echo ? r.stderr.replace(/\n/g, "\r\n") : r.stderr);
          }
          out(prompt);
        });
      } else if (c === "\u007f" || c === "\b") {
        if (buf.length > 0) {
          buf = buf.slice(0, -1);
          if (echo) ch.write("\b \b");
        }
      } else if (c === "\u0003" || c === "\u0004") {
        if (c === "\u0004" && buf === "") {
          ch.exit(0);
          ch.end();
          return;
        }
        buf = "";
        if (echo) ch.write("^C" + nl);
        out(prompt);
      } else {
        buf += c;
        if (echo) ch.write(c);
      }
    }
  });
}
