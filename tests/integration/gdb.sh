#!/bin/sh
# tests/integration/gdb.sh BUILD_DIR SRC_DIR — real gdb, in batch mode, on
# traces compiled in one process and reloaded in the next (helper_gdbjit):
# `jcache break` before the trace exists is hit; `bt` from a call made by JIT
# code shows the trace's jc_ frame and then the C frames down to main; `info
# line` on the trace frame names the source file and line; `info jcache`
# lists the traces with their origin and tail-guard state.
set -eu
build=$1
src=$2
helper=$build/tests/helper_gdbjit
script=$src/gdbjit/jcache-gdb.py
command -v gdb >/dev/null || { echo "gdb.sh: gdb not installed: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 700 "$tmp"
mkdir -m 700 "$tmp/cache" "$tmp/cache2"

fail() { echo "gdb.sh: $1" >&2; echo "--- gdb output:" >&2; cat "$2" >&2; exit 1; }
expect() { grep -Eq "$1" "$2" || fail "expected /$1/" "$2"; }

session() { # $1: the continues needed to reach toy_helper after the first
cat > "$tmp/session.gdb" <<GDB
set pagination off
set confirm off
source $script
jcache break jc_loop_toy_L1
break jc_test_stage
run
info jcache
continue
info line *\$pc
break toy_helper
$1
bt
frame 1
info line *\$pc
info jcache
jcache trace 0
kill
GDB
}

for mode in compile reload; do
  out=$tmp/$mode.out
  # compile: jc_test_stage, the loop, toy_helper.  reload: jc_test_stage
  # (tail pending), the loop (its tail guard fires), jc_test_stage (tail
  # validated), the loop, toy_helper.
  if [ "$mode" = compile ]; then session continue
  else session "continue
continue
continue"; fi
  timeout 300 gdb -nx -batch -x "$tmp/session.gdb" --args "$helper" "$mode" "$tmp/cache" >"$out" 2>&1 ||
    fail "gdb failed ($mode)" "$out"
  expect 'Breakpoint [0-9]+, jc_loop_toy_L1 \(\) at toy.jc:1' "$out"
  expect 'Line 1 of "toy.jc" starts at address' "$out"
  expect '^#0 +toy_helper' "$out"
  expect '^#1 +0x[0-9a-f]+ in jc_loop_toy_L1 \(\) at toy.jc:2' "$out"
  expect '^#2 +0x[0-9a-f]+ in run ' "$out"
  expect '^#3 +0x[0-9a-f]+ in main ' "$out"
  expect 'Line 2 of "toy.jc"' "$out"
  expect 'jc_loop_toy_L1 +0x[0-9a-f]+ +[0-9]+ +loop' "$out"
  expect 'jc_bridge_toy_L1_x0 .* bridge ' "$out"
  expect 'GREEN site 1 kind 1' "$out"
  expect 'ABS64 slot 0' "$out"
  if [ "$mode" = compile ]; then
    expect 'loop +compiled +yes' "$out"
  else
    expect 'loop +reloaded +yes +g0:pending' "$out"   # at jc_test_stage
    expect 'loop +reloaded +yes +g0:validated' "$out" # at the end
  fi
done
# A plain pending `break NAME`: a process started under gdb gets a private
# code arena, where gdb can write its int3.
cat > "$tmp/plain.gdb" <<GDB
set pagination off
set confirm off
set breakpoint pending on
break jc_loop_toy_L1
run
bt 2
kill
GDB
out=$tmp/plain.out
timeout 300 gdb -nx -batch -x "$tmp/plain.gdb" --args "$helper" compile "$tmp/cache2" >"$out" 2>&1 ||
  fail "gdb failed (plain break)" "$out"
expect 'hit Breakpoint 1, jc_loop_toy_L1 \(\) at toy.jc:1' "$out"
expect '^#1 +0x[0-9a-f]+ in run ' "$out"
echo "gdb.sh: ok"
