/** Runs bin/clmgr (or bin/cbm) as a user would: a separate process with its own CBM_HOME. */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(
  home: string,
  args: string[],
  opts: { prog?: "clmgr" | "cbm"; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; fileSizeLimitKiB?: number } = {},
): Promise<CliResult> {
  const prog = join(ROOT, "bin", opts.prog ?? "clmgr");
  // A file size limit (RLIMIT_FSIZE) comes from the shell's ulimit: writes past it fail with EFBIG.
  const [cmd, argv] = opts.fileSizeLimitKiB === undefined ? [prog, args] : ["bash", ["-c", `ulimit -f ${opts.fileSizeLimitKiB} && exec "$@"`, "bash", prog, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, {
      env: { ...process.env, CBM_HOME: home, NO_COLOR: "1", ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr: code === null ? `${stderr}(killed by ${String(sig)})` : stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** Splits a command line the way the paper prints it (whitespace only; no quoting needed there). */
export const words = (line: string): string[] => line.trim().split(/\s+/).filter(Boolean).slice(1);

export async function tempHome(prefix = "cbm-test-"): Promise<{ home: string; cleanup(): Promise<void> }> {
  const home = await mkdtemp(join(tmpdir(), prefix));
  return { home, cleanup: () => rm(home, { recursive: true, force: true }) };
}

/** Parses clmgr's ATTR="value" lines. */
export function parseAttrLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_0-9]+)="(.*)"$/.exec(line);
    if (m) out[m[1]] = m[2].replace(/\\(["\\])/g, "$1");
  }
  return out;
}
