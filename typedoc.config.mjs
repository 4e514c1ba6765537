// npm run docs: the API reference, generated from the TSDoc comments of what
// src/index.ts exports, into docs/api (HTML; not committed, see the README).
// Every export, option and error code must carry a comment: a missing one is a
// warning, and warnings fail the run (the package test runs this too).
/** @type {Partial<import("typedoc").TypeDocOptions>} */
export default {
  entryPoints: ["src/index.ts"],
  tsconfig: "tsconfig.json",
  out: "docs/api",
  name: "shmrpc",
  readme: "none",
  excludePrivate: true,
  excludeProtected: true,
  excludeInternal: true,
  excludeExternals: true,
  sort: ["source-order"],
  validation: { notExported: true, notDocumented: true, invalidLink: true },
  treatWarningsAsErrors: true,
  // Declarations in src/server.ts and src/client.ts that have no comment of their
  // own yet; the connection-layer rewrite owns those files. Remove each name here
  // once it has its comment (its members and options are already documented).
  intentionallyNotDocumented: [
    "Server",
    "Server.name",
    "Handler",
    "ServerOptions",
    "Client",
    "Client.name",
    "ClientOptions",
    "BoundCalls.call",
    "BoundCalls.asyncCall",
  ],
};
