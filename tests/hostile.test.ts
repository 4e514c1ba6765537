// A peer that corrupts its rings loses its own connection; everyone else goes on.
// (The first of the hostile-peer checks; the full set is issue 5's.)
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, RpcError, Server } from "../src/index.js";
import { core } from "../src/core/wasm.js";
import { L } from "../src/core/layout.js";
import { killAll, rejection, spawnServer, stopServer, uniqueName, until } from "./helpers.js";

const hostile = suite("hostile");
hostile.after(killAll);

interface Internals {
  conn: { seg: { offset: number }; serverBell: { wake(): void } };
}

/** Offsets of a connected client's two rings in this thread's memory. */
function rings(client: Client): { request: number; response: number } {
  const conn = (client as unknown as Internals).conn;
  const request = conn.seg.offset + L.CLIENT_HEADER_BYTES;
  const capacity = core().view.getUint32(conn.seg.offset + L.CLI_REQ_CAPACITY, true);
  return { request, response: request + L.RING_HEADER_BYTES + capacity };
}

hostile("a client that corrupts its request ring is dropped with ERR_RPC_PROTOCOL; other clients are served", async () => {
  const name = uniqueName("badclient");
  const errors: RpcError[] = [];
  const server = new Server(name, { onError: (e) => errors.push(e) });
  server.bind("add", (a: number, b: number) => a + b);
  const done = server.run();
  const good = new Client(name);
  const bad = new Client(name);
  try {
    assert.is(await good.asyncCall("add", 1, 1), 2);
    assert.is(await bad.asyncCall("add", 1, 1), 2);
    // A tail counter far beyond what the ring can hold.
    core().view.setUint32(rings(bad).request, 0x7ffffff8, true);
    (bad as unknown as Internals).conn.serverBell.wake();
    await until(() => errors.length > 0 && server.connections === 1, 2000, "the server to drop the bad client");
    assert.is(errors[0]!.code, "ERR_RPC_PROTOCOL");
    assert.is(await good.asyncCall("add", 2, 2), 4, "the other client is served");
    // Its next call fails with the reason, or (once it has read the goodbye) goes out on a new connection.
    const next = await bad.asyncCall("add", 3, 3).catch((e: RpcError) => e.code);
    assert.ok([6, "ERR_RPC_DISCONNECTED", "ERR_RPC_PROTOCOL"].includes(next as never), String(next));
  } finally {
    good.close();
    bad.close();
    await server.close();
    await done;
  }
});

hostile("garbage in a client's response ring fails its calls with ERR_RPC_PROTOCOL, and the client recovers", async () => {
  const name = uniqueName("badserver");
  const server = await spawnServer(name);
  const client = new Client(name, { timeoutMs: 5000 });
  try {
    assert.is(client.call("add", 1, 1), 2);
    const { response } = rings(client);
    const data = response + L.RING_HEADER_BYTES;
    const tail = core().view.getUint32(response, true);
    const capacity = core().view.getUint32((client as unknown as Internals).conn.seg.offset + L.CLI_RES_CAPACITY, true);
    const at = data + (tail & (capacity - 1));
    // A record claiming 1 GiB, published as if by the server.
    core().view.setUint32(at, 1 << 30, true);
    core().view.setUint32(at + 4, L.T_RESPONSE, true);
    Atomics.store(core().i32, response >> 2, tail + 64);
    let err: RpcError | undefined;
    try {
      client.call("add", 2, 2);
    } catch (e) {
      err = e as RpcError;
    }
    assert.is(err?.code, "ERR_RPC_PROTOCOL");
    assert.is(client.call("add", 3, 3), 6, "the next call connects afresh");
  } finally {
    client.close();
    await stopServer(server);
  }
});

hostile.run();
