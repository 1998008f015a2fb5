/**
 * Remote-copy (Metro/Global Mirror) commands (SVC-CLI.md §2.10, §2.11, §3.2). The objects live in the
 * RC store shared with the partner system; every change is a locked read-modify-write of that store.
 */
import { flagOn, flagStr, LS_FLAGS } from "../args.ts";
import { svcErr } from "../errors.ts";
import type { Pair } from "../format.ts";
import { defaultName, findObj, isIdToken, lowestFreeId, validateName, type RcGroup, type RcRel, type RcStore, type Vdisk } from "../model.ts";
import * as rc from "../remotecopy.ts";
import { loadLocalState } from "../state.ts";
import type { Command, Ctx } from "./types.ts";
import { pairs, renderList, s } from "./view.ts";
import { findVdisk } from "./vdisk.ts";
import { relOfVdisk } from "./xref.ts";

const GRP_COLS = [
  "id", "name", "master_cluster_id", "master_cluster_name", "aux_cluster_id", "aux_cluster_name", "primary",
  "state", "relationship_count", "copy_type", "cycling_mode", "freeze_time",
] as const;
const GRP_DETAIL = [
  "id", "name", "master_cluster_id", "master_cluster_name", "aux_cluster_id", "aux_cluster_name", "primary",
  "state", "relationship_count", "freeze_time", "status", "sync", "copy_type", "cycling_mode", "cycle_period_seconds",
] as const;
const REL_COLS = [
  "id", "name", "master_cluster_id", "master_cluster_name", "master_vdisk_id", "master_vdisk_name", "aux_cluster_id",
  "aux_cluster_name", "aux_vdisk_id", "aux_vdisk_name", "primary", "consistency_group_id", "consistency_group_name",
  "state", "bg_copy_priority", "progress", "copy_type", "cycling_mode", "freeze_time",
] as const;
const REL_DETAIL = [
  "id", "name", "master_cluster_id", "master_cluster_name", "master_vdisk_id", "master_vdisk_name", "aux_cluster_id",
  "aux_cluster_name", "aux_vdisk_id", "aux_vdisk_name", "primary", "consistency_group_id", "consistency_group_name",
  "state", "bg_copy_priority", "progress", "freeze_time", "status", "sync", "copy_type", "cycling_mode",
  "cycle_period_seconds", "master_change_vdisk_id", "master_change_vdisk_name", "aux_change_vdisk_id",
  "aux_change_vdisk_name",
] as const;

const visibleRels = (ctx: Ctx, st: RcStore): RcRel[] => st.relationships.filter((r) => rc.involves(r, ctx.sys.id));
const visibleGroups = (ctx: Ctx, st: RcStore): RcGroup[] => st.groups.filter((g) => rc.involves(g, ctx.sys.id));

interface RelView {
  rel: RcRel;
  state: string;
  status: string;
  sync: string;
}

async function relView(ctx: Ctx, r: RcRel): Promise<RelView> {
  const env = ctx.sys.rcEnv();
  const connected = await env.connected(r.masterSystemId, r.auxSystemId);
  const state = rc.viewState(r.state, rc.primarySystem(r) === ctx.sys.id, connected);
  const sync = state === "consistent_stopped" || state === "idling" ? ((await rc.inSync(env, r)) ? "in_sync" : "out_of_sync") : "";
  return { rel: r, state, status: connected ? "online" : "io_channel_offline", sync };
}

function relRow(store: RcStore, v: RelView): Record<string, string> {
  const r = v.rel;
  const g = r.groupId === null ? undefined : store.groups.find((x) => x.id === r.groupId);
  // REDP-5651 shows `progress 0` for an inconsistent_stopped relationship, so progress is shown in
  // both inconsistent states and blank otherwise
  const progress = v.state.startsWith("inconsistent") ? s(r.progress ?? 0) : "";
  const freeze = v.state === "consistent_stopped" || v.state === "consistent_disconnected" ? r.freezeTime : "";
  return {
    id: s(r.id), name: r.name, RC_rel_name: r.name, master_cluster_id: r.masterSystemId,
    master_cluster_name: r.masterSystemName, master_vdisk_id: s(r.masterVdiskId), master_vdisk_name: r.masterVdiskName,
    aux_cluster_id: r.auxSystemId, aux_cluster_name: r.auxSystemName, aux_vdisk_id: s(r.auxVdiskId),
    aux_vdisk_name: r.auxVdiskName, primary: r.primary, consistency_group_id: s(g?.id), consistency_group_name: g?.name ?? "",
    state: v.state, bg_copy_priority: s(r.bgCopyPriority), progress, copy_type: r.copyType, cycling_mode: r.cyclingMode,
    freeze_time: freeze, status: v.status, sync: v.sync, cycle_period_seconds: "300", master_change_vdisk_id: "",
    master_change_vdisk_name: "", aux_change_vdisk_id: "", aux_change_vdisk_name: "",
  };
}

interface GroupView {
  group: RcGroup;
  members: RelView[];
}

function groupRow(ctx: Ctx, v: GroupView): Record<string, string> {
  const g = v.group;
  const empty = v.members.length === 0;
  const state = empty ? "empty" : v.members[0].state;
  const sync = v.members.some((m) => m.sync === "out_of_sync") ? "out_of_sync" : (v.members[0]?.sync ?? "");
  return {
    id: s(g.id), name: g.name, master_cluster_id: g.masterSystemId, master_cluster_name: g.masterSystemName,
    aux_cluster_id: g.auxSystemId, aux_cluster_name: g.auxSystemName, primary: empty ? "" : g.primary, state,
    relationship_count: s(v.members.length), copy_type: empty ? "empty_group" : g.copyType,
    cycling_mode: empty ? "" : g.cyclingMode,
    freeze_time: state === "consistent_stopped" || state === "consistent_disconnected" ? g.freezeTime : "",
    // REDP-5651 shows a blank group status for a non-empty group
    status: "", sync, cycle_period_seconds: "300",
  };
}

async function groupViews(ctx: Ctx, store: RcStore): Promise<GroupView[]> {
  const out: GroupView[] = [];
  for (const g of visibleGroups(ctx, store)) {
    const members: RelView[] = [];
    for (const r of store.relationships.filter((x) => x.groupId === g.id)) members.push(await relView(ctx, r));
    out.push({ group: g, members });
  }
  return out;
}

const lsrcconsistgrp: Command = {
  spec: { flags: LS_FLAGS, obj: "optional" },
  mutates: false,
  async run(ctx) {
    const views = await groupViews(ctx, await ctx.sys.settledRc());
    return renderList(ctx, {
      columns: GRP_COLS,
      items: views,
      row: (v) => groupRow(ctx, v),
      detail: (v) => {
        const out: Pair[] = pairs(GRP_DETAIL, groupRow(ctx, v));
        for (const m of v.members) out.push(["RC_rel_id", s(m.rel.id)], ["RC_rel_name", m.rel.name]);
        return out;
      },
      find: (ref) => {
        const g = findGroupIn(views.map((v) => v.group), ref);
        return g && views.find((v) => v.group === g);
      },
    });
  },
};

const lsrcrelationship: Command = {
  spec: { flags: LS_FLAGS, obj: "optional" },
  mutates: false,
  async run(ctx) {
    const store = await ctx.sys.settledRc();
    const views: RelView[] = [];
    for (const r of visibleRels(ctx, store)) views.push(await relView(ctx, r));
    return renderList(ctx, {
      columns: REL_COLS,
      extraFilters: ["RC_rel_name"],
      items: views,
      row: (v) => relRow(store, v),
      detail: (v) => pairs(REL_DETAIL, relRow(store, v)),
      find: (ref) => views.find((v) => (isIdToken(ref) ? v.rel.id === Number(ref) : v.rel.name === ref)),
    });
  },
};

function findGroupIn(groups: readonly RcGroup[], ref: string): RcGroup | undefined {
  return findObj(groups, ref);
}

/** Resolve -cluster: the local system (intra-system copy) or a partner with a working link. */
async function resolveCluster(ctx: Ctx, ref: string): Promise<{ id: string; name: string; stateDir: string }> {
  const self = ctx.sys.state.system;
  if (ref === self.id || ref === self.name) return { id: self.id, name: self.name, stateDir: ctx.sys.stateDir };
  const p = ctx.sys.state.partnerships.find((x) => x.remoteId === ref || x.remoteName === ref);
  if (!p) throw svcErr("CMMVC5754E");
  if (!(await ctx.sys.linkUp(p.remoteId))) throw svcErr("CMMVC6117E");
  const reg = await ctx.sys.partner(p.remoteId);
  if (!reg) throw svcErr("CMMVC6117E");
  return { id: reg.id, name: reg.name, stateDir: reg.stateDir };
}

const mkrcconsistgrp: Command = {
  spec: { flags: { "-name": "one", "-cluster": "one" }, obj: "none" },
  mutates: false,
  async run(ctx) {
    const self = ctx.sys.state.system;
    const remote = await resolveCluster(ctx, flagStr(ctx.args, "-cluster") ?? self.id);
    const given = flagStr(ctx.args, "-name");
    if (given !== undefined) validateName(given);
    return ctx.sys.mutateRc((st) => {
      const names = st.groups.filter((g) => rc.involves(g, self.id) || rc.involves(g, remote.id)).map((g) => g.name);
      const name = given ?? defaultName("rccstgrp", names);
      if (names.includes(name)) throw svcErr("CMMVC6035E");
      const id = lowestFreeId(st.groups.map((g) => g.id));
      st.groups.push({
        id, name, masterSystemId: self.id, masterSystemName: self.name, auxSystemId: remote.id, auxSystemName: remote.name,
        primary: "", state: "inconsistent_stopped", copyType: "empty_group", cyclingMode: "none", freezeTime: "",
      });
      return { changed: true, result: `RC Consistency Group, id [${id}], successfully created\n` };
    });
  },
};

/** Put `r` into `g` (mkrcrelationship -consistgrp / chrcrelationship -consistgrp). */
function joinGroup(st: RcStore, r: RcRel, g: RcGroup): void {
  if (g.masterSystemId !== r.masterSystemId || g.auxSystemId !== r.auxSystemId) throw svcErr("CMMVC5982E");
  const members = st.relationships.filter((x) => x.groupId === g.id && x !== r);
  if (members.length === 0) {
    // an empty group takes on the relationship's state, direction and type
    g.state = r.state;
    g.primary = r.primary;
    g.copyType = r.copyType;
    g.cyclingMode = r.cyclingMode;
    g.freezeTime = r.freezeTime;
  } else {
    if (g.copyType !== r.copyType) throw svcErr("CMMVC9012E");
    if (g.state !== r.state || g.primary !== r.primary) throw svcErr("CMMVC5982E");
  }
  r.groupId = g.id;
}

function leaveGroup(st: RcStore, r: RcRel): void {
  const gid = r.groupId;
  r.groupId = null;
  const g = st.groups.find((x) => x.id === gid);
  if (g && !st.relationships.some((x) => x.groupId === g.id)) {
    g.copyType = "empty_group";
    g.primary = "";
    g.freezeTime = "";
  }
}

const mkrcrelationship: Command = {
  spec: {
    flags: {
      "-master": "one", "-aux": "one", "-cluster": "one", "-name": "one", "-consistgrp": "one", "-sync": "none",
      "-global": "none", "-metro": "none", "-cyclingmode": "one", "-migration": "none",
    },
    obj: "none",
    required: ["-master", "-aux", "-cluster"],
  },
  mutates: false,
  async run(ctx) {
    const self = ctx.sys.state.system;
    const remote = await resolveCluster(ctx, flagStr(ctx.args, "-cluster") ?? "");
    const master = findVdisk(ctx, flagStr(ctx.args, "-master") ?? "");
    if (!master) throw svcErr("CMMVC5754E");
    const auxRef = flagStr(ctx.args, "-aux") ?? "";
    let aux: Vdisk | undefined;
    if (remote.id === self.id) aux = findVdisk(ctx, auxRef);
    else {
      const rs = await loadLocalState(remote.stateDir);
      aux = rs && (findObj(rs.vdisks, auxRef) ?? rs.vdisks.find((v) => v.uid === auxRef.toUpperCase()));
    }
    if (!aux) throw svcErr("CMMVC5754E");
    if (remote.id === self.id && aux.id === master.id) throw svcErr("CMMVC6303E");
    if (aux.capacity !== master.capacity) throw svcErr("CMMVC5956E");
    const cyc = flagStr(ctx.args, "-cyclingmode") ?? "none";
    if (cyc !== "none" && cyc !== "multi") throw svcErr("CMMVC5706E");
    const given = flagStr(ctx.args, "-name");
    if (given !== undefined) validateName(given);
    const a = aux;
    return ctx.sys.mutateRc((st) => {
      if (relOfVdisk(st, self.id, master.id) || relOfVdisk(st, remote.id, a.id)) throw svcErr("CMMVC5935E");
      const names = st.relationships.filter((r) => rc.involves(r, self.id) || rc.involves(r, remote.id)).map((r) => r.name);
      const name = given ?? defaultName("rcrel", names);
      if (names.includes(name)) throw svcErr("CMMVC6035E");
      const sync = flagOn(ctx.args, "-sync");
      const rel: RcRel = {
        id: master.id, name, masterSystemId: self.id, masterSystemName: self.name, masterVdiskId: master.id,
        masterVdiskName: master.name, masterUid: master.uid, auxSystemId: remote.id, auxSystemName: remote.name,
        auxVdiskId: a.id, auxVdiskName: a.name, auxUid: a.uid, capacity: master.capacity, primary: "master",
        groupId: null, state: sync ? "consistent_stopped" : "inconsistent_stopped", progress: sync ? null : 0,
        freezeTime: "", frozen: null, copyType: flagOn(ctx.args, "-global") || cyc === "multi" ? "global" : "metro",
        // [K] cycling mode multi (GMCV) is recorded and shown, but replicates like plain Global Mirror
        cyclingMode: cyc, bgCopyPriority: 50, copyEpoch: 0,
      };
      const cg = flagStr(ctx.args, "-consistgrp");
      if (cg !== undefined) {
        const g = findGroupIn(st.groups.filter((x) => rc.involves(x, self.id)), cg);
        if (!g) throw svcErr("CMMVC5754E");
        joinGroup(st, rel, g);
      }
      st.relationships.push(rel);
      return { changed: true, result: `RC Relationship, id [${rel.id}], successfully created\n` };
    });
  },
};

function relIn(ctx: Ctx, st: RcStore, ref: string): RcRel {
  const rels = visibleRels(ctx, st);
  const r = isIdToken(ref) ? rels.find((x) => x.id === Number(ref)) : rels.find((x) => x.name === ref);
  if (!r) throw svcErr("CMMVC5753E");
  return r;
}

function groupIn(ctx: Ctx, st: RcStore, ref: string): RcGroup {
  const g = findGroupIn(visibleGroups(ctx, st), ref);
  if (!g) throw svcErr("CMMVC5753E");
  return g;
}

type Target = "rel" | "group";

function unitOf(ctx: Ctx, st: RcStore, kind: Target): rc.RcUnit {
  const ref = ctx.args.obj ?? "";
  if (kind === "rel") {
    const r = relIn(ctx, st, ref);
    if (r.groupId !== null) throw svcErr("CMMVC5951E");
    return { rels: [r] };
  }
  const g = groupIn(ctx, st, ref);
  const rels = st.relationships.filter((x) => x.groupId === g.id);
  if (rels.length === 0) throw svcErr("CMMVC5982E");
  return { group: g, rels };
}

async function requireLink(ctx: Ctx, u: rc.RcUnit): Promise<void> {
  const r = u.rels[0];
  if (!(await ctx.sys.rcEnv().connected(r.masterSystemId, r.auxSystemId))) throw svcErr("CMMVC5982E");
}

function primaryFlag(ctx: Ctx): "master" | "aux" | undefined {
  const p = flagStr(ctx.args, "-primary");
  if (p === undefined) return undefined;
  if (p !== "master" && p !== "aux") throw svcErr("CMMVC5706E");
  return p;
}

const startCmd = (kind: Target): Command => ({
  spec: { flags: { "-primary": "one", "-force": "none", "-clean": "none" }, obj: "required" },
  mutates: false,
  async run(ctx) {
    const primary = primaryFlag(ctx);
    await ctx.sys.mutateRc(async (st) => {
      const u = unitOf(ctx, st, kind);
      await requireLink(ctx, u);
      await rc.startUnit(ctx.sys.rcEnv(), u, { primary, force: flagOn(ctx.args, "-force") });
      return { changed: true, result: undefined };
    });
    return "";
  },
});

const stopCmd = (kind: Target): Command => ({
  spec: { flags: { "-access": "none" }, obj: "required" },
  mutates: false,
  async run(ctx) {
    await ctx.sys.mutateRc(async (st) => {
      const u = unitOf(ctx, st, kind);
      await rc.stopUnit(ctx.sys.rcEnv(), u, flagOn(ctx.args, "-access"), new Date());
      return { changed: true, result: undefined };
    });
    return "";
  },
});

const switchCmd = (kind: Target): Command => ({
  spec: { flags: { "-primary": "one", "-force": "none" }, obj: "required", required: ["-primary"] },
  mutates: false,
  async run(ctx) {
    const primary = primaryFlag(ctx) ?? "master";
    await ctx.sys.mutateRc(async (st) => {
      const u = unitOf(ctx, st, kind);
      await requireLink(ctx, u);
      rc.switchUnit(u, primary);
      return { changed: true, result: undefined };
    });
    return "";
  },
});

const rmrcrelationship: Command = {
  spec: { flags: { "-force": "none" }, obj: "required" },
  mutates: false,
  async run(ctx) {
    await ctx.sys.mutateRc((st) => {
      const r = relIn(ctx, st, ctx.args.obj ?? "");
      if (r.groupId !== null) leaveGroup(st, r);
      st.relationships = st.relationships.filter((x) => x !== r);
      return { changed: true, result: undefined };
    });
    return "";
  },
};

const rmrcconsistgrp: Command = {
  spec: { flags: { "-force": "none" }, obj: "required" },
  mutates: false,
  async run(ctx) {
    await ctx.sys.mutateRc((st) => {
      const g = groupIn(ctx, st, ctx.args.obj ?? "");
      const members = st.relationships.filter((x) => x.groupId === g.id);
      if (members.length > 0 && !flagOn(ctx.args, "-force")) throw svcErr("CMMVC5946E");
      // -force leaves the members as stand-alone relationships
      for (const r of members) r.groupId = null;
      st.groups = st.groups.filter((x) => x !== g);
      return { changed: true, result: undefined };
    });
    return "";
  },
};

const STOPPED = new Set(["inconsistent_stopped", "consistent_stopped", "idling"]);

const chrcrelationship: Command = {
  spec: {
    flags: {
      "-consistgrp": "one", "-noconsistgrp": "none", "-name": "one", "-global": "none", "-metro": "none",
      "-cyclingmode": "one", "-cycleperiodseconds": "one", "-masterchange": "one", "-auxchange": "one",
      "-nomasterchange": "none", "-noauxchange": "none", "-force": "none",
    },
    obj: "required",
  },
  mutates: false,
  async run(ctx) {
    const given = [...ctx.args.flags.keys()].filter((k) => k !== "-force");
    if (given.length === 0) throw svcErr("CMMVC5707E");
    if (given.length > 1) throw svcErr("CMMVC5713E");
    const attr = given[0];
    await ctx.sys.mutateRc((st) => {
      const r = relIn(ctx, st, ctx.args.obj ?? "");
      switch (attr) {
        case "-name": {
          const name = flagStr(ctx.args, "-name") ?? "";
          validateName(name);
          if (st.relationships.some((x) => x !== r && x.name === name && (rc.involves(x, r.masterSystemId) || rc.involves(x, r.auxSystemId)))) {
            throw svcErr("CMMVC6035E");
          }
          r.name = name;
          break;
        }
        case "-noconsistgrp":
          if (r.groupId === null) throw svcErr("CMMVC6065E");
          leaveGroup(st, r);
          break;
        case "-consistgrp": {
          const g = groupIn(ctx, st, flagStr(ctx.args, "-consistgrp") ?? "");
          if (r.groupId === g.id) break;
          if (r.groupId !== null) throw svcErr("CMMVC5935E");
          joinGroup(st, r, g);
          break;
        }
        case "-global":
        case "-metro":
          if (!STOPPED.has(r.state)) throw svcErr("CMMVC5982E");
          if (r.groupId !== null) throw svcErr("CMMVC9012E");
          r.copyType = attr === "-global" ? "global" : "metro";
          break;
        case "-cyclingmode": {
          const m = flagStr(ctx.args, "-cyclingmode");
          if (m !== "none" && m !== "multi") throw svcErr("CMMVC5706E");
          if (!STOPPED.has(r.state)) throw svcErr("CMMVC5982E");
          r.cyclingMode = m;
          break;
        }
        default:
          // change volumes and cycle periods are accepted and not modelled [K]
          break;
      }
      return { changed: true, result: undefined };
    });
    return "";
  },
};

const chrcconsistgrp: Command = {
  spec: { flags: { "-name": "one", "-cyclingmode": "one", "-cycleperiodseconds": "one", "-global": "none", "-metro": "none" }, obj: "required" },
  mutates: false,
  async run(ctx) {
    await ctx.sys.mutateRc((st) => {
      const g = groupIn(ctx, st, ctx.args.obj ?? "");
      const name = flagStr(ctx.args, "-name");
      if (name !== undefined) {
        validateName(name);
        if (st.groups.some((x) => x !== g && x.name === name)) throw svcErr("CMMVC6035E");
        g.name = name;
      }
      return { changed: true, result: undefined };
    });
    return "";
  },
};

export const RC_COMMANDS: Record<string, Command> = {
  lsrcconsistgrp, lsrcrelationship, mkrcconsistgrp, mkrcrelationship, chrcrelationship, chrcconsistgrp,
  rmrcrelationship, rmrcconsistgrp,
  startrcrelationship: startCmd("rel"), stoprcrelationship: stopCmd("rel"), switchrcrelationship: switchCmd("rel"),
  startrcconsistgrp: startCmd("group"), stoprcconsistgrp: stopCmd("group"), switchrcconsistgrp: switchCmd("group"),
};
