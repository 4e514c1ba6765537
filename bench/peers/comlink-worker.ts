// The comlink peer's server: add and echo exposed on this worker's parent port.
import { parentPort } from "node:worker_threads";
import * as Comlink from "comlink";
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs";

Comlink.expose({ add: (a: number, b: number) => a + b, echo: (x: unknown) => x }, nodeEndpoint(parentPort!));
