#!/usr/bin/env bash
# namespace.sh — a cache written by a differently built jcvm is never used.
#
#   tests/soundness/namespace.sh JCVM
#
# jcvm's namespace holds its build id and CPU features; the hidden variables
# JCVM_CACHE_BUILD_ID and JCVM_CACHE_CPU stand in for another build or
# another machine.  A run under another build id or CPU feature set must
# reload nothing (and print the same); a run under the same one reloads.
set -u
if [ $# -lt 1 ]; then echo "usage: $0 JCVM" >&2; exit 2; fi
jcvm=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
prog=$root/bench/programs/nbody.jc
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
reloaded() {
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['reloaded_loops']+d['reloaded_bridges'])" "$1"
}
go() { # go NAME ENV... : run nbody with the shared cache
  local name=$1; shift
  env "$@" "$jcvm" --cache="$tmp/cache" --jit-stats-json="$tmp/$name.json" "$prog" 1 \
    >"$tmp/$name.out" 2>/dev/null
}
go cold JCVM_CACHE_BUILD_ID=build-a JCVM_CACHE_CPU=cpu-a
go other_build JCVM_CACHE_BUILD_ID=build-b JCVM_CACHE_CPU=cpu-a
go other_cpu JCVM_CACHE_BUILD_ID=build-a JCVM_CACHE_CPU=cpu-b
go real
go same JCVM_CACHE_BUILD_ID=build-a JCVM_CACHE_CPU=cpu-a
for r in other_build other_cpu real; do
  n=$(reloaded "$tmp/$r.json")
  if [ "$n" != 0 ]; then echo "FAIL: $r reloaded $n traces of another build"; fail=1; fi
  cmp -s "$tmp/cold.out" "$tmp/$r.out" || { echo "FAIL: $r printed something else"; fail=1; }
done
n=$(reloaded "$tmp/same.json")
if [ "$n" = 0 ]; then echo "FAIL: the same build reloaded nothing"; fail=1; fi
cmp -s "$tmp/cold.out" "$tmp/same.out" || { echo "FAIL: same build printed something else"; fail=1; }
echo "namespace: other build id, other CPU features and the real build reload 0; the same build reloads $n"
exit $fail
