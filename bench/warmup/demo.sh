#!/usr/bin/env bash
# demo.sh — `make demo`: one benchmark cold (empty cache), then warm, with
# both warm-up curves and the difference.
#
#   bench/warmup/demo.sh JCVM [BENCH] [ITERATIONS]     (default nbody 20)
set -eu
jcvm=${1:?usage: demo.sh JCVM [BENCH] [ITERATIONS]}
bench=${2:-nbody}
iters=${3:-20}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/warmup-demo
python3 "$root/bench/warmup/warmup.py" "$jcvm" --iterations "$iters" --repeat 3 --out "$out" "$bench" >"$out.table" 2>&1 || true
echo "== $bench: per-iteration time (ms, median of 3 runs), cold (empty cache) vs warm (reloaded traces)"
awk 'NR > 1 { printf "  iteration %3d   cold %9.3f   warm %9.3f\n", $1, $2 * 1000, $3 * 1000 }' "$out/$bench.dat" | head -12
echo
cat "$out.table"
python3 - "$out/$bench.warm.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("warm run: %d loops and %d bridges reloaded, %d compiled; %d replay hits, %d misses;"
      " replay %.3f ms, commit %.3f ms" % (d["reloaded_loops"], d["reloaded_bridges"],
      d["loops"] + d["bridges"], d["replay_hits"], d["replay_misses"], d["replay_ns"] / 1e6,
      d["commit_ns"] / 1e6))
PY
ls "$out/$bench".png "$out/$bench".svg 2>/dev/null | sed 's/^/plot: /' || true
