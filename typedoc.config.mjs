// npm run docs: one static site in dist/site (not committed): the README as its front page, the guides of
// docs/ (projectDocuments) and the API reference generated from the TSDoc comments of what src/index.ts
// exports, cross-linked: the guides link to API pages with {@link ...}, every page's navigation lists the
// guides. Every export, option and error code must carry a comment, and every link must resolve: a
// warning fails the run (the package test and tests/docs.test.ts run this too).
/** @type {Partial<import("typedoc").TypeDocOptions>} */
export default {
  entryPoints: ["src/index.ts"],
  tsconfig: "tsconfig.json",
  out: "dist/site",
  name: "shmrpc",
  readme: "README.md",
  projectDocuments: [
    "docs/getting-started.md",
    "docs/servers-and-clients.md",
    "docs/values.md",
    "docs/contracts.md",
    "docs/discovery-and-replicas.md",
    "docs/command-line.md",
    "docs/beyond-one-host.md",
    "docs/middleware-and-tracing.md",
    "docs/threads.md",
    "docs/guarantees.md",
    "docs/performance.md",
    "docs/how-it-works.md",
    "docs/PROTOCOL.md",
  ],
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
