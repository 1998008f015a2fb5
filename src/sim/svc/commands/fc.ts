/** FlashCopy mapping and consistency-group commands (SVC-CLI.md §2.8, §2.9, §3.1). */
import { flagInt, flagOn, flagStr, LS_FLAGS } from "../args.ts";
import { svcErr } from "../errors.ts";
import type { Pair } from "../format.ts";
import * as fc from "../flashcopy.ts";
import { defaultName, findObj, isIdToken, lowestFreeId, validateName, type FcGroup, type FcMap } from "../model.ts";
import type { Command, Ctx } from "./types.ts";
import { pairs, renderList, s } from "./view.ts";
import { findVdisk, IOGRP } from "./vdisk.ts";

const MAP_COLS = [
  "id", "name", "source_vdisk_id", "source_vdisk_name", "target_vdisk_id", "target_vdisk_name", "group_id",
  "group_name", "status", "progress", "copy_rate", "clean_progress", "incremental", "partner_FC_id",
  "partner_FC_name", "restoring", "start_time", "rc_controlled",
] as const;
const MAP_DETAIL = [
  "id", "name", "source_vdisk_id", "source_vdisk_name", "target_vdisk_id", "target_vdisk_name", "group_id",
  "group_name", "status", "progress", "copy_rate", "start_time", "dependent_mappings", "autodelete",
  "clean_progress", "clean_rate", "incremental", "difference", "grain_size", "IO_group_id", "IO_group_name",
  "partner_FC_id", "partner_FC_name", "restoring", "rc_controlled", "keep_target", "type", "restore_progress",
  "fc_controlled", "owner_id", "owner_name",
] as const;
const GRP_COLS = ["id", "name", "status", "start_time", "owner_id", "owner_name"] as const;

function mapRow(ctx: Ctx, m: FcMap): Record<string, string> {
  const st = ctx.sys.state;
  const src = st.vdisks.find((v) => v.id === m.sourceId);
  const dst = st.vdisks.find((v) => v.id === m.targetId);
  const g = m.groupId === null ? undefined : st.fcGroups.find((x) => x.id === m.groupId);
  return {
    id: s(m.id), name: m.name, source_vdisk_id: s(m.sourceId), source_vdisk_name: src?.name ?? "",
    target_vdisk_id: s(m.targetId), target_vdisk_name: dst?.name ?? "", group_id: s(g?.id), group_name: g?.name ?? "",
    status: m.status, progress: s(m.progress), copy_rate: s(m.copyRate), clean_progress: "100",
    incremental: m.incremental ? "on" : "off", partner_FC_id: "", partner_FC_name: "", restoring: "no",
    start_time: m.startTime, rc_controlled: "no", dependent_mappings: "0", autodelete: m.autodelete ? "on" : "off",
    clean_rate: s(m.cleanRate), difference: m.status === "idle_or_copied" && m.progress === 100 ? "0" : "100",
    grain_size: s(m.grainSize), IO_group_id: s(IOGRP.id), IO_group_name: IOGRP.name, keep_target: m.keepTarget ? "yes" : "no",
    type: "generic", restore_progress: "0", fc_controlled: "no", owner_id: "", owner_name: "",
  };
}

function groupRow(ctx: Ctx, g: FcGroup): Record<string, string> {
  return {
    id: s(g.id), name: g.name, status: fc.groupStatus(fc.membersOf(ctx.sys.state, g.id)), start_time: g.startTime,
    owner_id: "", owner_name: "", autodelete: g.autodelete ? "on" : "off",
  };
}

function groupDetail(ctx: Ctx, g: FcGroup): Pair[] {
  const out = pairs(["id", "name", "status", "autodelete", "start_time", "owner_id", "owner_name"], groupRow(ctx, g));
  for (const m of fc.membersOf(ctx.sys.state, g.id)) out.push(["FC_mapping_id", s(m.id)], ["FC_mapping_name", m.name]);
  return out;
}

const findMap = (ctx: Ctx, ref: string): FcMap | undefined => findObj(ctx.sys.state.fcMaps, ref);
const findGroup = (ctx: Ctx, ref: string): FcGroup | undefined => findObj(ctx.sys.state.fcGroups, ref);

function mapOrFail(ctx: Ctx): FcMap {
  const m = findMap(ctx, ctx.args.obj ?? "");
  if (!m) throw svcErr("CMMVC5753E");
  return m;
}
function groupOrFail(ctx: Ctx): FcGroup {
  const g = findGroup(ctx, ctx.args.obj ?? "");
  if (!g) throw svcErr("CMMVC5753E");
  return g;
}

const lsfcmap: Command = {
  spec: { flags: { ...LS_FLAGS, "-showhidden": "none" }, obj: "optional" },
  mutates: false,
  async run(ctx) {
    return renderList(ctx, {
      columns: MAP_COLS,
      items: ctx.sys.state.fcMaps,
      row: (m) => mapRow(ctx, m),
      detail: (m) => pairs(MAP_DETAIL, mapRow(ctx, m)),
      find: (ref) => findMap(ctx, ref),
    });
  },
};

const lsfcconsistgrp: Command = {
  spec: { flags: LS_FLAGS, obj: "optional" },
  mutates: false,
  async run(ctx) {
    return renderList(ctx, {
      columns: GRP_COLS,
      items: ctx.sys.state.fcGroups,
      row: (g) => groupRow(ctx, g),
      detail: (g) => groupDetail(ctx, g),
      find: (ref) => findGroup(ctx, ref),
    });
  },
};

const lsvdiskfcmappings: Command = {
  spec: { flags: LS_FLAGS, obj: "required" },
  mutates: false,
  async run(ctx) {
    const v = findVdisk(ctx, ctx.args.obj ?? "");
    if (!v) throw svcErr("CMMVC5753E");
    const maps = ctx.sys.state.fcMaps.filter((m) => m.sourceId === v.id || m.targetId === v.id);
    return renderList(ctx, { columns: ["id", "name"], items: maps, row: (m) => ({ id: s(m.id), name: m.name }), find: () => undefined });
  },
};

const mkfcconsistgrp: Command = {
  spec: { flags: { "-name": "one", "-autodelete": "none", "-ownershipgroup": "one" }, obj: "none" },
  mutates: true,
  async run(ctx) {
    const st = ctx.sys.state;
    const id = lowestFreeId(st.fcGroups.map((g) => g.id), 1);
    const given = flagStr(ctx.args, "-name");
    if (given !== undefined) validateName(given);
    const name = given ?? `fccstgrp${id}`;
    if (st.fcGroups.some((g) => g.name === name)) throw svcErr("CMMVC6035E");
    st.fcGroups.push({ id, name, autodelete: flagOn(ctx.args, "-autodelete"), startTime: "" });
    return `FlashCopy Consistency Group, id [${id}], successfully created\n`;
  },
};

const ACTIVE = new Set(["preparing", "prepared", "copying", "stopping", "suspended"]);

/** The group a map may join: must exist and not be active [K]. "0" means none. */
function joinable(ctx: Ctx, ref: string): FcGroup | null {
  if (ref === "0") return null;
  const g = findGroup(ctx, ref);
  if (!g) throw svcErr("CMMVC5754E");
  if (ACTIVE.has(fc.groupStatus(fc.membersOf(ctx.sys.state, g.id)))) throw svcErr("CMMVC5903E");
  return g;
}

const mkfcmap: Command = {
  spec: {
    flags: {
      "-source": "one", "-target": "one", "-name": "one", "-consistgrp": "one", "-copyrate": "one",
      "-autodelete": "none", "-grainsize": "one", "-incremental": "none", "-cleanrate": "one", "-iogrp": "one",
      "-keeptarget": "none",
    },
    obj: "none",
    required: ["-source", "-target"],
  },
  mutates: true,
  async run(ctx) {
    const st = ctx.sys.state;
    const src = findVdisk(ctx, flagStr(ctx.args, "-source") ?? "");
    const dst = findVdisk(ctx, flagStr(ctx.args, "-target") ?? "");
    if (!src || !dst) throw svcErr("CMMVC5754E");
    if (src.id === dst.id) throw svcErr("CMMVC6303E");
    if (src.capacity !== dst.capacity) throw svcErr("CMMVC5924E");
    if (st.fcMaps.some((m) => m.sourceId === src.id && m.targetId === dst.id)) throw svcErr("CMMVC6466E");
    const cg = flagStr(ctx.args, "-consistgrp");
    const group = cg === undefined ? null : joinable(ctx, cg);
    const copyRate = flagInt(ctx.args, "-copyrate", 0, 150) ?? 50;
    const cleanRate = flagInt(ctx.args, "-cleanrate", 0, 150) ?? 50;
    const grain = flagInt(ctx.args, "-grainsize", 64, 256) ?? 256;
    if (grain !== 64 && grain !== 256) throw svcErr("CMMVC5706E");
    const id = lowestFreeId(st.fcMaps.map((m) => m.id));
    const given = flagStr(ctx.args, "-name");
    if (given !== undefined) validateName(given);
    const name = given ?? defaultName("fcmap", st.fcMaps.map((m) => m.name));
    if (st.fcMaps.some((m) => m.name === name)) throw svcErr("CMMVC6035E");
    st.fcMaps.push({
      id, name, sourceId: src.id, targetId: dst.id, groupId: group?.id ?? null, status: "idle_or_copied",
      progress: 0, copyRate, cleanRate, autodelete: flagOn(ctx.args, "-autodelete"),
      incremental: flagOn(ctx.args, "-incremental"), grainSize: grain, keepTarget: flagOn(ctx.args, "-keeptarget"),
      startTime: "",
    });
    return `FlashCopy Mapping, id [${id}], successfully created\n`;
  },
};

const chfcmap: Command = {
  spec: {
    flags: { "-name": "one", "-consistgrp": "one", "-copyrate": "one", "-cleanrate": "one", "-autodelete": "one", "-force": "none" },
    obj: "required",
  },
  mutates: true,
  async run(ctx) {
    const st = ctx.sys.state;
    const m = mapOrFail(ctx);
    const name = flagStr(ctx.args, "-name");
    if (name !== undefined) {
      validateName(name);
      if (st.fcMaps.some((x) => x !== m && x.name === name)) throw svcErr("CMMVC6035E");
    }
    const cg = flagStr(ctx.args, "-consistgrp");
    const copyRate = flagInt(ctx.args, "-copyrate", 0, 150);
    const cleanRate = flagInt(ctx.args, "-cleanrate", 0, 150);
    const ad = flagStr(ctx.args, "-autodelete");
    if (ad !== undefined && ad !== "on" && ad !== "off") throw svcErr("CMMVC5706E");
    if (cg !== undefined) {
      // [K] membership changes only while the map is idle_or_copied or stopped
      if (m.status !== "idle_or_copied" && m.status !== "stopped") throw svcErr("CMMVC5903E");
      const g = joinable(ctx, cg);
      const old = m.groupId;
      m.groupId = g?.id ?? null;
      if (old !== null && old !== m.groupId) fc.dropGroupIfAutodeleteEmpty(st, old);
    }
    if (name !== undefined) m.name = name;
    if (copyRate !== undefined) {
      // keep the displayed progress continuous when the rate changes mid-copy
      if (m.status === "copying" && m.startedAtMs !== undefined && copyRate > 0) {
        const span = (ctx.sys.timing.fcCopyMs * 50) / copyRate;
        m.startedAtMs = Date.now() - (m.progress / 100) * span;
      }
      m.copyRate = copyRate;
    }
    if (cleanRate !== undefined) m.cleanRate = cleanRate;
    if (ad !== undefined) m.autodelete = ad === "on";
    return "";
  },
};

const rmfcmap: Command = {
  spec: { flags: { "-force": "none" }, obj: "required" },
  mutates: true,
  async run(ctx) {
    const m = mapOrFail(ctx);
    fc.checkRemovable(m, flagOn(ctx.args, "-force"));
    fc.deleteMap(ctx.sys.state, m);
    return "";
  },
};

const prestartfcmap: Command = {
  spec: { flags: { "-restore": "none" }, obj: "required" },
  mutates: true,
  async run(ctx) {
    const m = mapOrFail(ctx);
    fc.assertStandalone(m);
    fc.prestart([m], ctx.sys.fcTiming(), Date.now());
    return "";
  },
};

const startfcmap: Command = {
  spec: { flags: { "-prep": "none", "-restore": "none" }, obj: "required" },
  mutates: true,
  async run(ctx) {
    const m = mapOrFail(ctx);
    fc.assertStandalone(m);
    fc.checkStart([m], flagOn(ctx.args, "-prep"));
    await fc.start(ctx.sys.state, ctx.sys.stateDir, [m], undefined, ctx.sys.fcTiming());
    return "";
  },
};

const stopfcmap: Command = {
  spec: { flags: { "-force": "none", "-split": "none" }, obj: "required" },
  mutates: true,
  async run(ctx) {
    const m = mapOrFail(ctx);
    fc.assertStandalone(m);
    fc.stop([m], ctx.sys.fcTiming(), Date.now());
    return "";
  },
};

const prestartfcconsistgrp: Command = {
  spec: { flags: { "-restore": "none" }, obj: "required" },
  mutates: true,
  async run(ctx) {
    const g = groupOrFail(ctx);
    fc.prestart(fc.membersOf(ctx.sys.state, g.id), ctx.sys.fcTiming(), Date.now());
    return "";
  },
};

const startfcconsistgrp: Command = {
  spec: { flags: { "-prep": "none", "-restore": "none" }, obj: "required" },
  mutates: true,
  async run(ctx) {
    const g = groupOrFail(ctx);
    const maps = fc.membersOf(ctx.sys.state, g.id);
    fc.checkStart(maps, flagOn(ctx.args, "-prep"));
    await fc.start(ctx.sys.state, ctx.sys.stateDir, maps, g, ctx.sys.fcTiming());
    return "";
  },
};

const stopfcconsistgrp: Command = {
  spec: { flags: { "-force": "none", "-split": "none" }, obj: "required" },
  mutates: true,
  async run(ctx) {
    const g = groupOrFail(ctx);
    fc.stop(fc.membersOf(ctx.sys.state, g.id), ctx.sys.fcTiming(), Date.now());
    return "";
  },
};

const rmfcconsistgrp: Command = {
  spec: { flags: { "-force": "none" }, obj: "required" },
  mutates: true,
  async run(ctx) {
    const st = ctx.sys.state;
    const g = groupOrFail(ctx);
    const members = fc.membersOf(st, g.id);
    if (members.length > 0 && !flagOn(ctx.args, "-force")) throw svcErr("CMMVC5946E");
    // -force makes the members stand-alone mappings; it does not delete them (SVC-CLI.md §2.8)
    for (const m of members) m.groupId = null;
    st.fcGroups = st.fcGroups.filter((x) => x !== g);
    return "";
  },
};

const chfcconsistgrp: Command = {
  spec: { flags: { "-name": "one", "-autodelete": "one" }, obj: "required" },
  mutates: true,
  async run(ctx) {
    const g = groupOrFail(ctx);
    const name = flagStr(ctx.args, "-name");
    if (name !== undefined) {
      validateName(name);
      if (isIdToken(name) || ctx.sys.state.fcGroups.some((x) => x !== g && x.name === name)) throw svcErr("CMMVC6035E");
      g.name = name;
    }
    const ad = flagStr(ctx.args, "-autodelete");
    if (ad !== undefined) {
      if (ad !== "on" && ad !== "off") throw svcErr("CMMVC5706E");
      g.autodelete = ad === "on";
    }
    return "";
  },
};

export const FC_COMMANDS: Record<string, Command> = {
  lsfcmap, lsfcconsistgrp, lsvdiskfcmappings, mkfcconsistgrp, mkfcmap, chfcmap, rmfcmap, prestartfcmap,
  startfcmap, stopfcmap, prestartfcconsistgrp, startfcconsistgrp, stopfcconsistgrp, rmfcconsistgrp, chfcconsistgrp,
};
