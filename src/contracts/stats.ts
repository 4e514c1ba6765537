// server.stats(): the shape of a NATS service-stats response (ADR-32,
// io.nats.micro.v1.stats_response), times in nanoseconds, plus each connection.

import type { Endpoint } from "./endpoint.js";

/** What the server knows of one connected client (Server.connectionStats()). */
export interface ConnectionStats {
  pid: number;
  /** The client's user, from the kernel's record of who created its segment. */
  uid: number;
  /** Calls of this client whose handler's promise has not settled. */
  in_flight: number;
  /** Bytes written and not yet read in each ring, and its capacity. */
  request_ring: { used: number; capacity: number };
  response_ring: { used: number; capacity: number };
  /** Responses waiting at the server for room in the response ring. */
  bytes_queued: number;
}

export interface EndpointStats {
  name: string;
  num_requests: number;
  num_errors: number;
  last_error: string;
  /** Total handler time in nanoseconds (async handlers until their promise settled). */
  processing_time: number;
  average_processing_time: number;
  in_flight: number;
}

export interface ServiceStats {
  type: "io.nats.micro.v1.stats_response";
  name: string;
  id: string;
  /** When the server was made, ISO 8601 (RFC 3339) in UTC. */
  started: string;
  endpoints: EndpointStats[];
  connections: ConnectionStats[];
}

// TIMING. A clock reading (performance.now()) costs 50-95 ns on the development machine, and
// a call needs two: 7-14 % of a synchronous add round trip (0.75-2 µs), over the 5 % the
// counting may cost. So a method whose calls have all been synchronous has one call in
// TIMING_SAMPLE timed, and its processing_time is the average of those times the number of
// calls. Once a method's handler has returned a promise, every call of it is timed (the
// promise costs far more than the clock), so async handlers' times are exact.
// num_requests, num_errors and in_flight always count every call.
export const TIMING_SAMPLE = 16;

/** Methods whose names start with this are the server's own (see src/protocol.ts). */
export const RESERVED_PREFIX = "$";

export function serviceStats(name: string, id: string, started: Date, endpoints: Iterable<Endpoint>, connections: ConnectionStats[]): ServiceStats {
  const list: EndpointStats[] = [];
  for (const ep of endpoints) {
    if (ep.name.startsWith(RESERVED_PREFIX)) continue;
    const average = ep.timed > 0 ? (ep.timeMs * 1e6) / ep.timed : 0;
    list.push({
      name: ep.name,
      num_requests: ep.requests,
      num_errors: ep.errors,
      last_error: ep.lastError,
      // Sampled calls stand for all of them (see TIMING).
      processing_time: Math.round(ep.timed === ep.requests - ep.inflight ? ep.timeMs * 1e6 : average * (ep.requests - ep.inflight)),
      average_processing_time: Math.round(average),
      in_flight: ep.inflight,
    });
  }
  return { type: "io.nats.micro.v1.stats_response", name, id, started: started.toISOString(), endpoints: list, connections };
}
