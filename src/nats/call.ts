// The calling side over NATS: what a Client whose name is a NATS URL
// ("nats://127.0.0.1:4222/calc") delegates its calls to. Requests go to
// "shmrpc.<service>.<method>" (src/nats/subjects.ts) with the shared-memory codec's bytes;
// synchronous calls go through a worker thread (src/nats/sync.ts).
//
// RETRY SAFETY. Each failure says whether the request may have run: maybeExecuted is false
// when it provably never reached a server (no connection, refused credentials, no
// responders, over max_payload, aborted before sending) and true once it was published
// (a timeout, a connection lost while waiting). The Client's retry policy
// (src/calls/retry.ts) applies as over shared memory: a call that never ran (no responders:
// nobody serves it now) is sent again after a backoff within its deadline, an idempotent
// one after a loss too. Over NATS a replica killed mid-call gives only silence, so an
// idempotent call's attempt waits at most retry.attemptTimeoutMs (while another attempt is
// left) and is then sent again to the queue group; a late answer of the abandoned attempt
// finds no request waiting in the library's reply inbox and is dropped there. A
// non-idempotent call has one attempt for its whole deadline once sent: its timeout is
// never re-sent (at most once).

import { closedError, closingError } from "../calls/closed.js";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import type { ConnectOptions } from "./options.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { validateName, METHOD_NAME_MAX_BYTES } from "../protocol.js";
import { connectNats, connectionOptions, natsLibrary, requestFailure } from "./connect.js";
import type { NatsClientOptions, NatsOptions } from "./options.js";
import { PayloadCodec, replyValue, type HeaderLookup } from "./payload.js";
import { methodSubject, serviceName } from "./subjects.js";
import { SyncBridge } from "./sync.js";
import { NatsSeal, sealedRequest } from "./auth.js";
import { cancelMessage, cancelSubject, newCallId, requestHeaderPairs, toHeaders } from "./context.js";
import { DEFAULT_RETRY, type RetryPolicy } from "../calls/retry.js";
import type { Call, MessageSizes, Transport } from "../calls/transport.js";
import { streamOverNats } from "./stream.js";
import { streamedArg } from "../calls/stream.js";

type Metadata = Readonly<Record<string, string>>;

export type { NatsClientOptions } from "./options.js";

/** The NatsCalls of a Client whose name is a NATS URL ("nats://host:4222/calc"). */
export function natsCallsOfUrl(url: string, extra: NatsClientOptions | undefined, maxMessageBytes: number, retry: Readonly<RetryPolicy>, events?: NatsEvents, tokenKey?: Buffer): NatsCalls {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `invalid NATS URL ${JSON.stringify(url)}: expected nats://host:port/name`);
  }
  if (typeof extra === "string") {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "option nats of a NATS-URL name takes credentials: { user?, pass?, token?, tls?, servers? }, not a URL");
  }
  if (extra !== undefined && (extra === null || typeof extra !== "object")) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "option nats must be an object { user?, pass?, token?, tls?, servers? }");
  }
  const serverName = validateName(decodeURIComponent(parsed.pathname));
  const more = extra?.servers === undefined ? [] : Array.isArray(extra.servers) ? extra.servers : [extra.servers];
  const target: NatsOptions = { ...extra, servers: [`${parsed.protocol}//${parsed.host}`, ...more] };
  if (parsed.username !== "") target.user = decodeURIComponent(parsed.username);
  if (parsed.password !== "") target.pass = decodeURIComponent(parsed.password);
  return new NatsCalls(serverName, connectionOptions(target, "nats"), maxMessageBytes, retry, events, tokenKey);
}

/** The NatsCalls of a local name's Client with `nats` (the locality switch): the option
 *  must name the NATS server(s). */
export function natsCallsOfName(serverName: string, nats: NatsClientOptions, maxMessageBytes: number, retry: Readonly<RetryPolicy>, events?: NatsEvents, tokenKey?: Buffer): NatsCalls {
  if (typeof nats !== "string" && (nats === null || typeof nats !== "object" || nats.servers === undefined)) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option nats of a local name (${serverName}) must name the NATS server(s) to use when none of its instances is on this host: a URL, or { servers, user?, pass?, token?, tls? }`);
  }
  return new NatsCalls(serverName, connectionOptions(nats as NatsOptions, "nats"), maxMessageBytes, retry, events, tokenKey);
}

/** What a NATS side tells its Client: its connection to a NATS server is up (`connect`,
 *  first made or made again) or lost (`disconnect`; the library reconnects by itself). */
export interface NatsEvents {
  connect(server: string): void;
  disconnect(server: string, reason: string): void;
}

export class NatsCalls implements Transport {
  /** The server's name ("/calc"). */
  readonly serverName: string;
  /** Transport's name: the server's. */
  get name(): string {
    return this.serverName;
  }
  /** The service's name on NATS (src/nats/subjects.ts). */
  readonly service: string;
  /** The payloads' codec. */
  readonly codec = new PayloadCodec();
  private readonly subjects = new Map<string, string>();
  private nc: NatsConnection | undefined;
  private connecting: Promise<NatsConnection> | undefined;
  private sync: SyncBridge | undefined;
  closed = false;
  /** Whether `connect` was told last (not `disconnect`). */
  private up = false;
  /** With the client's token: requests sealed, replies that do not open dropped (src/nats/auth.ts). */
  readonly seal: NatsSeal | undefined;
  /** How long a stream's server may be silent before it is probed (NatsOptions.livenessMs). */
  get livenessMs(): number {
    return this.options.livenessMs;
  }
  /** Replies dropped because they did not open under the token (forged, or of another service). */
  readonly dropped = { count: 0 };

  constructor(
    serverName: string,
    private readonly options: ConnectOptions,
    private readonly maxMessageBytes: number,
    private readonly retry: Readonly<RetryPolicy> = DEFAULT_RETRY,
    private readonly events?: NatsEvents,
    private readonly tokenKey?: Buffer,
  ) {
    this.serverName = serverName;
    this.seal = tokenKey === undefined ? undefined : new NatsSeal(tokenKey);
    this.service = serviceName(serverName);
  }

  get connected(): boolean {
    return this.nc !== undefined && !this.nc.isClosed();
  }

  waitForConnection(timeoutMs: number): Promise<void> {
    return this.connection(timeoutMs).then(() => undefined);
  }

  /** Every call over NATS may be sent again (the attempts loop decides). */
  mayRetry(): boolean {
    return true;
  }

  /** Over NATS the queue group picks the replica: no other to name here, every re-send is
   *  a backed-off retry. */
  otherLive(): boolean {
    return false;
  }

  /** How long an attempt may wait for its answer: the call's time left, or
   *  retry.attemptTimeoutMs (`call.cut`) when the call is idempotent and another attempt
   *  is left. A replica killed mid-call only goes silent over NATS (its requests are lost
   *  with its TCP connection, the NATS server just stops routing to it), so the re-sent
   *  request reaches a live member of the queue group. The last attempt gets all the time left. */
  private window(call: Call, left: number, retryLeft: boolean): number {
    const cutMs = this.retry.attemptTimeoutMs;
    if (call.settings.idempotent && cutMs > 0 && cutMs < left && retryLeft) {
      call.cut = true;
      return cutMs;
    }
    return left;
  }

  attemptAsync(call: Call, timeoutMs: number, retryLeft: boolean): Promise<unknown> {
    call.used = this;
    if (call.stream !== undefined || streamedArg(call.args) >= 0) return this.streamAsync(call, timeoutMs);
    return this.requestAsync(call.method, call.args, this.window(call, timeoutMs, retryLeft), call.settings.signal, call.settings.metadata, call.settings.sizes);
  }

  attemptSync(call: Call, timeoutMs: number, retryLeft: boolean): unknown {
    call.used = this;
    return this.requestSync(call.method, call.args, this.window(call, timeoutMs, retryLeft), call.settings.metadata, call.settings.sizes);
  }

  private async requestAsync(method: string, args: unknown[], timeoutMs: number, signal: AbortSignal | undefined, metadata: Metadata | undefined, sizes: MessageSizes | undefined): Promise<unknown> {
    if (signal?.aborted) throw aborted(method, signal, false);
    const subject = this.subject(method);
    const data = this.codec.encode(args, this.maxMessageBytes, "args");
    if (sizes !== undefined) sizes.request = data.length;
    const start = performance.now();
    const nc = await this.connection(timeoutMs);
    if (signal?.aborted) throw aborted(method, signal, false);
    checkSize(data.length, nc);
    const left = timerMs(timeoutMs - (performance.now() - start));
    const callId = newCallId();
    let reply: { data: Uint8Array; header: HeaderLookup | undefined };
    try {
      if (this.seal === undefined) {
        const headers = toHeaders((await natsLibrary()).headers, requestHeaderPairs(left, callId, metadata));
        const msg: Msg = await abortable(nc.request(subject, data, { timeout: left, headers }), method, signal);
        reply = { data: msg.data, header: headerLookup(msg) };
      } else {
        // Sealed (a token): the context travels inside the sealed payload (src/nats/auth.ts).
        const opened = await abortable(sealedRequest(nc, this.seal, subject, data, left, this.dropped, requestHeaderPairs(left, callId, metadata)), method, signal);
        reply = { data: opened.data, header: (name) => opened.headers[name] };
      }
    } catch (e) {
      if (this.closed) throw closingError(this.serverName, true); // sent, then its client closed
      const err = e instanceof RpcError ? e : this.failure(e, method, timeoutMs);
      // The caller gave up: tell the service (best effort), so that a context handler's signal aborts.
      if (err.code === ErrorCodes.ERR_RPC_TIMEOUT || err.code === ErrorCodes.ERR_RPC_ABORTED) this.cancel(nc, callId, err.code === ErrorCodes.ERR_RPC_TIMEOUT);
      throw err;
    }
    const value = replyValue(this.codec, reply.data, reply.header, this.serverName);
    if (sizes !== undefined) sizes.response = reply.data.length;
    return value;
  }

  /** A stream call or a call with a streamed argument (src/nats/stream.ts): one attempt,
   *  its whole deadline. */
  private async streamAsync(call: Call, timeoutMs: number): Promise<unknown> {
    const signal = call.settings.signal;
    if (signal?.aborted) throw aborted(call.method, signal, false);
    const subject = this.subject(call.method);
    const streamed = streamedArg(call.args);
    let args = call.args;
    if (streamed >= 0) {
      args = args.slice();
      args[streamed] = null; // its items follow the request
    }
    const data = this.codec.encode(args, this.maxMessageBytes, "args");
    const start = performance.now();
    const nc = await this.connection(timeoutMs);
    if (signal?.aborted) throw aborted(call.method, signal, false);
    checkSize(data.length, nc);
    return streamOverNats(this, nc, subject, data, call, timerMs(timeoutMs - (performance.now() - start)), streamed, this.maxMessageBytes);
  }

  private cancel(nc: NatsConnection, callId: string, timedOut: boolean): void {
    try {
      nc.publish(cancelSubject(this.service), cancelMessage(callId, timedOut));
    } catch {
      // Closed or draining: the handler's caller is gone anyway.
    }
  }

  private requestSync(method: string, args: unknown[], timeoutMs: number, metadata: Metadata | undefined, sizes: MessageSizes | undefined): unknown {
    if (this.closed) throw closedError(this.serverName);
    const subject = this.subject(method);
    const data = this.codec.encode(args, this.maxMessageBytes, "args");
    if (sizes !== undefined) sizes.request = data.length;
    this.sync ??= new SyncBridge(this.options, this.tokenKey);
    const reply = this.sync.request(subject, data, timeoutMs, requestHeaderPairs(timeoutMs, newCallId(), metadata), cancelSubject(this.service));
    if (!reply.ok) {
      throw new RpcError(reply.code, `call to "${method}" on ${this.serverName} over NATS failed: ${reply.message}`, { maybeExecuted: reply.maybeExecuted });
    }
    const headers = reply.headers;
    const value = replyValue(this.codec, reply.data, headers === undefined ? undefined : (name) => headers[name], this.serverName);
    if (sizes !== undefined) sizes.response = reply.data.length;
    return value;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const nc = this.nc;
    this.nc = undefined;
    if (nc !== undefined && this.up) {
      this.up = false;
      this.events?.disconnect(nc.getServer(), "the client closed");
    }
    void nc?.close().catch(() => {});
    this.sync?.close();
    this.codec.dispose();
  }

  private subject(method: string): string {
    let subject = this.subjects.get(method);
    if (subject === undefined) {
      if (typeof method !== "string" || method.length === 0 || Buffer.byteLength(method) > METHOD_NAME_MAX_BYTES) {
        throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `method name must be a non-empty string of at most ${METHOD_NAME_MAX_BYTES} UTF-8 bytes`);
      }
      subject = methodSubject(this.service, method);
      if (this.subjects.size < 4096) this.subjects.set(method, subject);
    }
    return subject;
  }

  /** The connection, made on first use (one attempt at a time, shared by every caller). */
  private connection(timeoutMs: number): Promise<NatsConnection> {
    if (this.closed) return Promise.reject(closedError(this.serverName));
    if (this.nc !== undefined && !this.nc.isClosed()) return Promise.resolve(this.nc);
    this.connecting ??= connectNats(this.options, timeoutMs).then(
      (nc) => {
        this.connecting = undefined;
        if (this.closed) {
          void nc.close();
          throw closedError(this.serverName);
        }
        this.nc = nc;
        this.watch(nc);
        return nc;
      },
      (e) => {
        this.connecting = undefined;
        throw e;
      },
    );
    return this.connecting;
  }

  /** Tells the Client's events what the library's status iterator says of `nc`. */
  private watch(nc: NatsConnection): void {
    if (this.events === undefined) return;
    const events = this.events;
    this.up = true;
    events.connect(nc.getServer());
    void (async () => {
      for await (const s of nc.status()) {
        if (this.closed || this.nc !== nc) return;
        if (s.type === "disconnect" && this.up) {
          this.up = false;
          events.disconnect(s.server, "the connection to the NATS server was lost (reconnecting)");
        } else if (s.type === "reconnect" && !this.up) {
          this.up = true;
          events.connect(s.server);
        }
      }
    })().catch(() => {});
    // Closed for good (not by close()): the library gave up reconnecting.
    void nc.closed().then((err) => {
      if (this.closed || this.nc !== nc || !this.up) return;
      this.up = false;
      events.disconnect(nc.getServer(), `the NATS connection closed${err ? `: ${err.message}` : ""}`);
    });
  }

  private failure(e: unknown, method: string, timeoutMs: number): RpcError {
    const f = requestFailure(e);
    const what = f.code === ErrorCodes.ERR_RPC_TIMEOUT ? `no reply within ${Math.round(timeoutMs)} ms`
      : f.code === ErrorCodes.ERR_RPC_NOT_CONNECTED ? "no server serves it on NATS" : f.message;
    return new RpcError(f.code, `call to "${method}" on ${this.serverName} over NATS: ${what}`, { cause: e, maybeExecuted: f.maybeExecuted });
  }
}

/** Over the NATS server's max_payload: refused before sending (no chunking: NATS servers
 *  are configured with the largest message they accept, and we keep to it). */
export function checkSize(bytes: number, nc: { info?: { max_payload: number } }): void {
  const max = nc.info?.max_payload;
  if (max !== undefined && bytes > max) {
    throw new RpcError(ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE, `request of ${bytes} bytes is over the NATS server's max_payload (${max})`, { maybeExecuted: false });
  }
}

/** A timeout as setTimeout takes it: at least 1 ms, at most 2^31 - 1 (more would fire at once). */
export function timerMs(ms: number): number {
  return Math.max(1, Math.min(ms, 2 ** 31 - 1));
}

function headerLookup(msg: Msg): HeaderLookup | undefined {
  const h = msg.headers;
  if (h === undefined) return undefined;
  return (name) => (h.has(name) ? h.get(name) : undefined);
}

function aborted(method: string, signal: AbortSignal, sent: boolean): RpcError {
  return new RpcError(ErrorCodes.ERR_RPC_ABORTED, `call to "${method}" was aborted ${sent ? "while pending" : "before it was sent"}`, { cause: signal.reason, maybeExecuted: sent });
}

function abortable<T>(p: Promise<T>, method: string, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(aborted(method, signal, true));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}


