// What one peer may make the server hold beyond its connection's own memory, per
// connection, per user and in all, so that no client (nor all the clients of one user)
// can take what the others need. The offender gets ERR_RPC_RESOURCE_EXHAUSTED for the
// call that goes over, or loses its connection; a bystander never does.
//  - reassembly: the bytes of fragmented messages not finished yet (their reassembly
//    region and the part of their tail that arrived), per user and in all. A message that
//    would go over is skipped and its call answered ERR_RPC_RESOURCE_EXHAUSTED.
//  - calls in flight: handlers of one connection whose promise has not settled; a call
//    beyond the limit is answered ERR_RPC_RESOURCE_EXHAUSTED without running.
//  - queued answers: what clients left unread beyond their full rings, per connection
//    (maxQueuedBytes, one message always allowed) and in all (maxQueuedBytesTotal): over
//    the total, the connection with the most queued is dropped.

/** Takes and gives back bytes of one connection's unfinished messages (src/channel.ts). */
export interface ReassemblyBudget {
  /** True if `bytes` more may be held (and they are then counted). */
  take(bytes: number): boolean;
  give(bytes: number): void;
}

export interface BudgetLimits {
  maxReassemblyBytes: number;
  maxReassemblyBytesPerUser: number;
  maxInflightPerConnection: number;
  maxQueuedBytesTotal: number;
}

export const DEFAULT_MAX_REASSEMBLY_BYTES = 512 * 1024 * 1024;
export const DEFAULT_MAX_REASSEMBLY_BYTES_PER_USER = 256 * 1024 * 1024;
export const DEFAULT_MAX_INFLIGHT_PER_CONNECTION = 1024;
export const DEFAULT_MAX_QUEUED_BYTES_TOTAL = 256 * 1024 * 1024;

export class Budgets {
  /** Reassembly bytes held, in all and by uid. */
  reassembly = 0;
  private readonly byUser = new Map<number, number>();

  constructor(readonly limits: BudgetLimits) {}

  /** The reassembly budget of a connection of user `uid`. */
  reassemblyOf(uid: number): ReassemblyBudget {
    return {
      take: (bytes) => {
        const mine = this.byUser.get(uid) ?? 0;
        if (this.reassembly + bytes > this.limits.maxReassemblyBytes || mine + bytes > this.limits.maxReassemblyBytesPerUser) return false;
        this.reassembly += bytes;
        this.byUser.set(uid, mine + bytes);
        return true;
      },
      give: (bytes) => {
        if (bytes <= 0) return;
        this.reassembly -= bytes;
        const left = (this.byUser.get(uid) ?? 0) - bytes;
        if (left > 0) this.byUser.set(uid, left);
        else this.byUser.delete(uid);
      },
    };
  }
}
