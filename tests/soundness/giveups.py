#!/usr/bin/env python3
"""giveups.py — what the JIT gave up on is remembered, and never wrongly.

    tests/soundness/giveups.py JCVM

A loop or exit whose every recording aborts is given up on (blacklisted,
dead); the cache keeps that (jc_giveup_save), and a later run finds it and
records there only once, late (vm/jit/jit.c, JIT_GIVEUP_LATE).  Checked on
a loop that always aborts and on an exit whose bridge always aborts:

  - the cold run gives up and saves it; the warm run finds it, records once
    instead of every time, and prints what the cold run printed;
  - after an edit that makes the loop traceable, its key changes: nothing
    is found there, the loop is traced;
  - after an edit to the function the bridge calls (the bridge's key, its
    parent and exit, does not show it), the give-up is found, and its one
    late recording now compiles the bridge;
  - every run prints what a run without the cache prints.
"""
import sys

from jcvmrun import run, script

LOOP = """
fn run(n)
  var s = 0
  for i = 0, n do
    var f = fn() return i end
    s = s + f()
  end
  return s
end
print(run(200000))
"""
# The same loop without the closure the recorder cannot compile.
LOOP_EDITED = LOOP.replace("var f = fn() return i end\n    s = s + f()", "s = s + i")

BRIDGE = """
fn g(i)
  var f = fn() return i end
  return f()
end
fn run(n)
  var s = 0
  for i = 0, n do
    if i % 4 == 3 then s = s + g(i) else s = s + 1 end
  end
  return s
end
print(run(300000))
"""
BRIDGE_EDITED = BRIDGE.replace("var f = fn() return i end\n  return f()", "return i + 0")


def checks(jcvm, tmp, check):
    for kind, src, edited in (("loop", LOOP, LOOP_EDITED), ("bridge", BRIDGE, BRIDGE_EDITED)):
        ref, _ = run(jcvm, tmp, src, kind + "_ref", cache=False)
        out_c, cold = run(jcvm, tmp, src, kind + "_cold")
        out_w, warm = run(jcvm, tmp, src, kind + "_warm")
        check(out_c == ref and out_w == ref, kind + ": a run with the cache printed something else")
        check(cold["giveups_saved"] >= 1, kind + ": the cold run saved no give-up")
        check(cold["aborts"] >= 4, kind + ": the cold run aborted only %d times" % cold["aborts"])
        check(warm["giveups_found"] >= 1, kind + ": the warm run found no give-up")
        check(warm["aborts"] < cold["aborts"],
              kind + ": the warm run aborted %d times, the cold run %d" % (warm["aborts"], cold["aborts"]))
        ref_e, _ = run(jcvm, tmp, edited, kind + "_edited_ref", cache=False)
        out_e, ed = run(jcvm, tmp, edited, kind + "_edited")
        check(out_e == ref_e, kind + ": the edited program printed something else with the old cache")
        if kind == "loop":
            check(ed["giveups_found"] == 0, "loop: a give-up was found under the edited loop's key")
            check(ed["loops"] >= 1, "loop: the edited loop was not traced")
        else:
            check(ed["giveups_found"] >= 1, "bridge: the edited callee's give-up was not found")
            check(ed["bridges"] >= 1, "bridge: its late recording compiled no bridge")
        print("%s: cold %d aborts, %d saved; warm %d aborts, %d found; edited: %d loops, "
              "%d bridges, %d found" % (kind, cold["aborts"], cold["giveups_saved"], warm["aborts"],
                                        warm["giveups_found"], ed["loops"], ed["bridges"],
                                        ed["giveups_found"]))


if __name__ == "__main__":
    sys.exit(script(__doc__, checks))
