// Server and Client are EventEmitters: `connect` and `disconnect`, with the peer's pid
// and uid as the kernel reported them, and why a connection ended.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, Server, type PeerInfo } from "../src/index.js";
import { ask, killAll, spawnFixture, spawnServer, stopServer, uniqueName, until } from "./helpers.js";

const events = suite("events");
events.after(killAll);

events("a server reports each client's connect and disconnect with its pid, uid and why", async () => {
  const name = uniqueName("events");
  const server = new Server(name);
  server.bind("add", (a: number, b: number) => a + b);
  const connects: PeerInfo[] = [];
  const disconnects: PeerInfo[] = [];
  server.on("connect", (p: PeerInfo) => connects.push(p));
  server.on("disconnect", (p: PeerInfo) => disconnects.push(p));
  const done = server.run();
  try {
    const kid = await spawnFixture("peer-client.js", [name]);
    assert.is(await ask(kid, "acall add [1,2]", "aresult"), "3");
    await until(() => connects.length === 1, 3000, "the connect event");
    assert.is(connects[0]!.pid, kid.pid, "the client's pid, from the kernel");
    assert.is(connects[0]!.uid, process.getuid!());
    kid.kill("SIGKILL");
    await until(() => disconnects.length === 1, 3000, "the disconnect event");
    assert.is(disconnects[0]!.pid, kid.pid);
    assert.match(disconnects[0]!.reason!, /closed or died/);
  } finally {
    await server.close();
    await done;
  }
});

events("a client reports its connect and the server's going away", async () => {
  const name = uniqueName("events-client");
  const server = await spawnServer(name);
  const client = new Client(name);
  const seen: string[] = [];
  let peer: PeerInfo | undefined;
  client.on("connect", (p: PeerInfo) => ((peer = p), seen.push("connect")));
  client.on("disconnect", (p: PeerInfo) => seen.push(`disconnect ${p.pid}`));
  try {
    assert.is(await client.asyncCall("add", 1, 1), 2);
    assert.equal(seen, ["connect"]);
    assert.is(peer!.pid, server.pid, "the server's pid");
    await stopServer(server);
    await until(() => seen.length === 2, 3000, "the disconnect event");
    assert.is(seen[1], `disconnect ${server.pid}`);
  } finally {
    client.close();
  }
});

events("a client's connect is emitted after the call that connected it: a listener that calls does not disturb that call", async () => {
  const name = uniqueName("events-reentry");
  const server = await spawnServer(name);
  try {
    for (const first of ["call", "asyncCall"] as const) {
      const client = new Client(name);
      const seen: string[] = [];
      let inner: Promise<unknown> | undefined;
      let innerSync: unknown;
      client.on("connect", () => {
        seen.push("connect");
        innerSync = client.call("echo", { inner: "sync".repeat(50) });
        inner = client.asyncCall("add", 40, 2);
      });
      try {
        const arg = { outer: "x".repeat(300), n: [1, 2, 3] };
        const got = first === "call" ? client.call("echo", arg) : await client.asyncCall("echo", arg);
        seen.push("returned");
        assert.equal(got, arg, `${first}: the first call's own arguments`);
        await until(() => inner !== undefined, 3000, "the connect event");
        // A synchronous call returns before its connect is emitted (as net.Socket emits
        // on a later tick); an asyncCall's answer comes after it.
        if (first === "call") assert.equal(seen, ["returned", "connect"]);
        assert.equal(innerSync, { inner: "sync".repeat(50) });
        assert.is(await inner, 42);
      } finally {
        client.close();
      }
    }
  } finally {
    await stopServer(server);
  }
});

events.run();
