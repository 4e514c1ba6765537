// A thread connection: one shared WebAssembly.Memory per client, holding the connection
// header and the two rings of src/core/layout.ts (the same layout as a process's memfd),
// plus a MessagePort whose 'close' tells each side that the other's thread is gone.
// The server makes it (ThreadServer.connect) and hands it over with postMessage; the
// client adopts it (ThreadClient). Each side runs its own instance of the WebAssembly
// core on that memory and allocates its private regions (scratch, ring handles, the
// codec's result slot) from growths of its own (Core with `sharing`), so neither side
// ever writes where the other keeps its state, and no other connection is reachable.

import { Core, coreModule, newCoreMemory, provideCoreModule, WASM_PAGE } from "../core/wasm.js";
import { L } from "../core/layout.js";
import { RingReader, RingWriter } from "../core/ring.js";
import { Channel } from "../channel.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { AtomicsBell } from "./bell.js";

/** The part of a MessagePort (Node's or the web's) a connection uses. */
export interface ThreadPort {
  /** Sends a message to the other end. */
  postMessage(message: unknown): void;
  /** Starts delivering events. */
  start(): void;
  /** Closes both ends: the other end gets 'close'. */
  close(): void;
  /** 'close': the other end closed or its thread ended. */
  addEventListener(type: "close" | "message", listener: () => void): void;
}

/** What `ThreadServer.connect()` returns: send it to a worker with
 *  `worker.postMessage(conn, [conn.port])` and make a `ThreadClient` from it there. */
export interface ThreadConnection {
  /** The server's name (what errors say). */
  readonly name: string;
  /** The connection's shared memory (header and rings). */
  readonly memory: WebAssembly.Memory;
  /** The compiled WebAssembly core, so that the worker compiles and reads nothing. */
  readonly module: WebAssembly.Module;
  /** Closes when the server's side goes (its thread ended, or it dropped this client). */
  readonly port: ThreadPort;
  /** Byte offset of the connection header in `memory`. */
  readonly offset: number;
  /** Each ring's size in bytes. */
  readonly ringBytes: number;
  /** Where the Web Locks API exists (browsers): the lock the server's thread holds for its
   *  life, and the one this client's thread is to hold; each side learns from the other's that
   *  its thread ended (a browser closes no port of a terminated worker). */
  readonly lock?: string | undefined;
  readonly clientLock?: string | undefined;
}

/** The Web Locks API, where there is one (browsers; not Node 20). */
export interface Locks {
  request(name: string, callback: () => unknown): Promise<unknown>;
}

export function webLocks(): Locks | undefined {
  return (globalThis as { navigator?: { locks?: Locks } }).navigator?.locks;
}

/** Holds lock `name` until the returned function is called (or this thread ends). */
export function holdLock(locks: Locks, name: string, held?: () => void): () => void {
  let release = (): void => {};
  const until = new Promise<void>((resolve) => (release = resolve));
  void locks.request(name, () => {
    held?.();
    return until;
  });
  return () => release();
}

/** The side that leaves sets CONN_GONE to one of these. */
export const GONE_SERVER = 1;
export const GONE_CLIENT = 2;

/** Largest memory of one connection: its rings, both sides' scratch and big messages. */
const MAX_PAGES = 16384; // 1 GiB

/** The memories of the connections this thread's servers made: a client of one of them on
 *  this thread must not block (its server could never answer). */
const servedHere = new WeakSet<WebAssembly.Memory>();

/** One side's view of a connection's memory. */
export class ThreadLink {
  readonly core: Core;
  readonly channel: Channel;
  /** Rung by the server when it publishes responses; the client sleeps on it. */
  readonly clientBell: AtomicsBell;
  /** Rung by the client when it publishes requests; the server sleeps on it. */
  readonly serverBell: AtomicsBell;
  /** The server side of this connection runs on this thread too. */
  readonly sameThread: boolean;

  constructor(memory: WebAssembly.Memory, readonly offset: number, readonly ringBytes: number, server: boolean, maxMessageBytes: number) {
    this.core = new Core(memory, true);
    this.sameThread = servedHere.has(memory);
    const req = offset + L.CONN_HEADER_BYTES;
    const res = req + L.RING_HEADER_BYTES + ringBytes;
    const c = this.core;
    this.channel = server
      ? new Channel(new RingWriter(res, ringBytes, c), new RingReader(req, ringBytes, c), maxMessageBytes)
      : new Channel(new RingWriter(req, ringBytes, c), new RingReader(res, ringBytes, c), maxMessageBytes);
    this.clientBell = new AtomicsBell(c, offset + L.CONN_CLIENT_DOORBELL, offset + L.CONN_CLIENT_PARKED);
    this.serverBell = new AtomicsBell(c, offset + L.CONN_SERVER_DOORBELL, offset + L.CONN_SERVER_PARKED);
  }

  /** Which side left (GONE_SERVER, GONE_CLIENT), or 0. */
  get gone(): number {
    return Atomics.load(this.core.i32, (this.offset + L.CONN_GONE) >>> 2);
  }

  /** Says this side left and wakes the other wherever it waits. */
  leave(side: number): void {
    Atomics.compareExchange(this.core.i32, (this.offset + L.CONN_GONE) >>> 2, 0, side);
    this.clientBell.wake();
    this.serverBell.wake();
  }

  dispose(): void {
    this.channel.dispose();
  }
}

/** The bytes of a connection's header and rings. */
export function connectionBytes(ringBytes: number): number {
  return L.CONN_HEADER_BYTES + 2 * (L.RING_HEADER_BYTES + ringBytes);
}

/** Server side: a fresh memory with the header written and both rings formatted. */
export function makeConnection(name: string, ringBytes: number, maxMessageBytes: number, port: ThreadPort, lock: string | undefined): { link: ThreadLink; conn: ThreadConnection } {
  const memory = newCoreMemory(MAX_PAGES);
  servedHere.add(memory);
  // The header and rings take the pages right above the static data: made by a core that
  // grows the memory for them before the link's core allocates anything.
  const setup = new Core(memory, true);
  const offset = setup.alloc(connectionBytes(ringBytes));
  const x = setup.exports;
  const h = offset >>> 2;
  const u32 = setup.u32;
  u32[h + (L.SEG_MAGIC >>> 2)] = L.MAGIC_LO;
  u32[h + (L.SEG_MAGIC >>> 2) + 1] = L.MAGIC_HI;
  u32[h + (L.SEG_VERSION >>> 2)] = L.PROTOCOL_VERSION;
  u32[h + (L.SEG_SIZE >>> 2)] = connectionBytes(ringBytes);
  u32[h + (L.CONN_REQ_CAPACITY >>> 2)] = ringBytes;
  u32[h + (L.CONN_RES_CAPACITY >>> 2)] = ringBytes;
  x.ringFormat(offset + L.CONN_HEADER_BYTES);
  x.ringFormat(offset + L.CONN_HEADER_BYTES + L.RING_HEADER_BYTES + ringBytes);
  const link = new ThreadLink(memory, offset, ringBytes, true, maxMessageBytes);
  const clientLock = lock === undefined ? undefined : `${lock}/client-${crypto.randomUUID()}`;
  return { link, conn: { name, memory, module: coreModule(), port, offset, ringBytes, lock, clientLock } };
}

/** Client side: checks what arrived (another thread's word) and maps it. */
export function adoptConnection(conn: ThreadConnection, maxMessageBytes: number): ThreadLink {
  const bad = (why: string): never => {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `not a connection made by ThreadServer.connect(): ${why}`);
  };
  if (conn === null || typeof conn !== "object") bad("not an object");
  if (!(conn.memory instanceof WebAssembly.Memory) || !(conn.memory.buffer instanceof SharedArrayBuffer)) bad("no shared WebAssembly.Memory");
  if (!(conn.module instanceof WebAssembly.Module)) bad("no WebAssembly.Module");
  if (typeof conn.port !== "object" || conn.port === null || typeof conn.port.postMessage !== "function") bad("no MessagePort (pass it in postMessage's transfer list)");
  const { offset, ringBytes } = conn;
  if (!Number.isInteger(offset) || offset < WASM_PAGE || offset % WASM_PAGE !== 0) bad("bad offset");
  if ((conn.lock !== undefined && typeof conn.lock !== "string") || (conn.clientLock !== undefined && typeof conn.clientLock !== "string")) bad("bad lock name");
  if (!Number.isInteger(ringBytes) || ringBytes < L.RING_MIN_CAPACITY || ringBytes > L.RING_MAX_CAPACITY || (ringBytes & (ringBytes - 1)) !== 0) bad("bad ring size");
  if (offset + connectionBytes(ringBytes) > conn.memory.buffer.byteLength) bad("the rings lie outside the memory");
  provideCoreModule(conn.module);
  const u32 = new Uint32Array(conn.memory.buffer, offset, 8);
  if (u32[0] !== L.MAGIC_LO || u32[1] !== L.MAGIC_HI) bad("no connection header");
  if (u32[2] !== L.PROTOCOL_VERSION) {
    throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `the server speaks protocol version ${u32[2]}, this client ${L.PROTOCOL_VERSION}`);
  }
  return new ThreadLink(conn.memory, offset, ringBytes, false, maxMessageBytes);
}
