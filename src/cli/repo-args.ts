/**
 * Where a backup command finds its repository: the resource group's profile (RG_NAME, or the only
 * cloud profile), with the same attributes given on the command line overriding it — so that list,
 * restore, verify, export and prune also work from an empty CBM_HOME (the day the site is gone).
 */
import { classDef } from "../config/classes.ts";
import { type Config, effectiveAttrs, findObject, objectsOf } from "../config/model.ts";
import { normalizeValue, requireAttr } from "../config/validate.ts";
import { keySpec, storeSpec } from "../jobs/plan.ts";
import { openProfileRepo } from "../jobs/repo-open.ts";
import type { Repository } from "../repo/index.ts";
import { validationError } from "../util/errors.ts";
import { argAttr, type Ctx } from "./context.ts";

/** Command-line attributes that say where the repository is. */
export const REPO_ATTRS = [
  "CLOUD_SERVICE", "BUCKET_NAME", "ENDPOINT", "REGION", "AWS_PROFILE", "CREDENTIALS_FILE",
  "ACCESS_KEY_ENV", "SECRET_KEY_ENV", "REPO_KEY",
];

/** The profile's attributes (or the site defaults) with command-line overrides of `keys`, validated. */
export function resolveRepoAttrs(ctx: Ctx, cfg: Config, keys: string[] = REPO_ATTRS): { rg?: string; attrs: Record<string, string> } {
  let rg = argAttr(ctx, "RG_NAME");
  const profiles = objectsOf(cfg, "backup_profile").filter((p) => effectiveAttrs(cfg, p).BACKUP_METHOD === "cloud");
  if (!rg && profiles.length === 1 && !argAttr(ctx, "BUCKET_NAME")) rg = profiles[0].name;
  const cls = classDef("backup_profile")!;
  const prof = rg ? findObject(cfg, "backup_profile", rg) : undefined;
  const attrs: Record<string, string> = prof
    ? effectiveAttrs(cfg, prof)
    : Object.fromEntries(cls.attrs.map((a) => [a.name, cfg.defaults[a.name] ?? a.default ?? ""]));
  for (const k of keys) {
    const v = argAttr(ctx, k);
    if (v !== undefined) attrs[k] = normalizeValue(cls, requireAttr(cls, k), v, rg ?? "(command line)");
  }
  return { rg, attrs };
}

/** Opens the repository the attributes name; a clear error when none is configured. */
export function openRepoOf(ctx: Ctx, attrs: Record<string, string>, rg: string | undefined): Promise<Repository> {
  if (!attrs.BUCKET_NAME) {
    throw validationError(
      "CBM_NO_REPOSITORY",
      `No backup repository is configured${rg ? ` for ${rg}` : ""}; give RG_NAME= or BUCKET_NAME= (with CLOUD_SERVICE=, ENDPOINT=, REPO_KEY=).`,
    );
  }
  return openProfileRepo({ store: storeSpec(ctx.home, attrs), key: keySpec(ctx.home, attrs) }, { env: ctx.env, onInfo: (m) => ctx.out.err(m) });
}
