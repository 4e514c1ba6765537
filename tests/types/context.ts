// Type tests (tsc --noEmit, not run): implement(contract, handlers, { context: true }) types
// each handler's parameter after the contract's arguments as the call's CallContext.
import { z } from "zod";
import { Server, defineContract, type CallContext } from "shmrpc";

const calc = defineContract({
  add: { args: z.tuple([z.number(), z.number()]), result: z.number() },
  greet: { args: z.tuple([z.string()]), result: z.string() },
  free: { args: z.tuple([]) },
});

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
const exact = <T extends true>(_: T): void => {};

const server = new Server("/types-context");
server.implement(calc, {
  add: (a, b, ctx) => {
    exact<Equal<typeof a, number>>(true);
    exact<Equal<typeof ctx, CallContext>>(true);
    const left: number = ctx.deadline - Date.now();
    ctx.signal.throwIfAborted();
    return a + b + (ctx.caller.transport === "shm" ? ctx.caller.pid : 0) + left * 0;
  },
  greet: async (name, ctx) => `${name} from ${ctx.metadata["user"] ?? ctx.method}`,
  free: (ctx) => {
    exact<Equal<typeof ctx, CallContext>>(true); // no arguments: the context comes first
    return ctx.method;
  },
}, { context: true });

// A handler may leave the context out.
server.implement(calc, { add: (a, b) => a + b, greet: (name) => name, free: () => 0 }, { context: true, view: false });

server.implement(calc, {
  // @ts-expect-error the context is a CallContext, not another argument
  add: (a, b, ctx: number) => a + b + ctx,
  greet: (name) => name,
  free: () => 0,
}, { context: true });

server.implement(calc, {
  // @ts-expect-error without { context: true } there is no context parameter
  add: (a, b, ctx: CallContext) => a + b + ctx.deadline,
  greet: (name) => name,
  free: () => 0,
});

// @ts-expect-error { context: false } as well (no overload matches: reported on the call)
server.implement(calc, {
  add: (a: number, b: number, ctx: CallContext) => a + b + ctx.deadline, // (typed: the failed overload gives no contextual types)
  greet: (name) => name,
  free: () => 0,
}, { context: false });

server.implement(calc, {
  add: (a, b, ctx) => a + b + ctx.deadline,
  // @ts-expect-error the context does not change what a handler must return
  greet: (name, ctx) => ctx.deadline,
  free: () => 0,
}, { context: true });
