/**
 * Cluster providers: where is a resource group online? The daemon backs a profile up only when its
 * RG is online on this node (`localNode`: $CBM_NODE, else the cluster's LOCAL_NODE, else its first node).
 *
 *  - standalone: the RG's CURRENT_NODE in cbm.xml, set by `clmgr online|offline resource_group`.
 *  - pacemaker:  `crm_mon --output-as=xml` (CIB_file in the environment is honoured, as by crm_mon
 *                itself); the group — or primitive, or clone — whose id is the RG's name, and the
 *                node its resources are Started on. A group split across nodes counts as not online.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { XMLParser } from "fast-xml-parser";
import type { Config } from "../config/model.ts";
import { effective, findObject } from "../config/model.ts";
import { localNode } from "../jobs/plan.ts";
import { CbmError } from "../util/errors.ts";

const run = promisify(execFile);

export interface ClusterProvider {
  readonly name: "standalone" | "pacemaker";
  /** The node where the RG is online, or undefined when it is offline everywhere. */
  whereOnline(rg: string): Promise<string | undefined>;
}

export function standaloneProvider(cfg: Config): ClusterProvider {
  return {
    name: "standalone",
    whereOnline: async (rg) => {
      const o = findObject(cfg, "resource_group", rg);
      return (o && effective(cfg, o, "CURRENT_NODE")) || undefined;
    },
  };
}

type XmlNode = Record<string, unknown>;
const arr = (v: unknown): XmlNode[] => (v === undefined ? [] : Array.isArray(v) ? (v as XmlNode[]) : [v as XmlNode]);

/** Nodes on which the resources of a crm_mon <resource>/<group>/<clone> element are Started. */
function startedNodes(el: XmlNode): string[] {
  const out: string[] = [];
  const visit = (e: XmlNode) => {
    for (const r of arr(e.resource)) {
      if (r.role === "Started" || r.role === "Promoted" || r.role === "Master") {
        if (String(r.active) !== "false") for (const n of arr(r.node)) out.push(String(n.name));
      }
    }
    for (const g of arr(e.group)) visit(g);
    for (const c of arr(e.clone)) visit(c);
  };
  visit({ resource: el.resource, group: el.group, clone: el.clone });
  return out;
}

/** From crm_mon's XML: the node where `rg` is online, or undefined. Pure. */
export function parseCrmMon(xml: string, rg: string): string | undefined {
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(xml) as XmlNode;
  const res = ((doc["pacemaker-result"] as XmlNode | undefined)?.resources ?? {}) as XmlNode;
  const find = (list: XmlNode[]): XmlNode | undefined => list.find((x) => x.id === rg);
  let nodes: string[] | undefined;
  const g = find(arr(res.group));
  if (g) {
    const total = arr(g.resource).length;
    const started = arr(g.resource).filter((r) => r.role === "Started" && String(r.active) !== "false");
    const on = new Set(started.flatMap((r) => arr(r.node).map((n) => String(n.name))));
    // A group is online where all its resources are started.
    return started.length === total && on.size === 1 ? [...on][0] : undefined;
  }
  const p = find(arr(res.resource));
  if (p) nodes = startedNodes({ resource: p });
  const c = find(arr(res.clone));
  if (c) nodes = startedNodes(c);
  if (!nodes || nodes.length === 0) return undefined;
  return nodes[0];
}

export function pacemakerProvider(env: NodeJS.ProcessEnv = process.env): ClusterProvider {
  let cached: Promise<string> | undefined;
  const status = () =>
    (cached ??= run("crm_mon", ["--output-as=xml"], { env, timeout: 30_000, maxBuffer: 16 * 1024 * 1024 })
      .then((r) => r.stdout)
      .catch((e: NodeJS.ErrnoException & { stderr?: string }) => {
        if (e.code === "ENOENT") throw new CbmError("CBM_NO_CRM_MON", "CLUSTER_PROVIDER=pacemaker needs crm_mon (Debian: apt-get install pacemaker-cli-utils).");
        throw new CbmError("CBM_CRM_MON_FAILED", `crm_mon --output-as=xml failed: ${(e.stderr || e.message).trim().split("\n")[0]}`);
      }));
  return { name: "pacemaker", whereOnline: async (rg) => parseCrmMon(await status(), rg) };
}

/** The provider the configuration names; one crm_mon call per provider object (make one per tick). */
export function providerFor(cfg: Config, env: NodeJS.ProcessEnv = process.env): ClusterProvider {
  const cl = cfg.objects.find((o) => o.cls === "cluster");
  const kind = cl ? effective(cfg, cl, "CLUSTER_PROVIDER") : "standalone";
  return kind === "pacemaker" ? pacemakerProvider(env) : standaloneProvider(cfg);
}

export async function onlineHere(cfg: Config, provider: ClusterProvider, rg: string, env: NodeJS.ProcessEnv = process.env): Promise<{ online: boolean; where?: string; here: string }> {
  const here = localNode(cfg, env);
  const where = await provider.whereOnline(rg);
  return { online: !!where && where === here, where, here };
}
