#!/usr/bin/env bash
# npm run test:asan: builds the addon with AddressSanitizer and UBSan into build-asan/
# (the normal build/ stays as it is), then runs the whole suite with that addon.
# Node itself is not instrumented, so the sanitizer runtimes are preloaded; leaks are
# not checked (V8 and Node keep memory until exit by design). Any report fails the run.
# Extra arguments go to uvu (e.g. a file pattern: npm run test:asan -- hostile).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/build-asan"
mkdir -p "$dir"
# The same target as binding.gyp, sources seen from build-asan/, plus the sanitizers.
node -e '
  const fs = require("fs");
  const gyp = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const flags = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined", "-g", "-O1"];
  for (const t of gyp.targets) {
    t.sources = t.sources.map((s) => "../" + s);
    t["cflags!"] = [...(t["cflags!"] ?? []), "-O2", "-O3"];
    t["cflags_cc!"] = [...(t["cflags_cc!"] ?? []), "-O2", "-O3"];
    t.cflags = [...(t.cflags ?? []).filter((f) => f !== "-O2"), ...flags];
    t.ldflags = [...(t.ldflags ?? []), "-fsanitize=address,undefined"];
  }
  fs.writeFileSync(process.argv[2], JSON.stringify(gyp, null, 2));
' "$root/binding.gyp" "$dir/binding.gyp"
(cd "$dir" && "$root/node_modules/.bin/node-gyp" rebuild --silent)
addon="$dir/build/Release/shmrpc.node"
echo "test:asan: sanitized addon at $addon"

cd "$root"
npm run --silent build
export SHMRPC_ADDON="$addon"
# Tests relax what a sanitizer changes by design: speed, and the RSS its quarantine of freed memory holds.
export SHMRPC_SANITIZED=1
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:allow_user_segv_handler=1:handle_segv=1:detect_stack_use_after_return=0:print_summary=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
# Children (fixtures) inherit all of this, so they load the sanitized addon too.
# Not the package test: it packs and installs the package as users get it, where
# SHMRPC_ADDON (the sanitized build) does not apply: its "no addon" check cannot hold.
exec "$root/node_modules/.bin/uvu" dist/tests "${1:-\.test\.js$}" --ignore 'package\.test'
