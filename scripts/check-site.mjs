// node scripts/check-site.mjs [site dir] [page ...]: opens pages of the site `npm run docs` built (default
// dist/site: its front page and one guide) in a real headless Chromium, served over HTTP from 127.0.0.1, and
// fails on a console error, an uncaught exception, a request that failed or answered >= 400, a blank page, or
// a page whose navigation (built by the site's script) stays empty. Prints one line per page, then uvu's
// "Total / Passed / Skipped" lines, which .ci/run adds to its summary.
//
// The browser is Debian's chromium (CHROMIUM, default /usr/bin/chromium; .ci/run installs it), driven by
// playwright-core, which downloads no browser of its own. A fresh profile directory each run, removed after.
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, normalize, resolve, sep } from "node:path";
import { chromium } from "playwright-core";

const site = resolve(process.argv[2] ?? "dist/site");
const pages = process.argv.length > 3 ? process.argv.slice(3) : ["index.html", "documents/Getting_started.html"];
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const PAGE_TIMEOUT_MS = 60_000;
/** Fewer visible characters than this is a blank page (the front page has thousands). */
const MIN_TEXT = 500;

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".json": "application/json", ".png": "image/png" };

/** A static server of `site` on an ephemeral port of 127.0.0.1. */
function serve() {
  const server = createServer((req, res) => {
    // Browsers ask every HTTP site for a favicon, and the site has none: not an error of the site.
    if (req.url === "/favicon.ico") return void res.writeHead(204).end();
    const path = normalize(join(site, decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)));
    let file = path;
    try {
      if (!path.startsWith(site + sep) && path !== site) throw new Error("outside the site");
      if (statSync(file).isDirectory()) file = join(file, "index.html");
      const body = readFileSync(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server)));
}

/** Loads one page; returns what is wrong with it (empty: nothing). */
async function check(context, url) {
  const problems = [];
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  try {
    const response = await page.goto(url, { waitUntil: "load", timeout: PAGE_TIMEOUT_MS });
    if (!response || !response.ok()) problems.push(`HTTP ${response?.status()} for the page itself`);
    // The navigation is filled in by the site's script from navigation.js: wait for its links.
    await page.waitForSelector("#tsd-nav-container a", { timeout: PAGE_TIMEOUT_MS }).catch(() => problems.push("the navigation stayed empty"));
    const text = await page.evaluate(() => document.body?.innerText.trim().length ?? 0);
    if (text < MIN_TEXT) problems.push(`a blank page (${text} characters of text)`);
    const title = await page.title();
    return { problems, text, title };
  } catch (e) {
    problems.push(`could not load: ${e.message}`);
    return { problems, text: 0, title: "" };
  } finally {
    await page.close();
  }
}

const server = await serve();
const base = `http://127.0.0.1:${server.address().port}/`;
const profile = mkdtempSync(join(tmpdir(), "shmrpc-site-check-"));
let passed = 0;
let failed = 0;
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: PAGE_TIMEOUT_MS,
  });
  for (const path of pages) {
    const { problems, text, title } = await check(context, base + path);
    if (problems.length === 0) {
      passed++;
      console.log(`check-site: ok ${path} ("${title}", ${text} characters)`);
    } else {
      failed++;
      console.log(`check-site: FAIL ${path}\n  ${problems.join("\n  ")}`);
    }
  }
} catch (e) {
  failed = pages.length - passed;
  console.log(`check-site: FAIL: could not run ${executablePath}: ${e.message}`);
} finally {
  await context?.close().catch(() => {});
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`  Total:     ${pages.length}\n  Passed:    ${passed}\n  Skipped:   0`);
process.exitCode = failed === 0 ? 0 : 1;
