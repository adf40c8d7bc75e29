#!/usr/bin/env python3
"""warmup.py — cold against warm: what the code cache does to warm-up.

    bench/warmup/warmup.py JCVM [--iterations N] [--repeat R] [--out DIR] [BENCH...]

For every benchmark of bench/programs (or the ones named), R times: an empty
cache, a cold run (it traces, compiles and saves), then a warm run with the
cache the cold run filled.  Every run prints one `iteration I SECONDS` line
per iteration and writes --jit-stats-json, which lists what each trace cost
(see "jit_costlog" in vm/jit/jit.h), under its cache id.

Iterations are small where the program takes a size (bench/programs/README.md),
so that warm-up spans several of them: nbody 2000 steps, spectral-norm
N = 100, richards and deltablue 5 runs per iteration, mandelbrot an 80 x 80
grid, fannkuch-redux N = 7, binary-trees trees of depth 10 at most (at its
default 14 an iteration takes 0.3 s, and what is above steady state in the
first one is its heap growing and this machine's slow stretches, in both
runs: the JIT's warm-up is a few ms of it).

Figures, per benchmark:
  iteration times  per iteration index, the median over the R runs
  steady           median iteration time of the last half of the cold runs
  warm-up          time spent above steady state while the cold run warms
                   up, each run against its own steady state (the median
                   of its last half): per run, every iteration over that
                   run's steady iteration, then per iteration index the
                   median over the R runs of those ratios; the sum of
                   max(0, ratio - 1) over the iterations before the cold
                   runs' curve stays within 1.2 (at least the first), for
                   both, in ms at the cold runs' steady iteration.  Its
                   own steady state: this machine runs whole processes, or
                   stretches of 10-100 ms, up to 1.8x slower at random, and
                   a run that ran slow throughout is not warming up (the
                   'steady w/c' column compares the steady states).  On
                   mutator time: each iteration's time less its garbage
                   collections (the programs print both), since a
                   stop-the-world collection lands in whichever iteration
                   crosses the heap threshold, in cold and warm runs alike,
                   and is no part of warming up
  warm/cold        warm run's warm-up / cold run's (target <= 0.25); "-"
                   where the cold run's warm-up is not above twice the
                   noise floor (the same excess over as many of its last,
                   steady iterations), or under 5% of one steady
                   iteration (the programs without a small size: their
                   warm-up hides in their iterations' noise)
  (q1-q3)          the quartiles of warm/cold taken per repeat (one cold
                   run against its warm run): how far the figure can be
                   trusted on a noisy machine
  w/c wall         the same ratio on wall time, collections included
  1st/steady       warm run's first iteration / its own steady state
                   (median over the runs; target <= 2 on nbody,
                   spectral-norm, richards)
  steady w/c       warm steady / cold steady (target ~1)
and, per trace (each reload against the compiles of the same traces in
the cold run of its own repeat, which saved what the warm run reloads: a
trace's cache id differs from one repeat to the next, so no cost is a
minimum over repeats, and the medians are over every repeat's pairs):
  compile  the recording iteration (wall time, interpreter included) +
           optimizing + assembling                       ("tracing + ...")
  reload   the cache lookup + the checking iteration's extra cost (time in
           the recorder's hook: the interpreter's own work is not a cost of
           reloading, it would run anyway), or for a trace bound statically
           (vm/jit/static.c, the default) the time to find its objects and
           report its tape, in the same column + commit (libjcache: copy,
           relocate, protect, attach, register) + the VM's own trace
  rel/comp median over traces of compile / reload (target >= 20x); a chain
           reloaded by one check (a loop and its bridge) is compared with
           the compile costs of all its traces.
The table also gives the medians of every part, the same ratio counted
strictly (compile with only the recorder hook's time, reload with the whole
checking iteration), the same with each trace's share of the writing ahead
(lib/ahead.c: a bridge's code written by its family's earlier commit)
charged to it instead of to that commit, the ratio from each repeat's runs alone (how far it
moves from one pass over the suite to the next), and what each warm
process's first reload cost (a
loop, whose commit reads its family and writes its bridges ahead on code
and memory the process has not touched yet) and its share of that
process's reload work.  Last, all the JIT work of one pass over the suite,
cold against warm, with what the per-trace figures leave out: recordings
that failed (abort), checks dropped to try again on a later iteration
(defer), checks that missed, tail checks, traces compiled in a warm run,
and the CPU time of libjcache's background threads: the prefetch thread
(the lookups it does ahead, on another CPU; the count is the records it
fetched) and the thread that populates memory and code pages ahead.

Writes DIR/NAME.dat (iteration, cold s, warm s, and the warm-up columns'
curves: cold and warm mutator time over each run's own steady iteration),
DIR/NAME.png (gnuplot),
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
# The size argument each program takes for small iterations (README.md).
SIZES = {"nbody": "2000", "spectral-norm": "100", "richards": "5", "deltablue": "5",
         "mandelbrot": "80", "fannkuch-redux": "7", "binary-trees": "10"}
FIRST_ITERATION_TARGETS = ("nbody", "spectral-norm", "richards")


def run(jcvm, prog, iters, size, cache, stats):
    args = [jcvm, "--cache=" + cache, "--jit-stats-json=" + stats, prog, str(iters)]
    if size:
        args.append(size)
    p = subprocess.run(args, capture_output=True, text=True, timeout=1200)
    times, gcs = [], []
    for line in p.stderr.splitlines():
        f = line.split()
        if len(f) in (3, 4) and f[0] == "iteration":
            times.append(float(f[2]))
            gcs.append(float(f[3]) if len(f) == 4 else 0.0)
    with open(stats) as fh:
        st = json.load(fh)
    return p.stdout, times, gcs, st


def warmup_window(times, steady):
    """Iterations before the run stays within 1.2 x steady (at least 1)."""
    last = 0
    for i, t in enumerate(times):
        if t > 1.2 * steady:
            last = i + 1
    return max(1, last)


def warmup_excess(times, steady, window):
    """Time spent above steady in the first `window` iterations."""
    return sum(max(0.0, t - steady) for t in times[:window])


def compile_cost(t, strict=False):
    return (t["hook_ns"] if strict else t["wall_ns"]) + t["opt_ns"] + t["asm_ns"]


def reload_cost(t, strict=False, ahead=False):
    """ahead: with the writing ahead of its traces (done by the commit of
    another trace, before) charged to it, and its commit's writing ahead of
    others taken off."""
    c = t["lookup_ns"] + (t["wall_ns"] if strict else t["hook_ns"]) + t["commit_ns"] + t["build_ns"]
    if ahead:
        c += t.get("ahead_ns", 0) - t.get("wrote_ahead_ns", 0)
    return c


def ratio(t, cs, strict=False, ahead=False):
    """Compile over reload for one reload t and the compiles cs it replaces."""
    return sum(compile_cost(c, strict) for c in cs) / max(1, reload_cost(t, strict, ahead))


def keep_min(d, key, entry, cost):
    if key not in d or cost < d[key][1]:
        d[key] = (entry, cost)


def trace_costs(cold_stats, warm_stats):
    """Per reload (a chain from one check): (reload entry, [compile entries])
    for the traces compiled in the cold run.  Cache ids differ between
    repeats (a record holds the addresses its run bound), so each pair
    comes from one repeat; the minimum only applies to an id logged twice
    in one run."""
    compiled, reloads = {}, {}
    for st in cold_stats:
        for t in st["traces"]:
            if t["kind"] == "compile":
                keep_min(compiled, t["id"], t, compile_cost(t))
    for st in warm_stats:
        tr = st["traces"]
        for i, t in enumerate(tr):
            if t["kind"] != "reload" or t["chain"] == 0:
                continue
            ids = tuple([t["id"]] + [x["id"] for x in tr[i + 1:i + t["chain"]]])
            keep_min(reloads, ids, t, reload_cost(t))
    out = []
    for ids, (t, _) in reloads.items():
        if all(i in compiled for i in ids):
            out.append((t, [compiled[i][0] for i in ids]))
    return out


def median(v):
    return statistics.median(v) if v else None


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    jcvm = os.path.abspath(args.pop(0))
    iters, repeat, out, names = 30, 3, os.path.join(ROOT, "build", "warmup"), []
    while args:
        a = args.pop(0)
        if a == "--iterations":
            iters = int(args.pop(0))
        elif a == "--repeat":
            repeat = max(1, int(args.pop(0)))
        elif a == "--out":
            out = os.path.abspath(args.pop(0))
        else:
            names.append(a)
    names = names or BENCHES
    os.makedirs(out, exist_ok=True)
    rows, all_pairs = [], []
    by_repeat = [[] for _ in range(repeat)]  # each repeat's pairs alone
    side = {}  # (run, kind) -> [count, ns]: all JIT work, over the suite
    firsts = []  # per warm process: (its first reload's cost, all its reloads')
    gnuplot = shutil.which("gnuplot")
    for name in names:
        prog = os.path.join(ROOT, "bench", "programs", name + ".jc")
        size = SIZES.get(name)
        tcs, tws, mcs, mws, scs, sws, same = [], [], [], [], [], [], True
        for r in range(repeat):
            cache = tempfile.mkdtemp(prefix="jcvm-warmup-")
            try:
                out_c, tc, gc, sc = run(jcvm, prog, iters, size, cache, os.path.join(out, name + ".cold.json"))
                out_w, tw, gw, sw = run(jcvm, prog, iters, size, cache, os.path.join(out, name + ".warm.json"))
            finally:
                shutil.rmtree(cache, ignore_errors=True)
            same = same and out_c == out_w and "ok" in out_c
            tcs.append(tc)
            tws.append(tw)
            mcs.append([t - g for t, g in zip(tc, gc)])
            mws.append([t - g for t, g in zip(tw, gw)])
            scs.append(sc)
            sws.append(sw)
        n = min(len(t) for t in tcs + tws)
        tc = [statistics.median(t[i] for t in tcs) for i in range(n)]
        tw = [statistics.median(t[i] for t in tws) for i in range(n)]
        mc = [statistics.median(t[i] for t in mcs) for i in range(n)]
        pairs = trace_costs(scs, sws)
        all_pairs += pairs
        for r in range(repeat):
            by_repeat[r] += trace_costs([scs[r]], [sws[r]])
        for run_name, stats in (("cold", scs), ("warm", sws)):
            for st in stats:
                # The prefetch thread's CPU time: lookups done ahead, off
                # the program's thread (count: the records it fetched).
                e = side.setdefault((run_name, "prefetch"), [0, 0])
                e[0] += st.get("prefetch_records", 0)
                e[1] += st.get("prefetch_cpu_ns", 0)
                # And the thread that populates memory and code pages
                # ahead (jcache/mem.h), in every run with the JIT.
                e = side.setdefault((run_name, "populate"), [0, 0])
                e[1] += st.get("populate_cpu_ns", 0)
                for t in st["traces"]:
                    cost = compile_cost(t) if t["kind"] in ("compile", "abort") else reload_cost(t)
                    e = side.setdefault((run_name, t["kind"]), [0, 0])
                    e[0] += t["kind"] != "reload" or t["chain"] > 0
                    e[1] += cost
                reloads = [reload_cost(t) for t in st["traces"]
                           if t["kind"] == "reload" and t["chain"] > 0]  # in order
                if run_name == "warm" and reloads:
                    firsts.append((reloads[0], sum(reloads)))
        ratios = [ratio(t, cs) for t, cs in pairs]
        steady_c = statistics.median(tc[n // 2:] or tc)
        steady_w = statistics.median(tw[n // 2:] or tw)
        # Warm-up is measured on each run's iterations over its own steady
        # state (the median of its last half): this machine runs whole
        # processes, or stretches of 10-100 ms, up to 1.8x slower at random
        # (a plain C loop shows it too, and no steal time), so a warm run
        # that happened to run slow throughout was counted as warming up in
        # every iteration against the cold run's steady state.  Whether the
        # warm run's steady state is as fast as the cold run's is the
        # 'std w/c' column's question, not this one's.
        def norm(runs):
            out = []
            for t in runs:
                st = statistics.median(t[n // 2:n] or t[:n])
                out.append([x / st if st > 0 else 1.0 for x in t[:n]])
            return out
        rc_runs, rw_runs = norm(tcs), norm(tws)
        mrc_runs, mrw_runs = norm(mcs), norm(mws)
        rc = [statistics.median(r[i] for r in rc_runs) for i in range(n)]
        rw = [statistics.median(r[i] for r in rw_runs) for i in range(n)]
        mrc = [statistics.median(r[i] for r in mrc_runs) for i in range(n)]
        mrw = [statistics.median(r[i] for r in mrw_runs) for i in range(n)]
        # Both runs over the cold run's warm-up window: later iterations
        # are steady state, where a difference is noise, not warm-up.  The
        # excess is in units of a steady iteration; the ms columns scale it
        # by the cold runs' steady iteration.
        window = warmup_window(rc, 1.0)
        wu_c = warmup_excess(rc, 1.0, window) * steady_c
        wu_w = warmup_excess(rw, 1.0, window) * steady_c
        # The same on mutator time (the iteration less its garbage
        # collections): a stop-the-world collection lands in whichever
        # iteration crosses the heap threshold, in both runs alike, so with
        # wall time an allocating program's periodic pauses stretch the
        # window to the last of them and count as "warm-up".
        msteady_c = statistics.median(mc[n // 2:] or mc)
        mwindow = warmup_window(mrc, 1.0)
        mwu_c = warmup_excess(mrc, 1.0, mwindow) * msteady_c
        mwu_w = warmup_excess(mrw, 1.0, mwindow) * msteady_c
        # The same ratio per repeat (its cold run against its warm run, same
        # window): its spread is how far to trust the one above.
        # What steady iterations show above steady by chance over as many
        # iterations (the cold run's last ones): a warm-up not well above it
        # is noise, and so would be any ratio (long iterations: json).
        tail = mrc[n - min(mwindow, n // 2):] if n >= 2 else mrc
        noise = warmup_excess(tail, 1.0, len(tail)) * mwindow / max(1, len(tail)) * msteady_c
        measurable = mwu_c > 0.05 * msteady_c and mwu_c > 2 * noise
        per = sorted(warmup_excess(w, 1.0, mwindow) / warmup_excess(c, 1.0, mwindow)
                     for c, w in zip(mrc_runs, mrw_runs) if warmup_excess(c, 1.0, mwindow) > 0)
        spread = (per[len(per) // 4], per[(3 * len(per)) // 4]) if len(per) >= 4 else None
        sw = sws[-1]
        rows.append({
            "bench": name,
            "size": size,
            "same_output": same,
            "compiled_cold": scs[-1]["loops"] + scs[-1]["bridges"],
            "reloaded_warm": sw["reloaded_loops"] + sw["reloaded_bridges"],
            "compiled_warm": sw["loops"] + sw["bridges"],
            "misses_warm": sw["replay_misses"],
            "tail_guards_warm": sw["tail_guards"],
            "tails_validated_warm": sw["tails_validated"],
            "reload_vs_compile": median(ratios),
            "steady_cold_s": steady_c,
            "steady_warm_s": steady_w,
            "warmup_cold_s": wu_c,
            "warmup_warm_s": wu_w,
            "warmup_window": window,
            # A warm-up under 5% of one iteration is within the noise of
            # the iteration times: no ratio (use small iterations, SIZES).
            "warm_over_cold_wall": wu_w / wu_c if wu_c > 0.05 * steady_c else None,
            "gc_share_cold": sum(tc[i] - mc[i] for i in range(n)) / max(1e-12, sum(tc)),
            "mutator_steady_cold_s": msteady_c,
            "mutator_warmup_cold_s": mwu_c,
            "mutator_warmup_warm_s": mwu_w,
            "mutator_warmup_window": mwindow,
            "warm_over_cold": mwu_w / mwu_c if measurable else None,
            "warm_over_cold_quartiles": spread if measurable else None,
            "noise_floor_s": noise,
            # Each run's first iteration over its own steady state.
            "first_over_steady_cold": rc[0] if rc else None,
            "first_over_steady_warm": rw[0] if rw else None,
            "steady_warm_over_cold": steady_w / steady_c if steady_c else None,
        })
        dat = os.path.join(out, name + ".dat")
        with open(dat, "w") as fh:
            fh.write("# iteration cold_s warm_s (medians over %d runs), then the same on mutator"
                     " time over each run's own steady iteration (the warm-up columns' curves)\n"
                     % repeat)
            for i in range(n):
                fh.write("%d %.9f %.9f %.3f %.3f\n" % (i, tc[i], tw[i], mrc[i], mrw[i]))
        if gnuplot:
            png = _has_png(gnuplot)
            ext = ".png" if png else ".svg"
            script = ("set terminal pngcairo size 800,480\n" if png else "set terminal svg size 800,480\n")
            script += ('set output "%s"\nset title "%s%s: per-iteration time, cold vs warm cache"\n'
                       'set xlabel "iteration"\nset ylabel "milliseconds"\nset logscale y\nset grid\n'
                       'plot "%s" using 1:($2*1000) with linespoints title "cold (empty cache)", '
                       '"%s" using 1:($3*1000) with linespoints title "warm (reloaded)"\n'
                       % (os.path.join(out, name + ext), name, " " + size if size else "", dat, dat))
            subprocess.run([gnuplot], input=script, text=True, check=False)

    def f(v, fmt="%.2f"):
        return "-" if v is None else fmt % v

    lines = ["%-15s %5s %5s %5s %5s %5s %9s %9s %9s %9s %9s %8s %9s %8s %4s %7s" % (
        "bench", "comp", "reld", "wcomp", "miss", "tails", "rel/comp", "warmup_c", "warmup_w",
        "warm/cold", "(q1-q3)", "w/c wall", "1st/std_w", "std w/c", "gc", "output")]
    for r in rows:
        q = r["warm_over_cold_quartiles"]
        lines.append("%-15s %5d %5d %5d %5d %5s %9s %7.2fms %7.2fms %9s %9s %8s %9s %8s %3.0f%% %7s" % (
            r["bench"], r["compiled_cold"], r["reloaded_warm"], r["compiled_warm"], r["misses_warm"],
            "%d/%d" % (r["tails_validated_warm"], r["tail_guards_warm"]),
            f(r["reload_vs_compile"], "%.1fx"), r["mutator_warmup_cold_s"] * 1e3,
            r["mutator_warmup_warm_s"] * 1e3, f(r["warm_over_cold"]),
            "%.2f-%.2f" % q if q else "-", f(r["warm_over_cold_wall"]),
            f(r["first_over_steady_warm"]), f(r["steady_warm_over_cold"]), 100 * r["gc_share_cold"],
            "same" if r["same_output"] else "DIFF"))
    lines.append("(warm/cold target <= 0.25, on mutator time (garbage collections left out; "
                 "'w/c wall' counts them; q1-q3: quartiles of the same ratio taken per repeat, "
                 "with 4 repeats or more); 1st/std_w target <= 2 on %s; std w/c target ~1; "
                 "tails: validated/written; gc: the cold run's share of time collecting)"
                 % ", ".join(FIRST_ITERATION_TARGETS))
    ratios = [ratio(t, cs) for t, cs in all_pairs]
    strict = [ratio(t, cs, True) for t, cs in all_pairs]
    with_ahead = [ratio(t, cs, ahead=True) for t, cs in all_pairs]
    us = lambda v: f(median(v), "%.2f")
    # The same median from each repeat's runs alone (one cold, one warm
    # run per benchmark, no minimum over repeats): how far it moves from
    # one pass over the suite to the next on this machine.
    per_rep = sorted(median([ratio(t, cs) for t, cs in p]) for p in by_repeat if p)
    lines.append("reload vs compile, median over all %d reloads of the suite: %s (target >= 20x); "
                 "counted strictly: %s; from each repeat alone: %s"
                 % (len(ratios), f(median(ratios), "%.1fx"), f(median(strict), "%.1fx"),
                    " ".join("%.1fx" % v for v in per_rep)))
    # A lazy bridge is reloaded alone; a loop with the chain its check
    # followed, and only a loop's check is a checking iteration (bridges
    # are bound statically by default): their ratios differ in kind.
    kinds = []
    for name, lazy in (("lazy bridges", True), ("loops", False)):
        v = [x for x, (t, _) in zip(ratios, all_pairs) if t["bridge"] == lazy]
        if v:
            q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
            kinds.append("%s %d: %s (q1 %s, q3 %s)" % (name, len(v), f(median(v), "%.1fx"),
                                                       f(q[0], "%.1fx"), f(q[2], "%.1fx")))
    lines.append("  by kind: " + "; ".join(kinds))
    # A bridge written ahead (lib/ahead.c) was copied, relocated and written
    # by the commit of its parent's family, which paid for it: counted that
    # way the bridges look cheaper and the loops dearer than their own work.
    # The same ratios with each trace's share of the writing ahead charged
    # to it (and taken off the commit that did it; what was written ahead
    # and never reloaded is then in no trace's cost, only in the last line).
    kinds = []
    for name, lazy in (("lazy bridges", True), ("loops", False)):
        v = [x for x, (t, _) in zip(with_ahead, all_pairs) if t["bridge"] == lazy]
        if v:
            kinds.append("%s %s" % (name, f(median(v), "%.1fx")))
    lines.append("  with each trace's writing ahead charged to it: %s; %s"
                 % (f(median(with_ahead), "%.1fx"), "; ".join(kinds)))
    comp = [c for _, cs in all_pairs for c in cs]
    rel = [t for t, _ in all_pairs]
    lines.append("  compile, median us: recording %s (of which hook %s) + optimizing %s + assembling %s"
                 % (us([c["wall_ns"] / 1e3 for c in comp]), us([c["hook_ns"] / 1e3 for c in comp]),
                    us([c["opt_ns"] / 1e3 for c in comp]), us([c["asm_ns"] / 1e3 for c in comp])))
    lines.append("  reload,  median us: lookup %s + check hook %s (whole iteration %s) + commit %s"
                 " + VM trace %s"
                 % (us([t["lookup_ns"] / 1e3 for t in rel]), us([t["hook_ns"] / 1e3 for t in rel]),
                    us([t["wall_ns"] / 1e3 for t in rel]), us([t["commit_ns"] / 1e3 for t in rel]),
                    us([t["build_ns"] / 1e3 for t in rel])))
    # A process's first reload (a loop: its check, and its commit reading
    # its family and writing its bridges ahead, on code and memory the
    # process has not touched yet) weighs on the loops' figures and on
    # warm-up out of proportion to one trace in a hundred.
    if firsts:
        fq = statistics.quantiles([a for a, _ in firsts], n=4) if len(firsts) > 1 else [firsts[0][0]] * 3
        lines.append("  first reload of each warm process, us: median %s (q1 %s, q3 %s) over %d"
                     " processes; its share of the process's reload work: median %s"
                     % (f(median([a / 1e3 for a, _ in firsts]), "%.1f"), f(fq[0] / 1e3, "%.1f"),
                        f(fq[2] / 1e3, "%.1f"), len(firsts),
                        f(100 * median([a / b for a, b in firsts if b]), "%.0f%%")))
    # Everything the JIT did, not only the traces paired above: recordings
    # that failed, checks dropped to try again (jit_check_defer), checks
    # that missed, tail checks, traces compiled in the warm run.
    def work(run_name, kinds):
        return [(k, side.get((run_name, k), [0, 0])) for k in kinds]
    def describe(items):
        return " + ".join("%s %.2f ms (%d)" % (k, v[1] / 1e6 / repeat, v[0] / repeat)
                          for k, v in items)
    cold = work("cold", ("compile", "abort", "prefetch", "populate"))
    warm = work("warm", ("reload", "tail", "defer", "miss", "compile", "abort", "prefetch",
                         "populate"))
    tc_all, tw_all = sum(v[1] for _, v in cold), sum(v[1] for _, v in warm)
    lines.append("all JIT work per pass over the suite (mean of %d; count in parentheses): "
                 "cold %s; warm %s; cold/warm %s"
                 % (repeat, describe(cold), describe(warm),
                    f(tc_all / tw_all if tw_all else None, "%.1fx")))
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(out, "table.txt"), "w") as fh:
        fh.write(table + "\n")
    with open(os.path.join(out, "summary.json"), "w") as fh:
        json.dump({"rows": rows, "reload_vs_compile_median": median(ratios),
                   "jit_work_ns": {"%s_%s" % k: v[1] / repeat for k, v in side.items()},
                   "jit_work_cold_over_warm": tc_all / tw_all if tw_all else None,
                   "reload_vs_compile_strict_median": median(strict),
                   "reload_vs_compile_with_ahead_median": median(with_ahead),
                   "reload_vs_compile_median_per_repeat": per_rep,
                   "first_reload_ns": [a for a, _ in firsts],
                   "iterations": iters, "repeat": repeat}, fh, indent=1)
    return 0 if all(r["same_output"] for r in rows) else 1


def _has_png(gnuplot):
    p = subprocess.run([gnuplot, "-e", "set terminal"], capture_output=True, text=True)
    return "pngcairo" in (p.stdout + p.stderr)


if __name__ == "__main__":
    sys.exit(main())
