// The README's contract example is the code in examples/, and it runs.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join, relative } from "node:path";
import { spawn } from "node:child_process";
import { FIXTURES, killAll, spawnFixture, uniqueName, type Child } from "./helpers.js";

const readme = suite("readme");
readme.after(killAll);

const ROOT = fileURLToPath(new URL("../../", import.meta.url)); // dist/tests -> the package
const EXAMPLES = ["examples/calc.ts", "examples/calc_server.ts", "examples/calc_client.ts"];

readme("each contract example in the README is its file in examples/, verbatim", () => {
  const text = readFileSync(join(ROOT, "README.md"), "utf8");
  for (const path of EXAMPLES) {
    const marker = `<!-- ${path} `;
    const at = text.indexOf(marker);
    assert.ok(at >= 0, `README has no block for ${path}`);
    const open = text.indexOf("```ts\n", at) + 6;
    const close = text.indexOf("```\n", open);
    assert.is(text.slice(open, close), readFileSync(join(ROOT, path), "utf8"), `README block of ${path}`);
  }
});

readme("the contract example runs and prints what the README shows", async () => {
  const name = uniqueName("readme");
  const examples = join(ROOT, "dist", "examples");
  let server: Child | undefined;
  try {
    // spawnFixture runs files of tests/fixtures: the example's path from there.
    server = await spawnFixture(relative(FIXTURES, join(examples, "calc_server.js")), [name], "serving");
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, [join(examples, "calc_client.js"), name], {
        stdio: ["ignore", "pipe", "inherit"],
        env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" }, // the test runner forces colours
      });
      let text = "";
      const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
      p.stdout.on("data", (d: Buffer) => (text += d.toString()));
      p.on("exit", (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(text);
        else reject(new Error(`calc_client exited ${code}: ${text}`));
      });
    });
    const text = readFileSync(join(ROOT, "README.md"), "utf8");
    const shown = text.slice(text.indexOf("It prints:\n\n```\n", text.indexOf("## Contracts")) + 16);
    assert.is(out, shown.slice(0, shown.indexOf("```\n")));
    server.proc.kill("SIGTERM");
    assert.is(await server.exited, 0);
  } finally {
    server?.kill();
  }
});

readme.run();
