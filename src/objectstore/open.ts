/**
 * openObjectStore: from a plain, serialisable spec (as it appears in the cluster configuration) to a
 * ready store, wrapped in the retry policy. Credentials in the configuration are references only —
 * a profile name, or the names of environment variables holding the keys — and are resolved here,
 * at open time, so that no secret is ever stored in or printed from the configuration.
 */
import { OBJ, ObjectStoreError } from "./errors.ts";
import { FsObjectStore } from "./fs.ts";
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from "./retry.ts";
import { S3ObjectStore } from "./s3.ts";
import type { ObjectStore } from "./types.ts";

export type ObjectStoreSpec =
  | { kind: "fs"; path: string }
  | {
      kind: "s3";
      bucket: string;
      endpoint?: string;
      region?: string;
      /** Named profile (~/.aws/credentials); takes precedence over the default chain. */
      profile?: string;
      /** Shared credentials file holding the profile (default ~/.aws/credentials). */
      credentialsFile?: string;
      forcePathStyle?: boolean;
      prefix?: string;
      /** Name of the environment variable holding the access key id (not the key itself). */
      accessKeyEnv?: string;
      /** Name of the environment variable holding the secret access key (not the key itself). */
      secretKeyEnv?: string;
      /** Name of the environment variable holding a session token, for temporary credentials. */
      sessionTokenEnv?: string;
    };

export interface OpenOptions {
  retry?: RetryPolicy;
  /** Where environment-variable references are resolved; default process.env. */
  env?: NodeJS.ProcessEnv;
}

function fromEnv(env: NodeJS.ProcessEnv, name: string, what: string): string {
  const v = env[name];
  if (!v) {
    throw new ObjectStoreError(
      OBJ.denied,
      `the ${what} is configured to come from environment variable ${name}, which is not set`,
      "validation",
    );
  }
  return v;
}

/** Builds the store a spec describes; the result retries transient failures under opts.retry. */
export function openObjectStore(spec: ObjectStoreSpec, opts: OpenOptions = {}): ObjectStore {
  const retry = opts.retry ?? DEFAULT_RETRY;
  if (spec.kind === "fs") return withRetry(new FsObjectStore(spec.path), retry);
  if (spec.kind !== "s3") {
    throw new ObjectStoreError(OBJ.badKey, `unknown object store kind ${JSON.stringify(spec)}`, "validation");
  }
  const env = opts.env ?? process.env;
  if (Boolean(spec.accessKeyEnv) !== Boolean(spec.secretKeyEnv)) {
    throw new ObjectStoreError(
      OBJ.denied,
      "accessKeyEnv and secretKeyEnv must be given together (names of the variables holding the keys)",
      "validation",
    );
  }
  const credentials =
    spec.accessKeyEnv && spec.secretKeyEnv
      ? {
          accessKeyId: fromEnv(env, spec.accessKeyEnv, "access key id"),
          secretAccessKey: fromEnv(env, spec.secretKeyEnv, "secret access key"),
          sessionToken: spec.sessionTokenEnv
            ? fromEnv(env, spec.sessionTokenEnv, "session token")
            : undefined,
        }
      : undefined;
  const store = new S3ObjectStore({
    bucket: spec.bucket,
    prefix: spec.prefix,
    region: spec.region,
    endpoint: spec.endpoint,
    forcePathStyle: spec.forcePathStyle,
    profile: credentials ? undefined : spec.profile,
    credentialsFile: credentials ? undefined : spec.credentialsFile,
    credentials,
    retry,
  });
  return withRetry(store, retry);
}
