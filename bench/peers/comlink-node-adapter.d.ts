// Types of comlink's Node adapter, which its package ships beside the module but does not
// map for an ES import (dist/esm/node-adapter.d.ts sits where TypeScript does not look).
declare module "comlink/dist/esm/node-adapter.mjs" {
  import type { Endpoint } from "comlink";
  export default function nodeEndpoint(nep: unknown): Endpoint;
}
