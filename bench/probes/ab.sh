#!/bin/sh
# Interleaved before/after: runs one probe against each build in turn, several rounds, so
# that the load of a shared machine falls on all of them alike.
# sh ab.sh ROUNDS "server args" "probe and args" DIST1 DIST2 ...
#   e.g. sh ab.sh 3 busy "lat.mjs busy 200000" /tmp/old/dist/src/index.js ../../dist/src/index.js
# The server name is inserted as the probe's first argument. SRV_FLAGS and CLI_FLAGS are node
# options for the server's and the probe's process (e.g. CLI_FLAGS=--no-opt: the code before
# TurboFan, what a short run like the quick bench measures).
cd "$(dirname "$0")"
rounds=$1; srvargs=$2; probe=$3; shift 3
for r in $(seq "$rounds"); do
  for d in "$@"; do
    n=/perf_ab_$$_$r
    SHMRPC_DIST=$d node $SRV_FLAGS srv.mjs $n $srvargs > /dev/null & sp=$!
    sleep 0.4
    p=${probe%% *}; rest=${probe#"$p"}; [ "$rest" = "$probe" ] && rest=""
    printf '%s\t' "$(basename "$(dirname "$(dirname "$(dirname "$d")")")")"
    SHMRPC_DIST=$d node $CLI_FLAGS $p $n $rest
    kill -INT $sp; wait $sp
  done
done
