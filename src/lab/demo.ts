/** cbm lab demo: placeholder until the walkthrough runs end to end. */
import type { Ctx } from "../cli/context.ts";

export async function runDemo(ctx: Ctx, _o: { keep: boolean; diskMiB?: number }): Promise<void> {
  ctx.out.print("demo: not yet");
}
