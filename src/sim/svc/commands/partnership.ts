/**
 * Partnership commands (SVC-CLI.md §2.3). Partners are found through the fabric directory
 * (fabric.ts): -clusterip matches a registered system's IP, optionally `IP:PORT` (its SSH port) when
 * several simulators share one IP, as they do on 127.0.0.1.
 */
import { flagInt, flagOn, flagStr, LS_FLAGS } from "../args.ts";
import { svcErr } from "../errors.ts";
import { isAlive, type Registration } from "../fabric.ts";
import type { Partnership } from "../model.ts";
import type { Command, Ctx } from "./types.ts";
import { renderList, s } from "./view.ts";
import { CODE_LEVEL } from "./system.ts";

const COLS = [
  "id", "name", "location", "partnership", "type", "cluster_ip", "event_log_sequence", "link1", "link2",
  "link1_ip_id", "link2_ip_id",
] as const;
const DETAIL = [
  "id", "name", "location", "partnership", "code_level", "console_IP", "gm_link_tolerance",
  "gm_inter_cluster_delay_simulation", "gm_intra_cluster_delay_simulation", "relationship_bandwidth_limit",
  "gm_max_host_delay", "type", "cluster_ip", "chap_secret", "event_log_sequence", "link_bandwidth_mbits",
  "background_copy_rate", "max_replication_delay", "compressed", "link1", "link2", "link1_ip_id", "link2_ip_id",
] as const;

interface PRow {
  id: string;
  name: string;
  p?: Partnership;
  state: string;
}

const lspartnership: Command = {
  spec: { flags: LS_FLAGS, obj: "optional" },
  mutates: false,
  async run(ctx) {
    const st = ctx.sys.state;
    const items: PRow[] = [{ id: st.system.id, name: st.system.name, state: "" }];
    for (const p of st.partnerships) items.push({ id: p.remoteId, name: p.remoteName, p, state: await ctx.sys.partnershipState(p.remoteId) });
    const row = (r: PRow): Record<string, string> => ({
      id: r.id, name: r.name, location: r.p ? "remote" : "local", partnership: r.state, type: r.p?.type ?? "",
      cluster_ip: r.p?.type === "fc" ? "" : (r.p?.clusterIp ?? ""), event_log_sequence: "", link1: "", link2: "",
      link1_ip_id: "", link2_ip_id: "", code_level: CODE_LEVEL, console_IP: r.p ? `${r.p.clusterIp}:443` : `${st.system.clusterIp}:443`,
      gm_link_tolerance: "300", gm_inter_cluster_delay_simulation: "0", gm_intra_cluster_delay_simulation: "0",
      relationship_bandwidth_limit: "25", gm_max_host_delay: "5", chap_secret: "",
      link_bandwidth_mbits: s(r.p?.linkBandwidthMbits), background_copy_rate: s(r.p?.backgroundCopyRate),
      max_replication_delay: "0", compressed: r.p ? "no" : "",
    });
    return renderList(ctx, {
      columns: COLS,
      items,
      row,
      detail: (r) => DETAIL.map((k) => [k, row(r)[k]] as const),
      find: (ref) => items.find((r) => r.id === ref || r.name === ref),
    });
  },
};

function addPartnership(ctx: Ctx, reg: Registration, type: Partnership["type"]): void {
  const st = ctx.sys.state;
  if (st.partnerships.some((p) => p.remoteId === reg.id)) throw svcErr("CMMVC6035E");
  st.partnerships.push({
    remoteId: reg.id,
    remoteName: reg.name,
    type,
    clusterIp: reg.clusterIp,
    started: true,
    linkBandwidthMbits: flagInt(ctx.args, "-linkbandwidthmbits", 1, 100000) ?? 0,
    backgroundCopyRate: flagInt(ctx.args, "-backgroundcopyrate", 0, 100) ?? 50,
  });
}

const mkippartnership: Command = {
  spec: {
    flags: {
      "-type": "one", "-clusterip": "one", "-linkbandwidthmbits": "one", "-backgroundcopyrate": "one",
      "-chapsecret": "one", "-compressed": "one", "-link1": "one", "-link2": "one",
    },
    obj: "none",
    required: ["-type", "-clusterip", "-linkbandwidthmbits"],
  },
  mutates: true,
  async run(ctx) {
    const type = flagStr(ctx.args, "-type");
    if (type !== "ipv4" && type !== "ipv6") throw svcErr("CMMVC5706E");
    const [ip, port] = (flagStr(ctx.args, "-clusterip") ?? "").split(":");
    const now = Date.now();
    const cands = (await ctx.sys.registrations()).filter(
      (r) => r.clusterIp === ip && isAlive(r, now) && (port === undefined || String(r.port) === port),
    );
    if (cands.length !== 1) throw svcErr("CMMVC5995E");
    addPartnership(ctx, cands[0], type);
    await ctx.sys.heartbeat();
    return "";
  },
};

const mkfcpartnership: Command = {
  spec: { flags: { "-linkbandwidthmbits": "one", "-backgroundcopyrate": "one" }, obj: "required", required: ["-linkbandwidthmbits"] },
  mutates: true,
  async run(ctx) {
    const reg = await ctx.sys.partner(ctx.args.obj ?? "");
    if (!reg) throw svcErr("CMMVC5754E");
    addPartnership(ctx, reg, "fc");
    await ctx.sys.heartbeat();
    return "";
  },
};

function partnershipOrFail(ctx: Ctx): Partnership {
  const ref = ctx.args.obj ?? "";
  const p = ctx.sys.state.partnerships.find((x) => x.remoteId === ref || x.remoteName === ref);
  if (!p) throw svcErr("CMMVC5753E");
  return p;
}

const chpartnership: Command = {
  spec: {
    flags: { "-start": "none", "-stop": "none", "-linkbandwidthmbits": "one", "-backgroundcopyrate": "one", "-type": "one", "-clusterip": "one" },
    obj: "required",
  },
  mutates: true,
  async run(ctx) {
    const p = partnershipOrFail(ctx);
    if (flagOn(ctx.args, "-start") && flagOn(ctx.args, "-stop")) throw svcErr("CMMVC5713E");
    if (flagOn(ctx.args, "-start")) p.started = true;
    if (flagOn(ctx.args, "-stop")) p.started = false;
    p.linkBandwidthMbits = flagInt(ctx.args, "-linkbandwidthmbits", 1, 100000) ?? p.linkBandwidthMbits;
    p.backgroundCopyRate = flagInt(ctx.args, "-backgroundcopyrate", 0, 100) ?? p.backgroundCopyRate;
    await ctx.sys.heartbeat();
    return "";
  },
};

const rmpartnership: Command = {
  spec: { flags: {}, obj: "required" },
  mutates: true,
  async run(ctx) {
    const p = partnershipOrFail(ctx);
    // [K] a real system may insist on chpartnership -stop first; the simulator removes it directly
    ctx.sys.state.partnerships = ctx.sys.state.partnerships.filter((x) => x !== p);
    await ctx.sys.heartbeat();
    return "";
  },
};

export const PARTNERSHIP_COMMANDS: Record<string, Command> = {
  lspartnership, mkippartnership, mkfcpartnership, chpartnership, rmpartnership,
};
