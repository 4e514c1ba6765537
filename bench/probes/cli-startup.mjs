// node bench/probes/cli-startup.mjs [runs]: how long `shmrpc --help` and `shmrpc ls` take
// from spawn to exit, against bare Node and a bare import of shmrpc, interleaved so that a
// machine's load hits them all alike. Prints the median and the minimum of each. The bin is
// the bundled dist/bundle/cli.js (what package.json "bin" names); "tsc" rows run the unbundled
// dist/src/cli/main.js beside it.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../../dist/bundle/cli.js", import.meta.url));
const unbundled = fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url));
const runs = Number(process.argv[2] ?? 20);
const commands = {
  "node -e 0": ["-e", "0"],
  "shmrpc --help": [cli, "--help"],
  "shmrpc ls": [cli, "ls"],
  "tsc shmrpc ls": [unbundled, "ls"],
  "import shmrpc": ["--input-type=module", "-e", "await import('shmrpc')"],
};
const times = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
for (let i = 0; i < runs; i++) {
  for (const [k, args] of Object.entries(commands)) {
    const t = performance.now();
    spawnSync(process.execPath, args, { stdio: "ignore" });
    times[k].push(performance.now() - t);
  }
}
for (const [k, v] of Object.entries(times)) {
  v.sort((a, b) => a - b);
  console.log(`${k.padEnd(16)} median ${v[v.length >> 1].toFixed(0).padStart(4)} ms, min ${v[0].toFixed(0).padStart(4)} ms`);
}
