// The Server's public types and the check of bind()'s options (src/server.ts re-exports them).

import { RpcError, ErrorCodes } from "../errors.js";
import type { NatsTarget } from "../nats/options.js";

/** A method's implementation: takes the call's arguments, returns a value or a Promise.
 *  (`any` parameters, so that handlers can declare their own argument types; nothing
 *  checks them at run time unless the method comes from a contract.) */
export type Handler = (...args: any[]) => unknown;

/** Options of `Server.bind`. */
export interface BindOptions {
  /** Hand the handler its `Buffer` and `Uint8Array` arguments as views of the bytes
   *  where they arrived (the request ring, or memory the connection reuses for big
   *  messages) instead of fresh copies: no allocation and no page faults per call.
   *  A view is valid only until the handler returns; for a handler that returns a
   *  promise, until the promise settles, and the connection's later calls wait until
   *  then. Bytes kept past that are overwritten by later calls: copy what you keep
   *  (`Buffer.from(view)`). Returning a view (an echo) is fine: the result is encoded
   *  before the memory is reused. Other typed arrays and `ArrayBuffer`s are copied as
   *  usual. A view of the request ring is memory the client can still write: a bind()
   *  handler may see its bytes change under it (check what matters on a copy). With
   *  implement(), a request in the ring is copied to private memory first, validated
   *  there, and the views point into that copy. A client that leaves while a view
   *  handler runs or waits leaves its memory mapped until the handler is done.
   *  Default false. */
  view?: boolean;
  /** Pass the handler one more argument after the call's arguments: its context
   *  `{ method, signal, deadline, caller, metadata }` (see {@link CallContext}): `signal`
   *  aborts when the caller gives up, goes, or the server closes. Default false. */
  context?: boolean;
}

/** The `view` of bind()'s or implement()'s options: a mistyped option is refused, not
 *  taken as false (a handler would silently get copies, or views it did not expect). */
export function viewOption(options: BindOptions | undefined): boolean {
  if (options === undefined) return false;
  if (options === null || typeof options !== "object" || (options.view !== undefined && typeof options.view !== "boolean")
    || (options.context !== undefined && typeof options.context !== "boolean")) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "bind options must be an object whose view and context are booleans");
  }
  return options.view === true;
}

/** A boolean option (undefined: false); anything else is refused. */
export function flagOption(value: unknown, what: string): boolean {
  if (value !== undefined && typeof value !== "boolean") {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ${what} must be a boolean`);
  }
  return value === true;
}

/** A list of numeric user or group ids (undefined: none); anything else is refused. */
export function idsOption(list: unknown, what: string): Set<number> {
  if (list === undefined) return new Set();
  if (!Array.isArray(list) || !list.every((id) => Number.isInteger(id) && id >= 0 && id < 2 ** 32 - 1)) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ${what} must be an array of numeric ids`);
  }
  return new Set(list as number[]);
}

/** Options of {@link Server}; every one has a default. */
export interface ServerOptions {
  /** Largest message accepted or sent, encoded (default 128 MiB). */
  maxMessageBytes?: number;
  /** Never park: poll the rings continuously for the lowest latency (one core at 100%). */
  busyPoll?: boolean;
  /** How long to keep polling after the last message before parking (default 50 µs). */
  spinMicros?: number;
  /** Called with connection-level problems (a client broke the protocol, was refused or
   *  dropped, and with catchUnhandledRejections a rejection nobody handled); default: console.warn. */
  onError?: (err: RpcError) => void;
  /** Responses a client may leave unread (queued beyond its full ring) before the server
   *  drops it with ERR_RPC_RESOURCE_EXHAUSTED (default 64 MiB; one message of any size is always allowed). */
  maxQueuedBytes?: number;
  /** Other users (uids) allowed to connect; by default only the server's own user can.
   *  Needs `socketPath` in a directory they can reach. */
  allowUsers?: number[];
  /** Groups (gids) whose members may connect (the client process's effective group). */
  allowGroups?: number[];
  /** A shared secret every client must prove it knows (`ClientOptions.token`), by an HMAC
   *  over fresh nonces: never sent, never replayable. */
  token?: string | Uint8Array;
  /** Opt-in: while the server runs, report every promise rejection of the process that no
   *  one handled (say, a promise a handler forgot) through `onError` instead of letting
   *  Node's policy apply (by default it ends the process). This takes over the whole
   *  process's unhandled rejections, the host application's too. Default false. */
  catchUnhandledRejections?: boolean;
  /** Where to listen, instead of the per-user runtime directory (for serving other users). */
  socketPath?: string;
  /** Send a handler's stack (with this server's file paths) to the caller in `err.remote.stack`
   *  (default false: callers get the error's name, message and code, and an empty stack). */
  exposeStacks?: boolean;
  /** Largest ring a client may ask for, in bytes (default 64 MiB). */
  maxRingBytes?: number;
  /** Shared memory all connections together may take, with the one kept ready for the
   *  next client, in bytes (default 1 GiB). */
  maxMappedBytes?: number;
  /** Connections served at once, handshakes included (default 1024). */
  maxConnections?: number;
  /** Connections of one user (uid) at once, handshakes included (default 512): more are
   *  refused with ERR_RPC_SERVER_FULL. */
  maxConnectionsPerUser?: number;
  /** Shared memory the connections of one user may take (default 512 MiB): more is
   *  refused with ERR_RPC_RESOURCE_EXHAUSTED. */
  maxMappedBytesPerUser?: number;
  /** Refusals (peers not allowed, wrong tokens, NATS requests that do not open under the
   *  token, accepts the fd limit stopped) go to onError in aggregate: the first after a quiet
   *  interval at once, the rest of the interval as one summary at its end (default 1000 ms;
   *  0: each refusal on its own). */
  refusalReportMs?: number;
  /** Memory that fragmented requests not finished yet may hold, over all clients (their
   *  reassembly regions and the part of their tails that arrived; default 512 MiB). A
   *  request that would go over is skipped and answered ERR_RPC_RESOURCE_EXHAUSTED. */
  maxReassemblyBytes?: number;
  /** The same, for the clients of one user (uid) together (default 256 MiB). */
  maxReassemblyBytesPerUser?: number;
  /** Calls of one connection whose handler's promise has not settled; a call beyond it
   *  is answered ERR_RPC_RESOURCE_EXHAUSTED without running (default 1024). */
  maxInflightPerConnection?: number;
  /** Responses all clients together may leave unread (queued beyond their full rings);
   *  over it, the client with the most is dropped with ERR_RPC_RESOURCE_EXHAUSTED
   *  (default 256 MiB; see maxQueuedBytes for one client). */
  maxQueuedBytesTotal?: number;
  /** How long a client may take to finish its handshake (default 5000 ms). */
  handshakeTimeoutMs?: number;
  /** Serve the name as one of several replicas, each a process (or Server) of its own,
   *  among which clients balance their calls (default false: the name is this server's
   *  alone). Neither kind can join a name the other kind serves: ERR_RPC_ADDRESS_IN_USE. */
  replica?: boolean;
  /** Also serve over NATS: a URL ("nats://127.0.0.1:4222") or `{ servers, user, pass, token, tls }`.
   *  The methods become endpoints of the NATS service named after the server (see README,
   *  "Beyond one host"); `ready()` resolves once NATS has the subscriptions. */
  nats?: NatsTarget;
}

/** What `connect` and `disconnect` events carry: the peer as the kernel reported it
 *  when it connected (SO_PEERCRED), not as it described itself. */
export interface PeerInfo {
  /** The peer's process id. */
  pid: number;
  /** Its user id. */
  uid: number;
  /** Its group id (the server's side only knows it for clients). */
  gid?: number;
  /** For `disconnect`: why the connection ended. */
  reason?: string;
}

