#!/bin/sh
# bench/probe_bench.sh — what libjcache's USDT probes cost on the reload cycle.
#
#   sh bench/probe_bench.sh [BUILD_DIR]
#
# Runs jc-bench-probes (bench/probe_bench.c: reload loop+bridge, validate the
# tail, reload the loop alone) against:
#   noprobes   the library built with -DJC_NO_PROBES (no probe at all)
#   unattached the library as built: each probe is a semaphore load + branch
#   counting   jcache trace -c attached: every probe counted in BPF maps
#   streaming  jcache trace -e all attached: counted and every event
#              streamed through the ring buffer (printed to /dev/null)
# each RUNS times, interleaved, and prints the medians; then the
# instruction counts (callgrind) of noprobes and unattached, which are
# exact where the timings are noisy.  Root is needed for the attached runs.
#
# JC_BENCH_NOPROBES_LIBDIR: a directory holding a -DJC_NO_PROBES
# libjcache.so.0; by default one is built in BUILD_DIR-noprobes when
# lib/probes.h has the switch.  JC_BENCH_LIBDIR: the library "as is".
set -e
B=$(cd "${1:-build}" && pwd)
S=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$B/bench/jc-bench-probes
TRACE=$B/bpf/jcache-trace
LIBDIR=${JC_BENCH_LIBDIR:-$B/lib}
CYCLES=${CYCLES:-20000}
RUNS=${RUNS:-7}
T=$(mktemp -d /tmp/jcache-probe-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT

NOPROBES=${JC_BENCH_NOPROBES_LIBDIR:-}
if [ -z "$NOPROBES" ] && grep -q JC_NO_PROBES "$S/lib/probes.h"; then
  echo "building a -DJC_NO_PROBES library in $B-noprobes ..."
  cmake -S "$S" -B "$B-noprobes" -DJC_BUILD_TESTS=OFF -DJC_BPF=OFF \
    -DCMAKE_C_FLAGS=-DJC_NO_PROBES >/dev/null
  cmake --build "$B-noprobes" -j2 --target jcache >/dev/null
  NOPROBES=$B-noprobes/lib
fi
if [ -n "$NOPROBES" ] && readelf -n "$NOPROBES/libjcache.so" | grep -q stapsdt; then
  echo "$NOPROBES/libjcache.so has probes: not a -DJC_NO_PROBES build" >&2
  exit 1
fi
[ -n "$NOPROBES" ] || echo "(no -DJC_NO_PROBES library: lib/probes.h has no such switch; noprobes skipped)"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# run CONFIG: one timed run; appends ns/cycle to $T/CONFIG
run() {
  case $1 in
  noprobes) LD_LIBRARY_PATH=$NOPROBES "$BENCH" "$CYCLES" >"$T/out" ;;
  unattached) LD_LIBRARY_PATH=$LIBDIR "$BENCH" "$CYCLES" >"$T/out" ;;
  counting | streaming)
    if [ $1 = counting ]; then set -- $1 -c; else set -- $1 -e all; fi
    "$TRACE" --lib "$LIBDIR/libjcache.so" "$2" ${3:-} >"$T/trace.out" 2>"$T/trace.err" &
    tp=$!
    while ! grep -q '^Tracing' "$T/trace.err"; do
      kill -0 $tp 2>/dev/null || { cat "$T/trace.err" >&2; exit 1; }
      sleep 0.05
    done
    LD_LIBRARY_PATH=$LIBDIR "$BENCH" "$CYCLES" >"$T/out"
    kill -INT $tp
    wait $tp || true
    pid=$(awk '{ print $8 }' "$T/out")
    # Probe firings per cycle, from the tracer (200 warm-up cycles too).
    awk -v pid="$pid" -v n="$CYCLES" '
      $1 == "pid" { cur = ($2 == pid ":"); next }
      cur && /probes fired/ { f = 1; next }
      cur && f && /=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); s += kv[2] } next }
      cur && f { f = 0 }
      END { printf "%.1f\n", s / (n + 200) }' "$T/trace.out" >>"$T/firings"
    ;;
  esac
  awk '{ print $4 }' "$T/out" >>"$T/$1"
}

configs="unattached"
[ -n "$NOPROBES" ] && configs="noprobes unattached"
if [ "$(id -u)" = 0 ] && [ -x "$TRACE" ]; then
  configs="$configs counting streaming"
else
  echo "(not root or no jcache-trace: attached runs skipped)"
fi
i=0
while [ $i -lt "$RUNS" ]; do
  for c in $configs; do run $c; done
  i=$((i + 1))
done

echo
echo "reload cycle (bench/probe_bench.c), $CYCLES cycles, median of $RUNS runs"
for c in $configs; do
  printf "  %-11s %9.1f ns/cycle\n" $c "$(median <"$T/$c")"
done
base=$(median <"$T/unattached")
if [ -n "$NOPROBES" ]; then
  np=$(median <"$T/noprobes")
  awk -v a="$base" -v b="$np" 'BEGIN { printf "  unattached probes: %+.1f ns/cycle (%+.2f%% of the cycle; timing noise is larger)\n", a - b, (a - b) * 100 / b }'
fi
if [ -f "$T/firings" ]; then
  fir=$(median <"$T/firings")
  for c in counting streaming; do
    awk -v a="$(median <"$T/$c")" -v b="$base" -v f="$fir" -v c=$c 'BEGIN { printf "  %s: %.0f probe firings/cycle, %.0f ns per event\n", c, f, (a - b) / f }'
  done
fi

if [ -n "$NOPROBES" ] && command -v valgrind >/dev/null; then
  # Instructions executed inside libjcache.so itself, within the reload
  # cycle's calls (toy_reload, toy_check_tail): deterministic to ~0.01%,
  # where the totals are not (malloc and the writer thread interleave).
  N=2000
  for c in noprobes unattached; do
    d=$LIBDIR
    [ $c = noprobes ] && d=$NOPROBES
    LD_LIBRARY_PATH=$d valgrind --tool=callgrind --toggle-collect=toy_reload \
      --toggle-collect=toy_check_tail --callgrind-out-file="$T/cg.$c" \
      "$BENCH" $N >/dev/null 2>"$T/vg.$c" || true
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$T/vg.$c" >"$T/all.$c"
    callgrind_annotate --threshold=100 "$T/cg.$c" 2>/dev/null |
      awk '/libjcache\.so/ { gsub(",", "", $1); s += $1 } END { print s + 0 }' >"$T/lib.$c"
  done
  awk -v a="$(cat "$T/lib.unattached")" -v b="$(cat "$T/lib.noprobes")" \
    -v all="$(cat "$T/all.noprobes")" -v n=$((N + 200)) 'BEGIN {
    printf "callgrind, %d cycles: instructions per cycle\n", n
    printf "  whole cycle (noprobes)        %8.0f\n", all / n
    printf "  in libjcache.so, noprobes     %8.0f\n", b / n
    printf "  in libjcache.so, unattached   %8.0f\n", a / n
    printf "  unattached probes: %+.1f instructions/cycle = %+.3f%% of the cycle\n", (a - b) / n, (a - b) * 100 / all }'
fi
