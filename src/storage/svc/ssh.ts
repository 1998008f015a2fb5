/**
 * One SSH connection to an SVC management address: key login, host key checked against a pinned
 * OpenSSH key line (or learned on first use), each command on its own exec channel — the way
 * cinder and the Ansible modules talk to a real system. Bounded: connect and each command time out.
 */
import { createHash } from "node:crypto";
import ssh2 from "ssh2";
import { CbmError } from "../../util/errors.ts";
import type { SvcCommand } from "./names.ts";

const { Client } = ssh2;

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  privateKey: string | Buffer;
  /** Pinned host key (`ssh-ed25519 AAAA…`); undefined: accept and report the key (first use). */
  hostKey?: string;
  /** For messages: the storage_system name. */
  label: string;
  connectTimeoutMs?: number;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** OpenSSH public-key line of a raw SSH key blob: `<type> <base64>`. */
export function keyLine(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  const type = blob.subarray(4, 4 + len).toString("ascii");
  return `${type} ${blob.toString("base64")}`;
}

/** OpenSSH-style fingerprint of a key line: SHA256:base64 (no padding). */
export function fingerprint(line: string): string {
  const b64 = line.trim().split(/\s+/)[1] ?? "";
  return `SHA256:${createHash("sha256").update(Buffer.from(b64, "base64")).digest("base64").replace(/=+$/, "")}`;
}

const sameKey = (a: string, b: string): boolean => a.trim().split(/\s+/).slice(0, 2).join(" ") === b.trim().split(/\s+/).slice(0, 2).join(" ");

export class SshSession {
  private constructor(
    private readonly client: InstanceType<typeof Client>,
    /** The host key the server presented (OpenSSH line). */
    readonly hostKey: string,
    readonly label: string,
  ) {}

  static async connect(t: SshTarget): Promise<SshSession> {
    const client = new Client();
    let presented = "";
    let mismatch = false;
    try {
      await new Promise<void>((resolve, reject) => {
        client.once("ready", () => resolve());
        client.once("error", reject);
        client.connect({
          host: t.host,
          port: t.port,
          username: t.user,
          privateKey: t.privateKey,
          readyTimeout: t.connectTimeoutMs ?? 10_000,
          hostVerifier: (key: Buffer) => {
            presented = keyLine(key);
            mismatch = t.hostKey !== undefined && !sameKey(t.hostKey, presented);
            return !mismatch;
          },
        });
      });
    } catch (e) {
      client.end();
      if (mismatch) {
        throw new CbmError(
          "CBM_SVC_HOST_KEY_CHANGED",
          `The SSH host key of storage_system "${t.label}" (${t.host}:${t.port}) has CHANGED: pinned ${fingerprint(t.hostKey ?? "")}, ` +
            `presented ${fingerprint(presented)}. Refusing to connect (this may be a different machine). If the storage was ` +
            `really re-keyed, clear the pin: clmgr modify storage_system ${t.label} HOST_KEY=""`,
          "runtime",
        );
      }
      const msg = (e as Error).message;
      const auth = /authentication/i.test(msg);
      throw new CbmError(
        auth ? "CBM_SVC_AUTH" : "CBM_SVC_CONNECT",
        auth
          ? `storage_system "${t.label}": ${t.user}@${t.host}:${t.port} refused our SSH key (${msg}). Authorize the public key on the storage (SSH_KEY, default CBM_HOME/ssh/id_ed25519).`
          : `Cannot reach storage_system "${t.label}" at ${t.host}:${t.port} over SSH: ${msg}.`,
        "runtime",
        { cause: e },
      );
    }
    return new SshSession(client, presented, t.label);
  }

  /** Runs one checked command; returns its output and exit status (never throws on a CMMVC error). */
  exec(cmd: SvcCommand, timeoutMs = 60_000): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new CbmError("CBM_SVC_TIMEOUT", `storage_system "${this.label}": "${cmd.text}" did not finish within ${timeoutMs / 1000} s.`));
      }, timeoutMs);
      this.client.exec(cmd.text, (err, ch) => {
        if (err) {
          clearTimeout(timer);
          return reject(new CbmError("CBM_SVC_CONNECT", `storage_system "${this.label}": cannot run "${cmd.text}": ${err.message}`));
        }
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let code = -1;
        ch.on("data", (d: Buffer) => out.push(d));
        ch.stderr.on("data", (d: Buffer) => errOut.push(d));
        ch.on("exit", (c: number | null) => (code = c ?? -1));
        ch.on("close", () => {
          clearTimeout(timer);
          resolve({ stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(errOut).toString("utf8"), code });
        });
      });
    });
  }

  close(): void {
    this.client.end();
  }
}
