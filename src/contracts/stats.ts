// server.stats(): the shape of a NATS service-stats response (ADR-32,
// io.nats.micro.v1.stats_response), times in nanoseconds, plus each connection.

import type { Endpoint } from "./endpoint.js";

/** What the server knows of one connected client (Server.connectionStats()). */
export interface ConnectionStats {
  /** The client's process id, as the kernel reported it when the client connected (SO_PEERCRED). */
  pid: number;
  /** The client's user id, as the kernel reported it when the client connected (SO_PEERCRED). */
  uid: number;
  /** Calls of this client whose handler's promise has not settled. */
  in_flight: number;
  /** The ring of requests, client to server. */
  request_ring: {
    /** Bytes the client wrote that the server has not read yet (a snapshot, may be a moment old). */
    used: number;
    /** The ring's size in bytes. */
    capacity: number;
  };
  /** The ring of responses, server to client. */
  response_ring: {
    /** Bytes the server wrote that the client has not read yet (a snapshot, may be a moment old). */
    used: number;
    /** The ring's size in bytes. */
    capacity: number;
  };
  /** Responses waiting at the server for room in the response ring. */
  bytes_queued: number;
}

/** The counters of one method (an ADR-32 endpoint), in {@link ServiceStats.endpoints}. */
export interface EndpointStats {
  /** The method's name. */
  name: string;
  /** Calls that reached the handler (or its argument validation), in-flight ones included. */
  num_requests: number;
  /** Calls that ended in a throw, a rejection, a failed validation (arguments or result) or a result that
   *  could not be sent. */
  num_errors: number;
  /** The latest failure, as "Name: message" for an Error; "" until the first one. */
  last_error: string;
  /** Total handler time of the settled calls, in nanoseconds (async handlers until their promise settled).
   *  For a method whose calls have all been synchronous, one call in 16 is timed and this is estimated
   *  from those, so that timing costs little. */
  processing_time: number;
  /** Mean handler time of a timed call, in nanoseconds; 0 before any call was timed. */
  average_processing_time: number;
  /** Calls whose handler returned a promise that has not settled yet. */
  in_flight: number;
  /** Stream calls (a streamed result, a streamed argument, or both). */
  streams: number;
  /** Items of its streams, sent and received. */
  stream_items: number;
  /** Their encoded bytes. */
  stream_bytes: number;
}

/** What `server.stats()` returns and `client.stats()` receives: a NATS service-stats response (ADR-32),
 *  times in nanoseconds, plus each connected client. */
export interface ServiceStats {
  /** The ADR-32 message type, always this value. */
  type: "io.nats.micro.v1.stats_response";
  /** The server's name, as given ("/calc"). */
  name: string;
  /** A random id of this Server object (22 hex digits), new for each one: tells restarts apart. */
  id: string;
  /** The server's process id (as describe() gives it): over NATS, the one instance that answered. */
  pid: number;
  /** When the server was made, ISO 8601 (RFC 3339) in UTC. */
  started: string;
  /** One entry per method, in the order they were registered; the server's own (`$`-prefixed) ones are left out. */
  endpoints: EndpointStats[];
  /** One entry per connected client. */
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
      streams: ep.streams,
      stream_items: ep.items,
      stream_bytes: ep.itemBytes,
    });
  }
  return { type: "io.nats.micro.v1.stats_response", name, id, pid: globalThis.process?.pid ?? -1, started: started.toISOString(), endpoints: list, connections };
}
