/*
** examples/toytrace.h — a tiny hand-written "JIT" that drives libjcache.
**
** It emits one real x86-64 loop trace and one bridge, the way a JIT backend
** would, and records them: a tape of green decisions and binds, bound and
** symbol slots, ABS64 / ABS32 / REL32 relocations, a guard exit, a patch
** point with its tail-guard stub.  The demo, the tests and the benchmarks
** all use it, so that they exercise the library on real machine code.
**
** The loop trace is a function long f(long x):
**     if (x > 100) exit 0              (guard 0; a bridge may attach)
**     return helper(K + x + D) + T     (helper: a symbol, called via REL32)
** K is an ABS64 constant, D an ABS32 one and T an ABS64 one bound in the
** tail, after guard 0.  Exit 0's stub returns -1, the tail guard's stub -2.
**
** The bridge from exit 0 computes x -= B (B an ABS32 constant) and jumps
** back to the loop's entry (a REL32 to the family's root).
**
** Tape of the loop:   GREEN(1, TOY_KIND_OP, fp) BIND(K) BIND(D) GUARD(0, pass)
**                     GREEN(2, TOY_KIND_OP, fp2) BIND(T)
** Tape of the bridge: GREEN(3, TOY_KIND_OP, fp3) BIND(B)
*/
#ifndef JC_TOYTRACE_H
#define JC_TOYTRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "jcache/jcache.h"

#define TOY_KIND_OP 1
#define TOY_EXIT_MARK (-1)
#define TOY_TAIL_MARK (-2)
/* Outcome fingerprints of guard 0 (x > 100?). */
#define TOY_GUARD_PASS 1
#define TOY_GUARD_EXIT 2

/* Exit 0 as a slot exit (jc_rec_exit_slot): the guard jumps to
** `movabs rax, slot; jmp [rax]`, and attaching a bridge is a store into the
** slot.  Off by default: a rel32 exit (jc_rec_exit), patched in the code.
** Loops compiled while it is on keep it for their life. */
extern bool toy_slot_exits;

/* Green fingerprints: a changed program has other ones. */
typedef struct toy_greens {
  uint64_t fp1, fp2, fp3;
} toy_greens;

extern const toy_greens toy_default_greens;

/* The constants one run binds. */
typedef struct toy_consts {
  uint64_t K;
  int32_t D;
  uint64_t T;
  int32_t B;
} toy_consts;

typedef long (*toy_fn)(long);

/* The helper the loop calls: returns 2 * v. */
long toy_helper(long v);
/* Resolver for the symbol "toy_helper". */
uint64_t toy_resolve(void *ctx, const char *name);
/* What f(x) returns with these constants (bridge attached and tail
** validated), computed in C. */
long toy_expect(const toy_consts *c, long x);

/* "Compile" the loop: emit into the arena, record, persist.  *out is the live
** trace.  `pad` extra bytes of nops make a bigger trace (benchmarks). */
jc_err toy_compile_loop(jc_cache *cache, jc_key key, const toy_greens *g,
                        const toy_consts *c, uint32_t pad, jc_trace **out);
/* "Compile" the bridge of exit 0 of `loop`, attach it, persist it. */
jc_err toy_compile_bridge(jc_cache *cache, jc_trace *loop, const toy_greens *g,
                          const toy_consts *c, jc_trace **out);

/* Run the checking iteration of the loop for argument x against the
** candidates of `key` and commit: the calls a VM makes on reload.  x > 100
** leaves through guard 0 (into the bridge, if one was saved).  Returns the
** first failing status; out/n as for jc_replay_commit. */
jc_err toy_reload(jc_cache *cache, jc_key key, const toy_greens *g,
                  const toy_consts *c, long x, jc_trace **out, size_t cap,
                  size_t *n);
/* Check the loop's pending tail (after guard 0) and validate it. */
jc_err toy_check_tail(jc_trace *loop, const toy_greens *g, const toy_consts *c);

#endif
