// nats-server processes for the NATS suites: each on a free loopback port (-p -1, the port
// it reports), never another address; a cluster of three with routes on loopback.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";

export interface NatsNode {
  /** nats://127.0.0.1:<port> */
  url: string;
  port: number;
  /** The route (cluster) port, for a clustered node. */
  clusterPort?: number;
  proc: ChildProcess;
  stop(): Promise<void>;
}

const nodes = new Set<NatsNode>();
process.on("exit", () => {
  for (const n of nodes) n.proc.kill("SIGKILL");
});

/** Fails clearly (never skips) when nats-server is not installed. */
export function requireNatsServer(): void {
  const r = spawnSync("nats-server", ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new Error("nats-server is not installed: the NATS tests need it (apt-get install nats-server; .ci/run installs it)");
  }
}

/** Starts `nats-server -a 127.0.0.1 -p -1 ...extra`, resolving once it listens. */
export function startNats(extra: string[] = [], timeoutMs = 10_000): Promise<NatsNode> {
  requireNatsServer();
  const proc = spawn("nats-server", ["-a", "127.0.0.1", "-p", "-1", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`nats-server did not start in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const client = /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(out);
      const needRoutes = extra.includes("--cluster");
      const route = /Listening for route connections on 127\.0\.0\.1:(\d+)/.exec(out);
      if (client && (!needRoutes || route)) {
        clearTimeout(timer);
        proc.stderr!.off("data", onData);
        proc.stderr!.resume();
        const port = Number(client[1]);
        const node: NatsNode = {
          url: `nats://127.0.0.1:${port}`,
          port,
          clusterPort: route ? Number(route[1]) : undefined,
          proc,
          stop: () => new Promise<void>((done) => {
            nodes.delete(node);
            if (proc.exitCode !== null || proc.signalCode !== null) return done();
            proc.once("exit", () => done());
            proc.kill("SIGTERM");
          }),
        };
        nodes.add(node);
        resolve(node);
      }
    };
    proc.stderr!.on("data", onData);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${code}) before listening:\n${out}`));
    });
  });
}

/** Three nodes of one cluster, routes on loopback: the second and third route to the first. */
export async function startCluster(): Promise<NatsNode[]> {
  const name = `shmrpc-test-${process.pid}`;
  const first = await startNats(["--cluster_name", name, "--cluster", "nats://127.0.0.1:-1"]);
  const routes = `nats://127.0.0.1:${first.clusterPort}`;
  const rest = await Promise.all([1, 2].map(() => startNats(["--cluster_name", name, "--cluster", "nats://127.0.0.1:-1", "--routes", routes])));
  return [first, ...rest];
}
