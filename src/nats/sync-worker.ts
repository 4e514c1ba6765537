// The worker thread of synchronous NATS calls (see src/nats/sync.ts): owns a NATS
// connection, does each request it is given and posts the outcome.

import { workerData, type MessagePort } from "node:worker_threads";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ConnectOptions } from "./options.js";
import { RpcError } from "../errors.js";
import { connectFailure, connectNats, natsLibrary, requestFailure } from "./connect.js";
import { HEADER_CALL, cancelMessage, toHeaders } from "./context.js";
import type { SyncReply, SyncRequest } from "./sync.js";
import { NatsSeal, sealedRequest } from "./auth.js";

const { options, port, done, tokenKey } = workerData as { options: ConnectOptions; port: MessagePort; done: Int32Array; tokenKey: Uint8Array | undefined };
let nc: NatsConnection | undefined;
const seal = tokenKey === undefined ? undefined : new NatsSeal(tokenKey);

function reply(r: SyncReply): void {
  port.postMessage(r);
  Atomics.store(done, 0, r.seq); // after posting: the caller reads the port once it sees this
  Atomics.notify(done, 0);
}

port.on("message", (req: SyncRequest) => {
  void handle(req).then(reply);
});

async function handle(req: SyncRequest): Promise<SyncReply> {
  const start = performance.now();
  if (nc === undefined || nc.isClosed()) {
    try {
      nc = await connectNats(options, req.timeoutMs);
    } catch (e) {
      const code = e instanceof RpcError ? e.code : connectFailure(e).code;
      return { seq: req.seq, ok: false, code, message: (e as Error).message, maybeExecuted: false };
    }
  }
  const max = nc.info?.max_payload;
  if (max !== undefined && req.data.length > max) {
    return { seq: req.seq, ok: false, code: "ERR_RPC_MESSAGE_TOO_LARGE", message: `request of ${req.data.length} bytes is over the NATS server's max_payload (${max})`, maybeExecuted: false };
  }
  try {
    const timeout = Math.max(1, Math.min(req.timeoutMs - (performance.now() - start), 2 ** 31 - 1));
    if (seal !== undefined) {
      const opened = await sealedRequest(nc, seal, req.subject, req.data, timeout, undefined, req.headers);
      return { seq: req.seq, ok: true, data: opened.data, headers: opened.headers };
    }
    const msg = await nc.request(req.subject, req.data, { timeout, headers: toHeaders((await natsLibrary()).headers, req.headers) });
    let headers: Record<string, string> | undefined;
    if (msg.headers) {
      headers = {};
      for (const key of msg.headers.keys()) headers[key] = msg.headers.get(key);
    }
    return { seq: req.seq, ok: true, data: msg.data, headers };
  } catch (e) {
    const f = requestFailure(e);
    if (f.code === "ERR_RPC_TIMEOUT") {
      try {
        nc.publish(req.cancelSubject, cancelMessage(req.headers[HEADER_CALL]!, true)); // best effort, as for asyncCall
      } catch {
        // Closed: nothing to tell.
      }
    }
    const message = f.code === "ERR_RPC_TIMEOUT" ? `no reply within ${Math.round(req.timeoutMs)} ms` : f.code === "ERR_RPC_NOT_CONNECTED" ? "no server serves it on NATS" : f.message;
    return { seq: req.seq, ok: false, code: f.code, message, maybeExecuted: f.maybeExecuted };
  }
}
