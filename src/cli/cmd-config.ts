/** add / modify / query / delete of configuration objects, and online/offline of resource groups. */
import { addObject, deleteObject, modifyObject } from "../config/edit.ts";
import { effectiveAttrs, objectsOf } from "../config/model.ts";
import { loadConfig, updateConfig } from "../config/store.ts";
import { requireClass, requireObject } from "../config/validate.ts";
import { usageError } from "../util/errors.ts";
import { argAttr, type Ctx } from "./context.ts";
import { attrLines, toJson } from "./output.ts";

/** The object name: positional, or NAME=… */
export function objectName(ctx: Ctx, required: boolean): string | undefined {
  const named = ctx.args.attrs.find(([k]) => k === "NAME");
  if (ctx.args.name !== undefined && named && named[1] !== ctx.args.name) {
    throw usageError("CBM_USAGE", `Two names given: "${ctx.args.name}" and NAME=${named[1]}; give one.`);
  }
  const name = ctx.args.name ?? named?.[1];
  if (required && !name) {
    throw usageError("CBM_USAGE", `${ctx.args.verb} ${ctx.args.cls} needs an object name: ${ctx.prog} ${ctx.args.verb} ${ctx.args.cls} NAME [ATTR=value ...]`);
  }
  return name;
}

const attrsWithoutName = (ctx: Ctx) => ctx.args.attrs.filter(([k]) => k !== "NAME");

export async function runConfigVerb(ctx: Ctx, extraAttrs?: (cfgName: string) => Record<string, string>): Promise<void> {
  const { verb } = ctx.args;
  const cls = requireClass(ctx.args.cls ?? "");
  if (verb === "query") return query(ctx);
  const name = objectName(ctx, true)!;
  if (ctx.args.words.length > 0) throw usageError("CBM_USAGE", `Unexpected argument "${ctx.args.words[0]}".`);
  const attrs = attrsWithoutName(ctx);
  if (verb === "add") {
    const extra = Object.entries(extraAttrs?.(name) ?? {});
    await updateConfig(ctx.home, (c) => addObject(c, cls.name, name, [...attrs, ...extra]));
    ctx.out.print(ctx.out.json ? toJson({ added: { class: cls.name, name } }) : `${cls.name} "${name}" added.`);
  } else if (verb === "modify") {
    if (attrs.length === 0) throw usageError("CBM_USAGE", `modify ${cls.name} ${name} needs at least one ATTR=value.`);
    await updateConfig(ctx.home, (c) => modifyObject(c, cls.name, name, attrs));
    ctx.out.print(ctx.out.json ? toJson({ modified: { class: cls.name, name } }) : `${cls.name} "${name}" modified.`);
  } else if (verb === "delete") {
    if (attrs.length > 0) throw usageError("CBM_USAGE", `delete takes no attributes.`);
    await updateConfig(ctx.home, (c) => deleteObject(c, cls.name, name));
    ctx.out.print(ctx.out.json ? toJson({ deleted: { class: cls.name, name } }) : `${cls.name} "${name}" deleted.`);
  }
}

/**
 * Query: with a name, every attribute (defaults included) as ATTR="value" lines; without a name,
 * the names of the objects of the class, one per line (like clmgr). `decorate` adds live fields.
 */
export async function query(
  ctx: Ctx,
  decorate?: (attrs: Record<string, string>) => Promise<Record<string, string>>,
): Promise<void> {
  const cls = requireClass(ctx.args.cls ?? "");
  const cfg = await loadConfig(ctx.home);
  const name = objectName(ctx, false);
  const show = async (n: string) => {
    const base = effectiveAttrs(cfg, requireObject(cfg, cls.name, n));
    return decorate ? { ...base, ...(await decorate(base)) } : base;
  };
  if (name) {
    // Several names: each one shown in turn (an unknown one is an error, exit 5, before any output).
    const shown = await Promise.all([name, ...ctx.args.words].map(show));
    if (ctx.out.json) ctx.out.print(toJson(shown.length === 1 ? shown[0] : shown));
    else ctx.out.print(shown.map(attrLines).join("\n\n"));
    return;
  }
  const all = objectsOf(cfg, cls.name);
  if (ctx.out.json) ctx.out.print(toJson(await Promise.all(all.map((o) => show(o.name)))));
  else if (all.length > 0) ctx.out.print(all.map((o) => o.name).join("\n"));
}

export async function onlineOffline(ctx: Ctx): Promise<void> {
  if (ctx.args.cls !== "resource_group") {
    throw usageError("CBM_USAGE", `${ctx.args.verb} applies to resource_group: ${ctx.prog} ${ctx.args.verb} resource_group RG [NODE=node]`);
  }
  const name = objectName(ctx, true)!;
  let node = "";
  await updateConfig(ctx.home, (c) => {
    const rg = requireObject(c, "resource_group", name);
    if (ctx.args.verb === "online") {
      const nodes = (rg.attrs.NODES ?? "").split(",").filter(Boolean);
      node = argAttr(ctx, "NODE") ?? nodes[0] ?? "";
      if (!node) throw usageError("CBM_USAGE", `resource_group "${name}" has no NODES; give NODE=name.`);
      if (nodes.length > 0 && !nodes.includes(node)) {
        throw usageError("CBM_USAGE", `NODE="${node}" is not a node of resource_group "${name}". Allowed: ${nodes.join(", ")}.`);
      }
    }
    return modifyObject(c, "resource_group", name, [["CURRENT_NODE", node]], true);
  });
  if (ctx.out.json) ctx.out.print(toJson({ resource_group: name, state: ctx.args.verb, node: node || null }));
  else ctx.out.print(`resource_group "${name}" is ${ctx.args.verb}${node ? ` on ${node}` : ""}.`);
}
