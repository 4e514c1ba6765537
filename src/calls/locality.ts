// The locality switch as a Transport: a local name with option nats is called over shared
// memory while an instance is live on this host, over NATS otherwise. An attempt that
// failed locally without running (or an idempotent one lost with its instance) is sent
// again over NATS by the attempts loop, within the call's deadline.

import type { NatsCalls } from "../nats/call.js";
import { RESCAN_MS, type LocalInstances } from "./local.js";
import type { Call, Transport } from "./transport.js";

export class Locality implements Transport {
  /** When an attempt last found no local instance (performance.now()): until RESCAN_MS
   *  later, attempts go straight to NATS. */
  private localMissAt = -Infinity;

  constructor(readonly local: LocalInstances, readonly away: NatsCalls) {}

  get connected(): boolean {
    return this.local.connected || this.away.connected;
  }

  get closed(): boolean {
    return this.local.closed;
  }

  get name(): string {
    return this.local.name;
  }

  mayRetry(): boolean {
    return true;
  }

  /** After a local attempt, NATS is the other; after a NATS attempt, a live local instance. */
  otherLive(call: Call): boolean {
    if (call.used === this.away) return this.local.connected;
    if (!this.local.otherLive(call)) this.localMissAt = performance.now();
    return true;
  }

  /** Connected to an instance on this host if one is live now, else to NATS (one look
   *  here: no loop left behind). */
  waitForConnection(timeoutMs: number): Promise<void> {
    return this.local.connectOnce(Math.max(1, timeoutMs)).catch(() => this.away.waitForConnection(timeoutMs));
  }

  attemptSync(call: Call, timeoutMs: number, retryLeft: boolean): unknown {
    if (!this.localFirst(call)) return this.away.attemptSync(call, timeoutMs, retryLeft);
    return this.local.attemptSync(call, timeoutMs);
  }

  attemptAsync(call: Call, timeoutMs: number, retryLeft: boolean): Promise<unknown> {
    if (!this.localFirst(call)) return this.away.attemptAsync(call, timeoutMs, retryLeft);
    return this.local.attemptAsync(call, timeoutMs);
  }

  close(): void {
    this.local.close();
    this.away.close();
  }

  /** Whether this attempt tries this host: an instance is connected, or the last miss is
   *  old enough to look again (a readdir or a connect that fails at once, every RESCAN_MS). */
  private localFirst(call: Call): boolean {
    if (this.local.connected) return true;
    if (call.used === this.away) return false;
    if (performance.now() - this.localMissAt < RESCAN_MS) return false;
    if (this.local.mayBeHere()) return true;
    this.localMissAt = performance.now();
    return false;
  }
}
