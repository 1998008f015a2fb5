/**
 * Point in time on an SVC storage system: the FlashCopy consistency group REPLICATED_RESOURCES.
 *
 * 1. Read the group and its mappings; every disk of the profile must be the source of one of them.
 * 2. A group still `copying` from the previous run is stopped first (a copying group cannot be
 *    started again, CMMVC5907E); `preparing`/`stopping` are waited out. idle_or_copied, stopped and
 *    prepared groups take `startfcconsistgrp -prep` directly (SVC-CLI.md §3.1).
 * 3. `startfcconsistgrp -prep <cg>`, then wait (bounded) until the group shows `copying` (or
 *    idle_or_copied) with a new start_time: from then on every target reads as its source did at the
 *    start — on a real SVC uncopied grains are read through from the source.
 * 4. Each source's target volume → the host's physical_volume with that UUID → its DEVICE, which the
 *    backup reads.
 *
 * release() leaves the group as it is: the background copy completes on its own (idle_or_copied)
 * and the targets keep the last point in time, which an operator may inspect or restore from on the
 * storage. Stopping it would make the targets unusable until the next start (SVC semantics: a target
 * stopped before progress 100 is invalid), for no gain.
 */
import type { Config } from "../config/model.ts";
import { withSvc } from "../storage/svc/connect.ts";
import type { SvcClient } from "../storage/svc/client.ts";
import type { DiskRef, PointInTime } from "../storage/types.ts";
import { CbmError } from "../util/errors.ts";
import type { ProfilePlan } from "./plan.ts";
import { hostDiskByUid, requireCg, sleep } from "./svc-common.ts";

const WAIT_MS = 60_000;

async function waitStatus(c: SvcClient, cg: string, ok: (s: string, start: string) => boolean, what: string): Promise<string> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const g = await c.lsfcconsistgrp(cg);
    if (!g) throw new CbmError("CBM_SVC_NO_CG", `FlashCopy consistency group ${cg} disappeared from the storage.`);
    if (ok(g.status, g.startTime)) return g.status;
    if (Date.now() > deadline) {
      throw new CbmError("CBM_SVC_TIMEOUT", `FlashCopy consistency group ${cg} did not become ${what} within ${WAIT_MS / 1000} s (status ${g.status}).`);
    }
    await sleep(200);
  }
}

export async function svcPointInTime(
  home: string,
  cfg: Config,
  plan: ProfilePlan,
  sources: DiskRef[],
  onInfo?: (m: string) => void,
): Promise<PointInTime> {
  const cg = requireCg(plan);
  const storage = plan.storage!.name;
  return withSvc(home, cfg, storage, async (c) => {
    const group = await c.lsfcconsistgrp(cg);
    if (!group) {
      throw new CbmError(
        "CBM_SVC_NO_CG",
        `storage_system "${storage}" has no FlashCopy consistency group "${cg}" (REPLICATED_RESOURCES of backup_profile ${plan.rg}). ` +
          `Create it: clmgr setup backup_profile ${plan.rg} APPLY=yes`,
        "validation",
      );
    }
    const maps = await c.lsfcmaps(cg);
    const vdisks = await c.lsvdisks();
    const byId = new Map(vdisks.map((v) => [v.id, v]));
    const pairs = sources.map((d) => {
      const src = vdisks.find((v) => v.uid === (d.uuid ?? "").toUpperCase());
      if (!src) throw new CbmError("CBM_SVC_DISK_NOT_FOUND", `${d.name} (UUID ${d.uuid ?? "unset"}) is not a volume of storage_system "${storage}".`, "validation");
      const m = maps.find((x) => x.sourceId === src.id);
      if (!m) {
        throw new CbmError(
          "CBM_SVC_NOT_IN_CG",
          `${d.name} (${src.name}) has no FlashCopy mapping in ${cg}; a backup would miss it. Add one: clmgr setup backup_profile ${plan.rg} APPLY=yes`,
          "validation",
        );
      }
      const tgt = byId.get(m.targetId);
      const host = tgt ? hostDiskByUid(cfg, tgt.uid) : undefined;
      if (!tgt || !host || !host.device) {
        throw new CbmError(
          "CBM_SVC_TARGET_NOT_VISIBLE",
          `The FlashCopy target of ${d.name} is ${m.targetName} (UID ${tgt?.uid ?? "?"}), and no physical_volume with that UUID and a DEVICE is defined, so this node cannot read it.`,
          "validation",
        );
      }
      return { d, src, m, tgt, host };
    });

    if (group.status === "copying" || group.status === "suspended") {
      onInfo?.(`${cg} is still ${group.status} from the previous point in time: stopfcconsistgrp ${cg}`);
      await c.stopfcconsistgrp(cg);
    }
    await waitStatus(c, cg, (s) => !["preparing", "stopping", "copying", "suspended"].includes(s), "idle or stopped");
    const before = (await c.lsfcconsistgrp(cg))?.startTime ?? "";
    onInfo?.(`startfcconsistgrp -prep ${cg} on ${storage}`);
    await c.startfcconsistgrp(cg);
    // start_time has a one-second resolution: a restart within the same second shows the same value,
    // so "copying" alone is accepted as well as idle_or_copied with a changed start_time.
    await waitStatus(c, cg, (s, t) => s === "copying" || (s === "idle_or_copied" && t !== before && t !== ""), "copying");
    onInfo?.(`Point in time: FlashCopy ${cg} (${pairs.map((p) => `${p.src.name}→${p.tgt.name}`).join(", ")}).`);
    return {
      method: `svc-flashcopy:${storage}:${cg}`,
      disks: pairs.map((p) => ({ ...p.d, size: p.d.size || p.src.capacity, readPath: p.host.device })),
      release: async () => undefined,
    };
  });
}
