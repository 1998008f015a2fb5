/** lssystem, lssystemip, lsmdiskgrp (SVC-CLI.md §2.1, §2.2). */
import { LS_FLAGS } from "../args.ts";
import { formatCapacity, formatDetailed, type Pair } from "../format.ts";
import type { Command } from "./types.ts";
import { bytesFlag, renderList, s, viewOpts } from "./view.ts";
import { POOL } from "./vdisk.ts";

export const CODE_LEVEL = "8.5.0.2 (build 157.12.2204111405000)";
export const PRODUCT = "IBM FlashSystem 9200 (simulated)";

const lssystem: Command = {
  spec: { flags: LS_FLAGS, obj: "optional" },
  mutates: false,
  async run(ctx) {
    const st = ctx.sys.state;
    const b = bytesFlag(ctx);
    const used = st.vdisks.reduce((a, v) => a + v.capacity, 0);
    const cap = (n: number): string => formatCapacity(n, b);
    const kv: Pair[] = [
      ["id", st.system.id], ["name", st.system.name], ["location", "local"], ["partnership", ""],
      ["total_mdisk_capacity", cap(POOL.capacity)], ["space_in_mdisk_grps", cap(POOL.capacity)],
      ["space_allocated_to_vdisks", cap(used)], ["total_free_space", cap(POOL.capacity - used)],
      ["total_vdiskcopy_capacity", cap(used)], ["total_used_capacity", cap(used)],
      ["total_overallocation", s(Math.round((used / POOL.capacity) * 100))], ["total_vdisk_capacity", cap(used)],
      ["total_allocated_extent_capacity", cap(used)], ["statistics_status", "on"], ["statistics_frequency", "15"],
      ["cluster_locale", "en_US"], ["time_zone", "522 UTC"], ["code_level", CODE_LEVEL],
      ["console_IP", `${st.system.clusterIp}:443`], ["id_alias", st.system.id], ["gm_link_tolerance", "300"],
      ["gm_inter_cluster_delay_simulation", "0"], ["gm_intra_cluster_delay_simulation", "0"],
      ["gm_max_host_delay", "5"], ["email_reply", ""], ["email_contact", ""], ["email_contact_primary", ""],
      ["email_contact_alternate", ""], ["email_contact_location", ""], ["email_contact2", ""],
      ["email_contact2_primary", ""], ["email_contact2_alternate", ""], ["email_state", "stopped"],
      ["inventory_mail_interval", "0"], ["cluster_ntp_IP_address", ""], ["cluster_isns_IP_address", ""],
      ["iscsi_auth_method", "none"], ["iscsi_chap_secret", ""], ["auth_service_configured", "no"],
      ["auth_service_enabled", "no"], ["auth_service_url", ""], ["auth_service_user_name", ""],
      ["auth_service_pwd_set", "no"], ["auth_service_cert_set", "no"], ["auth_service_type", "ldap"],
      ["relationship_bandwidth_limit", "25"], ["tier", "tier_scm"], ["tier_capacity", cap(0)],
      ["tier_free_capacity", cap(0)], ["tier", "tier0_flash"], ["tier_capacity", cap(POOL.capacity)],
      ["tier_free_capacity", cap(POOL.capacity - used)], ["easy_tier_acceleration", "off"], ["has_nas_key", "no"],
      ["layer", "replication"], ["rc_buffer_size", "256"], ["compression_active", "no"],
      ["compression_virtual_capacity", cap(0)], ["compression_compressed_capacity", cap(0)],
      ["compression_uncompressed_capacity", cap(0)], ["cache_prefetch", "on"], ["email_organization", ""],
      ["email_machine_address", ""], ["email_machine_city", ""], ["email_machine_state", "XX"],
      ["email_machine_zip", ""], ["email_machine_country", ""], ["total_drive_raw_capacity", cap(POOL.capacity)],
      ["compression_destage_mode", "off"], ["local_fc_port_mask", "1".repeat(64)],
      ["partner_fc_port_mask", "1".repeat(64)], ["high_temp_mode", "off"], ["topology", "standard"],
      ["topology_status", ""], ["rc_auth_method", "none"], ["vdisk_protection_time", "15"],
      ["vdisk_protection_enabled", "no"], ["product_name", PRODUCT], ["odx", "off"], ["max_replication_delay", "0"],
      ["partnership_exclusion_threshold", "315"], ["gen1_compatibility_mode_enabled", "no"],
    ];
    return formatDetailed(kv, viewOpts(ctx));
  },
};

const IP_COLS = [
  "cluster_id", "cluster_name", "location", "port_id", "IP_address", "subnet_mask", "gateway", "IP_address_6",
  "gateway_6", "prefix_6",
] as const;

interface IpRow {
  id: string;
  name: string;
  location: "local" | "remote";
  ip: string;
}

const lssystemip: Command = {
  spec: { flags: LS_FLAGS, obj: "optional" },
  mutates: false,
  async run(ctx) {
    const st = ctx.sys.state;
    const items: IpRow[] = [{ id: st.system.id, name: st.system.name, location: "local", ip: st.system.clusterIp }];
    // [K] partners appear as location remote once a partnership to them exists
    for (const p of st.partnerships) items.push({ id: p.remoteId, name: p.remoteName, location: "remote", ip: p.clusterIp });
    const row = (r: IpRow): Record<string, string> => ({
      cluster_id: r.id, cluster_name: r.name, location: r.location, port_id: "1", IP_address: r.ip,
      subnet_mask: "255.0.0.0", gateway: r.ip, IP_address_6: "", gateway_6: "", prefix_6: "",
      system_id: r.id, system_name: r.name,
    });
    // with an object argument lssystemip filters by system id or name (concise view)
    const only = ctx.args.obj;
    const shown = only === undefined ? items : items.filter((r) => r.id === only || r.name === only);
    return renderList({ ...ctx, args: { ...ctx.args, obj: undefined } }, {
      columns: IP_COLS,
      extraFilters: ["system_id", "system_name"],
      items: shown,
      row,
      find: () => undefined,
    });
  },
};

const MDG_COLS = [
  "id", "name", "status", "mdisk_count", "vdisk_count", "capacity", "extent_size", "free_capacity",
  "virtual_capacity", "used_capacity", "real_capacity", "overallocation", "warning", "easy_tier",
  "easy_tier_status",
] as const;

const lsmdiskgrp: Command = {
  spec: { flags: LS_FLAGS, obj: "optional" },
  mutates: false,
  async run(ctx) {
    const st = ctx.sys.state;
    const b = bytesFlag(ctx);
    const used = st.vdisks.reduce((a, v) => a + v.capacity, 0);
    const row = (): Record<string, string> => ({
      id: s(POOL.id), name: POOL.name, status: "online", mdisk_count: "1", vdisk_count: s(st.vdisks.length),
      capacity: formatCapacity(POOL.capacity, b), extent_size: "1024", free_capacity: formatCapacity(POOL.capacity - used, b),
      virtual_capacity: formatCapacity(used, b), used_capacity: formatCapacity(used, b), real_capacity: formatCapacity(used, b),
      overallocation: s(Math.round((used / POOL.capacity) * 100)), warning: "80", easy_tier: "auto", easy_tier_status: "balanced",
    });
    return renderList(ctx, {
      columns: MDG_COLS,
      items: [POOL],
      row,
      detail: () => MDG_COLS.map((c) => [c, row()[c]] as const),
      find: (ref) => (ref === POOL.name || ref === String(POOL.id) ? POOL : undefined),
    });
  },
};

export const SYSTEM_COMMANDS: Record<string, Command> = { lssystem, lscluster: lssystem, lssystemip, lsmdiskgrp };
