#!/usr/bin/env python3
"""edits.py — an edited program never runs the old program's code.

    tests/soundness/edits.py JCVM [--seconds N] [--seed S]

Builds pairs (old program, edited program) from one template with knobs: a
constant of the loop, a method body, a class's fields, a class's
superclass, a global's binding, a called function, the class of the
objects that flow into the loop, the method a super call finds.  For every pair, in a fresh cache:

  1. the old program runs and fills the cache;
  2. the edited program runs with that cache;
  3. the edited program runs with --no-cache;

and 2 must print exactly what 3 prints (stdout, stderr, exit status).  The
hand-written edits run first and must each count at least one replay miss
where the edit changes something the saved traces checked (their loop
function is unchanged, so its candidates are found and checked), or, where
a promotion meets another class or function, leave the candidate at that
guard (a deferred check, or a tail guard never validated); then
random pairs from a seeded generator run until --seconds have passed.
Python 3 standard library only.
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time

TEMPLATE = """\
class Base
  var a, b{BASE_EXTRA}
  def init(a) self.a = a self.b = 1 end
  def get() return self.a * {MK} + self.b end
  def k() return {MK} end
end
class Base2
  var a, b{BASE_EXTRA}
  def init(a) self.a = a self.b = 1 end
  def get() return self.a * {MK} + self.b end
  def k() return {MK} end
end
class P < {SUPER}
  var c
  def init(a) self.a = a self.b = 2 self.c = 3 end
  def get() return {PBODY} end
end
class Q < Base
  def get() return self.a - {QK} end
end
fn helper(x) return x * {HK} + 1 end
fn add1(x) return x + 1 end
fn add2(x) return x + 2 end
var F = {FBIND}
var G = {GVAL}
fn loop(objs, n)
  var s = 0
  for i = 0, n do
    var o = objs[i % len(objs)]
    s = s + o.get() + helper(i) + F(i) + G{LOOPK}
  end
  return s
end
var objs = [{OBJS}]
for r = 0, 3 do
  print(loop(objs, {N}))
end
"""

DEFAULT = {
    "BASE_EXTRA": "",
    "MK": "2",
    "SUPER": "Base",
    "PBODY": "self.a + self.c",
    "QK": "5",
    "HK": "3",
    "FBIND": "add1",
    "GVAL": "7",
    "LOOPK": " + 11",
    "OBJS": "P(1), P(2)",
    "N": "400",
}

CHOICES = {
    "BASE_EXTRA": ["", ", z", ", z, w"],
    "MK": ["2", "3", "2.5"],
    "SUPER": ["Base", "Base2"],
    "PBODY": ["self.a + self.c", "self.a - self.c", "self.c * 2", "self.b + 0.5",
              "super.get() + self.c", "super.k() + self.c"],
    "QK": ["5", "6"],
    "HK": ["3", "4", "1.5"],
    "FBIND": ["add1", "add2", "helper"],
    "GVAL": ["7", "8", "7.5"],
    "LOOPK": [" + 11", " + 12", ""],
    "OBJS": ["P(1), P(2)", "Q(1), Q(2)", "P(1), Q(2)", "Base(4)", "Base2(4), P(1)"],
    "N": ["400", "60"],
}

# (name, knob, new value, what the check must notice[, knobs of the old
# program that differ from DEFAULT]).  True: a green decision differs, a
# miss is counted.  "leave": a promotion meets another class or function
# (by name) than the saved trace: the check leaves the candidate at that
# guard, as the compiled code would, so it is deferred or its tail is never
# validated (the saved code after the guard never runs).  False: nothing
# the saved traces checked changed (their key did, or the code guards it).
SUPER_GET = {"PBODY": "super.k() + self.c"}
EDITS = [
    ("constant in the loop", "LOOPK", " + 12", False),  # the loop's key changes
    ("method body", "PBODY", "self.a - self.c", True),
    ("class fields", "BASE_EXTRA", ", z", True),
    ("superclass", "SUPER", "Base2", True),
    ("global binding", "FBIND", "add2", "leave"),
    ("called function", "HK", "4", True),
    ("class flowing into the loop", "OBJS", "Q(1), Q(2)", "leave"),
    ("global's value type", "GVAL", "7.5", False),  # guarded by the code itself
    # P.get calls super.k(): the method found on the superclass is a green
    # decision of the trace, and nothing else checks it (k reads no field,
    # so no green decision has a site in its code).
    ("super method body", "MK", "3", True, SUPER_GET),
    ("superclass of a super call", "SUPER", "Base2", True, SUPER_GET),
]

FLAGSETS = [["--jit-hot=5", "--jit-exit-hot=3"], ["--jit-stress"], []]


def render(knobs):
    s = TEMPLATE
    for k, v in knobs.items():
        s = s.replace("{" + k + "}", v)
    return s


def run(jcvm, prog, cache, flags, tmp):
    stats = os.path.join(tmp, "stats.json")
    if os.path.exists(stats):
        os.unlink(stats)
    cmd = [jcvm] + flags + ["--jit-stats-json=" + stats]
    cmd += ["--no-cache"] if cache is None else ["--cache=" + cache]
    cmd.append(prog)
    p = subprocess.run(cmd, capture_output=True, timeout=120)
    try:
        with open(stats) as f:
            st = json.load(f)
    except (OSError, ValueError):
        st = {}
    return (p.stdout, p.stderr, p.returncode), st


def check_pair(jcvm, old, new, flags, tmp, idx):
    cache = os.path.join(tmp, "cache%d" % idx)
    os.mkdir(cache)
    po = os.path.join(tmp, "old.jc")
    pn = os.path.join(tmp, "new.jc")
    with open(po, "w") as f:
        f.write(old)
    with open(pn, "w") as f:
        f.write(new)
    run(jcvm, po, cache, flags, tmp)
    warm, st = run(jcvm, pn, cache, flags, tmp)
    ref, _ = run(jcvm, pn, None, flags, tmp)
    subprocess.run(["rm", "-rf", cache])
    return warm == ref, st, warm, ref


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    jcvm = os.path.abspath(args[0])
    seconds, seed = 20.0, int(time.time())
    i = 1
    while i < len(args):
        if args[i] == "--seconds":
            seconds = float(args[i + 1])
            i += 2
        elif args[i] == "--seed":
            seed = int(args[i + 1])
            i += 2
        else:
            print("edits.py: unknown argument " + args[i], file=sys.stderr)
            return 2
    fails = 0
    with tempfile.TemporaryDirectory() as tmp:
        idx = 0
        for name, knob, val, must_miss, *base in EDITS:
            for flags in FLAGSETS:
                old = dict(DEFAULT, **(base[0] if base else {}))
                new = dict(old)
                new[knob] = val
                ok, st, warm, ref = check_pair(jcvm, render(old), render(new), flags, tmp, idx)
                idx += 1
                misses = st.get("replay_misses", 0)
                reloaded = st.get("reloaded_loops", 0) + st.get("reloaded_bridges", 0)
                verdict = "ok" if ok else "FAIL (output differs)"
                left = (st.get("checks_deferred", 0) > 0 or
                        st.get("tail_guards", 0) > st.get("tails_validated", 0))
                if ok and must_miss == "leave" and flags and not (misses or left):
                    verdict = "FAIL (the check did not leave the candidate)"
                    ok = False
                elif ok and must_miss is True and misses == 0 and flags:
                    verdict = "FAIL (no miss counted)"
                    ok = False
                if not ok:
                    fails += 1
                print("edit %-28s %-34s misses %3d reloaded %3d  %s"
                      % (name, " ".join(flags) or "(default)", misses, reloaded, verdict))
                if warm != ref:
                    print("  warm:", warm[0][:200], warm[1][:200], warm[2])
                    print("  ref: ", ref[0][:200], ref[1][:200], ref[2])
        rng = random.Random(seed)
        n = 0
        t_end = time.time() + seconds
        total_misses = 0
        while time.time() < t_end:
            old = {k: rng.choice(v) for k, v in CHOICES.items()}
            new = dict(old)
            for k in rng.sample(sorted(CHOICES), rng.randint(1, 3)):
                new[k] = rng.choice(CHOICES[k])
            flags = rng.choice(FLAGSETS)
            ok, st, warm, ref = check_pair(jcvm, render(old), render(new), flags, tmp, idx)
            idx += 1
            n += 1
            total_misses += st.get("replay_misses", 0)
            if not ok:
                fails += 1
                print("FAIL random pair (seed %d, #%d, flags %s)" % (seed, n, flags))
                print("  old:", json.dumps(old))
                print("  new:", json.dumps(new))
        print("edits: %d hand-written x %d flag sets, %d random pairs (seed %d, %d misses); %d failed"
              % (len(EDITS), len(FLAGSETS), n, seed, total_misses, fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
