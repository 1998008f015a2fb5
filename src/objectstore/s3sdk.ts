/**
 * The AWS SDK's S3 module, loaded on first use: ~0.1 s of start-up that a backup, restore or verify
 * against an endpoint URL with explicit keys never needs (s3direct.ts makes their requests).
 */
import { createRequire } from "node:module";

type S3Sdk = typeof import("@aws-sdk/client-s3");
type CredentialProviders = typeof import("@aws-sdk/credential-providers");

const require = createRequire(import.meta.url);
let sdk: S3Sdk | undefined;
let providers: CredentialProviders | undefined;

export function s3sdk(): S3Sdk {
  return (sdk ??= require("@aws-sdk/client-s3") as S3Sdk);
}

export function credentialProviders(): CredentialProviders {
  return (providers ??= require("@aws-sdk/credential-providers") as CredentialProviders);
}
