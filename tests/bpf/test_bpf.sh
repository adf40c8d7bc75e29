#!/bin/sh
# tests/bpf/test_bpf.sh — the BPF program against the library's own counters.
#
#   sh tests/bpf/test_bpf.sh [BUILD_DIR [SOURCE_DIR]]
#
# 1. jcache-trace counts, per pid, exactly what jc_stats_get() counts in
#    that process: for bpf_workload (every kind of event, known numbers)
#    and for both processes of jcache-demo.
# 2. The event stream carries every kind with its arguments (the miss's
#    expected and observed fingerprints, the reject's reason...); one
#    trace_live per trace the workload got back live, with its name, and
#    one trace_release per release, at an address announced live.
# 3. -p PID traces that process only, finds its library in /proc/PID/maps
#    and stops when it exits; --lib works on a statically linked program.
# 4. Failures are clear sentences: no such file, no probes, not root.
# 5. The bpftrace one-liners of docs/PROBES.md still work.
# Needs root; skipped (exit 77) where the capability is absent.
# Override the library under test with JC_TEST_LIB (and JC_TEST_DEMO,
# JC_TEST_WORKLOAD for programs linked with it).

B=$(cd "${1:-build}" && pwd)
S=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
LIB=${JC_TEST_LIB:-$B/lib/libjcache.so}
DEMO=${JC_TEST_DEMO:-$B/examples/jcache-demo}
WORK=${JC_TEST_WORKLOAD:-$B/tests/bpf/bpf_workload}
TOY=$B/tests/helper_toy
JCVM=${JC_TEST_JCVM:-$B/vm/jcvm}
TRACE=$B/bpf/jcache-trace
T=$(mktemp -d /tmp/jcache-bpf-test.XXXXXX)
pass=0 fail=0 skip=0

ok() { echo "PASS: $*"; pass=$((pass + 1)); }
ko() { echo "FAIL: $*"; fail=$((fail + 1)); }
sk() { echo "SKIP: $*"; skip=$((skip + 1)); }
finish() {
  rm -rf "$T"
  echo "$pass passed, $fail failed, $skip skipped"
  [ "$fail" -eq 0 ] || exit 1
  [ "$pass" -gt 0 ] || exit 77
  exit 0
}
skip_all() {
  echo "SKIP: $*"
  rm -rf "$T"
  echo "0 passed, 0 failed, 1 skipped"
  exit 77
}

[ "$(id -u)" = 0 ] || skip_all "needs root to load BPF programs and uprobes"
[ -r /sys/kernel/btf/vmlinux ] || skip_all "the kernel has no BTF (/sys/kernel/btf/vmlinux)"
for f in "$TRACE" "$WORK" "$DEMO"; do
  [ -x "$f" ] || { ko "$f is not built"; finish; }
done

# Start jcache-trace ARGS... in the background: output in $T/$NAME.out and
# .err; waits until it is attached.  Sets TPID.
trace_start() {
  name=$1
  shift
  "$TRACE" "$@" >"$T/$name.out" 2>"$T/$name.err" &
  TPID=$!
  i=0
  while ! grep -q '^Tracing' "$T/$name.err" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 $TPID 2>/dev/null; then
      echo "jcache-trace did not start:"
      cat "$T/$name.err"
      return 1
    fi
    sleep 0.05
  done
  return 0
}
trace_stop() {
  kill -INT $TPID 2>/dev/null
  wait $TPID
}

# The counters the summary printed for pid $2 from file $1, as "name value"
# lines (non-zero ones), sorted.
bpf_counters() {
  awk -v pid="$2" '
    $1 == "pid" { cur = ($2 == pid ":") ; next }
    /^  probes fired:/ { cur = 0 }
    cur && NF == 2 && $1 ~ /^[a-z_]+$/ { print $1, $2 }' "$1" | sort
}

# Which counters cannot be exact because a probe is not attached (the
# loader's warning names it): relocs_patched needs jcache:reloc.
unexact=""
note_unattached() {
  if grep -q 'jcache:reloc is not traced' "$1"; then
    unexact="relocs_patched"
    echo "note: $(grep -o 'jcache:reloc is not traced[^;]*' "$1" | head -1)"
  fi
}

# Compare "name value" lines: $1 = library's, $2 = bpf's; prints mismatches.
compare() {
  bad=0
  while read -r name val; do
    got=$(awk -v n="$name" '$1 == n { print $2 }' "$2")
    got=${got:-0}
    [ "$got" = "$val" ] && continue
    case " $unexact " in
    *" $name "*) echo "  $name: library $val, bpf $got (probe not attached: not compared)" ;;
    *) echo "  $name: library $val, bpf $got"; bad=1 ;;
    esac
  done <"$1"
  # Counters bpf has that the library does not (all library's are listed or
  # non-zero ones are, so anything extra is a mismatch).
  while read -r name val; do
    grep -q "^$name " "$1" || { echo "  $name: library 0, bpf $val"; bad=1; }
  done <"$2"
  return $bad
}

# The summary's "live traces:" line for pid $2 in $1 against what the
# workload in $3 says it made live and released ("live compiled N"...).
# Prints the mismatch; 0 if equal.
live_counts() {
  got=$(awk -v pid="$2" '
    $1 == "pid" { cur = ($2 == pid ":"); next }
    cur && $1 == "live" && $2 == "traces:" { print $3, $7, $9; exit }' "$1")
  want=$(awk '$1 == "live" && $2 == "compiled" { c = $3 }
              $1 == "live" && $2 == "reloaded" { r = $3 }
              $1 == "live" && $2 == "released" { x = $3 }
              END { print c, r, x }' "$3")
  [ "$got" = "$want" ] && return 0
  echo "  live traces (compiled reloaded released): bpf '$got', workload '$want'"
  return 1
}

# -- 1. Counters: bpf_workload and jcache-demo --------------------------------------
if "$TRACE" --help | grep -q EXAMPLES; then ok "jcache-trace --help has EXAMPLES"; else ko "jcache-trace --help"; fi

# A library without the optional trace_live/trace_release probes (an older
# JC_TEST_LIB): the live-trace checks are skipped.
nolive=""
if trace_start counts -c --lib "$LIB"; then
  note_unattached "$T/counts.err"
  mkdir -p "$T/w1" "$T/d1"
  "$WORK" "$T/w1" 3 >"$T/work1.out" 2>&1 || ko "bpf_workload failed: $(cat "$T/work1.out")"
  "$DEMO" "$T/d1" >"$T/demo1.out" 2>&1 || ko "jcache-demo failed"
  # jcvm, cold then warm: JCACHE_STATS=1 prints its library counters at exit.
  for run in cold warm; do
    JCACHE_STATS=1 "$JCVM" --cache="$T/vmcache" "$S/bench/programs/nbody.jc" 2 \
      >/dev/null 2>"$T/jcvm.$run" || ko "jcvm ($run) failed"
  done
  trace_stop
  grep -q "no trace_live/trace_release probes" "$T/counts.out" && nolive=1
  wpid=$(awk '$1 == "pid" { print $2 }' "$T/work1.out")
  awk '$1 == "stat" && $3 != 0 { print $2, $3 }' "$T/work1.out" | sort >"$T/lib.w"
  bpf_counters "$T/counts.out" "$wpid" >"$T/bpf.w"
  # The workload must have made every kind of event it promises.
  for c in lookups candidates replay_hits replay_misses binds relocs_patched \
    commits traces_reloaded bridges_attached tail_guards tails_validated \
    tails_invalidated bytes_reloaded records_written records_not_persisted \
    records_rejected rejected_checksum rejected_truncated; do
    grep -q "^$c " "$T/lib.w" || ko "bpf_workload made no $c"
  done
  if [ -n "$wpid" ] && compare "$T/lib.w" "$T/bpf.w"; then
    ok "bpf counters of bpf_workload (pid $wpid) equal jc_stats_get(): $(wc -l <"$T/lib.w") non-zero counters"
  else
    ko "bpf counters of bpf_workload (pid $wpid) differ from jc_stats_get()"
  fi
  if [ -n "$nolive" ]; then
    sk "$LIB has no trace_live/trace_release probes: live traces not checked"
  elif [ -n "$wpid" ] && live_counts "$T/counts.out" "$wpid" "$T/work1.out"; then
    ok "live traces of bpf_workload: $(grep '^  live traces:' "$T/counts.out" | head -1 | sed 's/^ *//')"
  else
    ko "live-trace counters of bpf_workload (pid $wpid)"
  fi
  # jcache-demo: "cold run (pid N)" / "warm run (pid N)", then "counters:"
  # and name=value pairs on the following lines.
  for run in cold warm; do
    dpid=$(sed -n "s/^$run run (pid \([0-9]*\)).*/\1/p" "$T/demo1.out")
    awk -v run="$run" '
      $1 == run && $2 == "run" { cur = 1; next }
      /^(cold|warm) run/ { cur = 0 }
      cur && /=/ { for (i = 1; i <= NF; i++) if (split($i, kv, "=") == 2 && kv[1] ~ /^[a-z_]+$/) print kv[1], kv[2] }
    ' "$T/demo1.out" | sort >"$T/lib.$run"
    bpf_counters "$T/counts.out" "$dpid" >"$T/bpf.$run"
    if [ -n "$dpid" ] && [ -s "$T/lib.$run" ] && compare "$T/lib.$run" "$T/bpf.$run"; then
      ok "bpf counters of jcache-demo's $run process (pid $dpid) equal its printed counters"
    else
      ko "bpf counters of jcache-demo's $run process (pid $dpid)"
    fi
  done
  # jcvm's two runs: its own counters ("jcache stats (pid N):" + "  name value").
  for run in cold warm; do
    vpid=$(sed -n 's/^jcache stats (pid \([0-9]*\)):$/\1/p' "$T/jcvm.$run")
    awk '/^  [a-z_]+ [0-9]+$/ { print $1, $2 }' "$T/jcvm.$run" | sort >"$T/lib.vm$run"
    bpf_counters "$T/counts.out" "$vpid" >"$T/bpf.vm$run"
    if [ -n "$vpid" ] && [ -s "$T/lib.vm$run" ] && compare "$T/lib.vm$run" "$T/bpf.vm$run"; then
      ok "bpf counters of jcvm's $run run (pid $vpid) equal its own: $(tr '\n' ' ' <"$T/lib.vm$run")"
    else
      ko "bpf counters of jcvm's $run run (pid $vpid)"
    fi
  done
  if grep -q "reload latency" "$T/counts.out" && grep -q "commit latency" "$T/counts.out"; then
    ok "reload and commit latency histograms"
  else
    ko "no latency histograms in the summary"
  fi
else
  ko "jcache-trace -c did not start"
fi

# -- 2. The event stream --------------------------------------------------------------
if trace_start events -e all -t --lib "$LIB"; then
  mkdir -p "$T/w2"
  "$WORK" "$T/w2" 1 >"$T/work2.out" 2>&1
  trace_stop
  wpid=$(awk '$1 == "pid" { print $2 }' "$T/work2.out")
  missing=""
  evlist="lookup reject replay_hit replay_miss bind commit bridge_attach
    tail_guard tail_validated tail_invalidated record_write record_abort"
  [ -z "$nolive" ] && evlist="$evlist trace_live trace_release"
  for ev in $evlist; do
    grep -q "^[0-9:.]* *$wpid .* $ev " "$T/events.out" || missing="$missing $ev"
  done
  [ -z "$unexact" ] && ! grep -q " reloc .*kind=ABS64" "$T/events.out" && missing="$missing reloc"
  if [ -z "$missing" ]; then ok "every kind of event streamed (-e all)"; else ko "events missing:$missing"; fi
  # toy greens: fp1 0xa11ce, the workload's other program has 0xa11cf.
  if grep -q "replay_miss .*site=1 expected=00000000000a11ce observed=00000000000a11cf why=\"fingerprint\"" "$T/events.out"; then
    ok "replay_miss carries expected and observed fingerprints"
  else
    ko "replay_miss line: $(grep -m1 replay_miss "$T/events.out")"
  fi
  if grep -q "tail_invalidated .*after_guard=0 .*site=2 expected=0000000000000b0b observed=0000000000000b0a" "$T/events.out"; then
    ok "tail_invalidated carries site, expected and observed"
  else
    ko "tail_invalidated line: $(grep -m1 tail_invalidated "$T/events.out")"
  fi
  if grep -q 'reject .*reason=4(checksum)' "$T/events.out" && grep -q 'reject .*reason=1(truncated)' "$T/events.out"; then
    ok "reject carries the reason and its name"
  else
    ko "reject lines: $(grep -m2 ' reject ' "$T/events.out")"
  fi
  if grep -q "^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]* " "$T/events.out"; then ok "-t prints times"; else ko "-t prints no times"; fi
  [ -z "$nolive" ] && {
  # trace_live: one per trace the workload got back live, compiled or
  # reloaded, named; trace_release: one per release, each at an address
  # that a trace_live of the same trace announced.  With -t the fields are
  # TIME PID COMM EVENT TRACE DETAILS.
  awk -v pid="$wpid" '$2 == pid && ($4 == "trace_live" || $4 == "trace_release")' \
    "$T/events.out" >"$T/live.ev"
  wc=$(awk '$1 == "live" && $2 == "compiled" { print $3 }' "$T/work2.out")
  wr=$(awk '$1 == "live" && $2 == "reloaded" { print $3 }' "$T/work2.out")
  wx=$(awk '$1 == "live" && $2 == "released" { print $3 }' "$T/work2.out")
  names=$(awk '$1 == "live" && $2 == "names" { $1 = $2 = ""; print }' "$T/work2.out")
  gc=$(awk '$4 == "trace_live" && $6 == "compiled"' "$T/live.ev" | wc -l)
  gr=$(awk '$4 == "trace_live" && $6 == "reloaded"' "$T/live.ev" | wc -l)
  gx=$(awk '$4 == "trace_release"' "$T/live.ev" | wc -l)
  if [ -n "$wc" ] && [ "$gc" -eq "$wc" ] && [ "$gr" -eq "$wr" ] && [ "$wr" -gt 0 ]; then
    ok "trace_live: $gc compiled + $gr reloaded events = the $wc + $wr traces bpf_workload made live"
  else
    ko "trace_live: $gc compiled + $gr reloaded events, bpf_workload made ${wc:-?} + ${wr:-?} live"
  fi
  missing=""
  for nm in $names; do
    awk -v n="$nm" '$4 == "trace_live" && $7 == n { f = 1 } END { exit !f }' "$T/live.ev" ||
      missing="$missing $nm"
  done
  # Every trace_live line: "compiled|reloaded NAME at 0xADDR, N bytes".
  badfmt=$(awk '$4 == "trace_live" && !($8 == "at" && $9 ~ /^0x[0-9a-f]+,$/ && $10 ~ /^[1-9][0-9]*$/ && $11 == "bytes")' "$T/live.ev" | head -1)
  if [ -n "$names" ] && [ -z "$missing" ] && [ -z "$badfmt" ]; then
    ok "trace_live names the traces ($(echo $names)) with address and size"
  else
    ko "trace_live: names missing:${missing:- none} (want:$names); bad line: $badfmt"
  fi
  unpaired=$(awk '$4 == "trace_live" { a = $9; sub(/,$/, "", a); live[$5 " " a]++ }
    $4 == "trace_release" { k = $5 " " $7; if (live[k] > 0) live[k]--; else print }' "$T/live.ev" | head -1)
  if [ -n "$wx" ] && [ "$gx" -eq "$wx" ] && [ -z "$unpaired" ]; then
    ok "trace_release: $gx events = bpf_workload's $wx releases, each of an address announced live"
  else
    ko "trace_release: $gx events, bpf_workload released ${wx:-?}; unpaired: $unpaired"
  fi
  }
  # The default filter: no hits, binds or lookups; -e miss: misses only.
  trace_start deflt --lib "$LIB" && {
    "$WORK" "$T/w2" 1 >/dev/null 2>&1
    trace_stop
    if grep -q " commit " "$T/deflt.out" && { [ -n "$nolive" ] || grep -q " trace_live " "$T/deflt.out"; } &&
      ! grep -q " replay_hit \| bind \| lookup \| trace_release " "$T/deflt.out"; then
      ok "default event filter (trace_live in, trace_release out)"
    else ko "default event filter"; fi
  }
  [ -z "$nolive" ] && trace_start liveonly -e live --lib "$LIB" && {
    "$WORK" "$T/w2" 1 >/dev/null 2>&1
    trace_stop
    evs=$(awk 'NF == 0 { exit } NR > 1 { print $3 }' "$T/liveonly.out" | sort -u | tr '\n' ' ')
    if [ "$evs" = "trace_live trace_release " ]; then ok "-e live streams trace_live and trace_release"; else ko "-e live streamed: $evs"; fi
  }
  trace_start missonly -e miss --lib "$LIB" && {
    "$WORK" "$T/w2" 1 >/dev/null 2>&1
    trace_stop
    evs=$(awk 'NF == 0 { exit } NR > 1 { print $3 }' "$T/missonly.out" | sort -u | tr '\n' ' ')
    if [ "$evs" = "replay_miss " ]; then ok "-e miss streams misses only"; else ko "-e miss streamed: $evs"; fi
  }
else
  ko "jcache-trace -e all did not start"
fi

# -- 3. -p PID, and a statically linked program -----------------------------------------
mkfifo "$T/go"
mkdir -p "$T/w3" "$T/d3"
"$WORK" "$T/w3" 2 wait <"$T/go" >"$T/work3.out" 2>&1 &
WPID=$!
exec 9>"$T/go"
i=0
while ! grep -q '^ready' "$T/work3.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
if trace_start pid -p $WPID -c; then
  echo go >&9
  "$DEMO" "$T/d3" >/dev/null 2>&1 # other processes: must not be counted
  wait $WPID
  i=0
  while kill -0 $TPID 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  if kill -0 $TPID 2>/dev/null; then
    ko "-p: jcache-trace did not stop when pid $WPID exited"
    trace_stop
  else
    wait $TPID
    ok "-p: jcache-trace stops when its process exits"
  fi
  pids=$(awk '$1 == "pid" { print $2 }' "$T/pid.out" | tr -d ':' | tr '\n' ' ')
  awk '$1 == "stat" && $3 != 0 { print $2, $3 }' "$T/work3.out" | sort >"$T/lib.p"
  bpf_counters "$T/pid.out" "$WPID" >"$T/bpf.p"
  if [ "$pids" = "$WPID " ] && compare "$T/lib.p" "$T/bpf.p"; then
    ok "-p $WPID: only that process, exact counters, library found in /proc/PID/maps"
  else
    ko "-p $WPID: counted pids: $pids"
  fi
  if [ -n "$nolive" ]; then
    :
  elif live_counts "$T/pid.out" "$WPID" "$T/work3.out"; then
    ok "-p $WPID: live-trace counters equal the workload's"
  else
    ko "-p $WPID: live-trace counters"
  fi
  grep -q "in $(readlink -f "$LIB") for pid" "$T/pid.err" || ko "-p did not find $LIB: $(head -1 "$T/pid.err")"
else
  ko "jcache-trace -p did not start"
  echo go >&9
  wait $WPID
fi
exec 9>&-

if [ -x "$TOY" ]; then
  if trace_start static --lib "$TOY"; then
    mkdir -p "$T/s"
    "$TOY" record "$T/s" 1000 7 5 100 >/dev/null 2>&1
    "$TOY" reload "$T/s" 2000 -3 11 60 150 >/dev/null 2>&1
    trace_stop
    if grep -q " commit .*ntraces=2" "$T/static.out" && grep -q " tail_validated " "$T/static.out"; then
      ok "--lib on a statically linked program (helper_toy)"
    else
      ko "--lib helper_toy: $(cat "$T/static.err")"
    fi
  else
    ko "jcache-trace --lib helper_toy did not start"
  fi
else
  sk "helper_toy not built"
fi

# -- 4. Failing soft, with a reason -----------------------------------------------------------
msg=$("$TRACE" --lib /nonexistent/libjcache.so 2>&1)
rc=$?
case "$msg" in *"cannot open /nonexistent/libjcache.so"*) [ $rc = 1 ] && ok "missing library: $msg" || ko "missing library: rc $rc" ;; *) ko "missing library: $msg" ;; esac
msg=$("$TRACE" --lib /bin/true 2>&1)
case "$msg" in *"has no USDT probe jcache:"*) ok "no probes: $msg" ;; *) ko "no probes: $msg" ;; esac
msg=$("$TRACE" -p 999999999 2>&1)
case "$msg" in *"is 999999999 running"*) ok "no such pid: $msg" ;; *) ko "no such pid: $msg" ;; esac
msg=$("$TRACE" -e nonsense 2>&1)
case "$msg" in *"unknown event 'nonsense'"*) ok "bad event list: $msg" ;; *) ko "bad event list: $msg" ;; esac
if command -v setpriv >/dev/null; then
  msg=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$TRACE" --lib "$LIB" -d 1 2>&1)
  case "$msg" in *"needs root"*) ok "not root: $msg" ;; *) ko "not root: $msg" ;; esac
else
  sk "setpriv missing: not-root message not checked"
fi

# -- 5. The bpftrace one-liners of docs/PROBES.md ------------------------------------------------
if ! command -v bpftrace >/dev/null; then
  sk "bpftrace not installed: docs/PROBES.md one-liners not checked"
else
  if [ -z "$(ls /sys/kernel/tracing 2>/dev/null)" ]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
  fi
  L=$(readlink -f "$LIB")
  # Each documented one-liner, run as written (with $L), plus a BEGIN probe
  # that says when it is attached.  What each must print for bpf_workload:
  grep '^    bpftrace -e ' "$S/docs/PROBES.md" | sed 's/^    //' >"$T/oneliners"
  n=0
  while IFS= read -r line; do
    n=$((n + 1))
    prog=$(L=$L sh -c "set -- $(printf "%s\n" "$line" | sed 's/^bpftrace //'); printf %s \"\$2\"")
    timeout 60 bpftrace -e "BEGIN { printf(\"READY\\n\"); } $prog" >"$T/bt$n.out" 2>&1 &
    BPID=$!
    i=0
    while ! grep -q READY "$T/bt$n.out" && kill -0 $BPID 2>/dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
    rm -rf "$T/w5"
    mkdir -p "$T/w5"
    "$WORK" "$T/w5" 1 >/dev/null 2>&1
    sleep 0.2
    kill -INT $BPID 2>/dev/null
    wait $BPID
    # bpftrace 0.17 warns that it cannot raise RLIMIT_MEMLOCK where the
    # limit is fixed (containers); kernels >= 5.11 do not use it for BPF.
    grep -v 'RLIMIT_MEMLOCK' "$T/bt$n.out" >"$T/bt$n.log"
    out=$(grep -v '^Attaching\|^READY\|^$' "$T/bt$n.log")
    probe=$(echo "$prog" | sed -n 's/.*:jcache:\([a-z_*]*\).*/\1/p')
    case $probe in
    write_error | commit_fail) want="" ;; # the workload has none: attaching is the test
    *) want=x ;;
    esac
    if grep -q "ERROR\|error:" "$T/bt$n.log"; then
      ko "docs/PROBES.md one-liner $n ($probe): $(grep -m1 'ERROR\|error' "$T/bt$n.log")"
    elif ! grep -q READY "$T/bt$n.log"; then
      ko "docs/PROBES.md one-liner $n ($probe) did not attach"
    elif [ -n "$want" ] && [ -z "$out" ]; then
      ko "docs/PROBES.md one-liner $n ($probe) printed nothing"
    else
      ok "docs/PROBES.md one-liner $n ($probe): $(echo "$out" | head -1 | cut -c1-70)"
    fi
  done <"$T/oneliners"
  [ $n -ge 3 ] || ko "only $n bpftrace one-liners found in docs/PROBES.md"
fi

finish
