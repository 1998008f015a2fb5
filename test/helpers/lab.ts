/**
 * The lab for tests: `cbm lab up` in a fresh CBM_HOME, its status JSON, and a teardown bound to the
 * test (lab down; then any recorded pid still alive is killed by that pid; then the home is removed).
 */
import { readFileSync } from "node:fs";
import type { TestContext } from "node:test";
import { runCli, tempHome } from "./cli.ts";

export interface LabStatus {
  up: boolean;
  home: string;
  storage: Array<{ name: string; systemName: string; address: string; user: string; keyPath: string; hostKey: string; stateDir: string; pid: number }>;
  s3: { endpoint: string; accessKeyId: string; secretAccessKey: string; bucket: string; credentialsFile: string; profile: string; pid: number };
  disks: Array<{ hdisk: string; vdisk: string; storage: string; uid: string; path: string }>;
  diskBytes: number;
}

export interface TestLab {
  home: string;
  status: LabStatus;
  /** Environment for clmgr children (the lab's S3 credentials file, until open.ts reads CREDENTIALS_FILE). */
  env: NodeJS.ProcessEnv;
  cli(args: string[], prog?: "clmgr" | "cbm"): ReturnType<typeof runCli>;
  disk(hdisk: string): LabStatus["disks"][number];
  storage(name: string): LabStatus["storage"][number] & { port: number; privateKey: string };
}

export async function startLab(t: TestContext, diskMiB = 8): Promise<TestLab> {
  const { home, cleanup } = await tempHome("cbm-lab-");
  const pids: number[] = [];
  t.after(async () => {
    await runCli(home, ["lab", "down"], { prog: "cbm", timeoutMs: 30_000 }).catch(() => undefined);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already stopped, as it should be */
      }
    }
    await cleanup();
  });
  const up = await runCli(home, ["-o", "json", "lab", "up", `DISK_MIB=${diskMiB}`], { prog: "cbm", timeoutMs: 60_000 });
  if (up.code !== 0) throw new Error(`lab up failed: ${up.stderr}`);
  const st = JSON.parse(up.stdout) as LabStatus;
  pids.push(...st.storage.map((s) => s.pid), st.s3.pid);
  const env = { AWS_SHARED_CREDENTIALS_FILE: st.s3.credentialsFile };
  return {
    home,
    status: st,
    env,
    cli: (args, prog = "clmgr") => runCli(home, args, { prog, env, timeoutMs: 120_000 }),
    disk: (h) => {
      const d = st.disks.find((x) => x.hdisk === h);
      if (!d) throw new Error(`no lab disk ${h}`);
      return d;
    },
    storage: (n) => {
      const s = st.storage.find((x) => x.name === n);
      if (!s) throw new Error(`no lab storage ${n}`);
      return { ...s, port: Number(s.address.split(":")[1]), privateKey: readFileSync(s.keyPath, "utf8") };
    },
  };
}
