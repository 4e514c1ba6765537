// shmrpc/threads: a contract method's view handler ({ view: true }) sees the bytes its
// schema accepted, though the client's thread rewrites them in the connection's memory
// (all of which it can write) while the handler waits (src/threads/private-copy.ts).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Worker, type TransferListItem } from "node:worker_threads";
import { join } from "node:path";
import { z } from "zod";
import { FIXTURES, until } from "./helpers.js";
import { ThreadServer, defineContract } from "../src/threads/index.js";

const PEER = join(FIXTURES, "thread-peer.js");
const allValid = (b: Uint8Array): boolean => b.every((x) => x === 0x5a);

const t = suite("threads-views");

t("an async contract view handler sees the bytes that were validated, though the client's thread rewrote them while it waited", async () => {
  const ones = z.instanceof(Uint8Array).refine(allValid, "every byte must be 0x5a");
  const contract = defineContract({ checkLater: { args: z.tuple([ones]), result: z.boolean() } });
  let gate: (() => void) | undefined;
  const later: boolean[] = [];
  const s = new ThreadServer("views", { onError: () => {} });
  s.implement(contract, {
    checkLater: async (b) => {
      await new Promise<void>((r) => (gate = r));
      later.push(allValid(b) && b.length === 4096);
      return true;
    },
  }, { view: true });
  const conn = s.connect();
  const w = new Worker(PEER, { workerData: { mode: "rewriter", conn }, transferList: [conn.port as unknown as TransferListItem] });
  try {
    const messages: Record<string, unknown>[] = [];
    w.on("message", (m: Record<string, unknown>) => messages.push(m));
    await until(() => gate !== undefined, 10_000, "the handler to wait");
    w.postMessage("rewrite");
    await until(() => messages.some((m) => "rewritten" in m), 10_000, "the client to rewrite its ring");
    const rewritten = messages.find((m) => "rewritten" in m)!.rewritten as number;
    assert.ok(rewritten >= 4096, `the client rewrote its request's bytes in the ring (${rewritten})`);
    gate!();
    await until(() => messages.some((m) => "result" in m), 10_000, "the call's result");
    assert.is(messages.find((m) => "result" in m)!.result, true);
    assert.equal(later, [true], "the handler saw bytes its schema refuses");
  } finally {
    await w.terminate();
    s.close();
  }
});

t.run();
