#!/bin/sh
# Interleaved big-echo rounds (faults.mjs) against several builds, each with its own
# srv.mjs; a build given as VIEW=1:<dist> serves echo with { view: true }.
# sh faults-ab.sh ROUNDS SIZE N DIST1 DIST2 ...   (WARM=<calls> is passed on to faults.mjs)
cd "$(dirname "$0")"
rounds=$1; size=$2; n=$3; shift 3
for r in $(seq "$rounds"); do
  for spec in "$@"; do
    view=0; d=$spec
    case $spec in VIEW=1:*) view=1; d=${spec#VIEW=1:};; esac
    name=/faults_ab_$$_$r
    VIEW=$view SHMRPC_DIST=$d node srv.mjs $name > /dev/null & sp=$!
    sleep 0.5
    printf '%s view=%s\t' "$(basename "$(dirname "$(dirname "$(dirname "$d")")")")" $view
    SHMRPC_DIST=$d node faults.mjs $name "$size" "$n" $sp
    kill -INT $sp; wait $sp
  done
done
