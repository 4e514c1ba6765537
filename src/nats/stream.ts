// A stream call over NATS, the caller's side: the request goes to the method's subject with
// a reply inbox of its own and the opening credit in a header (HEADER_STREAM); the server
// publishes each item to that inbox (header "item"), then the ordinary reply (result or
// error) ends it. The caller grants credit on the service's credit subject and cancels on
// its cancel subject (src/nats/context.ts), as a unary call's cancel. A replica killed
// mid-stream goes silent: the stream ends at its deadline (ERR_RPC_TIMEOUT); a lost NATS
// connection ends it with ERR_RPC_DISCONNECTED.

import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { RpcError, ErrorCodes } from "../errors.js";
import type { Call } from "../calls/transport.js";
import type { PayloadCodec, HeaderLookup } from "./payload.js";
import { replyValue } from "./payload.js";
import { natsLibrary } from "./connect.js";
import { HEADER_STREAM, HEADER_STREAM_ARG, argSubject, cancelMessage, cancelSubject, creditSubject, newCallId, parseCredit, requestHeaderPairs, toHeaders } from "./context.js";
import { StreamCredit, pumpStream } from "../serving/stream.js";
import { checkSize } from "./call.js";

/** What a NATS stream needs of its NatsCalls. */
export interface StreamTarget {
  readonly serverName: string;
  readonly service: string;
  readonly codec: PayloadCodec;
}

/** Sends stream call `call` (its sink: call.stream) on `nc`, the request's bytes `data` to
 *  `subject`; resolves with the stream's result once it ends, within `timeoutMs`. */
export async function streamOverNats(t: StreamTarget, nc: NatsConnection, subject: string, data: Uint8Array, call: Call, timeoutMs: number, streamed = -1, maxMessageBytes = 0): Promise<unknown> {
  const sink = call.stream;
  const { signal, metadata } = call.settings;
  const method = call.method;
  const lib = await natsLibrary();
  const callId = newCallId();
  const inbox = lib.createInbox();
  const publish = (to: string, text: string): void => {
    try {
      nc.publish(to, text);
    } catch {
      // Closed or draining: the stream ends by its own failure.
    }
  };
  return new Promise<unknown>((resolve, reject) => {
    let done = false;
    const finish = (err: unknown, value?: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      sub.unsubscribe();
      argCredit?.cancel(); // the source is closed
      if (err !== undefined) reject(err);
      else resolve(value);
    };
    const fail = (code: typeof ErrorCodes[keyof typeof ErrorCodes], why: string, maybeExecuted = true): void =>
      finish(new RpcError(code, `stream "${method}" on ${t.serverName} over NATS: ${why}`, { maybeExecuted }));
    const onMessage = (err: Error | null, msg: Msg): void => {
      if (err !== null) return fail(ErrorCodes.ERR_RPC_DISCONNECTED, err.message);
      const h = msg.headers;
      if (h !== undefined && h.hasError && h.code === 503) return fail(ErrorCodes.ERR_RPC_NOT_CONNECTED, "no server serves it on NATS", false);
      const tag = h !== undefined && h.has(HEADER_STREAM) ? h.get(HEADER_STREAM) : "";
      if (tag.startsWith("credit ")) {
        const credit = parseCredit(tag.slice(7));
        if (credit !== undefined) argCredit?.grant(credit.items, credit.bytes);
        return;
      }
      if (tag === "item" && sink !== undefined) {
        let value: unknown;
        try {
          value = t.codec.decode(msg.data);
        } catch (e) {
          publish(cancelSubject(t.service), cancelMessage(callId, false));
          return fail(ErrorCodes.ERR_RPC_PROTOCOL, `an undecodable item: ${(e as Error).message}`);
        }
        if (!sink.push(value, msg.data.length)) {
          publish(cancelSubject(t.service), cancelMessage(callId, false));
          fail(ErrorCodes.ERR_RPC_PROTOCOL, "an item beyond the credit given");
        }
        return;
      }
      try {
        finish(undefined, replyValue(t.codec, msg.data, lookup(msg), t.serverName));
      } catch (e) {
        finish(e);
      }
    };
    const sub = nc.subscribe(inbox, { callback: onMessage });
    const timer = setTimeout(() => {
      publish(cancelSubject(t.service), cancelMessage(callId, true));
      fail(ErrorCodes.ERR_RPC_TIMEOUT, `not done within ${Math.round(timeoutMs)} ms`);
    }, Math.max(1, Math.min(timeoutMs, 2 ** 31 - 1)));
    const onAbort = (): void => {
      publish(cancelSubject(t.service), cancelMessage(callId, false));
      finish(new RpcError(ErrorCodes.ERR_RPC_ABORTED, `stream "${method}" was aborted`, { cause: signal!.reason, maybeExecuted: true }));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    sink?.link({
      credit: (items, bytes) => {
        if (!done) publish(creditSubject(t.service), `${callId} ${items} ${bytes}`);
      },
      cancel: () => {
        if (done) return;
        publish(cancelSubject(t.service), cancelMessage(callId, false));
        fail(ErrorCodes.ERR_RPC_ABORTED, "cancelled");
      },
    });
    const pairs = requestHeaderPairs(timeoutMs, callId, metadata);
    if (sink !== undefined) pairs[HEADER_STREAM] = `${sink.windowItems} ${sink.windowBytes}`;
    if (streamed >= 0) pairs[HEADER_STREAM_ARG] = String(streamed);
    // The streamed argument's items: none until the server's first credit (it subscribes first).
    const argCredit = streamed < 0 ? undefined : new StreamCredit(0, 0);
    if (argCredit !== undefined) {
      const to = argSubject(t.service, callId);
      const tagged = (tag: string) => {
        const hh = lib.headers();
        hh.set(HEADER_STREAM, tag);
        return { headers: hh };
      };
      const ended = (reason: number): void => {
        if (!argCredit.cancelled) {
          try {
            nc.publish(to, new Uint8Array(0), tagged(`end ${reason}`));
          } catch {
            // Closed: the call fails by itself.
          }
        }
      };
      pumpStream(call.args[streamed], argCredit, (value) => {
        const bytes = t.codec.encode(value, maxMessageBytes, "item");
        checkSize(bytes.length, nc);
        nc.publish(to, bytes, tagged("item"));
        return bytes.length;
      }).then(() => ended(0), () => ended(1));
    }
    try {
      nc.publish(subject, data, { reply: inbox, headers: toHeaders(lib.headers, pairs) });
    } catch (e) {
      finish(new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `stream "${method}" on ${t.serverName} over NATS not sent: ${(e as Error).message}`, { cause: e, maybeExecuted: false }));
    }
  });
}

function lookup(msg: Msg): HeaderLookup | undefined {
  const h = msg.headers;
  if (h === undefined) return undefined;
  return (name) => (h.has(name) ? h.get(name) : undefined);
}
