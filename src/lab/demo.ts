/**
 * cbm lab demo: the README's main walkthrough, run for you and printed as it runs — each command is
 * a real `clmgr` process, exactly what a person would type. Lab up (if needed), the paper's storage
 * and cloud profile lines, setup, a backup, the backup files, a restore of hdisk18 into a file that is
 * compared (sha256) with the disk; then lab down, unless KEEP=yes.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { open, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Ctx } from "../cli/context.ts";
import { CbmError } from "../util/errors.ts";
import { labDir, labDown, labUp, readLabState, type LabState } from "./lab.ts";
import { ROOT } from "./procs.ts";

const sha256 = async (file: string, bytes: number) => {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(bytes);
    await fh.read(buf, 0, bytes, 0);
    return createHash("sha256").update(buf).digest("hex");
  } finally {
    await fh.close();
  }
};

export async function runDemo(ctx: Ctx, o: { keep: boolean; diskMiB?: number }): Promise<void> {
  const say = (t: string) => ctx.out.print(t);
  let st: LabState | undefined = await readLabState(ctx.home);
  const started = !st;
  if (!st) {
    say("$ cbm lab up");
    st = await labUp(ctx.home, { diskMiB: o.diskMiB ?? 16 });
    say(`Lab is up: SVC_STORAGE_primary ${st.storage[0].address}, SVC_STORAGE_secondary ${st.storage[1].address}, S3 ${st.s3.endpoint}`);
  }
  const lab = st;
  // Until the object store reads CREDENTIALS_FILE itself, children get the lab's file the AWS way.
  const env = { ...ctx.env, CBM_HOME: ctx.home, AWS_SHARED_CREDENTIALS_FILE: lab.s3.credentialsFile };
  const clmgr = (line: string, mayFail = false) =>
    new Promise<string>((resolve, reject) => {
      say(`\n$ ${line}`);
      const args = line.split(/\s+/).slice(1);
      const child = spawn(join(ROOT, "bin", "clmgr"), args, { env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString(), process.stdout.write(d)));
      child.stderr.on("data", (d: Buffer) => (out += d.toString(), process.stderr.write(d)));
      child.on("error", reject);
      child.on("close", (code) =>
        code === 0 || mayFail ? resolve(out) : reject(new CbmError("CBM_DEMO_FAILED", `The demo step "${line}" failed (exit ${code}).`)),
      );
    });
  try {
    const hd18 = lab.disks.find((d) => d.hdisk === "hdisk18")!;
    say(`\n# The application writes to hdisk18 (${hd18.vdisk} on SVC_STORAGE_primary): 1 MiB of random data.`);
    const fh = await open(hd18.path, "r+");
    await fh.write(randomBytes(1 << 20), 0, 1 << 20, 4096);
    await fh.close();
    const cfgText = await readFile(join(ctx.home, "cbm.xml"), "utf8");
    for (const s of ["storage1", "storage2"]) {
      if (!cfgText.includes(`name="${s}"`)) await clmgr(`clmgr add storage_system ${s} TYPE=SVC ADDRESSES=127.0.0.1 USER=admin BACKUP_PROFILE=true`);
    }
    if (/<backup_profile[^>]*name="RG1"/.test(cfgText)) await clmgr("clmgr delete backup_profile RG1");
    await clmgr(
      "clmgr add backup_profile RG1 ENABLE_BACKUP=yes BACKUP_METHOD=cloud REPLICATED_RESOURCES=sample_consistency_group STORAGE_NAME=storage1 BUCKET_NAME=pha-bucket TARGET_LOCATION=/tmp VOLUME_GROUP=VG1 BACKUP_SCHEDULE=17:30",
    );
    await clmgr("clmgr setup backup_profile RG1");
    await clmgr("clmgr setup backup_profile RG1 APPLY=yes");
    await clmgr("clmgr backup backup_profile RG1");
    await clmgr("clmgr query backup_files RG_NAME=RG1");
    const restoreDir = join(labDir(ctx.home), "restore");
    await mkdir(restoreDir, { recursive: true });
    const target = join(restoreDir, "hdisk18.img");
    say(`\n$ truncate -s ${lab.diskBytes} ${target}    # a spare "disk" of the same size`);
    const t = await open(target, "w");
    await t.truncate(lab.diskBytes);
    await t.close();
    await clmgr(`clmgr restore backup_files latest RG_NAME=RG1 DISK=hdisk18 TARGET=${target}`);
    const [a, b] = [await sha256(hd18.path, lab.diskBytes), await sha256(target, lab.diskBytes)];
    say(`\n# sha256 hdisk18 ${a}\n# sha256 restore ${b}\n# ${a === b ? "The restored image equals the disk." : "MISMATCH"}`);
    if (a !== b) throw new CbmError("CBM_DEMO_FAILED", "The restored image differs from the disk.", "integrity");
  } finally {
    if (!o.keep && started) {
      say("\n$ cbm lab down");
      await labDown(ctx.home);
      say("Lab stopped and removed. (KEEP=yes keeps it running.)");
    } else say(`\nThe lab keeps running (cbm lab status; cbm lab down).`);
  }
}
