// client.describe(): what a server serves, over the existing connection.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, ErrorCodes } from "../src/index.js";
import { L } from "../src/core/layout.js";
import { killAll, rejection, spawnFixture, spawnServer, stopServer, uniqueName } from "./helpers.js";

const introspection = suite("introspection");
introspection.after(killAll);

introspection("describe lists contract methods with JSON Schema, bound ones with null", async () => {
  const name = uniqueName("describe");
  const server = await spawnFixture("contract-server.js", [name]);
  const client = new Client(name);
  try {
    const d = await client.describe();
    assert.is(d.name, name);
    assert.is(d.version, L.PROTOCOL_VERSION);
    assert.is(d.pid, server.pid);
    assert.is(d.uid, process.getuid!());
    assert.ok(Math.abs(Date.parse(d.started) - Date.now()) < 60_000, d.started);
    const by = new Map(d.methods.map((m) => [m.name, m]));
    assert.ok(!d.methods.some((m) => m.name.startsWith("$")), "reserved names are not listed");
    const add = by.get("add")!;
    assert.is(add.description, "adds two numbers");
    assert.is(add.idempotent, false);
    assert.is(add.args!.type, "array");
    assert.equal(add.args!.prefixItems, [{ type: "number" }, { type: "number" }]);
    assert.is(add.result!.type, "number");
    assert.is(String(add.args!.$schema), "https://json-schema.org/draft/2020-12/schema");
    const greet = by.get("greet")!;
    assert.is(greet.idempotent, true);
    assert.equal((greet.args!.prefixItems as object[])[0], { type: "string", minLength: 1 });
    const stats = by.get("stats")!;
    assert.is((stats.result!.properties as Record<string, { type: string }>).n.type, "integer");
    // arktype: Standard JSON Schema; valibot: only through toStandardJsonSchema.
    assert.is(by.get("aadd")!.args!.type, "array");
    assert.is(by.get("vadd")!.args, null);
    assert.is(by.get("vadd")!.result, null);
    assert.equal((by.get("vjson")!.args!.prefixItems as object[])[0], { type: "string", minLength: 1 });
    // A schema JSON Schema cannot express (an async refinement) is listed with what the library gives, or null.
    assert.ok(by.has("later"));
    const plain = by.get("plain")!;
    assert.equal(plain, { name: "plain", args: null, result: null, yields: null, idempotent: false, description: "" });
  } finally {
    client.close();
    await stopServer(server);
  }
});

introspection("a server without a contract still lists its bound names", async () => {
  const name = uniqueName("describe-plain");
  const server = await spawnServer(name);
  const client = new Client(name);
  try {
    const d = await client.describe();
    const names = d.methods.map((m) => m.name);
    for (const m of ["add", "square", "echo", "delayed", "fail"]) assert.ok(names.includes(m), m);
    assert.ok(d.methods.every((m) => m.args === null && m.result === null));
    // It travels as an ordinary request on the connection: calls go on around it.
    assert.is(client.call("add", 1, 2), 3);
  } finally {
    client.close();
    await stopServer(server);
  }
});

introspection("describe without a server fails like any call, with ERR_RPC_NOT_CONNECTED", async () => {
  const client = new Client(uniqueName("describe-none"));
  try {
    assert.is((await rejection(client.describe())).code, ErrorCodes.ERR_RPC_NOT_CONNECTED);
  } finally {
    client.close();
  }
});

introspection.run();
