#!/usr/bin/env bash
# sink_check.sh — allocation sinking happens, and stays sound under stress.
#
#   tests/lang/sink_check.sh JCVM
#
# 1. Each jit_sink_*.jc test (and bench/programs/vec.jc) sinks at least the
#    allocations listed below (--jit-stats-json "sunk"), and rebuilds objects
#    at exits where listed ("materialized" > 0); jit_sink_escape sinks none.
#    So the test fails if sinking silently stops working.
# 2. --dump-ir marks sunk allocations ("}" before CALLA) and prints the
#    snapshot records that rebuild them ("={Class field=...}").
# 3. --jit-no-sink prints the same and sinks nothing.
# 4. --jit-gc-stress (every trace allocation leaves to collect, every exit
#    collects before each object it rebuilds), alone and with --jit-stress,
#    prints the expected output.
# 5. Reloaded traces rebuild exactly what compiled ones do (a warm run prints
#    the same and materializes as many objects), and traces whose saved exit
#    programs or snapshots were corrupted (JCVM_TEST_AUX, see
#    vm/jit/persist.c) are rejected by the next run, which traces the loops
#    again: checked on the program's thread, and checked ahead on the
#    prefetch thread (--jit-prefetch-wait --jit-prepare=verify: never
#    accepted where the whole check rejects).
set -u
if [ $# -lt 1 ]; then echo "usage: $0 JCVM" >&2; exit 2; fi
jcvm=$1
case $jcvm in /*) ;; *) jcvm=$PWD/$jcvm ;; esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$(dirname "$here")")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
fail=0
pass=0

count() { # count JSON KEY
  local v
  v=$(grep -o "\"$2\": *[0-9]*" "$1" 2>/dev/null | head -1 | grep -o '[0-9]*$')
  echo "${v:-0}"
}

bad() { echo "FAIL $*"; fail=$((fail + 1)); }
ok() { pass=$((pass + 1)); }

# name  min-sunk  min-materialized (in the default mode, no cache)
expect="
jit_sink_temp 6 0
jit_sink_exit 3 1
jit_sink_bridge 2 1
jit_sink_nested 5 1
jit_sink_gc 2 1
jit_sink_escape 0 0
"

run() { # run OUT PROG FLAGS... -> OUT.out OUT.err OUT.json OUT.status
  local out=$1 prog=$2; shift 2
  local flags
  flags=$(sed -n '1,3s/^# jcvm-flags: //p' "$prog")
  # shellcheck disable=SC2086
  (cd "$(dirname "$prog")" && timeout 120 "$jcvm" $flags "$@" --jit-stats-json="$out.json" \
     "$(basename "$prog")" >"$out.out" 2>"$out.err")
  echo $? >"$out.status"
}

while read -r name minsunk minmat; do
  [ -n "$name" ] || continue
  prog=$here/$name.jc
  want=$here/$name.out
  run "$tmp/d" "$prog" --no-cache
  sunk=$(count "$tmp/d.json" sunk)
  mat=$(count "$tmp/d.json" materialized)
  if ! cmp -s "$tmp/d.out" "$want" || [ "$(cat "$tmp/d.status")" != 0 ]; then
    bad "$name: wrong output"
  elif [ "$minsunk" = 0 ] && [ "$sunk" != 0 ]; then
    bad "$name: $sunk allocations sunk, expected none (they escape)"
  elif [ "$sunk" -lt "$minsunk" ]; then
    bad "$name: $sunk allocations sunk, expected at least $minsunk"
  elif [ "$minmat" -gt 0 ] && [ "$mat" -lt "$minmat" ]; then
    bad "$name: no object materialized at an exit"
  else
    ok
  fi
  run "$tmp/n" "$prog" --no-cache --jit-no-sink
  if ! cmp -s "$tmp/n.out" "$want" || [ "$(count "$tmp/n.json" sunk)" != 0 ]; then
    bad "$name: --jit-no-sink"
  else
    ok
  fi
  for mode in "--jit-gc-stress" "--jit-gc-stress --jit-stress"; do
    # shellcheck disable=SC2086
    run "$tmp/g" "$prog" --no-cache $mode
    if ! cmp -s "$tmp/g.out" "$want" || [ "$(cat "$tmp/g.status")" != 0 ]; then
      bad "$name: $mode: $(head -c 300 "$tmp/g.err")"
    else
      ok
    fi
  done
  # Cold, then warm from the cold run's cache.
  rm -rf "$tmp/cache"
  mkdir "$tmp/cache"
  run "$tmp/c" "$prog" --cache="$tmp/cache"
  run "$tmp/w" "$prog" --cache="$tmp/cache"
  if ! cmp -s "$tmp/w.out" "$want"; then
    bad "$name: warm run output"
  elif [ "$(count "$tmp/c.json" materialized)" -gt 0 ] && [ "$(count "$tmp/w.json" materialized)" = 0 ]; then
    # Not the same count: a warm run enters its reloaded traces after one
    # back edge instead of a thousand, so its exits are more.
    bad "$name: warm run materialized no object, cold $(count "$tmp/c.json" materialized)"
  elif [ "$minsunk" -gt 0 ] && [ "$(count "$tmp/w.json" reloaded_loops)" = 0 ]; then
    bad "$name: nothing reloaded"
  else
    ok
  fi
done <<<"$expect"

# The dump marks sunk allocations and shows their records.
(cd "$here" && "$jcvm" --no-cache --dump-ir jit_sink_nested.jc >/dev/null 2>"$tmp/ir")
if ! grep -q '^[0-9]* ptr } CALLA' "$tmp/ir" || ! grep -q '={Seg p=' "$tmp/ir"; then
  bad "--dump-ir: no sunk allocation or record shown"
else
  ok
fi

# The benchmark: its temporaries are sunk.
run "$tmp/v" "$root/bench/programs/vec.jc" --no-cache
if ! grep -q "^vec: .* ok$" "$tmp/v.out" || [ "$(count "$tmp/v.json" sunk)" -lt 5 ]; then
  bad "vec.jc: $(cat "$tmp/v.out") sunk $(count "$tmp/v.json" sunk)"
else
  ok
fi

# Corrupted exit programs and snapshots in the cache are rejected, by the
# program's thread and by the prefetch thread's checks.
for area in hdr:0 hdr:1 snap:1 snap:7 cls:0 prog:0 prog:3 prog:9 prog:16 pc:0 pc:5; do
  for name in jit_sink_nested jit_sink_exit; do
    rm -rf "$tmp/cache" "$tmp/cache2"
    mkdir "$tmp/cache"
    JCVM_TEST_AUX=$area run "$tmp/c" "$here/$name.jc" --cache="$tmp/cache"
    cp -r "$tmp/cache" "$tmp/cache2"
    run "$tmp/w" "$here/$name.jc" --cache="$tmp/cache" --jit-prepare=off
    run "$tmp/p" "$here/$name.jc" --cache="$tmp/cache2" --jit-prefetch-wait --jit-prepare=verify
    for w in w p; do
      if ! cmp -s "$tmp/$w.out" "$here/$name.out" || [ "$(cat "$tmp/$w.status")" != 0 ]; then
        bad "$name: corrupted aux ($area, run $w): $(head -c 300 "$tmp/$w.err")"
      elif [ "$(count "$tmp/$w.json" replay_misses)" = 0 ]; then
        bad "$name: corrupted aux ($area, run $w) was not rejected"
      elif [ "$(count "$tmp/$w.json" prepare_disagreed)" != 0 ]; then
        bad "$name: corrupted aux ($area) accepted by the prefetch thread's check only"
      elif [ "$w" = p ] && [ "${area%%:*}" = pc ] && [ "$(count "$tmp/p.json" prepared)" = 0 ]; then
        bad "$name: corrupted pc ($area): no trace had its snapshots checked ahead"
      else
        ok
      fi
    done
  done
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
