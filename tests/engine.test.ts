// The engine (ring, channel, codec) without native code: what a transport with no addon
// (worker threads, a browser) runs on. Its big copies are an injected function.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const engine = suite("engine");

engine("the ring, channel and codec carry a fragmented 200 KB binary with the addon made unloadable", () => {
  const fixture = fileURLToPath(new URL("./fixtures/engine-no-addon.js", import.meta.url));
  const out = execFileSync(process.execPath, [fixture], { timeout: 30_000, encoding: "utf8" });
  assert.is(out.trim(), "ok");
});

engine.run();
