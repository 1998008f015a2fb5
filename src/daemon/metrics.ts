/**
 * Prometheus text exposition on 127.0.0.1 (CBM_METRICS_PORT, default 9478; 0 = any free port, the
 * chosen one is written to CBM_HOME/run/metrics.port; "off" = no endpoint). GET /metrics:
 *
 *   cbm_backup_last_success_timestamp_seconds{rg}   start of the last successful run
 *   cbm_backup_last_duration_seconds{rg}             duration of the last finished run
 *   cbm_backup_last_bytes_read{rg}, cbm_backup_last_bytes_stored{rg}   of the last successful run
 *   cbm_backup_failures_total{rg}                    failed runs (interrupted ones included)
 *   cbm_backup_running{rg}                           1 while a run is in progress
 *   cbm_replication_state{rg,state}                  1 for the current remote-copy state, 0 for the others seen
 *   cbm_verify_last_success_timestamp_seconds{rg}    start of the last successful verify job
 *   cbm_verify_last_bytes_checked{rg}                bytes the last finished verify job downloaded and checked
 *   cbm_verify_failures_total{rg}                    verify jobs that failed (damaged chunks or errors)
 *
 * Values come from the job history at scrape time, so they survive restarts.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { BACKUP_TYPES, type JobHistory } from "../jobs/history.ts";

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export function renderMetrics(hist: JobHistory, profiles: string[], replication: ReadonlyMap<string, { state: string; seen: Set<string> }>): string {
  const names = [...new Set([...profiles, ...hist.profiles()])].sort();
  const lines: string[] = [];
  const family = (name: string, type: string, help: string, rows: Array<[Record<string, string>, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${esc(x)}"`).join(",");
      lines.push(`${name}{${l}} ${v}`);
    }
  };
  // Each figure is one indexed query (the history is never read whole).
  const ok = names.map((rg) => [rg, hist.last(rg, { type: BACKUP_TYPES, result: "success" })] as const);
  const fin = names.map((rg) => [rg, hist.last(rg, { type: BACKUP_TYPES, finished: true })] as const);
  family("cbm_backup_last_success_timestamp_seconds", "gauge", "Start time of the last successful backup (Unix seconds).",
    ok.filter(([, r]) => r).map(([rg, r]) => [{ rg }, r!.start / 1000]));
  family("cbm_backup_last_duration_seconds", "gauge", "Duration of the last finished backup run.",
    fin.filter(([, r]) => r).map(([rg, r]) => [{ rg }, (r!.end! - r!.start) / 1000]));
  family("cbm_backup_last_bytes_read", "gauge", "Bytes read by the last successful backup.", ok.filter(([, r]) => r).map(([rg, r]) => [{ rg }, r!.bytesRead]));
  family("cbm_backup_last_bytes_stored", "gauge", "New bytes stored by the last successful backup.", ok.filter(([, r]) => r).map(([rg, r]) => [{ rg }, r!.bytesStored]));
  family("cbm_backup_failures_total", "counter", "Failed backup runs.", names.map((rg) => [{ rg }, hist.count(rg, { type: BACKUP_TYPES, result: "failed" })]));
  family("cbm_backup_running", "gauge", "1 while a backup of the profile runs.", names.map((rg) => [{ rg }, hist.liveRunning(rg) ? 1 : 0]));
  const repl: Array<[Record<string, string>, number]> = [];
  for (const [rg, s] of [...replication.entries()].sort()) for (const st of [...s.seen].sort()) repl.push([{ rg, state: st }, st === s.state ? 1 : 0]);
  family("cbm_replication_state", "gauge", "Remote-copy consistency group state (1 = current).", repl);
  const vOk = names.map((rg) => [rg, hist.last(rg, { type: "verify", result: "success" })] as const).filter(([, r]) => r);
  const vFin = names.map((rg) => [rg, hist.last(rg, { type: "verify", finished: true })] as const).filter(([, r]) => r);
  family("cbm_verify_last_success_timestamp_seconds", "gauge", "Start time of the last successful verify job (Unix seconds).", vOk.map(([rg, r]) => [{ rg }, r!.start / 1000]));
  family("cbm_verify_last_bytes_checked", "gauge", "Bytes checked by the last finished verify job.", vFin.map(([rg, r]) => [{ rg }, r!.bytesRead]));
  family("cbm_verify_failures_total", "counter", "Failed verify jobs (damaged chunks or errors).", names.map((rg) => [{ rg }, hist.count(rg, { type: "verify", result: "failed" })]));
  return `${lines.join("\n")}\n`;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

export function startMetricsServer(port: number, render: () => string): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method === "GET" && (req.url === "/metrics" || req.url === "/")) {
      try {
        const body = render();
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
        res.end(body);
      } catch (e) {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`${(e as Error).message}\n`);
      }
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const p = (server.address() as AddressInfo).port;
      resolve({ port: p, close: () => new Promise<void>((r) => server.close(() => r())) });
    });
  });
}
