/**
 * The lab's watchdog, a detached process of its own: if the lab directory disappears without
 * `cbm lab down` (a test removed its temporary CBM_HOME, a person deleted the directory), it stops the
 * lab's processes by pid, so that no simulator or S3 server outlives its lab. It exits when they are
 * all gone.   node src/lab/watchdog.ts <labDir> <pid:marker>...
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pidAlive } from "../util/proc.ts";
import { stopProc, type LabProc } from "./procs.ts";

const [labDir, ...specs] = process.argv.slice(2);
const procs: LabProc[] = specs.map((s) => {
  const i = s.indexOf(":");
  return { role: "lab", pid: Number(s.slice(0, i)), marker: s.slice(i + 1) };
});

const timer = setInterval(() => {
  if (procs.every((p) => !pidAlive(p.pid))) process.exit(0);
  if (!existsSync(join(labDir, "authorized_keys"))) {
    clearInterval(timer);
    void Promise.all(procs.map((p) => stopProc(p))).then(() => process.exit(0));
  }
}, 1000);
