/**
 * Opens (or, for a first backup, creates) the repository a profile points at, with the key its
 * REPO_KEY names. The key's value is never logged.
 */
import { mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { openObjectStore } from "../objectstore/open.ts";
import { Repository, type Credential } from "../repo/index.ts";
import { validationError } from "../util/errors.ts";
import type { KeySpec, ProfilePlan } from "./plan.ts";

export function credentialOf(key: KeySpec, env: NodeJS.ProcessEnv): Credential | "none" {
  switch (key.kind) {
    case "none":
      return "none";
    case "keyFile":
      return { keyFile: key.path };
    case "passphraseEnv": {
      const v = env[key.variable];
      if (!v) {
        throw validationError(
          "CBM_NO_PASSPHRASE",
          `REPO_KEY=env:${key.variable} names the environment variable holding the repository passphrase, and ${key.variable} is not set.`,
        );
      }
      return { passphrase: v };
    }
  }
}

/**
 * CBM_WORKER_NICE: how many nice levels below the command its compression/encryption threads run (0–19; default
 * WORKER_NICE, 10). 0 runs them at the command's own priority.
 */
export function workerNiceOf(env: NodeJS.ProcessEnv): number | undefined {
  const v = env.CBM_WORKER_NICE;
  if (v === undefined || v === "") return undefined;
  if (!/^\d{1,2}$/.test(v) || Number(v) > 19) {
    throw validationError("CBM_BAD_ENV", `CBM_WORKER_NICE="${v}" is not a nice increment: give a whole number from 0 (the command's own priority) to 19 (the lowest).`);
  }
  return Number(v);
}

/**
 * A key file others can read is the whole repository's secret on display. Warned about, not
 * refused: in a disaster the key may come from a copy with loose modes, and the restore must go on.
 */
async function warnIfExposed(path: string, onInfo?: (m: string) => void): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (st && (st.mode & 0o077) !== 0) {
    onInfo?.(`Warning: key file ${path} can be read or changed by other users (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}); run chmod 600 ${path}.`);
  }
}

export async function openProfileRepo(
  plan: Pick<ProfilePlan, "store" | "key">,
  o: { create?: boolean; objectLock?: boolean; env?: NodeJS.ProcessEnv; onInfo?: (m: string) => void } = {},
): Promise<Repository> {
  const env = o.env ?? process.env;
  const store = openObjectStore(plan.store, { env });
  const cred = credentialOf(plan.key, env);
  const workerNice = workerNiceOf(env);
  if (plan.key.kind === "keyFile") await warnIfExposed(plan.key.path, o.onInfo);
  if (o.create && !(await store.head("config"))) {
    await store.ensureContainer?.({ objectLock: o.objectLock });
    if (plan.key.kind === "keyFile") await mkdir(dirname(plan.key.path), { recursive: true, mode: 0o700 });
    const repo = await Repository.init(store, { encryption: cred, workerNice });
    o.onInfo?.(
      `Created a new repository at ${store.location}` +
        (plan.key.kind === "keyFile" ? `; its key file is ${plan.key.path} — keep a copy elsewhere, the backups cannot be read without it.` : "."),
    );
    return repo;
  }
  return Repository.open(store, cred, { onWarning: o.onInfo, workerNice });
}
