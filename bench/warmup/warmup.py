#!/usr/bin/env python3
"""warmup.py — cold against warm: what the code cache does to warm-up.

    bench/warmup/warmup.py JCVM [--iterations N] [--out DIR] [BENCH...]

For every benchmark of bench/programs (or the ones named): an empty cache,
a cold run (it traces, compiles and saves), then a warm run with the cache
the cold run filled.  Both print one `iteration I SECONDS` line per
iteration and write --jit-stats-json, which lists every trace with its cost
(compiled: tracing + optimizing + assembling; reloaded: the checking
iteration + commit) under its cache id, so each reloaded trace is matched
with the compilation of the same trace in the cold run.

Figures (per benchmark, and the median over the suite):
  reload/compile  median over traces of compile_ns / reload_ns
  steady          median iteration time of the last half of the cold run
  warm-up         time spent above 1.2 x steady before the run stays below it
  warm/cold       warm run's warm-up time / cold run's (target <= 0.25)
  first/steady    warm run's first iteration / steady (target <= 2)
  steady w/c      warm steady / cold steady (target ~1)

Writes DIR/NAME.dat (iteration, cold s, warm s), DIR/NAME.png (gnuplot),
DIR/table.txt and DIR/summary.json.  Python 3 standard library + gnuplot.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BENCHES = ["nbody", "spectral-norm", "richards", "mandelbrot", "fannkuch-redux",
           "deltablue", "dispatch", "json", "binary-trees"]


def run(jcvm, prog, iters, cache, stats):
    p = subprocess.run([jcvm, "--cache=" + cache, "--jit-stats-json=" + stats, prog, str(iters)],
                       capture_output=True, text=True, timeout=1200)
    times = []
    for line in p.stderr.splitlines():
        f = line.split()
        if len(f) == 3 and f[0] == "iteration":
            times.append(float(f[2]))
    with open(stats) as fh:
        st = json.load(fh)
    return p.stdout, times, st


def warmup_time(times, steady):
    """Time spent above 1.2 x steady before the run stays below it."""
    last = -1
    for i, t in enumerate(times):
        if t > 1.2 * steady:
            last = i
    return sum(max(0.0, t - steady) for t in times[: last + 1]), last + 1


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    jcvm = os.path.abspath(args.pop(0))
    iters, out, names = 30, os.path.join(ROOT, "build", "warmup"), []
    while args:
        a = args.pop(0)
        if a == "--iterations":
            iters = int(args.pop(0))
        elif a == "--out":
            out = os.path.abspath(args.pop(0))
        else:
            names.append(a)
    names = names or BENCHES
    os.makedirs(out, exist_ok=True)
    rows, all_ratios = [], []
    gnuplot = shutil.which("gnuplot")
    for name in names:
        prog = os.path.join(ROOT, "bench", "programs", name + ".jc")
        cache = tempfile.mkdtemp(prefix="jcvm-warmup-")
        try:
            out_c, tc, sc = run(jcvm, prog, iters, cache, os.path.join(out, name + ".cold.json"))
            out_w, tw, sw = run(jcvm, prog, iters, cache, os.path.join(out, name + ".warm.json"))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        compiled = {t["id"]: t["ns"] for t in sc["traces"] if not t["reloaded"]}
        ratios = [compiled[t["id"]] / max(1, t["ns"]) for t in sw["traces"]
                  if t["reloaded"] and t["id"] in compiled]
        all_ratios += ratios
        half = tc[len(tc) // 2:] or tc
        steady_c = statistics.median(half)
        steady_w = statistics.median(tw[len(tw) // 2:] or tw)
        wu_c, _ = warmup_time(tc, steady_c)
        wu_w, _ = warmup_time(tw, steady_c)
        row = {
            "bench": name,
            "same_output": out_c == out_w,
            "compiled_cold": len(compiled),
            "reloaded_warm": sw["reloaded_loops"] + sw["reloaded_bridges"],
            "compiled_warm": sw["loops"] + sw["bridges"],
            "misses_warm": sw["replay_misses"],
            "reload_vs_compile": statistics.median(ratios) if ratios else None,
            "steady_cold_s": steady_c,
            "steady_warm_s": steady_w,
            "warmup_cold_s": wu_c,
            "warmup_warm_s": wu_w,
            "warm_over_cold": wu_w / wu_c if wu_c > 0 else None,
            "first_over_steady_warm": tw[0] / steady_c if tw else None,
            "steady_warm_over_cold": steady_w / steady_c if steady_c else None,
        }
        rows.append(row)
        dat = os.path.join(out, name + ".dat")
        with open(dat, "w") as fh:
            fh.write("# iteration cold_s warm_s\n")
            for i in range(max(len(tc), len(tw))):
                fh.write("%d %s %s\n" % (i, tc[i] if i < len(tc) else "NaN", tw[i] if i < len(tw) else "NaN"))
        if gnuplot:
            script = ("set terminal pngcairo size 800,480\n" if _has_png(gnuplot) else
                      "set terminal svg size 800,480\n")
            ext = ".png" if "png" in script else ".svg"
            script += ('set output "%s"\nset title "%s: per-iteration time, cold vs warm cache"\n'
                       'set xlabel "iteration"\nset ylabel "seconds"\nset logscale y\nset grid\n'
                       'plot "%s" using 1:2 with linespoints title "cold (empty cache)", '
                       '"%s" using 1:3 with linespoints title "warm (reloaded)"\n'
                       % (os.path.join(out, name + ext), name, dat, dat))
            subprocess.run([gnuplot], input=script, text=True, check=False)

    def f(v, fmt="%.2f"):
        return "-" if v is None else fmt % v

    lines = ["%-15s %5s %5s %5s %5s %9s %10s %10s %9s %8s %8s %7s" % (
        "bench", "comp", "reld", "wcomp", "miss", "rel/comp", "warmup_c", "warmup_w", "warm/cold",
        "1st/std", "std w/c", "output")]
    for r in rows:
        lines.append("%-15s %5d %5d %5d %5d %9s %9.4fs %9.4fs %9s %8s %8s %7s" % (
            r["bench"], r["compiled_cold"], r["reloaded_warm"], r["compiled_warm"], r["misses_warm"],
            f(r["reload_vs_compile"], "%.1fx"), r["warmup_cold_s"], r["warmup_warm_s"],
            f(r["warm_over_cold"]), f(r["first_over_steady_warm"]), f(r["steady_warm_over_cold"]),
            "same" if r["same_output"] else "DIFF"))
    med = statistics.median(all_ratios) if all_ratios else None
    lines.append("reload vs compile, median over all %d reloaded traces of the suite: %s (target >= 20x)"
                 % (len(all_ratios), f(med, "%.1fx")))
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(out, "table.txt"), "w") as fh:
        fh.write(table + "\n")
    with open(os.path.join(out, "summary.json"), "w") as fh:
        json.dump({"rows": rows, "reload_vs_compile_median": med, "iterations": iters}, fh, indent=1)
    return 0 if all(r["same_output"] for r in rows) else 1


def _has_png(gnuplot):
    p = subprocess.run([gnuplot, "-e", "set terminal"], capture_output=True, text=True)
    return "pngcairo" in (p.stdout + p.stderr)


if __name__ == "__main__":
    sys.exit(main())
