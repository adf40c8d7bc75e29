#!/usr/bin/env python3
"""programs.py — a program's list of loops is fetched first, and only that.

    tests/soundness/programs.py JCVM

jcvm names its program to libjcache by a hash of its source
(jc_cache_prefetch_program): the prefetch thread reads the list of loops
the program's last run reloaded or saved and fetches them while the
program compiles.  The list says what to fetch, never what to run:

  - the cold run writes the list (both of its loops); the warm run reads
    both, reloads both, and prints what a run without the cache prints;
  - an edited program is another program: its first run reads no list, and
    still reloads the loop whose function the edit left alone (records are
    keyed by their own code, not by the program); its second run reads the
    list its first run wrote;
  - with --jit-no-prefetch nothing is read;
  - the runs that count what the list fetched pass --jit-prefetch-wait:
    without it, whether the thread reads the list before a short program
    ends depends on the machine's load (under AddressSanitizer on a busy
    machine, a warm run once ended before it had); waiting, the listed
    loops and their families are all fetched before the program runs, so
    no commit reads a family itself (unless the table's lock was busy at
    its look: one of up to three warm runs must read none);
  - every run prints what a run without the cache prints.
"""
import sys

from jcvmrun import run, script

PROGRAM = """
fn first(n)
  var s = 0
  for i = 0, n do s = s + i % 7 end
  return s
end
fn second(n)
  var s = 0
  for i = 0, n do s = s + i % 11 end
  return s
end
print(first(300000))
print(second(300000))
"""
WAIT = "--jit-prefetch-wait"
# Only the second loop's function changes.
EDITED = PROGRAM.replace("i % 11", "i % 13")


def checks(jcvm, tmp, check):
    ref, _ = run(jcvm, tmp, PROGRAM, "ref", cache=False)
    out_c, cold = run(jcvm, tmp, PROGRAM, "cold")
    # A commit looks its family up in the prefetch table with a trylock (a
    # lookup never waits: the thread may be descheduled holding the lock)
    # and reads the family itself if the lock is busy at that instant:
    # under load (three busy loops on two CPUs), 2 warm runs in 40 did.  A
    # family the list did not fetch is read by every run, a busy lock by
    # few: up to three warm runs, each checked.
    outs = []
    for attempt in range(3):
        out_w, warm = run(jcvm, tmp, PROGRAM, "warm%d" % attempt, WAIT)
        outs.append(out_w)
        if warm["prefetch_families_fetched"] == 0:
            break
    check(out_c == ref and all(o == ref for o in outs),
          "a run with the cache printed something else")
    check(cold["loops"] == 2, "the cold run compiled %d loops, not 2" % cold["loops"])
    check(cold["prefetch_program_keys"] == 0, "the cold run read a list")
    check(warm["prefetch_program_keys"] == 2,
          "the warm run read %d keys from the list, not 2" % warm["prefetch_program_keys"])
    check(warm["prefetch_families_fetched"] == 0,
          "the warm run's commits read %d families the list had fetched"
          % warm["prefetch_families_fetched"])
    check(warm["reloaded_loops"] == 2 and warm["loops"] == 0,
          "the warm run reloaded %d loops and compiled %d" % (warm["reloaded_loops"], warm["loops"]))

    ref_e, _ = run(jcvm, tmp, EDITED, "edited_ref", cache=False)
    out_e1, e1 = run(jcvm, tmp, EDITED, "edited1", WAIT)
    out_e2, e2 = run(jcvm, tmp, EDITED, "edited2", WAIT)
    check(out_e1 == ref_e and out_e2 == ref_e, "the edited program printed something else")
    check(e1["prefetch_program_keys"] == 0, "the edited program's first run read the old list")
    check(e1["reloaded_loops"] == 1 and e1["loops"] == 1,
          "the edited program's first run reloaded %d loops and compiled %d, not 1 and 1"
          % (e1["reloaded_loops"], e1["loops"]))
    check(e2["prefetch_program_keys"] == 2,
          "the edited program's second run read %d keys, not 2" % e2["prefetch_program_keys"])
    check(e2["reloaded_loops"] == 2, "the edited program's second run reloaded %d loops"
          % e2["reloaded_loops"])

    out_n, nopf = run(jcvm, tmp, PROGRAM, "noprefetch", "--jit-no-prefetch")
    # Not waiting: the same output, however far the thread got.
    out_nw, _ = run(jcvm, tmp, PROGRAM, "nowait")
    check(out_nw == ref, "a warm run that did not wait printed something else")
    check(out_n == ref, "--jit-no-prefetch printed something else")
    check(nopf["prefetch_program_keys"] == 0, "--jit-no-prefetch read the list")
    print("cold: %d loops; warm: %d keys listed, %d reloaded, %d families fetched by commits; "
          "edited: %d then %d keys listed" % (cold["loops"], warm["prefetch_program_keys"],
                                              warm["reloaded_loops"],
                                              warm["prefetch_families_fetched"],
                                              e1["prefetch_program_keys"],
                                              e2["prefetch_program_keys"]))


if __name__ == "__main__":
    sys.exit(script(__doc__, checks))
