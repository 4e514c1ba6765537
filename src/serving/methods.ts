// A server's methods by name, each with its method id (protocol version 4): the number
// a client sends in a CALL instead of the name, once the server has told it the number
// in a METHOD_ID record (see METHOD IDS in src/protocol.ts). An id is given to one name
// for the server's life and never to another: a stale id (a method replaced or deleted)
// finds that name's current endpoint or nothing, never another method's.

import type { Endpoint } from "../contracts/endpoint.js";
import { requestExtra } from "../frames.js";
import { RESERVED_PREFIX } from "../contracts/stats.js";
import type { Middleware } from "./middleware.js";

export class Methods extends Map<string, Endpoint> {
  private readonly ids = new Map<string, number>();
  /** Endpoints by method id (undefined: deleted since). */
  private readonly endpoints: (Endpoint | undefined)[] = [];
  /** The METHOD_ID record's [name length u8][name] by method id, made on first need. */
  private readonly announcements: (Uint8Array | undefined)[] = [];

  /** The server's middleware, in registration order (undefined: none, the fast path). */
  private middleware: Middleware[] | undefined;

  /** Adds `fn` after the middleware already registered, around every method but the
   *  server's own ("$" names), registered before or after. */
  use(fn: Middleware): void {
    if (this.middleware === undefined) {
      this.middleware = [];
      for (const [name, ep] of this) if (!name.startsWith(RESERVED_PREFIX)) ep.middleware = this.middleware;
    }
    this.middleware.push(fn);
  }

  override set(name: string, ep: Endpoint): this {
    super.set(name, ep);
    if (this.middleware !== undefined && !name.startsWith(RESERVED_PREFIX)) ep.middleware = this.middleware;
    // Map's constructor calls set() before the fields exist; nothing passes it entries.
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.endpoints.length;
      this.ids.set(name, id);
    }
    this.endpoints[id] = ep;
    return this;
  }

  override delete(name: string): boolean {
    const id = this.ids.get(name);
    if (id !== undefined) this.endpoints[id] = undefined;
    return super.delete(name);
  }

  /** The method id of `name` (bound now or before), or undefined. */
  idOf(name: string): number | undefined {
    return this.ids.get(name);
  }

  /** The endpoint of method id `id` (any u32 a client sent), or undefined. */
  byId(id: number): Endpoint | undefined {
    return id < this.endpoints.length ? this.endpoints[id] : undefined;
  }

  /** What follows the id in the METHOD_ID record of `id` (an id from `idOf`). */
  announcement(id: number, name: string): Uint8Array {
    return (this.announcements[id] ??= requestExtra(Buffer.from(name, "utf8")));
  }
}
