// A synchronous call's wait: polls for its response, spinning, yielding, then sleeping
// on the connection's doorbell (the policy is src/core/spin.ts's), with its deadline
// and the server's liveness checked on the way.

import { Spin, QUICK_POLLS } from "../core/spin.js";
import { native } from "../native.js";
import { RpcError, ErrorCodes } from "../errors.js";
import type { MessageSizes } from "./transport.js";
import { LIVENESS_MS, withdraw, type CallHost, type Connection } from "./connection.js";
import type { Receiver } from "./receive.js";

export class SyncCall {
  /** The id of the call in progress, or -1. */
  id = -1;
  /** The last call's first clock reading (performance.now()), from which its deadline
   *  counts; -1 when it was answered before any. */
  startedAt = -1;
  private done = false;
  private value: unknown;
  private error: RpcError | undefined;
  /** Where the call in progress wants its response's size (CallSettings.sizes), if it does. */
  sizes: MessageSizes | undefined = undefined;
  private readonly spin: Spin;

  constructor(
    private readonly host: CallHost,
    private readonly receiver: Receiver,
    spinMs: number,
    busyPoll: boolean,
  ) {
    // A synchronous call reads the clock on every poll once past its quick polls.
    this.spin = new Spin(spinMs, busyPoll, 1, native.yieldCpu);
  }

  /** True while a call waits. */
  get busy(): boolean {
    return this.id >= 0;
  }

  /** Waits for the response to request `id`, just sent on `conn`: returns its value
   *  or throws its error (or ERR_RPC_TIMEOUT, or why the connection ended). */
  wait(conn: Connection, id: number, method: string, timeoutMs: number): unknown {
    this.id = id;
    this.done = false;
    this.value = undefined;
    this.error = undefined;
    // The first polls go without the clock, and most responses are in by then. The
    // deadline counts from the first reading, a microsecond or two after the send: it
    // can be that much late, never early.
    // A server that was parked (the send woke it) cannot answer before it is scheduled:
    // wait parked from the start, leaving the CPU to it (on a busy host, to whoever).
    const spin = this.spin;
    const serverParked = conn.serverBell.wokeServer;
    spin.begin(serverParked ? 0 : QUICK_POLLS, serverParked);
    let deadline = -1;
    this.startedAt = -1;
    try {
      for (;;) {
        if (!conn.channel.idle && conn.channel.flush()) conn.serverBell.ring();
        const got = this.receiver.receive(conn);
        if (this.done) break;
        if (!spin.due(got)) continue;
        const now = performance.now();
        if (deadline < 0) {
          deadline = now + timeoutMs;
          this.startedAt = now;
        }
        if (now >= deadline) {
          throw new RpcError(ErrorCodes.ERR_RPC_TIMEOUT, `call to "${method}" on ${this.host.name} timed out after ${Math.round(timeoutMs)} ms`, { maybeExecuted: withdraw(conn, id) });
        }
        try {
          this.host.checkServer(conn, now);
        } catch (e) {
          if (!this.done) throw e;
        }
        if (this.done) break; // settled by disconnect(): its error says whether it may have run
        if (!spin.tick(now)) continue;
        // Park: sleep on the doorbell (the idle stretch goes on: after a wake-up without
        // the response it sleeps again at once).
        const seq = conn.bell.park();
        if (conn.channel.reader.empty() && !conn.channel.canFlush()) {
          conn.bell.sleep(seq, Math.min(deadline - now, LIVENESS_MS));
        }
        conn.bell.unpark();
      }
    } finally {
      this.id = -1;
      this.sizes = undefined;
    }
    if (this.error) {
      const err = this.error;
      this.error = undefined;
      throw err;
    }
    const value = this.value;
    this.value = undefined;
    return value;
  }

  /** Its response arrived (from the Receiver). */
  settle(value: unknown, err: RpcError | undefined, bytes: number): void {
    if (this.sizes !== undefined && err === undefined) this.sizes.response = bytes;
    this.done = true;
    this.value = value;
    this.error = err;
  }

  /** The connection ended while it waited: fails it with `failure(id)`. */
  fail(failure: (id: number) => RpcError): void {
    if (this.id >= 0 && !this.done) {
      this.done = true;
      this.error = failure(this.id);
    }
  }
}
