// shmrpc: RPC between Node.js processes on one host through shared-memory rings.
/**
 * Every export of `shmrpc`, generated from the TSDoc comments. The guides explain how the pieces fit:
 * [Getting started](../docs/getting-started.md), [Servers and clients](../docs/servers-and-clients.md),
 * [Values](../docs/values.md), [Contracts](../docs/contracts.md),
 * [Discovery and replicas](../docs/discovery-and-replicas.md), [Beyond one host](../docs/beyond-one-host.md),
 * and the wire format in [Protocol](../docs/PROTOCOL.md).
 * @module API reference
 */
export { Server } from "./server.js";
export type { Handler, BindOptions, ServerOptions, PeerInfo } from "./server.js";
export type { CallContext, Caller, ShmCaller, NatsCaller, ThreadCaller } from "./serving/context.js";
export type { Middleware, MiddlewareContext } from "./serving/middleware.js";
export type { Interceptor, InterceptedCall, InterceptedOptions } from "./calls/intercept.js";
export type { MessageSizes } from "./calls/transport.js";
export { Client } from "./client.js";
export type { ClientOptions, CallOptions, BoundCalls, InstanceInfo, RetryInfo } from "./client.js";
export type { RpcStream } from "./calls/stream.js";
export type { Balance } from "./calls/balance.js";
export type { RetryPolicy } from "./calls/retry.js";
export { listServers } from "./connection/discovery.js";
export type { ServerListing, ListServersOptions } from "./connection/discovery.js";
// nats: the same services over NATS (the library loads only when used)
export type { NatsOptions, NatsTarget, NatsClientOptions } from "./nats/options.js";
export { RpcError, ErrorCodes } from "./errors.js";
export type { ErrorCode, RemoteErrorInfo, SchemaIssue } from "./errors.js";
// contracts: typed methods, validation, describe() and stats()
export { defineContract } from "./contracts/index.js";
export type {
  Contract, ContractSpec, MethodSpec, Handlers, ContextHandlers, Proxy, ProxyOptions, CallArgs, CallResult, HandlerArgs, HandlerResult,
  CallItem, HandlerItem, StreamingMethod,
  ServiceDescription, MethodDescription, ServiceStats, EndpointStats, ConnectionStats,
} from "./contracts/index.js";
