// Typed contracts: definition, validation, introspection and statistics.
export { defineContract, isContract } from "./define.js";
export type { Contract, ContractSpec, MethodSpec, Handlers, ContextHandlers, Proxy, ProxyOptions, CallArgs, CallResult, HandlerArgs, HandlerResult, CallItem, HandlerItem, StreamingMethod, ValidationIssue } from "./types.js";
export type { ServiceDescription, MethodDescription } from "./describe.js";
export type { ServiceStats, EndpointStats, ConnectionStats } from "./stats.js";
