// shmrpc ls --nats <url>: the services that answer the NATS service protocol (ADR-32) there,
// one row per instance: $SRV.PING finds them, $SRV.INFO.<name>.<id> gives each one's
// endpoints. Any ADR-32 service is listed; a shmrpc one also gives its shmrpc name.

import type { Invocation } from "./commands.js";
import { UsageError } from "./exit.js";
import { connectNats, connectionOptions } from "../nats/connect.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { durationOption } from "./parse.js";

/** One instance of a NATS service, as `ls --nats` shows it. */
export interface NatsInstance {
  /** The ADR-32 service name ("calc"). */
  service: string;
  /** The shmrpc server name ("/calc"), when a shmrpc server answered; else "". */
  name: string;
  /** The instance's id (ADR-32 `id`). */
  id: string;
  version: string;
  /** Its endpoints' names (for a shmrpc server: its methods), when $SRV.INFO answered. */
  endpoints: string[] | null;
}

/** How long to collect $SRV.PING answers: every instance on the cluster answers once. */
const COLLECT_MS = 500;
/** At most this many instances are listed: a peer can answer a ping any number of times. */
export const MAX_INSTANCES = 1000;
/** A ping or info answer bigger than this is not read (a real one is well under 4 KiB). */
const MAX_ANSWER_BYTES = 64 * 1024;
/** Strings of an answer are cut at this length; an instance lists at most MAX_ENDPOINTS endpoints. */
const MAX_STRING = 256;
const MAX_ENDPOINTS = 1000;
/** $SRV.INFO requests in flight at once, and how long they all may take together. */
const INFO_CONCURRENCY = 16;
const INFO_BUDGET_MS = 3000;

/** What `ls --nats` found: the instances (at most MAX_INSTANCES), and whether more answered. */
export interface NatsListing {
  instances: NatsInstance[];
  /** More than MAX_INSTANCES answered: the rest were not read. */
  truncated: boolean;
}

export async function natsInstances(inv: Invocation, url: string): Promise<NatsListing> {
  if (!/^(nats|tls):\/\/[^/]+\/?$/.test(url)) {
    throw new UsageError(`ls: --nats takes a NATS server's URL, not '${url}'`, "e.g. --nats nats://127.0.0.1:4222");
  }
  const parsed = new URL(url);
  if (parsed.password !== "") inv.out.hide(decodeURIComponent(parsed.password));
  const timeoutMs = durationOption(inv, "timeout", 10_000);
  const options = connectionOptions({
    servers: `${parsed.protocol}//${parsed.host}`,
    ...(parsed.username ? { user: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { pass: decodeURIComponent(parsed.password) } : {}),
  }, "--nats");
  const nc = await connectNats(options, timeoutMs);
  try {
    const found = new Map<string, NatsInstance>();
    let truncated = false;
    let replies: Iterable<{ data: Uint8Array }> | AsyncIterable<{ data: Uint8Array }> = [];
    try {
      // One more than listed: that one says there were more.
      replies = await nc.requestMany("$SRV.PING", undefined, { strategy: "timer", maxWait: COLLECT_MS, maxMessages: MAX_INSTANCES + 1 });
    } catch (e) {
      if (!noResponders(e)) throw e; // nobody subscribes to $SRV.PING: none found
    }
    try {
      for await (const msg of replies) {
        if (msg.data.length > MAX_ANSWER_BYTES) continue;
        const ping = parseJson(msg.data);
        if (typeof ping?.name !== "string" || typeof ping.id !== "string") continue; // not an ADR-32 answer
        const key = `${ping.name}\u0000${ping.id}`;
        if (found.has(key)) continue;
        if (found.size === MAX_INSTANCES) {
          truncated = true;
          break;
        }
        const metadata = ping.metadata as Record<string, unknown> | undefined;
        found.set(key, {
          service: cut(ping.name), id: cut(ping.id), version: typeof ping.version === "string" ? cut(ping.version) : "",
          name: typeof metadata?.["shmrpc.name"] === "string" ? cut(metadata["shmrpc.name"]) : "", endpoints: null,
        });
      }
    } catch (e) {
      if (!noResponders(e)) throw e;
    }
    const instances = [...found.values()];
    await endpointsOf(nc, instances, Math.min(timeoutMs, INFO_BUDGET_MS));
    return { instances: instances.sort((a, b) => a.service.localeCompare(b.service) || a.id.localeCompare(b.id)), truncated };
  } finally {
    await nc.close().catch(() => {});
  }
}

/** Asks each instance for its endpoints ($SRV.INFO), INFO_CONCURRENCY at a time, all within
 *  `budgetMs`: those that did not answer by then keep `endpoints: null`. */
async function endpointsOf(nc: NatsConnection, instances: NatsInstance[], budgetMs: number): Promise<void> {
  const deadline = performance.now() + budgetMs;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < instances.length) {
      const s = instances[next++]!;
      const left = deadline - performance.now();
      if (left < 1) return;
      try {
        const msg = await nc.request(`$SRV.INFO.${s.service}.${s.id}`, undefined, { timeout: Math.max(1, Math.floor(Math.min(left, 2000))) });
        const info = msg.data.length > MAX_ANSWER_BYTES ? undefined : parseJson(msg.data);
        if (Array.isArray(info?.endpoints)) {
          s.endpoints = (info.endpoints as unknown[]).slice(0, MAX_ENDPOINTS).map((e) => {
            const x = e as { name?: unknown; metadata?: Record<string, unknown> } | null;
            return cut(String(x?.metadata?.["shmrpc.method"] ?? x?.name ?? "?"));
          });
        }
      } catch {
        // Gone since its ping, slow, or a subject NATS refuses: its endpoints stay unknown.
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(INFO_CONCURRENCY, instances.length) }, worker));
}

function cut(s: string): string {
  return s.length > MAX_STRING ? s.slice(0, MAX_STRING) + "…" : s;
}

/** The NATS library's "no responders" (503): nobody subscribes to the subject. */
function noResponders(e: unknown): boolean {
  const x = e as { code?: unknown; name?: unknown; message?: unknown } | null;
  return x?.code === "503" || x?.name === "NoRespondersError" || /no responders/i.test(String(x?.message));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function parseJson(data: Uint8Array): any {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
