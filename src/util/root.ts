/**
 * The project's root directory (where package.json and bin/ are). Computed here, two levels below
 * the root, so that it is the same whether this runs from src/util/ (tsx) or from the bundle in
 * dist/js/ (scripts/build.mjs): modules elsewhere must not count `..` from their own place.
 */
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));
