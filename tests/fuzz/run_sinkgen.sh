#!/usr/bin/env bash
# run_sinkgen.sh — differential fuzzing of allocation sinking.
#
#   tests/fuzz/run_sinkgen.sh JCVM SECONDS [SEED]
#
# For SECONDS seconds, generates programs with sinkgen.py (seeds SEED,
# SEED+1, ...; default 1) and runs each with `--no-jit` (the reference) and
# in five JIT modes: default, --jit-stress, --jit-hot=2 --jit-exit-hot=3,
# --jit-gc-stress, --jit-gc-stress --jit-stress (no cache).  stdout and exit
# status must be identical.  Prints the allocations sunk and the objects
# rebuilt at exits over the whole run, and fails if nothing was sunk.
# Failing programs are kept in a directory printed at the end.
set -u
if [ $# -lt 2 ]; then echo "usage: $0 JCVM SECONDS [SEED]" >&2; exit 2; fi
jcvm=$1
seconds=$2
seed=${3:-1}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
keep=$(mktemp -d /tmp/sinkgen-fail.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
count() { local v; v=$(grep -o "\"$2\": *[0-9]*" "$1" 2>/dev/null | grep -o '[0-9]*$'); echo "${v:-0}"; }
end=$((SECONDS + seconds))
pass=0 fail=0 sunk=0 mat=0 first=$seed
while [ $SECONDS -lt $end ]; do
  python3 "$here/sinkgen.py" "$seed" >"$tmp/p.jc" || exit 2
  timeout 60 "$jcvm" --no-jit "$tmp/p.jc" >"$tmp/ref" 2>&1
  rc=$?
  for mode in "" "--jit-stress" "--jit-hot=2 --jit-exit-hot=3" "--jit-gc-stress" \
              "--jit-gc-stress --jit-stress"; do
    # shellcheck disable=SC2086
    timeout 60 "$jcvm" --no-cache $mode --jit-stats-json="$tmp/s.json" "$tmp/p.jc" >"$tmp/out" 2>&1
    rc2=$?
    if [ "$rc" != "$rc2" ] || ! cmp -s "$tmp/ref" "$tmp/out"; then
      echo "FAIL seed $seed [$mode]: exit $rc2 (reference $rc)"
      cp "$tmp/p.jc" "$keep/sink_$seed.jc"
      fail=$((fail + 1))
    else
      pass=$((pass + 1))
    fi
    sunk=$((sunk + $(count "$tmp/s.json" sunk)))
    mat=$((mat + $(count "$tmp/s.json" materialized)))
  done
  seed=$((seed + 1))
done
echo "run_sinkgen.sh: seeds $first..$((seed - 1)): $sunk allocations sunk, $mat objects rebuilt at exits"
[ "$fail" -eq 0 ] && rmdir "$keep" 2>/dev/null
[ "$fail" -eq 0 ] || echo "failing programs in $keep"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$sunk" -gt 0 ]
