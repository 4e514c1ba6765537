// shmrpc ls --nats <url>: the services that answer the NATS service protocol (ADR-32) there,
// one row per instance: $SRV.PING finds them, $SRV.INFO.<name>.<id> gives each one's
// endpoints. Any ADR-32 service is listed; a shmrpc one also gives its shmrpc name.

import type { Invocation } from "./commands.js";
import { UsageError } from "./exit.js";
import { connectNats, connectionOptions } from "../nats/connect.js";
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

export async function natsInstances(inv: Invocation, url: string): Promise<NatsInstance[]> {
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
    const found: NatsInstance[] = [];
    const replies = await nc.requestMany("$SRV.PING", undefined, { strategy: "timer", maxWait: COLLECT_MS });
    for await (const msg of replies) {
      const ping = parseJson(msg.data);
      if (typeof ping?.name !== "string" || typeof ping.id !== "string") continue; // not an ADR-32 answer
      const metadata = ping.metadata as Record<string, unknown> | undefined;
      found.push({
        service: ping.name, id: ping.id, version: typeof ping.version === "string" ? ping.version : "",
        name: typeof metadata?.["shmrpc.name"] === "string" ? metadata["shmrpc.name"] : "", endpoints: null,
      });
    }
    await Promise.all(found.map(async (s) => {
      try {
        const info = parseJson((await nc.request(`$SRV.INFO.${s.service}.${s.id}`, undefined, { timeout: Math.min(timeoutMs, 2000) })).data);
        if (Array.isArray(info?.endpoints)) {
          s.endpoints = info.endpoints.map((e: { name?: unknown; metadata?: Record<string, unknown> }) => String(e?.metadata?.["shmrpc.method"] ?? e?.name ?? "?"));
        }
      } catch {
        // Gone since its ping, or slow: its endpoints stay unknown.
      }
    }));
    return found.sort((a, b) => a.service.localeCompare(b.service) || a.id.localeCompare(b.id));
  } finally {
    await nc.close().catch(() => {});
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function parseJson(data: Uint8Array): any {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
