// Single-producer / single-consumer byte ring in shared memory.
//
// Shape borrowed from Agrona's OneToOneRingBuffer (records [length][type][payload],
// 8-byte aligned, a padding record instead of straddling the end) and from rigtorp's
// SPSCQueue (monotonic u32 counters masked by capacity - 1, each side caching the
// other's counter and re-reading it only when the cache says full / empty).
//
// Each side keeps its authoritative state in a private HANDLE (process-local memory,
// never shared): the peer can scribble on the shared ring header, but we only ever
// *read* its counter, once, into a local, and check it before use (STYLE.md §4).
//
// Ordering argument. WebAssembly atomics are sequentially consistent, which is at
// least acquire/release:
//  - producer: plain stores of the record, then atomic.store(tail)  => release: a
//    consumer that sees the new tail also sees every byte of the records before it.
//  - consumer: atomic.load(tail) => acquire: record reads happen after it; then plain
//    reads of records, then atomic.store(head) => release: our reads are done before
//    the producer may overwrite that space.
//  - producer: atomic.load(head) => acquire: it overwrites freed space only after
//    seeing the consumer's release of it.
// The park/wake handshake (src/core/doorbell.ts) relies on the store(tail) and the
// following load(parked flag) not being reordered, which seq_cst guarantees.

import {
  RING_TAIL, RING_HEAD, RING_HEADER_BYTES, RING_MIN_CAPACITY, RING_MAX_CAPACITY,
  RECORD_HEADER_BYTES, RECORD_ALIGN, T_PADDING, T_MAX,
} from "./layout";

// Private handle fields (a handle is HANDLE_BYTES of process-local memory).
export const H_RING: u32 = 0;        // offset of the ring header in linear memory
export const H_CAPACITY: u32 = 4;    // data bytes, a power of two
export const H_POSITION: u32 = 8;    // producer: next tail (claimed); consumer: next head (consumed)
export const H_PUBLISHED: u32 = 12;  // producer: last tail stored; consumer: last head stored
export const H_PEER: u32 = 16;       // cached counter of the other side
export const H_REC_TYPE: u32 = 20;   // consumer: type of the current record
export const H_REC_PAYLOAD: u32 = 24;// consumer: offset of its payload
export const H_REC_LENGTH: u32 = 28; // consumer: payload bytes
export const H_REC_NEXT: u32 = 32;   // consumer: position after the current record
export const H_ERROR: u32 = 36;      // last error (E_*), sticky
export const HANDLE_BYTES: u32 = 64;

// Error codes, mapped to ERR_RPC_PROTOCOL at the TypeScript boundary.
export const E_OK: u32 = 0;
export const E_RING_COUNTER: u32 = 1;  // the peer's counter is outside [ours, ours + capacity]
export const E_RING_RECORD: u32 = 2;   // a record's length or type is impossible
export const E_RING_ARGUMENT: u32 = 3; // a bad capacity or size from our own caller

@inline function align(n: u32): u32 {
  return (n + (RECORD_ALIGN - 1)) & ~(RECORD_ALIGN - 1);
}

@inline function data(h: usize): usize {
  return <usize>load<u32>(h, H_RING) + RING_HEADER_BYTES;
}

@inline function fail(h: usize, code: u32): u32 {
  store<u32>(h, code, H_ERROR);
  return 0;
}

/** Bytes a ring with `capacity` data bytes occupies, header included. */
export function ringBytes(capacity: u32): u32 {
  return RING_HEADER_BYTES + capacity;
}

/** Largest payload a single record can carry in a ring of `capacity` bytes.
 *  A quarter of the ring, so one big record never monopolises it; bigger
 *  messages travel as fragments. */
export function ringMaxPayload(capacity: u32): u32 {
  return (capacity >> 2) - RECORD_HEADER_BYTES;
}

/** Zeroes a new ring's counters. Only the creator of the segment calls this. */
export function ringFormat(ring: usize): void {
  atomic.store<u32>(ring + RING_TAIL, 0);
  atomic.store<u32>(ring + RING_HEAD, 0);
}

/** Attaches a private handle to the ring at `ring`. Returns false for a bad capacity.
 *  The counters are read once: attaching to a ring in use resumes from where it is. */
export function ringAttach(h: usize, ring: usize, capacity: u32, producer: bool): bool {
  memory.fill(h, 0, HANDLE_BYTES);
  if (capacity < RING_MIN_CAPACITY || capacity > RING_MAX_CAPACITY || (capacity & (capacity - 1)) != 0) {
    fail(h, E_RING_ARGUMENT);
    return false;
  }
  store<u32>(h, <u32>ring, H_RING);
  store<u32>(h, capacity, H_CAPACITY);
  const tail = atomic.load<u32>(ring + RING_TAIL);
  const head = atomic.load<u32>(ring + RING_HEAD);
  if (tail - head > capacity || ((tail | head) & (RECORD_ALIGN - 1)) != 0) {
    fail(h, E_RING_COUNTER);
    return false;
  }
  const own = producer ? tail : head;
  store<u32>(h, own, H_POSITION);
  store<u32>(h, own, H_PUBLISHED);
  store<u32>(h, producer ? head : tail, H_PEER);
  return true;
}

export function ringError(h: usize): u32 {
  return load<u32>(h, H_ERROR);
}

// ---------------------------------------------------------------- producer

/** Reserves a record of `payloadBytes` and writes its header. Returns the offset of
 *  the payload, or 0 when the ring has no room now (or on error: see ringError).
 *  Nothing is visible to the consumer until ringCommit. */
export function ringTryClaim(h: usize, payloadBytes: u32, type: u32): usize {
  const capacity = load<u32>(h, H_CAPACITY);
  if (payloadBytes > ringMaxPayload(capacity)) return fail(h, E_RING_ARGUMENT);
  const length = RECORD_HEADER_BYTES + payloadBytes;
  const size = align(length);
  const pos = load<u32>(h, H_POSITION);
  const index = pos & (capacity - 1);
  const toEnd = capacity - index;
  const needed = size > toEnd ? toEnd + size : size;
  let head = load<u32>(h, H_PEER);
  if (pos - head + needed > capacity) {
    head = atomic.load<u32>(load<u32>(h, H_RING) + RING_HEAD); // acquire: see above
    // The consumer may only move forward, and never past what we published.
    const published = load<u32>(h, H_PUBLISHED);
    const cached = load<u32>(h, H_PEER);
    if (head - cached > published - cached || (head & (RECORD_ALIGN - 1)) != 0) {
      return fail(h, E_RING_COUNTER);
    }
    store<u32>(h, head, H_PEER);
    if (pos - head + needed > capacity) return 0;
  }
  const base = data(h);
  let at = index;
  let next = pos;
  if (size > toEnd) {
    // Pad to the end so that no record straddles it.
    store<u32>(base + index, toEnd);
    store<u32>(base + index, T_PADDING, 4);
    next += toEnd;
    at = 0;
  }
  store<u32>(base + at, length);
  store<u32>(base + at, type, 4);
  store<u32>(h, next + size, H_POSITION);
  return base + at + RECORD_HEADER_BYTES;
}

/** Publishes every record claimed since the last commit (release, see above). */
export function ringCommit(h: usize): void {
  const pos = load<u32>(h, H_POSITION);
  if (pos == load<u32>(h, H_PUBLISHED)) return;
  store<u32>(h, pos, H_PUBLISHED);
  atomic.store<u32>(load<u32>(h, H_RING) + RING_TAIL, pos);
}

/** True when a record of `payloadBytes` would fit now (re-reads the consumer's head). */
export function ringHasRoom(h: usize, payloadBytes: u32): bool {
  const capacity = load<u32>(h, H_CAPACITY);
  const size = align(RECORD_HEADER_BYTES + payloadBytes);
  const pos = load<u32>(h, H_POSITION);
  const toEnd = capacity - (pos & (capacity - 1));
  const needed = size > toEnd ? toEnd + size : size;
  const head = atomic.load<u32>(load<u32>(h, H_RING) + RING_HEAD);
  const published = load<u32>(h, H_PUBLISHED);
  const cached = load<u32>(h, H_PEER);
  if (head - cached > published - cached || (head & (RECORD_ALIGN - 1)) != 0) {
    fail(h, E_RING_COUNTER);
    return false;
  }
  store<u32>(h, head, H_PEER);
  return pos - head + needed <= capacity;
}

/** True when every byte we published has been consumed. */
export function ringDrained(h: usize): bool {
  return atomic.load<u32>(load<u32>(h, H_RING) + RING_HEAD) == load<u32>(h, H_PUBLISHED);
}

// ---------------------------------------------------------------- consumer

/** Finds the next record. Returns 1 and fills H_REC_* when there is one, 0 when the
 *  ring is empty or on error (see ringError). Call ringAdvance to consume it. */
export function ringPoll(h: usize): u32 {
  if (load<u32>(h, H_ERROR) != E_OK) return 0;
  const capacity = load<u32>(h, H_CAPACITY);
  let pos = load<u32>(h, H_POSITION);
  let tail = load<u32>(h, H_PEER);
  if (pos == tail) {
    tail = atomic.load<u32>(load<u32>(h, H_RING) + RING_TAIL); // acquire: see above
    // The producer may only move forward, and never more than a ring ahead of us.
    if (tail - pos > capacity || (tail & (RECORD_ALIGN - 1)) != 0) return fail(h, E_RING_COUNTER);
    store<u32>(h, tail, H_PEER);
    if (pos == tail) return 0;
  }
  const base = data(h);
  for (;;) {
    const index = pos & (capacity - 1);
    const length = load<u32>(base + index);     // read once; only the local copy is used
    const type = load<u32>(base + index, 4);
    const available = tail - pos;
    const toEnd = capacity - index;
    if (length < RECORD_HEADER_BYTES || length > toEnd || align(length) > available) {
      return fail(h, E_RING_RECORD);
    }
    if (type == T_PADDING) {
      if (length != toEnd) return fail(h, E_RING_RECORD);
      pos += length;
      store<u32>(h, pos, H_POSITION);
      if (pos == tail) return 0;
      continue;
    }
    if (type == 0 || type > T_MAX) return fail(h, E_RING_RECORD);
    store<u32>(h, type, H_REC_TYPE);
    store<u32>(h, <u32>(base + index + RECORD_HEADER_BYTES), H_REC_PAYLOAD);
    store<u32>(h, length - RECORD_HEADER_BYTES, H_REC_LENGTH);
    store<u32>(h, pos + align(length), H_REC_NEXT);
    return 1;
  }
}

/** Consumes the record found by the last successful ringPoll (not yet visible to
 *  the producer: batch several, then ringRelease once). */
export function ringAdvance(h: usize): void {
  store<u32>(h, load<u32>(h, H_REC_NEXT), H_POSITION);
}

/** Gives the consumed space back to the producer (release, see above). */
export function ringRelease(h: usize): void {
  const pos = load<u32>(h, H_POSITION);
  if (pos == load<u32>(h, H_PUBLISHED)) return;
  store<u32>(h, pos, H_PUBLISHED);
  atomic.store<u32>(load<u32>(h, H_RING) + RING_HEAD, pos);
}

/** True when the producer has published nothing we have not consumed. */
export function ringEmpty(h: usize): bool {
  return atomic.load<u32>(load<u32>(h, H_RING) + RING_TAIL) == load<u32>(h, H_POSITION);
}
