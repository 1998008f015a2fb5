/** lshost, mkhost, rmhost and the vdisk-host mapping commands (SVC-CLI.md §2.6, §2.7). */
import { flagInt, flagOn, flagStr, LS_FLAGS } from "../args.ts";
import { svcErr } from "../errors.ts";
import { formatConcise, matchFilters, parseFilters, type Pair } from "../format.ts";
import { findObj, lowestFreeId, validateName, type Host, type HostMap } from "../model.ts";
import type { Command, Ctx } from "./types.ts";
import { renderList, s, viewOpts } from "./view.ts";
import { findVdisk, IOGRP } from "./vdisk.ts";

const HOST_COLS = [
  "id", "name", "port_count", "iogrp_count", "status", "site_id", "site_name", "host_cluster_id",
  "host_cluster_name", "protocol", "owner_id", "owner_name",
] as const;

function hostRow(h: Host): Record<string, string> {
  return {
    id: s(h.id), name: h.name, port_count: s(h.ports.length), iogrp_count: "4", status: "online", site_id: "",
    site_name: "", host_cluster_id: "", host_cluster_name: "", protocol: h.protocol, owner_id: "", owner_name: "",
  };
}

function hostDetail(h: Host): Pair[] {
  const r = hostRow(h);
  const out: Pair[] = [
    ["id", r.id], ["name", r.name], ["port_count", r.port_count], ["type", h.type], ["mask", "1".repeat(64)],
    ["iogrp_count", r.iogrp_count], ["status", r.status], ["site_id", ""], ["site_name", ""],
    ["host_cluster_id", ""], ["host_cluster_name", ""], ["protocol", h.protocol], ["owner_id", ""], ["owner_name", ""],
  ];
  for (const p of h.ports) {
    out.push([p.kind === "fc" ? "WWPN" : "iscsi_name", p.name], ["node_logged_in_count", "1"], ["state", "active"]);
  }
  return out;
}

const lshost: Command = {
  spec: { flags: LS_FLAGS, obj: "optional" },
  mutates: false,
  async run(ctx) {
    const hosts = ctx.sys.state.hosts;
    return renderList(ctx, {
      columns: HOST_COLS,
      items: hosts,
      row: hostRow,
      detail: hostDetail,
      find: (ref) => findObj(hosts, ref),
    });
  },
};

const mkhost: Command = {
  spec: {
    flags: {
      "-name": "one", "-fcwwpn": "one", "-hbawwpn": "one", "-iscsiname": "one", "-force": "none", "-iogrp": "one",
      "-type": "one", "-site": "one", "-protocol": "one", "-portset": "one", "-mask": "one",
    },
    obj: "none",
  },
  mutates: true,
  async run(ctx) {
    const st = ctx.sys.state;
    const wwpns = flagStr(ctx.args, "-fcwwpn") ?? flagStr(ctx.args, "-hbawwpn");
    const iqns = flagStr(ctx.args, "-iscsiname");
    if (wwpns === undefined && iqns === undefined) throw svcErr("CMMVC5707E");
    if (wwpns !== undefined && iqns !== undefined) throw svcErr("CMMVC5713E");
    const ports = wwpns !== undefined
      ? wwpns.split(":").map((w) => {
          if (!/^[0-9A-Fa-f]{16}$/.test(w)) throw svcErr("CMMVC5867E");
          return { kind: "fc" as const, name: w.toUpperCase() };
        })
      : (iqns ?? "").split(",").map((n) => {
          if (n.length === 0 || /\s/.test(n)) throw svcErr("CMMVC6578E");
          return { kind: "iscsi" as const, name: n };
        });
    for (const p of ports) {
      if (st.hosts.some((h) => h.ports.some((q) => q.name === p.name))) {
        throw svcErr(p.kind === "fc" ? "CMMVC5867E" : "CMMVC6578E");
      }
    }
    const id = lowestFreeId(st.hosts.map((h) => h.id));
    const given = flagStr(ctx.args, "-name");
    if (given !== undefined) validateName(given, "host");
    const name = given ?? `host${id}`;
    if (st.hosts.some((h) => h.name === name)) throw svcErr("CMMVC6035E");
    st.hosts.push({
      id,
      name,
      type: flagStr(ctx.args, "-type") ?? "generic",
      protocol: flagStr(ctx.args, "-protocol") ?? "scsi",
      ports,
    });
    return `Host, id [${id}], successfully created\n`;
  },
};

const rmhost: Command = {
  spec: { flags: { "-force": "none" }, obj: "required" },
  mutates: true,
  async run(ctx) {
    const st = ctx.sys.state;
    const h = findObj(st.hosts, ctx.args.obj ?? "");
    if (!h) throw svcErr("CMMVC5753E");
    if (st.hostMaps.some((m) => m.hostId === h.id)) {
      if (!flagOn(ctx.args, "-force")) throw svcErr("CMMVC5871E");
      st.hostMaps = st.hostMaps.filter((m) => m.hostId !== h.id);
    }
    st.hosts = st.hosts.filter((x) => x !== h);
    return "";
  },
};

const MAP_TAIL = ["IO_group_id", "IO_group_name", "mapping_type", "host_cluster_id", "host_cluster_name", "protocol"] as const;
const HOSTMAP_COLS = ["id", "name", "SCSI_id", "vdisk_id", "vdisk_name", "vdisk_UID", ...MAP_TAIL] as const;
const VDISKMAP_COLS = ["id", "name", "SCSI_id", "host_id", "host_name", "vdisk_UID", ...MAP_TAIL] as const;

function mapRow(ctx: Ctx, m: HostMap): Record<string, string> {
  const h = ctx.sys.state.hosts.find((x) => x.id === m.hostId);
  const v = ctx.sys.state.vdisks.find((x) => x.id === m.vdiskId);
  return {
    SCSI_id: s(m.scsiId), vdisk_id: s(m.vdiskId), vdisk_name: v?.name ?? "", vdisk_UID: v?.uid ?? "",
    host_id: s(m.hostId), host_name: h?.name ?? "", IO_group_id: s(IOGRP.id), IO_group_name: IOGRP.name,
    mapping_type: "private", host_cluster_id: "", host_cluster_name: "", protocol: h?.protocol ?? "scsi",
  };
}

function concise(ctx: Ctx, cols: readonly string[], rows: Record<string, string>[]): string {
  if (flagOn(ctx.args, "-filtervalue?")) return cols.map((c) => `${c}\n`).join("");
  const fexpr = flagStr(ctx.args, "-filtervalue");
  const filters = fexpr === undefined ? [] : parseFilters(fexpr, cols);
  return formatConcise(cols, rows.filter((r) => matchFilters(r, filters)), viewOpts(ctx));
}

const sortMaps = (a: HostMap, b: HostMap): number => a.hostId - b.hostId || a.scsiId - b.scsiId;

const lshostvdiskmap: Command = {
  spec: { flags: LS_FLAGS, obj: "optional" },
  mutates: false,
  async run(ctx) {
    const st = ctx.sys.state;
    let maps = [...st.hostMaps].sort(sortMaps);
    if (ctx.args.obj !== undefined) {
      const h = findObj(st.hosts, ctx.args.obj);
      if (!h) throw svcErr("CMMVC5754E");
      maps = maps.filter((m) => m.hostId === h.id);
    }
    // here id/name are the HOST's (SVC-CLI.md §2.7)
    const rows = maps.map((m) => ({ ...mapRow(ctx, m), id: s(m.hostId), name: st.hosts.find((h) => h.id === m.hostId)?.name ?? "" }));
    return concise(ctx, HOSTMAP_COLS, rows);
  },
};

const lsvdiskhostmap: Command = {
  spec: { flags: LS_FLAGS, obj: "required" },
  mutates: false,
  async run(ctx) {
    const v = findVdisk(ctx, ctx.args.obj ?? "");
    if (!v) throw svcErr("CMMVC5753E");
    const maps = ctx.sys.state.hostMaps.filter((m) => m.vdiskId === v.id).sort(sortMaps);
    // here id/name are the VDISK's
    return concise(ctx, VDISKMAP_COLS, maps.map((m) => ({ ...mapRow(ctx, m), id: s(v.id), name: v.name })));
  },
};

const mkvdiskhostmap: Command = {
  spec: { flags: { "-host": "one", "-scsi": "one", "-force": "none", "-iogrp": "one", "-allowmismatchedscsiids": "none" }, obj: "required", required: ["-host"] },
  mutates: true,
  async run(ctx) {
    const st = ctx.sys.state;
    const h = findObj(st.hosts, flagStr(ctx.args, "-host") ?? "");
    if (!h) throw svcErr("CMMVC5754E");
    const v = findVdisk(ctx, ctx.args.obj ?? "");
    if (!v) throw svcErr("CMMVC5754E");
    if (st.hostMaps.some((m) => m.vdiskId === v.id && m.hostId === h.id)) throw svcErr("CMMVC6071E");
    if (st.hostMaps.some((m) => m.vdiskId === v.id) && !flagOn(ctx.args, "-force")) throw svcErr("CMMVC6071E");
    const used = st.hostMaps.filter((m) => m.hostId === h.id).map((m) => m.scsiId);
    const scsi = flagInt(ctx.args, "-scsi", 0, 4095) ?? lowestFreeId(used);
    if (used.includes(scsi)) throw svcErr("CMMVC5879E");
    st.hostMaps.push({ hostId: h.id, vdiskId: v.id, scsiId: scsi });
    // [K] IBM's example echoes the SCSI id as the "id" of the new map
    return `Virtual Disk to Host map, id [${scsi}], successfully created\n`;
  },
};

const rmvdiskhostmap: Command = {
  spec: { flags: { "-host": "one" }, obj: "required", required: ["-host"] },
  mutates: true,
  async run(ctx) {
    const st = ctx.sys.state;
    const h = findObj(st.hosts, flagStr(ctx.args, "-host") ?? "");
    const v = findVdisk(ctx, ctx.args.obj ?? "");
    if (!h || !v) throw svcErr("CMMVC5753E");
    const m = st.hostMaps.find((x) => x.hostId === h.id && x.vdiskId === v.id);
    if (!m) throw svcErr("CMMVC5753E");
    st.hostMaps = st.hostMaps.filter((x) => x !== m);
    return "";
  },
};

export const HOST_COMMANDS: Record<string, Command> = {
  lshost, mkhost, rmhost, lshostvdiskmap, lsvdiskhostmap, mkvdiskhostmap, rmvdiskhostmap,
};
