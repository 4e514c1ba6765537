// The stream rows of `npm run bench` (issue 23): small items per second over shared memory,
// from two Unix-socket peers streaming NDJSON lines (one tuned: 256 lines a write; one written
// as a streaming Node server usually is: a write per item from an async generator), and the
// JS ceiling (a `for await` over an in-process `async function*`, nothing else); 1 GiB as 1 MiB
// chunks (GB/s, copies and with a view consumer, against one hot memcpy of each chunk, and
// both sides' RSS growth while it runs), and the time to a stream's first item against a
// unary round trip. Each figure within one run.
import { createConnection } from "node:net";
import { createInterface } from "node:readline";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "../../src/index.js";
import { spawnTracked, stopChild } from "./children.js";
import { hotCopy } from "./workloads.js";
import { distribution, type Distribution } from "./stats.js";
import { tempDir } from "./tmp.js";

const SERVER = fileURLToPath(new URL("../peers/stream-server.js", import.meta.url));

export interface StreamFigures {
  /** Items (an integer each) per second, one stream. */
  smallItemsPerSecond: number;
  /** The same from the Unix-socket NDJSON peer, tuned (256 lines a write). */
  ndjsonItemsPerSecond: number;
  /** The same from the NDJSON peer written as usual (one write per item of an async generator). */
  ndjsonPlainItemsPerSecond: number;
  /** A `for await` over an in-process `async function*` of integers: the ceiling of a stream in JS. */
  ceilingItemsPerSecond: number;
  /** 1 MiB chunks through one stream: bytes per second. */
  chunkBytesPerSecond: number;
  /** Bytes streamed in that row. */
  chunkTotalBytes: number;
  /** The same with a view consumer (`withOptions({ view: true })`), default ring (2 MiB: a
   *  chunk comes in fragments, into memory reused from the chunk before). */
  chunkViewBytesPerSecond: number;
  /** The same, the client's rings 8 MiB (a chunk fits one record: a view of the ring). */
  chunkViewBigRingBytesPerSecond: number;
  /** One hot memcpy of a 1 MiB chunk, bytes per second (the reference). */
  memcpyBytesPerSecond: number;
  /** RSS growth while the chunks ran, MiB (peak minus before). */
  clientRssGrowthMiB: number;
  serverRssGrowthMiB: number;
  /** A new stream's first item, and a unary asyncCall, in µs. */
  firstItem: Distribution;
  unary: Distribution;
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? NaN);
}

export async function measureStreams(config: { quick: boolean }, log: (s: string) => void): Promise<StreamFigures> {
  const name = `/shmrpc-bench-streams-${process.pid}`;
  const server = spawnTracked(SERVER, ["shm", name]);
  const sock = join(tempDir(), `ndjson-${process.pid}.sock`);
  const ndjson = spawnTracked(SERVER, ["ndjson", sock]);
  const plainSock = join(tempDir(), `ndjson-plain-${process.pid}.sock`);
  const plain = spawnTracked(SERVER, ["ndjson-plain", plainSock]);
  const client = new Client(name, { timeoutMs: 600_000 });
  const bigRing = new Client(name, { timeoutMs: 600_000, ringBytes: 8 * 1024 * 1024 });
  try {
    await server.line("ready");
    await ndjson.line("ready");
    await plain.line("ready");
    await client.waitForConnection(10_000);
    const items = config.quick ? 200_000 : 2_000_000;

    // The best of a few rounds, each side (the first ones run before the JIT has compiled the path).
    const rounds = config.quick ? 3 : 5;
    log("  streams: small items over shared memory");
    let smallItemsPerSecond = 0;
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      let n = 0;
      for await (const _ of client.stream<number>("count", items)) n++;
      smallItemsPerSecond = Math.max(smallItemsPerSecond, n / ((performance.now() - t0) / 1000));
    }

    log("  streams: small items from the Unix-socket NDJSON peers");
    let ndjsonItemsPerSecond = 0;
    let ndjsonPlainItemsPerSecond = 0;
    for (let r = 0; r < rounds; r++) {
      ndjsonItemsPerSecond = Math.max(ndjsonItemsPerSecond, await ndjsonRate(sock, items));
      ndjsonPlainItemsPerSecond = Math.max(ndjsonPlainItemsPerSecond, await ndjsonRate(plainSock, items));
    }
    let ceilingItemsPerSecond = 0;
    for (let r = 0; r < rounds; r++) ceilingItemsPerSecond = Math.max(ceilingItemsPerSecond, await inProcessRate(items));

    log("  streams: 1 MiB chunks");
    const chunk = 1024 * 1024;
    const count = config.quick ? 128 : 1024;
    for (let r = 0; r < rounds; r++) for await (const _ of client.stream("chunks", 128, chunk)); // warm-up
    const clientBefore = process.memoryUsage.rss();
    const serverBefore = rssKiB(server.pid);
    let clientPeak = clientBefore;
    let serverPeak = serverBefore;
    const sample = setInterval(() => {
      clientPeak = Math.max(clientPeak, process.memoryUsage.rss());
      serverPeak = Math.max(serverPeak, rssKiB(server.pid));
    }, 20);
    const t0 = performance.now();
    let bytes = 0;
    for await (const b of client.stream<Uint8Array>("chunks", count, chunk)) {
      bytes += b.length;
      clientPeak = Math.max(clientPeak, process.memoryUsage.rss());
    }
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(sample);
    const memcpy = hotCopy(chunk, config.quick ? 100 : 1000, 3);
    log("  streams: 1 MiB chunks, view consumers");
    await bigRing.waitForConnection(10_000);
    const viewRate = async (c: Client): Promise<number> => {
      let best = 0;
      for (let r = 0; r < rounds; r++) {
        const t = performance.now();
        let got = 0;
        for await (const b of c.withOptions({ view: true }).stream<Uint8Array>("chunks", count, chunk)) got += b.length;
        best = Math.max(best, got / ((performance.now() - t) / 1000));
      }
      return best;
    };
    const chunkViewBytesPerSecond = await viewRate(client);
    const chunkViewBigRingBytesPerSecond = await viewRate(bigRing);

    log("  streams: time to first item, unary round trip");
    const reps = config.quick ? 500 : 5000;
    const first: number[] = [];
    const unary: number[] = [];
    for (let i = 0; i < reps; i++) {
      let s = performance.now();
      const it = client.stream("count", 1);
      await it.next();
      first.push((performance.now() - s) * 1000);
      await it.next();
      s = performance.now();
      await client.asyncCall("add", 1, 2);
      unary.push((performance.now() - s) * 1000);
    }
    return {
      smallItemsPerSecond,
      ndjsonItemsPerSecond,
      ndjsonPlainItemsPerSecond,
      ceilingItemsPerSecond,
      chunkBytesPerSecond: bytes / seconds,
      chunkTotalBytes: bytes,
      chunkViewBytesPerSecond,
      chunkViewBigRingBytesPerSecond,
      memcpyBytesPerSecond: memcpy.bytesPerSecond,
      clientRssGrowthMiB: (clientPeak - clientBefore) / 2 ** 20,
      serverRssGrowthMiB: (serverPeak - serverBefore) / 1024,
      firstItem: distribution(Float64Array.from(first)),
      unary: distribution(Float64Array.from(unary)),
    };
  } finally {
    client.close();
    bigRing.close();
    await stopChild(server);
    await stopChild(ndjson);
    await stopChild(plain);
    rmSync(sock, { force: true });
    rmSync(plainSock, { force: true });
  }
}

/** Items per second of a `for await` over an in-process `async function*` of `n` integers. */
async function inProcessRate(n: number): Promise<number> {
  async function* count(k: number): AsyncGenerator<number> {
    for (let i = 0; i < k; i++) yield i;
  }
  const t0 = performance.now();
  let sum = 0;
  for await (const x of count(n)) sum += x;
  if (sum < 0) throw new Error("unreachable");
  return n / ((performance.now() - t0) / 1000);
}

/** Items per second reading `n` NDJSON lines (JSON.parse each) from the peer. */
async function ndjsonRate(path: string, n: number): Promise<number> {
  const read = async (count: number): Promise<number> => {
    const socket = createConnection(path);
    await new Promise<void>((r) => socket.once("connect", () => r()));
    const t0 = performance.now();
    socket.write(`${count}\n`);
    const lines = createInterface({ input: socket });
    let got = 0;
    let sum = 0;
    for await (const line of lines) {
      sum += JSON.parse(line) as number;
      if (++got === count) break;
    }
    const rate = got / ((performance.now() - t0) / 1000);
    socket.destroy();
    if (sum < 0) throw new Error("unreachable");
    return rate;
  };
  return read(n);
}
