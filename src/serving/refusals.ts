// Refusals reported in aggregate: a peer the server refuses (a user it does not allow, a
// wrong token, a NATS request that does not open, an accept the fd limit stopped) may come
// back thousands of times a second, and one report per refusal would be a log flood of
// its making. The first refusal after a quiet interval is reported at once, whole; those
// that follow within the interval are counted by kind and reported as one summary at its
// end. So a flood costs at most two reports per interval (ServerOptions.refusalReportMs,
// default 1 s; 0 reports each refusal).

import { RpcError } from "../errors.js";

/** Distinct kinds counted per interval; the rest are counted as "other". */
const MAX_KINDS = 16;

export class RefusalReport {
  private readonly counts = new Map<string, number>();
  private total = 0;
  private last: RpcError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly report: (err: RpcError) => void,
    private readonly intervalMs = 1000,
  ) {}

  /** One refusal; `kind` groups it in the summary ("ERR_RPC_ACCESS_DENIED uid 65534"). */
  add(err: RpcError, kind: string = err.code): void {
    if (this.stopped) return;
    if (this.intervalMs <= 0) return this.report(err);
    if (this.timer === undefined) {
      // Quiet until now: this one is told whole, and the interval starts.
      this.timer = setTimeout(this.flush, this.intervalMs).unref();
      return this.report(err);
    }
    const key = this.counts.has(kind) || this.counts.size < MAX_KINDS ? kind : "other";
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.total++;
    this.last = err;
  }

  /** Refusals counted and not yet reported. */
  get pending(): number {
    return this.total;
  }

  /** Reports what is counted, and stops. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.total > 0) this.summary();
    this.stopped = true;
  }

  private readonly flush = (): void => {
    this.timer = undefined;
    if (this.total === 0) return; // quiet again: the next refusal is told at once
    this.summary();
    this.timer = setTimeout(this.flush, this.intervalMs).unref();
  };

  private summary(): void {
    const kinds = [...this.counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} × ${k}`).join(", ");
    const last = this.last!;
    const err = new RpcError(last.code, `${this.total} more refused in the last ${this.intervalMs} ms (${kinds}); the last: ${last.message}`);
    this.counts.clear();
    this.total = 0;
    this.last = undefined;
    this.report(err);
  }
}
