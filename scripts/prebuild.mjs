// npm run build:prebuilds (and prepack): builds the addon that binding.gyp
// describes, once per architecture, into prebuilds/linux-<arch>/shmrpc.glibc.node,
// which the package ships and node-gyp-build loads where no local build exists.
//
// One Node-API build (NAPI_VERSION is pinned in binding.gyp) serves every Node
// version >= 20, so each architecture is built once, against the headers of the
// Node running this script. The build happens in a scratch copy of binding.gyp
// and the folders its sources live in, so the checkout's own build/ is left
// as it is (prebuildify runs `node-gyp rebuild`, which starts by deleting it).
//
// Architectures: SHMRPC_PREBUILD_ARCHS (space-separated), default "x64 arm64".
// A foreign one is cross-compiled with the Debian cross toolchain
// (apt-get install g++-aarch64-linux-gnu for arm64); a missing toolchain fails
// the build with that advice. Each result's ELF header is checked to be of the
// architecture it is named for.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, readdirSync, rmSync, symlinkSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** What each architecture needs: the GNU triplet of its cross tools and its ELF e_machine. */
const ARCHS = {
  x64: { triplet: "x86_64-linux-gnu", machine: 62 },
  arm64: { triplet: "aarch64-linux-gnu", machine: 183 },
};

const archs = (process.env.SHMRPC_PREBUILD_ARCHS ?? "x64 arm64").split(/\s+/).filter(Boolean);
for (const arch of archs) {
  if (!(arch in ARCHS)) fail(`unknown architecture "${arch}" in SHMRPC_PREBUILD_ARCHS (known: ${Object.keys(ARCHS).join(", ")})`);
}
if (process.platform !== "linux") fail(`prebuilds are built on Linux (this is ${process.platform})`);

function fail(message) {
  console.error(`build:prebuilds: ${message}`);
  process.exit(1);
}

function onPath(command) {
  return (process.env.PATH ?? "").split(":").some((dir) => dir && existsSync(join(dir, command)));
}

/** The ELF e_machine of a file (offset 18, little-endian). */
function elfMachine(file) {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(20);
    readSync(fd, head, 0, 20, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46) return -1;
    return head.readUInt16LE(18);
  } finally {
    closeSync(fd);
  }
}

// The scratch copy: binding.gyp, package.json, every top-level folder a source
// lives in, and node_modules (for node-addon-api's include dir).
const gyp = JSON.parse(readFileSync(join(root, "binding.gyp"), "utf8"));
const folders = new Set();
for (const target of gyp.targets) for (const source of target.sources ?? []) folders.add(source.split("/")[0]);
const work = mkdtempSync(join(tmpdir(), "shmrpc-prebuild-"));
try {
  for (const file of ["binding.gyp", "package.json"]) cpSync(join(root, file), join(work, file));
  for (const folder of folders) {
    if (existsSync(join(root, folder)) && statSync(join(root, folder)).isDirectory()) cpSync(join(root, folder), join(work, folder), { recursive: true });
    else cpSync(join(root, folder), join(work, folder));
  }
  symlinkSync(join(root, "node_modules"), join(work, "node_modules"), "dir");

  // The headers of the running Node: node-gyp finds them beside the binary
  // (<prefix>/include/node) when they are there; else it downloads them.
  const prefix = resolve(dirname(process.execPath), "..");
  const nodedir = existsSync(join(prefix, "include", "node", "node_api.h")) ? prefix : undefined;
  const host = process.arch;

  rmSync(join(root, "prebuilds"), { recursive: true, force: true });
  for (const arch of archs) {
    const { triplet, machine } = ARCHS[arch];
    const env = { ...process.env };
    if (nodedir) env.npm_config_nodedir = nodedir;
    if (arch !== host) {
      const cxx = `${triplet}-g++`;
      if (!onPath(cxx)) {
        fail(
          `cross-building for ${arch} needs ${cxx}, which is not on PATH: ` +
            `apt-get install g++-${triplet}, or build only this machine's architecture with SHMRPC_PREBUILD_ARCHS=${host}`,
        );
      }
      Object.assign(env, { CC: `${triplet}-gcc`, CXX: cxx, LINK: cxx, AR: `${triplet}-ar`, PREBUILD_STRIP_BIN: `${triplet}-strip` });
    }
    const args = [
      join(root, "node_modules", "prebuildify", "bin.js"),
      "--napi",
      "--tag-libc",
      "--strip",
      "--arch", arch,
      "--target", `node@${process.versions.node}`,
      "--cwd", work,
    ];
    console.log(`build:prebuilds: linux-${arch}${arch !== host ? ` (cross, ${env.CXX})` : ""}`);
    const run = spawnSync(process.execPath, args, { cwd: work, env, stdio: ["ignore", "inherit", "inherit"] });
    if (run.status !== 0) fail(`prebuildify for ${arch} failed (exit ${run.status ?? run.signal})`);

    const dir = join(work, "prebuilds", `linux-${arch}`);
    const built = readdirSync(dir).filter((f) => f.endsWith(".node"));
    if (built.length !== 1) fail(`expected one .node file in ${dir}, found: ${built.join(", ") || "none"}`);
    const got = elfMachine(join(dir, built[0]));
    if (got !== machine) fail(`${join(dir, built[0])} is ELF machine ${got}, not ${arch} (${machine})`);
    mkdirSync(join(root, "prebuilds", `linux-${arch}`), { recursive: true });
    cpSync(join(dir, built[0]), join(root, "prebuilds", `linux-${arch}`, built[0]));
    const file = onPath("file") ? spawnSync("file", ["-b", join(dir, built[0])], { encoding: "utf8" }).stdout.trim() : `ELF machine ${got}`;
    console.log(`build:prebuilds: prebuilds/linux-${arch}/${built[0]}: ${file}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
