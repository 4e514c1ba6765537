// Every offset and size of shmrpc's shared memory, in one place.
// TypeScript reads these through the module's exported globals (src/core/layout.ts),
// never from a second hand-written copy.
//
// Each connection has one region of shared memory: a memfd that the server creates,
// reserves (fallocate), seals against shrinking and growing, and hands to the client
// over the connection's Unix socket (src/protocol.ts, HANDSHAKE). Only these two
// processes hold it; nothing is named, nothing is shared between connections.
//
//  connection memory (CONN_HEADER_BYTES + 2 rings, rounded up to 64 KiB)
//  +0    magic "SHMRPC\0\3" (u64)  +8 protocol version (u32)  +12 size (u32)
//  +16   request ring capacity (u32)      +20 response ring capacity (u32)
//                                    (header written by the server before handing it over)
//  +128  client doorbell (u32)       bumped by the server to wake a parked client
//  +256  client parked (u32)         set by the client, cleared by the server when it rings
//  +384  server parked (u32)         set by the server, cleared by the client when it
//                                    sends a wake-up on the socket
//  +512  taken id (u32)              written by the server: the id of the last
//                                    request it took from the ring, before running it
//  +640  drop reason (u32)           written by the server before it drops the client
//  +768  cancels posted (u32)        written by the client: how many call ids it has
//                                    posted to the cancel slots (wrapping)
//  +896  draining (u32)              set to 1 by a server that drains (close({ drainMs })):
//                                    it refuses new calls; clients of replicas send
//                                    theirs to the others (src/calls/balance.ts)
//  +1024 cancel slots (64 x u32)     written by the client: the ids of calls it gave up
//                                    on after publishing them, post k in slot k % 64
//                                    (src/core/cancel-box.ts; the server drops such a
//                                    request if it has not taken it yet)
//  +1280 server doorbell (u32)       threads only (src/threads/): bumped by the client to
//                                    wake a parked server (processes use the socket)
//  +1408 gone (u32)                  threads only: set by a side that leaves (1 the server,
//                                    2 the client), then both doorbells are rung
//  +4096 request ring   (client -> server)
//  +4096 + RING_HEADER_BYTES + reqCap   response ring (server -> client)
//
//  ring: [tail: own 128-byte line][head: own 128-byte line][data: 2^n bytes]
//        tail = bytes ever produced, head = bytes ever consumed (u32, wrapping).
//        Counters written by different sides sit 128 bytes apart: adjacent-line
//        prefetch on x86 makes one 64-byte line too little.
//
//  record (8-byte aligned, never straddles the end of the data area):
//        [length: u32 = 8 + payload bytes][type: u32][payload ...][pad to 8]

export const MAGIC_LO: u32 = 0x524d4853; // "SHMR"
export const MAGIC_HI: u32 = 0x03004350; // "PC\0\x03"
export const PROTOCOL_VERSION: u32 = 7; // 4: method ids (CALL, METHOD_ID); 5: the client proves the token first; 6: call contexts (CONTEXT, CANCEL); 7: streams (STREAM_ITEM, STREAM_CREDIT, STREAM_ARG, STREAM_END)

export const CACHE_LINE_PAIR: u32 = 128;

// Connection memory.
export const SEG_MAGIC: u32 = 0;
export const SEG_VERSION: u32 = 8;
export const SEG_SIZE: u32 = 12;
export const CONN_REQ_CAPACITY: u32 = 16;
export const CONN_RES_CAPACITY: u32 = 20;
export const CONN_CLIENT_DOORBELL: u32 = 128;
export const CONN_CLIENT_PARKED: u32 = 256;
export const CONN_SERVER_PARKED: u32 = 384;
export const CONN_TAKEN_ID: u32 = 512;
export const CONN_DROP_REASON: u32 = 640;
export const CONN_CANCELS_POSTED: u32 = 768;
export const CONN_SERVER_DRAINING: u32 = 896;
export const CONN_CANCEL_SLOTS: u32 = 1024;
export const CANCEL_SLOT_COUNT: u32 = 64;
export const CONN_SERVER_DOORBELL: u32 = 1280;
export const CONN_GONE: u32 = 1408;
export const CONN_HEADER_BYTES: u32 = 4096;

// Why the server refused (a REFUSE message) or dropped (CONN_DROP_REASON) a client.
export const REASON_NONE: u32 = 0;
export const REASON_VERSION: u32 = 1; // protocol version differs
export const REASON_ACCESS: u32 = 2; // user, group or token not allowed
export const REASON_PROTOCOL: u32 = 3; // the client broke the protocol
export const REASON_SLOW_CONSUMER: u32 = 4; // responses left unread past the server's limit
export const REASON_CLOSED: u32 = 5; // the server closed
export const REASON_RESOURCE: u32 = 6; // over a memory budget of the server
export const REASON_FULL: u32 = 7; // the server has its maximum of connections

// Ring header.
export const RING_TAIL: u32 = 0;
export const RING_HEAD: u32 = 128;
export const RING_HEADER_BYTES: u32 = 256;
export const RING_MIN_CAPACITY: u32 = 4096;
export const RING_MAX_CAPACITY: u32 = 1 << 28; // two of them fit a 2 GiB WebAssembly memory with room to spare

// Records.
export const RECORD_HEADER_BYTES: u32 = 8;
export const RECORD_ALIGN: u32 = 8;

// Record types. The wire protocol (src/protocol.ts) describes each payload.
export const T_PADDING: u32 = 1;
export const T_REQUEST: u32 = 2;
export const T_RESPONSE: u32 = 3;
export const T_ERROR: u32 = 4;
export const T_FRAGMENT_FIRST: u32 = 5;
export const T_FRAGMENT_MORE: u32 = 6;
export const T_GOODBYE: u32 = 7;
export const T_CALL: u32 = 8; // a request by method id
export const T_METHOD_ID: u32 = 9; // the server's id of a method name
export const T_CONTEXT: u32 = 10; // a call's deadline and metadata, before its request
export const T_CANCEL: u32 = 11; // the caller gave up on a call
export const T_STREAM_ITEM: u32 = 12; // one item of a stream call's result (server -> client)
export const T_STREAM_CREDIT: u32 = 13; // more credit for a stream (both ways: of its items, of a streamed argument's)
export const T_STREAM_ARG: u32 = 14; // an argument of the request that follows is streamed (client -> server)
export const T_STREAM_END: u32 = 15; // a streamed argument ended (client -> server)
export const T_MAX: u32 = 15;
