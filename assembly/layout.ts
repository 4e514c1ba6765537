// Every offset and size of shmrpc's shared memory, in one place.
// TypeScript reads these through the module's exported globals (src/core/layout.ts),
// never from a second hand-written copy.
//
// A server owns one CONTROL segment, named by the user ("/rpc_demo").
// Each client creates one CLIENT segment ("/rpc_demo.c<nonce>") holding its two rings,
// registers it in a slot of the control segment, and the server maps it.
//
//  control segment (CONTROL_BYTES)
//  +0    magic "SHMRPC\0\1" (u64)    +8  protocol version (u32)   +12 segment size (u32)
//  +16   server pid (u32)            +20 slot count (u32)          +24 server nonce (u32)
//  +128  server doorbell (u32)       written by clients: bumped to wake a parked server
//  +256  server parked flag (u32)    written by the server only
//  +384  connect counter (u32)       bumped by a client that filled a slot, so the server
//                                    scans the slot table only when it changed
//  +512  slot table: SLOT_COUNT x SLOT_BYTES
//        slot: +0 state (u32)  +4 client pid (u32)  +8 client segment nonce (u32)
//              +12 client segment size (u32)
//              +16 reason (u32)  written by the server before REJECTED (REASON_*)
//
//  client segment (CLIENT_HEADER_BYTES + 2 rings, rounded up to 64 KiB)
//  +0    magic (u64)   +8 protocol version   +12 segment size
//  +16   request ring capacity (u32)        +20 response ring capacity (u32)
//  +24   client pid (u32)                   +28 nonce (u32)
//  +32   token present (u32)         +64 SHA-256 of the client's token (32 bytes)
//  +128  client doorbell (u32)       bumped by the server to wake a parked client
//  +256  client parked flag (u32)    written by the client only
//  +384  taken id (u32)              written by the server: the id of the last
//                                    request it took from the ring, before running it
//  +512  drop reason (u32)           written by the server before it drops the client
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
export const MAGIC_HI: u32 = 0x01004350; // "PC\0\x01"
export const PROTOCOL_VERSION: u32 = 2;

export const CACHE_LINE_PAIR: u32 = 128;

// Header fields shared by both segment kinds.
export const SEG_MAGIC: u32 = 0;
export const SEG_VERSION: u32 = 8;
export const SEG_SIZE: u32 = 12;

// Control segment.
export const CTL_SERVER_PID: u32 = 16;
export const CTL_SLOT_COUNT: u32 = 20;
export const CTL_SERVER_NONCE: u32 = 24;
export const CTL_DOORBELL: u32 = 128;
export const CTL_PARKED: u32 = 256;
export const CTL_CONNECT_COUNTER: u32 = 384;
export const CTL_SLOTS: u32 = 512;
export const SLOT_BYTES: u32 = 64;
export const SLOT_STATE: u32 = 0;
export const SLOT_CLIENT_PID: u32 = 4;
export const SLOT_NONCE: u32 = 8;
export const SLOT_SEGMENT_SIZE: u32 = 12;
export const SLOT_REASON: u32 = 16;
export const SLOT_COUNT: u32 = 256;
export const CONTROL_BYTES: u32 = 65536; // one WASM page: 512 + 256 * 64 = 16896 used

// Slot states: FREE -> CLAIMED (client CAS) -> REQUESTED (client) -> ACCEPTED (server)
// -> FREE (server, after either side closed or died).
export const SLOT_FREE: u32 = 0;
export const SLOT_CLAIMED: u32 = 1;
export const SLOT_REQUESTED: u32 = 2;
export const SLOT_ACCEPTED: u32 = 3;
export const SLOT_REJECTED: u32 = 4;

// Why the server refused (SLOT_REASON) or dropped (CLI_DROP_REASON) a client.
export const REASON_NONE: u32 = 0;
export const REASON_VERSION: u32 = 1; // protocol version or layout differ
export const REASON_ACCESS: u32 = 2; // user, group or token not allowed
export const REASON_PROTOCOL: u32 = 3; // the client broke the protocol
export const REASON_SLOW_CONSUMER: u32 = 4; // responses left unread past the server's limit
export const REASON_CLOSED: u32 = 5; // the server closed

// Client segment.
export const CLI_REQ_CAPACITY: u32 = 16;
export const CLI_RES_CAPACITY: u32 = 20;
export const CLI_PID: u32 = 24;
export const CLI_NONCE: u32 = 28;
export const CLI_TOKEN_PRESENT: u32 = 32;
export const CLI_TOKEN_HASH: u32 = 64;
export const TOKEN_HASH_BYTES: u32 = 32;
export const CLI_DOORBELL: u32 = 128;
export const CLI_PARKED: u32 = 256;
export const CLI_TAKEN_ID: u32 = 384;
export const CLI_DROP_REASON: u32 = 512;
export const CLIENT_HEADER_BYTES: u32 = 4096;

// Ring header.
export const RING_TAIL: u32 = 0;
export const RING_HEAD: u32 = 128;
export const RING_HEADER_BYTES: u32 = 256;
export const RING_MIN_CAPACITY: u32 = 4096;
export const RING_MAX_CAPACITY: u32 = 1 << 30;

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
export const T_MAX: u32 = 7;
