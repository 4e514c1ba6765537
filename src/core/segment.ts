// A POSIX shared-memory object mapped in place into this thread's WebAssembly memory.

import { native } from "../native.js";
import { core, WASM_PAGE } from "./wasm.js";
import { RpcError, ErrorCodes } from "../errors.js";

// Big private regions (reassembly buffers, grown scratch) give their pages back when freed.
core().discardPages = (offset, bytes) => native.unmapShared(core().u8, offset, bytes);

export class Segment {
  private closed = false;

  private constructor(
    readonly name: string,
    readonly fd: number,
    /** Byte offset of the mapping in linear memory. */
    readonly offset: number,
    readonly size: number,
    /** The creator's user and group, as the kernel records them. */
    readonly uid: number,
    readonly gid: number,
  ) {}

  /** Creates a new object (mode 0600 unless given) and maps it. */
  static create(name: string, size: number, mode = 0o600): Segment {
    const fd = native.shmCreate(name, size, mode);
    return Segment.map(name, fd, size, process.geteuid!(), process.getegid!());
  }

  /** Opens an existing object and maps it. `expectSize`, if given, must match. */
  static open(name: string, maxSize: number, expectSize?: number): Segment {
    const { fd, size, uid, gid } = native.shmOpen(name);
    if (size <= 0 || size > maxSize || size % WASM_PAGE !== 0 || (expectSize !== undefined && size !== expectSize)) {
      native.closeFd(fd);
      throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `shared memory ${name} has an unexpected size (${size} bytes)`);
    }
    return Segment.map(name, fd, size, uid, gid);
  }

  private static map(name: string, fd: number, size: number, uid: number, gid: number): Segment {
    const c = core();
    let offset = -1;
    try {
      offset = c.alloc(size);
      native.mapShared(c.u8, offset, size, fd);
    } catch (e) {
      if (offset >= 0) c.release(offset, size);
      native.closeFd(fd);
      throw e;
    }
    return new Segment(name, fd, offset, size, uid, gid);
  }

  /** Takes this process's liveness lock on the object (held until close or death). */
  lock(): boolean {
    return native.lock(this.fd);
  }

  /** True when some process holds the liveness lock. */
  isLocked(): boolean {
    return native.isLocked(this.fd);
  }

  /** Lets these users and groups (besides the owner) read and write it. */
  grantAccess(uids: number[], gids: number[]): void {
    native.grantAccess(this.fd, uids, gids);
  }

  unlink(): void {
    native.shmUnlink(this.name);
  }

  /** Unmaps (anonymous zero pages take its place) and closes; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const c = core();
    native.unmapShared(c.u8, this.offset, this.size);
    c.release(this.offset, this.size, false); // its pages were just replaced
    native.closeFd(this.fd);
  }

  // Word access: `at` is a byte offset inside the segment, 4-byte aligned.
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

export function roundToPages(bytes: number): number {
  return Math.ceil(bytes / WASM_PAGE) * WASM_PAGE;
}
