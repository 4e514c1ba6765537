// Validation where trust ends: the server checks every call to a contract method (its
// arguments before the handler runs, its result before it is sent); a proxy with
// `validate: true` checks the same on the caller's side.

import type { StandardSchemaV1 } from "@standard-schema/spec";
import { RpcError, ErrorCodes } from "../errors.js";
import { ErrorKind } from "../protocol.js";
import type { MethodSpec, ValidationIssue } from "./types.js";
import { asyncIteratorOf } from "../serving/stream.js";

type Handler = (...args: any[]) => unknown;
type Result = StandardSchemaV1.Result<unknown>;

/** What a contract's wrapper throws when a value breaks its schema: the server sends it
 *  as an ERROR of `kind` with the issues (only the wrappers made here throw it, so a
 *  handler's own RpcError is never taken for one). */
export class ContractViolation extends Error {
  constructor(readonly kind: number, message: string, readonly issues: ValidationIssue[]) {
    super(message);
    // What stats() shows as last_error: "ERR_RPC_INVALID_ARGUMENT: invalid arguments to ..."
    this.name = kind === ErrorKind.INVALID_RESULT ? ErrorCodes.ERR_RPC_INVALID_RESULT : ErrorCodes.ERR_RPC_INVALID_ARGUMENT;
  }
}

/** Issues as plain data that travels: path segments become their keys, symbols strings. */
export function plainIssues(issues: ReadonlyArray<StandardSchemaV1.Issue>): ValidationIssue[] {
  // Plain loops, not map(): libraries hand out array subclasses (arktype's ArkErrors and
  // paths) whose map() builds another of their kind.
  const out: ValidationIssue[] = [];
  for (let i = 0; i < issues.length; i++) {
    const issue = issues[i]!;
    const path: Array<string | number> = [];
    for (const seg of issue.path ?? []) {
      const key = typeof seg === "object" && seg !== null ? seg.key : seg;
      path.push(typeof key === "number" ? key : String(key));
    }
    out.push({ message: String(issue.message), path });
  }
  return out;
}

/** `args[0].name`, `result.mean`: where the first issue is. */
export function pathText(root: string, path: Array<string | number>): string {
  let s = root;
  for (const key of path) s += typeof key === "number" ? `[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  return s;
}

function describeIssues(what: "arguments" | "result" | "item", method: string, issues: ValidationIssue[]): string {
  const first = issues[0];
  const where = pathText(what === "arguments" ? "args" : what, first?.path ?? []);
  return `invalid ${what === "arguments" ? "arguments to" : `${what} of`} "${method}": ${where}: ${first?.message ?? "rejected by its schema"}` +
    (issues.length > 1 ? ` (and ${issues.length - 1} more)` : "");
}

export function argumentsViolation(method: string, issues: ReadonlyArray<StandardSchemaV1.Issue>): ContractViolation {
  const plain = plainIssues(issues);
  return new ContractViolation(ErrorKind.INVALID_ARGUMENT, describeIssues("arguments", method, plain), plain);
}

export function resultViolation(method: string, issues: ReadonlyArray<StandardSchemaV1.Issue>): ContractViolation {
  const plain = plainIssues(issues);
  return new ContractViolation(ErrorKind.INVALID_RESULT, describeIssues("result", method, plain), plain);
}

export function itemViolation(method: string, issues: ReadonlyArray<StandardSchemaV1.Issue>): ContractViolation {
  const plain = plainIssues(issues);
  return new ContractViolation(ErrorKind.INVALID_RESULT, describeIssues("item", method, plain), plain);
}

/** The caller's view of a violation. */
export function violationError(v: ContractViolation): RpcError {
  const code = v.kind === ErrorKind.INVALID_RESULT ? ErrorCodes.ERR_RPC_INVALID_RESULT : ErrorCodes.ERR_RPC_INVALID_ARGUMENT;
  return new RpcError(code, v.message, { issues: v.issues });
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && typeof x === "object" && typeof (x as PromiseLike<unknown>).then === "function";
}

/**
 * The handler the server runs for a contract method: validates the arguments (the handler
 * gets the schema's output), runs `handler`, validates its result (the caller gets the
 * schema's output). Synchronous as long as the schemas and the handler are; a schema
 * whose validation returns a Promise makes the call asynchronous, which the server handles.
 */
export function contractHandler(method: string, spec: MethodSpec, handler: Handler, context = false): Handler {
  const guard = contractGuard(method, spec);
  if (context) {
    // `{ context: true }`: the server passes the call's context after the arguments; the
    // schema checks the arguments only, and the handler gets the context after them.
    return (...raw: unknown[]): unknown => {
      const ctx = raw.pop();
      return guard(raw, (args) => handler(...args, ctx));
    };
  }
  const inner = (args: unknown[]): unknown => handler(...args);
  return (...raw: unknown[]): unknown => guard(raw, inner);
}

/** The checks of contractHandler around any `inner` (middleware runs inside them). */
export function contractGuard(method: string, spec: MethodSpec): (raw: unknown[], inner: (args: unknown[]) => unknown) => unknown {
  const args = spec.args["~standard"];
  const result = spec.result?.["~standard"];
  const checkResult = (r: Result): unknown => {
    if (r.issues) throw resultViolation(method, r.issues);
    return r.value;
  };
  const validateResult = (value: unknown): unknown => {
    const r = result!.validate(value);
    return isThenable(r) ? Promise.resolve(r).then(checkResult) : checkResult(r);
  };
  const items = spec.yields?.["~standard"];
  const run = (r: Result, inner: (args: unknown[]) => unknown): unknown => {
    if (r.issues) throw argumentsViolation(method, r.issues);
    const value = inner(r.value as unknown[]);
    // streams: each item checked as it goes (the iterator's return value by `result`)
    if (items !== undefined) {
      const stream = (v: unknown): unknown => {
        const it = asyncIteratorOf(v);
        if (it !== undefined) return checkedItems(method, it, items, result === undefined ? undefined : validateResult);
        return result === undefined ? v : validateResult(v);
      };
      return isThenable(value) ? Promise.resolve(value).then(stream) : stream(value);
    }
    if (result === undefined) return value;
    return isThenable(value) ? Promise.resolve(value).then(validateResult) : validateResult(value);
  };
  return (raw, inner) => {
    const r = args.validate(raw);
    return isThenable(r) ? Promise.resolve(r).then((v) => run(v, inner)) : run(r, inner);
  };
}

/** A streaming method's items, each checked by `schema` (the caller gets its output): an
 *  item that breaks it ends the stream (the source closed) with ERR_RPC_INVALID_RESULT. */
function checkedItems(method: string, it: AsyncIterator<unknown>, schema: StandardSchemaV1.Props, checkReturn: ((v: unknown) => unknown) | undefined): AsyncIterable<unknown> {
  const checked: AsyncIterator<unknown> = {
    next: async () => {
      const r = await it.next();
      if (r.done === true) return { done: true, value: checkReturn === undefined ? r.value : await checkReturn(r.value) };
      const v = await schema.validate(r.value);
      if (v.issues) {
        await it.return?.();
        throw itemViolation(method, v.issues);
      }
      return { done: false, value: v.value };
    },
    return: async (value?: unknown) => (it.return === undefined ? { done: true, value } : it.return(value)),
  };
  return { [Symbol.asyncIterator]: () => checked };
}

/** Caller's side, synchronous: throws RpcError when `value` breaks `schema`, or when the
 *  schema validates asynchronously (a synchronous call cannot wait for it). */
export function validateSync(schema: StandardSchemaV1, value: unknown, method: string, what: "arguments" | "result"): unknown {
  const r = schema["~standard"].validate(value);
  if (isThenable(r)) {
    // Nothing waits for it: keep its eventual rejection from being reported as unhandled.
    Promise.resolve(r).catch(() => {});
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT,
      `the ${what} schema of "${method}" validates asynchronously, which a synchronous call cannot wait for: use an async proxy (without { sync: true }) or drop { validate: true }`);
  }
  return checked(r, method, what);
}

/** Caller's side, asynchronous: any schema. */
export async function validateAsync(schema: StandardSchemaV1, value: unknown, method: string, what: "arguments" | "result"): Promise<unknown> {
  return checked(await schema["~standard"].validate(value), method, what);
}

function checked(r: Result, method: string, what: "arguments" | "result"): unknown {
  if (!r.issues) return r.value;
  throw violationError(what === "arguments" ? argumentsViolation(method, r.issues) : resultViolation(method, r.issues));
}

/** Issues as they arrived from a server: kept only in the documented shape (the client
 *  does not take a peer's data for granted). */
export function receivedIssues(data: unknown): ValidationIssue[] | undefined {
  if (!Array.isArray(data)) return undefined;
  return data.map((issue: unknown) => {
    const i = (issue !== null && typeof issue === "object" ? issue : {}) as { message?: unknown; path?: unknown };
    const path = Array.isArray(i.path) ? i.path.filter((k): k is string | number => typeof k === "string" || typeof k === "number") : [];
    return { message: String(i.message), path };
  });
}
