// The NATS options of the public API, declared here rather than taken from @nats-io's types:
// shmrpc's declarations must not pull the NATS library's types into a program that never uses
// NATS (they fail to type-check under some consumer settings, exactOptionalPropertyTypes for one).
// This file imports nothing; connect.ts turns these options into the library's.

/** Where and how to connect to NATS; passed through to `@nats-io/transport-node`. */
export interface NatsOptions {
  /** One URL ("nats://127.0.0.1:4222") or several (a cluster's nodes). */
  servers: string | string[];
  /** The user, if the NATS server requires a user and password. */
  user?: string;
  /** The user's password. */
  pass?: string;
  /** An authentication token, if the NATS server requires one. */
  token?: string;
  /** TLS options (`{ ca, cert, key, caFile, certFile, keyFile, handshakeFirst }`), as the library takes them. */
  tls?: Record<string, unknown>;
  /** The connection's name, as NATS monitoring shows it. */
  name?: string;
  /** Streams: when a side of a stream has heard nothing from the other for this long (ms),
   *  it probes it; a peer gone (killed, cut off) ends the stream within about twice this:
   *  the caller's loop fails with ERR_RPC_DISCONNECTED, the server's generator is closed
   *  and its ctx.signal aborts. Default 5000; 0: off (a dead peer ends a stream only at
   *  its deadline). */
  livenessMs?: number;
}

/** A server's `nats` option: a URL or {@link NatsOptions}. */
export type NatsTarget = string | NatsOptions;

/** A Client's `nats` option. When its name is a NATS URL: credentials, TLS and more
 *  servers (`servers` optional). When its name is local ("/calc"): the NATS server(s) to
 *  call when no instance of the name is live on this host — a URL, or options whose
 *  `servers` names them. */
export type NatsClientOptions = string | Partial<NatsOptions>;

/** What shmrpc hands the library's `connect()`: the subset of its ConnectionOptions shmrpc
 *  sets, structured-clonable (it crosses to the worker thread of synchronous calls). */
export interface ConnectOptions {
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  name?: string;
  tls?: Record<string, unknown>;
  maxReconnectAttempts: number;
  reconnectTimeWait: number;
  /** NatsOptions.livenessMs (not the library's: connectNats leaves it out). */
  livenessMs: number;
}
