// The per-call context a handler bound with `{ context: true }` gets as its last argument,
// the same over every transport. Made only for such handlers: the others cost nothing.

import { RpcError, ErrorCodes, type ErrorCode } from "../errors.js";

/** Who called, as the transport knows it. */
export type Caller = ShmCaller | NatsCaller | ThreadCaller;

/** A caller on this host, as the kernel reported it when it connected (SO_PEERCRED). */
export interface ShmCaller {
  /** Over shared memory. */
  readonly transport: "shm";
  /** The caller's process id. */
  readonly pid: number;
  /** Its user id. */
  readonly uid: number;
  /** Its group id. */
  readonly gid: number;
}

/** A caller over NATS: what the message says (NATS gives no identity of the publisher). */
export interface NatsCaller {
  /** Over NATS. */
  readonly transport: "nats";
  /** The subject the request came on. */
  readonly subject: string;
  /** Its reply subject (the caller's inbox). */
  readonly reply: string;
}

/** A caller in another thread of this process or page (shmrpc/threads). */
export interface ThreadCaller {
  /** Over a thread connection. */
  readonly transport: "thread";
  /** The connection's number on its server (1 for the first `connect()`). */
  readonly connection: number;
}

/** What a `{ context: true }` handler gets after the call's arguments. */
export interface CallContext {
  /** The method called. */
  readonly method: string;
  /** Aborted, with an RpcError as its reason, when the caller gives up (ERR_RPC_TIMEOUT,
   *  ERR_RPC_ABORTED), goes (ERR_RPC_DISCONNECTED: close() or its death) or the server
   *  closes. */
  readonly signal: AbortSignal;
  /** The caller's deadline, in ms since the epoch (from its remaining time when sent). */
  readonly deadline: number;
  /** Who called, as the transport knows it. */
  readonly caller: Caller;
  /** The caller's metadata (lowercase keys, string values). */
  readonly metadata: Readonly<Record<string, string>>;
}

export const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

/** A context handler's call in progress: its context and what aborts it. */
export class Running {
  readonly controller = new AbortController();
  readonly context: CallContext;
  constructor(method: string, deadline: number, caller: Caller, metadata: Readonly<Record<string, string>>) {
    this.context = { method, signal: this.controller.signal, deadline, caller, metadata };
  }

  abort(code: ErrorCode, message: string): void {
    if (!this.controller.signal.aborted) this.controller.abort(new RpcError(code, message));
  }
}

/** Why a caller cancelled (the reason byte of a CANCEL record, src/protocol.ts). */
export const CancelReason = { TIMEOUT: 1, ABORTED: 2 } as const;

export function cancelCode(reason: number): ErrorCode {
  return reason === CancelReason.TIMEOUT ? ErrorCodes.ERR_RPC_TIMEOUT : ErrorCodes.ERR_RPC_ABORTED;
}
