#!/usr/bin/env python3
"""check_cost.py - what jcvm's checking iterations and static binding cost,
in instructions.

usage: bench/check_cost.py JCVM [BENCHMARK ...]

Per benchmark (default: richards deltablue dispatch json): a cold run fills
a throw-away cache, then a warm run executes under callgrind, counting only
inside a checking iteration's hook (--toggle-collect=jit_check_hook: the
recorder in checking mode, the replay cursor, and the commits that end the
checks; that run has --jit-static=off, as every trace is checked then), and
a second warm run counts inside static binding (vm/jit/static.c, the
default: --toggle-collect=jit_static_reload).  Prints:

  checked   bytecodes that went through a check's hook
  Ir/bc     instructions per checked bytecode, commits left out: the
            check's own cost per instruction of the program
  commits   reload commits (jit_reload_commit calls: libjcache's commit and
            the VM's trace build)
  Ir/commit instructions per commit
  static    traces bound statically (jit_reload_static calls)
  Ir/static instructions per trace bound statically, its whole reload:
            the exit's lookup (jit_cache_find_bridge), finding its objects
            (jit_static_resolve), libjcache comparing them with the tape
            and committing (jc_replay_static), the VM's trace build; the
            lookups of exits left to their check are in it too (none when
            every bridge binds statically: the column before says)

Instruction counts do not move with the machine's load, so a change of a
few percent is real here where the timings of bench/warmup/warmup.py (the
target's own figures) need several runs to show it.  The warm run uses
--jit-no-prefetch: the prefetch thread's timing under valgrind would decide
which lookups a check finds in memory, and the counts would vary from run
to run (without it, the lookups of bridges met during a check are counted
in the check, as they are when the prefetch has not brought them in).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = ["richards", "deltablue", "dispatch", "json"]
SIZES = {"nbody": "2000", "spectral-norm": "100", "richards": "5", "deltablue": "5"}
ITERATIONS = "3"


def calls_to(path, names):
    """Per function name: (calls, inclusive Ir of those calls), read from a
    callgrind output file (cfn= names a callee, calls= its call count, and
    the cost line after it the calls' inclusive cost)."""
    ids, out, cfn, after_calls = {}, {n: [0, 0] for n in names}, None, False
    with open(path) as fh:
        for line in fh:
            m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
            if m:
                if m.group(2):
                    ids[m.group(1)] = m.group(2).strip()
                if line.startswith("cfn="):
                    cfn = ids.get(m.group(1))
                after_calls = False
                continue
            if line.startswith("calls="):
                n = int(line.split("=")[1].split()[0])
                if cfn in out:
                    out[cfn][0] += n
                after_calls = True
                continue
            if after_calls:
                f = line.split()
                if cfn in out and len(f) >= 2:
                    out[cfn][1] += int(f[1])
                after_calls = False
    return out


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    jcvm = os.path.abspath(args.pop(0))
    names = args or DEFAULT
    if not shutil.which("valgrind"):
        print("check_cost: valgrind is not installed; nothing measured")
        return 0
    print("%-16s %9s %8s %8s %10s %7s %10s" % ("bench", "checked", "Ir/bc", "commits", "Ir/commit",
                                               "static", "Ir/static"))
    for name in names:
        prog = os.path.join(ROOT, "bench", "programs", name + ".jc")
        size = [SIZES[name]] if name in SIZES else []
        tmp = tempfile.mkdtemp(prefix="jcvm-check-cost-")
        try:
            cache = os.path.join(tmp, "cache")
            subprocess.run([jcvm, "--cache=" + cache, prog, ITERATIONS] + size,
                           capture_output=True, check=True, timeout=600)
            out = os.path.join(tmp, "callgrind.out")
            subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                            "--toggle-collect=jit_check_hook", jcvm, "--jit-no-prefetch",
                            "--jit-static=off", "--cache=" + cache, prog, ITERATIONS] + size,
                           capture_output=True, check=True, timeout=1200)
            c = calls_to(out, ("jit_check_hook", "jit_reload_commit"))
            subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                            "--toggle-collect=jit_static_reload",
                            "--toggle-collect=jit_cache_find_bridge", jcvm, "--jit-no-prefetch",
                            "--cache=" + cache, prog, ITERATIONS] + size,
                           capture_output=True, check=True, timeout=1200)
            st = calls_to(out, ("jit_static_reload", "jit_cache_find_bridge", "jit_reload_static"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        checked, total = c["jit_check_hook"]
        commits, commit_ir = c["jit_reload_commit"]
        nstatic = st["jit_reload_static"][0]
        static_ir = st["jit_static_reload"][1] + st["jit_cache_find_bridge"][1]
        print("%-16s %9d %8s %8d %10s %7d %10s" % (
            name, checked, (total - commit_ir) // checked if checked else "-", commits,
            commit_ir // commits if commits else "-", nstatic,
            static_ir // nstatic if nstatic else "-"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
