#!/usr/bin/env bash
# run.sh — run the jc language test suite.
#
#   tests/lang/run.sh JCVM_BINARY [extra jcvm flags...]
#
# For every NAME.jc in this directory:
#   - NAME.out         expected stdout; the program must exit 0 with empty stderr
#   - err_NAME.err     expected stderr (exact), and err_NAME.code the exit status
#     (stdout is compared too when err_NAME.out exists)
# Optional directives in the program's first lines:
#   # jcvm-flags: --max-heap=16     extra flags for jcvm
#   # args: a b c                   program arguments
# Prints one line per failure and finally "N passed, N failed"; exits 1 on
# any failure.
set -u

if [ $# -lt 1 ]; then
  echo "usage: $0 JCVM_BINARY [jcvm flags...]" >&2
  exit 2
fi
jcvm=$1
shift
case $jcvm in /*) ;; *) jcvm=$PWD/$jcvm ;; esac
if [ ! -x "$jcvm" ]; then
  echo "run.sh: $jcvm is not executable" >&2
  exit 2
fi

cd "$(dirname "$0")" || exit 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Leak reports would change exit statuses under ASan; the VM frees everything
# on normal and error exits, but a test must not depend on it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

pass=0
fail=0
for prog in *.jc; do
  name=${prog%.jc}
  flags=$(sed -n '1,3s/^# jcvm-flags: //p' "$prog")
  progargs=$(sed -n '1,3s/^# args: //p' "$prog")
  # shellcheck disable=SC2086  # flags and args are word lists on purpose
  timeout 20 "$jcvm" "$@" $flags "$prog" $progargs >"$tmp/out" 2>"$tmp/err"
  code=$?
  why=""
  case $name in
  err_*)
    want_code=$(cat "$name.code" 2>/dev/null || echo missing)
    if [ "$code" != "$want_code" ]; then
      why="exit status $code, expected $want_code"
    elif ! cmp -s "$tmp/err" "$name.err"; then
      why="stderr differs: $(diff "$name.err" "$tmp/err" | sed -n '2,3p' | tr '\n' ' ')"
    elif [ -f "$name.out" ] && ! cmp -s "$tmp/out" "$name.out"; then
      why="stdout differs"
    fi
    ;;
  *)
    if [ "$code" != 0 ]; then
      why="exit status $code: $(head -c 200 "$tmp/err")"
    elif [ -s "$tmp/err" ]; then
      why="unexpected stderr: $(head -c 200 "$tmp/err")"
    elif ! cmp -s "$tmp/out" "$name.out"; then
      why="stdout differs: $(diff "$name.out" "$tmp/out" | sed -n '2,3p' | tr '\n' ' ')"
    fi
    ;;
  esac
  if [ -z "$why" ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL $name: $why"
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
