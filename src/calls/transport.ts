// What the attempts loop (src/calls/attempts.ts) needs of a transport, and the call it
// hands over. Implemented by the instances on this host (src/calls/local.ts: one Route
// per server instance, shared memory), NATS (src/nats/call.ts) and the locality switch
// (src/calls/locality.ts). Balancing among a transport's own instances is the transport's;
// whether and when a failed attempt is sent again is the loop's, once for all of them.

/** A call's settings: the Client's defaults, or those bound by `withOptions` (made once
 *  there, shared by every call made through it). */
export interface CallSettings {
  /** The call's deadline, in ms from when it is made. */
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  /** Safe to run twice: re-sent when a lost instance may have run it. */
  readonly idempotent: boolean;
  /** String pairs the handler's context shows (checked: src/metadata.ts). */
  readonly metadata: Readonly<Record<string, string>> | undefined;
  /** Where the transport writes the call's encoded sizes (an interceptor asked for them:
   *  InterceptedCall.sizes); absent on every other call, which pays one field test. */
  readonly sizes?: MessageSizes;
}

/** The encoded sizes of a call, in bytes: its arguments as sent, its result as received
 *  (of its last attempt; -1 until known). */
export interface MessageSizes {
  /** The encoded arguments. */
  request: number;
  /** The encoded result (an error answer is not counted). */
  response: number;
}

/** One call, from the Client to the loop to a transport's attempt. */
export interface Call {
  // Not readonly: a synchronous call's record is reused (src/calls/attempts.ts).
  method: string;
  args: unknown[];
  settings: CallSettings;
  /** Set by a transport's attempt: the instance it went to (the next attempt avoids it). */
  used: unknown;
  /** Set by a transport's attempt: its wait was cut short of the call's time left
   *  (NATS, retry.attemptTimeoutMs), so its timeout is a loss, not the call's end. */
  cut: boolean;
  /** Set by a transport when an attempt of a call that is never re-sent (`mayRetry`
   *  false) was refused by a draining server: performance.now() when it was sent, as its
   *  own clock readings know it (-1: none was read, it was answered at once). That path
   *  reads no clock per call; the re-sends keep to the call's deadline from this. */
  startedAt: number;
  /** A stream call (client.stream, src/calls/stream.ts): where its items go. The call's
   *  answer is the stream's end. Undefined for a unary call. */
  stream: StreamSink | undefined;
}

export function newCall(method: string, args: unknown[], settings: CallSettings): Call {
  return { method, args, settings, used: undefined, cut: false, startedAt: -1, stream: undefined };
}

/** Where a draining server's refusal (ERR_RPC_UNAVAILABLE) of a call sent by
 *  `Transport.attemptOnce` goes, with the resolving functions of the call's promise: the
 *  attempts loop sends it again and settles that promise itself (so the hot path needs no
 *  second promise per call to catch this rare case). Called from a microtask or later,
 *  never from inside the transport's receive loop. */
export interface Refused {
  refused(call: Call, err: unknown, resolve: (value: unknown) => void, reject: (err: unknown) => void): void;
}

/** What a transport does for a stream once the call is sent. */
export interface StreamControl {
  /** Grants the server more credit: `items` more items, `bytes` more bytes. */
  credit(items: number, bytes: number): void;
  /** The caller ends the stream early: the server closes its iterator. */
  cancel(): void;
}

/** The caller's side of a stream call, as a transport feeds it. */
export interface StreamSink {
  /** The credit the stream opens with, in items and bytes of encoded items. */
  readonly windowItems: number;
  readonly windowBytes: number;
  /** Binary items may be views of the transport's memory (`withOptions({ view: true })`):
   *  each is pushed with a `release`, called once the loop is done with it. */
  readonly views: boolean;
  /** The call is sent: how to grant credit and cancel. */
  link(control: StreamControl): void;
  /** An item arrived (`bytes`: its encoded size); false when the server had no credit
   *  for it (it broke the protocol). A view item's `release` is called once (at once if
   *  it is dropped). */
  push(value: unknown, bytes: number, release?: () => void): boolean;
}

/** A client-side transport. An attempt sends the call once and settles with the result,
 *  or fails with an RpcError whose `maybeExecuted` says whether it may have run. */
export interface Transport {
  /** One attempt, blocking, within `timeoutMs`; `retryLeft`: the loop may send it again. */
  attemptSync(call: Call, timeoutMs: number, retryLeft: boolean): unknown;
  /** One attempt from the event loop. */
  attemptAsync(call: Call, timeoutMs: number, retryLeft: boolean): Promise<unknown>;
  /** The hot path of a call that `mayRetry` says is never re-sent: its one attempt, within
   *  the call's timeout, whose promise is the call's own (and no Call record made, unless
   *  it is refused); a draining server's refusal goes to `refused` instead of rejecting it.
   *  Undefined when it cannot be sent at once (not connected yet, say): the loop then takes
   *  its general way. */
  attemptOnce?(method: string, args: unknown[], settings: CallSettings, refused: Refused): Promise<unknown> | undefined;
  /** Whether a failed attempt of a call with `settings` may ever be sent again here
   *  (false: one attempt, without the loop's bookkeeping: the hot path of a name served alone). */
  mayRetry(settings: CallSettings): boolean;
  /** Whether an instance other than `call.used` can take a re-send at once. */
  otherLive(call: Call): boolean;
  /** The name the calls go to (what errors say). */
  readonly name: string;
  readonly connected: boolean;
  readonly closed: boolean;
  waitForConnection(timeoutMs: number): Promise<void>;
  close(): void;
}
