// The client's side of connecting: connects to the server's socket, checks who is
// listening (the kernel's credentials: a server of this user unless told otherwise),
// runs the handshake, and maps the sealed memory the server hands over. Nothing is
// sent before the server's user is known, so a server of another user that took a
// name never learns anything from a client that did not name it. Driven either
// synchronously (a blocking call's first use) or from the event loop.

import { native, Poll } from "../native.js";
import { L } from "../core/layout.js";
import { Segment, roundToPages } from "../core/segment.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { timerDelay } from "../timers.js";
import { Link, READABLE } from "./link.js";
import { systemError } from "../lifecycle.js";
import {
  Msg, MAX_MESSAGE_BYTES, HELLO_HAS_TOKEN, parseMessage, helloMessage, authMessage,
  newNonce, serverProof, clientProof, sameProof, type Refuse,
} from "./handshake.js";

export interface ConnectorOptions {
  name: string;
  path: string;
  /** The user the server must run as (default: this process's own). */
  serverUid: number;
  ringBytes: number;
  tokenKey: Buffer | undefined;
}

export interface Connected {
  link: Link;
  seg: Segment;
  requestRing: number;
  responseRing: number;
  serverPid: number;
}

export class Connector {
  readonly link: Link;
  private readonly nonce = newNonce();
  /** The server's nonce, once its CHALLENGE came: its ACCEPT must then prove the token. */
  private serverNonce: Buffer | undefined;
  private readonly buffer = Buffer.alloc(MAX_MESSAGE_BYTES + 1);
  private done = false;

  /** Connects and says hello; throws ERR_RPC_NOT_CONNECTED when no server listens. */
  constructor(private readonly o: ConnectorOptions) {
    let fd: number;
    try {
      fd = native.connectUnix(o.path);
    } catch (e) {
      throw systemError(e, `no server on ${o.name} (${o.path})`);
    }
    this.link = new Link(fd);
    try {
      const cred = native.peerCred(fd);
      if (cred.uid !== o.serverUid) {
        throw new RpcError(
          ErrorCodes.ERR_RPC_ACCESS_DENIED,
          `the server on ${o.path} runs as uid ${cred.uid}, not ${o.serverUid}: not talking to it (pass the option serverUid to trust another user's server)`,
        );
      }
      const flags = o.tokenKey ? HELLO_HAS_TOKEN : 0;
      try {
        if (!this.link.send(helloMessage(o.ringBytes, flags, this.nonce))) throw new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, `server ${o.name} is not reading its socket`);
      } catch (e) {
        // A server that refused us at once (credentials, connection count) may have
        // hung up already: its REFUSE waits to be read by step().
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== "EPIPE" && code !== "ECONNRESET") throw e;
      }
    } catch (e) {
      this.link.close();
      throw systemError(e, `cannot connect to ${o.name}`);
    }
  }

  get fd(): number {
    return this.link.fd;
  }

  /** Handles the messages that arrived: the connection once accepted, undefined while
   *  more must come. Throws (and closes) when refused or when the server misbehaves. */
  step(): Connected | undefined {
    try {
      for (;;) {
        const packet = native.recvPacket(this.link.fd, this.buffer);
        if (packet === null) return undefined;
        try {
          if (packet.bytes === 0) throw new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, `server ${this.o.name} closed the connection during the handshake`);
          if (packet.truncated) throw this.broken("an oversized handshake message");
          const m = parseMessage(this.buffer, packet.bytes);
          if (typeof m === "string") throw this.broken(m);
          if (m.type === Msg.REFUSE) throw refusedError(this.o.name, m.refuse);
          if (m.type === Msg.CHALLENGE) {
            const key = this.o.tokenKey;
            if (key === undefined) throw new RpcError(ErrorCodes.ERR_RPC_ACCESS_DENIED, `server ${this.o.name} requires a token (option token)`);
            if (this.serverNonce !== undefined) throw this.broken("a second CHALLENGE");
            // We prove first: the server is of the uid we trust (checked above), and proves
            // the token back in its ACCEPT before we use the connection.
            this.serverNonce = m.challenge.nonce;
            this.link.send(authMessage(clientProof(key, this.nonce, m.challenge.nonce)));
            continue;
          }
          if (m.type !== Msg.ACCEPT) throw this.broken(`message type ${m.type} out of turn`);
          if (packet.fds.length !== 1) throw this.broken(`an ACCEPT with ${packet.fds.length} fds`);
          const fd = packet.fds.pop()!;
          const a = m.accept;
          if (this.serverNonce !== undefined && !sameProof(a.proof, serverProof(this.o.tokenKey!, this.nonce, this.serverNonce))) {
            native.closeFd(fd);
            throw new RpcError(ErrorCodes.ERR_RPC_ACCESS_DENIED, `server ${this.o.name} could not prove that it knows the token`);
          }
          const expected = roundToPages(L.CONN_HEADER_BYTES + 2 * L.RING_HEADER_BYTES + a.requestRing + a.responseRing);
          if (a.version !== L.PROTOCOL_VERSION || a.requestRing !== this.o.ringBytes || a.responseRing !== this.o.ringBytes || a.size !== expected) {
            native.closeFd(fd);
            throw this.broken(`an ACCEPT for other rings (version ${a.version}, ${a.requestRing}/${a.responseRing} bytes in ${a.size})`);
          }
          const seg = Segment.adopt(fd, a.size);
          if (
            seg.load(L.SEG_MAGIC) !== L.MAGIC_LO || seg.load(L.SEG_MAGIC + 4) !== L.MAGIC_HI || seg.load(L.SEG_VERSION) !== L.PROTOCOL_VERSION ||
            seg.load(L.SEG_SIZE) !== a.size || seg.load(L.CONN_REQ_CAPACITY) !== a.requestRing || seg.load(L.CONN_RES_CAPACITY) !== a.responseRing
          ) {
            seg.close();
            throw this.broken("shared memory whose header does not match its ACCEPT");
          }
          this.done = true;
          return { link: this.link, seg, requestRing: a.requestRing, responseRing: a.responseRing, serverPid: a.pid };
        } finally {
          for (const fd of packet.fds) native.closeFd(fd);
        }
      }
    } catch (e) {
      this.abandon();
      throw systemError(e, `cannot connect to ${this.o.name}`);
    }
  }

  /** Gives up: closes the socket unless the connection was made. */
  abandon(): void {
    if (!this.done) this.link.close();
  }

  private broken(why: string): RpcError {
    return new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.o.name} broke the handshake: ${why}`);
  }
}

/** True when connecting failed only because the server's accept queue is full (a
 *  flood of connections, or a server busy for a moment): worth trying again shortly. */
function queueFull(e: unknown): boolean {
  return e instanceof RpcError && (e.cause as NodeJS.ErrnoException | undefined)?.code === "EAGAIN";
}

/** Longest pause between two connects to a full accept queue. */
const QUEUE_FULL_RETRY_MAX_MS = 50;

/** Connects (trying again while the accept queue is full), blocking until `deadline`. */
function openSync(o: ConnectorOptions, deadline: number): Connector {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let backoff = 1; ; backoff = Math.min(2 * backoff, QUEUE_FULL_RETRY_MAX_MS)) {
    try {
      return new Connector(o);
    } catch (e) {
      const left = deadline - performance.now();
      if (!queueFull(e) || left <= 0) throw e;
      Atomics.wait(pause, 0, 0, Math.min(backoff, left));
    }
  }
}

/** Connects, blocking this thread for at most `timeoutMs`. */
export function connectSync(o: ConnectorOptions, timeoutMs: number): Connected {
  const deadline = performance.now() + timeoutMs;
  return finish(openSync(o, deadline), o.name, deadline);
}

function finish(c: Connector, name: string, deadline: number): Connected {
  for (;;) {
    const done = c.step();
    if (done) return done;
    const left = deadline - performance.now();
    if (left <= 0) {
      c.abandon();
      throw new RpcError(ErrorCodes.ERR_RPC_TIMEOUT, `server ${name} did not finish the handshake in time`, { maybeExecuted: false });
    }
    native.pollFd(c.fd, Poll.IN | Poll.RDHUP, left);
  }
}

/** A handshake driven from the event loop, which a synchronous caller may take over
 *  (`completeSync`) when it cannot wait for the loop. */
export class Handshaking {
  readonly promise: Promise<Connected>;
  private resolve!: (made: Connected) => void;
  private reject!: (err: unknown) => void;
  private c: Connector | undefined;
  private readonly deadline: number;
  private readonly timer: NodeJS.Timeout;
  private retry: NodeJS.Timeout | undefined;
  private backoff = 1;
  private settled = false;

  /** Connects and says hello; throws at once when no server listens or it is refused
   *  outright; rejects after `timeoutMs`. While the server's accept queue is full it
   *  tries again, backing off from 1 to 50 ms. */
  constructor(private readonly o: ConnectorOptions, timeoutMs: number) {
    this.deadline = performance.now() + timeoutMs;
    this.promise = new Promise<Connected>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.timer = setTimeout(() => {
      this.c?.abandon();
      this.settle(new RpcError(ErrorCodes.ERR_RPC_TIMEOUT, `server ${o.name} did not finish the handshake within ${Math.round(timeoutMs)} ms`, { maybeExecuted: false }));
    }, timerDelay(timeoutMs));
    try {
      this.open();
    } catch (e) {
      this.settled = true;
      clearTimeout(this.timer);
      throw e;
    }
  }

  /** One connect: watched from the event loop, or tried again later if the queue is full. */
  private open(): void {
    try {
      this.c = new Connector(this.o);
    } catch (e) {
      if (!queueFull(e) || performance.now() + this.backoff >= this.deadline) throw e;
      this.retry = setTimeout(() => {
        if (this.settled) return;
        try {
          this.open();
        } catch (err) {
          this.settle(err);
        }
      }, this.backoff);
      this.backoff = Math.min(2 * this.backoff, QUEUE_FULL_RETRY_MAX_MS);
      return;
    }
    const c = this.c;
    c.link.onEvent = (events) => {
      try {
        const done = c.step();
        if (done) return this.settle(undefined, done);
        if ((events & READABLE) === 0) throw new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, `server ${this.o.name} hung up during the handshake`);
      } catch (e) {
        c.abandon();
        this.settle(e);
      }
    };
    c.link.watch();
  }

  /** Gives up now (its Client closed): the connection is dropped, its timers stopped,
   *  and the promise rejects with `err`. */
  cancel(err: RpcError): void {
    if (this.settled) return;
    this.c?.abandon();
    this.settle(err);
  }

  /** Finishes the handshake now, blocking this thread for at most `timeoutMs`. */
  completeSync(timeoutMs: number): Connected {
    clearTimeout(this.retry);
    this.c?.link.unwatch();
    const deadline = Math.min(this.deadline, performance.now() + timeoutMs);
    try {
      this.c ??= openSync(this.o, deadline);
      const made = finish(this.c, this.o.name, deadline);
      this.settle(undefined, made);
      return made;
    } catch (e) {
      this.settle(e);
      throw e;
    }
  }

  private settle(err: unknown, made?: Connected): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    clearTimeout(this.retry);
    if (this.c) {
      this.c.link.unwatch();
      this.c.link.onEvent = () => {};
    }
    if (made) this.resolve(made);
    else this.reject(err);
  }
}

function refusedError(name: string, r: Refuse): RpcError {
  const text = `server ${name} refused the connection: ${r.text}`;
  if (r.reason === L.REASON_ACCESS) return new RpcError(ErrorCodes.ERR_RPC_ACCESS_DENIED, text);
  if (r.reason === L.REASON_RESOURCE) return new RpcError(ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED, text);
  if (r.reason === L.REASON_FULL) return new RpcError(ErrorCodes.ERR_RPC_SERVER_FULL, text);
  if (r.reason === L.REASON_VERSION) {
    return new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${name} speaks protocol version ${r.version}, this client version ${L.PROTOCOL_VERSION}: ${r.text}`);
  }
  if (r.reason === L.REASON_CLOSED) return new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, text);
  return new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, text);
}
