/**
 * The SVC CLI as typed calls. Every command goes out with `-delim !` (no SVC name or value we read
 * can contain "!", unlike ":" which appears in IPv6 addresses and code levels) and `-bytes` where
 * capacities are shown. A CMMVC error becomes an SvcCommandError carrying the CMMVC code.
 */
import { CbmError } from "../../util/errors.ts";
import { nm, ref, svcCommand, type SvcArg, type SvcCommand, type SvcVerb } from "./names.ts";
import { allOf, parseCmmvc, parseConcise, parseCreatedId, parseDetailed, type Detailed, type Row } from "./parse.ts";
import type { ExecResult, SshSession } from "./ssh.ts";

const DELIM = "!";
const D: SvcArg[] = ["-delim", { literal: DELIM }];

export class SvcCommandError extends CbmError {
  constructor(
    readonly storage: string,
    readonly command: string,
    readonly cmmvc: string,
    text: string,
  ) {
    super("CBM_SVC_COMMAND", `storage_system "${storage}": ${command} failed: ${cmmvc} ${text}`, "runtime");
  }
}

/** "does not exist" answers of detailed ls views and group lookups (SVC-CLI.md §1.7). */
export const isNotFound = (e: unknown): boolean =>
  e instanceof SvcCommandError && ["CMMVC5753E", "CMMVC5754E", "CMMVC5804E"].includes(e.cmmvc);

export interface Vdisk {
  id: string;
  name: string;
  uid: string;
  capacity: number;
  fcMapCount: number;
  rcName: string;
}

export interface HostMap {
  hostId: string;
  hostName: string;
  vdiskId: string;
  vdiskName: string;
  uid: string;
}

export interface FcMap {
  id: string;
  name: string;
  sourceId: string;
  sourceName: string;
  targetId: string;
  targetName: string;
  groupName: string;
  status: string;
  progress: number;
  startTime: string;
}

export interface FcGroup {
  id: string;
  name: string;
  status: string;
  startTime: string;
  mappings: string[];
}

export interface RcGroup {
  id: string;
  name: string;
  masterCluster: string;
  auxCluster: string;
  primary: string;
  state: string;
  sync: string;
  freezeTime: string;
  relationships: string[];
}

export interface RcRelationship {
  id: string;
  name: string;
  masterCluster: string;
  masterVdisk: string;
  auxCluster: string;
  auxVdisk: string;
  group: string;
  state: string;
  progress: string;
  copyType: string;
}

export interface SystemInfo {
  id: string;
  name: string;
  codeLevel: string;
}

export class SvcClient {
  /** Every command text sent, in order (for dry runs, logs and tests). */
  readonly sent: string[] = [];

  constructor(
    readonly session: SshSession,
    readonly storage: string,
  ) {}

  async raw(cmd: SvcCommand): Promise<ExecResult> {
    this.sent.push(cmd.text);
    return this.session.exec(cmd);
  }

  /** Runs a prepared (already checked) command, e.g. a step of a setup plan. */
  async runCommand(cmd: SvcCommand): Promise<string> {
    return this.run(cmd.verb, ...cmd.argv.slice(1).map((a): SvcArg => (a.startsWith("-") ? a : { ref: a, what: "value" })));
  }

  /** Runs a command; a non-zero exit becomes an SvcCommandError (CMMVC code) or CBM_SVC_COMMAND. */
  async run(verb: SvcVerb, ...args: SvcArg[]): Promise<string> {
    const cmd = svcCommand(verb, ...args);
    const r = await this.raw(cmd);
    if (r.code !== 0) {
      const e = parseCmmvc(r.stderr);
      if (e) throw new SvcCommandError(this.storage, cmd.text, e.code, e.text);
      throw new CbmError("CBM_SVC_COMMAND", `storage_system "${this.storage}": ${cmd.text} failed (exit ${r.code}): ${r.stderr.trim() || "no message"}`);
    }
    return r.stdout;
  }

  private async concise(verb: SvcVerb, ...args: SvcArg[]): Promise<Row[]> {
    return parseConcise(await this.run(verb, ...D, ...args), DELIM);
  }

  private async detailed(verb: SvcVerb, ...args: SvcArg[]): Promise<Detailed> {
    return parseDetailed(await this.run(verb, ...D, ...args), DELIM);
  }

  /** Detailed view of one object, or undefined when the storage says it does not exist. */
  private async maybe(verb: SvcVerb, obj: string, what: string): Promise<Detailed | undefined> {
    try {
      const d = await this.detailed(verb, ref(obj, what));
      return Object.keys(d.fields).length > 0 ? d : undefined;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async lssystem(): Promise<SystemInfo> {
    const f = (await this.detailed("lssystem")).fields;
    return { id: f.id ?? "", name: f.name ?? "", codeLevel: f.code_level ?? "" };
  }

  async lsvdisks(): Promise<Vdisk[]> {
    return (await this.concise("lsvdisk", "-bytes")).map((r) => ({
      id: r.id,
      name: r.name,
      uid: (r.vdisk_UID ?? "").toUpperCase(),
      capacity: Number(r.capacity),
      fcMapCount: Number(r.fc_map_count || 0),
      rcName: r.RC_name ?? "",
    }));
  }

  /** All hosts' mappings (lshostvdiskmap with no host): id/name are the HOST's. */
  async lshostvdiskmap(): Promise<HostMap[]> {
    return (await this.concise("lshostvdiskmap")).map((r) => ({
      hostId: r.id,
      hostName: r.name,
      vdiskId: r.vdisk_id,
      vdiskName: r.vdisk_name,
      uid: (r.vdisk_UID ?? "").toUpperCase(),
    }));
  }

  async lsfcmaps(group?: string): Promise<FcMap[]> {
    const rows = await this.concise("lsfcmap", ...(group ? ["-filtervalue", { filter: { group_name: group } }] as SvcArg[] : []));
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      sourceId: r.source_vdisk_id,
      sourceName: r.source_vdisk_name,
      targetId: r.target_vdisk_id,
      targetName: r.target_vdisk_name,
      groupName: r.group_name ?? "",
      status: r.status,
      progress: Number(r.progress || 0),
      startTime: r.start_time ?? "",
    }));
  }

  async lsfcconsistgrp(name: string): Promise<FcGroup | undefined> {
    const d = await this.maybe("lsfcconsistgrp", name, "FlashCopy consistency group");
    if (!d) return undefined;
    const f = d.fields;
    return { id: f.id, name: f.name, status: f.status, startTime: f.start_time ?? "", mappings: allOf(d, "FC_mapping_name") };
  }

  async lsrcconsistgrp(name: string): Promise<RcGroup | undefined> {
    const d = await this.maybe("lsrcconsistgrp", name, "remote-copy consistency group");
    if (!d) return undefined;
    const f = d.fields;
    return {
      id: f.id,
      name: f.name,
      masterCluster: f.master_cluster_name,
      auxCluster: f.aux_cluster_name,
      primary: f.primary ?? "",
      state: f.state,
      sync: f.sync ?? "",
      freezeTime: f.freeze_time ?? "",
      relationships: allOf(d, "RC_rel_name"),
    };
  }

  async lsrcrelationships(): Promise<RcRelationship[]> {
    return (await this.concise("lsrcrelationship")).map((r) => ({
      id: r.id,
      name: r.name,
      masterCluster: r.master_cluster_name,
      masterVdisk: r.master_vdisk_name,
      auxCluster: r.aux_cluster_name,
      auxVdisk: r.aux_vdisk_name,
      group: r.consistency_group_name ?? "",
      state: r.state,
      progress: r.progress ?? "",
      copyType: r.copy_type ?? "",
    }));
  }

  async lspartnership(): Promise<Row[]> {
    return this.concise("lspartnership");
  }

  // ---- actions (the id in the creation message, where there is one) ----

  async mkfcconsistgrp(name: string): Promise<number | undefined> {
    return parseCreatedId(await this.run("mkfcconsistgrp", "-name", nm(name, "consistency group name")));
  }

  async mkfcmap(source: string, target: string, group: string): Promise<number | undefined> {
    return parseCreatedId(
      await this.run("mkfcmap", "-source", ref(source, "source volume"), "-target", ref(target, "target volume"), "-consistgrp", ref(group, "consistency group")),
    );
  }

  async startfcconsistgrp(group: string): Promise<void> {
    await this.run("startfcconsistgrp", "-prep", ref(group, "consistency group"));
  }

  async stopfcconsistgrp(group: string): Promise<void> {
    await this.run("stopfcconsistgrp", ref(group, "consistency group"));
  }

  async mkrcconsistgrp(name: string, cluster: string): Promise<number | undefined> {
    return parseCreatedId(await this.run("mkrcconsistgrp", "-name", nm(name, "consistency group name"), "-cluster", ref(cluster, "remote system")));
  }

  async mkrcrelationship(master: string, aux: string, cluster: string, group: string): Promise<number | undefined> {
    return parseCreatedId(
      await this.run(
        "mkrcrelationship",
        "-master", ref(master, "master volume"),
        "-aux", ref(aux, "auxiliary volume"),
        "-cluster", ref(cluster, "remote system"),
        "-consistgrp", ref(group, "consistency group"),
        "-global",
      ),
    );
  }

  async startrcconsistgrp(group: string, force: boolean): Promise<void> {
    await this.run("startrcconsistgrp", ...(force ? ["-force"] : []), ref(group, "consistency group"));
  }

  close(): void {
    this.session.close();
  }
}

