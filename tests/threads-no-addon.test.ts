// shmrpc/threads needs no native code: imported (the package's export, the bundle) with
// the addon and node: built-ins refused, it passes calls between worker threads.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const t = suite("threads-no-addon");

t("shmrpc/threads passes calls between worker threads with the addon made unloadable", () => {
  const fixture = fileURLToPath(new URL("./fixtures/threads-no-addon.js", import.meta.url));
  const out = execFileSync(process.execPath, [fixture], { timeout: 60_000, encoding: "utf8" });
  assert.is(out.trim(), "ok");
});

t("the threads bundle imports nothing: no node: module, no addon, no other file", () => {
  const bundle = readFileSync(fileURLToPath(new URL("../bundle/threads.js", import.meta.url)), "utf8");
  assert.not.match(bundle, /^\s*import\s.*from\s/m);
  assert.not.match(bundle, /\brequire\(/);
  assert.not.match(bundle, /\.node["']/);
});

t.run();
