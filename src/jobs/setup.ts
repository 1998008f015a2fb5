/**
 * `clmgr setup backup_profile RG [APPLY=yes]`: the paper's manual storage steps in one command.
 * Dry run by default — it prints the SVC commands it would run; APPLY=yes runs them. Idempotent:
 * what exists is reported and left alone, so a second run changes nothing and says so.
 *
 *   cloud:          mkfcconsistgrp -name <REPLICATED_RESOURCES>
 *                   mkfcmap -source <vdisk> -target <same-size free vdisk> -consistgrp <cg>   (per disk)
 *   remote_storage: mkrcconsistgrp -name <cg> -cluster <aux system name>
 *                   mkrcrelationship -master <vdisk> -aux <vdisk> -cluster <aux> -consistgrp <cg> -global (per disk)
 */
import type { Config } from "../config/model.ts";
import { effective, objectsOf, splitList } from "../config/model.ts";
import type { SvcClient } from "../storage/svc/client.ts";
import { withSvc } from "../storage/svc/connect.ts";
import { planFlashCopy, planRemoteCopy, type SetupPlan } from "../storage/svc/setup-plan.ts";
import { CbmError, errorMessage, validationError } from "../util/errors.ts";
import { localNode, planProfile } from "./plan.ts";
import { profileDisks, requireCg, storageView, targetDisks, vgDiskUids } from "./svc-common.ts";

/** Runs the plan's commands in order; a failure says which ran and that the failed one may have taken effect. */
/** Told each command before it is sent, and awaited. */
type OnStep = (text: string) => void | Promise<void>;

async function applySteps(c: SvcClient, sp: SetupPlan, onStep?: OnStep): Promise<void> {
  const done: string[] = [];
  for (const s of sp.steps) {
    await onStep?.(s.command.text);
    try {
      await c.runCommand(s.command);
    } catch (e) {
      const ran = done.length > 0 ? ` Done before it: ${done.join("; ")}.` : " Nothing before it had been run.";
      const msg = `${errorMessage(e)}.${ran} The outcome of "${s.command.text}" may be unknown (a timeout can still complete on the storage): run the setup again to see what exists and finish the rest.`;
      throw e instanceof CbmError ? new CbmError(e.code, msg, e.kind, { cause: e }) : new CbmError("CBM_SVC_SETUP", msg, "runtime", { cause: e });
    }
    done.push(s.command.text);
  }
}

export interface SetupResult extends SetupPlan {
  applied: boolean;
  method: string;
}

/** The cluster's node names (the hosts its storage maps volumes to), ours included. */
function clusterNodes(cfg: Config, local: string): string[] {
  const cluster = objectsOf(cfg, "cluster")[0];
  return [...new Set([local, ...(cluster ? splitList(effective(cfg, cluster, "NODES")) : [])])];
}

export async function setupProfile(
  home: string,
  cfg: Config,
  rg: string,
  o: { apply: boolean; env?: NodeJS.ProcessEnv; onStep?: OnStep },
): Promise<SetupResult> {
  const plan = planProfile(home, cfg, rg);
  const cg = requireCg(plan);
  const host = localNode(cfg, o.env);
  const disks = profileDisks(plan);
  const method = plan.attrs.BACKUP_METHOD;
  const storages = splitList(plan.attrs.STORAGE_NAME);
  if (storages.length === 0) throw validationError("CBM_MISSING_ATTRIBUTE", `backup_profile "${rg}" needs STORAGE_NAME.`);
  const explicit = targetDisks(cfg, plan);
  const vgUids = vgDiskUids(cfg);

  if (method === "cloud") {
    return withSvc(home, cfg, storages[0], async (c) => {
      const view = await storageView(c);
      const reserved = new Set(view.vdisks.filter((v) => vgUids.has(v.uid)).map((v) => v.id));
      const sp = planFlashCopy(storages[0], host, cg, view, { group: await c.lsfcconsistgrp(cg), maps: await c.lsfcmaps() }, disks, explicit, reserved);
      if (o.apply) await applySteps(c, sp, o.onStep);
      return { ...sp, applied: o.apply && sp.steps.length > 0, method };
    });
  }
  const [primary, secondary] = storages;
  return withSvc(home, cfg, secondary, async (aux) => {
    const auxSys = await aux.lssystem();
    const auxView = await storageView(aux);
    return withSvc(home, cfg, primary, async (c) => {
      const view = await storageView(c);
      const rc = { group: await c.lsrcconsistgrp(cg), relationships: await c.lsrcrelationships() };
      const auxReserved = new Set(auxView.vdisks.filter((v) => vgUids.has(v.uid)).map((v) => v.id));
      const sp = planRemoteCopy(primary, secondary, auxSys, host, cg, view, auxView, rc, disks, explicit, auxReserved, clusterNodes(cfg, host));
      if (o.apply) await applySteps(c, sp, o.onStep);
      return { ...sp, applied: o.apply && sp.steps.length > 0, method };
    });
  });
}
