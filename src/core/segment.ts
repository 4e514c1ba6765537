// The shared memory of one connection: a sealed memfd mapped in place into this
// thread's WebAssembly memory. The server creates it; the client adopts the fd the
// server passed, after checking that no one can resize it under us.

import { native, Seal } from "../native.js";
import { core, WASM_PAGE } from "./wasm.js";
import { OutOfLinearMemory } from "./out-of-memory.js";
import { RpcError, ErrorCodes } from "../errors.js";

// Big private regions (reassembly buffers, grown scratch) give their pages back when freed.
core().discardPages = (offset, bytes) => native.unmapShared(core().u8, offset, bytes);

/** The seals a region must carry before we map it: a peer that could shrink it would
 *  make our next access to a missing page a SIGBUS, one that could grow it would eat
 *  the memory budget. */
const REQUIRED_SEALS = Seal.SHRINK | Seal.GROW | Seal.SEAL;
/** F_SEAL_FUTURE_WRITE (Linux 5.1): no new writable mapping. */
const SEAL_FUTURE_WRITE = 0x10;

export class Segment {
  private closed = false;

  private constructor(
    /** Byte offset of the mapping in linear memory. */
    readonly offset: number,
    readonly size: number,
  ) {}

  /** A new region of `size` bytes, reserved and sealed, with room for it in our memory,
   *  not mapped yet: the caller may write its first bytes through the fd and pass the fd
   *  on first. Throws ERR_RPC_RESOURCE_EXHAUSTED when the memory has no room. */
  static reserve(label: string, size: number): Reserved {
    const fd = native.memfdCreate(label, size);
    const c = core();
    let offset: number;
    try {
      offset = c.alloc(size);
    } catch (e) {
      native.closeFd(fd);
      if (e instanceof OutOfLinearMemory) {
        throw new RpcError(ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED, e.message, { cause: e });
      }
      throw e;
    }
    let done = false;
    return {
      fd,
      map(): Segment {
        if (done) throw new Error("shmrpc: a reserved region is mapped once");
        done = true;
        try {
          native.mapShared(c.u8, offset, size, fd);
        } catch (e) {
          c.release(offset, size);
          throw e;
        } finally {
          native.closeFd(fd);
        }
        return new Segment(offset, size);
      },
      cancel(): void {
        if (done) return;
        done = true;
        c.release(offset, size);
        native.closeFd(fd);
      },
    };
  }

  /** Maps a region received from a peer: it must be a sealed memfd of exactly
   *  `size` bytes. Closes `fd` in every case. */
  static adopt(fd: number, size: number): Segment {
    try {
      const info = native.memfdInfo(fd);
      if (!info.regular || info.seals < 0 || (info.seals & REQUIRED_SEALS) !== REQUIRED_SEALS) {
        throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `the peer's shared memory is not sealed against resizing (seals ${info.seals})`);
      }
      // Sealed against writes (F_SEAL_WRITE, or F_SEAL_FUTURE_WRITE 0x10): it could not be
      // mapped for writing (EPERM), which is the peer breaking the protocol, not our access.
      if ((info.seals & (Seal.WRITE | SEAL_FUTURE_WRITE)) !== 0) {
        throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `the peer's shared memory is sealed against writes (seals ${info.seals})`);
      }
      if (info.size !== size || size <= 0 || size % WASM_PAGE !== 0) {
        throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `the peer's shared memory has ${info.size} bytes, expected ${size}`);
      }
      return Segment.map(fd, size);
    } finally {
      native.closeFd(fd);
    }
  }

  private static map(fd: number, size: number): Segment {
    const c = core();
    let offset = -1;
    try {
      offset = c.alloc(size);
      native.mapShared(c.u8, offset, size, fd);
    } catch (e) {
      if (offset >= 0) c.release(offset, size);
      if (e instanceof OutOfLinearMemory) {
        throw new RpcError(ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED, e.message, { cause: e });
      }
      throw e;
    }
    return new Segment(offset, size);
  }

  /** Unmaps (anonymous zero pages take its place); idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const c = core();
    native.unmapShared(c.u8, this.offset, this.size);
    c.release(this.offset, this.size, false); // its pages were just replaced
  }

  // Word access: `at` is a byte offset inside the region, 4-byte aligned.
  load(at: number): number {
    return Atomics.load(core().i32, (this.offset + at) >>> 2) >>> 0;
  }
  store(at: number, value: number): void {
    Atomics.store(core().i32, (this.offset + at) >>> 2, value | 0);
  }
  add(at: number, value: number): number {
    return Atomics.add(core().i32, (this.offset + at) >>> 2, value) >>> 0;
  }
  exchange(at: number, value: number): number {
    return Atomics.exchange(core().i32, (this.offset + at) >>> 2, value | 0) >>> 0;
  }
  compareExchange(at: number, expected: number, value: number): number {
    return Atomics.compareExchange(core().i32, (this.offset + at) >>> 2, expected | 0, value | 0) >>> 0;
  }
}

/** A region made by Segment.reserve: its fd until map() (which closes it) or cancel(). */
export interface Reserved {
  readonly fd: number;
  /** Maps it and closes the fd; on failure the room is given back and the fd closed. */
  map(): Segment;
  /** Gives the room back and closes the fd (nothing if already mapped). */
  cancel(): void;
}

export function roundToPages(bytes: number): number {
  return Math.ceil(bytes / WASM_PAGE) * WASM_PAGE;
}
