#!/usr/bin/env bash
# run_progen.sh — differential fuzzing of jcvm with generated programs.
#
#   tests/fuzz/run_progen.sh JCVM SECONDS [SEED] [extra jcvm flags...]
#
# For SECONDS seconds, generates programs with progen.py (seeds SEED,
# SEED+1, ...; SEED defaults to one derived from the clock and is printed)
# and runs each twice:
#   reference   JCVM --no-jit PROG
#   test        JCVM FLAGS PROG      (FLAGS: the extra flags, e.g. --jit-stress)
# stdout and exit status must be identical, and the reference must exit
# with the status the program's first line announces (0, or 1 for programs
# that end with an intentional runtime error) — that catches generator and
# interpreter bugs too.  A run longer than PROGEN_TIMEOUT seconds (default
# 10) fails.
#
# Flags jcvm rejects as bad usage (exit status 2 on a trivial program) are
# dropped with a note, so the test run falls back to jcvm's default mode; if
# jcvm rejects --no-jit the reference is the default mode as well.
#
# Failing programs are kept, with both outputs, in a directory printed at
# the start and the end (PROGEN_KEEP, default a new /tmp/progen-fail.*).
# The last line is "N passed, N failed"; exit status 1 on any failure,
# 2 on bad usage.
#
# With PROGEN_WARM=1 the test run goes through the code cache: a cold run
# with an empty cache of its own (it traces and saves; with the flags in
# PROGEN_COLD_FLAGS if set, e.g. a later --jit-hot, so that its traces come
# from later iterations than the warm run checks first), then the warm run
# with what it saved (it reloads: checks, bridges, tail guards); both must
# print what the reference prints.
#
# Environment: PROGEN_BUDGET, PROGEN_ERROR_RATE (passed to progen.py),
# PROGEN_TIMEOUT, PROGEN_KEEP, PROGEN_WARM, PROGEN_COLD_FLAGS, PYTHON
# (default python3).
set -u

if [ $# -lt 2 ]; then
  echo "usage: $0 JCVM SECONDS [SEED] [extra jcvm flags...]" >&2
  exit 2
fi
jcvm=$1
seconds=$2
shift 2
seed=""
if [ $# -gt 0 ]; then
  case $1 in -*) ;; *) seed=$1; shift ;; esac
fi
case $jcvm in /*) ;; *) jcvm=$PWD/$jcvm ;; esac
if [ ! -x "$jcvm" ]; then
  echo "run_progen.sh: $jcvm is not executable" >&2
  exit 2
fi
case $seconds in ''|*[!0-9]*) echo "run_progen.sh: SECONDS must be a number" >&2; exit 2 ;; esac
[ -n "$seed" ] || seed=$(( $(date +%s) % 1000000 * 1000 ))
case $seed in *[!0-9]*) echo "run_progen.sh: SEED must be a number" >&2; exit 2 ;; esac

here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
tmo=${PROGEN_TIMEOUT:-10}
gen_args=()
[ -n "${PROGEN_BUDGET:-}" ] && gen_args+=(--budget "$PROGEN_BUDGET")
[ -n "${PROGEN_ERROR_RATE:-}" ] && gen_args+=(--error-rate "$PROGEN_ERROR_RATE")
keep=${PROGEN_KEEP:-}
if [ -z "$keep" ]; then
  keep=$(mktemp -d /tmp/progen-fail.XXXXXX)
else
  mkdir -p "$keep" || exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Which flags does this jcvm accept?  Bad usage is exit status 2.
echo 'print(1)' >"$work/probe.jc"
accepts() {
  "$jcvm" "$@" "$work/probe.jc" >/dev/null 2>&1
  [ $? -ne 2 ]
}
ref_flags=(--no-jit)
if ! accepts --no-jit; then
  echo "run_progen.sh: jcvm rejects --no-jit; the reference run uses the default mode"
  ref_flags=()
fi
test_flags=()
for f in "$@"; do
  if accepts "$f"; then
    test_flags+=("$f")
  else
    echo "run_progen.sh: jcvm rejects $f; dropped (test run falls back to the default mode)"
  fi
done

echo "run_progen.sh: jcvm $jcvm; reference: jcvm ${ref_flags[*]:-(default mode)}; test: jcvm ${test_flags[*]:-(default mode)}${PROGEN_WARM:+, warm, after a cold run (${PROGEN_COLD_FLAGS:-the same flags}) with a cache of its own}"
echo "run_progen.sh: seeds from $seed for ${seconds}s; failing programs go to $keep"

pass=0
fail=0
end=$(( $(date +%s) + seconds ))
s=$seed
keep_failure() {   # REASON
  local d=$keep/seed_$s
  mkdir -p "$d"
  cp "$work/prog.jc" "$d/prog.jc" 2>/dev/null
  for f in ref.out ref.err cold.out cold.err test.out test.err gen.err; do
    [ -f "$work/$f" ] && cp "$work/$f" "$d/$f"
  done
  {
    echo "reason: $1"
    echo "reference: $jcvm ${ref_flags[*]} prog.jc  -> exit ${ref_rc:-?}"
    echo "test:      $jcvm ${test_flags[*]} prog.jc  -> exit ${test_rc:-?}"
  } >"$d/README"
  echo "FAIL seed $s: $1 (kept in $d)"
  fail=$((fail + 1))
}

while [ "$(date +%s)" -lt "$end" ]; do
  rm -f "$work"/*.out "$work"/*.err "$work/prog.jc"
  ref_rc="" test_rc=""
  if ! "$python" "$here/progen.py" "${gen_args[@]}" "$s" >"$work/prog.jc" 2>"$work/gen.err"; then
    keep_failure "progen.py failed"
    s=$((s + 1))
    continue
  fi
  expect=$(sed -n '1s/.*expect-exit=\([0-9]*\).*/\1/p' "$work/prog.jc")
  timeout "$tmo" "$jcvm" "${ref_flags[@]}" "$work/prog.jc" >"$work/ref.out" 2>"$work/ref.err"
  ref_rc=$?
  cold_rc=0
  if [ -n "${PROGEN_WARM:-}" ]; then
    rm -rf "$work/cache"
    # shellcheck disable=SC2086 # PROGEN_COLD_FLAGS is a list of flags
    timeout "$tmo" "$jcvm" --cache="$work/cache" ${PROGEN_COLD_FLAGS:-"${test_flags[@]}"} \
      "$work/prog.jc" >"$work/cold.out" 2>"$work/cold.err"
    cold_rc=$?
    timeout "$tmo" "$jcvm" --cache="$work/cache" "${test_flags[@]}" "$work/prog.jc" \
      >"$work/test.out" 2>"$work/test.err"
  else
    timeout "$tmo" "$jcvm" "${test_flags[@]}" "$work/prog.jc" >"$work/test.out" 2>"$work/test.err"
  fi
  test_rc=$?
  if [ -n "${PROGEN_WARM:-}" ] && { [ "$cold_rc" != "$ref_rc" ] || ! cmp -s "$work/ref.out" "$work/cold.out"; }; then
    keep_failure "the cold run (filling the cache) differs from the reference: exit $cold_rc"
  elif [ "$ref_rc" -eq 124 ] || [ "$test_rc" -eq 124 ]; then
    keep_failure "timeout after ${tmo}s (reference exit $ref_rc, test exit $test_rc)"
  elif [ "$ref_rc" != "$expect" ]; then
    keep_failure "reference exit status $ref_rc, program expects $expect: $(tail -n 1 "$work/ref.err")"
  elif [ "$ref_rc" != "$test_rc" ]; then
    keep_failure "exit status differs: reference $ref_rc, test $test_rc: $(tail -n 1 "$work/test.err")"
  elif ! cmp -s "$work/ref.out" "$work/test.out"; then
    keep_failure "stdout differs: $(diff "$work/ref.out" "$work/test.out" | sed -n 2p)"
  else
    pass=$((pass + 1))
  fi
  s=$((s + 1))
done

if [ $fail -eq 0 ]; then
  rmdir "$keep" 2>/dev/null
  echo "run_progen.sh: seeds $seed..$((s - 1)); no failures"
else
  echo "run_progen.sh: seeds $seed..$((s - 1)); failing programs in $keep"
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
