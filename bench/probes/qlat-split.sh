#!/bin/sh
# Which side's warm-up the quick bench's latency row measures: the row (qlat.mjs) against
#   fresh    a fresh server, from a fresh client (the row as the bench runs it)
#   srvwarm  a server warmed first by another client process (WARM calls): the client's warm-up alone
#   cliwarm  a fresh server, from a client process warmed first on another server: the server's alone
# sh qlat-split.sh ROUNDS DIST1 DIST2 ...   (WARM=50000 by default)
cd "$(dirname "$0")"
rounds=$1; shift
warm=${WARM:-50000}
for r in $(seq "$rounds"); do
  for mode in fresh srvwarm cliwarm; do
    for d in "$@"; do
      n=/perf_qs_$$_$r; w=/perf_qsw_$$_$r
      SHMRPC_DIST=$d node srv.mjs $n > /dev/null & sp=$!
      wp=
      if [ $mode = cliwarm ]; then SHMRPC_DIST=$d node srv.mjs $w > /dev/null & wp=$!; fi
      sleep 0.4
      if [ $mode = srvwarm ]; then SHMRPC_DIST=$d node lat.mjs $n default $warm > /dev/null; fi
      printf '%s\t%s\t' "$mode" "$(basename "$(dirname "$(dirname "$(dirname "$d")")")")"
      if [ $mode = cliwarm ]; then WARM_ON=$w WARM_CALLS=$warm SHMRPC_DIST=$d node qlat.mjs $n; else SHMRPC_DIST=$d node qlat.mjs $n; fi
      kill -INT $sp; wait $sp
      [ -n "$wp" ] && { kill -INT $wp; wait $wp; }
    done
  done
done
