// The documentation: the README and docs/*.md, and the site `npm run docs` builds from them.
//  - every relative link names a file that exists, and every #anchor a heading of it (GitHub's slugs);
//  - every code block is either an example file that the tests run (verbatim, marked with an HTML comment
//    naming the file) or TypeScript that type-checks against the package's types;
//  - the contract example runs and prints what the README and docs/contracts.md show;
//  - the site: the README as its front page, one page per guide, the API reference, every link and anchor
//    of every page resolving, guides and API reference linked both ways.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join, relative } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { FIXTURES, killAll, spawnFixture, uniqueName, type Child } from "./helpers.js";
import { codeBlocks, htmlAnchors, htmlLinks, isExternal, markdownAnchors, markdownLinks } from "./docs-links.js";

const docs = suite("docs");
docs.after(killAll);

const ROOT = fileURLToPath(new URL("../../", import.meta.url)); // dist/tests -> the package
const PAGES = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
/** Pages whose links are checked too: the bench's method and history, which the docs link to. */
const LINKED_PAGES = [...PAGES, "bench/README.md", "bench/targets.md"];
/** Example files the tests run (the contract example test below): a doc may show them verbatim. */
const RUN_EXAMPLES = new Set(["examples/calc.ts", "examples/calc_server.ts", "examples/calc_client.ts"]);
const EXAMPLE_MARKER = /^(examples\/[\w.-]+\.ts) \(tests\/docs\.test\.ts checks that this block is the file\)$/;
const CONTEXT_MARKER = /^ts-context: ([\s\S]*)$/;
const README_MAX_BYTES = 25 * 1024;

const read = (path: string): string => readFileSync(join(ROOT, path), "utf8");

/** What is wrong with relative link `target` of the file `from` (a path inside ROOT), or undefined. */
function brokenMarkdownLink(from: string, target: string): string | undefined {
  if (isExternal(target)) return undefined;
  const [path, anchor] = target.split("#", 2) as [string, string | undefined];
  const file = path === "" ? from : join(dirname(from), decodeURIComponent(path));
  const full = join(ROOT, file);
  if (!existsSync(full)) return `${from}: ${target}: no such file`;
  if (anchor === undefined || anchor === "") return undefined;
  if (!file.endsWith(".md")) return `${from}: ${target}: an anchor into a file that is not Markdown`;
  return markdownAnchors(readFileSync(full, "utf8")).has(anchor) ? undefined : `${from}: ${target}: no heading with that anchor`;
}

docs("the README is at most 25 KB, with no project bookkeeping", () => {
  const text = read("README.md");
  assert.ok(Buffer.byteLength(text) <= README_MAX_BYTES, `README.md has ${Buffer.byteLength(text)} bytes`);
  for (const page of PAGES) {
    const found = /\b(targets of issues?|fourth round|this round)\b/i.exec(read(page));
    assert.is(found?.[0], undefined, `${page}: "${found?.[0]}"`);
  }
});

docs("every relative link of the README, docs/ and bench/'s pages names a file that exists, and every #anchor one of its headings", () => {
  const broken: string[] = [];
  let links = 0;
  for (const page of LINKED_PAGES) {
    for (const target of markdownLinks(read(page))) {
      links++;
      const why = brokenMarkdownLink(page, target);
      if (why) broken.push(why);
    }
  }
  assert.ok(links > 100, `only ${links} links found: the parser is broken`);
  assert.equal(broken, []);
});

docs("no table of the README and docs/ is cut by a blank line, and no table row is numbered twice", () => {
  for (const page of PAGES) {
    const lines = read(page).split("\n");
    for (let i = 1; i + 1 < lines.length; i++) {
      if (lines[i] === "" && lines[i - 1]!.startsWith("|") && lines[i + 1]!.startsWith("|")) assert.unreachable(`${page}:${i + 1}: a blank line inside a table`);
    }
    // Rows numbered in their first column ("| 16 | ..."): each number once per table.
    let numbers = new Set<string>();
    lines.forEach((l, i) => {
      if (!l.startsWith("|")) return void (numbers = new Set());
      const n = /^\| (\d+) \|/.exec(l)?.[1];
      if (n === undefined) return;
      assert.not.ok(numbers.has(n), `${page}:${i + 1}: row ${n} again in the same table`);
      numbers.add(n);
    });
  }
});

docs("every code block has a language, and a TypeScript one is an example file the tests run, verbatim", () => {
  let examples = 0;
  for (const page of PAGES) {
    for (const b of codeBlocks(read(page))) {
      assert.ok(b.lang !== "", `${page}:${b.line}: a code block without a language (ts, sh or text)`);
      assert.ok(!/^(js|javascript|typescript|mjs|cjs)$/.test(b.lang), `${page}:${b.line}: write TypeScript blocks as \`\`\`ts (they are type-checked)`);
      const example = b.comment === undefined ? null : EXAMPLE_MARKER.exec(b.comment);
      if (!example) continue;
      examples++;
      assert.is(b.lang, "ts", `${page}:${b.line}`);
      assert.ok(RUN_EXAMPLES.has(example[1]!), `${page}:${b.line}: ${example[1]} is not an example the tests run`);
      assert.is(b.code, read(example[1]!), `${page}:${b.line}: the block of ${example[1]}`);
    }
  }
  assert.ok(examples >= 6, `${examples} example blocks (README and docs/contracts.md show three each)`);
});

docs("every other TypeScript block type-checks against the package's types (strict)", () => {
  // The blocks become modules of a directory inside the package, so that `import ... from "shmrpc"` resolves
  // to the package's own declarations (dist/src/index.d.ts, through package.json's exports), as in a project.
  const dir = join(ROOT, "dist", `docs-blocks-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    const files: string[] = [];
    const where = new Map<string, string>();
    for (const page of PAGES) {
      for (const b of codeBlocks(read(page))) {
        if (b.lang !== "ts" || (b.comment !== undefined && EXAMPLE_MARKER.test(b.comment))) continue;
        const context = b.comment === undefined ? undefined : CONTEXT_MARKER.exec(b.comment)?.[1];
        const name = `${page.replace(/[/.]/g, "_")}_${b.line}.ts`;
        // The context line is the block's first line, so that tsc's line numbers are the block's plus one.
        writeFileSync(join(dir, name), `${context ?? ""}\n${b.code}export {};\n`);
        files.push(name);
        where.set(name, `${page}:${b.line}`);
      }
    }
    assert.ok(files.length >= 8, `only ${files.length} blocks to check`);
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: {
        target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2022"], types: ["node"],
        strict: true, noEmit: true, skipLibCheck: true, typeRoots: [join(ROOT, "node_modules", "@types")],
      },
      files,
    }));
    const tsc = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(dir, "tsconfig.json")], { encoding: "utf8", timeout: 300_000 });
    const report = tsc.stdout.replace(/((?:docs_[\w-]+?|README)_md_\d+\.ts)/g, (f) => `${where.get(f) ?? f} (${f})`);
    assert.is(tsc.status, 0, `tsc on the docs' code blocks:\n${report}${tsc.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

docs("the contract example runs and prints what the README and docs/contracts.md show", async () => {
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
    for (const page of ["README.md", "docs/contracts.md"]) {
      const shown = codeBlocks(read(page)).find((b, i, all) => b.lang === "text" && i > 0 && all[i - 1]!.comment?.startsWith("examples/calc_client.ts"));
      assert.ok(shown, `${page} shows no output after the client's block`);
      assert.is(out, shown.code, `${page}: what calc_client prints`);
    }
    server.proc.kill("SIGTERM");
    assert.is(await server.exited, 0);
  } finally {
    server?.kill();
  }
});

/** Every HTML file under `dir`, as paths relative to it. */
function htmlFiles(dir: string, under = ""): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, under))) {
    const path = join(under, entry);
    if (statSync(join(dir, path)).isDirectory()) out.push(...htmlFiles(dir, path));
    else if (entry.endsWith(".html")) out.push(path);
  }
  return out;
}

docs("npm run docs builds one site: the README, a page per guide and the API reference, every link and anchor resolving", () => {
  const out = join(ROOT, "dist", `docs-site-${process.pid}`);
  rmSync(out, { recursive: true, force: true });
  try {
    // typedoc.config.mjs: treatWarningsAsErrors, so an undocumented export or a broken link fails the build.
    const built = spawnSync(process.execPath, [join(ROOT, "node_modules", "typedoc", "bin", "typedoc"), "--out", out], { cwd: ROOT, encoding: "utf8", timeout: 600_000 });
    assert.is(built.status, 0, `typedoc:\n${built.stdout}${built.stderr}`);
    const pages = htmlFiles(out);
    const index = readFileSync(join(out, "index.html"), "utf8");
    assert.ok(index.includes("RPC between Node.js processes"), "the README is the front page");
    for (const page of PAGES.filter((p) => p.startsWith("docs/"))) {
      // typedoc names a guide's page after the title in its front matter.
      const title = /^---\ntitle: (.+)\n---\n/.exec(read(page))?.[1];
      assert.ok(title, `${page} has no front matter with its title`);
      const html = `documents/${title.replace(/ /g, "_")}.html`;
      assert.ok(pages.includes(html), `no page for ${page}`);
      assert.ok(index.includes(`href="${html}`), `the front page does not link to ${html}`);
    }
    // Cross-linked: a guide links into the API reference, and every page's navigation lists the guides.
    const guide = readFileSync(join(out, "documents", "Servers_and_clients.html"), "utf8");
    assert.ok(/href="\.\.\/classes\/[\w.]*Server\.html"/.test(guide), "servers-and-clients links to the Server class");
    const api = pages.find((p) => /^classes\/.*Server\.html$/.test(p));
    assert.ok(api, "an API page of Server");
    assert.ok(readFileSync(join(out, api), "utf8").includes("navigation.js"), "API pages carry the site's navigation");
    const reference = pages.find((p) => /^modules\/.*\.html$/.test(p));
    assert.ok(reference && readFileSync(join(out, reference), "utf8").includes('href="../documents/Getting_started.html"'), "the API reference's page links to the guides");
    const broken: string[] = [];
    const anchors = new Map<string, Set<string>>();
    let links = 0;
    for (const page of pages) {
      const html = readFileSync(join(out, page), "utf8");
      if (!/<body[^>]*>[\s\S]*\S[\s\S]*<\/body>/.test(html)) broken.push(`${page}: an empty body`);
      for (const target of htmlLinks(html)) {
        if (target === "" || isExternal(target)) continue;
        links++;
        const [path, anchor] = target.split("#", 2) as [string, string | undefined];
        const file = path === "" ? page : join(dirname(page), decodeURIComponent(path));
        if (!existsSync(join(out, file))) {
          broken.push(`${page}: ${target}: no such file`);
          continue;
        }
        if (anchor === undefined || anchor === "" || !file.endsWith(".html")) continue;
        let ids = anchors.get(file);
        if (!ids) anchors.set(file, (ids = htmlAnchors(readFileSync(join(out, file), "utf8"))));
        if (!ids.has(decodeURIComponent(anchor))) broken.push(`${page}: ${target}: no element with that id`);
      }
    }
    assert.ok(links > 500, `only ${links} links found in ${pages.length} pages`);
    assert.equal(broken, []);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

docs.run();
