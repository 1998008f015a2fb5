/** The command table: verb → argument spec + handler. */
import type { Command } from "./types.ts";
import { SYSTEM_COMMANDS } from "./system.ts";
import { VDISK_COMMANDS } from "./vdisk.ts";
import { HOST_COMMANDS } from "./host.ts";
import { FC_COMMANDS } from "./fc.ts";
import { RC_COMMANDS } from "./rc.ts";
import { PARTNERSHIP_COMMANDS } from "./partnership.ts";

export const COMMANDS: Readonly<Record<string, Command>> = {
  ...SYSTEM_COMMANDS,
  ...VDISK_COMMANDS,
  ...HOST_COMMANDS,
  ...FC_COMMANDS,
  ...RC_COMMANDS,
  ...PARTNERSHIP_COMMANDS,
};
