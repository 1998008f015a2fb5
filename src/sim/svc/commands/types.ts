import type { ArgSpec, ParsedArgs } from "../args.ts";
import type { SvcSystem } from "../system.ts";

export interface Ctx {
  sys: SvcSystem;
  args: ParsedArgs;
}

export interface Command {
  spec: ArgSpec;
  /** the local state is saved after a successful run */
  mutates: boolean;
  run(ctx: Ctx): Promise<string>;
}
