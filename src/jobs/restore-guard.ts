/**
 * A restore must not write over a disk that a running application uses. On Linux an active LVM
 * volume or a mounted file system already refuses the exclusive open (util/device.ts); the cluster's
 * own view catches the rest — image files, or a volume group held by nothing the kernel can see:
 * a target that is a disk of a volume group whose resource group is online is refused.
 */
import { providerFor } from "../cluster/provider.ts";
import { effective, findObject, objectsOf, splitList, type Config } from "../config/model.ts";
import { errorMessage, validationError } from "../util/errors.ts";
import { canonicalPath } from "../util/paths.ts";

export async function refuseOnlineDisks(cfg: Config, targets: string[], env: NodeJS.ProcessEnv = process.env, warn?: (m: string) => void): Promise<void> {
  const disks = new Map<string, { pv: string; vg: string }>();
  for (const vg of objectsOf(cfg, "volume_group")) {
    for (const pv of splitList(effective(cfg, vg, "PHYSICAL_VOLUMES"))) {
      const pvo = findObject(cfg, "physical_volume", pv);
      const device = pvo ? effective(cfg, pvo, "DEVICE") : "";
      if (device) disks.set(canonicalPath(device), { pv, vg: vg.name });
    }
  }
  const provider = providerFor(cfg, env);
  for (const t of targets) {
    const hit = disks.get(canonicalPath(t));
    if (!hit) continue;
    for (const rg of objectsOf(cfg, "resource_group").filter((r) => splitList(effective(cfg, r, "VOLUME_GROUP")).includes(hit.vg))) {
      // The cluster may be down (the disaster this restore is for): then the device's own exclusive
      // open is the only guard, and the operator is told.
      const where = await provider.whereOnline(rg.name).catch((e: unknown) => {
        warn?.(`Warning: cannot tell whether resource group ${rg.name} is online (${errorMessage(e)}); restoring onto its disk ${hit.pv} anyway.`);
        return undefined;
      });
      if (where) {
        throw validationError(
          "CBM_TARGET_ONLINE",
          `Restore target ${t} is ${hit.pv}, a disk of volume group ${hit.vg} of resource group ${rg.name}, which is online on ${where}: ` +
            `take it offline first (clmgr offline resource_group ${rg.name}) or restore to a spare disk. Nothing was written.`,
        );
      }
    }
  }
}
