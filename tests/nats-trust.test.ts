// A server's token over NATS (src/nats/auth.ts): only callers that hold it are answered,
// only the real server's answers are taken, and a NATS subscriber sees no arguments. The
// attackers are raw NATS peers on the test's own loopback nats-server.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Client, RpcError, ErrorCodes } from "../src/index.js";
import { killAll, rejection, spawnFixture, stopServer, uniqueName, until, type Child } from "./helpers.js";
import { startNats, type NatsNode } from "./nats-helpers.js";
import { PayloadCodec } from "../src/nats/payload.js";
import { NatsSeal, WINDOW_MS } from "../src/nats/auth.js";
import { tokenHash } from "../src/protocol.js";

const trust = suite("nats-trust");
const TOKEN = "nats-token-0123456789abcdef";
let node: NatsNode;
let server: Child;
const name = uniqueName("natstrust");
const service = name.slice(1);
let url: string;
const peers: NatsConnection[] = [];
const codec = new PayloadCodec();
const argBytes = (...args: unknown[]) => codec.encode(args, 1 << 20, "args");
const FORGED = 666_666;

let setupError: unknown;
trust.before(async () => {
  try {
    node = await startNats();
    server = await spawnFixture("nats-server.js", [name, JSON.stringify(node.url), JSON.stringify({ token: TOKEN })]);
    url = `${node.url}${name}`;
  } catch (e) {
    setupError = e;
  }
});
const test = (title: string, fn: () => Promise<void>): void => {
  trust(title, async () => {
    if (setupError !== undefined) throw setupError;
    await fn();
  });
};
trust.after(async () => {
  for (const p of peers) await p.close().catch(() => {});
  if (server) assert.is(await stopServer(server), 0);
  killAll();
  await node?.stop();
});

async function peer(): Promise<NatsConnection> {
  const nc = await connect({ servers: node.url });
  peers.push(nc);
  return nc;
}

test("a caller without the token, or with another one, is not answered over NATS; the server reports the drops in aggregate", async () => {
  const raw = await peer();
  // The review's attack: add(40, 2) as a foreign client sends it.
  const plain = await raw.request(`shmrpc.${service}.add`, argBytes(40, 2), { timeout: 800 }).then(() => "answered", (e: Error) => e.name);
  assert.is(plain, "TimeoutError", "a plain request is dropped unanswered");
  for (const options of [{}, { token: "another-token-0123456789" }]) {
    const c = new Client(url, { timeoutMs: 800, ...options });
    try {
      assert.is((await rejection(c.asyncCall("add", 40, 2))).code, ErrorCodes.ERR_RPC_TIMEOUT);
      try {
        c.call("add", 40, 2);
        assert.unreachable("a sync call was answered");
      } catch (e) {
        assert.is((e as RpcError).code, ErrorCodes.ERR_RPC_TIMEOUT);
      }
    } finally {
      c.close();
    }
  }
  const good = new Client(url, { timeoutMs: 10_000, token: TOKEN });
  try {
    assert.is(await good.asyncCall("add", 40, 2), 42);
    assert.is(good.call("add", 40, 2), 42);
    // An error reply opens too, with its code.
    assert.is((await rejection(good.asyncCall("nope"))).code, ErrorCodes.ERR_RPC_METHOD_NOT_FOUND);
  } finally {
    good.close();
  }
  // A flood: 2,000 plain requests at once cost a handful of report lines, not 2,000.
  const reports = (): string[] => server.output().split("\n").filter((l) => /NATS request/.test(l));
  const dropped = (): number => reports().reduce((n, l) => n + (/: (\d+) more refused/.exec(l) ? Number(/: (\d+) more refused/.exec(l)![1]) : 1), 0);
  await until(() => dropped() >= 5, 5000, "the five drops reported");
  const before = reports().length;
  for (let i = 0; i < 2000; i++) raw.publish(`shmrpc.${service}.add`, argBytes(40, 2), { reply: `_INBOX.flood.${i}` });
  await raw.flush();
  await until(() => dropped() >= 2005, 10_000, "the flood's drops counted");
  const lines = reports().length - before;
  assert.ok(lines <= 3, `2,000 drops told in at most one line and two summaries, got ${lines}:\n${reports().slice(before).join("\n")}`);
});

test("forged replies from a plain subscriber and from a peer in the queue group are never taken: the real answer arrives", async () => {
  const sub = await peer();
  const queue = await peer();
  let forgedByQueue = 0;
  let forgedBySub = 0;
  let seenArgs = 0;
  const forged = codec.encode(FORGED, 1 << 20, "result");
  // A plain subscriber sees every request and answers it first, fast.
  sub.subscribe(`shmrpc.${service}.*`, {
    callback: (_e, m) => {
      if (m.reply) {
        forgedBySub++;
        sub.publish(m.reply, forged);
        try {
          if (Array.isArray(codec.decode(m.data))) seenArgs++;
        } catch {
          // Sealed: not the codec's bytes.
        }
      }
    },
  });
  // A peer that joins the queue group takes about half of the requests and answers them.
  queue.subscribe(`shmrpc.${service}.*`, {
    queue: "q",
    callback: (_e, m) => {
      if (m.reply) {
        forgedByQueue++;
        queue.publish(m.reply, forged);
      }
    },
  });
  await Promise.all([sub.flush(), queue.flush()]);
  // Idempotent calls are sent again when an attempt goes unanswered (the queue peer
  // swallowed it): at most 5 attempts, so about 1 in 32 calls loses all of them to the peer.
  const client = new Client(url, { timeoutMs: 4000, token: TOKEN, retry: { attemptTimeoutMs: 300, maxAttempts: 5, initialBackoffMs: 1, maxBackoffMs: 5 } });
  try {
    const idempotent = client.withOptions({ idempotent: true });
    const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => idempotent.asyncCall<number>("add", i, 1).then((v) => v, (e: RpcError) => e.code)));
    outcomes.forEach((o, i) => assert.ok(o === i + 1 || o === ErrorCodes.ERR_RPC_TIMEOUT, `call ${i}: ${String(o)}`));
    const right = outcomes.filter((o, i) => o === i + 1).length;
    assert.ok(right >= 170, `the real answer arrived for ${right} of 200 (expected about 194)`);
    let syncRight = 0;
    for (let i = 0; i < 20; i++) {
      try {
        assert.is(idempotent.call<number>("add", i, 2), i + 2, "sync calls too");
        syncRight++;
      } catch (e) {
        assert.is((e as RpcError).code, ErrorCodes.ERR_RPC_TIMEOUT);
      }
    }
    assert.ok(syncRight >= 15, `sync: ${syncRight} of 20`);
    assert.ok(forgedBySub >= 200, `the subscriber answered every request (${forgedBySub})`);
    assert.ok(forgedByQueue > 0, "the queue peer took some requests");
    assert.is(seenArgs, 0, "no request's arguments were readable");
  } finally {
    client.close();
  }
  // A non-idempotent call the queue peer swallows is never answered with its forged value:
  // it fails (ERR_RPC_TIMEOUT) or gets the real answer.
  const once = new Client(url, { timeoutMs: 1500, token: TOKEN });
  try {
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => once.asyncCall<number>("add", i, 1).then((v) => v, (e: RpcError) => e.code)));
    outcomes.forEach((o, i) => assert.ok(o === i + 1 || o === ErrorCodes.ERR_RPC_TIMEOUT, `call ${i}: ${String(o)}`));
  } finally {
    once.close();
    await sub.close();
    await queue.close();
  }
});

test("a recorded request replayed to the server is dropped, and one outside the time window too", async () => {
  const seal = new NatsSeal(tokenHash(TOKEN, "token"));
  const raw = await peer();
  const inbox = `_INBOX.replay.${process.pid}`;
  const replies: Uint8Array[] = [];
  raw.subscribe(inbox, { callback: (_e, m) => void replies.push(m.data) });
  const { headers } = await import("@nats-io/transport-node");
  const subject = `shmrpc.${service}.add`;
  const send = (sealed: { header: string; data: Uint8Array }): void => {
    const h = headers();
    h.set("Shmrpc-Auth", sealed.header);
    raw.publish(subject, sealed.data, { reply: inbox, headers: h });
  };
  const fresh = seal.sealRequest(subject, inbox, argBytes(1, 2));
  send(fresh);
  await until(() => replies.length === 1, 5000, "the first answer").catch((e) => {
    throw new Error(`${(e as Error).message}\n${server.output().slice(-2000)}`);
  });
  send(fresh); // the same bytes again
  send(seal.sealRequest(subject, inbox, argBytes(3, 4), Date.now() - WINDOW_MS - 5000)); // too old
  send({ header: fresh.header, data: seal.sealRequest(subject, inbox, argBytes(5, 6)).data }); // another's header
  const marker = seal.sealRequest(subject, inbox, argBytes(7, 8));
  send(marker);
  await until(() => replies.length >= 2, 5000, "the marker's answer");
  await raw.flush();
  assert.is(replies.length, 2, "only the first and the marker were answered");
});

trust.run();
