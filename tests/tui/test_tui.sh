#!/bin/sh
# tests/tui/test_tui.sh — jcache-top in tmux against a live workload.
#
#   test_tui.sh JCACHE-TOP TUI_DRIVER
#
# For each source (shared memory, forced with --source=shm; then bpf when
# this runs as root and bpf loads) it starts tests/tui/tui_driver, runs
# jcache-top in a detached 100x30 tmux session, and checks from capture-pane:
# the header and which source it names; the driver's row with non-zero
# counters that move; the event log (events with bpf, the reason without);
# pause (PAUSED, the row frozen while the driver's counters move on, then
# moving again); help opening and closing; resizing to 80x24 (24 lines of at
# most 80 columns, header and footer in place, no control characters); with
# bpf the trace table (names, exact addresses and sizes from trace_live,
# released traces marked) and the detail view's disassembly; after the
# driver's work ends, every counter shown equal to the driver's own final
# jc_stats; q quits.
# Prints "N passed, M failed"; exit status 1 on any failure, 77 to skip.
set -u
TOP=${1:?usage: test_tui.sh JCACHE-TOP TUI_DRIVER}
DRIVER=${2:?usage: test_tui.sh JCACHE-TOP TUI_DRIVER}
command -v tmux >/dev/null 2>&1 || { echo "SKIP: tmux not installed"; exit 77; }

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   - $*"; }
bad() { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { # check DESCRIPTION COMMAND...
  d=$1; shift
  if "$@"; then ok "$d"; else bad "$d"; fi
}

TMP=$(mktemp -d /tmp/jcache-tui-test.XXXXXX)
SOCK=jt-test-$$          # a private tmux server: nothing else is touched
S=top
DRV_PID=
LOC=C
locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$' && LOC=C.UTF-8
T() { tmux -L "$SOCK" "$@"; }
cleanup() {
  [ -n "$DRV_PID" ] && kill "$DRV_PID" 2>/dev/null
  T kill-server 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

cap() { T capture-pane -p -t "$S" 2>/dev/null; }
# The driver's row in the process list: "PID COMMAND LKUP/s LOOKUPS ...".
row() { cap | awk -v p="$DRV_PID" '$1 == p { $3 = ""; print; exit }'; }
field() { # field N of the driver's row (1 PID, 4 LOOKUPS, ...)
  cap | awk -v p="$DRV_PID" -v n="$1" '$1 == p { print $n; exit }'
}
stat() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/stats.$src"; }
wait_for() { # wait_for SECONDS COMMAND...: poll until it succeeds
  t=$1; shift
  i=0
  while [ "$i" -lt $((t * 10)) ]; do
    "$@" && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}
has() { cap | grep -q -- "$1"; }
no_ctrl() { ! cap | LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')"; }

run_source() {
  src=$1
  echo "# source: $src"
  rm -f "$TMP/stats.$src"
  "$DRIVER" -t 9 -r 100 -l 60 -o "$TMP/stats.$src" -c "$TMP/cache-$src" \
    > "$TMP/driver.$src" 2>&1 &
  DRV_PID=$!
  if ! wait_for 10 grep -qs ready "$TMP/driver.$src"; then
    bad "[$src] tui_driver started"; cat "$TMP/driver.$src"
    return
  fi
  T new-session -d -s "$S" -x 100 -y 30 \
    "env LANG=$LOC LC_ALL=$LOC TERM=screen-256color $TOP -d 5 --source=$src 2>$TMP/top-err.$src; sleep 30"
  T set-option -t "$S" remain-on-exit off >/dev/null 2>&1

  # 1. Header, source, the driver's row.
  wait_for 10 has "$DRV_PID" >/dev/null
  sleep 1.2
  cap > "$TMP/cap1.$src"
  check "[$src] header visible" sh -c "head -1 '$TMP/cap1.$src' | grep -q '^jcache-top'"
  case $src in
  shm) check "[shm] header says: shared memory (--source=shm)" \
         grep -q "source: shared memory (--source=shm)" "$TMP/cap1.$src" ;;
  bpf) check "[bpf] header says: bpf events" grep -q "source: bpf events" "$TMP/cap1.$src" ;;
  esac
  check "[$src] driver pid $DRV_PID listed" has "$DRV_PID"
  lk=$(field 4); rl=$(field 8); tails=$(field 10)
  check "[$src] lookups ($lk) and reloads ($rl) non-zero" \
    sh -c "[ '${lk:-0}' -gt 0 ] 2>/dev/null && [ '${rl:-0}' -gt 0 ] 2>/dev/null"
  check "[$src] tails validated/invalidated non-zero ($tails)" \
    sh -c "echo '$tails' | awk -F/ '{ exit !(\$2 > 0 && \$3 > 0) }'"

  # 2. The event log.
  case $src in
  shm) check "[shm] event log says why there is none" has "no event stream: bpf not available" ;;
  bpf) check "[bpf] event log shows commits and tail checks" \
         sh -c "grep -q ' commit ' '$TMP/cap1.$src' && grep -qE 'tail_(validated|invalidated)' '$TMP/cap1.$src'" ;;
  esac

  # 3. Counters move; pause freezes them; unpause lets them move again.
  r1=$(row); sleep 1.2; r2=$(row)
  check "[$src] counters move" [ "$r1" != "$r2" ]
  T send-keys -t "$S" p
  sleep 0.4
  a=$(row); ap=$(cap)
  sleep 1.5
  b=$(row)
  live=$("$TOP" -b --once -d 2 --source=shm -p "$DRV_PID" | awk -v p="$DRV_PID" '$1 == p { print $4 }')
  check "[$src] PAUSED shown" sh -c "echo '$ap' | head -1 | grep -q PAUSED"
  check "[$src] paused row frozen" [ "$a" = "$b" ]
  check "[$src] driver went on meanwhile (${live:-?} > $(echo "$b" | awk '{print $3}') lookups)" \
    sh -c "[ '${live:-0}' -gt '$(echo "$b" | awk '{print $3}')' ]"
  T send-keys -t "$S" p
  sleep 1.2
  c=$(row)
  check "[$src] unpaused: moving again, PAUSED gone" sh -c "[ '$c' != '$b' ] && ! (tmux -L '$SOCK' capture-pane -p -t '$S' | head -1 | grep -q PAUSED)"

  # 4. Help opens and closes.
  T send-keys -t "$S" h
  sleep 0.4
  check "[$src] help opens" has "Help  (any key closes)"
  T send-keys -t "$S" Escape
  sleep 0.4
  check "[$src] help closes" sh -c "! tmux -L '$SOCK' capture-pane -p -t '$S' | grep -q 'any key closes'"

  # 5. Resize to 80x24.
  T resize-window -t "$S" -x 80 -y 24
  sleep 1
  cap > "$TMP/cap80.$src"
  check "[$src] 80x24: 24 lines" [ "$(wc -l < "$TMP/cap80.$src")" -eq 24 ]
  check "[$src] 80x24: no line wider than 80" \
    [ "$(LC_ALL=$LOC wc -L < "$TMP/cap80.$src")" -le 80 ]
  check "[$src] 80x24: header on top" sh -c "head -1 '$TMP/cap80.$src' | grep -q '^jcache-top'"
  check "[$src] 80x24: footer at the bottom" sh -c "tail -1 '$TMP/cap80.$src' | grep -q 'Quit'"
  check "[$src] 80x24: driver row and column header" \
    sh -c "grep -q '^ *$DRV_PID ' '$TMP/cap80.$src' && grep -q 'LKUP/s' '$TMP/cap80.$src'"
  check "[$src] 80x24: no control characters" no_ctrl
  T resize-window -t "$S" -x 100 -y 30
  sleep 0.6

  # 6. After the work ends: every counter shown equals the driver's own.
  if wait_for 20 test -s "$TMP/stats.$src"; then
    sleep 1.5
    cap > "$TMP/final.$src"
    set -- $(awk -v p="$DRV_PID" '$1 == p { print; exit }' "$TMP/final.$src")
    # PID COMMAND LKUP/s LOOKUPS HITS MISS RELOCS RELOAD COMPIL TAIL
    comp=$(( $(stat records_written) + $(stat records_not_persisted) ))
    pend=$(( $(stat tail_guards) - $(stat tails_validated) - $(stat tails_invalidated) ))
    want="$(stat lookups) $(stat replay_hits) $(stat replay_misses) $(stat relocs_patched) $(stat traces_reloaded) $comp $pend/$(stat tails_validated)/$(stat tails_invalidated)"
    got="${4:-} ${5:-} ${6:-} ${7:-} ${8:-} ${9:-} ${10:-}"
    check "[$src] final counters equal the driver's jc_stats ($want)" [ "$got" = "$want" ]
    [ "$got" = "$want" ] || { echo "  shown: $got"; cat "$TMP/final.$src"; }
  else
    bad "[$src] driver wrote its counters"; cat "$TMP/driver.$src"
  fi
  # bpf: the detail view of the loop.  Once the work has ended, its latest
  # commit is the chain the driver keeps live, so the code is still there.
  if [ "$src" = bpf ]; then
    # The trace table, sorted by commits: the loop the driver reloads is first.
    T send-keys -t "$S" Tab s s s
    sleep 0.6
    cap > "$TMP/traces.$src"
    # Rows: PID TRACE NAME ORIGIN CODE BYTES COMMIT MISS RELOCS TAIL (HITS is
    # dropped at 100 columns).
    check "[bpf] trace table: a trace name from trace_live (jc_loop_toy_L1)" \
      grep -q "^ *$DRV_PID [0-9a-f]\{16\} jc_loop_toy_L1 " "$TMP/traces.$src"
    # Filtered to the loop's reloads: the bpf table holds every process's
    # traces, and with another jcvm test running (ctest -j2) theirs, sorted
    # by commits too, can push the driver's loop off the screen.  Polled: on
    # a loaded machine the table can be drawn before the filter is applied.
    T send-keys -t "$S" / "toy_L1 reload" Enter
    loop_row() {
      cap > "$TMP/traces.$src"
      awk -v p="$DRV_PID" '$1 == p && $3 == "jc_loop_toy_L1" && $4 == "reload" &&
        $5 ~ /^[0-9a-f]+$/ && $6 ~ /^[1-9][0-9]*$/ { f = 1 } END { exit !f }' "$TMP/traces.$src"
    }
    check "[bpf] trace table: the reloaded loop's exact address and size" wait_for 5 loop_row
    loop_row || cat "$TMP/traces.$src"
    T send-keys -t "$S" / Escape
    sleep 0.3
    # The loops the driver compiles are released at once: filtered on
    # "toy_L1 compil - released" (name, origin, tail, state), they are
    # listed as such, with no address.  (Other processes using the library
    # may be in the table too: the filters keep to the driver's traces.)
    T send-keys -t "$S" / "toy_L1 compil - released" Enter
    sleep 0.8
    cap > "$TMP/released.$src"
    check "[bpf] trace table: released traces marked (no address)" \
      awk -v p="$DRV_PID" '$1 == p && $3 ~ /^jc_(loop|bridge)_toy/ && $4 == "compil" &&
        $5 == "released" { f = 1 } END { exit !f }' "$TMP/released.$src"
    grep -q "released" "$TMP/released.$src" || cat "$TMP/released.$src"
    # The driver's traces only, the first (most commits) selected.
    T send-keys -t "$S" / Escape
    sleep 0.4
    T send-keys -t "$S" / "$DRV_PID " Enter
    sleep 0.6
    T send-keys -t "$S" g
    sleep 0.6
    T send-keys -t "$S" Enter
    sleep 0.8
    cap > "$TMP/detail.$src"
    check "[bpf] detail view: disassembly of the reloaded loop" \
      sh -c "grep -q -- '-- loop ' '$TMP/detail.$src' && grep -q 'push rbx' '$TMP/detail.$src'"
    grep -q 'push rbx' "$TMP/detail.$src" || cat "$TMP/detail.$src"
    # The end of the listing (G): the bridge committed with the loop.
    T send-keys -t "$S" G
    sleep 0.6
    cap > "$TMP/detail-end.$src"
    check "[bpf] detail view: names and exact sizes (trace_live), nothing estimated" \
      sh -c "grep -q -- '-- loop [0-9a-f]* jc_loop_toy_L1 at [0-9a-f]*, [0-9]* bytes --' '$TMP/detail.$src' &&
             grep -q -- '-- bridge [0-9a-f]* jc_bridge_toy_L1_x0 at [0-9a-f]*, [0-9]* bytes --' '$TMP/detail-end.$src' &&
             ! grep -q 'estimated' '$TMP/detail.$src' '$TMP/detail-end.$src'"
    grep -q -- '-- bridge .* bytes --' "$TMP/detail-end.$src" || cat "$TMP/detail-end.$src"
    T send-keys -t "$S" Escape
    sleep 0.4
    T send-keys -t "$S" / Escape
    sleep 0.4
    T send-keys -t "$S" BTab
    sleep 0.4
    check "[bpf] detail view closes" has "Processes"
  fi

  check "[$src] driver ran without failures" grep -q ", 0 failures" "$TMP/driver.$src"

  # 7. q quits.
  T send-keys -t "$S" q
  check "[$src] q quits" wait_for 5 sh -c "! tmux -L '$SOCK' has-session -t '$S' 2>/dev/null || ! tmux -L '$SOCK' list-panes -t '$S' -F '#{pane_current_command}' | grep -q jcache-top"
  check "[$src] jcache-top wrote nothing on stderr (sanitizers included)" \
    [ ! -s "$TMP/top-err.$src" ]
  [ -s "$TMP/top-err.$src" ] && head -20 "$TMP/top-err.$src"
  T kill-session -t "$S" 2>/dev/null
  kill "$DRV_PID" 2>/dev/null
  wait "$DRV_PID" 2>/dev/null
  DRV_PID=
}

run_source shm
if [ "$(id -u)" -eq 0 ]; then
  if why=$("$TOP" -b --once -d 1 --source=bpf 2>&1); then
    run_source bpf
  else
    echo "# bpf source not tested: $why"
  fi
else
  echo "# bpf source not tested: not root"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
