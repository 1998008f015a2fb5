/**
 * From a storage_system in the configuration to a logged-in SvcClient.
 *
 * Addresses: ADDRESSES is a list of host[:port], tried in order. A portless address uses port 22,
 * unless CBM_HOME/ssh_endpoints.json maps the storage system's NAME to "host:port" — the same idea
 * as a Host alias in ~/.ssh/config. The lab writes that file so that the paper's `ADDRESSES=127.0.0.1`
 * reaches the simulator on its free port; the file is `{ "storage1": "127.0.0.1:40123", ... }`.
 *
 * Key: SSH_KEY, else CBM_HOME/ssh/id_ed25519. Host key: HOST_KEY is the pin. With no pin, the key the
 * storage presents is accepted and recorded into HOST_KEY (trust on first use, like OpenSSH's
 * accept-new); a different key later is refused (CBM_SVC_HOST_KEY_CHANGED).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { modifyObject } from "../../config/edit.ts";
import { type Config, type ConfigObject, effective, findObject, splitList } from "../../config/model.ts";
import { updateConfig } from "../../config/store.ts";
import { CbmError, validationError } from "../../util/errors.ts";
import { SvcClient } from "./client.ts";
import { SshSession } from "./ssh.ts";

export const endpointsFile = (home: string) => join(home, "ssh_endpoints.json");
export const defaultKeyPath = (home: string) => join(home, "ssh", "id_ed25519");

export async function readEndpoints(home: string): Promise<Record<string, string>> {
  try {
    const v: unknown = JSON.parse(await readFile(endpointsFile(home), "utf8"));
    if (typeof v !== "object" || v === null) return {};
    return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === "string"));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new CbmError("CBM_CONFIG_INVALID", `${endpointsFile(home)} is not valid JSON: ${(e as Error).message}`, "validation");
  }
}

/** host[:port] or [v6]:port → host and port; a portless address takes the alias or 22. Pure. */
export function resolveAddress(addr: string, alias: string | undefined): { host: string; port: number } {
  const parse = (a: string): { host: string; port?: number } => {
    const v6 = /^\[([0-9A-Fa-f:]+)\](?::(\d+))?$/.exec(a);
    if (v6) return { host: v6[1], port: v6[2] ? Number(v6[2]) : undefined };
    const m = /^([^:]+)(?::(\d+))?$/.exec(a);
    if (!m) throw validationError("CBM_BAD_VALUE", `Not a host[:port] address: "${a}".`);
    return { host: m[1], port: m[2] ? Number(m[2]) : undefined };
  };
  const p = parse(addr);
  if (p.port !== undefined) return { host: p.host, port: p.port };
  if (alias) {
    const a = parse(alias);
    return { host: a.host, port: a.port ?? 22 };
  }
  return { host: p.host, port: 22 };
}

export interface OpenOptions {
  /** Record a first-seen host key into the configuration (default true when the object exists). */
  recordHostKey?: boolean;
}

export interface OpenedSvc {
  client: SvcClient;
  /** The key the storage presented, as an OpenSSH line. */
  hostKey: string;
  /** True if this connection pinned the key for the first time. */
  learned: boolean;
  address: string;
}

/** Connects to the storage system `obj` (which need not be in the configuration yet). */
export async function openSvc(home: string, cfg: Config, obj: ConfigObject, o: OpenOptions = {}): Promise<OpenedSvc> {
  const type = effective(cfg, obj, "TYPE");
  if (type !== "SVC") {
    throw validationError("CBM_NOT_SVC", `storage_system "${obj.name}" has TYPE=${type || "(unset)"}; this needs TYPE=SVC.`);
  }
  const addresses = splitList(effective(cfg, obj, "ADDRESSES"));
  if (addresses.length === 0) throw validationError("CBM_MISSING_ATTRIBUTE", `storage_system "${obj.name}" needs ADDRESSES.`);
  const keyPath = effective(cfg, obj, "SSH_KEY") || defaultKeyPath(home);
  let privateKey: Buffer;
  try {
    privateKey = await readFile(keyPath);
  } catch (e) {
    throw new CbmError(
      "CBM_SVC_NO_KEY",
      `storage_system "${obj.name}": cannot read the SSH private key ${keyPath} (${(e as Error).message}). Set SSH_KEY=/path or create the default key.`,
      "validation",
    );
  }
  const pinned = effective(cfg, obj, "HOST_KEY") || undefined;
  const aliases = await readEndpoints(home);
  let last: unknown;
  for (const addr of addresses) {
    const { host, port } = resolveAddress(addr, aliases[obj.name]);
    let session: SshSession;
    try {
      session = await SshSession.connect({ host, port, user: effective(cfg, obj, "USER") || "admin", privateKey, hostKey: pinned, label: obj.name });
    } catch (e) {
      // A changed host key or a refused login is an answer, not an unreachable address.
      if (e instanceof CbmError && e.code !== "CBM_SVC_CONNECT") throw e;
      last = e;
      continue;
    }
    const learned = pinned === undefined;
    if (learned && (o.recordHostKey ?? true) && findObject(cfg, "storage_system", obj.name)) {
      await updateConfig(home, (c) => {
        const cur = findObject(c, "storage_system", obj.name);
        // Another process may have pinned it meanwhile; keep the first pin.
        if (cur && !cur.attrs.HOST_KEY) modifyObject(c, "storage_system", obj.name, [["HOST_KEY", session.hostKey]], true);
      });
    }
    return { client: new SvcClient(session, obj.name), hostKey: session.hostKey, learned, address: `${host}:${port}` };
  }
  throw last instanceof Error ? last : new CbmError("CBM_SVC_CONNECT", `Cannot reach storage_system "${obj.name}".`);
}

/** Connects to a configured storage system by name, runs `fn`, always disconnects. */
export async function withSvc<T>(home: string, cfg: Config, name: string, fn: (c: SvcClient) => Promise<T>): Promise<T> {
  const obj = findObject(cfg, "storage_system", name);
  if (!obj) throw validationError("CBM_BAD_REFERENCE", `No storage_system named "${name}".`);
  const { client } = await openSvc(home, cfg, obj);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}
