// A stream call over NATS, the caller's side: the request goes to the method's subject with
// a reply inbox of its own and the opening credit in a header (HEADER_STREAM); the server
// publishes each item to that inbox (header "item"), then the ordinary reply (result or
// error) ends it. The caller grants credit on the service's credit subject and cancels on
// its cancel subject (src/nats/context.ts), as a unary call's cancel. Under a token every
// one of these messages is sealed and numbered (src/nats/stream-seal.ts): one that does not
// open, or is replayed, is dropped and counted. A server that goes silent is probed
// (src/nats/liveness.ts): one killed or cut off ends the stream with ERR_RPC_DISCONNECTED
// within about 2 × livenessMs; a lost NATS connection too.
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { RpcError, ErrorCodes } from "../errors.js";
import type { Call } from "../calls/transport.js";
import type { PayloadCodec, HeaderLookup } from "./payload.js";
import { replyValue } from "./payload.js";
import { natsLibrary } from "./connect.js";
import { Liveness } from "./liveness.js";
import { HEADER_STREAM, HEADER_STREAM_ARG, liveSubject, argSubject, cancelMessage, cancelSubject, creditSubject, newCallId, parseCredit, requestHeaderPairs, toHeaders } from "./context.js";
import { StreamCredit, pumpStream } from "../serving/stream.js";
import { checkSize } from "./call.js";
import { HEADER_AUTH, type NatsSeal } from "./auth.js";
import { StreamSeal, authOf } from "./stream-seal.js";
import { HEADER_ERROR_STATUS, HEADER_SHMRPC_CODE } from "./subjects.js";

/** What a NATS stream needs of its NatsCalls. */
export interface StreamTarget {
  readonly serverName: string;
  readonly service: string;
  readonly codec: PayloadCodec;
  /** With the client's token: every message of the stream sealed (src/nats/auth.ts). */
  readonly seal: NatsSeal | undefined;
  /** Messages dropped because they did not open under the token. */
  readonly dropped: { count: number };
  /** NatsOptions.livenessMs (0: the server is never probed). */
  readonly livenessMs: number;
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
  const pairs = requestHeaderPairs(timeoutMs, callId, metadata);
  if (sink !== undefined) pairs[HEADER_STREAM] = `${sink.windowItems} ${sink.windowBytes}`;
  if (streamed >= 0) pairs[HEADER_STREAM_ARG] = String(streamed);
  // Under a token the context (opening credit included) travels sealed in the request.
  const request = t.seal?.sealRequest(subject, inbox, data, Date.now(), pairs);
  const ss = request === undefined ? undefined : new StreamSeal(t.seal!, request.iv, true);
  /** A credit or a cancel: clear text, proven under a token. */
  const publish = (to: string, text: string, kind: "credit" | "cancel"): void => {
    try {
      if (ss === undefined) return nc.publish(to, text);
      const h = lib.headers();
      ss.prove(h, kind, text);
      nc.publish(to, text, { headers: h });
    } catch {
      // Closed or draining: the stream ends by its own failure.
    }
  };
  const cancel = (timedOut: boolean): void => publish(cancelSubject(t.service), cancelMessage(callId, timedOut), "cancel");
  return new Promise<unknown>((resolve, reject) => {
    let done = false;
    const finish = (err: unknown, value?: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      liveness?.stop();
      signal?.removeEventListener("abort", onAbort);
      sub.unsubscribe();
      argCredit?.cancel(); // the source is closed
      if (err !== undefined) reject(err);
      else resolve(value);
    };
    const fail = (code: typeof ErrorCodes[keyof typeof ErrorCodes], why: string, maybeExecuted = true): void =>
      finish(new RpcError(code, `stream "${method}" on ${t.serverName} over NATS: ${why}`, { maybeExecuted }));
    const dropped = (): void => void t.dropped.count++;
    const onMessage = (err: Error | null, msg: Msg): void => {
      if (err !== null) return fail(ErrorCodes.ERR_RPC_DISCONNECTED, err.message);
      const h = msg.headers;
      const auth = authOf(h);
      // The NATS server's "no responders" (a publisher on the inbox could fake it: that only fails the stream).
      if (h !== undefined && h.hasError && h.code === 503 && (ss === undefined || (auth === undefined && msg.data.length === 0))) {
        return fail(ErrorCodes.ERR_RPC_NOT_CONNECTED, "no server serves it on NATS", false);
      }
      const tag = h !== undefined && h.has(HEADER_STREAM) ? h.get(HEADER_STREAM) : "";
      if (tag === "probe") return pong(msg);
      if (tag === "item" || tag.startsWith("credit ")) {
        const body = ss === undefined ? msg.data : ss.unwrap("inbox", tag, auth, msg.data);
        if (body === undefined) return dropped();
        liveness?.heard();
        if (tag !== "item") {
          const credit = parseCredit(tag.slice(7));
          if (credit !== undefined) argCredit?.grant(credit.items, credit.bytes);
          return;
        }
        if (sink === undefined) return;
        let value: unknown;
        try {
          value = t.codec.decode(body);
        } catch (e) {
          cancel(false);
          return fail(ErrorCodes.ERR_RPC_PROTOCOL, `an undecodable item: ${(e as Error).message}`);
        }
        if (!sink.push(value, body.length)) {
          cancel(false);
          fail(ErrorCodes.ERR_RPC_PROTOCOL, "an item beyond the credit given");
        }
        return;
      }
      let body: Uint8Array | undefined = msg.data;
      if (request !== undefined) {
        const get = (name: string): string | undefined => (h !== undefined && h.has(name) ? h.get(name) : undefined);
        body = t.seal!.openReply(request.iv, auth, get(HEADER_SHMRPC_CODE), get(HEADER_ERROR_STATUS), msg.data);
        if (body === undefined) return dropped();
      }
      try {
        finish(undefined, replyValue(t.codec, body, lookup(msg), t.serverName));
      } catch (e) {
        finish(e);
      }
    };
    const sub = nc.subscribe(inbox, { callback: onMessage });
    /** The server's probe: answered (a forged one costs only an answer). */
    const pong = (msg: Msg): void => {
      const hh = lib.headers();
      hh.set(HEADER_STREAM, "pong");
      const empty = new Uint8Array(0);
      try {
        msg.respond(ss === undefined ? empty : ss.wrap(hh, "pong", empty), { headers: hh });
      } catch {
        // Closed: the stream ends by itself.
      }
    };
    // A server that goes silent is probed on the stream's own subject (only its instance subscribes).
    const probe = (ms: number): Promise<boolean> => nc.request(liveSubject(t.service, callId), new Uint8Array(0), { timeout: Math.max(1, ms) })
      .then((m) => ss === undefined || ss.unwrap("pong", "pong", authOf(m.headers), m.data) !== undefined, () => false);
    const liveness = t.livenessMs > 0 ? new Liveness(t.livenessMs, probe, () => {
      cancel(false); // in case it is only cut off from us
      fail(ErrorCodes.ERR_RPC_DISCONNECTED, `the server answered no probe (it is gone, or cut off) within ${2 * t.livenessMs} ms of silence`);
    }) : undefined;
    const timer = setTimeout(() => {
      cancel(true);
      fail(ErrorCodes.ERR_RPC_TIMEOUT, `not done within ${Math.round(timeoutMs)} ms`);
    }, Math.max(1, Math.min(timeoutMs, 2 ** 31 - 1)));
    const onAbort = (): void => {
      cancel(false);
      finish(new RpcError(ErrorCodes.ERR_RPC_ABORTED, `stream "${method}" was aborted`, { cause: signal!.reason, maybeExecuted: true }));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    sink?.link({
      credit: (items, bytes) => {
        if (!done) publish(creditSubject(t.service), `${callId} ${items} ${bytes}`, "credit");
      },
      cancel: () => {
        if (done) return;
        cancel(false);
        fail(ErrorCodes.ERR_RPC_ABORTED, "cancelled");
      },
    });
    // The streamed argument's items: none until the server's first credit (it subscribes first).
    const argCredit = streamed < 0 ? undefined : new StreamCredit(0, 0);
    if (argCredit !== undefined) {
      const to = argSubject(t.service, callId);
      const send = (tag: string, body: Uint8Array): void => {
        const hh = lib.headers();
        hh.set(HEADER_STREAM, tag);
        nc.publish(to, ss === undefined ? body : ss.wrap(hh, tag, body), { headers: hh });
      };
      const ended = (reason: number): void => {
        if (!argCredit.cancelled) {
          try {
            send(`end ${reason}`, new Uint8Array(0));
          } catch {
            // Closed: the call fails by itself.
          }
        }
      };
      pumpStream(call.args[streamed], argCredit, (value) => {
        const bytes = t.codec.encode(value, maxMessageBytes, "item");
        checkSize(bytes.length, nc);
        send("item", bytes);
        return bytes.length;
      }).then(() => ended(0), () => ended(1));
    }
    try {
      if (request === undefined) nc.publish(subject, data, { reply: inbox, headers: toHeaders(lib.headers, pairs) });
      else nc.publish(subject, request.data, { reply: inbox, headers: toHeaders(lib.headers, { [HEADER_AUTH]: request.header }) });
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
