// Method names as a client sends them, and the method ids servers gave them (protocol
// version 4, METHOD IDS in src/protocol.ts): a call goes by name (REQUEST) until the
// server of its connection has said the method's id (METHOD_ID), then by id (CALL).
// Ids belong to one connection: each replica, and each restart of a server, numbers its
// methods its own way, so they are kept on the connection (src/calls/connection.ts).

import { RpcError, ErrorCodes } from "../errors.js";
import { METHOD_NAME_MAX_BYTES } from "../protocol.js";
import { requestExtra } from "../frames.js";

/** Method names kept per client (the calls of more names go by name every time). */
const MAX_KNOWN = 4096;

/** One method name a client calls. */
export class MethodName {
  constructor(
    readonly method: string,
    /** What follows the call id in a REQUEST: [name length u8][name, UTF-8]. */
    readonly extra: Uint8Array,
    /** Its slot in each connection's ids, or -1 (never sent by id). */
    readonly index: number,
  ) {}
}

/** A client's method names, shared by its routes. */
export class MethodNames {
  private readonly byName = new Map<string, MethodName>();

  /** The MethodName of `method`; throws ERR_RPC_INVALID_ARGUMENT for a bad name. */
  of(method: string): MethodName {
    const known = this.byName.get(method);
    if (known !== undefined) return known;
    if (typeof method !== "string" || method.length === 0) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "method name must be a non-empty string");
    }
    const utf8 = Buffer.from(method, "utf8");
    if (utf8.length > METHOD_NAME_MAX_BYTES) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `method name is longer than ${METHOD_NAME_MAX_BYTES} UTF-8 bytes`);
    }
    const kept = this.byName.size < MAX_KNOWN;
    const name = new MethodName(method, requestExtra(utf8), kept ? this.byName.size : -1);
    if (kept) this.byName.set(method, name);
    return name;
  }

  /** The slot of a name a server announced, or -1 when this client never called it. */
  indexOf(method: string): number {
    return this.byName.get(method)?.index ?? -1;
  }
}

/** The method ids one connection's server gave: [slot] -> id, or -1 while unknown. */
export class MethodIds {
  private ids = new Int32Array(16).fill(-1);

  /** The id of slot `index` (of a MethodName), or -1: send by name. */
  get(index: number): number {
    return index >= 0 && index < this.ids.length ? this.ids[index]! : -1;
  }

  /** The server said `id` is the method of slot `index`. Ids above 2^31 are kept
   *  unknown (such a method goes by name): no server numbers that many methods. */
  set(index: number, id: number): void {
    if (index < 0 || id > 0x7fffffff) return;
    if (index >= this.ids.length) {
      const grown = new Int32Array(Math.max(index + 1, this.ids.length * 2)).fill(-1);
      grown.set(this.ids);
      this.ids = grown;
    }
    this.ids[index] = id;
  }
}
