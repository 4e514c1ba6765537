// What the stream suites share: a loop's items and the error that ended it, a test that
// fails with its suite's setup error (the NATS suites set up a nats-server first), and the
// checks every transport passes the same way.
import type { Test } from "uvu";
import * as assert from "uvu/assert";
import type { Client, RpcError } from "../src/index.js";
import { expectLine, rejection, type Child } from "./helpers.js";

/** The loop's items (at most `upTo`, then break), and the error that ended it (if any). */
export async function drain<T>(it: AsyncIterable<T>, upTo = Infinity): Promise<{ items: T[]; err: RpcError | undefined }> {
  const items: T[] = [];
  try {
    for await (const x of it) {
      items.push(x);
      if (items.length >= upTo) break;
    }
  } catch (e) {
    return { items, err: e as RpcError };
  }
  return { items, err: undefined };
}

/** `suite`'s tests, each failing first with what `setupError()` returns, if anything. */
export function guarded(suite: Test, setupError: () => unknown): (title: string, fn: () => Promise<void>) => void {
  return (title, fn) => {
    suite(title, async () => {
      const e = setupError();
      if (e !== undefined) throw e;
      await fn();
    });
  };
}

/** Through `client` (of stream-server.js `server`): a streamed argument whose source throws
 *  fails the handler's loop ("sumOrWhy") with ERR_RPC_ABORTED; so does the caller's abort. */
export async function sourceFailuresReachTheHandler(client: Client, server: Child, tag: string): Promise<void> {
  async function* failing(): AsyncGenerator<number> {
    yield 1;
    yield 2;
    throw new Error("source broke");
  }
  assert.is(await client.asyncCall("sumOrWhy", failing(), `${tag}throw`), "failed ERR_RPC_ABORTED");
  const from = server.output().length;
  const ac = new AbortController();
  async function* slow(): AsyncGenerator<number> {
    for (;;) {
      yield 1;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const call = client.withOptions({ signal: ac.signal }).asyncCall("sumOrWhy", slow(), `${tag}abort`);
  setTimeout(() => ac.abort(), 50);
  assert.is((await rejection(call)).code, "ERR_RPC_ABORTED");
  assert.is(await expectLine(server, `argument failed ${tag}abort`, from), "ERR_RPC_ABORTED");
}
