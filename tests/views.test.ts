// Handlers bound with { view: true }: their Buffer and Uint8Array arguments are views of
// the request's memory (the ring for a message that fits a record, the connection's
// reused tail memory for a fragmented one), valid until the handler returns or its
// promise settles. The server runs in its own process (tests/fixtures/view-server.ts)
// and reports what its handlers saw; the hostile cases run an in-process server.
//
// How the lifetime is tested: a handler that keeps a view against the rules
// ("keep") later finds other calls' bytes in it: the memory really is reused, which is
// what the README warns about. And an async handler's view stays intact while the same
// client sends more than the ring holds behind it: its request is not released early.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { Client, Server, defineContract, type RpcError } from "../src/index.js";
import { LONG, killAll, spawnFixture, stopServer, uniqueName, until, type Child } from "./helpers.js";

interface Seen { kind: string; shared: boolean; owns: boolean; length: number; hash: number }

function hash(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >>> 12)) & 0xff;
  return b;
}

// The default 2 MiB rings: a record holds at most 512 KiB; bigger messages are fragments.
const RECORD_MAX = 512 * 1024 - 64;
const CONTIGUOUS = [1, 100, 64 * 1024 - 8, 64 * 1024, 300_000, RECORD_MAX - 64];
const FRAGMENTED = [RECORD_MAX + 64, (1 << 20) + 8, 5 << 20];

const views = suite("views");
const name = uniqueName("view");
let server: Child;
let client: Client;

views.before(async () => {
  server = await spawnFixture("view-server.js", [name, "{}"]);
  client = new Client(name, { timeoutMs: 20_000 });
  await client.waitForConnection(5000);
});
views.after(async () => {
  client.close();
  assert.is(await stopServer(server), 0);
  killAll();
});

views("a view handler sees the exact bytes of Buffers and Uint8Arrays of every size: ring views when they fit a record, through wrap-arounds, and fragmented", () => {
  let seed = 0;
  // Three passes of ~3.7 MiB each: the 2 MiB request ring wraps several times.
  for (let pass = 0; pass < 3; pass++) {
    for (const size of [...CONTIGUOUS, ...FRAGMENTED]) {
      for (const kind of ["Buffer", "Uint8Array"]) {
        const b = pattern(size, ++seed);
        const arg = kind === "Buffer" ? b : new Uint8Array(b.buffer, b.byteOffset, b.length);
        const s = client.call<Seen>("seen", arg);
        const what = `${kind} of ${size} bytes, pass ${pass}`;
        assert.is(s.kind, kind, what);
        assert.is(s.length, size, what);
        assert.is(s.hash, hash(b), `${what}: the bytes differ`);
        // A record's bytes are seen where they are: in the shared ring.
        if (size <= RECORD_MAX) assert.ok(s.shared, `${what}: not a view of the ring`);
        else assert.not.ok(s.shared, `${what}: a fragmented message's tail is private memory`);
      }
    }
  }
});

views("echoing the view returns the same bytes, sync and async, several values in one call too", async () => {
  let seed = 100;
  for (const size of [...CONTIGUOUS, ...FRAGMENTED]) {
    const b = pattern(size, ++seed);
    const sync = client.call<Buffer>("echo", b);
    assert.ok(Buffer.isBuffer(sync) && sync.equals(b), `sync echo of ${size} bytes`);
    const u8 = new Uint8Array(b.buffer, b.byteOffset, b.length);
    const back = await client.asyncCall<Uint8Array>("echo", u8);
    assert.is(Object.getPrototypeOf(back), Uint8Array.prototype, `async echo of ${size} bytes: kind`);
    assert.ok(Buffer.from(back.buffer, back.byteOffset, back.length).equals(b), `async echo of ${size} bytes`);
    // What the client receives is its own memory, never a view of anything.
    assert.ok(!(back.buffer instanceof SharedArrayBuffer) && back.byteOffset === 0 && back.buffer.byteLength === size, `async echo of ${size} bytes: own memory`);
  }
  const a = pattern(200_000, 1), c = pattern(3 << 20, 2);
  const all = client.call<unknown[]>("echoAll", a, "between", { c });
  assert.ok((all[0] as Buffer).equals(a));
  assert.is(all[1], "between");
  assert.ok(((all[2] as { c: Buffer }).c).equals(c));
});

views("other binary kinds are copied as usual (a view handler owns them)", () => {
  const f = new Float64Array(pattern(1 << 20, 3).buffer.slice(0));
  const s = client.call<Seen>("seen", f);
  assert.is(s.kind, "Float64Array");
  assert.ok(s.owns && !s.shared, "a Float64Array is copied into memory of its own");
  const small = new Int16Array([1, 2, 3]);
  const s2 = client.call<Seen>("seen", small);
  assert.ok(s2.owns && !s2.shared);
});

views("a view kept past its handler's return is overwritten by later calls' bytes (the documented hazard)", () => {
  // Fragmented: the connection's tail memory is reused by the next big message.
  const a = pattern((1 << 20) + 8, 10), b = pattern((1 << 20) + 8, 11);
  assert.is(client.call<number>("keep", a), hash(a));
  client.call("echo", b);
  assert.is(client.call<number>("kept"), hash(b), "the kept view now holds the next message's bytes");
  // A ring view: the ring's space is reused once the client has written a ring's worth.
  const c = pattern(300_000, 12);
  assert.is(client.call<number>("keep", c), hash(c));
  const d = pattern(300_000, 13);
  for (let i = 0; i < 10; i++) client.call("echo", d);
  assert.is.not(client.call<number>("kept"), hash(c), "the ring space of a kept view is reused");
});

views("with SHMRPC_DEBUG_VIEWS=1 a view kept past its handler reads 0xdb at once, ring views and tails alike", async () => {
  const debugName = uniqueName("viewdebug");
  process.env.SHMRPC_DEBUG_VIEWS = "1";
  let srv: Child;
  try {
    srv = await spawnFixture("view-server.js", [debugName, "{}"]);
  } finally {
    delete process.env.SHMRPC_DEBUG_VIEWS;
  }
  const c = new Client(debugName, { timeoutMs: 10_000 });
  try {
    await c.waitForConnection(5000);
    for (const size of [300_000, (1 << 20) + 8]) {
      const a = pattern(size, 60);
      assert.is(c.call<number>("keep", a), hash(a), "the handler saw the bytes");
      assert.is(c.call<number>("kept"), hash(Buffer.alloc(size, 0xdb)), `${size} bytes: the kept view was not overwritten`);
      // Echo still works: the result is sent before the bytes are overwritten.
      assert.ok(c.call<Buffer>("echo", a).equals(a));
      assert.ok((await c.asyncCall<Buffer>("later", 5, a)).equals(a));
    }
  } finally {
    c.close();
    await stopServer(srv);
  }
});

views("an async view handler's view stays valid until its promise settles; the client's later calls wait for it", async () => {
  const a = pattern(400_000, 20), b = pattern(400_000, 21);
  const order: string[] = [];
  const first = client.asyncCall<Buffer>("later", 50, a).then((x) => (order.push("later"), x));
  // More than the 2 MiB request ring holds, right behind it on the same connection.
  const rest = Array.from({ length: 8 }, () => client.asyncCall<Buffer>("echo", b).then((x) => (order.push("echo"), x)));
  const sum = client.asyncCall<number>("add", 2, 3).then((x) => (order.push("add"), x));
  const back = await first;
  assert.ok(back.equals(a), "the view was overwritten before the promise settled");
  for (const x of await Promise.all(rest)) assert.ok(x.equals(b));
  assert.is(await sum, 5);
  assert.is(order[0], "later", `the later calls were served while the view was held: ${order.join(",")}`);
  // The same with a fragmented argument (the reused tail memory).
  const c = pattern(3 << 20, 22);
  const second = client.asyncCall<Buffer>("later", 20, c);
  const behind = client.asyncCall<Buffer>("echo", pattern(3 << 20, 23));
  assert.ok((await second).equals(c));
  assert.ok((await behind).equals(pattern(3 << 20, 23)));
});

views("a view handler's throw reaches the caller and the connection goes on", async () => {
  const big = pattern(2 << 20, 30);
  const e = await client.asyncCall("throwAfterLooking", big).then(() => undefined, (x: RpcError) => x);
  assert.is(e?.code, "ERR_RPC_REMOTE");
  assert.match(e!.message, `saw ${2 << 20} bytes`);
  assert.ok(client.call<Buffer>("echo", big).equals(big));
});

views("a handler bound without views on the same connection still gets memory of its own", () => {
  for (const size of [300_000, (1 << 20) + 8, 5 << 20]) {
    // A view call first, so that the connection has reused memory to hand out.
    client.call("echo", pattern(size, 40));
    const b = pattern(size, 41);
    const s = client.call<Seen>("plainSeen", b);
    assert.is(s.hash, hash(b));
    assert.not.ok(s.shared, `${size} bytes: a plain handler got a view of the ring`);
    assert.is(client.call<Seen>("plainSeen", pattern(size, 42)).hash, hash(pattern(size, 42)), "the memory is not reused under a plain handler");
  }
});

views("oversized requests to a view method fail with ERR_RPC_MESSAGE_TOO_LARGE and the connection stays usable", async () => {
  const small = uniqueName("viewmax");
  const srv = await spawnFixture("view-server.js", [small, JSON.stringify({ maxMessageBytes: 1 << 20 })]);
  const c = new Client(small, { timeoutMs: 10_000 });
  try {
    await c.waitForConnection(5000);
    const e = await c.asyncCall("seen", pattern(2 << 20, 1)).then(() => undefined, (x: RpcError) => x);
    assert.is(e?.code, "ERR_RPC_MESSAGE_TOO_LARGE");
    const b = pattern(500_000, 2);
    assert.is(c.call<Seen>("seen", b).hash, hash(b));
  } finally {
    c.close();
    await stopServer(srv);
  }
});

views("implement(contract, handlers, { view: true }): contract handlers get views, and their schemas still check them", async () => {
  const contract = defineContract({
    sum: { args: z.tuple([z.instanceof(Uint8Array)]), result: z.object({ shared: z.boolean(), total: z.number() }) },
  });
  const local = uniqueName("viewcontract");
  const srv = new Server(local);
  srv.implement(contract, {
    sum: (b) => ({ shared: b.buffer instanceof SharedArrayBuffer, total: b.reduce((a, x) => a + x, 0) }),
  }, { view: true });
  const done = srv.run();
  const c = new Client(local, { timeoutMs: 10_000 });
  try {
    await c.waitForConnection(5000);
    const b = pattern(100_000, 50);
    const r = await c.asyncCall<{ shared: boolean; total: number }>("sum", b);
    assert.ok(r.shared, "the contract handler got a view of the ring");
    assert.is(r.total, b.reduce((a, x) => a + x, 0));
    const e = await c.asyncCall("sum", "not bytes").then(() => undefined, (x: RpcError) => x);
    assert.is(e?.code, "ERR_RPC_INVALID_ARGUMENT");
  } finally {
    c.close();
    await srv.close();
    await done;
  }
});

views.run();

// Peer input on the view path: the channel's checks come before any handler, so a
// hostile client is dropped exactly as on the default path.
const hostile = suite("views: hostile clients");
const hctx = { name: "", server: undefined as Server | undefined, done: undefined as Promise<void> | undefined, errors: [] as RpcError[] };
hostile.before(() => {
  hctx.name = uniqueName("viewhostile");
  hctx.server = new Server(hctx.name, { onError: (e) => hctx.errors.push(e) });
  hctx.server.bind("add", (a: number, b: number) => a + b, { view: true });
  hctx.server.bind("echo", (x: unknown) => x, { view: true });
  hctx.done = hctx.server.run();
});
hostile.after(async () => {
  killAll();
  await hctx.server?.close();
  await hctx.done;
});

const MODES = [
  "fragment-tail-larger-than-message", "fragment-tail-in-header", "fragment-tail-in-a-string", "fragment-tail-after-a-binary",
  "fragment-overflows-total", "fragment-total-smaller-than-chunk", "args-truncated", "length-larger-than-ring",
];
for (const mode of MODES) {
  hostile(`a client writing ${mode} to view handlers is dropped with ERR_RPC_PROTOCOL; the server goes on`, async () => {
    const bad = await spawnFixture("hostile-client.js", [hctx.name, mode], "attacked");
    try {
      const mine = () => hctx.errors.filter((e) => e.message.includes(`client ${bad.pid} `));
      await until(() => mine().length > 0, 5000, `the server to report client ${bad.pid}`);
      assert.is(mine()[0]!.code, "ERR_RPC_PROTOCOL", mine()[0]!.message);
      await until(() => hctx.server!.connections === 0, 5000, "the server to drop the offender");
    } finally {
      bad.kill();
      await bad.exited;
    }
    // Still serving views: a client in another process would do; this one is enough here.
    const c = new Client(hctx.name, { timeoutMs: 10_000 });
    try {
      await c.waitForConnection(5000);
      const b = pattern((1 << 20) + 8, 5);
      assert.ok((await c.asyncCall<Buffer>("echo", b)).equals(b));
    } finally {
      c.close();
    }
    await until(() => hctx.server!.connections === 0, 5000, "the checking client to leave");
  });
}

hostile.run();

// A client that leaves (killed, or closing) while its async view handler waits: the
// connection's memory (its rings, and the private region a fragmented message was
// reassembled in) must stay mapped and ours until the handler settles. Were it freed at
// once, the next client's memory would land at the same place (the allocator reuses the
// first free run) and the waiting handler's view would show, or its writes change, that
// other client's requests. Every process is a real one: the server (view-server.js), the
// client that leaves and the clients that come after it (view-peer.js); this process
// only steers, through a client connected before all of them. Each attack has a server of
// its own, so that the memory's layout is the same every time: without the fix the second
// client after the one that left gets its place (the server keeps one connection's memory
// ready ahead of the next client, made while the first was still there).
const lifetime = suite("views: a client that leaves while its view handler waits");
const SECRET_UNIT = Buffer.from("password=hunter2;card=4111111111111111;");
const VICTIMS = 2;

lifetime.after(() => killAll());

interface Attack { copies: Buffer[]; intact: boolean[]; size: number; kept: boolean; freed: boolean }

/** One attack on a fresh server: a client calls `method` (hold: copies its view once let
 *  go; scrub: copies it, then zeroes it) and leaves (`kill`: SIGKILL; `close`:
 *  client.close()); VICTIMS clients then connect and send secrets; the handler is let go.
 *  Returns what the handler copied, and whether the secrets are still intact in the
 *  later clients' request rings. */
async function leaveWhileHeld(method: "hold" | "scrub", leave: "kill" | "close", fragmented: boolean, debug: boolean): Promise<Attack> {
  const name = uniqueName("viewlife");
  if (debug) process.env.SHMRPC_DEBUG_VIEWS = "1";
  let server: Child;
  try {
    server = await spawnFixture("view-server.js", [name, "{}"]);
  } finally {
    delete process.env.SHMRPC_DEBUG_VIEWS;
  }
  const control = new Client(name, { timeoutMs: 20_000 });
  const size = fragmented ? 600_000 : 4096; // over a 2 MiB ring's largest record: fragments
  const victims: Child[] = [];
  let leaver: Child | undefined;
  try {
    await control.waitForConnection(5000);
    const alone = await control.asyncCall<number>("mapped");
    leaver = await spawnFixture("view-peer.js", [name, "hold", method, String(size), fragmented ? "1" : "0"]);
    await until(async () => (await control.asyncCall<number>("waiting")) === 1, 10_000, "the view handler to wait");
    if (leave === "kill") leaver.kill("SIGKILL");
    else leaver.proc.stdin!.write("close\n");
    await leaver.exited;
    await until(async () => (await control.asyncCall<number>("connections")) === 1, 10_000, "the server to drop the client that left");
    // Its memory is still there, and still counted in the server's budget.
    const kept = (await control.asyncCall<number>("mapped")) > alone;
    for (let i = 0; i < VICTIMS; i++) victims.push(await spawnFixture("view-peer.js", [name, "secret", String(16 * 1024 + (fragmented ? 700_000 : 0)), fragmented ? "1" : "0"]));
    await control.asyncCall("open");
    await until(async () => (await control.asyncCall<number>("waiting")) === 0, 10_000, "the view handler to finish");
    const copies = await control.asyncCall<Buffer[]>("copies");
    const intact: boolean[] = [];
    for (const v of victims) {
      const before = v.output().length;
      v.proc.stdin!.write("check\n");
      await until(() => /intact (yes|no)/.test(v.output().slice(before)), 10_000, "a later client to check its ring");
      intact.push(/intact yes/.test(v.output().slice(before)));
    }
    for (const v of victims) v.kill();
    await Promise.all(victims.map((v) => v.exited));
    await until(async () => (await control.asyncCall<number>("connections")) === 1, 10_000, "the later clients to be gone");
    // Once the handler is done and the others have left, it is all given back.
    const freed = (await control.asyncCall<number>("mapped")) === alone;
    return { copies, intact, size, kept, freed };
  } finally {
    leaver?.kill();
    for (const v of victims) v.kill();
    control.close();
    assert.is(await stopServer(server), 0);
  }
}

/** What went wrong in one attack: nothing, when the handler saw only its own client's
 *  bytes and wrote only into them. */
function wrongs(r: Attack, what: string): string[] {
  const bad: string[] = [];
  const copy = r.copies[0];
  if (r.copies.length !== 1 || copy === undefined) bad.push(`${what}: the handler copied ${r.copies.length} times`);
  else if (copy.indexOf(SECRET_UNIT.subarray(0, 8)) >= 0) bad.push(`${what}: the view showed another client's secret`);
  else if (!copy.equals(Buffer.alloc(r.size, 0x41))) bad.push(`${what}: the view no longer showed its own client's bytes (${[...new Set(copy)].slice(0, 8).join(",")})`);
  if (r.intact.includes(false)) bad.push(`${what}: the handler wrote into a later client's ring`);
  if (!r.kept) bad.push(`${what}: the memory was not kept (or not counted) while the handler waited`);
  if (!r.freed) bad.push(`${what}: the memory was not given back once the handler was done`);
  return bad;
}

/** Every kind of attack, `rounds` times; the list of what went wrong. */
async function attacks(rounds: number, debug: boolean): Promise<string[]> {
  const bad: string[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const leave of ["kill", "close"] as const) {
      for (const [method, fragmented] of [["hold", false], ["hold", true], ["scrub", false]] as const) {
        const what = `round ${round}, ${method} ${fragmented ? "(reassembly region)" : "(ring)"}, client ${leave === "kill" ? "killed" : "closed"}`;
        bad.push(...wrongs(await leaveWhileHeld(method, leave, fragmented, debug), what));
      }
    }
  }
  return bad;
}

lifetime("a view handler whose client was killed or closed sees only that client's bytes until it settles, in the ring and in a reassembly region, and a scrubbing one never writes into another client's ring", async () => {
  assert.equal(await attacks(LONG ? 10 : 1, false), []);
});

lifetime("the same with SHMRPC_DEBUG_VIEWS=1", async () => {
  assert.equal(await attacks(1, true), []);
});

lifetime.run();

// A client that rewrites its request bytes after publishing them (they are in its ring,
// which it maps writable): a contract method's handler bound with { view: true } must
// only ever see bytes its schema accepted. The server runs here; the client is a process
// of its own (view-rewriter.js) that writes into its ring from a second thread.
const rewriting = suite("views: a client that rewrites its requests under a contract handler");
const rw = {
  name: "", server: undefined as Server | undefined, done: undefined as Promise<void> | undefined,
  runs: 0, refused: 0, waiting: 0, gate: undefined as (() => void) | undefined, later: [] as boolean[],
};
const allValid = (b: Uint8Array) => b.every((x) => x === 0x5a);
rewriting.before(() => {
  const ones = z.instanceof(Uint8Array).refine(allValid, "every byte must be 0x5a");
  const contract = defineContract({
    check: { args: z.tuple([ones]), result: z.boolean() },
    checkLater: { args: z.tuple([ones]), result: z.boolean() },
  });
  rw.name = uniqueName("viewrewrite");
  rw.server = new Server(rw.name);
  rw.server.bind("ping", () => true);
  rw.server.implement(contract, {
    // Looks at its bytes again and again for 1 ms, as a handler working on them would.
    check: (b) => {
      rw.runs++;
      const end = performance.now() + 1;
      let valid = true;
      do valid &&= allValid(b);
      while (performance.now() < end);
      if (!valid) rw.refused++;
      return true;
    },
    checkLater: async (b) => {
      rw.waiting++;
      await new Promise<void>((r) => (rw.gate = r));
      rw.later.push(allValid(b));
      return true;
    },
  }, { view: true });
  rw.done = rw.server.run();
});
rewriting.after(async () => {
  killAll();
  await rw.server?.close();
  await rw.done;
});

rewriting("an async contract view handler sees the bytes that were validated, though the client rewrote them while it waited", async () => {
  for (let round = 0; round < 3; round++) {
    const c = await spawnFixture("view-rewriter.js", [rw.name, "later"]);
    try {
      await until(() => rw.waiting === round + 1, 10_000, "the handler to wait");
      c.proc.stdin!.write("rewrite\n");
      await until(() => c.output().includes("rewritten"), 10_000, "the client to rewrite its ring");
      rw.gate!();
      await until(() => rw.later.length === round + 1, 10_000, "the handler to look again");
    } finally {
      c.kill();
      await c.exited;
    }
  }
  assert.equal(rw.later, [true, true, true], "the handler saw bytes its schema refuses");
});

rewriting("a sync contract view handler never sees bytes its schema refuses, with a thread of the client rewriting them all the time", async () => {
  const c = await spawnFixture("view-rewriter.js", [rw.name, "race", "100", "15000"]);
  try {
    await until(() => /done \d+ \d+/.test(c.output()), 30_000, "the client to finish");
  } finally {
    c.kill();
    await c.exited;
  }
  const [, calls, accepted] = /done (\d+) (\d+)/.exec(c.output())!.map(Number);
  // The handler ran for the calls whose bytes passed validation; it must have run often
  // enough to have been caught (without the private copy, 10 of 32 and 8 of 100 runs
  // saw a 0x5b).
  assert.ok(rw.runs >= 20, `the handler ran only ${rw.runs} times (of ${calls} calls): too few to tell`);
  assert.is(rw.runs, accepted!, "every accepted call ran the handler once");
  assert.is(rw.refused, 0, `${rw.refused} of ${rw.runs} handler runs saw bytes the schema refuses`);
});

rewriting.run();
