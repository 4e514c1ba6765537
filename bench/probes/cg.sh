#!/bin/sh
# Instructions per asyncCall (client and server on one thread, see inproc.mjs), counted by
# callgrind as the difference between two run lengths, so start-up cancels out.
# sh cg.sh [n1] [n2]   prints Ir/call. Slow (minutes): valgrind runs node ~100x slower.
cd "$(dirname "$0")"
n1=${1:-20000}; n2=${2:-60000}
ir() { valgrind --tool=callgrind --callgrind-out-file=/tmp/perf-cg-$$-$1.out node --single-threaded inproc.mjs $1 2>&1 | sed -n 's/.*Collected : //p'; rm -f /tmp/perf-cg-$$-$1.out; }
a=$(ir $n1); b=$(ir $n2)
echo "callgrind inproc asyncCall add: $a Ir at $n1 calls, $b Ir at $n2 calls: $(( (b - a) / (n2 - n1) )) Ir/call"
