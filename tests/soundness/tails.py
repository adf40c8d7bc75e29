#!/usr/bin/env python3
"""tails.py — loops reloaded with their bridges, tail guards, tail checks.

    tests/soundness/tails.py JCVM

The checking iteration of a warm run reports every guard's outcome.  When it
goes another way than the saved loop at a guard, the check is deferred to a
later iteration (up to JIT_CHECK_TRIES); the last try leaves the loop there:

  bridge   a bridge was saved for that exit: it is checked in the same
           iteration and reloaded with the loop; the loop's tail (after the
           guard) gets a tail guard, which fires at the next entry; the tail
           is checked then, pending while iterations take another path, and
           validated by the first that takes the saved one;
  exit     no bridge was saved: the loop is reloaded alone behind a tail
           guard, validated the same way;
  edited   a function called only in the tail changed: the tail check
           misses, the tail is invalidated and the loop is traced afresh.

Where the tail guard goes: after the guard the check left through when no
code in front of it needs a slot the tail binds (the trace runs up to that
guard, and its exit's bridge runs, while the tail waits), else at the
trace's entry.  Here the tail calls the global g(), whose cell and identity
guard are loop invariants hoisted in front of the body: a second patch
point makes the preamble skip them while the tail waits, so the tail guard
still goes after the guard.  A loop or a bridge whose tail guard fired
after a guard has its next few entries checked.  A tail check that passes
that guard but leaves at a later one has checked the tail up to there: the
tail guard moves after that later guard.

Every warm run must print exactly what a run without the cache prints, and
the counters (--jit-stats-json) and --dump-ir must show what happened.
Python 3 standard library only.
"""
import json
import os
import subprocess
import sys
import tempfile


def driver(a, b):
    """The driver of a program's run(n, a, b): run(40, A, B) for the first
    call (A and B from the command line, default a and b), run(40, a, b)
    for the 300 others."""
    return """\
var a0 = {a}
var b0 = {b}
if len(args) > 0 then a0 = int(args[0]) end
if len(args) > 1 then b0 = int(args[1]) end
var total = 0
for c = 0, 300 do
  if c == 0 then total = total + run(40, a0, b0) else total = total + run(40, {a}, {b}) end
end
print(total)
""".format(a=a, b=b)


# PROGRAM and PROGRAM3 run with driver(5, -1).
DRIVER = driver(5, -1)

PROGRAM = """\
fn g(x) return x * {GK} end
fn h(x) return x + 7 end
fn run(n, early, special)
  var s = 0
  for i = 0, n do
    if i < special then s = s + 1000 end
    if i < early then
      s = s + h(i)
    else
      s = s + g(i)
    end
  end
  return s
end
"""

PROGRAM2 = """\
fn run(n, early)
  var s = 0
  for i = 0, n do
    if i < early then s = s + i * 2 else s = s + i * 3 end
  end
  return s
end
var e0 = 5
if len(args) > 0 then e0 = int(args[0]) end
var total = 0
for c = 0, 300 do
  if c == 0 then total = total + run(40, e0) else total = total + run(40, 5) end
end
print(total)
"""

# Two decisions in a row: the second one is inside the tail after the first.
PROGRAM4 = """\
fn run(n, e1, e2)
  var s = 0
  for i = 0, n do
    if i < e1 then
      s = s + i * 2
    else
      if i < e2 then s = s + i * 5 else s = s + i * 3 end
    end
  end
  return s
end
""" + driver(5, 10)

PROGRAM3 = """\
fn run(n, early, odd)
  var s = 0
  for i = 0, n do
    if i < early then
      if i < odd then s = s + i * 5 else s = s + i * 2 end
    else
      s = s + i * 3
    end
  end
  return s
end
"""

failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures += 1


def run(jcvm, args, stats=None):
    cmd = [jcvm] + args
    if stats:
        cmd.insert(1, "--jit-stats-json=" + stats)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    st = json.load(open(stats)) if stats else None
    return p, st


def cold_then_warm(jcvm, d, name, source, cold_args, warm_args, stats):
    """Run `source` cold with an empty cache of its own, then warm with
    --dump-ir; check the warm run prints what a run without the cache
    prints.  Returns the cold run's stats, the warm run's --dump-ir output
    and its stats."""
    prog = os.path.join(d, name + ".jc")
    open(prog, "w").write(source)
    cache = "--cache=" + os.path.join(d, name + ".cache")
    cold, cst = run(jcvm, [cache, prog] + cold_args, stats)
    check(cold.returncode == 0, "%s: cold run ok" % name)
    warm, st = run(jcvm, [cache, "--dump-ir", prog] + warm_args, stats)
    ref, _ = run(jcvm, ["--no-cache", prog] + warm_args)
    check((warm.returncode, warm.stdout) == (ref.returncode, ref.stdout),
          "%s: warm run prints what a run without the cache prints (%s)"
          % (name, warm.stdout.strip()))
    return cst, warm.stderr, st


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    jcvm = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="jc-tails-") as d:
        a = os.path.join(d, "a.jc")
        b = os.path.join(d, "b.jc")
        open(a, "w").write(PROGRAM.replace("{GK}", "3") + DRIVER)
        open(b, "w").write(PROGRAM.replace("{GK}", "5") + DRIVER)
        cache = "--cache=" + os.path.join(d, "cache")
        stats = os.path.join(d, "s.json")
        # The cold run: the loop is traced on the g() path (hot after 1000
        # back edges, at an i >= 5), the exit to h() that the first 5
        # iterations of every call take gets a bridge; `i < special` is never
        # true, so that exit has none.  In the warm runs the first call's
        # first iterations go the other way: the checks there are deferred
        # (jit_check_defer) until the last try, which commits behind a tail
        # guard; a later iteration on the saved path validates the tail.
        cold, st = run(jcvm, [cache, a, "5", "-1"], stats)
        check(cold.returncode == 0 and st["loops"] >= 1 and st["bridges"] >= 1,
              "cold run: loop and bridge compiled and saved")

        scenarios = [
            # (name, program, args)
            ("bridge", a, ["20", "-1"]),  # iterations 1..19 of the first call take h()
            ("exit", a, ["0", "20"]),     # and here i < special: an exit with no bridge
            ("edited", b, ["20", "-1"]),  # g() changed: only the tail calls it
        ]
        for name, prog, args in scenarios:
            warm, st = run(jcvm, [cache, "--dump-ir", prog] + args, stats)
            ref, _ = run(jcvm, ["--no-cache", prog] + args)
            same = (warm.returncode, warm.stdout) == (ref.returncode, ref.stdout)
            check(same, "%s: warm run prints what a run without the cache prints (%s)"
                  % (name, warm.stdout.strip()))
            ir = warm.stderr
            check(st["tail_guards"] >= 1, "%s: a tail guard was written (%d)" % (name, st["tail_guards"]))
            check(st["checks_deferred"] >= 1, "%s: checks deferred before it (%d)" % (name, st["checks_deferred"]))
            if name == "bridge":
                check("---- reloaded 2 trace(s): jc_loop_run_L" in ir,
                      "bridge: loop and bridge reloaded together from one check")
                check("---- tail guard of jc_loop_run_L6: after a guard" in ir,
                      "bridge: the tail waits after the guard (g's hoisted guard skipped)")
                check(st["tails_validated"] >= 1, "bridge: the tail was validated")
                check(st["loops"] == 0 and st["bridges"] == 0, "bridge: nothing compiled")
            elif name == "exit":
                check("---- reloaded 1 trace(s): jc_loop_run_L" in ir,
                      "exit: the loop reloaded alone")
                check(st["tails_validated"] >= 1, "exit: the tail was validated")
                check(st["loops"] == 0, "exit: no loop compiled")
            else:
                check("---- tail invalidated: jc_loop_run_L" in ir and st["tails_invalidated"] >= 1,
                      "edited: the tail check missed and invalidated the tail")
                check(st["tails_validated"] == 0, "edited: nothing validated")
                check(st["loops"] >= 1, "edited: the loop was traced afresh")
        # The tail guard after the guard: PROGRAM2, cold on the else path
        # (its bridge on the then path), warm with 20 early iterations.
        cst, ir, st = cold_then_warm(jcvm, d, "after-guard", PROGRAM2, ["5"], ["20"], stats)
        check(cst["loops"] >= 1 and cst["bridges"] >= 1,
              "after-guard: cold run compiled and saved loop and bridge")
        at = ir.find("---- tail guard of jc_loop_run_L4: after a guard")
        check(at >= 0, "after-guard: the tail guard went after the guard the check left at")
        fired = ir.find("---- tail guard fired after guard", at)
        check(fired > at, "after-guard: an iteration ran the loop up to it and left there")
        check(ir.find("---- tail validated: jc_loop_run_L4", fired) > fired and st["tails_validated"] >= 1,
              "after-guard: the next iteration checked the tail and validated it")
        check(st["loops"] == 0 and st["bridges"] == 0, "after-guard: nothing compiled")
        # A bridge's tail after a guard: PROGRAM3, cold with the bridge (the
        # first 5 iterations of a call) on its inner else path; warm, the
        # first call's 30 early iterations take the inner then path, so the
        # bridge's checks leave at the inner guard until the last try, which
        # commits the bridge with its tail after that guard.  The bridge runs
        # up to there; the first later call goes the else way, fires the
        # tail guard, and the bridge's next entry (its parent's exit, pointed
        # back at its stub meanwhile) checks and validates the tail.
        cst, ir, st = cold_then_warm(jcvm, d, "bridge-after-guard", PROGRAM3 + DRIVER,
                                     ["5", "-1"], ["30", "100"], stats)
        check(cst["bridges"] >= 1, "bridge-after-guard: cold run saved a bridge")
        at = ir.find("---- tail guard of jc_bridge_run_L4_x0: after a guard")
        check(at >= 0, "bridge-after-guard: the bridge's tail guard went after a guard")
        fired = ir.find("---- tail guard fired after guard", at)
        fired = ir.find("jc_bridge_run_L4_x0", fired) if fired >= 0 else -1
        check(fired > at, "bridge-after-guard: it fired in the bridge")
        check(ir.find("---- tail validated: jc_bridge_run_L4_x0", fired) > fired,
              "bridge-after-guard: the bridge's next entry validated the tail")
        # A tail check that leaves inside the tail: PROGRAM4, cold on the
        # path i >= e2 (both decisions' else), its bridges on both exits;
        # warm, the first call's 20 first iterations leave at the first
        # decision (the loop is reloaded with that bridge, its tail after
        # it), the next 10 pass it and leave at the second: the tail check
        # there moves the tail guard after the second decision, and an
        # iteration with i >= 30 validates the rest.
        cst, ir, st = cold_then_warm(jcvm, d, "moved", PROGRAM4, ["5", "10"], ["20", "30"], stats)
        check(cst["loops"] >= 1 and cst["bridges"] >= 2, "moved: cold run saved the loop and its bridges")
        at = ir.find("---- tail guard of jc_loop_run_L4: after a guard")
        moved = ir.find("---- tail moved: jc_loop_run_L4", at)
        check(at >= 0 and moved > at and st["tails_moved"] >= 1,
              "moved: the tail check left at the second decision and moved the tail guard there")
        check(ir.find("---- tail validated: jc_loop_run_L4", moved) > moved and st["tails_validated"] >= 1,
              "moved: a later iteration validated the rest of the tail")
        check(st["loops"] == 0 and st["bridges"] == 0, "moved: nothing compiled")
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
