// The codes a middleware or a handler sends as themselves (src/serving/status.ts), as a gRPC
// server returns a status: ERR_RPC_INVALID_ARGUMENT, ERR_RPC_UNAUTHENTICATED,
// ERR_RPC_ACCESS_DENIED, ERR_RPC_RESOURCE_EXHAUSTED and ERR_RPC_UNAVAILABLE reach the caller
// with their code, `err.remote` keeping the details, `maybeExecuted` false for a
// middleware's refusal and true once the handler started; the caller's own codes stay
// ERR_RPC_REMOTE, whether a handler throws them or a hostile NATS responder names them.
// The server is another process, over shared memory and over NATS.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, headers } from "@nats-io/transport-node";
import { Client, ErrorCodes, RpcError, type RetryInfo } from "../src/index.js";
import { ThreadServer, ThreadClient } from "../src/threads/index.js";
import { remoteError } from "../src/calls/remote-error.js";
import { PayloadCodec } from "../src/nats/payload.js";
import { HEADER_ERROR, HEADER_ERROR_STATUS, HEADER_SHMRPC_CODE } from "../src/nats/subjects.js";
import { killAll, rejection, spawnFixture, stopServer, uniqueName, type Child } from "./helpers.js";
import { startNats } from "./nats-helpers.js";

const status = suite("status-codes");

const SENT = [ErrorCodes.ERR_RPC_INVALID_ARGUMENT, ErrorCodes.ERR_RPC_UNAUTHENTICATED, ErrorCodes.ERR_RPC_ACCESS_DENIED, ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED];
const CALLERS_OWN = [
  ErrorCodes.ERR_RPC_TIMEOUT, ErrorCodes.ERR_RPC_DISCONNECTED, ErrorCodes.ERR_RPC_NOT_CONNECTED, ErrorCodes.ERR_RPC_ABORTED,
  ErrorCodes.ERR_RPC_CLOSED, ErrorCodes.ERR_RPC_SERVER_FULL, ErrorCodes.ERR_RPC_PROTOCOL, ErrorCodes.ERR_RPC_METHOD_NOT_FOUND,
];

let keys = 0;
const fresh = (): string => `k${++keys}`;

async function behaves(client: Client): Promise<void> {
  const retries: RetryInfo[] = [];
  client.on("retry", (info: RetryInfo) => retries.push(info));
  for (const code of SENT) {
    for (const async of ["0", "1"]) {
      const key = fresh();
      const err = await rejection(client.withOptions({ metadata: { refuse: code, key, async } }).asyncCall("work", key));
      assert.is(err.code, code, `a middleware's ${code} (async ${async}) reaches the caller as itself`);
      assert.is(err.maybeExecuted, false, "refused before the handler: nothing ran");
      assert.is(err.remote?.code, code, "err.remote keeps the details");
      assert.is(err.remote?.name, "RpcError");
      assert.is(err.attempts, 1, "never retried");
      assert.is(await client.asyncCall("ran", key), 0);
    }
    for (const method of ["throws", "later"]) {
      const key = fresh();
      const err = await rejection(client.withOptions({ idempotent: true }).asyncCall(method, code, key));
      assert.is(err.code, code, `a handler's ${code} (${method}) reaches the caller as itself`);
      assert.is(err.maybeExecuted, true, "the handler had started");
      assert.is(err.attempts, 1, "never retried, even idempotent");
      assert.is(await client.asyncCall("ran", key), 1);
    }
    // A synchronous call sees the same.
    const err = (() => {
      try {
        client.withOptions({ metadata: { refuse: code } }).call("work", fresh());
      } catch (e) {
        return e as { code?: string; maybeExecuted?: boolean };
      }
      return undefined;
    })();
    assert.is(err?.code, code);
    assert.is(err?.maybeExecuted, false);
  }
  for (const code of CALLERS_OWN) {
    const key = fresh();
    const err = await rejection(client.withOptions({ idempotent: true }).asyncCall("throws", code, key));
    assert.is(err.code, ErrorCodes.ERR_RPC_REMOTE, `a handler's ${code} is not the caller's: ERR_RPC_REMOTE`);
    assert.is(err.remote?.code, code);
    assert.is(err.attempts, 1, "and it is not retried as a lost call");
    assert.is(await client.asyncCall("ran", key), 1);
    const refused = await rejection(client.withOptions({ metadata: { refuse: code } }).asyncCall("work", fresh()));
    assert.is(refused.code, ErrorCodes.ERR_RPC_REMOTE, `a middleware's ${code}: ERR_RPC_REMOTE`);
    assert.is(refused.remote?.code, code);
  }

  // UNAVAILABLE from a middleware, once: the call never ran, so it is sent again, idempotent or not.
  retries.length = 0;
  const once = fresh();
  assert.is(await client.withOptions({ metadata: { refuse: ErrorCodes.ERR_RPC_UNAVAILABLE, key: once, times: "1" } }).asyncCall("work", once), 1);
  assert.is(await client.asyncCall("ran", once), 1, "ran once, after the refusal");
  assert.equal(retries.map((r) => [r.code, r.maybeExecuted]), [[ErrorCodes.ERR_RPC_UNAVAILABLE, false]]);
  // UNAVAILABLE from a handler that ran: a non-idempotent call is not sent again ...
  const ranOnce = fresh();
  const err = await rejection(client.asyncCall("throws", ErrorCodes.ERR_RPC_UNAVAILABLE, ranOnce));
  assert.is(err.code, ErrorCodes.ERR_RPC_UNAVAILABLE);
  assert.is(err.maybeExecuted, true);
  assert.is(await client.asyncCall("ran", ranOnce), 1, "not re-sent: it may have run");
  // ... an idempotent one is, up to retry.maxAttempts (3).
  const again = fresh();
  const idem = await rejection(client.withOptions({ idempotent: true }).asyncCall("throws", ErrorCodes.ERR_RPC_UNAVAILABLE, again));
  assert.is(idem.code, ErrorCodes.ERR_RPC_UNAVAILABLE);
  assert.is(idem.attempts, 3);
  assert.is(await client.asyncCall("ran", again), 3);
}

status("over shared memory: a middleware's and a handler's codes, maybeExecuted, retries; the caller's own codes stay ERR_RPC_REMOTE", async () => {
  const name = uniqueName("status");
  let server: Child | undefined;
  const client = new Client(name, { timeoutMs: 10_000, retry: { initialBackoffMs: 1, maxBackoffMs: 5 } });
  try {
    server = await spawnFixture("status-server.js", [name]);
    await behaves(client);
  } finally {
    client.close();
    if (server) await stopServer(server);
  }
});

status("over NATS: the same", async () => {
  const node = await startNats();
  const name = uniqueName("statusnats");
  let server: Child | undefined;
  const client = new Client(`${node.url}${name}`, { timeoutMs: 10_000, retry: { initialBackoffMs: 1, maxBackoffMs: 5 } });
  try {
    server = await spawnFixture("status-server.js", [name, JSON.stringify(node.url)]);
    await behaves(client);
  } finally {
    client.close();
    if (server) await stopServer(server);
    await node.stop();
  }
});

status("a hostile NATS responder that names the caller's own codes gets ERR_RPC_REMOTE, never a retry", async () => {
  const node = await startNats();
  const name = uniqueName("forger");
  const nc = await connect({ servers: node.url });
  const codec = new PayloadCodec();
  const client = new Client(`${node.url}${name}`, { timeoutMs: 5000, retry: { initialBackoffMs: 1, maxBackoffMs: 5, attemptTimeoutMs: 0 } });
  let answered = 0;
  try {
    nc.subscribe(`shmrpc.${name.slice(1)}.*`, {
      queue: "q",
      callback: (_e, m) => {
        if (!m.reply) return;
        answered++;
        const [code] = codec.decode(m.data) as [string];
        const h = headers();
        h.set(HEADER_ERROR, "forged");
        h.set(HEADER_ERROR_STATUS, "500");
        h.set(HEADER_SHMRPC_CODE, code);
        nc.publish(m.reply, codec.encode({ name: "RpcError", message: "forged", stack: "", maybeExecuted: false }, 1 << 20, "error"), { headers: h });
      },
    });
    await nc.flush();
    for (const code of CALLERS_OWN.filter((c) => c !== ErrorCodes.ERR_RPC_DISCONNECTED && c !== ErrorCodes.ERR_RPC_PROTOCOL && c !== ErrorCodes.ERR_RPC_METHOD_NOT_FOUND).concat(["NOT_OURS" as never])) {
      const before = answered;
      const err = await rejection(client.withOptions({ idempotent: true }).asyncCall("m", code));
      assert.is(err.code, ErrorCodes.ERR_RPC_REMOTE, `a forged ${code}`);
      assert.is(err.remote?.code, code);
      assert.is(answered - before, 1, "sent once: a forged loss is no reason to send it again");
    }
    // (ERR_RPC_METHOD_NOT_FOUND is a server's answer: taken as it is.) The two a NATS server sends itself besides its ERROR kinds: a close while running (maybeExecuted true
    // whatever it says, so only an idempotent call is sent again) and a broken request.
    const before = answered;
    const lost = await rejection(client.asyncCall("m", ErrorCodes.ERR_RPC_DISCONNECTED));
    assert.is(lost.code, ErrorCodes.ERR_RPC_DISCONNECTED);
    assert.is(lost.maybeExecuted, true, "a loss the server reports may have run, whatever its details say");
    assert.is(answered - before, 1, "not sent again (not idempotent)");
    const broken = await rejection(client.asyncCall("m", ErrorCodes.ERR_RPC_PROTOCOL));
    assert.is(broken.code, ErrorCodes.ERR_RPC_PROTOCOL);
    assert.is(broken.maybeExecuted, undefined);
  } finally {
    client.close();
    codec.dispose();
    await nc.close();
    await node.stop();
  }
});

status("between threads: a middleware's refusal and a handler's status, the caller's own codes ERR_RPC_REMOTE", async () => {
  const server = new ThreadServer("status");
  let ran = 0;
  server.use((ctx, next) => {
    if (ctx.args[0] === "refuse") throw new RpcError(ErrorCodes.ERR_RPC_UNAUTHENTICATED, "who are you");
    return next();
  });
  server.bind("m", (what: string) => {
    ran++;
    throw new RpcError(what === "timeout" ? ErrorCodes.ERR_RPC_TIMEOUT : ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED, "no");
  });
  const client = new ThreadClient(server.connect());
  try {
    const refused = await rejection(client.asyncCall("m", "refuse"));
    assert.is(refused.code, ErrorCodes.ERR_RPC_UNAUTHENTICATED);
    assert.is(refused.maybeExecuted, false);
    assert.is(ran, 0);
    const limited = await rejection(client.asyncCall("m", "limit"));
    assert.is(limited.code, ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED);
    assert.is(limited.maybeExecuted, true);
    const own = await rejection(client.asyncCall("m", "timeout"));
    assert.is(own.code, ErrorCodes.ERR_RPC_REMOTE);
    assert.is(own.remote?.code, ErrorCodes.ERR_RPC_TIMEOUT);
    assert.is(ran, 2);
  } finally {
    client.close();
    server.close();
  }
});

status("an ERROR record's kind is the code: unknown kinds are ERR_RPC_REMOTE, a drain's UNAVAILABLE did not run", () => {
  for (const kind of [0, 1, 10, 99, 255]) assert.is(remoteError(kind, { name: "E", message: "m", stack: "" }).code, ErrorCodes.ERR_RPC_REMOTE);
  assert.is(remoteError(7, { name: "RpcError", message: "draining", stack: "" }).maybeExecuted, false);
  assert.is(remoteError(7, { name: "RpcError", message: "thrown", stack: "", maybeExecuted: true }).maybeExecuted, true);
  const denied = remoteError(9, { name: "RpcError", message: "no", stack: "", code: "ERR_RPC_ACCESS_DENIED", maybeExecuted: false });
  assert.is(denied.code, ErrorCodes.ERR_RPC_ACCESS_DENIED);
  assert.is(denied.remote?.code, "ERR_RPC_ACCESS_DENIED");
  assert.is(remoteError(8, {}).code, ErrorCodes.ERR_RPC_UNAUTHENTICATED);
});

status.after(() => killAll());
status.run();
