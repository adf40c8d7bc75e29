#!/usr/bin/env bash
# fuzz_parse.sh — parser/VM robustness check.
#
#   tests/lang/fuzz_parse.sh JCVM_BINARY [VARIANTS_PER_PROGRAM] [SEED]
#
# Feeds truncated and garbled versions of every tests/lang/*.jc (plus random
# token soup and random bytes) to jcvm and asserts that each run ends with
# exit status 0, 1 or 2: never a signal, never a sanitizer report.  A run
# that hits the time limit (a garbled program can loop forever) is counted
# but not a failure.  Prints "N runs, N timeouts, N failed"; exits 1 on any
# failure.  Use an ASan/UBSan build for the strongest check.
set -u
if [ $# -lt 1 ]; then
  echo "usage: $0 JCVM_BINARY [VARIANTS_PER_PROGRAM] [SEED]" >&2
  exit 2
fi
jcvm=$1
case $jcvm in /*) ;; *) jcvm=$PWD/$jcvm ;; esac
variants=${2:-6}
RANDOM=${3:-12345}
cd "$(dirname "$0")" || exit 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS=exitcode=99:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:exitcode=99:print_stacktrace=1

runs=0
timeouts=0
failed=0
# Pieces spliced into programs: structure-breaking tokens and odd bytes.
pieces=('(' ')' 'end' '"' '[' ']' '.' '..' '0' '#' 'fn' 'class' 'var' '=' ',' 'super.' 'self'
  'return' '9223372036854775808' '1e' '\' 'if' 'do' 'while' $'\x01' $'\xff' $'\n')

check() { # $1: file, $2: description
  runs=$((runs + 1))
  timeout 5 "$jcvm" --max-heap=256 "$1" >/dev/null 2>"$tmp/err" </dev/null
  local code=$?
  if [ $code -eq 124 ]; then
    timeouts=$((timeouts + 1))
  elif [ $code -gt 2 ] || grep -q 'Sanitizer\|runtime error: .*\.c:' "$tmp/err"; then
    failed=$((failed + 1))
    cp "$1" "$tmp/../fuzz_fail_$failed.jc" 2>/dev/null
    echo "FAIL ($2): exit status $code; input kept in $(dirname "$tmp")/fuzz_fail_$failed.jc"
    head -c 300 "$tmp/err"
  fi
}

for prog in *.jc; do
  size=$(wc -c <"$prog")
  [ "$size" -gt 1 ] || continue
  for ((v = 0; v < variants; v++)); do
    f=$tmp/case.jc
    pos=$((RANDOM * 32768 + RANDOM))
    pos=$((pos % size))
    case $((v % 3)) in
    0) head -c "$pos" "$prog" >"$f" ;;                      # truncate
    1) { head -c "$pos" "$prog"; printf '%s' "${pieces[RANDOM % ${#pieces[@]}]}"
         tail -c +$((pos + 2)) "$prog"; } >"$f" ;;           # replace a byte
    2) { head -c "$pos" "$prog"; printf '%s ' "${pieces[RANDOM % ${#pieces[@]}]}"
         tail -c +$((pos + 1)) "$prog"; } >"$f" ;;           # insert a token
    esac
    check "$f" "$prog variant $v at byte $pos"
  done
done

# Token soup and raw bytes.
for ((k = 0; k < 100; k++)); do
  f=$tmp/soup.jc
  : >"$f"
  for ((w = 0; w < 40; w++)); do printf '%s ' "${pieces[RANDOM % ${#pieces[@]}]}" >>"$f"; done
  check "$f" "token soup $k"
  head -c $((RANDOM % 400 + 1)) /dev/urandom >"$f"
  check "$f" "random bytes $k"
done

echo "$runs runs, $timeouts timeouts, $failed failed"
[ "$failed" -eq 0 ]
