// Streams over NATS: knowing that the other side is still there. NATS has no connection
// between a stream's caller and the instance serving it: a peer killed (-9) or cut off only
// goes silent, and without this a stream would end only at its deadline. So each side of a
// stream that has heard nothing of the other for a while probes it (a NATS request: the
// server probes its caller's inbox, the caller the stream's own subject, liveSubject, which
// only the serving instance subscribes to). A peer that is gone makes the NATS server answer
// "no responders" at once, or the probe times out; two failed probes in a row end the stream
// (ERR_RPC_DISCONNECTED on the caller; on the server its generator is closed and ctx.signal
// aborts). One failed probe is not enough: the interest of a new subscription takes a moment
// to reach the other nodes of a cluster.
//
// TIMING, with L = livenessMs (NatsOptions, default 5000): a tick every L/2; a tick that finds
// something heard since the last one only clears the flag; otherwise it sends a probe that
// waits at most 0.45 L, unless one is in flight. From the last message heard to the end: at
// most L/2 (the tick that clears the flag) + L/2 (the tick that probes) + L/2 (the next
// probe) + 0.45 L (its wait) < 2 L, and about 1.5 L when the NATS server says "no responders".

/** NatsOptions.livenessMs's default. */
// 5 s, not 1: a side whose event loop is blocked (a CPU-bound handler, a consumer doing
// synchronous work between items) longer than about livenessMs fails both probes and would
// be taken for dead; keepalives elsewhere (gRPC, NATS's own ping) are seconds too.
export const DEFAULT_LIVENESS_MS = 5000;

/** Sends one probe that waits at most `timeoutMs`; resolves true when the peer answered. */
export type Probe = (timeoutMs: number) => Promise<boolean>;

export class Liveness {
  private heardSince = true;
  private probing = false;
  private failed = 0;
  private readonly timer: NodeJS.Timeout;

  /** `gone`: called once, after two failed probes in a row. */
  constructor(
    private readonly livenessMs: number,
    private readonly probe: Probe,
    private readonly gone: () => void,
  ) {
    this.timer = setInterval(() => this.tick(), livenessMs / 2);
    this.timer.unref();
  }

  /** A message of the peer arrived. */
  heard(): void {
    this.heardSince = true;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    if (this.heardSince) {
      this.heardSince = false;
      this.failed = 0;
      return;
    }
    if (this.probing) return;
    this.probing = true;
    this.probe(this.livenessMs * 0.45).then((answered) => {
      this.probing = false;
      if (answered) {
        this.failed = 0;
        this.heardSince = true;
      } else if (++this.failed >= 2) {
        this.stop();
        this.gone();
      }
    }, () => {
      this.probing = false;
    });
  }
}
