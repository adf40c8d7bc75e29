#!/usr/bin/env python3
"""ab.py — two jcvm builds' warm reloads, compared in one time window.

    bench/warmup/ab.py JCVM_A JCVM_B [--runs N] [BENCH...]

warmup.py's ratios move from one run to the next by as much as a change to
the reload path moves them: the compile costs they divide by change with
the machine's load, and so do the reloads.  This compares reload costs
only, and takes them from both builds alternately, run after run, so that
both meet the same machine.

Per benchmark, each build fills its own cache (a cold run: caches are per
build, a build id is part of their namespace), then the builds take turns
at a warm run with --jit-stats-json, N times each (default 8).  Printed per
build:

  total      all the reload work of one pass over the benchmarks: lookup,
             check hook (or static binding), commit and VM trace build of
             every reload, deferred check, missed check and tail check
             (median over the passes, then each pass)
  per trace  the quartiles over traces of a reload's cost, taking for each
             trace the cheapest of its N reloads (its N warm runs reload
             the records of one cold run) and, second, the median of them
             (what a run meets)
  bridges, loops   the same (cheapest) for lazy bridges and for loops

and, on the benchmarks where both builds reloaded the same kinds of trace
in the same order in every run (the same VM: the library changed, or the
reload path), the two compared trace by trace, each trace's median over
its N reloads (a trace's id differs between builds, its place in the run
does not):

  paired     per kind: the sum of those medians for A and for B, and the
             quartiles over traces of B's median / A's (below 1: B is
             cheaper); a paired figure sees a change of a few percent that
             the quartiles above, taken over different traces' noise, do
             not

A figure printed, nothing asserted.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(HERE, "..", "programs")
# The benchmarks with reloads enough to compare, and their size arguments
# (warmup.py's small iterations).
BENCHES = [("richards", "5"), ("deltablue", "5"), ("json", None), ("dispatch", None),
           ("fannkuch-redux", None), ("nbody", None), ("spectral-norm", None),
           ("mandelbrot", None)]
RELOAD_WORK = ("reload", "defer", "miss", "tail")


def cost(t):
    return t["lookup_ns"] + t["hook_ns"] + t["commit_ns"] + t["build_ns"]


def quartiles(v):
    v = sorted(v)
    if not v:
        return "-"
    return "%d / %d / %d ns" % (v[len(v) // 4], v[len(v) // 2], v[3 * len(v) // 4])


def main():
    args, runs, benches = sys.argv[1:], 8, []
    bins = []
    i = 0
    while i < len(args):
        if args[i] == "--runs" and i + 1 < len(args):
            runs = int(args[i + 1])
            i += 2
            continue
        if args[i].startswith("-"):
            sys.exit(__doc__)
        (bins if len(bins) < 2 else benches).append(args[i])
        i += 1
    if len(bins) != 2 or runs < 1:
        sys.exit(__doc__)
    for b in bins:
        if not os.access(b, os.X_OK):
            sys.exit("ab.py: %s is not an executable" % b)
    chosen = [x for x in BENCHES if not benches or x[0] in benches]
    if not chosen:
        sys.exit("ab.py: none of %s is one of %s" % (benches, [b for b, _ in BENCHES]))

    # By position: the same build may be given twice (to see the noise).
    total = [[0] * runs for _ in bins]
    per = [{} for _ in bins]  # (bench, trace id, bridge) -> costs
    # (bench, place among the run's reloads, bridge) -> costs, and whether
    # every run of both builds reloaded the same kinds in the same order.
    placed = [{} for _ in bins]
    shapes = set()
    tmp = tempfile.mkdtemp(prefix="jcache-ab-")
    try:
        for name, size in chosen:
            prog = [os.path.join(PROGRAMS, name + ".jc")] + ([size] if size else [])
            caches = []
            for k, b in enumerate(bins):
                caches.append(os.path.join(tmp, "%s.%d" % (name, k)))
                os.mkdir(caches[k])
                subprocess.run([b, "--cache", caches[k]] + prog, capture_output=True, check=True)
            for r in range(runs):
                for k, b in enumerate(bins):
                    js = os.path.join(caches[k], "stats.json")
                    subprocess.run([b, "--cache", caches[k], "--jit-stats-json=" + js] + prog,
                                   capture_output=True, check=True)
                    with open(js) as fh:
                        st = json.load(fh)
                    shape = []
                    for t in st["traces"]:
                        if t["kind"] in RELOAD_WORK:
                            total[k][r] += cost(t)
                        if t["kind"] == "reload" and t["chain"] > 0:
                            per[k].setdefault((name, t["id"], t["bridge"]), []).append(cost(t))
                            key = (name, len(shape), t["bridge"])
                            placed[k].setdefault(key, []).append(cost(t))
                            shape.append(t["bridge"])
                    shapes.add((name, tuple(shape)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("%d warm runs of each build on %s, alternating" % (runs, ", ".join(n for n, _ in chosen)))
    for k, b in enumerate(bins):
        p = per[k]
        print("%s: %s" % ("AB"[k], b))
        print("  total      %d us per pass (%s)" % (
            statistics.median(total[k]) / 1e3, " ".join("%d" % (x / 1e3) for x in total[k])))
        print("  per trace  cheapest %s; median of its runs %s (q1 / median / q3, %d traces)" % (
            quartiles([min(v) for v in p.values()]),
            quartiles([statistics.median(v) for v in p.values()]), len(p)))
        print("  bridges    %s; loops %s (cheapest)" % (
            quartiles([min(v) for k, v in p.items() if k[2]]),
            quartiles([min(v) for k, v in p.items() if not k[2]])))
    # Only the benchmarks whose every run, of both builds, reloaded the same
    # kinds of trace in the same order.
    names = [n for n, _ in shapes]
    same = {n for n in names if names.count(n) == 1}
    if not same:
        print("paired     - (no benchmark reloaded the same traces in the same order in every run)")
        return
    print("paired     on %s" % ", ".join(n for n, _ in chosen if n in same))
    for bridge, what in ((True, "bridges"), (False, "loops")):
        keys = [k for k in placed[0] if k[0] in same and k[2] == bridge and k in placed[1]]
        if not keys:
            continue
        ma = {k: statistics.median(placed[0][k]) for k in keys}
        mb = {k: statistics.median(placed[1][k]) for k in keys}
        ratio = sorted(mb[k] / max(1, ma[k]) for k in keys)
        n = len(ratio)
        print("           %s (%d): sum of medians A %d us, B %d us (%.3f); B/A per trace "
              "%.3f / %.3f / %.3f" % (what, n, sum(ma.values()) / 1e3, sum(mb.values()) / 1e3,
                                     sum(mb.values()) / max(1, sum(ma.values())),
                                     ratio[n // 4], ratio[n // 2], ratio[3 * n // 4]))


if __name__ == "__main__":
    main()
