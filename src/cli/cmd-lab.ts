/** cbm lab up|down|status: the paper's topology on this machine. */
import { labDown, labUp, readLabState } from "../lab/lab.ts";
import { usageError } from "../util/errors.ts";
import type { Ctx } from "./context.ts";
import { table, toJson } from "./output.ts";

export async function runLab(ctx: Ctx): Promise<void> {
  const sub = ctx.args.cls ?? "status";
  switch (sub) {
    case "up": {
      const mib = ctx.args.attrs.find(([k]) => k === "DISK_MIB")?.[1];
      const st = await labUp(ctx.home, { diskMiB: mib ? Number(mib) : undefined });
      if (ctx.out.json) return ctx.out.print(toJson(st));
      ctx.out.print(
        `Lab is up in ${ctx.home}\n` +
          `Added to cbm.xml: ${st.objects.map(([c, n]) => `${c} ${n}`).join(", ")}\n\n` +
          table(["hdisk", "volume", "UID", "device"], st.disks.map((d) => [d.hdisk, d.vdisk, d.uid, d.path])),
      );
      return;
    }
    case "down": {
      const st = await labDown(ctx.home);
      ctx.out.print(st ? `Lab removed from ${ctx.home}.` : `No lab in ${ctx.home}.`);
      return;
    }
    case "status": {
      const st = await readLabState(ctx.home);
      if (ctx.out.json) return ctx.out.print(toJson(st ?? { up: false }));
      ctx.out.print(st ? table(["hdisk", "volume", "UID", "device"], st.disks.map((d) => [d.hdisk, d.vdisk, d.uid, d.path])) : `No lab in ${ctx.home}.`);
      return;
    }
    default:
      throw usageError("CBM_USAGE", `Unknown lab action "${sub}". Use: cbm lab up|down|status.`);
  }
}
