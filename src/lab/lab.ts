/**
 * The built-in lab: the paper's whole setup on one machine, on 127.0.0.1 only.
 *
 * `labUp` starts, as detached background processes recorded by pid: two SVC simulators
 * (SVC_STORAGE_primary and SVC_STORAGE_secondary, partnered through a shared fabric directory) and an
 * s3rver. It makes the SSH key CBM_HOME/ssh/id_ed25519 (unless one exists) and authorizes it; creates
 * over SSH the paper's volumes mapped to host Node1; writes the topology into cbm.xml (disks whose
 * UUID is the volume's vdisk_UID and whose DEVICE is the volume file); writes
 * CBM_HOME/ssh_endpoints.json (storage1 → primary, storage2 → secondary, so `ADDRESSES=127.0.0.1`
 * works verbatim) and cloud defaults pointing at the S3 server (CLOUD_SERVICE=s3, ENDPOINT, and an
 * AWS shared-credentials file with profile cbm-lab), so the paper's cloud profile line works verbatim.
 *
 * `labDown` stops those processes by pid and removes exactly what the lab made: its objects, the
 * backup profiles and storage systems that only make sense with it (storage systems reached through
 * its ssh_endpoints entries), its defaults, its key (if it made it), and CBM_HOME/lab.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { addObject, modifyObject } from "../config/edit.ts";
import { findObject } from "../config/model.ts";
import { updateConfig } from "../config/store.ts";
import { endpointsFile, defaultKeyPath, readEndpoints } from "../storage/svc/connect.ts";
import { nm, num, svcCommand, type SvcArg, type SvcVerb } from "../storage/svc/names.ts";
import { parseConcise } from "../storage/svc/parse.ts";
import { SshSession } from "../storage/svc/ssh.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { CbmError } from "../util/errors.ts";
import { freePort } from "../util/proc.ts";
import { ROOT, spawnDetached, stopProc, waitFirstLine, waitHttp, type LabProc } from "./procs.ts";
import {
  DEFAULT_LAB_DISK_MIB, LAB_AWS_PROFILE, LAB_BUCKET, LAB_CLUSTER, LAB_DISKS, LAB_NODE, LAB_RG, LAB_STORAGE, LAB_USER, LAB_VG,
} from "./topology.ts";
import { generateEd25519 } from "../util/sshkey.ts";

export interface LabStorage {
  /** The name to give `clmgr add storage_system` (mapped in ssh_endpoints.json). */
  name: string;
  systemName: string;
  systemId: string;
  role: string;
  address: string;
  port: number;
  user: string;
  keyPath: string;
  hostKey: string;
  stateDir: string;
  pid: number;
}

export interface LabS3 {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  region: string;
  profile: string;
  credentialsFile: string;
  pid: number;
}

export interface LabState {
  version: 2;
  createdAt: string;
  home: string;
  diskBytes: number;
  keyPath: string;
  storage: LabStorage[];
  s3: LabS3;
  disks: Array<{ hdisk: string; vdisk: string; storage: string; uid: string; path: string; vg?: string }>;
  /** Objects the lab added to cbm.xml, removed again by lab down. */
  objects: Array<[string, string]>;
  /** backup_profile defaults the lab set (removed by lab down if still the lab's). */
  defaults: Record<string, string>;
  /** Entries the lab added to ssh_endpoints.json. */
  endpoints: Record<string, string>;
  madeKey: boolean;
  procs: LabProc[];
}

export const labDir = (home: string) => join(home, "lab");
const statePath = (home: string) => join(labDir(home), "lab.json");
const SIM_MAIN = join(ROOT, "src", "sim", "svc", "main.ts");
const S3RVER = join(ROOT, "node_modules", "s3rver", "bin", "s3rver.js");

export async function readLabState(home: string): Promise<LabState | undefined> {
  try {
    const s = JSON.parse(await readFile(statePath(home), "utf8")) as LabState;
    return s.version === 2 ? s : undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** CBM_HOME/ssh/id_ed25519 (0600) and .pub; created unless present. Returns whether we made it. */
async function ensureKey(home: string): Promise<{ made: boolean; pub: string }> {
  const key = defaultKeyPath(home);
  if (existsSync(key) && existsSync(`${key}.pub`)) return { made: false, pub: (await readFile(`${key}.pub`, "utf8")).trim() };
  await mkdir(join(home, "ssh"), { recursive: true, mode: 0o700 });
  const kp = generateEd25519("cbm-lab");
  await writeFile(key, kp.private, { mode: 0o600 });
  await writeFile(`${key}.pub`, `${kp.public.trim()}\n`, { mode: 0o644 });
  return { made: true, pub: kp.public.trim() };
}

async function run(s: SshSession, verb: SvcVerb, ...args: SvcArg[]): Promise<string> {
  const cmd = svcCommand(verb, ...args);
  const r = await s.exec(cmd);
  if (r.code !== 0) throw new CbmError("CBM_LAB_SETUP", `Lab setup: "${cmd.text}" failed on ${s.label}: ${r.stderr.trim()}`);
  return r.stdout;
}

export async function labUp(home: string, opts: { diskMiB?: number } = {}): Promise<LabState> {
  if (await readLabState(home)) throw new CbmError("CBM_LAB_UP", `The lab is already up in ${home}; run "cbm lab down" first.`);
  const diskMiB = opts.diskMiB ?? DEFAULT_LAB_DISK_MIB;
  if (!Number.isInteger(diskMiB) || diskMiB < 1 || diskMiB > 65536) {
    throw new CbmError("CBM_BAD_VALUE", `DISK_MIB must be an integer from 1 to 65536; given ${opts.diskMiB}.`, "validation");
  }
  const dir = labDir(home);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const procs: LabProc[] = [];
  // Record pids as soon as they exist, so that a failed `up` can still be taken down.
  const partial = async () => writeFileAtomic(join(dir, "procs.json"), JSON.stringify(procs));
  try {
    return await bringUp(home, dir, diskMiB, procs, partial);
  } catch (e) {
    await Promise.all(procs.map((p) => stopProc(p)));
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

async function bringUp(home: string, dir: string, diskMiB: number, procs: LabProc[], partial: () => Promise<void>): Promise<LabState> {
  const { made: madeKey, pub } = await ensureKey(home);
  const keyPath = defaultKeyPath(home);
  await writeFile(join(dir, "authorized_keys"), `${pub}\n`, { mode: 0o600 });
  const fabric = join(dir, "fabric");
  await mkdir(fabric, { recursive: true });

  // Storage simulators.
  const storage: LabStorage[] = [];
  for (const s of LAB_STORAGE) {
    const stateDir = join(dir, `svc-${s.role}`);
    await mkdir(stateDir, { recursive: true });
    const pid = spawnDetached(
      `svc-${s.role}`,
      ["--import", "tsx", SIM_MAIN, "--state", stateDir, "--name", s.systemName, "--fabric", fabric, "--authorized-keys", join(dir, "authorized_keys")],
      dir,
    );
    procs.push({ role: `svc-${s.role}`, pid, marker: "main.ts" });
    await partial();
    const line = JSON.parse(await waitFirstLine(join(dir, `svc-${s.role}.out`), pid, join(dir, `svc-${s.role}.err`))) as {
      port: number;
      systemId: string;
      hostKey: string;
    };
    storage.push({
      name: s.name, systemName: s.systemName, systemId: line.systemId, role: s.role, address: `127.0.0.1:${line.port}`,
      port: line.port, user: LAB_USER, keyPath, hostKey: line.hostKey, stateDir, pid,
    });
  }

  // S3.
  const s3Port = await freePort();
  const s3Dir = join(dir, "s3");
  await mkdir(s3Dir, { recursive: true });
  const s3Pid = spawnDetached("s3rver", ["--openssl-legacy-provider", S3RVER, "-d", s3Dir, "-a", "127.0.0.1", "-p", String(s3Port), "--silent"], dir);
  procs.push({ role: "s3rver", pid: s3Pid, marker: "s3rver" });
  await partial();
  const endpoint = `http://127.0.0.1:${s3Port}`;
  await waitHttp(endpoint, s3Pid);
  const credentialsFile = join(dir, "aws-credentials");
  await writeFile(credentialsFile, `[${LAB_AWS_PROFILE}]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n`, { mode: 0o600 });
  const s3: LabS3 = {
    endpoint, accessKeyId: "S3RVER", secretAccessKey: "S3RVER", bucket: LAB_BUCKET, region: "us-east-1",
    profile: LAB_AWS_PROFILE, credentialsFile, pid: s3Pid,
  };

  // Volumes, host mappings and the partnership, over SSH as an administrator would.
  const diskBytes = diskMiB * 1024 * 1024;
  const disks: LabState["disks"] = [];
  const privateKey = await readFile(keyPath);
  for (const st of storage) {
    const sess = await SshSession.connect({ host: "127.0.0.1", port: st.port, user: LAB_USER, privateKey, hostKey: st.hostKey, label: st.systemName });
    try {
      const spec = LAB_STORAGE.find((x) => x.name === st.name)!;
      await run(sess, "mkhost", "-name", nm(LAB_NODE, "host"), "-fcwwpn", { wwpn: spec.wwpn }, "-force");
      for (const d of LAB_DISKS.filter((x) => x.storage === st.name)) {
        await run(sess, "mkvdisk", "-name", nm(d.vdisk, "volume"), "-size", num(diskBytes), "-unit", { literal: "b" }, "-mdiskgrp", nm("Pool0", "pool"), "-iogrp", nm("io_grp0", "I/O group"));
        await run(sess, "mkvdiskhostmap", "-host", nm(LAB_NODE, "host"), nm(d.vdisk, "volume"));
      }
      const rows = parseConcise(await run(sess, "lsvdisk", "-delim", { literal: "!" }, "-bytes"), "!");
      for (const d of LAB_DISKS.filter((x) => x.storage === st.name)) {
        const uid = rows.find((r) => r.name === d.vdisk)?.vdisk_UID ?? "";
        disks.push({ hdisk: d.hdisk, vdisk: d.vdisk, storage: st.name, uid, path: join(st.stateDir, "volumes", `${uid}.img`), vg: d.vg });
      }
      const other = storage.find((x) => x !== st)!;
      await run(sess, "mkippartnership", "-type", { literal: "ipv4" }, "-clusterip", { ipv4: other.address }, "-linkbandwidthmbits", num(1000));
    } finally {
      sess.close();
    }
  }

  // ssh_endpoints.json: the storage names → the simulators' ports.
  const endpoints = Object.fromEntries(storage.map((s) => [s.name, s.address]));
  const existing = await readEndpoints(home);
  await writeFileAtomic(endpointsFile(home), JSON.stringify({ ...existing, ...endpoints }, null, 2));

  // Configuration: the topology and the cloud defaults.
  const defaults: Record<string, string> = {
    CLOUD_SERVICE: "s3", ENDPOINT: endpoint, AWS_PROFILE: LAB_AWS_PROFILE, CREDENTIALS_FILE: credentialsFile,
  };
  const objects: Array<[string, string]> = [];
  await updateConfig(home, (c) => {
    const add = (cls: string, name: string, attrs: Array<[string, string]>) => {
      if (findObject(c, cls, name)) return; // keep what the user already has
      addObject(c, cls, name, attrs);
      objects.push([cls, name]);
    };
    add("node", LAB_NODE, []);
    add("cluster", LAB_CLUSTER, [["NODES", LAB_NODE]]);
    for (const d of disks) {
      const t = LAB_DISKS.find((x) => x.hdisk === d.hdisk)!;
      add("physical_volume", d.hdisk, [
        ["DEVICE", d.path], ["UUID", d.uid], ["PVID", t.pvid], ["SIZE", String(diskBytes)], ["STORAGE_NAME", d.storage],
      ]);
    }
    add("volume_group", LAB_VG, [["PHYSICAL_VOLUMES", LAB_DISKS.filter((d) => d.vg === LAB_VG).map((d) => d.hdisk).join(",")]]);
    add("resource_group", LAB_RG, [["NODES", LAB_NODE], ["VOLUME_GROUP", LAB_VG]]);
    modifyObject(c, "resource_group", LAB_RG, [["CURRENT_NODE", LAB_NODE]], true);
    for (const [k, v] of Object.entries(defaults)) if (c.defaults[k] === undefined) c.defaults[k] = v;
    return c;
  });

  // The watchdog stops everything above if the lab directory vanishes without `lab down`.
  const wd = spawnDetached("watchdog", ["--import", "tsx", join(ROOT, "src", "lab", "watchdog.ts"), dir, ...procs.map((p) => `${p.pid}:${p.marker}`)], dir);
  procs.push({ role: "watchdog", pid: wd, marker: "watchdog.ts" });

  const state: LabState = {
    version: 2, createdAt: new Date().toISOString(), home, diskBytes, keyPath, storage, s3, disks, objects, defaults, endpoints, madeKey, procs,
  };
  await writeFileAtomic(statePath(home), JSON.stringify(state, null, 2));
  await rm(join(dir, "procs.json"), { force: true });
  return state;
}

export async function labDown(home: string): Promise<LabState | undefined> {
  const state = await readLabState(home);
  if (!state) {
    // A failed or interrupted `up` leaves only procs.json: stop those.
    const procs = JSON.parse(await readFile(join(labDir(home), "procs.json"), "utf8").catch(() => "[]")) as LabProc[];
    await Promise.all(procs.map((p) => stopProc(p)));
    if (procs.length > 0) await rm(labDir(home), { recursive: true, force: true });
    return undefined;
  }
  await Promise.all(state.procs.map((p) => stopProc(p)));
  const labStorage = new Set(Object.keys(state.endpoints));
  await updateConfig(home, (c) => {
    const drop = new Set(state.objects.map(([cls, n]) => `${cls}/${n}`));
    for (const o of c.objects) {
      // Profiles of the lab's resource groups or on the lab's storage, and the lab's storage systems.
      if (o.cls === "backup_profile" && (drop.has(`resource_group/${o.name}`) || (o.attrs.STORAGE_NAME ?? "").split(",").some((s) => labStorage.has(s)))) {
        drop.add(`${o.cls}/${o.name}`);
      }
      if (o.cls === "storage_system" && labStorage.has(o.name)) drop.add(`${o.cls}/${o.name}`);
    }
    c.objects = c.objects.filter((o) => !drop.has(`${o.cls}/${o.name}`));
    for (const [k, v] of Object.entries(state.defaults)) if (c.defaults[k] === v) delete c.defaults[k];
    return c;
  });
  const eps = await readEndpoints(home);
  for (const [k, v] of Object.entries(state.endpoints)) if (eps[k] === v) delete eps[k];
  if (Object.keys(eps).length === 0) await rm(endpointsFile(home), { force: true });
  else await writeFileAtomic(endpointsFile(home), JSON.stringify(eps, null, 2));
  if (state.madeKey) {
    await rm(state.keyPath, { force: true });
    await rm(`${state.keyPath}.pub`, { force: true });
  }
  await rm(labDir(home), { recursive: true, force: true });
  return state;
}

/** What `cbm lab status -o json` prints: how to reach everything. */
export function labStatusJson(s: LabState) {
  return {
    up: true,
    home: s.home,
    storage: s.storage.map((x) => ({
      name: x.name, systemName: x.systemName, systemId: x.systemId, role: x.role, address: x.address, user: x.user,
      keyPath: x.keyPath, hostKey: x.hostKey, stateDir: x.stateDir, pid: x.pid,
    })),
    s3: { ...s.s3 },
    disks: s.disks,
    diskBytes: s.diskBytes,
    endpointsFile: endpointsFile(s.home),
    createdAt: s.createdAt,
  };
}
