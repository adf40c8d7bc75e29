#!/usr/bin/env bash
# static.sh — traces bound without their checking iteration
# (vm/jit/static.c) from a corrupted static section of their aux.
#
#   tests/soundness/static.sh JCVM
#
# A cold run of richards saves its traces with word K of every trace's
# static section overwritten (JCVM_TEST_AUX=static:K, see vm/jit/persist.c);
# the warm run (lazy bridges bound statically, the default, then loops too:
# --jit-static=all) must print what the cold run printed, whatever K hits.  Word
# 0 of an entry (its kind) is checked by jcvm before anything is bound: such
# traces are left to their checks (a trace with no entry has nothing to
# corrupt).
# Word 1 (a GREEN's site) is compared by libjcache: a static binding that
# reports it misses, and the check decides.  The others
# (where an object comes from) either find another object, which its GREEN's
# fingerprint or the rule that every bound object is one a decision was
# about turns away, or are not used by that entry.
set -u
if [ $# -lt 1 ]; then echo "usage: $0 JCVM" >&2; exit 2; fi
jcvm=$1
case $jcvm in /*) ;; *) jcvm=$PWD/$jcvm ;; esac
root=$(cd "$(dirname "$0")/../.." && pwd)
prog=$root/bench/programs/richards.jc
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
pass=0 fail=0

count() { # count JSON KEY
  local v
  v=$(grep -o "\"$2\": *[0-9]*" "$1" 2>/dev/null | head -1 | grep -o '[0-9]*$')
  echo "${v:-0}"
}
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

"$jcvm" --no-cache "$prog" 1 2>/dev/null | grep -v '^iteration ' >"$tmp/expect"
# Lazy bridges bound statically (the default), then loops too.
for mode in bridges all; do
for k in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 25 26 27 50 51 52 53; do
  rm -rf "$tmp/cache"
  mkdir "$tmp/cache"
  JCVM_TEST_AUX=static:$k "$jcvm" --cache="$tmp/cache" "$prog" 1 >/dev/null 2>&1
  "$jcvm" --cache="$tmp/cache" --jit-static=$mode --jit-stats-json="$tmp/w.json" "$prog" 1 2>"$tmp/w.err" |
    grep -v '^iteration ' >"$tmp/w.out"
  status=${PIPESTATUS[0]}
  fallbacks=$(count "$tmp/w.json" static_fallbacks)
  reloaded=$(($(count "$tmp/w.json" reloaded_loops) + $(count "$tmp/w.json" reloaded_bridges)))
  if [ "$status" != 0 ] || ! cmp -s "$tmp/w.out" "$tmp/expect"; then
    bad "$mode static:$k: the warm run differs: $(head -c 300 "$tmp/w.err")"
  elif [ $((k % 5)) = 0 ] && { [ "$fallbacks" = 0 ] || [ "$reloaded" = 0 ]; }; then
    bad "$mode static:$k: a corrupted entry kind left $fallbacks traces to their check, $reloaded reloaded"
  elif [ "$k" = 1 ] && [ "$(count "$tmp/w.json" static_misses)" = 0 ]; then
    # A first entry that is a GREEN (a bridge's first frame, a decision
    # before the first bind) has the wrong site.
    bad "$mode static:1: no static binding missed on a corrupted first site"
  else
    pass=$((pass + 1))
  fi
done
done
# And the same program, uncorrupted: its traces are bound statically.
rm -rf "$tmp/cache"
mkdir "$tmp/cache"
"$jcvm" --cache="$tmp/cache" "$prog" 1 >/dev/null 2>&1
"$jcvm" --cache="$tmp/cache" --jit-stats-json="$tmp/w.json" "$prog" 1 2>/dev/null |
  grep -v '^iteration ' >"$tmp/w.out"
if ! cmp -s "$tmp/w.out" "$tmp/expect" || [ "$(count "$tmp/w.json" static_traces)" = 0 ]; then
  bad "uncorrupted: $(count "$tmp/w.json" static_traces) traces bound statically"
else
  pass=$((pass + 1))
fi
echo "static: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
