/**
 * A fault-injecting HTTP proxy for retry tests: listens on 127.0.0.1, forwards each request to the
 * target, and for a seeded, deterministic fraction of requests instead answers 500 (InternalError)
 * or 503 (SlowDown) with an S3-style XML body, or resets the connection: before forwarding
 * ("reset"), half-way through the response body ("truncate"), or after the server has carried the
 * request out ("lost": the answer is lost, so the client's retry meets the effect of its first try). The sequence of decisions depends only on the seed and the
 * order in which requests arrive.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export type Fault = "500" | "503" | "reset" | "truncate" | "lost";

export interface FaultProxyOptions {
  /** e.g. "http://127.0.0.1:4568" */
  target: string;
  /** Probability that a request is answered with a fault, 0..1. */
  probability: number;
  seed?: number;
  /** Which faults to choose from, uniformly; default all five. */
  faults?: Fault[];
  /** Explicit decisions for the first requests (undefined: forward), before the random ones. */
  plan?: (Fault | undefined)[];
  /** Told about every request as it arrives (to check what a client sends). */
  onRequest?: (req: http.IncomingMessage) => void;
}

export interface FaultCounts {
  requests: number;
  forwarded: number;
  "500": number;
  "503": number;
  reset: number;
  truncate: number;
  lost: number;
}

export interface FaultProxy {
  endpoint: string;
  counts: FaultCounts;
  /** Total injected faults. */
  injected(): number;
  /** Changes the fault probability from now on (0: forward everything, e.g. while verifying). */
  setProbability(p: number): void;
  stop(): Promise<void>;
}

/** mulberry32: a tiny seeded PRNG; deterministic across runs and platforms. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function s3Error(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(opts.target);
  const rand = mulberry32(opts.seed ?? 1);
  const faults = opts.faults ?? ["500", "503", "reset", "truncate", "lost"];
  const plan = [...(opts.plan ?? [])];
  let probability = opts.probability;
  const counts: FaultCounts = {
    requests: 0,
    forwarded: 0,
    "500": 0,
    "503": 0,
    reset: 0,
    truncate: 0,
    lost: 0,
  };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const server = http.createServer((req, res) => {
    counts.requests++;
    opts.onRequest?.(req);
    // Draw both numbers for every request, so the decision sequence does not depend on outcomes.
    const r1 = rand();
    const r2 = rand();
    const fault: Fault | undefined =
      plan.length > 0 ? plan.shift() : r1 < probability ? faults[Math.floor(r2 * faults.length)] : undefined;

    if (fault === "reset") {
      counts.reset++;
      req.socket.destroy();
      return;
    }
    if (fault === "500" || fault === "503") {
      counts[fault]++;
      // Read the request body first: a real server that fails a PUT still lets the client finish.
      req.resume();
      req.on("end", () => {
        const body = fault === "500" ? s3Error("InternalError", "injected") : s3Error("SlowDown", "injected");
        res.writeHead(Number(fault), {
          "content-type": "application/xml",
          "content-length": Buffer.byteLength(body),
        });
        res.end(body);
      });
      return;
    }

    const up = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (upRes) => {
        if (fault === "lost") {
          counts.lost++;
          upRes.resume();
          upRes.on("end", () => res.socket?.destroy());
          return;
        }
        const len = Number(upRes.headers["content-length"] ?? 0);
        if (fault === "truncate" && req.method !== "HEAD" && len > 1) {
          // Send the headers and half the body, then cut the connection.
          counts.truncate++;
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          let sent = 0;
          upRes.on("data", (d: Buffer) => {
            if (sent >= len / 2) return;
            const part = d.subarray(0, Math.max(0, Math.ceil(len / 2) - sent));
            sent += part.length;
            if (sent < len / 2) {
              res.write(part);
              return;
            }
            // Cut only once the half has reached the socket: destroying at once would discard it
            // (and the headers), a reset instead of a short body.
            res.write(part, () => {
              upRes.destroy();
              res.socket?.destroy();
            });
          });
          upRes.on("end", () => {
            if (sent < len / 2) res.socket?.destroy();
          });
          return;
        }
        if (fault === "truncate")
          counts.forwarded++; // nothing to cut: count as forwarded
        else counts.forwarded++;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on("error", () => res.socket?.destroy());
    req.pipe(up);
  });

  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts,
    injected: () => counts["500"] + counts["503"] + counts.reset + counts.truncate + counts.lost,
    setProbability: (p) => {
      probability = p;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
