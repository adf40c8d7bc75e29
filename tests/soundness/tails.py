#!/usr/bin/env python3
"""tails.py — loops reloaded with their bridges, tail guards, tail checks.

    tests/soundness/tails.py JCVM

The checking iteration of a warm run reports every guard's outcome.  When it
goes another way than the saved loop at a guard, the loop is left there:

  bridge   a bridge was saved for that exit: it is checked in the same
           iteration and reloaded with the loop; the loop's tail (after the
           guard) gets a tail guard, which fires at the next entry; the tail
           is checked then and validated;
  exit     no bridge was saved: the loop is reloaded alone behind a tail
           guard, validated the same way;
  edited   a function called only in the tail changed: the tail check
           misses, the tail is invalidated and the loop is traced afresh.

Every warm run must print exactly what a run without the cache prints, and
the counters (--jit-stats-json) and --dump-ir must show what happened.
Python 3 standard library only.
"""
import json
import os
import subprocess
import sys
import tempfile

PROGRAM = """\
fn g(x) return x * {GK} end
fn h(x) return x + 7 end
fn run(n, phase, special)
  var s = 0
  for i = 0, n do
    if i == special then s = s + 1000 end
    if (i + phase) % 3 == 0 then
      s = s + h(i)
    else
      s = s + g(i)
    end
  end
  return s
end
var phase = 0
var special = -1
if len(args) > 0 then phase = int(args[0]) end
if len(args) > 1 then special = int(args[1]) end
print(run(3000, phase, special))
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


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    jcvm = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="jc-tails-") as d:
        a = os.path.join(d, "a.jc")
        b = os.path.join(d, "b.jc")
        open(a, "w").write(PROGRAM.replace("{GK}", "3"))
        open(b, "w").write(PROGRAM.replace("{GK}", "5"))
        cache = "--cache=" + os.path.join(d, "cache")
        stats = os.path.join(d, "s.json")
        # The cold run: the loop is traced on the g() path (hot at i = 1000,
        # and 1000 % 3 != 0), its h() exit gets a bridge; `special` never
        # matches, so that exit has none.
        cold, st = run(jcvm, [cache, a, "0", "-1"], stats)
        check(cold.returncode == 0 and st["loops"] >= 1 and st["bridges"] >= 1,
              "cold run: loop and bridge compiled and saved")

        scenarios = [
            # (name, program, args)
            ("bridge", a, ["2", "-1"]),  # the check's iteration (i = 1) takes h()
            ("exit", a, ["0", "1"]),     # i = 1 == special: an exit with no bridge
            ("edited", b, ["2", "-1"]),  # g() changed: only the tail calls it
        ]
        for name, prog, args in scenarios:
            warm, st = run(jcvm, [cache, "--dump-ir", prog] + args, stats)
            ref, _ = run(jcvm, ["--no-cache", prog] + args)
            same = (warm.returncode, warm.stdout) == (ref.returncode, ref.stdout)
            check(same, "%s: warm run prints what a run without the cache prints (%s)"
                  % (name, warm.stdout.strip()))
            ir = warm.stderr
            check(st["tail_guards"] >= 1, "%s: a tail guard was written (%d)" % (name, st["tail_guards"]))
            if name == "bridge":
                check("---- reloaded 2 trace(s): jc_loop_run_L" in ir,
                      "bridge: loop and bridge reloaded together from one check")
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
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
