// The server examples say "serving" only once run() has claimed the name, and a name that
// is taken ends them with one line on stderr and exit code 1 (no stack trace).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join, relative } from "node:path";
import { FIXTURES, killAll, leftovers, spawnFixture, uniqueName } from "./helpers.js";

const EXAMPLES = join(fileURLToPath(new URL("../../", import.meta.url)), "dist", "examples");

test.after(() => killAll());

test("calc_server and calc_nats_server: a taken name is one line on stderr and exit 1, and they never said 'serving'", async () => {
  const name = uniqueName("example");
  const first = await spawnFixture(relative(FIXTURES, join(EXAMPLES, "calc_server.js")), [name], "serving");
  try {
    for (const [file, args] of [["calc_server.js", [name]], ["calc_nats_server.js", [name, "nats://127.0.0.1:1"]]] as const) {
      const r = spawnSync(process.execPath, [join(EXAMPLES, file), ...args], { encoding: "utf8", timeout: 20_000 });
      assert.is(r.status, 1, `${file}: ${r.stdout}${r.stderr}`);
      assert.is(r.stdout, "", `${file} never says it is serving`);
      const lines = r.stderr.trimEnd().split("\n");
      assert.is(lines.length, 1, `${file}: one line\n${r.stderr}`);
      assert.match(lines[0]!, new RegExp(`^${file.replace(".js", "")}: a live server already serves ${name} `));
    }
  } finally {
    first.kill("SIGTERM"); // the example closes on SIGINT/SIGTERM
    assert.is(await first.exited, 0);
  }
  assert.equal(leftovers(name), []);
});

test.run();
