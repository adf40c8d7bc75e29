#!/usr/bin/env bash
# vm_bench.sh — run the jcvm benchmark programs and their Lua peers, print a
# table of total and steady-state times.
#
#   bench/vm_bench.sh [--quick] [-n ITERATIONS] [--jcvm PATH] [PROGRAM...]
#
#   -n N        iterations per program (default 10; each is 0.2-0.4 s in the
#               interpreter)
#   --quick     2 iterations, a smoke test for CI: every program must run and
#               print its "ok" line (exit status 1 otherwise)
#   --jcvm P    the jcvm binary (default: $JCVM, else build/vm/jcvm)
#   PROGRAM     names to run (e.g. nbody richards); default: all of
#               bench/programs/*.jc
#
# Every bench/programs/NAME.jc runs twice: mode "no-jit" (jcvm --no-jit)
# and mode "jit" (jcvm's default mode).  When bench/peers/NAME.lua exists it
# also runs with lua5.4 and luajit.  A tool that is not installed or an
# option jcvm rejects shows "n/a" in the table; it is not an error.
#
# Columns:
#   total    wall seconds of the whole process
#   steady   median of the last half of the per-iteration times the program
#            prints on stderr ("iteration I SECONDS")
#   x jit    this row's steady time / the "jit" row's steady time; so the
#            no-jit row shows no-jit/jit and the lua5.4 row lua5.4/jit
#   status   ok, FAIL (bad exit status or no "ok" line on stdout), TIMEOUT
# The last lines give the geometric means of the ratios over all programs.
#
# Environment: TIMEOUT (seconds per run, default 600), LUA54, LUAJIT
# (interpreter commands, default lua5.4 and luajit).
#
# Exit status: 0 when every run that could run passed, 1 otherwise, 2 on bad
# usage.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
iters=10
jcvm=${JCVM:-$root/build/vm/jcvm}
timeout_s=${TIMEOUT:-600}
lua54=${LUA54:-lua5.4}
luajit=${LUAJIT:-luajit}
names=()

while [ $# -gt 0 ]; do
  case $1 in
    --quick) iters=2 ;;
    -n) shift; iters=${1:-}; ;;
    -n*) iters=${1#-n} ;;
    --jcvm) shift; jcvm=${1:-} ;;
    --jcvm=*) jcvm=${1#--jcvm=} ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "vm_bench.sh: unknown option $1" >&2; exit 2 ;;
    *) names+=("${1%.jc}") ;;
  esac
  shift
done
case $iters in ''|*[!0-9]*|0) echo "vm_bench.sh: bad iteration count '$iters'" >&2; exit 2 ;; esac
if [ ${#names[@]} -eq 0 ]; then
  for f in "$here"/programs/*.jc; do
    b=$(basename "$f" .jc)
    names+=("$b")
  done
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Tool availability.
have_jcvm=0
[ -x "$jcvm" ] && have_jcvm=1
# An option is supported if jcvm does not reject it as bad usage (status 2)
# on a trivial program.
echo 'var x = 1' > "$tmp/probe.jc"
jcvm_accepts() {
  [ $have_jcvm -eq 1 ] || return 1
  "$jcvm" "$@" "$tmp/probe.jc" >/dev/null 2>&1
  [ $? -ne 2 ]
}
nojit_flag=0
jcvm_accepts --no-jit && nojit_flag=1
have_tool() { command -v "$1" >/dev/null 2>&1; }

# median of the last half of the numbers on stdin (one per line)
steady_of() {
  awk '{ t[n++] = $1 }
       END {
         if (n == 0) { print "n/a"; exit }
         lo = int(n / 2); m = n - lo
         for (i = lo; i < n; i++) s[i - lo] = t[i]
         for (i = 1; i < m; i++) { v = s[i]; j = i - 1
           while (j >= 0 && s[j] > v) { s[j + 1] = s[j]; j-- }
           s[j + 1] = v }
         if (m % 2) med = s[int(m / 2)]; else med = (s[m / 2 - 1] + s[m / 2]) / 2
         printf "%.4f\n", med
       }'
}

# run MODE_LABEL COMMAND... ; sets r_total r_steady r_status
run_one() {
  local t0 t1 rc
  t0=$EPOCHREALTIME
  timeout "$timeout_s" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  t1=$EPOCHREALTIME
  r_total=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  r_steady=$(awk '$1 == "iteration" { print $3 }' "$tmp/err" | steady_of)
  if [ $rc -eq 124 ]; then
    r_status=TIMEOUT
  elif [ $rc -ne 0 ] || ! tail -n 1 "$tmp/out" | grep -q ' ok$'; then
    r_status=FAIL
    { echo "--- $* (exit $rc)"; tail -n 3 "$tmp/out"; tail -n 3 "$tmp/err"; } >>"$tmp/failures"
  else
    r_status=ok
  fi
}

rows=()     # "program mode total steady status"
failed=0
for name in "${names[@]}"; do
  prog=$here/programs/$name.jc
  if [ ! -f "$prog" ]; then
    echo "vm_bench.sh: no program $prog" >&2
    failed=1
    continue
  fi
  # jcvm, interpreter only
  if [ $have_jcvm -eq 1 ] && [ $nojit_flag -eq 1 ]; then
    run_one "$jcvm" --no-jit "$prog" "$iters"
    rows+=("$name no-jit $r_total $r_steady $r_status")
  else
    rows+=("$name no-jit n/a n/a n/a")
  fi
  # jcvm, default mode (the JIT when there is one)
  if [ $have_jcvm -eq 1 ]; then
    run_one "$jcvm" "$prog" "$iters"
    rows+=("$name jit $r_total $r_steady $r_status")
  else
    rows+=("$name jit n/a n/a n/a")
  fi
  peer=$here/peers/$name.lua
  if [ -f "$peer" ]; then
    for tool in "$lua54" "$luajit"; do
      label=$(basename "${tool%% *}")
      if have_tool "${tool%% *}"; then
        # shellcheck disable=SC2086
        run_one $tool "$peer" "$iters"
        rows+=("$name $label $r_total $r_steady $r_status")
      else
        rows+=("$name $label n/a n/a n/a")
      fi
    done
  fi
  for r in "${rows[@]}"; do
    case $r in "$name "*FAIL|"$name "*TIMEOUT) failed=1 ;; esac
  done
done

jcvm_desc=$jcvm
[ $have_jcvm -eq 1 ] || jcvm_desc="$jcvm (not found)"
[ $nojit_flag -eq 1 ] || [ $have_jcvm -eq 0 ] || jcvm_desc="$jcvm_desc (rejects --no-jit)"
echo "jcvm: $jcvm_desc; $iters iterations per program"
printf '%s\n' "${rows[@]}" | awk '
  function isnum(x) { return x ~ /^[0-9.]+$/ }
  { prog[NR] = $1; mode[NR] = $2; total[NR] = $3; steady[NR] = $4; st[NR] = $5
    if ($2 == "jit" && isnum($4) && $5 == "ok") jit[$1] = $4 }
  END {
    printf "%-16s %-8s %9s %9s %8s  %s\n", "program", "mode", "total(s)", "steady(s)", "x jit", "status"
    for (i = 1; i <= NR; i++) {
      ratio = "n/a"
      if (prog[i] in jit && isnum(steady[i]) && st[i] == "ok" && jit[prog[i]] > 0) {
        r = steady[i] / jit[prog[i]]
        ratio = sprintf("%.2f", r)
        if (mode[i] != "jit") {
          if (!(mode[i] in lcnt)) order[++nm] = mode[i]
          lsum[mode[i]] += log(r); lcnt[mode[i]]++
        }
      }
      printf "%-16s %-8s %9s %9s %8s  %s\n", prog[i], mode[i], total[i], steady[i], ratio, st[i]
    }
    for (k = 1; k <= nm; k++) {
      m = order[k]
      printf "geometric mean of %s/jit steady-state time: %.2f over %d programs\n", m, exp(lsum[m] / lcnt[m]), lcnt[m]
    }
  }'
if [ -s "$tmp/failures" ]; then
  echo "failures:"
  cat "$tmp/failures"
fi
exit $failed
