#!/usr/bin/env bash
# warm_cold.sh — a warm run prints exactly what a cold run prints.
#
#   tests/soundness/warm_cold.sh JCVM [jcvm flags...]
#
# For every language test (tests/lang/*.jc) and every benchmark
# (bench/programs/*.jc, 1 iteration): run it with an empty cache (cold), then
# again with the cache the cold run wrote (warm), and compare stdout, stderr
# (minus the per-iteration timing lines of the benchmarks) and the exit
# status.  The totals of reloaded traces are printed, and the test fails if
# nothing at all was reloaded (the warm runs would prove nothing).  Loops
# and lazy bridges are bound statically by default (vm/jit/static.c): the
# test fails if none was; with --jit-static=verify each is checked as well and the test
# fails if a check bound anything else than static binding found, or if
# nothing was compared.  The same with --jit-prepare=verify for the
# snapshots the prefetch thread checked ahead (vm/jit/persist.c): each is
# walked whole too, and the test fails if that rejected one the prepared
# check accepted, or if nothing was compared.
set -u
if [ $# -lt 1 ]; then echo "usage: $0 JCVM [flags...]" >&2; exit 2; fi
jcvm=$1; shift
case $jcvm in /*) ;; *) jcvm=$PWD/$jcvm ;; esac
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
pass=0 fail=0 reloaded=0 hits=0 misses=0 static=0 agreed=0 disagreed=0
prepared=0 pagreed=0

run() { # run DIR OUTPREFIX PROG ARGS...
  local dir=$1 out=$2 prog=$3; shift 3
  local flags
  flags=$(sed -n '1,3s/^# jcvm-flags: //p' "$prog")
  local args
  args=$(sed -n '1,3s/^# args: //p' "$prog")
  # shellcheck disable=SC2086
  (cd "$(dirname "$prog")" && timeout 120 "$jcvm" --cache="$dir" "$@" $flags \
     --jit-stats-json="$out.json" "$(basename "$prog")" $args \
     >"$out.stdout" 2>"$out.stderr" </dev/null)
  echo $? >"$out.status"
  grep -v '^iteration ' "$out.stderr" >"$out.err" || true
}

count() { # count JSON KEY: one integer field of jcvm's flat stats object
  local v
  v=$(grep -o "\"$2\": *[0-9]*" "$1" 2>/dev/null | head -1 | grep -o '[0-9]*$')
  echo "${v:-0}"
}

progs=("$root"/tests/lang/*.jc "$root"/bench/programs/*.jc)
for prog in "${progs[@]}"; do
  name=$(basename "$prog" .jc)
  cache="$tmp/cache-$name"
  mkdir -p "$cache"
  run "$cache" "$tmp/cold" "$prog" "$@"
  run "$cache" "$tmp/warm" "$prog" "$@"
  if cmp -s "$tmp/cold.stdout" "$tmp/warm.stdout" && cmp -s "$tmp/cold.err" "$tmp/warm.err" &&
     cmp -s "$tmp/cold.status" "$tmp/warm.status"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $name: warm run differs from cold run"
    diff "$tmp/cold.stdout" "$tmp/warm.stdout" | head -5
    diff "$tmp/cold.err" "$tmp/warm.err" | head -5
  fi
  reloaded=$((reloaded + $(count "$tmp/warm.json" reloaded_loops) + $(count "$tmp/warm.json" reloaded_bridges)))
  hits=$((hits + $(count "$tmp/warm.json" replay_hits)))
  misses=$((misses + $(count "$tmp/warm.json" replay_misses)))
  static=$((static + $(count "$tmp/warm.json" static_traces)))
  agreed=$((agreed + $(count "$tmp/warm.json" static_agreed)))
  d=$(count "$tmp/warm.json" static_disagreed)
  if [ "$d" -gt 0 ]; then
    echo "FAIL: $name: $d checks bound other objects than static binding found"
    disagreed=$((disagreed + d))
  fi
  prepared=$((prepared + $(count "$tmp/warm.json" prepared)))
  pagreed=$((pagreed + $(count "$tmp/warm.json" prepare_agreed)))
  d=$(count "$tmp/warm.json" prepare_disagreed)
  if [ "$d" -gt 0 ]; then
    echo "FAIL: $name: $d traces accepted by the prefetch thread's snapshot check only"
    disagreed=$((disagreed + d))
  fi
  rm -rf "$cache"
done
echo "warm_cold $*: $pass passed, $fail failed; warm runs reloaded $reloaded traces ($hits replay hits, $misses misses)"
echo "traces bound statically: $static; verified: $agreed agreed, $disagreed disagreed"
echo "snapshots checked on the prefetch thread: $prepared traces; verified: $pagreed agreed"
[ "$reloaded" -gt 0 ] || { echo "FAIL: nothing was reloaded"; exit 1; }
case " $* " in
  *" --jit-static=verify "*) [ "$agreed" -gt 0 ] || { echo "FAIL: nothing was verified"; exit 1; } ;;
  *" --jit-static="*) ;;
  *) [ "$static" -gt 0 ] || { echo "FAIL: no trace was bound statically"; exit 1; } ;;
esac
case " $* " in
  *" --jit-prepare=verify "*) [ "$pagreed" -gt 0 ] || { echo "FAIL: no prepared check was verified"; exit 1; } ;;
esac
[ "$fail" -eq 0 ] && [ "$disagreed" -eq 0 ]
