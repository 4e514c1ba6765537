// The types of a contract: what defineContract takes, what implement() checks each
// handler against, and what proxy() gives the caller. Any Standard Schema v1 library
// (zod 4, valibot 1, arktype 2, ...) describes the values.

import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { RpcStream } from "../calls/stream.js";
import type { CallContext } from "../serving/context.js";

/**
 * A schema of the arguments: validates an array, the tuple of a call's arguments.
 * @inline
 */
export type ArgsSchema = StandardSchemaV1<any, readonly unknown[]>;

/** One method of a contract. */
export interface MethodSpec {
  /** The arguments, a tuple schema (`z.tuple([...])`, `v.tuple([...])`, `type([...])`). */
  readonly args: ArgsSchema;
  /** The result; without one, any value the handler returns is sent unchecked. For a
   *  streaming method (`yields`), the iterator's return value. */
  readonly result?: StandardSchemaV1 | undefined;
  /** Each item of a streaming method: its handler returns an async iterable of them (an
   *  async generator), the server checks each, and the proxy's method returns an
   *  {@link RpcStream} of them. */
  readonly yields?: StandardSchemaV1 | undefined;
  /** Safe to call twice: shown by describe(), and a call that a lost replica may have run
   *  is sent again (the client's retry policy). */
  readonly idempotent?: boolean | undefined;
  /** Shown by describe(). */
  readonly description?: string | undefined;
}

/** The methods of a contract: its method names, each with its {@link MethodSpec}. */
export type ContractSpec = Record<string, MethodSpec>;

declare const CONTRACT: unique symbol;

/** What defineContract returns: the spec, branded. */
export interface Contract<S extends ContractSpec = ContractSpec> {
  /** The spec given to defineContract, frozen. */
  readonly methods: S;
  /**
   * Type-only brand (no such property at run time): only defineContract makes a Contract.
   * @internal
   */
  readonly [CONTRACT]: true;
}

// CallArgs, HandlerArgs, HandlerResult and CallResult spell out their helpers (a schema's
// input or output type, kept only when it is a tuple) instead of naming unexported helper
// aliases, which the API reference would have to show. `X extends infer T ? ... : never`
// names X so that the next conditional distributes over a union, as a generic helper would.

/** What a caller passes (the argument schema's input, a tuple). */
export type CallArgs<M extends MethodSpec> = M["args"] extends infer S
  ? (S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : unknown) extends infer A
    ? A extends readonly unknown[] ? A : never
    : never
  : never;
/** What a handler receives (the argument schema's output, after validation, a tuple). */
export type HandlerArgs<M extends MethodSpec> = M["args"] extends infer S
  ? (S extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<S> : unknown) extends infer A
    ? A extends readonly unknown[] ? A : never
    : never
  : never;
/** What a handler may return (the result schema's input); unknown without a result schema. */
export type HandlerResult<M extends MethodSpec> = M["result"] extends StandardSchemaV1 ? StandardSchemaV1.InferInput<M["result"]> : unknown;
/** What a caller receives (the result schema's output); unknown without a result schema. */
export type CallResult<M extends MethodSpec> = M["result"] extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<M["result"]> : unknown;

/** A method with `yields`: a streaming method. */
export interface StreamingMethod {
  /** The schema of each of its items. */
  readonly yields: StandardSchemaV1;
}

/** What a streaming method's handler yields (the `yields` schema's input). */
export type HandlerItem<M extends MethodSpec> = M["yields"] extends StandardSchemaV1 ? StandardSchemaV1.InferInput<M["yields"]> : never;
/** What a streaming method's caller receives per item (the `yields` schema's output). */
export type CallItem<M extends MethodSpec> = M["yields"] extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<M["yields"]> : never;

/** One handler per method of the contract, each checked against its entry: a streaming
 *  method's (`yields`) returns an async iterable of its items. */
export type Handlers<S extends ContractSpec> = {
  readonly [K in keyof S]: S[K] extends StreamingMethod
    ? (...args: HandlerArgs<S[K]>) => AsyncIterable<HandlerItem<S[K]>> | PromiseLike<AsyncIterable<HandlerItem<S[K]>>>
    : (...args: HandlerArgs<S[K]>) => HandlerResult<S[K]> | PromiseLike<HandlerResult<S[K]>>;
};

/** One handler per method of the contract, implemented with `{ context: true }`: each
 *  gets the call's {@link CallContext} after its arguments. */
export type ContextHandlers<S extends ContractSpec> = {
  readonly [K in keyof S]: S[K] extends StreamingMethod
    ? (...args: [...HandlerArgs<S[K]>, CallContext]) => AsyncIterable<HandlerItem<S[K]>> | PromiseLike<AsyncIterable<HandlerItem<S[K]>>>
    : (...args: [...HandlerArgs<S[K]>, CallContext]) => HandlerResult<S[K]> | PromiseLike<HandlerResult<S[K]>>;
};

/** The options of `client.proxy(contract, options)`. */
export interface ProxyOptions {
  /** Synchronous calls (`client.call`) instead of Promises. */
  sync?: boolean;
  /** Also check arguments before sending and results on arrival (the server always checks). */
  validate?: boolean;
}

/** The typed calls of a contract, from `client.proxy(contract, options)`: a streaming
 *  method (`yields`) returns an {@link RpcStream} of its items, sync or not. */
export type Proxy<S extends ContractSpec, Sync extends boolean = false> = {
  readonly [K in keyof S]: S[K] extends StreamingMethod
    ? (...args: CallArgs<S[K]>) => RpcStream<CallItem<S[K]>>
    : (...args: CallArgs<S[K]>) => Sync extends true ? CallResult<S[K]> : Promise<CallResult<S[K]>>;
};

/** A validation problem, as the schema library reported it (path made of plain keys). */
export type { SchemaIssue as ValidationIssue } from "../errors.js";
