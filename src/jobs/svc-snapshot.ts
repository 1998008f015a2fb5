/** Point in time on an SVC storage system (FlashCopy consistency group). Implemented with the SVC driver. */
import type { Config } from "../config/model.ts";
import type { DiskRef, PointInTime } from "../storage/types.ts";
import { CbmError } from "../util/errors.ts";
import type { ProfilePlan } from "./plan.ts";

export async function svcPointInTime(
  _home: string,
  _cfg: Config,
  plan: ProfilePlan,
  _sources: DiskRef[],
  _onInfo?: (m: string) => void,
): Promise<PointInTime> {
  throw new CbmError("CBM_SVC_UNAVAILABLE", `storage_system "${plan.storage?.name}" is TYPE=SVC, and the SVC driver is not built yet.`);
}
