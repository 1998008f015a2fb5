/**
 * CBM_HOME and the configuration file: load with validation, update under an inter-process lock so
 * that concurrent clmgr writers lose no update, write atomically with mode 0600.
 */
import { mkdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import lockfile from "proper-lockfile";
import { CbmError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { type Config, emptyConfig } from "./model.ts";
import { checkConfig } from "./validate.ts";
import { decodeConfig, encodeConfig } from "./xml.ts";

export function cbmHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CBM_HOME) return env.CBM_HOME;
  return process.getuid?.() === 0 ? "/var/lib/cbm" : join(homedir(), ".cbm");
}

export const configPath = (home: string) => join(home, "cbm.xml");

export async function ensureHome(home: string): Promise<void> {
  await mkdir(home, { recursive: true, mode: 0o700 });
}

/** Reads and validates cbm.xml; a missing file is an empty configuration. */
export async function loadConfig(home: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(configPath(home), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return emptyConfig();
    throw new CbmError("CBM_CONFIG_UNREADABLE", `Cannot read ${configPath(home)}: ${(e as Error).message}`);
  }
  const cfg = decodeConfig(text, configPath(home));
  try {
    checkConfig(cfg);
  } catch (e) {
    throw new CbmError(
      "CBM_CONFIG_INVALID",
      `${configPath(home)} is not a valid CBM configuration: ${(e as Error).message}`,
      "validation",
    );
  }
  return cfg;
}

/**
 * Runs `change` on the current configuration under the lock; validates the result and writes it
 * atomically only if it differs. A rejected change throws and leaves the file byte-for-byte unchanged.
 */
export async function updateConfig(home: string, change: (cfg: Config) => Config | void | Promise<Config | void>): Promise<Config> {
  await ensureHome(home);
  const release = await lockfile.lock(home, {
    lockfilePath: join(home, "cbm.xml.lock"),
    realpath: false,
    // A live holder refreshes the lock; one that died leaves it stale after 10 s, and it is taken over.
    stale: 10_000,
    retries: { retries: 400, factor: 1.3, minTimeout: 10, maxTimeout: 150, randomize: true },
  });
  try {
    const before = await loadConfig(home);
    const copy: Config = structuredClone(before);
    const after = (await change(copy)) ?? copy;
    checkConfig(after);
    const text = encodeConfig(after);
    if (text !== encodeConfig(before)) await writeFileAtomic(configPath(home), text, 0o600);
    return after;
  } finally {
    await release();
  }
}
