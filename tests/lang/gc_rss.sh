#!/usr/bin/env bash
# gc_rss.sh — check that an allocation-heavy program runs in bounded memory.
#
#   tests/lang/gc_rss.sh JCVM_BINARY
#
# Runs bench/programs/binary-trees.jc for 1 and for 8 iterations and
# compares the peak resident set sizes (from /usr/bin/time): eight times the
# work must not need more than 1.5x the memory.  Needs GNU time.
set -u
jcvm=${1:?usage: $0 JCVM_BINARY}
root=$(cd "$(dirname "$0")/../.." && pwd)
prog=$root/bench/programs/binary-trees.jc
if [ ! -x /usr/bin/time ]; then
  echo "gc_rss.sh: /usr/bin/time not found; skipped"
  exit 0
fi
rss() { /usr/bin/time -f '%M' "$jcvm" "$prog" "$1" 2>&1 >/dev/null | tail -1; }
one=$(rss 1)
eight=$(rss 8)
echo "max RSS: 1 iteration ${one} KiB, 8 iterations ${eight} KiB"
if [ "$eight" -gt $((one * 3 / 2)) ]; then
  echo "FAIL: memory grows with the number of iterations"
  exit 1
fi
echo "ok"
