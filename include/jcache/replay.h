/*
** jcache/replay.h — checking a candidate, binding its constants, committing.
**
** When a loop gets hot and jc_lookup() found candidates, the client runs one
** iteration of the loop in its interpreter in checking mode and reports, in
** order, every green decision (jc_replay_green), every constant the trace
** embeds (jc_replay_bind) and every guard it passes (jc_replay_guard) — the
** same calls, at the same points, as its tracer made to the recorder.  All
** candidates are checked at once; each call answers JC_OK (a hit: at least
** one candidate still agrees) or JC_MISS (none does: drop the cursor and
** trace normally).
**
** If the checking iteration leaves the trace through guard n's exit and a
** saved bridge exists for that exit, the cursor switches into the bridge's
** tape; loop and bridge are then committed together, and the loop's tail
** after guard n, which was not checked, gets a temporary tail guard.
**
** jc_replay_commit() copies the code of the surviving candidate (and its
** checked bridges) into the code arena, resolves symbols, patches every
** relocation, attaches the bridges to their exits, writes the tail guards,
** makes the code executable and returns the live traces.
**
** Tails: when a tail guard fires, the client checks the tail with a cursor
** from jc_tail_begin() and the same calls, from the trace's entry.  jc_replay_commit() on it
** validates the tail (its deferred relocations are patched and the patch
** point is restored with one aligned atomic store); a miss invalidates it (the
** tail guard stays an exit for good); jc_replay_abort() leaves it pending.
** A check that leaves through a guard inside the tail has checked the tail
** up to that guard: committing it moves the tail guard after that guard.
**
** Thread safety: a cursor belongs to one thread at a time; cursors on the
** same cache may run in parallel, and commits are serialized internally.
*/
#ifndef JCACHE_REPLAY_H
#define JCACHE_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jcache/cache.h>
#include <jcache/rec.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jc_replay jc_replay;

/* Resolves a symbol slot's name to an address; 0 means unknown (a miss). */
typedef uint64_t (*jc_resolver)(void *ctx, const char *name);

/* Longest chain committed at once: a loop and its nested bridges. */
#define JC_MAX_CHAIN 16

/* Start checking the candidates of a jc_lookup() (a loop key, or a bridge
** key for a lazy bridge: then the parent must be a live trace).  The cursor
** holds on to `cands` until it is finished; release them afterwards. */
jc_err jc_replay_begin(jc_cache *cache, jc_cands *cands, jc_resolver resolve,
                       void *resolve_ctx, jc_replay **out);

/* A green decision: JC_OK on a hit, JC_MISS when no candidate agrees. */
jc_err jc_replay_green(jc_replay *r, uint32_t site, uint16_t kind,
                       uint64_t fp);
/* The constant that the tape's next BIND entry stands for, met now. */
jc_err jc_replay_bind(jc_replay *r, uint64_t value);
/* Guard n is passed (exit_taken false) or left through its exit (true). */
jc_err jc_replay_guard(jc_replay *r, uint32_t guard, bool exit_taken);
/* Guard n met with outcome fingerprint `fp` (as given to jc_rec_guard_fp).
** Each candidate whose recorded fingerprint equals fp passes the guard; each
** other candidate leaves through exit n there (into its saved bridges, if
** any, with the rest of its tape an unchecked tail).  Returns:
**   JC_OK      some candidate passed: go on reporting this trace's decisions
**              (candidates that left into bridges here are dropped: the
**              checking iteration follows the trace that continues);
**   JC_BRIDGE  none passed, but saved bridges of exit n go on: from the next
**              call on, report what the tracer recorded for a bridge of that
**              exit, from its start (the client's recorder restarts there);
**   JC_EXIT    every surviving candidate ended at an exit without a bridge:
**              stop checking and commit;
**   JC_MISS    no candidate is left. */
jc_err jc_replay_guard_fp(jc_replay *r, uint32_t guard, uint64_t fp);

/* Bind without an iteration: from now on every GUARD entry of the tapes
** counts as passed without being reported, and green and bind step over
** them (as do the tapes' ends at commit).  For a client that knows, without
** running the trace's iteration, every decision and constant a candidate
** needs and that its guards will hold at run time (jcvm binds a lazy bridge
** so, from where its objects come from): it reports only GREEN and BIND
** entries, and green fingerprints are compared as usual.  Not for a tail
** cursor (JC_STATE). */
jc_err jc_replay_pass_guards(jc_replay *r);

/* One answer of jc_replay_feed: a green decision or a constant met. */
enum { JC_ANS_GREEN = 1, JC_ANS_BIND = 2 };
typedef struct jc_replay_ans {
  uint8_t op;     /* JC_ANS_GREEN or JC_ANS_BIND */
  uint16_t kind;  /* GREEN: as jc_replay_green's */
  uint32_t site;  /* GREEN: as jc_replay_green's */
  uint64_t value; /* GREEN: the fingerprint; BIND: the constant */
} jc_replay_ans;
/* Answers a[0..n), in order, as that many jc_replay_green and
** jc_replay_bind calls would be: the same results, the same counters and
** probes, for a fraction of their cost when one candidate is followed (a
** client that binds without an iteration reports a whole tape at once).
** Stops at the first answer that is not JC_OK and returns its result
** (JC_INVAL for an op that is neither). */
jc_err jc_replay_feed(jc_replay *r, const jc_replay_ans *a, size_t n);

/* Commit the first candidate whose tape was consumed to its end (or which
** was left through an exit).  out[0] is the loop (or the lazy bridge),
** out[i] the bridge attached to out[i-1]; *n is the count.  A REL32 out of
** range or an unresolved symbol is a miss (JC_RANGE / JC_SYMBOL), never a
** crash.  The cursor is freed whatever the result.  For a tail cursor, out
** may be NULL, and the result says what became of the tail:
**   JC_OK      checked to the end: validated, the tail guards lifted;
**   JC_EXIT    left through guard m inside the tail: the part up to m is
**              validated (its relocations patched) and the tail guards now
**              wait at the patch points declared after m; still pending,
**              checked from the entry after m the next time one fires;
**   JC_STATE   pending as it was (the check left the trace's path before
**              the tail, or the patch points after m do not cover the rest);
**   JC_MISS    invalidated (a miss in the tail). */
jc_err jc_replay_commit(jc_replay *r, jc_trace **out, size_t cap, size_t *n);

/* Reload candidate i of a lookup bound without an iteration, without a
** cursor: a[0..n) answer its whole tape (its GREEN and BIND entries in
** order; its guards count as passed).  The same checks, counters, probes
** and results as jc_replay_begin on that candidate alone,
** jc_replay_pass_guards, jc_replay_feed(a, n) and jc_replay_commit, for
** less: nothing is allocated but what the commit keeps.  An answer that
** differs from the tape, or a tape not answered to its end, is JC_MISS
** (counted, nothing committed).  The candidates stay the caller's: on a
** miss it may still begin a cursor on them and check. */
jc_err jc_replay_static(jc_cache *cache, const jc_cands *cands, size_t i,
                        jc_resolver resolve, void *resolve_ctx,
                        const jc_replay_ans *a, size_t n, jc_trace **out,
                        size_t cap, size_t *nout);

/* Drop the cursor without committing.  NULL is accepted. */
void jc_replay_abort(jc_replay *r);

/* Check the unchecked tail after guard `after_guard` (JC_GUARD_ANY: the
** pending tail, whichever guard it follows) of a live trace whose tail guard
** fired.  The client reports the whole iteration again, from the trace's
** entry, with the same calls as the first check: decisions before the tail
** are compared with what the trace was committed with (greens by
** fingerprint, binds by value, guards by their recorded outcome, the guard
** the first check left through included).  If this iteration's path differs
** there, the call answers JC_EXIT: it is not the trace's path, and the tail
** stays pending (commit answers JC_STATE).  In the tail too, another kind of
** entry, another site or another guard number is another path (JC_EXIT,
** pending); the expected guard with another outcome ends the check at that
** guard's exit (JC_EXIT), and committing moves the tail after it.  Only a
** green decision at the same site with another fingerprint is a miss,
** which invalidates the tail for good: the program is not what the tail was
** recorded from. */
jc_err jc_tail_begin(jc_trace *trace, uint32_t after_guard, jc_replay **out);

#ifdef __cplusplus
}
#endif
#endif
