// Serving a Server's methods over NATS, beside shared memory: one queue subscription on
// "shmrpc.<service>.*" takes every method's requests (replicas in the group "q" share them),
// and the ADR-32 service protocol ($SRV.PING|INFO|STATS) is answered on the core client.
// The endpoints and their counters are the Server's own (src/contracts/endpoint.ts), so
// stats() counts calls of both transports. Subjects and headers: src/nats/subjects.ts.
//
// Why not @nats-io/services: it is a prerelease (3.0.0-25 on the registry, Nov 2026), and its
// counters would be a second set beside stats(), timing only the synchronous part of a handler.

import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { ConnectOptions } from "./options.js";
import { RpcError, ErrorCodes, type ErrorCode } from "../errors.js";
import { codeOfKind } from "../protocol.js";
import type { Endpoint } from "../contracts/endpoint.js";
import type { ServiceStats } from "../contracts/stats.js";
import { RESERVED_PREFIX } from "../contracts/stats.js";
import { invoke, errorShape, unsendableShape, type ErrorShape, type Wire } from "../serving/invoke.js";
import { connectNats, natsLibrary } from "./connect.js";
import { PayloadCodec } from "./payload.js";
import { NatsArg } from "./stream-arg.js";
import { HEADER_CALL, HEADER_STREAM, HEADER_STREAM_ARG, liveSubject, argSubject, cancelSubject, creditSubject, parseCancel, parseCredit, requestContext, sealedPairs, type ContextSource } from "./context.js";
import { StreamCredit } from "../serving/stream.js";
import { Running } from "../serving/context.js";
import { HEADER_AUTH, NatsSeal } from "./auth.js";
import { StreamSeal, authOf } from "./stream-seal.js";
import { Liveness } from "./liveness.js";
import {
  HEADER_ERROR, HEADER_ERROR_STATUS, HEADER_SHMRPC_CODE, QUEUE_GROUP, SUBJECT_PREFIX,
  headerText, methodOf, methodSubject, serviceName, statusOf, token,
} from "./subjects.js";

/** What the service needs of its Server. */
export interface ServedServer {
  readonly name: string;
  readonly instanceId: string;
  readonly methods: Map<string, Endpoint>;
  readonly maxMessageBytes: number;
  /** Send handlers' stacks to their callers (the server's exposeStacks option). */
  readonly exposeStacks: boolean;
  stats(): ServiceStats;
  onError(err: RpcError): void;
  /** A request dropped (it did not open under the token): reported in aggregate. */
  refused(err: RpcError, kind: string): void;
}

/** The ADR-32 version of a service: shmrpc's wire protocol version as semver. */
export function serviceVersion(protocol: number): string {
  return `${protocol}.0.0`;
}

/** Stream items published between two flushes at most (roomForItems). */
const FLUSH_BYTES = 1024 * 1024;
const FLUSH_ITEMS = 1024;

/** How long the first connection may take before the server gives up on NATS. */
const CONNECT_TIMEOUT_MS = 10_000;

export class NatsService {
  readonly service: string;
  private nc: NatsConnection | undefined;
  private headersOf: ((code?: number, description?: string) => MsgHdrs) | undefined;
  private readonly codec = new PayloadCodec();
  private closed = false;
  private readonly json = new TextEncoder();
  /** The methods' queue subscription. */
  private calls: Subscription | undefined;
  /** Requests whose async handler is still running: answered ERR_RPC_DISCONNECTED at close
   *  (with the context of a `{ context: true }` handler, aborted then). */
  private readonly running = new Map<Msg, Running | undefined>();
  /** Context handlers' calls by call id, for the callers' cancels. */
  private readonly byCallId = new Map<string, Running>();
  private readonly callIds = new WeakMap<Running, string>();
  /** Streams in progress: by request, and by call id (for the callers' credit and cancels). */
  private readonly streams = new Map<Msg, StreamCredit>();
  private readonly streamsByCallId = new Map<string, StreamCredit>();
  private readonly streamIds = new WeakMap<StreamCredit, string>();
  /** With the server's token: requests must open, replies are sealed (src/nats/auth.ts). */
  private readonly seal: NatsSeal | undefined;
  /** The iv of each request taken under the token, which its reply is bound to. */
  private readonly ivs = new WeakMap<Msg, Buffer>();
  /** The context pairs sealed in each request taken under the token. */
  private readonly sealedContexts = new WeakMap<Msg, Record<string, string>>();
  /** Stream calls taken under the token: their seals, by request and by call id. */
  private readonly streamSeals = new WeakMap<Msg, StreamSeal>();
  private readonly sealsById = new Map<string, StreamSeal>();
  /** The call id of each stream call sealed or watched. */
  private readonly streamCallIds = new WeakMap<Msg, string>();
  /** Stream calls' callers being watched (src/nats/liveness.ts), by call id. */
  private readonly watches = new Map<string, { liveness: Liveness; sub: Subscription }>();

  constructor(
    private readonly server: ServedServer,
    private readonly options: ConnectOptions,
    private readonly version: string,
    tokenKey?: Buffer,
  ) {
    this.service = serviceName(server.name);
    this.seal = tokenKey === undefined ? undefined : new NatsSeal(tokenKey);
  }

  /** Connects and subscribes; resolves once the NATS server has the subscriptions. */
  async start(): Promise<void> {
    const lib = await natsLibrary();
    this.headersOf = lib.headers;
    const nc = await connectNats({ name: `shmrpc ${this.server.name} ${process.pid}`, ...this.options }, CONNECT_TIMEOUT_MS);
    if (this.closed) {
      await nc.close();
      return;
    }
    this.nc = nc;
    this.calls = nc.subscribe(`${SUBJECT_PREFIX}.${this.service}.*`, {
      queue: QUEUE_GROUP,
      callback: (err, msg) => {
        if (err) this.server.onError(new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `NATS subscription of ${this.server.name} ended: ${err.message}`, { cause: err }));
        else this.request(msg);
      },
    });
    // Callers' cancels: every instance hears them (no queue group); the one running the call acts.
    nc.subscribe(cancelSubject(this.service), {
      callback: (err, msg) => {
        if (err !== null) return;
        const text = msg.string();
        const { callId, code } = parseCancel(text);
        // A sealed stream's cancel must be proven (its call id travels in clear in its credit).
        const ss = this.sealsById.get(callId);
        if (ss !== undefined && !ss.proven("cancel", "cancel", text, authOf(msg.headers))) return this.forged("cancel");
        this.cancelCall(callId, code, code === ErrorCodes.ERR_RPC_TIMEOUT ? "the caller's deadline passed" : "the caller aborted the call");
      },
    });
    // Callers' credit for their streams: "<call id> <items> <bytes>" (every instance hears it).
    nc.subscribe(creditSubject(this.service), {
      callback: (err, msg) => {
        if (err !== null) return;
        const text = msg.string();
        const space = text.indexOf(" ");
        const callId = text.slice(0, space);
        const stream = this.streamsByCallId.get(callId);
        if (stream !== undefined && this.seal !== undefined && this.sealsById.get(callId)?.proven("credit", "credit", text, authOf(msg.headers)) !== true) return this.forged("credit");
        const credit = stream === undefined ? undefined : parseCredit(text.slice(space + 1));
        if (credit !== undefined) {
          stream!.grant(credit.items, credit.bytes);
          this.watches.get(callId)?.liveness.heard();
        }
      },
    });
    for (const verb of ["PING", "INFO", "STATS"] as const) {
      const reply = (err: Error | null, msg: Msg): void => {
        if (err === null) this.answerService(verb, msg);
      };
      for (const subject of [`$SRV.${verb}`, `$SRV.${verb}.${this.service}`, `$SRV.${verb}.${this.service}.${this.server.instanceId}`]) {
        nc.subscribe(subject, { callback: reply });
      }
    }
    void nc.closed().then((err) => {
      if (err && !this.closed) this.server.onError(new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `NATS connection of ${this.server.name} closed: ${err.message}`, { cause: err }));
    });
    await nc.flush(); // the subscriptions are in place at the NATS server
  }

  /** As over shared memory, where close() says goodbye and every pending call fails with
   *  ERR_RPC_DISCONNECTED at once: stops taking requests (the queue subscription is
   *  drained, so that the NATS server routes new ones to other replicas and none already
   *  on its way is lost), answers every request whose async handler still runs with
   *  ERR_RPC_DISCONNECTED (maybeExecuted true: an idempotent caller re-sends it to another
   *  replica), then drains the connection (those answers are flushed before it closes).
   *  A handler that settles later is not answered again. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const nc = this.nc;
    try {
      await this.calls?.drain();
    } catch {
      // The connection is already closed: nothing can be answered.
    }
    for (const [msg, run] of this.running) {
      run?.abort(ErrorCodes.ERR_RPC_DISCONNECTED, "the server closed");
      this.streams.get(msg)?.cancel();
      this.endArg(msg);
      try {
        this.replyError(msg, ErrorCodes.ERR_RPC_DISCONNECTED, { name: "Error", message: `server ${this.server.name} closed while the call was running`, stack: "" });
      } catch {
        break; // the connection is gone
      }
    }
    this.running.clear();
    this.byCallId.clear();
    for (const w of this.watches.values()) w.liveness.stop();
    this.watches.clear();
    this.nc = undefined;
    try {
      await nc?.drain();
    } catch {
      await nc?.close().catch(() => {});
    }
    this.codec.dispose();
  }

  // ------------------------------------------------------------ method calls

  private request(msg: Msg): void {
    if (!msg.reply) return; // a publish nobody waits for: nothing to answer, nothing runs
    let data = msg.data;
    if (this.seal !== undefined) {
      const opened = this.seal.openRequest(msg.subject, msg.reply, msg.headers?.has(HEADER_AUTH) ? msg.headers.get(HEADER_AUTH) : undefined, msg.data);
      if (typeof opened === "string") {
        // Dropped unanswered: an answer would tell a stranger that the service is there.
        const err = new RpcError(ErrorCodes.ERR_RPC_ACCESS_DENIED, `dropped a NATS request to ${msg.subject}: ${opened}`);
        return this.server.refused(err, `ERR_RPC_ACCESS_DENIED NATS ${opened.split(" (")[0]!.replace(/[0-9-]+ ms from now/, "a time")}`);
      }
      data = opened.data;
      this.ivs.set(msg, opened.iv);
      this.sealedContexts.set(msg, opened.context);
    }
    try {
      this.dispatch(msg, data);
    } catch (e) {
      // Whatever a request's bytes made go wrong costs that request, never the server.
      this.server.onError(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `NATS request to ${this.server.name} failed: ${(e as Error).message}`, { cause: e }));
    }
  }

  /** Under the token the context sealed in the request is read, never its headers (contextOf). */
  private dispatch(msg: Msg, data: Uint8Array): void {
    const method = methodOf(msg.subject.slice(SUBJECT_PREFIX.length + this.service.length + 2));
    const ep = method === undefined ? undefined : this.server.methods.get(method);
    if (ep === undefined) {
      return this.replyError(msg, ErrorCodes.ERR_RPC_METHOD_NOT_FOUND, { name: "Error", message: `no method "${method ?? msg.subject}" on ${this.server.name}`, stack: "" });
    }
    let args: unknown;
    try {
      args = this.codec.decode(data);
    } catch (e) {
      return this.replyError(msg, ErrorCodes.ERR_RPC_PROTOCOL, { name: "Error", message: `undecodable arguments (${(e as Error).message})`, stack: "" });
    }
    if (!Array.isArray(args)) {
      return this.replyError(msg, ErrorCodes.ERR_RPC_PROTOCOL, { name: "Error", message: "arguments that are not an array", stack: "" });
    }
    if (this.contextOf(msg)?.get(HEADER_STREAM_ARG) && !this.takeArg(msg, ep, args)) return;
    let run: Running | undefined;
    if (ep.contextual) {
      const c = requestContext(this.contextOf(msg));
      run = new Running(ep.name, c.deadline, { transport: "nats", subject: msg.subject, reply: msg.reply ?? "" }, c.metadata);
      run.context.requestBytes = data.length;
      if (c.callId !== undefined) {
        this.byCallId.set(c.callId, run);
        this.callIds.set(run, c.callId);
      }
      this.running.set(msg, run);
    }
    if (!invoke(ep, args, run?.context, this.wire, msg, 0) && run !== undefined) this.ended(msg);
  }

  /** Streamed arguments of calls in progress (src/nats/stream-arg.ts). */
  private readonly args = new Map<Msg, NatsArg>();
  private readonly argsByCallId = new Map<string, NatsArg>();
  private readonly argIds = new WeakMap<NatsArg, string>();

  /** A request whose argument is streamed: an Inbound in its place (args[index], sent as
   *  null) fed from the call's argument subject. False when it is answered already. */
  private takeArg(msg: Msg, ep: Endpoint, args: unknown[]): boolean {
    const h = this.contextOf(msg)!;
    const index = Number(h.get(HEADER_STREAM_ARG));
    const callId = h.get(HEADER_CALL);
    if (!Number.isInteger(index) || index < 0 || index >= args.length || args[index] !== null || callId === "" || this.nc === undefined) {
      this.replyError(msg, ErrorCodes.ERR_RPC_INVALID_ARGUMENT, { name: "RpcError", message: "a streamed argument that is not there (or not null), or without a call id", stack: "" });
      return false;
    }
    const arg = new NatsArg(this.nc, this.headersOf!, this.codec, argSubject(this.service, callId), msg.reply!, ep, this.streamSealOf(msg, callId), () => this.forged("stream argument item"));
    this.args.set(msg, arg);
    this.argsByCallId.set(callId, arg);
    this.argIds.set(arg, callId);
    args[index] = arg.inbound.stream;
    this.watch(msg, callId);
    // Settled at once (a handler that did not wait for its argument): no more items taken.
    queueMicrotask(() => {
      if (!this.running.has(msg)) this.endArg(msg);
    });
    return true;
  }

  private endArg(msg: Msg): void {
    const arg = this.args.get(msg);
    if (arg === undefined) return;
    this.args.delete(msg);
    const callId = this.argIds.get(arg);
    if (callId !== undefined) this.argsByCallId.delete(callId);
    arg.close(new RpcError(ErrorCodes.ERR_RPC_ABORTED, "the call ended"));
  }

  /** Told when no handler runs any more (drain). */
  private idle: (() => void) | undefined;

  /** Drains the queue subscription (the NATS server routes new requests to the other
   *  members of the queue group; none already on its way is lost), then waits until no
   *  handler runs, at most `ms` (close() then answers and aborts those still running). */
  async drain(ms: number): Promise<void> {
    if (this.closed) return;
    try {
      await this.calls?.drain();
    } catch {
      return; // the connection is already closed
    }
    if (this.running.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.idle = undefined;
        resolve();
      }, ms);
      this.idle = () => {
        clearTimeout(timer);
        this.idle = undefined;
        resolve();
      };
    });
  }

  /** Ends call `callId` on this instance: its stream's generator closed, its streamed
   *  argument failed with `code`, its context's signal aborted. */
  private cancelCall(callId: string, code: ErrorCode, why: string): void {
    this.streamsByCallId.get(callId)?.cancel();
    this.argsByCallId.get(callId)?.close(new RpcError(code, why));
    this.byCallId.get(callId)?.abort(code, why);
  }

  /** Watches the caller of stream call `msg` (src/nats/liveness.ts): answers its probes on
   *  the call's own subject, probes its inbox when it is silent, and ends the call
   *  (ERR_RPC_DISCONNECTED) when it is gone. */
  private watch(msg: Msg, callId: string): void {
    const nc = this.nc;
    const ms = this.options.livenessMs;
    if (nc === undefined || ms <= 0 || this.watches.has(callId)) return;
    const ss = this.streamSeals.get(msg);
    const empty = new Uint8Array(0);
    const sub = nc.subscribe(liveSubject(this.service, callId), {
      callback: (err, m) => {
        if (err !== null) return;
        liveness.heard();
        const h = this.headersOf!();
        h.set(HEADER_STREAM, "pong");
        try {
          m.respond(ss === undefined ? empty : ss.wrap(h, "pong", empty), { headers: h });
        } catch {
          // Closed: the call ends with the connection.
        }
      },
    });
    const probe = (timeout: number): Promise<boolean> => {
      const h = this.headersOf!();
      h.set(HEADER_STREAM, "probe");
      return nc.request(msg.reply!, empty, { timeout: Math.max(1, timeout), headers: h })
        .then((m) => ss === undefined || ss.unwrap("pong", "pong", authOf(m.headers), m.data) !== undefined, () => false);
    };
    const liveness = new Liveness(ms, probe, () => this.cancelCall(callId, ErrorCodes.ERR_RPC_DISCONNECTED, `the caller is gone: it answered no probe within ${2 * ms} ms of silence`));
    this.watches.set(callId, { liveness, sub });
    this.streamCallIds.set(msg, callId);
  }

  /** A request's handler is done (or its answer sent at close): forget it. */
  private ended(msg: Msg): boolean {
    const run = this.running.get(msg);
    if (!this.running.delete(msg)) return false;
    if (this.idle !== undefined && this.running.size === 0) queueMicrotask(() => this.idle?.());
    const id = run === undefined ? undefined : this.callIds.get(run);
    if (id !== undefined) this.byCallId.delete(id);
    this.endArg(msg);
    const stream = this.streams.get(msg);
    if (stream !== undefined) {
      this.streams.delete(msg);
      const callId = this.streamIds.get(stream);
      if (callId !== undefined) this.streamsByCallId.delete(callId);
    }
    const streamId = this.streamCallIds.get(msg);
    if (streamId !== undefined) this.sealsById.delete(streamId);
    const w = streamId === undefined ? undefined : this.watches.get(streamId);
    if (w !== undefined) {
      this.watches.delete(streamId!);
      w.liveness.stop();
      w.sub.unsubscribe();
    }
    return true;
  }

  /** The shared invoke's way to this wire. */
  private readonly wire: Wire<Msg> = {
    result: (msg, _id, value) => {
      try {
        return this.replyValue(msg, value);
      } catch (e) {
        this.server.onError(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `NATS reply of ${this.server.name} failed: ${(e as Error).message}`, { cause: e }));
        return -1; // told through onError, not counted as the method's failure
      }
    },
    thrown: (msg, _id, thrown) => this.replyThrown(msg, thrown),
    pending: (msg) => {
      if (!this.running.has(msg)) this.running.set(msg, undefined);
    },
    // Answered already by close(), or the connection is gone.
    settling: (msg) => this.ended(msg) && this.nc !== undefined,
    answered: () => {},
    stream: (msg) => this.opened(msg),
    item: (msg, _id, value) => this.publishItem(msg, value),
    room: () => this.roomForItems(),
  };

  /** Stream items published since the last flush was asked for (what the NATS library may
   *  still hold in its buffer), and whether one is on its way. */
  private unflushedBytes = 0;
  private unflushedItems = 0;
  private flushing = false;

  /** Whether streams may publish another item: once 1 MiB (or 1,024 items) went out, every
   *  stream waits for a flush (a round trip to the NATS server), so that a caller granting
   *  itself all the credit there is holds the library's buffer to about 1 MiB and cannot
   *  keep this event loop from the other callers (hostile-streams-nats.test). */
  private roomForItems(): boolean {
    if (this.unflushedBytes < FLUSH_BYTES && this.unflushedItems < FLUSH_ITEMS) return true;
    const nc = this.nc;
    if (!this.flushing && nc !== undefined) {
      this.flushing = true;
      const done = (): void => {
        this.flushing = false;
        this.unflushedBytes = 0;
        this.unflushedItems = 0;
      };
      nc.flush().then(done, done);
    }
    return nc === undefined; // closed: the next item fails, which ends the stream
  }

  /** A request that opens a stream (its HEADER_STREAM: the opening credit): the credit,
   *  tracked until it settles. */
  private opened(msg: Msg): StreamCredit | undefined {
    const h = this.contextOf(msg);
    const open = h === undefined ? undefined : parseCredit(h.get(HEADER_STREAM));
    if (open === undefined) return undefined;
    const credit = new StreamCredit(open.items, open.bytes);
    this.streams.set(msg, credit);
    const callId = h!.get(HEADER_CALL);
    if (callId !== "") {
      this.streamsByCallId.set(callId, credit);
      this.streamIds.set(credit, callId);
      this.streamSealOf(msg, callId);
      this.watch(msg, callId);
    }
    return credit;
  }

  /** What a request says of its call: its sealed context under the token, else its headers. */
  private contextOf(msg: Msg): ContextSource | undefined {
    const sealed = this.sealedContexts.get(msg);
    return sealed !== undefined ? sealedPairs(sealed) : msg.headers;
  }

  /** The seal of stream call `msg` (under the token; made once, known by `callId` for its
   *  caller's credit and cancels). */
  private streamSealOf(msg: Msg, callId: string): StreamSeal | undefined {
    const iv = this.ivs.get(msg);
    if (this.seal === undefined || iv === undefined) return undefined;
    let ss = this.streamSeals.get(msg);
    if (ss === undefined) {
      ss = new StreamSeal(this.seal, iv, false);
      this.streamSeals.set(msg, ss);
      this.sealsById.set(callId, ss);
      this.streamCallIds.set(msg, callId);
    }
    return ss;
  }

  /** A stream message that does not open under the token (or replayed): dropped, reported
   *  in aggregate as a dropped request is. */
  private forged(what: string): void {
    this.server.refused(new RpcError(ErrorCodes.ERR_RPC_ACCESS_DENIED, `dropped a NATS ${what} of a sealed stream that does not open under the token (forged, altered or replayed)`), `ERR_RPC_ACCESS_DENIED NATS stream ${what}`);
  }

  /** Publishes one item of a stream to its caller's inbox; returns its size in bytes. */
  private publishItem(msg: Msg, value: unknown): number {
    const nc = this.nc;
    if (nc === undefined) throw new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `server ${this.server.name} closed`);
    const data = this.codec.encode(value, this.maxBytes, "item");
    const h = this.headersOf!();
    h.set(HEADER_STREAM, "item");
    const ss = this.streamSeals.get(msg);
    nc.publish(msg.reply!, ss === undefined ? data : ss.wrap(h, "item", data), { headers: h });
    this.unflushedBytes += data.length;
    this.unflushedItems++;
    return data.length;
  }

  /** The largest payload the NATS server takes, and the server's own limit. */
  private get maxBytes(): number {
    return Math.min(this.server.maxMessageBytes, this.nc?.info?.max_payload ?? 1024 * 1024);
  }

  /** Replies with a handler's value; returns undefined, or why it could not (for the counters). */
  private replyValue(msg: Msg, value: unknown): number | string {
    let data: Uint8Array;
    try {
      data = this.codec.encode(value, this.maxBytes, "result");
    } catch (e) {
      const shape = unsendableShape(e, e instanceof RpcError && e.code === ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE, value);
      this.replyShape(msg, shape);
      return shape.why;
    }
    this.respond(msg, data, undefined);
    return data.length;
  }

  /** Sends a reply, sealed under the token when there is one (then an error's header
   *  carries only its code: the text is in the sealed payload). */
  private respond(msg: Msg, data: Uint8Array, error: { code: ErrorCode; status: number; text: string } | undefined): void {
    const iv = this.ivs.get(msg);
    if (this.seal === undefined || iv === undefined) {
      if (error === undefined) return void msg.respond(data);
      const h = this.headersOf!();
      h.set(HEADER_ERROR, error.text || error.code);
      h.set(HEADER_ERROR_STATUS, String(error.status));
      h.set(HEADER_SHMRPC_CODE, error.code);
      return void msg.respond(data, { headers: h });
    }
    const status = error === undefined ? undefined : String(error.status);
    const sealed = this.seal.sealReply(iv, error?.code, status, data);
    const h = this.headersOf!();
    h.set(HEADER_AUTH, sealed.header);
    if (error !== undefined) {
      h.set(HEADER_ERROR, error.code);
      h.set(HEADER_ERROR_STATUS, status!);
      h.set(HEADER_SHMRPC_CODE, error.code);
    }
    msg.respond(sealed.data, { headers: h });
  }

  private replyThrown(msg: Msg, thrown: unknown): void {
    try {
      this.replyShape(msg, errorShape(thrown, this.server.exposeStacks));
    } catch (e) {
      this.server.onError(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `NATS reply of ${this.server.name} failed: ${(e as Error).message}`, { cause: e }));
    }
  }

  private replyShape(msg: Msg, shape: ErrorShape): void {
    this.replyError(msg, codeOfKind(shape.kind) ?? ErrorCodes.ERR_RPC_REMOTE, shape.details);
  }

  private replyError(msg: Msg, code: ErrorCode, details: Record<string, unknown>): void {
    const message = String(details.message);
    let data: Uint8Array;
    try {
      data = this.codec.encode(details, this.maxBytes - 4096, "error");
    } catch {
      data = this.codec.encode({ name: "Error", message: message.slice(0, 4096), stack: "" }, this.maxBytes, "error");
    }
    this.respond(msg, data, { code, status: statusOf(code), text: headerText(message) });
  }

  // ------------------------------------------------------------ ADR-32

  private answerService(verb: "PING" | "INFO" | "STATS", msg: Msg): void {
    if (!msg.reply) return;
    try {
      msg.respond(this.json.encode(JSON.stringify(this.serviceResponse(verb))));
    } catch (e) {
      this.server.onError(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `$SRV.${verb} of ${this.server.name} failed: ${(e as Error).message}`, { cause: e }));
    }
  }

  /** The ADR-32 response (io.nats.micro.v1.*_response) of `verb`. */
  serviceResponse(verb: "PING" | "INFO" | "STATS"): Record<string, unknown> {
    const s = this.server;
    const base = {
      name: this.service,
      id: s.instanceId,
      version: this.version,
      metadata: { "shmrpc.name": s.name } as Record<string, string>,
    };
    if (verb === "PING") return { type: "io.nats.micro.v1.ping_response", ...base };
    if (verb === "INFO") {
      const endpoints = [];
      for (const ep of s.methods.values()) {
        if (ep.name.startsWith(RESERVED_PREFIX)) continue;
        endpoints.push({ name: token(ep.name), subject: methodSubject(this.service, ep.name), queue_group: QUEUE_GROUP, metadata: { "shmrpc.method": ep.name } });
      }
      return { type: "io.nats.micro.v1.info_response", ...base, description: `shmrpc server ${s.name}`, endpoints };
    }
    const stats = s.stats();
    return {
      type: "io.nats.micro.v1.stats_response",
      ...base,
      started: stats.started,
      endpoints: stats.endpoints.map((e) => ({
        name: token(e.name),
        subject: methodSubject(this.service, e.name),
        queue_group: QUEUE_GROUP,
        num_requests: e.num_requests,
        num_errors: e.num_errors,
        last_error: e.last_error,
        processing_time: e.processing_time,
        average_processing_time: e.average_processing_time,
        data: { method: e.name, in_flight: e.in_flight },
      })),
    };
  }
}
