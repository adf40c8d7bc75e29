"""jcvmrun.py — running a jcvm program for the soundness scripts.

run() writes a program's source to TMP/NAME.jc, runs it with the cache at
TMP/cache (or --no-cache) and --jit-stats-json, and returns what it printed
(stdout and stderr) and the statistics.  Checks collects failed checks.
script() is a script's main: JCVM from the command line, a temporary
directory, and the exit status.
"""
import json
import os
import subprocess
import sys
import tempfile


def run(jcvm, tmp, src, name, *flags, cache=True):
    path = os.path.join(tmp, name + ".jc")
    with open(path, "w") as f:
        f.write(src)
    stats = os.path.join(tmp, name + ".json")
    args = [jcvm] + (["--cache=" + os.path.join(tmp, "cache")] if cache else ["--no-cache"])
    p = subprocess.run(args + list(flags) + ["--jit-stats-json=" + stats, path],
                       capture_output=True, text=True, timeout=300)
    with open(stats) as f:
        return p.stdout + p.stderr, json.load(f)


class Checks:
    def __init__(self):
        self.failures = []

    def __call__(self, cond, what):
        if not cond:
            self.failures.append(what)
            print("FAIL: " + what)


def script(doc, body):
    """body(jcvm, tmp, check) runs the checks; exit 0 if none failed, 2 on
    a bad command line (doc is printed)."""
    if len(sys.argv) != 2:
        print(doc)
        return 2
    check = Checks()
    with tempfile.TemporaryDirectory() as tmp:
        body(sys.argv[1], tmp, check)
    return 1 if check.failures else 0
