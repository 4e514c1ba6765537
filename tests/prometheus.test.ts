// `shmrpc stats NAME --prometheus`: the server's counters in the Prometheus text format,
// checked by a small parser of that format (HELP and TYPE before each family's samples,
// valid metric and label names, escaped label values, numeric values), against a server
// in another process whose calls the test made.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "../src/index.js";
import { prometheusText } from "../src/cli/prometheus.js";
import { killAll, rejection, spawnServer, stopServer, uniqueName } from "./helpers.js";

const prometheus = suite("prometheus");
const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli", "main.js");

interface Sample { name: string; labels: Record<string, string>; value: number }

/** Parses the text exposition format (0.0.4); throws on anything it does not allow. */
function parse(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const helped = new Set<string>();
  const samples: Sample[] = [];
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  assert.ok(text.endsWith("\n"), "ends with a line feed");
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      assert.match(meta[2]!, NAME, `metric name in ${line}`);
      if (meta[1] === "TYPE") {
        assert.ok(["counter", "gauge", "histogram", "summary", "untyped"].includes(meta[3]!), line);
        assert.not.ok(types.has(meta[2]!), `one TYPE line for ${meta[2]}`);
        assert.not.ok(samples.some((s) => s.name === meta[2]), `TYPE of ${meta[2]} before its samples`);
        types.set(meta[2]!, meta[3]!);
      } else {
        helped.add(meta[2]!);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
    const body = m![2] ?? "";
    let at = 0;
    while (at < body.length) {
      LABEL.lastIndex = at;
      const l = LABEL.exec(body);
      assert.ok(l, `labels of ${JSON.stringify(line)} at ${at}`);
      labels[l![1]!] = l![2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      at = LABEL.lastIndex;
    }
    const value = m![3] === "NaN" ? NaN : m![3] === "+Inf" ? Infinity : m![3] === "-Inf" ? -Infinity : Number(m![3]);
    assert.ok(m![3] === "NaN" || !Number.isNaN(value), `numeric value in ${line}`);
    assert.ok(types.has(m![1]!), `a TYPE line before ${m![1]}'s samples`);
    samples.push({ name: m![1]!, labels, value });
  }
  for (const name of types.keys()) assert.ok(helped.has(name), `HELP for ${name}`);
  for (const [name, type] of types) if (type === "counter") assert.ok(name.endsWith("_total"), `counter ${name} ends in _total`);
  return { types, samples };
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  return new Promise((resolve) => proc.on("close", (code) => (clearTimeout(timer), resolve({ code, stdout, stderr }))));
}

prometheus("stats --prometheus prints counters, the in-flight gauge and processing time that parse, with the calls made", async () => {
  const name = uniqueName("prom");
  const server = await spawnServer(name);
  const client = new Client(name, { timeoutMs: 10_000 });
  try {
    for (let i = 0; i < 3; i++) assert.is(await client.asyncCall("add", i, 1), i + 1);
    await rejection(client.asyncCall("fail", "no"));
    const pending = client.asyncCall("never").catch(() => {});
    await client.asyncCall("echo", 1); // the "never" call is in flight by now (answered in order)
    const r = await cli(["stats", name, "--prometheus"]);
    assert.is(r.code, 0, r.stderr);
    const { types, samples } = parse(r.stdout);
    const one = (metric: string, method?: string): number => {
      const found = samples.filter((s) => s.name === metric && (method === undefined || s.labels.method === method));
      assert.is(found.length, 1, `${metric} ${method ?? ""}`);
      assert.is(found[0]!.labels.service, name);
      return found[0]!.value;
    };
    assert.is(types.get("shmrpc_requests_total"), "counter");
    assert.is(types.get("shmrpc_in_flight"), "gauge");
    assert.is(types.get("shmrpc_processing_seconds_total"), "counter");
    assert.is(one("shmrpc_up"), 1);
    assert.is(one("shmrpc_requests_total", "add"), 3);
    assert.is(one("shmrpc_errors_total", "add"), 0);
    assert.is(one("shmrpc_errors_total", "fail"), 1);
    assert.is(one("shmrpc_in_flight", "never"), 1);
    assert.ok(one("shmrpc_processing_seconds_total", "add") >= 0);
    assert.ok(one("shmrpc_connections") >= 1);
    assert.ok(Math.abs(one("shmrpc_start_time_seconds") - Date.now() / 1000) < 600, "started minutes ago at most");
    void pending;
  } finally {
    client.close();
    await stopServer(server);
  }
});

prometheus("label values are escaped (quote, backslash, line feed) and a replica that did not answer is up 0", () => {
  const method = 'we"ird\\na\nme';
  const text = prometheusText('/s"vc', [
    { instanceId: "a", pid: 1, stats: { type: "io.nats.micro.v1.stats_response", name: "/svc", id: "a", pid: 1, started: new Date(0).toISOString(), connections: [],
      endpoints: [{ name: method, num_requests: 2, num_errors: 0, last_error: "", processing_time: 1500, average_processing_time: 750, in_flight: 0, streams: 0, stream_items: 0, stream_bytes: 0 }] } },
    { instanceId: "b", pid: 2, stats: null },
  ]);
  const { samples } = parse(text);
  const req = samples.find((s) => s.name === "shmrpc_requests_total")!;
  assert.equal(req.labels, { service: '/s"vc', instance: "a", method });
  assert.is(samples.find((s) => s.name === "shmrpc_processing_seconds_total")!.value, 1.5e-6);
  assert.equal(samples.filter((s) => s.name === "shmrpc_up").map((s) => [s.labels.instance, s.value]), [["a", 1], ["b", 0]]);
});

prometheus.after(() => killAll());
prometheus.run();
