/**
 * Object model of one simulated system (persisted in <stateDir>/state.json) and of the remote-copy
 * objects shared by partnered systems (persisted in the RC store, see state.ts). Pure helpers only.
 */
import { svcErr } from "./errors.ts";

export const FC_STATES = [
  "idle_or_copied",
  "preparing",
  "prepared",
  "copying",
  "stopping",
  "stopped",
  "suspended",
] as const;
export type FcState = (typeof FC_STATES)[number];
export type FcGroupState = FcState | "empty";

export type RcStoredState =
  | "inconsistent_stopped"
  | "inconsistent_copying"
  | "consistent_synchronized"
  | "consistent_stopped"
  | "idling";
export type RcViewState =
  | RcStoredState
  | "idling_disconnected"
  | "inconsistent_disconnected"
  | "consistent_disconnected"
  | "empty";
export type RcPrimary = "master" | "aux" | "";
export type CopyType = "metro" | "global";

export interface SystemInfo {
  id: string;
  name: string;
  /** management IP shown by lssystemip and matched by -clusterip */
  clusterIp: string;
  /** last vdisk_UID sequence number handed out */
  uidCounter: number;
}

export interface Vdisk {
  id: number;
  name: string;
  uid: string;
  capacity: number;
  mdiskGrpId: number;
  createdAt: number;
}

export interface HostPort {
  kind: "fc" | "iscsi";
  name: string;
}

export interface Host {
  id: number;
  name: string;
  type: string;
  protocol: string;
  ports: HostPort[];
}

export interface HostMap {
  hostId: number;
  vdiskId: number;
  scsiId: number;
}

export interface FcMap {
  id: number;
  name: string;
  sourceId: number;
  targetId: number;
  groupId: number | null;
  status: FcState;
  progress: number;
  copyRate: number;
  cleanRate: number;
  autodelete: boolean;
  incremental: boolean;
  grainSize: number;
  keepTarget: boolean;
  startTime: string;
  /** epoch ms of the last start (drives the displayed background-copy progress) */
  startedAtMs?: number;
  /** epoch ms when a timed transition (preparing→prepared, stopping→stopped) completes */
  dueAt?: number;
}

export interface FcGroup {
  id: number;
  name: string;
  /** the group's status is derived from its members (flashcopy.ts groupStatus) */
  autodelete: boolean;
  startTime: string;
}

export interface Partnership {
  remoteId: string;
  remoteName: string;
  type: "ipv4" | "ipv6" | "fc";
  clusterIp: string;
  /** chpartnership -start / -stop */
  started: boolean;
  linkBandwidthMbits: number;
  backgroundCopyRate: number;
}

export interface LocalState {
  version: 1;
  system: SystemInfo;
  vdisks: Vdisk[];
  hosts: Host[];
  hostMaps: HostMap[];
  fcMaps: FcMap[];
  fcGroups: FcGroup[];
  partnerships: Partnership[];
}

/** File modification times recorded when a relationship's image was frozen (for `sync`). */
export interface FrozenMtimes {
  master: string;
  aux: string;
}

export interface RcRel {
  id: number;
  name: string;
  masterSystemId: string;
  masterSystemName: string;
  masterVdiskId: number;
  masterVdiskName: string;
  masterUid: string;
  auxSystemId: string;
  auxSystemName: string;
  auxVdiskId: number;
  auxVdiskName: string;
  auxUid: string;
  capacity: number;
  primary: RcPrimary;
  groupId: number | null;
  state: RcStoredState;
  progress: number | null;
  freezeTime: string;
  frozen: FrozenMtimes | null;
  copyType: CopyType;
  cyclingMode: "none" | "multi";
  bgCopyPriority: number;
  /** incremented at each (re)start of a background copy; keys the engine's copy cursor */
  copyEpoch: number;
}

export interface RcGroup {
  id: number;
  name: string;
  masterSystemId: string;
  masterSystemName: string;
  auxSystemId: string;
  auxSystemName: string;
  primary: RcPrimary;
  /** meaningful only while the group has members */
  state: RcStoredState;
  copyType: CopyType | "empty_group";
  cyclingMode: "none" | "multi";
  freezeTime: string;
}

export interface RcStore {
  version: 1;
  relationships: RcRel[];
  groups: RcGroup[];
}

export function emptyRcStore(): RcStore {
  return { version: 1, relationships: [], groups: [] };
}

/** Lowest unused id >= start (SVC-CLI.md §1.4). */
export function lowestFreeId(used: Iterable<number>, start = 0): number {
  const set = new Set(used);
  let id = start;
  while (set.has(id)) id++;
  return id;
}

export const isIdToken = (s: string): boolean => /^\d+$/.test(s);

/** Validate an object name against SVC naming rules (SVC-CLI.md §1.5). */
export function validateName(name: string, kind: "host" | "generic" = "generic"): void {
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(name)) throw svcErr("CMMVC6017E");
  if (name.length > 63) throw svcErr("CMMVC5738E");
  const ok = /^[A-Za-z_][A-Za-z0-9_.\- ]*$/.test(name) && !name.endsWith(" ");
  if (!ok) throw svcErr(kind === "host" ? "CMMVC6527E" : "CMMVC7249E");
}

/** Find by id (all digits) or by name. */
export function findObj<T extends { id: number; name: string }>(list: readonly T[], ref: string): T | undefined {
  if (isIdToken(ref)) return list.find((o) => o.id === Number(ref));
  return list.find((o) => o.name === ref);
}

/** vdisk_UID: 60050768 + 12 hex of system identity + 12 hex sequence (SVC-CLI.md §1.4). */
export function makeUid(systemId: string, seq: number): string {
  return `60050768${systemId.slice(-12).toUpperCase()}${seq.toString(16).toUpperCase().padStart(12, "0")}`;
}

/** A new 16-hex-digit system id. */
export function makeSystemId(rand: () => number = Math.random): string {
  let hex = "";
  for (let i = 0; i < 10; i++) hex += Math.floor(rand() * 16).toString(16);
  return `000002${hex}`.toUpperCase();
}

const p2 = (n: number): string => String(n).padStart(2, "0");

/** start_time format YYMMDDHHMMSS [K]. */
export function svcTimestamp(d: Date): string {
  return `${p2(d.getFullYear() % 100)}${p2(d.getMonth() + 1)}${p2(d.getDate())}${p2(d.getHours())}${p2(d.getMinutes())}${p2(d.getSeconds())}`;
}

/** freeze_time format YY/MM/DD/HH/MM (SVC-CLI.md §2.11). */
export function freezeTimestamp(d: Date): string {
  return `${p2(d.getFullYear() % 100)}/${p2(d.getMonth() + 1)}/${p2(d.getDate())}/${p2(d.getHours())}/${p2(d.getMinutes())}`;
}

/**
 * Default name: `prefix` + the lowest N whose name is free. REDP-5651 shows fcmap2 with id 6 and
 * rcrel0 with id 360, so these counters are independent of the object id [K].
 */
export function defaultName(prefix: string, taken: Iterable<string>): string {
  const set = new Set(taken);
  let n = 0;
  while (set.has(`${prefix}${n}`)) n++;
  return `${prefix}${n}`;
}
