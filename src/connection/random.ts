// Random bytes from the addon's getrandom(2) (nonces, instance ids): apart from
// src/connection/crypto.ts, so that what imports the protocol's constants loads no addon.

import { native } from "../native.js";

/** `n` bytes from the kernel's CSPRNG. */
export function randomBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  native.randomFill(b);
  return b;
}
