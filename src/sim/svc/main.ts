/**
 * Process entry of the SVC simulator:
 *
 *   node --import tsx src/sim/svc/main.ts --state DIR --name SVC_STORAGE_primary [--port 0]
 *        [--fabric DIR] --authorized-keys FILE [--password-env VAR] [--cluster-ip IP]
 *
 * Prints one JSON line {"port":N,"pid":P,"systemId":"...","hostKey":"ssh-ed25519 ..."} on stdout once
 * listening; stops cleanly on SIGTERM/SIGINT (exit status 0).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startSvcSimulator } from "./server.ts";

function usage(msg: string): never {
  process.stderr.write(
    `svc-sim: ${msg}\nusage: main.ts --state DIR --name NAME [--port N] [--fabric DIR] --authorized-keys FILE [--password-env VAR] [--cluster-ip IP]\n`,
  );
  process.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        state: { type: "string" },
        name: { type: "string" },
        port: { type: "string", default: "0" },
        fabric: { type: "string" },
        "authorized-keys": { type: "string" },
        "password-env": { type: "string" },
        "cluster-ip": { type: "string" },
      },
      strict: true,
    }));
  } catch (e) {
    usage((e as Error).message);
  }
  if (!values.state) usage("--state is required");
  if (!values.name) usage("--name is required");
  if (!values["authorized-keys"]) usage("--authorized-keys is required");
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port ${values.port}: not a port number`);
  const keys = readFileSync(values["authorized-keys"], "utf8").split("\n");
  const password = values["password-env"] ? process.env[values["password-env"]] : undefined;
  const sim = await startSvcSimulator({
    stateDir: values.state,
    systemName: values.name,
    port,
    fabricDir: values.fabric,
    authorizedKeys: keys,
    password,
    clusterIp: values["cluster-ip"],
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    sim.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`svc-sim: stop failed: ${String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdout.write(
    JSON.stringify({ port: sim.port, pid: process.pid, systemId: sim.systemId, hostKey: sim.hostKeyPublic }) + "\n",
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`svc-sim: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
