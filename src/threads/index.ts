// shmrpc/threads: the same RPC between the threads of one process or page (worker
// threads, web workers), on a shared WebAssembly.Memory with Atomics: no native code, no
// socket, no Node built-in beyond what the error details use (see docs/threads.md).
// The WebAssembly core's bytes come embedded (src/threads/embedded.ts) in the bundle.

import "./web-buffer.js"; // first: the codec and channel use Buffer as they load
import "./embedded.js";
export { ThreadServer, type ThreadServerOptions } from "./server.js";
export { ThreadClient, type ThreadClientOptions } from "./client.js";
export type { ThreadConnection, ThreadPort } from "./connection.js";
export type { RpcStream } from "../calls/stream.js";
export { RpcError, ErrorCodes, type ErrorCode, type RemoteErrorInfo } from "../errors.js";
export { defineContract } from "../contracts/define.js";
export type { CallContext, Caller, ThreadCaller } from "../serving/context.js";
export type { BindOptions, Handler } from "../serving/options.js";
export type { Middleware, MiddlewareContext } from "../serving/middleware.js";
export type { Interceptor, InterceptedCall, InterceptedOptions } from "../calls/intercept.js";
export type { BoundCalls } from "../calls/api.js";
export type { CallOptions } from "../calls/options.js";
export type { Contract, ContractSpec, Proxy, ProxyOptions, Handlers } from "../contracts/types.js";
export type { ServiceDescription } from "../contracts/describe.js";
export type { ServiceStats } from "../contracts/stats.js";
