#!/bin/sh
# Instructions of ONE side of the quick bench's latency row (qlat.mjs: sync add, 500 calls of
# warm-up then N), counted by callgrind on that side only while the other runs natively:
#   server  the server under callgrind, so slow that the next request is always waiting
#           when it looks (the path of a server that spins, as in the bench);
#   client  the client under callgrind against a busy-polling server (never parked: no
#           wake-up to send, as against a server that spins).
# Prints Ir for N calls; the difference between two N is the cost of those calls, and
# N=3000 against N=0 the cold cost (unoptimised code, the JIT's work with --single-threaded).
# sh cg-side.sh server|client DIST N
cd "$(dirname "$0")"
side=$1; d=$2; N=$3
n=/perf_cgs_$$
out=/tmp/perf-cgs-$$.out
if [ "$side" = server ]; then
  SHMRPC_DIST=$d valgrind --tool=callgrind --callgrind-out-file=$out node --single-threaded srv.mjs $n > /tmp/perf-cgs-$$.log 2>/tmp/perf-cgs-$$.err & sp=$!
  i=0; until grep -q serving /tmp/perf-cgs-$$.log || [ $i -ge 1200 ]; do sleep 0.1; i=$((i+1)); done
  SHMRPC_DIST=$d MAX_MS=3600000 node qlat.mjs $n $N 500 > /dev/null
  kill -INT $sp; wait $sp
  sed -n 's/.*Collected : //p' /tmp/perf-cgs-$$.err; rm -f /tmp/perf-cgs-$$.err /tmp/perf-cgs-$$.log
else
  SHMRPC_DIST=$d node srv.mjs $n busy > /dev/null & sp=$!
  sleep 0.5
  MAX_MS=3600000 SHMRPC_DIST=$d valgrind --tool=callgrind --callgrind-out-file=$out node --single-threaded qlat.mjs $n $N 500 2>&1 >/dev/null | sed -n 's/.*Collected : //p'
  kill -INT $sp; wait $sp
fi
[ -n "$KEEP" ] && echo "kept $out" || rm -f $out
