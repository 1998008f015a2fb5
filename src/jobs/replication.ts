/**
 * remote_storage profiles: Global Mirror from the primary storage (STORAGE_NAME's first) to the
 * auxiliary one (second), through the remote-copy consistency group REPLICATED_RESOURCES.
 *
 * Disks and relationships: one relationship per disk of the profile's volume groups, each to its own
 * same-size auxiliary volume, all in the one group — so the auxiliary copy of a multi-disk volume
 * group is consistent as a whole. The paper's example has one disk and one relationship; a group
 * made by hand that lacks some disks still replicates, and status/start name the disks left out.
 *
 * startReplication creates what is missing (setup), starts the group and optionally follows it to
 * consistent_synchronized. replicationStatus is what `clmgr query backup_profile` shows and what the
 * daemon's monitor polls.
 */
import type { Config } from "../config/model.ts";
import { splitList } from "../config/model.ts";
import type { RcGroup, RcRelationship, SvcClient } from "../storage/svc/client.ts";
import { withSvc } from "../storage/svc/connect.ts";
import { CbmError, validationError } from "../util/errors.ts";
import { planProfile, type ProfilePlan } from "./plan.ts";
import { setupProfile } from "./setup.ts";
import { profileDisks, requireCg, sleep } from "./svc-common.ts";

export interface ReplicationStatus {
  rg: string;
  group: string;
  exists: boolean;
  state: string;
  /** 0–100 while copying, 100 when synchronized, undefined otherwise. */
  progress?: number;
  primary: string;
  masterCluster: string;
  auxCluster: string;
  freezeTime: string;
  relationships: Array<{ name: string; master: string; aux: string; state: string; progress: string }>;
  /** Disks of the profile that no relationship of the group replicates. */
  uncovered: string[];
}

function remotePlan(home: string, cfg: Config, rg: string): { plan: ProfilePlan; cg: string; primary: string } {
  const plan = planProfile(home, cfg, rg);
  if (plan.attrs.BACKUP_METHOD !== "remote_storage") {
    throw validationError("CBM_NOT_REMOTE", `backup_profile "${rg}" has BACKUP_METHOD=${plan.attrs.BACKUP_METHOD}; replication needs BACKUP_METHOD=remote_storage.`);
  }
  return { plan, cg: requireCg(plan), primary: splitList(plan.attrs.STORAGE_NAME)[0] };
}

async function readStatus(c: SvcClient, plan: ProfilePlan, cg: string): Promise<ReplicationStatus> {
  const g: RcGroup | undefined = await c.lsrcconsistgrp(cg);
  const rels: RcRelationship[] = g ? (await c.lsrcrelationships()).filter((r) => r.group === cg) : [];
  const vdisks = g ? await c.lsvdisks() : [];
  const masters = new Set(rels.map((r) => r.masterVdisk));
  const uncovered = profileDisks(plan)
    .filter((d) => !vdisks.some((v) => v.uid === (d.uuid ?? "").toUpperCase() && masters.has(v.name)))
    .map((d) => d.name);
  const nums = rels.filter((r) => /^\d+$/.test(r.progress)).map((r) => Number(r.progress));
  const state = g?.state ?? "absent";
  const progress =
    state === "consistent_synchronized" ? 100 : nums.length > 0 ? Math.floor(nums.reduce((a, b) => a + b, 0) / nums.length) : undefined;
  return {
    rg: plan.rg,
    group: cg,
    exists: !!g,
    state,
    progress,
    primary: g?.primary ?? "",
    masterCluster: g?.masterCluster ?? "",
    auxCluster: g?.auxCluster ?? "",
    freezeTime: g?.freezeTime ?? "",
    relationships: rels.map((r) => ({ name: r.name, master: r.masterVdisk, aux: r.auxVdisk, state: r.state, progress: r.progress })),
    uncovered: g ? uncovered : profileDisks(plan).map((d) => d.name),
  };
}

export async function replicationStatus(home: string, cfg: Config, rg: string): Promise<ReplicationStatus> {
  const { plan, cg, primary } = remotePlan(home, cfg, rg);
  return withSvc(home, cfg, primary, (c) => readStatus(c, plan, cg));
}

export interface StartOptions {
  /** Create the group and relationships if missing (default true). */
  create?: boolean;
  /** Follow the group until consistent_synchronized. */
  wait?: boolean;
  timeoutMs?: number;
  pollMs?: number;
  env?: NodeJS.ProcessEnv;
  onInfo?: (m: string) => void;
  onProgress?: (s: ReplicationStatus) => void;
}

const RUNNING = ["inconsistent_copying", "consistent_synchronized", "consistent_copying"];

export async function startReplication(home: string, cfg: Config, rg: string, o: StartOptions = {}): Promise<ReplicationStatus> {
  const { plan, cg, primary } = remotePlan(home, cfg, rg);
  return withSvc(home, cfg, primary, async (c) => {
    let st = await readStatus(c, plan, cg);
    if (!st.exists) {
      if (o.create === false) throw new CbmError("CBM_SVC_NO_CG", `storage_system "${primary}" has no remote-copy consistency group "${cg}".`, "validation");
      o.onInfo?.(`${cg} does not exist on ${primary}: creating it.`);
      await setupProfile(home, cfg, rg, { apply: true, env: o.env, onStep: (t) => o.onInfo?.(t) });
      st = await readStatus(c, plan, cg);
    }
    // A group that mirrors only part of the volume group gives an unusable copy: complete it or refuse.
    if (st.uncovered.length > 0 && o.create !== false) {
      o.onInfo?.(`${st.uncovered.join(", ")} not in ${cg} on ${primary}: adding the missing relationships.`);
      await setupProfile(home, cfg, rg, { apply: true, env: o.env, onStep: (t) => o.onInfo?.(t) });
      st = await readStatus(c, plan, cg);
    }
    if (st.uncovered.length > 0) {
      throw new CbmError(
        "CBM_SVC_UNCOVERED",
        `${cg} has no relationship for ${st.uncovered.join(", ")}: started, it would mirror part of the volume group and the copy would be unusable. Add them: clmgr setup backup_profile ${rg} APPLY=yes`,
        "validation",
      );
    }
    switch (st.state) {
      case "empty":
        throw new CbmError("CBM_SVC_EMPTY_CG", `${cg} has no relationships; add them: clmgr setup backup_profile ${rg} APPLY=yes`, "validation");
      case "idling":
      case "idling_disconnected":
        // After stop -access both sides may have been written (disaster recovery). Choosing the copy
        // direction then decides which data survives: that is a person's decision, not ours.
        throw new CbmError(
          "CBM_SVC_IDLING",
          `${cg} is ${st.state} (no copy direction; both sides writable). Decide which side is current and restart it on the storage: ` +
            `startrcconsistgrp -primary master|aux -force ${cg}`,
        );
      case "inconsistent_stopped":
      case "consistent_stopped": {
        const g = await c.lsrcconsistgrp(cg);
        const force = st.state === "consistent_stopped" && g?.sync === "out_of_sync";
        o.onInfo?.(`startrcconsistgrp${force ? " -force" : ""} ${cg}`);
        await c.startrcconsistgrp(cg, force);
        break;
      }
      default:
        if (!RUNNING.includes(st.state)) throw new CbmError("CBM_SVC_RC_STATE", `${cg} is ${st.state}; cannot start replication from this state.`);
        o.onInfo?.(`${cg} is already ${st.state}.`);
    }
    st = await readStatus(c, plan, cg);
    if (!o.wait) return st;
    const deadline = Date.now() + (o.timeoutMs ?? 600_000);
    for (;;) {
      o.onProgress?.(st);
      if (st.state === "consistent_synchronized") return st;
      if (!RUNNING.includes(st.state)) throw new CbmError("CBM_SVC_RC_STATE", `${cg} went to ${st.state} while synchronizing.`);
      if (Date.now() > deadline) {
        throw new CbmError("CBM_SVC_TIMEOUT", `${cg} did not reach consistent_synchronized within ${Math.round((o.timeoutMs ?? 600_000) / 1000)} s (${st.state}, ${st.progress ?? "?"}%).`);
      }
      await sleep(o.pollMs ?? 500);
      st = await readStatus(c, plan, cg);
    }
  });
}
