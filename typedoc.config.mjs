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
  // No links to the sources: they need a git remote that typedoc can parse, which a
  // fresh clone or a CI checkout may not have (and a warning fails the run).
  disableSources: true,
};
