import { CLASSES, allowedText, type ClassDef } from "../config/classes.ts";
import { EXIT } from "../util/errors.ts";

export function generalHelp(prog: string): string {
  return `Usage: ${prog} <action> <class> [NAME] [ATTR=value ...] [-o json] [-h]

Configuration (the XML file CBM_HOME/cbm.xml):
  ${prog} add|modify|query|delete <class> [NAME] [ATTR=value ...]
  classes: ${CLASSES.map((c) => c.name).join(", ")}
  ${prog} online|offline resource_group RG [NODE=node]

Backups:
  ${prog} backup backup_profile RG [TYPE=full|incremental]       run a backup now
  ${prog} query backup_files RG_NAME=RG                          list backup files
  ${prog} restore backup_files <name|id|latest> [RG_NAME=] [DISK=] TARGET=/dev/...|file
  ${prog} verify backup_files <name|id|latest|all> [RG_NAME=] [SAMPLE=pct]
  ${prog} verify backup_profile RG [SAMPLE=pct]                  rotating verify job (recorded, notified)
  ${prog} export backup_files <name|id|latest> TARGET=s3://bucket/key.img|/path/file.img   plain image
  ${prog} prune backup_files RG_NAME=RG [DRY_RUN=yes]            apply KEEP_* retention, remove unreferenced chunks
  ${prog} query repository [BUCKET_NAME=… CLOUD_SERVICE=… …]     what a repository holds (works with an empty CBM_HOME)
  ${prog} setup backup_profile RG [APPLY=yes]                    create the storage's consistency group (dry run by default)
  ${prog} start backup_profile RG [WAIT=yes]                     start remote_storage replication
  ${prog} query backup_jobs [RG_NAME=RG]                         job history

Menus:
  cbm smit [fast path]                                           SMIT-style screens (cbm smit -h lists fast paths)

Cluster services and lab:
  ${prog} start|stop cluster                                     start/stop the CBM daemon (scheduler, replication monitor)
  cbm daemon                                                     run the daemon in the foreground (systemd: contrib/cbm.service)
  cbm lab up|down|status|demo                                    the built-in lab (simulated SVC storage + S3)

Attribute names are case-insensitive; lists are comma-separated. "${prog} <action> <class> -h" lists
the attributes of a class with allowed values and defaults.

Exit codes: ${Object.entries(EXIT)
    .map(([k, v]) => `${v} ${k}`)
    .join(", ")}.`;
}

/** The usage lines of `verb cls` from the general help (all of it when none match). */
export function commandHelp(prog: string, verb: string, cls: string | undefined): string {
  const general = generalHelp(prog);
  const lines = general.split("\n").filter((l) => {
    const [p, v, c] = l.trim().split(/\s+/);
    return (p === prog || p === "cbm") && (v ?? "").split("|").includes(verb) && (cls === undefined || c === cls);
  });
  if (lines.length === 0) return general;
  return `${lines.map((l) => l.trimStart()).join("\n")}\n\n"${prog} help" lists every command; attribute names are case-insensitive.`;
}

export function classHelp(prog: string, verb: string, cls: ClassDef): string {
  const width = Math.max(...cls.attrs.map((a) => a.name.length));
  const lines = cls.attrs.map(
    (a) =>
      `  ${a.name.padEnd(width)}  ${allowedText(a.type)}${a.default !== undefined ? ` (default: ${a.default})` : ""}${a.readOnly ? " [read-only]" : ""}\n  ${"".padEnd(width)}  ${a.description}`,
  );
  return `Usage: ${prog} ${verb} ${cls.name} NAME [ATTR=value ...]\n${cls.description}\n\nAttributes:\n${lines.join("\n")}`;
}
