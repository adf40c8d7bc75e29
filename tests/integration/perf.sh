#!/bin/sh
# tests/integration/perf.sh BUILD_DIR — real perf (software events only):
# record a hot toy trace with -e cpu-clock -k 1 (CLOCK_MONOTONIC, as the
# jitdump's timestamps); after `perf inject --jit`, `perf report` attributes
# most samples to the trace's jc_ symbol in its jitted DSO, and `perf
# annotate` shows its instructions with the toy.jc line table.  Also checks
# the /tmp/perf-PID.map line.
set -eu
build=$1
helper=$build/tests/helper_gdbjit
command -v perf >/dev/null || { echo "perf.sh: perf not installed: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "perf.sh: $1" >&2; [ $# -gt 1 ] && cat "$2" >&2; exit 1; }

JITDUMPDIR=$tmp JCACHE_PERFMAP=1 JCACHE_JITDUMP=1 \
  perf record -q -e cpu-clock -k 1 -o perf.data "$helper" hot 1 >run.out 2>&1 ||
  { grep -q "perf_event_paranoid\|Permission" run.out && { echo "perf.sh: perf not permitted: skipped"; exit 77; }; fail "perf record" run.out; }
dump=$(find "$tmp/.debug/jit" -name 'jit-*.dump' | head -1)
[ -n "$dump" ] || fail "no jit-PID.dump under $tmp/.debug/jit"
pid=$(basename "$dump" .dump | cut -d- -f2)
grep -Eq '^[0-9a-f]+ [0-9a-f]+ jc_loop_toy_L1$' "/tmp/perf-$pid.map" ||
  fail "no perf map line" "/tmp/perf-$pid.map"
rm -f "/tmp/perf-$pid.map"

perf inject --jit -i perf.data -o jit.data >inject.out 2>&1 || fail "perf inject" inject.out
perf report -i jit.data --stdio --sort dso,sym >report.out 2>&1 || fail "perf report" report.out
top=$(grep -E '^ +[0-9.]+%' report.out | head -1)
echo "$top" | grep -Eq 'jitted-[0-9]+-[0-9]+\.so +\[\.\] jc_loop_toy_L1' ||
  fail "top symbol is not the trace" report.out
pct=$(echo "$top" | awk '{print int($1)}')
[ "$pct" -ge 50 ] || fail "only $pct% of samples in the trace" report.out
perf annotate -i jit.data --stdio -s jc_loop_toy_L1 >annotate.out 2>&1 || fail "perf annotate" annotate.out
grep -q 'push   %rbx' annotate.out || fail "no instructions in perf annotate" annotate.out
grep -q 'toy.jc:1' annotate.out || fail "no source line in perf annotate" annotate.out
echo "perf.sh: ok ($pct% of samples in jc_loop_toy_L1)"
