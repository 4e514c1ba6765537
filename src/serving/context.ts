// The per-call context a handler bound with `{ context: true }` gets as its last argument,
// the same over every transport; middleware (src/serving/middleware.ts) gets the same
// object with the call's arguments. Made only for such handlers and when middleware is
// registered: the others cost nothing. Its signal (an AbortController) and its state are
// made when first read: a context nobody asks them of costs one small object.

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
  /** The call's own object, which server middleware (`server.use`) may fill for the
   *  handler: the same object in every middleware and in the handler's context. */
  readonly state: Record<string | symbol, unknown>;
}

export const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});
const NO_ARGS: readonly unknown[] = Object.freeze([]);

/** A call's context: signal and state made on first read. */
export class Context implements CallContext {
  #controller: AbortController | undefined;
  #reason: RpcError | undefined;
  #state: Record<string | symbol, unknown> | undefined;
  /** The deadline; while #since is not 0, the time left from #since instead. */
  #deadline: number;
  /** When the time left in #deadline counts from (performance.now()), or 0. */
  #since = 0;
  /** The call's arguments, decoded (and validated, with a contract): what middleware sees. */
  args: readonly unknown[] = NO_ARGS;
  /** The handler has started (with middleware: set at the end of the chain). A status a
   *  middleware threw before it did tells the caller that nothing ran (src/serving/status.ts). */
  entered = false;
  /** The request's encoded arguments, in bytes (-1: unknown); see MiddlewareContext. */
  requestBytes = -1;
  /** Told the encoded result's size once it is sent; see MiddlewareContext. */
  onAnswered: ((bytes: number) => void) | undefined = undefined;
  constructor(
    readonly method: string,
    deadline: number,
    readonly caller: Caller,
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    this.#deadline = deadline;
  }

  /** The deadline is `leftMs` after `since` (a performance.now() reading already made):
   *  turned into wall-clock time on first read, so a call whose context nobody asks for
   *  its deadline reads no clock. */
  deadlineAfter(since: number, leftMs: number): void {
    this.#since = since;
    this.#deadline = leftMs;
  }

  get deadline(): number {
    if (this.#since !== 0) {
      this.#deadline += Date.now() - (performance.now() - this.#since);
      this.#since = 0;
    }
    return this.#deadline;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get state(): Record<string | symbol, unknown> {
    return (this.#state ??= {});
  }

  /** Aborts the signal with an RpcError (a signal made later is made aborted). */
  abort(code: ErrorCode, message: string): void {
    if (this.#reason !== undefined) return;
    this.#reason = new RpcError(code, message);
    this.#controller?.abort(this.#reason);
  }
}

/** A call in progress that has a context: its context and what aborts it. */
export class Running {
  readonly context: Context;
  constructor(method: string, deadline: number, caller: Caller, metadata: Readonly<Record<string, string>>) {
    this.context = new Context(method, deadline, caller, metadata);
  }

  abort(code: ErrorCode, message: string): void {
    this.context.abort(code, message);
  }
}

/** Why a caller cancelled (the reason byte of a CANCEL record, src/protocol.ts). */
export const CancelReason = { TIMEOUT: 1, ABORTED: 2 } as const;

export function cancelCode(reason: number): ErrorCode {
  return reason === CancelReason.TIMEOUT ? ErrorCodes.ERR_RPC_TIMEOUT : ErrorCodes.ERR_RPC_ABORTED;
}
