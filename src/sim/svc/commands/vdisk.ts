/** lsvdisk, mkvdisk, rmvdisk (SVC-CLI.md §2.4, §2.5). */
import { flagOn, flagStr, LS_FLAGS } from "../args.ts";
import { svcErr } from "../errors.ts";
import { formatCapacity, parseSize, type Pair, type Row } from "../format.ts";
import { findObj, isIdToken, makeUid, validateName, lowestFreeId, type Vdisk } from "../model.ts";
import { createVolumeFile, removeVolumeFile, volumePath } from "../volumes.ts";
import { relOfVdisk, vdiskXref } from "./xref.ts";
import type { Command, Ctx } from "./types.ts";
import { bytesFlag, pairs, renderList, s } from "./view.ts";

export const POOL = { id: 0, name: "Pool0", capacity: 16 * 1024 ** 4 } as const;
export const IOGRP = { id: 0, name: "io_grp0" } as const;

const CONCISE = [
  "id", "name", "IO_group_id", "IO_group_name", "status", "mdisk_grp_id", "mdisk_grp_name", "capacity", "type",
  "FC_id", "FC_name", "RC_id", "RC_name", "vdisk_UID", "fc_map_count", "copy_count", "fast_write_state",
  "se_copy_count", "RC_change", "compressed_copy_count", "parent_mdisk_grp_id", "parent_mdisk_grp_name",
  "owner_id", "owner_name", "formatting", "encrypt", "volume_id", "volume_name", "function", "protocol",
] as const;

const DETAIL = [
  "id", "name", "IO_group_id", "IO_group_name", "status", "mdisk_grp_id", "mdisk_grp_name", "capacity", "type",
  "formatted", "formatting", "mdisk_id", "mdisk_name", "FC_id", "FC_name", "RC_id", "RC_name", "vdisk_UID",
  "preferred_node_id", "fast_write_state", "cache", "udid", "fc_map_count", "sync_rate", "copy_count",
  "se_copy_count", "filesystem", "mirror_write_priority", "RC_change", "compressed_copy_count",
  "access_IO_group_count", "last_access_time", "parent_mdisk_grp_id", "parent_mdisk_grp_name", "owner_type",
  "owner_id", "owner_name", "encrypt", "volume_id", "volume_name", "function", "throttle_id", "throttle_name",
  "IOPs_limit", "bandwidth_limit_MB", "volume_group_id", "volume_group_name", "cloud_backup_enabled",
  "cloud_account_id", "cloud_account_name", "backup_status", "last_backup_time", "restore_status",
  "backup_grain_size", "deduplicated_copy_count", "protocol",
] as const;

function vdiskRow(ctx: Ctx, v: Vdisk, store: Awaited<ReturnType<Ctx["sys"]["readRc"]>>): Record<string, string> {
  const x = vdiskXref(ctx.sys.state, store, v);
  const cap = formatCapacity(v.capacity, bytesFlag(ctx));
  return {
    id: s(v.id), name: v.name, IO_group_id: s(IOGRP.id), IO_group_name: IOGRP.name, status: "online",
    mdisk_grp_id: s(POOL.id), mdisk_grp_name: POOL.name, capacity: cap, type: "striped",
    formatted: "yes", formatting: "no", mdisk_id: "", mdisk_name: "",
    FC_id: x.fcId, FC_name: x.fcName, RC_id: s(x.rc?.id), RC_name: x.rc?.name ?? "", vdisk_UID: v.uid,
    preferred_node_id: "1", fast_write_state: "empty", cache: "readwrite", udid: "",
    fc_map_count: s(x.fcCount), sync_rate: "50", copy_count: "1", se_copy_count: "0", filesystem: "",
    mirror_write_priority: "latency", RC_change: "no", compressed_copy_count: "0", access_IO_group_count: "1",
    last_access_time: "", parent_mdisk_grp_id: s(POOL.id), parent_mdisk_grp_name: POOL.name, owner_type: "none",
    owner_id: "", owner_name: "", encrypt: "no", volume_id: s(v.id), volume_name: v.name, function: x.func,
    throttle_id: "", throttle_name: "", IOPs_limit: "", bandwidth_limit_MB: "", volume_group_id: "",
    volume_group_name: "", cloud_backup_enabled: "no", cloud_account_id: "", cloud_account_name: "",
    backup_status: "off", last_backup_time: "", restore_status: "none", backup_grain_size: "",
    deduplicated_copy_count: "0", protocol: "",
  };
}

function copyBlock(ctx: Ctx, v: Vdisk): Pair[] {
  const cap = formatCapacity(v.capacity, bytesFlag(ctx));
  const zero = formatCapacity(0, bytesFlag(ctx));
  const kv: [string, string][] = [
    ["copy_id", "0"], ["status", "online"], ["sync", "yes"], ["auto_delete", "no"], ["primary", "yes"],
    ["mdisk_grp_id", s(POOL.id)], ["mdisk_grp_name", POOL.name], ["type", "striped"], ["mdisk_id", ""],
    ["mdisk_name", ""], ["fast_write_state", "empty"], ["used_capacity", cap], ["real_capacity", cap],
    ["free_capacity", zero], ["overallocation", "100"], ["autoexpand", ""], ["warning", ""], ["grainsize", ""],
    ["se_copy", "no"], ["easy_tier", "on"], ["easy_tier_status", "balanced"],
    ["tier", "tier_scm"], ["tier_capacity", zero], ["tier", "tier0_flash"], ["tier_capacity", cap],
    ["tier", "tier1_flash"], ["tier_capacity", zero], ["tier", "tier_enterprise"], ["tier_capacity", zero],
    ["tier", "tier_nearline"], ["tier_capacity", zero], ["compressed_copy", "no"],
    ["uncompressed_used_capacity", cap], ["parent_mdisk_grp_id", s(POOL.id)], ["parent_mdisk_grp_name", POOL.name],
    ["encrypt", "no"], ["deduplicated_copy", "no"], ["used_capacity_before_reduction", ""],
  ];
  return kv;
}

const lsvdisk: Command = {
  spec: { flags: LS_FLAGS, obj: "optional" },
  mutates: false,
  async run(ctx) {
    const store = await ctx.sys.readRc();
    return renderList(ctx, {
      columns: CONCISE,
      items: ctx.sys.state.vdisks,
      row: (v) => vdiskRow(ctx, v, store),
      detail: (v) => [...pairs(DETAIL, vdiskRow(ctx, v, store)), null, ...copyBlock(ctx, v)],
      find: (ref) => findVdisk(ctx, ref),
    });
  },
};

/** By id, name or vdisk_UID. */
export function findVdisk(ctx: Ctx, ref: string): Vdisk | undefined {
  return findObj(ctx.sys.state.vdisks, ref) ?? ctx.sys.state.vdisks.find((v) => v.uid === ref.toUpperCase() && !isIdToken(ref));
}

const mkvdisk: Command = {
  spec: {
    flags: {
      "-mdiskgrp": "one", "-iogrp": "one", "-size": "one", "-unit": "one", "-name": "one", "-vtype": "one",
      "-rsize": "one", "-autoexpand": "none", "-grainsize": "one", "-warning": "one", "-compressed": "none",
      "-easytier": "one", "-cache": "one", "-nofmtdisk": "none", "-copies": "one", "-syncrate": "one", "-udid": "one",
    },
    obj: "none",
    required: ["-size"],
  },
  mutates: true,
  async run(ctx) {
    const st = ctx.sys.state;
    // [K] -mdiskgrp is required on a real system; the simulator has one pool and defaults to it.
    const pool = flagStr(ctx.args, "-mdiskgrp") ?? POOL.name;
    if (pool !== POOL.name && pool !== String(POOL.id)) throw svcErr("CMMVC5754E");
    const iogrp = flagStr(ctx.args, "-iogrp") ?? IOGRP.name;
    if (iogrp !== IOGRP.name && iogrp !== String(IOGRP.id)) throw svcErr("CMMVC5754E");
    const capacity = parseSize(flagStr(ctx.args, "-size") ?? "", flagStr(ctx.args, "-unit"));
    const id = lowestFreeId(st.vdisks.map((v) => v.id));
    const given = flagStr(ctx.args, "-name");
    if (given !== undefined) validateName(given);
    const name = given ?? `vdisk${id}`;
    if (st.vdisks.some((v) => v.name === name)) throw svcErr("CMMVC6035E");
    st.system.uidCounter += 1;
    const uid = makeUid(st.system.id, st.system.uidCounter);
    await createVolumeFile(volumePath(ctx.sys.stateDir, uid), capacity);
    st.vdisks.push({ id, name, uid, capacity, mdiskGrpId: POOL.id, createdAt: Date.now() });
    return `Virtual Disk, id [${id}], successfully created\n`;
  },
};

const rmvdisk: Command = {
  spec: {
    flags: { "-force": "none", "-removehostmappings": "none", "-removefcmaps": "none", "-removercrelationships": "none" },
    obj: "required",
  },
  mutates: true,
  async run(ctx) {
    const st = ctx.sys.state;
    const v = findVdisk(ctx, ctx.args.obj ?? "");
    if (!v) throw svcErr("CMMVC5753E");
    const force = flagOn(ctx.args, "-force");
    const mapped = st.hostMaps.some((m) => m.vdiskId === v.id);
    const inFc = st.fcMaps.some((m) => m.sourceId === v.id || m.targetId === v.id);
    const store = await ctx.sys.readRc();
    const inRc = relOfVdisk(store, st.system.id, v.id) !== undefined;
    if ((mapped && !force && !flagOn(ctx.args, "-removehostmappings")) ||
        (inFc && !force && !flagOn(ctx.args, "-removefcmaps")) ||
        (inRc && !force && !flagOn(ctx.args, "-removercrelationships"))) {
      throw svcErr("CMMVC5840E");
    }
    if (inRc) {
      await ctx.sys.mutateRc((rc) => {
        const hit = relOfVdisk(rc, st.system.id, v.id);
        if (!hit) return { changed: false, result: undefined };
        rc.relationships = rc.relationships.filter((r) => r !== hit.rel);
        return { changed: true, result: undefined };
      });
    }
    st.hostMaps = st.hostMaps.filter((m) => m.vdiskId !== v.id);
    st.fcMaps = st.fcMaps.filter((m) => m.sourceId !== v.id && m.targetId !== v.id);
    st.vdisks = st.vdisks.filter((x) => x !== v);
    await removeVolumeFile(volumePath(ctx.sys.stateDir, v.uid));
    return "";
  },
};

export const VDISK_COMMANDS: Record<string, Command> = { lsvdisk, mkvdisk, rmvdisk };
export type { Row };
