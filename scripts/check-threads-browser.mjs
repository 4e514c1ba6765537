// node scripts/check-threads-browser.mjs [screenshot.png]: opens examples/threads-browser (served by its
// serve.mjs on a free port of 127.0.0.1, cross-origin isolated) in a real headless Chromium, waits for
// the page's "RESULT:" line and checks it says ok; fails on a console error or an uncaught exception too.
// Keeps a screenshot (default dist/artefacts/threads-browser.png). Prints uvu's Total/Passed/Skipped
// lines, which .ci/run adds to its summary. Needs `npm run build` first (dist/bundle/threads.js).
// The browser is Debian's chromium (CHROMIUM, default /usr/bin/chromium), driven by playwright-core.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { serveExample } from "../examples/threads-browser/serve.mjs";

const shot = resolve(process.argv[2] ?? "dist/artefacts/threads-browser.png");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT_MS = 60_000;

const server = await serveExample(0);
const url = `http://127.0.0.1:${server.address().port}/`;
const profile = mkdtempSync(join(tmpdir(), "shmrpc-threads-check-"));
const problems = [];
let context;
let result = "";
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: TIMEOUT_MS,
  });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  await page.goto(url, { waitUntil: "load", timeout: TIMEOUT_MS });
  await page.waitForFunction(() => document.getElementById("result")?.textContent?.startsWith("RESULT:"), undefined, { timeout: TIMEOUT_MS });
  result = (await page.textContent("#result")) ?? "";
  const log = (await page.textContent("#log")) ?? "";
  console.log(log.split("\n").map((l) => `check-threads-browser: ${l}`).join("\n"));
  mkdirSync(dirname(shot), { recursive: true });
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`check-threads-browser: screenshot ${shot}`);
} catch (e) {
  problems.push(`could not run the page: ${e.message}`);
} finally {
  await context?.close().catch(() => {});
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
if (result !== "RESULT: ok") problems.push(result === "" ? "no result" : result);
const ok = problems.length === 0;
console.log(ok ? "check-threads-browser: ok" : `check-threads-browser: FAIL\n  ${problems.join("\n  ")}`);
console.log(`  Total:     1\n  Passed:    ${ok ? 1 : 0}\n  Skipped:   0`);
process.exitCode = ok ? 0 : 1;
