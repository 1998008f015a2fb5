/**
 * Typed errors with stable codes. Every error a person can see carries a code (CBM_...) and a
 * message that says what was wrong and what is allowed; the CLI maps the kind to an exit code.
 */
export type ErrorKind = "usage" | "validation" | "runtime" | "notfound" | "integrity" | "interrupted";

/** Exit codes, documented in the README. */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  validation: 3,
  runtime: 4,
  notfound: 5,
  integrity: 6,
  /** Stopped by SIGINT (Ctrl-C) or SIGTERM, 128 + SIGINT as a shell reports it. */
  interrupted: 130,
} as const;

export class CbmError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly kind: ErrorKind = "runtime",
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CbmError";
  }
  get exitCode(): number {
    return EXIT[this.kind];
  }
}

export const usageError = (code: string, msg: string) => new CbmError(code, msg, "usage");
export const validationError = (code: string, msg: string) => new CbmError(code, msg, "validation");
export const notFound = (code: string, msg: string) => new CbmError(code, msg, "notfound");
export const integrityError = (code: string, msg: string) => new CbmError(code, msg, "integrity");

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** An error as logs, job history and notify methods show it: its message, and its code when it has one. */
export function errorText(e: unknown): string {
  return e instanceof CbmError ? `${e.message} [${e.code}]` : errorMessage(e);
}
