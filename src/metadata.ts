// Call metadata: string pairs a caller sends with a call (`withOptions({ metadata })`),
// which a `{ context: true }` handler reads as ctx.metadata. The same rules on both sides
// and every transport (over NATS: message headers).

import { RpcError, ErrorCodes } from "./errors.js";

/** Most bytes of metadata per call: keys and values, UTF-8. */
export const METADATA_MAX_BYTES = 8 * 1024;
const KEY = /^[a-z0-9._-]{1,128}$/;
/** Keys of shmrpc's own (refused from callers). */
export const RESERVED_KEY_PREFIX = "shmrpc-";

/** Checks a caller's metadata: a frozen copy, or ERR_RPC_INVALID_ARGUMENT saying why. */
export function validateMetadata(metadata: unknown): Readonly<Record<string, string>> {
  const why = problem(metadata);
  if (why !== undefined) throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option metadata ${why}`);
  return Object.freeze({ ...(metadata as Record<string, string>) });
}

/** Metadata as received: the same object checked, or undefined when it breaks the rules. */
export function receivedMetadata(value: unknown): Readonly<Record<string, string>> | undefined {
  return problem(value) === undefined ? Object.freeze(value as Record<string, string>) : undefined;
}

function problem(metadata: unknown): string | undefined {
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) return "must be an object of string values";
  const proto = Object.getPrototypeOf(metadata);
  if (proto !== Object.prototype && proto !== null) return "must be a plain object";
  let bytes = 0;
  for (const [key, value] of Object.entries(metadata)) {
    if (!KEY.test(key)) return `key ${JSON.stringify(key)} must be 1 to 128 of [a-z0-9._-]`;
    if (key.startsWith(RESERVED_KEY_PREFIX)) return `key ${JSON.stringify(key)} is reserved (keys starting "${RESERVED_KEY_PREFIX}" are shmrpc's)`;
    if (typeof value !== "string") return `value of ${JSON.stringify(key)} must be a string`;
    bytes += key.length + Buffer.byteLength(value);
    if (bytes > METADATA_MAX_BYTES) return `is over ${METADATA_MAX_BYTES} bytes (keys and values, UTF-8)`;
  }
  return undefined;
}
