/** Chooses the storage driver of a profile and takes the point-in-time copy of its disks. */
import type { Config } from "../config/model.ts";
import { effective, splitList } from "../config/model.ts";
import { checkReadable, localSnapshot } from "../storage/local.ts";
import type { PointInTime } from "../storage/types.ts";
import { diskOf, type ProfilePlan } from "./plan.ts";

/** Local storage reads its sources as they are: a missing or unreadable one fails here, before anything else is done (the first backup would create the repository). */
export async function checkSources(cfg: Config, plan: ProfilePlan): Promise<void> {
  const type = plan.storage ? effective(cfg, plan.storage, "TYPE") : "local";
  if (type !== "SVC") await checkReadable(plan.vgs.flatMap((vg) => vg.disks));
}

export async function takePointInTime(home: string, cfg: Config, plan: ProfilePlan, onInfo?: (m: string) => void): Promise<PointInTime> {
  const sources = plan.vgs.flatMap((vg) => vg.disks);
  const type = plan.storage ? effective(cfg, plan.storage, "TYPE") : "local";
  if (type === "SVC" && plan.storage) {
    const { svcPointInTime } = await import("./svc-snapshot.ts");
    return svcPointInTime(home, cfg, plan, sources, onInfo);
  }
  const pit = await localSnapshot(sources, {
    targets: splitList(plan.attrs.TARGET_DISKS).map((n) => diskOf(cfg, n)),
    freeze: plan.attrs.FREEZE_METHOD || undefined,
    thaw: plan.attrs.THAW_METHOD || undefined,
    onInfo,
  });
  onInfo?.(`Point in time: ${pit.method}.`);
  return pit;
}
