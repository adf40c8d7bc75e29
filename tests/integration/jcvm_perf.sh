#!/bin/sh
# tests/integration/jcvm_perf.sh BUILD_DIR SRC_DIR — perf on jcvm's traces.
#
# Profile a hot benchmark with `perf record -e cpu-clock -k 1`, once with
# freshly compiled traces (cold cache) and once with reloaded ones (warm),
# with jitdump on; after `perf inject --jit`, `perf report` must attribute
# most samples to jc_ symbols and `perf annotate` must show the top trace's
# instructions.
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
jcvm=$build/vm/jcvm
prog=$src/bench/programs/nbody.jc
command -v perf >/dev/null || { echo "jcvm_perf.sh: perf not installed: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 700 "$tmp"
cd "$tmp"
fail() { echo "jcvm_perf.sh: $1" >&2; [ -f "$2" ] && tail -30 "$2" >&2; exit 1; }

for run in compiled reloaded; do
  mkdir -p "$run"
  JITDUMPDIR=$tmp/$run JCACHE_JITDUMP=1 perf record -q -e cpu-clock -k 1 \
    -o "$run/perf.data" "$jcvm" --cache="$tmp/cache" --jit-stats-json="$run/stats.json" \
    "$prog" 4 >"$run/out" 2>&1 ||
    { grep -q "perf_event_paranoid\|Permission" "$run/out" &&
      { echo "jcvm_perf.sh: perf not permitted: skipped"; exit 77; }; fail "perf record ($run)" "$run/out"; }
  if [ $run = reloaded ]; then
    grep -q '"reloaded_loops": [1-9]' "$run/stats.json" || fail "nothing reloaded" "$run/stats.json"
  fi
  perf inject --jit -i "$run/perf.data" -o "$run/jit.data" >"$run/inject.out" 2>&1 ||
    fail "perf inject ($run)" "$run/inject.out"
  perf report -i "$run/jit.data" --stdio --sort dso,sym >"$run/report.out" 2>&1 ||
    fail "perf report ($run)" "$run/report.out"
  pct=$(awk '/^ +[0-9.]+%/ && / jc_/ {sub("%", "", $1); s += $1} END {printf "%d", s}' "$run/report.out")
  [ "$pct" -ge 50 ] || fail "only $pct% of samples in jc_ symbols ($run)" "$run/report.out"
  sym=$(awk '/^ +[0-9.]+%/ && / jc_/ {print $NF; exit}' "$run/report.out")
  perf annotate -i "$run/jit.data" --stdio -s "$sym" >"$run/annotate.out" 2>&1 ||
    fail "perf annotate ($run)" "$run/annotate.out"
  grep -Eq ':\s+[0-9a-f]+:\s+(push|mov|sub|movsd|add)' "$run/annotate.out" ||
    fail "no instructions in perf annotate of $sym ($run)" "$run/annotate.out"
  echo "jcvm_perf.sh: $run: $pct% of samples in jc_ symbols; top $sym annotated"
done
echo "jcvm_perf.sh: ok"
