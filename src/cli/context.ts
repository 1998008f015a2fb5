import type { ParsedArgs } from "./args.ts";
import type { Out } from "./output.ts";

export interface Ctx {
  home: string;
  prog: string;
  out: Out;
  args: ParsedArgs;
  env: NodeJS.ProcessEnv;
}
