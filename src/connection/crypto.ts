// node:crypto, loaded on first use: it (and node:stream, which it pulls in) was the largest
// part of `import("shmrpc")`, and only a token (its hash and the handshake's HMAC proofs)
// or a socket name too long for an address (its SHA-256) needs it. Random bytes (nonces,
// instance ids) come from the addon's getrandom(2) instead.

let loaded: typeof import("node:crypto") | undefined;

export function nodeCrypto(): typeof import("node:crypto") {
  // process.getBuiltinModule: no import of node:module either (shmrpc/threads bundles for browsers).
  return (loaded ??= process.getBuiltinModule("node:crypto"));
}

/** The SHA-256 of `data`, in hex. */
export function sha256Hex(data: string): string {
  return nodeCrypto().createHash("sha256").update(data).digest("hex");
}
