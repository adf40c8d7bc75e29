#!/bin/sh
# tests/integration/jcvm_gdb.sh BUILD_DIR SRC_DIR — real gdb on jcvm's traces.
#
# A hot loop calls breakpoint() from JIT code.  Under gdb in batch mode:
# `break jc_loop_work_L…` set before the trace exists (pending) is hit; at
# the SIGTRAP raised inside the trace, `bt` shows the trace's jc_ frame and
# below it jcvm's C frames down to main; `info line` on the trace frame
# names the VM program's file and line; `info jcache` lists the trace and
# `jcache trace` its exits, which jump through their slots to their stubs.  Once
# with a freshly compiled trace, once with the same trace reloaded from the
# cache.
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
jcvm=$build/vm/jcvm
script=$src/gdbjit/jcache-gdb.py
command -v gdb >/dev/null || { echo "jcvm_gdb.sh: gdb not installed: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 700 "$tmp"
cd "$tmp"
fail() { echo "jcvm_gdb.sh: $1" >&2; echo "--- gdb output:" >&2; cat "$2" >&2; exit 1; }
expect() { grep -Eq "$1" "$2" || fail "expected /$1/ ($3)" "$2"; }

cat > prog.jc <<'JC'
fn work(n)
  var s = 0
  for i = 0, n do
    s = s + i
    breakpoint()
  end
  return s
end
print(work(8))
JC

cat > session.gdb <<GDB
set pagination off
set confirm off
set breakpoint pending on
source $script
break jc_loop_work_L4
run
python
# Continue until a SIGTRAP of breakpoint() is raised from inside the trace
# (the first ones come from the interpreter, before the loop is hot).
def in_trace():
    f = gdb.newest_frame()
    if f.name() is None or "kill" not in f.name():
        return False
    while f is not None:
        if (f.name() or "").startswith("jc_loop_work"):
            return True
        f = f.older()
    return False
for _ in range(50):
    if in_trace():
        break
    gdb.execute("continue")
end
bt
frame function jc_loop_work_L4
info line *\$pc
info jcache
jcache trace 0
kill
GDB

# Fill the cache: a run to completion (under gdb, which swallows the
# SIGTRAPs that would otherwise kill it), so the trace is persisted.
gdb -nx -batch -ex 'handle SIGTRAP nostop noprint' -ex run --args "$jcvm" \
  --cache="$tmp/cache" --jit-hot=2 prog.jc >fill.out 2>&1 || fail "fill run" fill.out
grep -q '^28$' fill.out || fail "fill run did not print work(8)" fill.out

for mode in compiled reloaded; do
  out=$tmp/$mode.out
  if [ $mode = compiled ]; then cache=--no-cache; else cache=--cache=$tmp/cache; fi
  timeout 300 gdb -nx -batch -x session.gdb --args "$jcvm" "$cache" \
    --jit-hot=2 prog.jc >"$out" 2>&1 || fail "gdb failed ($mode)" "$out"
  expect 'Breakpoint 1, jc_loop_work_L4 \(\) at prog.jc:[0-9]+' "$out" "$mode: pending break hit"
  expect 'SIGTRAP' "$out" "$mode: breakpoint() trapped"
  expect '^#[0-9]+ +0x[0-9a-f]+ in jc_loop_work_L4 \(\) at prog.jc:[3-5]' "$out" "$mode: trace frame in bt"
  expect '^#[0-9]+ +0x[0-9a-f]+ in main ' "$out" "$mode: bt down to main"
  expect 'in vm_interp_run|in jit_enter' "$out" "$mode: jcvm's C frames"
  expect 'Line [0-9]+ of "prog.jc"' "$out" "$mode: info line"
  expect 'jc_loop_work_L4' "$out" "$mode: info jcache"
  expect 'guard [0-9]+ +jumps through slot 0x[0-9a-f]+ -> 0x[0-9a-f]+ \(stub \+0x' "$out" "$mode: jcache trace: a slot exit at its stub"
done
grep -Eq 'jc_loop_work_L4 .*compiled' compiled.out ||
  fail "info jcache does not show the trace as compiled" compiled.out
grep -Eq 'jc_loop_work_L4 .*reloaded' reloaded.out ||
  fail "info jcache does not show the trace as reloaded" reloaded.out
echo "jcvm_gdb.sh: ok"
