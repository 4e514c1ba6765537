#!/bin/sh
# Runs every probe against fresh servers (park mode, then busy-poll mode) and prints one line each.
# sh all.sh [tag]   -- from bench/probes, after a build
cd "$(dirname "$0")"
n=/perf_all_$$
node srv.mjs $n > /dev/null & sp=$!
sleep 0.5
node win.mjs $n 1 16 256
node lat.mjs $n default 200000
node echo.mjs $n $((1 << 20)) 300
kill -INT $sp; wait $sp
node srv.mjs ${n}b busy > /dev/null & sp=$!
sleep 0.5
node lat.mjs ${n}b busy 200000
kill -INT $sp; wait $sp
