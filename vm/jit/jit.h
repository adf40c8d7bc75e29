/*
** vm/jit/jit.h — the tracing JIT: traces, the JIT state, and the interface
** the interpreter uses (hot loops, the recording hook, trace entry).
**
** Pipeline (one file per stage, see docs/JIT.md):
**   record.c   hot loop / hot exit -> IR + snapshots + tape
**   opt_fold.c constant folding      opt_cse.c  CSE, redundant guards, forwarding
**   opt_loop.c loop-invariant code motion (the preamble)
**   opt_dce.c  dead code elimination
**   regalloc.c linear-scan register allocation
**   asm_x86.c  x86-64 machine code, exit stubs (emit_x86.h: the encoder)
**   jit.c      trace registry, entry and exits, bridges, stats, flags
*/
#ifndef VM_JIT_JIT_H
#define VM_JIT_JIT_H

#include <stdio.h>

#include <jcache/jcache.h>

#include "../vm.h"
#include "ir.h"

/* Limits of one trace. */
#define JIT_MAX_IR 4000       /* instructions, constants included */
#define JIT_MAX_SNAP 600      /* snapshots */
#define JIT_MAX_SNAPENT 30000 /* snapshot entries */
#define JIT_MAX_DEPTH 8       /* inlined call frames */
#define JIT_MAX_SLOTS 1024    /* frame slots reachable from the trace base */
#define JIT_MAX_SPILL 64      /* spill slots (8 bytes) in the native frame */
#define JIT_MAX_TAPE 4000
#define JIT_MAX_BYTECODES 3000 /* bytecodes recorded before "too long" */
#define JIT_MAX_BRIDGES 32     /* bridges per loop trace (its family) */
/* Checking iterations tried on one loop or exit before it is traced.  A miss
** is often the path of the moment, not a stale cache: a polymorphic exit
** sees another receiver class than the one its saved bridge was recorded
** with, and the next exit through it usually meets the recorded one. */
#ifndef JIT_CHECK_TRIES /* -D to experiment */
#define JIT_CHECK_TRIES 8
#endif
#define JIT_CHECK_NONE 255 /* nothing saved: never look again */
/* Past the checks, for an exit (exit_checks) about to be recorded: the
** cache's give-ups were asked (nothing there), or an earlier run gave up
** on it (persist.c, jit_giveup_ask): recorded late, once. */
#define JIT_CHECK_ASKED 253
#define JIT_CHECK_GIVEUP 254
/* Recordings that abort before the JIT gives up on a loop (blacklisted) or
** an exit (no bridge is recorded there again). */
#define JIT_LOOP_GIVEUP 6
#define JIT_EXIT_GIVEUP 4
/* A loop or exit an earlier run gave up on (a give-up in the cache) is
** recorded once more, this many times later than usual, in case the
** program changed where its key does not show; an abort then gives up at
** once. */
#define JIT_GIVEUP_LATE 64
/* The exit a tail guard's stub returns (in place of a snapshot number):
** at the trace's entry, or after a guard of snapshot s (JIT_TAIL_AT | s). */
#define JIT_TAIL_EXIT 0xffffffffu
#define JIT_TAIL_AT 0x80000000u
/* Entries checked after a tail guard fires, besides the first: paths often
** alternate, and the entry right after the one that fired is the least
** likely to go the tail's way.  Then the tail waits for the next firing. */
#ifndef JIT_TAIL_REARM
#define JIT_TAIL_REARM 4
#endif
/* Tail checks without a verdict (the iteration took another path) before a
** reloaded trace whose tail stays unchecked is dropped and traced afresh. */
#ifndef JIT_TAIL_TRIES
#define JIT_TAIL_TRIES 32
#endif
/* Allocation sinking: per snapshot, the sunk objects an exit may rebuild and
** their field values, which the exit stub writes to the scratch area of the
** VM stack above the frame (base + JIT_MAX_SLOTS, see opt_sink.c). */
#define JIT_MAX_SUNKOBJ 64
#define JIT_MAX_MATVAL 256

/* Relocations the persistent cache will need (issue 4). */
typedef enum {
  JIT_RELOC_ABS64 = 1, /* a movabs imm64 (a constant when there are no cells) */
  JIT_RELOC_CALL = 2,
  JIT_RELOC_TRACE = 3,
  JIT_RELOC_CELL = 4 /* the rel32 of mov r, [rip + cell of BIND slot] */
} jit_reloc_kind;

typedef struct jit_reloc {
  uint32_t off;  /* code offset of the 8-byte immediate / rel32 field */
  uint8_t kind;  /* jit_reloc_kind */
  uint32_t bind; /* ABS64, CELL: BIND slot; CALL: helper index; TRACE: 0 = root head */
} jit_reloc;

typedef struct jit_line {
  uint32_t off;  /* code offset */
  uint32_t line; /* source line */
} jit_line;

typedef struct jit_trace jit_trace;
struct jit_trace {
  uint32_t id;
  jit_trace *root;   /* the loop trace of this family (itself for a loop) */
  jit_trace *parent; /* bridges: the trace whose exit this is attached to */
  uint32_t parent_snap;
  vm_code *code;     /* code object of the root frame */
  uint32_t head_pc;  /* loop head (index into code->insns) */
  uint32_t backedge_pc; /* loops: the LOOP/FORLOOP whose ic->target is this trace */
  bool stops;        /* a root trace that ends with an EXIT, not a LOOP (no
                        preamble: it does not iterate) */

  jit_ins *ir;
  uint32_t nir, loopref;
  vm_root gcroot; /* gcrefs[0 .. ngcref) as a GC root, while ngcref */
  jit_snap *snaps;
  uint32_t nsnap;
  jit_snapent *snapents;
  uint32_t nsnapent;
  jit_snapframe *snapframes;
  uint32_t nsnapframe;
  jit_tapeent *tape;
  uint32_t ntape;

  /* Machine code. */
  uint8_t *mcode;
  uint32_t msize;
  uint32_t head_off;     /* loop head (the body), after the preamble */
  uint32_t preamble_off; /* where bridges jump back to (root) */
  uint32_t patch_off;    /* the patch point: 8 bytes of nop at the trace's entry
                            (a loop's preamble, a bridge's start) that a tail
                            guard replaces while the trace is unchecked */
  uint32_t tail_off;     /* the tail guard's stub: exit JIT_TAIL_EXIT */
  /* A loop's patch points after guards (asm_x86.c): where a reloaded loop
  ** whose check left at that guard waits for its tail instead of at its
  ** entry, and the stub that then exits JIT_TAIL_AT | snap. */
  struct jit_guardpp { uint32_t snap, off, target, skip; } *gpp; /* skip: see asm_x86.c */
  uint32_t ngpp;
  bool tail_armed; /* a guard's tail guard fired: check the next entry */
  uint8_t tail_rearm; /* entries still to check since the tail guard last fired */
  uint32_t *snap_count;  /* per snapshot: times taken (side-exit counter) */
  uint64_t *exit_slot;   /* compiled here: per snapshot, the slot that exit jumps
                            through (reloaded code's are libjcache's) */
  jc_trace *jt;          /* libjcache's handle (gdb/perf, cache ids, attach); may be NULL */
  bool reloaded;         /* code came from the cache (no IR, no tape); T is
                            then one jc_mem block that also holds
                            snapframes, snap_count, bridges, exit_dead,
                            exit_checks, gcrefs, matcls and matcls_bind
                            (persist.c from_jc); its snaps are read in
                            place, in its jc_trace's aux */
  uint64_t *bindv;       /* per BIND slot: the pointer bound (recording only) */
  uint32_t nbind;
  uint64_t *cells;       /* compiled here: per BIND slot, the cell the code
                            loads that pointer from (libjcache's data memory
                            next to the code); reloaded code's are libjcache's */
  jit_trace **bridges;   /* per snapshot: attached bridge */
  uint8_t *exit_dead;    /* per snapshot: bridge recording failed too often */
  uint8_t *exit_checks;  /* per snapshot: cached bridges checked and missed, or
                            JIT_CHECK_NONE (nothing saved for the exit) */
  jit_reloc *relocs;
  uint32_t nreloc;
  jit_line *lines;
  uint32_t nline;

  uint8_t tail_tries; /* tail checks that ended without a verdict */
  /* Exit programs of the snapshots that rebuild sunk objects (opt_sink.c
  ** builds them, persist.c saves and reloads them, jit.c runs them).  A
  ** reloaded trace's point into its aux (libjcache's copy, held by jt). */
  uint32_t *matprog;
  uint32_t nmatprog;
  vm_class **matcls;     /* the classes they allocate */
  uint32_t *matcls_bind; /* and their BIND slots */
  uint32_t nmatcls;

  vm_value *gcrefs; /* every object the code embeds, registered as GC roots */
  uint32_t ngcref;
  uint32_t nbridges; /* loops: bridges in the family */
  jit_trace *next;
};

typedef struct jit_stats {
  uint64_t loops, bridges, aborts;
  uint64_t tracing_ns, optimizing_ns, assembling_ns;
  uint64_t code_bytes, guard_exits, entries;
  uint64_t sunk;         /* allocations removed by opt_sink.c */
  uint64_t materialized; /* sunk objects rebuilt by exits */
  /* The persistent cache (persist.c). */
  uint64_t reloaded_loops, reloaded_bridges, replay_hits, replay_misses;
  uint64_t tail_guards, tails_validated, tails_invalidated, not_persisted;
  uint64_t tails_moved; /* tail checks that left inside the tail: moved after that guard */
  uint64_t checks_deferred; /* checks dropped to try a later iteration (jit_check_defer) */
  /* Loops and lazy bridges bound without a checking iteration (static.c):
  ** reloaded so, left to their check (no origin for some object), fed but
  ** missed (then checked), and with --jit-static=verify the checks whose
  ** binds agreed or disagreed with what static binding found. */
  uint64_t static_traces, static_fallbacks, static_misses, static_agreed, static_disagreed;
  /* Reloads whose aux the prefetch thread had decoded and checked
  ** (persist.c, jit_aux_prepare); with --jit-prepare=verify, how many also
  ** walked whole gave the same answer, and how many were accepted by the
  ** prepared check only (a defect: tests fail on it). */
  uint64_t prepared, prepare_agreed, prepare_disagreed;
  uint64_t replay_ns, commit_ns;
  /* Loops and exits given up on (every recording aborted): saved in the
  ** cache, and found there (an earlier run gave up: recorded late, once). */
  uint64_t giveups_saved, giveups_found;
} jit_stats;

/* Per-trace cost, for the warm-up harness (bench/warmup/warmup.py), by cache
** id: a trace compiled (the recording iteration, optimizing, assembling), a
** check that reloaded a chain of traces (lookup, the checking iteration,
** commit, the VM's own trace), or a tail check.  And, with id 0, the work
** that produced no trace: a recording or compile that failed (abort), a
** check dropped to try again later (defer, jit_check_defer), a check that
** missed (miss; the loop is then traced).  An iteration's wall time
** includes the interpreter running it; hook_ns is the part spent in the
** recorder's hook (the recording's or the check's own cost), timed only
** when --jit-stats-json asks for it, less the timer's own cost. */
typedef enum {
  JIT_COST_COMPILE, JIT_COST_RELOAD, JIT_COST_TAIL, JIT_COST_ABORT, JIT_COST_DEFER, JIT_COST_MISS
} jit_costkind;

typedef struct jit_costlog {
  uint64_t id;
  uint8_t kind;   /* jit_costkind */
  uint8_t bridge;
  uint8_t chain;  /* reload: traces committed together, this one first (the
                     others of the chain follow with chain 0 and no costs) */
  uint64_t at_ns;  /* when it was logged, since the JIT started */
  uint64_t wall_ns, hook_ns;
  uint64_t lookup_ns, opt_ns, asm_ns, commit_ns, build_ns;
  /* A reload's part in writing ahead (jc_trace_ahead_ns): what writing its
  ** traces ahead took, before (not in commit_ns), and what its commit
  ** spent writing others ahead (in commit_ns). */
  uint64_t ahead_ns, wrote_ahead_ns;
} jit_costlog;

typedef struct jit_rec jit_rec;

/* A lazy bridge's tape, bound without its checking iteration (static.c):
** per GREEN and BIND what to report to the cursor (the fingerprint found,
** the object; guards are passed), and the objects per BIND slot. */
typedef struct jit_static {
  jc_replay_ans *ent;  /* per tape entry: per GREEN its fingerprint, per
                          BIND its object */
  void **vals;         /* per BIND slot */
  uint8_t *vouched;    /* per BIND slot: a GREEN decision is about its object */
  uint32_t cap;        /* entries of each, in one block (static.c, room) */
  uint32_t n, nbind;
  const char *why;     /* why the last resolve failed */
} jit_static;

/* --jit-static: which traces are bound without a checking iteration.  By
** default the lazy bridges; loops keep their check (it picks the candidate
** this iteration follows, reloads the bridges it goes into with the loop,
** and guards what it did not reach with a tail guard); `all` binds loops
** statically too; `verify` binds both and checks them as well. */
typedef enum { JIT_STATIC_OFF, JIT_STATIC_BRIDGES, JIT_STATIC_ALL, JIT_STATIC_VERIFY } jit_static_mode;
typedef enum { JIT_PREPARE_ON, JIT_PREPARE_OFF, JIT_PREPARE_VERIFY } jit_prepare_mode;

/* Words per tape entry in a bridge's aux (persist.c writes, static.c reads). */
#define JIT_AUX_STATIC 5

/* One back edge's JIT bookkeeping (aborts, backoff, blacklist). */
typedef struct jit_loopinfo {
  vm_code *code;
  uint32_t pc;
  uint32_t aborts;
  uint32_t skip;
  uint8_t blacklisted;
  uint8_t checks;  /* the cache's candidates checked and missed, or JIT_CHECK_NONE */
  uint8_t giveup_asked; /* the cache's give-ups were asked (jit_giveup_ask) */
} jit_loopinfo;

typedef struct jit_exitref {
  jit_trace *T;
  uint32_t snap;
} jit_exitref;

typedef struct jit_state {
  vm_vm *vm;
  bool enabled;
  bool dump_ir;
  bool no_sink;   /* --jit-no-sink: no allocation sinking (for comparisons) */
  bool no_prefetch; /* --jit-no-prefetch: lookups only when loops get hot (for comparisons) */
  bool prefetch_wait; /* --jit-prefetch-wait: the program's list fetched before it runs */
  jc_key *pf_keys;    /* back edges' keys not handed to the prefetch yet (persist.c) */
  uint32_t npf_keys, cap_pf_keys;
  bool gc_stress; /* --jit-gc-stress: every trace allocation takes its GC exit,
                     every object an exit rebuilds is allocated after a full
                     collection (tests; VM_GC_STRESS builds do the former) */
  uint32_t hot;      /* back edges before recording */
  uint32_t exit_hot; /* exits taken before recording a bridge */
  /* With the cache on, a loop or exit is looked up much earlier: a saved
  ** trace is cheap to check and reload, and it was hot in an earlier run. */
  uint32_t reload_hot; /* back edges (exits) before a loop's (bridge's) first lookup */
  jit_trace *traces;
  uint32_t ntraces;
  jit_trace **tmap; /* machine code address -> trace (open addressing) */
  uint32_t tmap_cap, tmap_n;
  jit_loopinfo *loops;
  uint32_t nloops, loops_cap;
  jit_rec *rec; /* the recorder (active while vm->jit_recording) */
  jit_stats stats;
  const char *stats_json;
  bool print_stats;
  FILE *dump;
  /* The persistent cache (persist.c). */
  bool use_cache;        /* --no-cache clears it */
  const char *cache_dir; /* --cache DIR; NULL: JCACHE_DIR or the default */
  jc_cache *cache;       /* NULL: no cache (off, or refused) */
  jit_trace *chkT;       /* scratch trace of checking iterations */
  jc_cands *chk_cands;   /* the candidates the current check follows */
  uint8_t static_mode;   /* jit_static_mode: --jit-static=off|bridges|all|verify */
  uint8_t prepare_mode;  /* jit_prepare_mode: --jit-prepare=on|off|verify */
  jit_static stat;       /* the last lazy bridge bound statically */
  uint64_t static_id;    /* verify: the candidate stat holds, until its check commits (0: none) */
  jit_costlog *costs;
  uint32_t ncosts, costs_cap;
  /* The recording or check in progress (rec_stop fills wall and hook). */
  jit_costlog cur;
  bool time_hooks;      /* time the hook (--jit-stats-json) */
  bool vzeroupper;      /* the CPU has AVX: clear upper vector state on entry */
  uint64_t hook_in;     /* a hook call in progress started then (0: none) */
  uint64_t timer_ns;    /* two clock reads (their mean), to subtract per timed call */
  uint64_t t_start;     /* jit_init */
  uint64_t t_mark;      /* the reload path's last clock reading: where its
                           next part starts (jit_cache_find_*, static
                           binding, the commit), one reading per boundary */
  /* An exit rebuilding sunk objects (jit_h_materialize): the field values
  ** and the objects allocated so far, GC roots while it allocates. */
  vm_value mat[JIT_MAX_MATVAL + JIT_MAX_SUNKOBJ];
  uint32_t nmat;
} jit_state;

/* -- jit.c ---------------------------------------------------------------- */

void jit_init(vm_vm *vm, jit_state *J);
void jit_free(jit_state *J);
/* Parse a --jit* option; 1 if taken, 0 if not a JIT option, -1 if invalid. */
int jit_option(jit_state *J, const char *arg);
void jit_report(jit_state *J);
/* The hot back edge `pc` of `frame` crossed its threshold. */
void jit_hotloop(jit_state *J, vm_frame *frame, const vm_insn *pc);
/* Run trace T from frame (its loop head, frame->pc).  On return the VM's
** frames and pcs are those of the exit taken. */
void jit_enter(jit_state *J, vm_frame *frame, jit_trace *T);
uint64_t jit_now_ns(void);
/* A timed part of a trace's cost (jit_costlog): t1 - t0, less what one
** clock read costs (J->timer_ns, calibrated with --jit-stats-json; 0
** otherwise).  Every part spans one whole read, the one that ends it: a
** lazy bridge's reload is four parts of a few hundred nanoseconds each, a
** compile three of microseconds. */
static inline uint64_t jit_part_ns(const jit_state *J, uint64_t t0, uint64_t t1)
{
  uint64_t d = t1 - t0;
  return d > J->timer_ns ? d - J->timer_ns : 0;
}
/* A recording (or compile) of the loop at pc failed, for `why`. */
void jit_loop_abort(jit_state *J, vm_code *code, uint32_t pc, const char *why);
jit_loopinfo *jit_loop_info(jit_state *J, vm_code *code, uint32_t pc);
/* Register a finished trace (root or bridge) and attach it. */
void jit_attach(jit_state *J, jit_trace *T);
/* A bridge recording (or compile) of (T, snap) failed, for `why`. */
void jit_exit_abort(jit_state *J, jit_trace *T, uint32_t snap, const char *why);
/* Content hash of a code object: bytecode, constants, names, cells' names,
** nested code; not its source lines.  Cached in the code object. */
uint64_t jit_hash_code64(vm_code *c);
/* The same, folded to 32 bits (tape sites, callee fingerprints); inline:
** every green decision of a checking iteration takes one. */
static inline uint32_t jit_hash_code(vm_code *c)
{
  uint64_t h = c->jit_hash ? c->jit_hash : jit_hash_code64(c);
  return (uint32_t)(h ^ (h >> 32));
}
/* How many BIND slots trace T has, and the object it binds in slot k (NULL
** if none): a reloaded trace's from its GC roots (persist.c reload_bind;
** nil while bound in a pending tail), a compiled one's as recorded. */
static inline uint32_t jit_trace_nbound(const jit_trace *T)
{
  return T->reloaded ? T->ngcref : T->bindv ? T->nbind : 0;
}
static inline void *jit_trace_bound(const jit_trace *T, uint32_t k)
{
  if (k >= jit_trace_nbound(T))
    return NULL;
  return T->reloaded ? T->gcrefs[k].u.p : (void *)(uintptr_t)T->bindv[k];
}
/* The trace of machine code that starts at `mcode`. */
jit_trace *jit_trace_at(jit_state *J, const uint8_t *mcode);
bool jit_tmap_add(jit_state *J, jit_trace *T);
void jit_trace_free(jit_state *J, jit_trace *T);
/* Log J->cur as trace id's cost of this kind. */
void jit_cost(jit_state *J, uint64_t id, jit_costkind kind, bool bridge, uint8_t chain);
/* The JIT's GC roots: a recording's constants, an exit's objects being
** rebuilt (called by the collector's mark phase). */
void jit_gc_mark(jit_state *J, void (*mark)(vm_vm *vm, vm_value v));
uint64_t jit_hash_class(const vm_class *c);
/* A string's content hash: the one the VM interned it with (FNV-1a), not
** recomputed per green decision; stable across runs. */
static inline uint64_t jit_hash_strobj(const vm_string *s)
{
  return s ? s->hash : 0x51ed270b;
}

/* -- record.c ------------------------------------------------------------- */

/* Start recording a loop trace: the loop head is `head` in `frame`. */
void jit_rec_start_loop(jit_state *J, vm_frame *frame, const vm_insn *backedge);
/* Start recording a bridge from exit `snap` of T; `rootframe` is the frame
** the root trace ran in (the VM frames are already restored). */
void jit_rec_start_bridge(jit_state *J, vm_frame *rootframe, jit_trace *T, uint32_t snap);
/* Interpreter hook: the instruction at `pc` of vm->frame is about to run. */
void jit_rec_ins(jit_state *J, const vm_insn *pc);
/* Mark the recording's pointer constants (a collection during recording). */
void jit_rec_gc_mark(jit_state *J, void (*mark)(vm_vm *vm, vm_value v));
/* Drop an active recording (VM teardown). */
void jit_rec_free(jit_state *J);
/* Start a checking iteration of a loop (or of a bridge from exit `snap` of
** T) against the cache's candidates in `cur` (see persist.c); the recorder
** runs in checking mode: no IR is kept, every green decision goes to the
** replay cursor.  Takes ownership of cur. */
bool jit_check_start_loop(jit_state *J, vm_frame *frame, const vm_insn *backedge, jc_replay *cur);
bool jit_check_start_bridge(jit_state *J, vm_frame *rootframe, jit_trace *T, uint32_t snap,
                            jc_replay *cur);
/* Start a tail check of reloaded trace X, whose tail guard fired: the
** iteration from X's entry (its loop head, or its parent's exit), reported
** to a jc_tail_begin cursor. */
bool jit_check_start_tail(jit_state *J, vm_frame *rootframe, jit_trace *X);

/* -- persist.c -------------------------------------------------------------- */

/* Open the cache (namespace: jcvm's build id and CPU features) and start
** its prefetch with the program's list (the program: a hash of src). */
void jit_cache_open(jit_state *J, const char *src, size_t len);
/* Make the recorder's state and the checks' scratch trace now (a warm run,
** at startup) rather than at the first check. */
void jit_rec_prepare(jit_state *J);
void jit_cache_close(jit_state *J);
/* The loop key: code content hash + back-edge pc. */
jc_key jit_loop_key(vm_code *code, uint32_t backedge_pc);
/* Have libjcache look up the key of every back edge (and the bridges
** saved for them) on its prefetch thread, so that the lookups of hot loops
** are answered from memory: the compiler gives each function as soon as it
** is compiled (jit_cache_prefetch_code), in batches, so that the thread
** starts while the rest of the program compiles; jit_cache_prefetch gives
** the main chunk, the last, and hands over every key still waiting. */
void jit_cache_prefetch_code(jit_state *J, vm_code *code);
void jit_cache_prefetch(jit_state *J, vm_code *main);
/* Give a freshly assembled trace to libjcache: persisted if the cache is on
** and the recorder can describe it, registered with gdb/perf always. */
void jit_persist(jit_state *J, jit_trace *T);
/* Look up a hot loop / a hot exit: true if candidates were found; they are
** the current check's (J->chk_cands) until jit_check_done. */
bool jit_cache_find_loop(jit_state *J, vm_code *code, uint32_t backedge_pc);
bool jit_cache_find_bridge(jit_state *J, jit_trace *P, uint32_t snap);
/* Give-ups (jcache/cache.h): did an earlier run give up on the loop key or
** bridge key `key`?  Asked once per loop or exit, when it is about to be
** recorded and nothing was reloaded there.  jit_giveup_save saves one,
** when the JIT gives up (JIT_LOOP_GIVEUP, JIT_EXIT_GIVEUP). */
bool jit_giveup_ask(jit_state *J, jc_key key);
void jit_giveup_save(jit_state *J, jc_key key, const char *why);
/* A replay cursor over the current candidates, for a checking iteration;
** NULL (and the candidates released) if none could begin. */
jc_replay *jit_check_cursor(jit_state *J);
/* The checking iteration reached its end: commit and attach; false on a miss. */
bool jit_reload_commit(jit_state *J, jc_replay *cur, vm_code *code, uint32_t backedge_pc,
                       jit_trace *parent, uint32_t snap);
/* Candidate `cand` of the current ones bound statically, its tape answered
** by a[0..na): commit and attach it (JC_OK, also when the VM then finds
** its aux unusable: a miss counted as a check's), or the library's answer
** (a miss: nothing changed, the candidates stay for a check). */
jc_err jit_reload_static(jit_state *J, size_t cand, const jc_replay_ans *a, size_t na,
                         vm_code *code, uint32_t backedge_pc, jit_trace *parent, uint32_t snap);
/* A tail check of X ended with `verdict`, what committing its cursor said
** (jc_replay_commit): JC_OK validated, JC_EXIT moved after a guard inside
** the tail, anything else pending or invalidated as the library says (an
** invalidated or hopeless X is unhooked). */
void jit_tail_done(jit_state *J, jit_trace *X, jc_err verdict, const char *why);
/* An iteration passed the guard after which X's tail waits (JIT_TAIL_AT):
** the next entry into X checks its tail instead of running it.  A loop's
** entry is the VM's (jit_enter); a bridge's is its parent's exit, which is
** pointed back at its stub until then. */
void jit_tail_arm(jit_state *J, jit_trace *X);
/* Exit `snap` of P was taken with its bridge armed (its exit came back to
** the VM): point the exit at the bridge again and check the bridge's tail
** from here; false if no check could start. */
bool jit_tail_check_bridge(jit_state *J, vm_frame *frame, jit_trace *P, uint32_t snap);
/* A check left its first trace at a guard: true (and one try counted) if
** the loop or exit may be checked again on a later iteration. */
bool jit_check_defer(jit_state *J, vm_code *code, uint32_t backedge_pc, jit_trace *parent,
                     uint32_t snap);
/* Release the current check's candidates (after its cursor is finished). */
void jit_check_done(jit_state *J);
/* The checking iteration failed (a miss, or something the recorder cannot do). */
void jit_reload_miss(jit_state *J, vm_code *code, uint32_t backedge_pc, jit_trace *parent,
                     uint32_t snap, const char *why);

/* The static section of an aux: a pointer to its *n entries
** (JIT_AUX_STATIC words each, at any alignment), or NULL if the aux is not
** one of the loop at backedge_pc of code (P NULL) or of a bridge of exit
** psnap of P.  A trace with no GREEN or BIND has an empty one. */
const uint8_t *jit_aux_static(const void *aux, size_t alen, const vm_code *code,
                              uint32_t backedge_pc, const jit_trace *P, uint32_t psnap, uint32_t *n);

/* -- static.c ------------------------------------------------------------- */

void jit_static_free(jit_static *s);
/* A hot loop (P NULL) or a hot exit snap of P with saved traces (the
** current candidates, jit_cache_find_*): reload one bound statically
** (true: committed, or missed and left to tracing as any check's miss).
** False: the caller checks the candidates (jit_check_cursor). */
bool jit_static_reload(jit_state *J, vm_code *code, uint32_t backedge_pc, jit_trace *P,
                       uint32_t snap);
/* Verify mode: the check committed trace t first; count whether its binds
** are what static binding found. */
void jit_static_verify(jit_state *J, jc_trace *t);

/* -- live.c -------------------------------------------------------------- */

/* Slots live at pc of code c (a bitset of c->nslots bits), or NULL when
** unknown (then every slot is live).  Computed once per code object. */
const uint64_t *jit_live_at(vm_code *c, uint32_t pc);
static inline bool jit_live_slot(const uint64_t *live, uint32_t r)
{
  return !live || ((live[r >> 6] >> (r & 63)) & 1);
}

/* -- ir.c ----------------------------------------------------------------- */

void jit_dump_trace(const jit_trace *T, FILE *out, const char *when);
/* Which fields of i are refs: bit 0 a, bit 1 b, bit 2 k. */
uint8_t jit_ir_refmask(const jit_ins *i);

/* -- optimizer passes ------------------------------------------------------ */

void jit_opt_fold(jit_trace *T);
void jit_opt_cse(jit_trace *T);
void jit_opt_loop(jit_trace *T);
void jit_opt_dce(jit_trace *T);
/* Allocation sinking; returns the number of allocations sunk. */
uint32_t jit_opt_sink(jit_trace *T);
/* Build T's exit programs from its snapshots' sunk-object records; false if
** a limit is exceeded (the trace is then not compiled). */
bool jit_sink_prog(jit_trace *T);
/* Rewrite all uses of refs through map[] (map[r] == r if unchanged) and
** compact the IR, dropping NOPs; updates snapshots.  Shared by the passes. */
void jit_ir_rename(jit_trace *T, const jit_ref *map);
void jit_ir_compact(jit_trace *T);

/* -- regalloc.c / asm_x86.c ----------------------------------------------- */

typedef struct jit_alloc {
  int8_t *reg;     /* per ref: register (GPR 0..15, XMM 16..31) or -1 */
  int16_t *spill;  /* per ref: spill slot or -1 */
  uint32_t *last;  /* per ref: last use position (JIT_REF_NONE: unused) */
  uint32_t nspill;
} jit_alloc;

bool jit_regalloc(const jit_trace *T, jit_alloc *A);
void jit_alloc_free(jit_alloc *A);
/* Assemble T into the code arena; false (and nothing allocated) on failure. */
bool jit_asm(jit_state *J, jit_trace *T);
/* Bytes from an exit stub's slot address field to its own way out. */
#define JIT_EXIT_CONT 10
/* Point exit `snap` of T at bridge B's entry (B NULL: back at its stub):
** one store into the exit's slot, no code written. */
bool jit_asm_link(jit_trace *T, uint32_t snap, jit_trace *B);

/* Helpers called from traces (symbol names for relocations). */
extern const char *const jit_helper_names[JIT_H__COUNT];
extern void *const jit_helper_addrs[JIT_H__COUNT];
int64_t jit_h_idiv(int64_t a, int64_t b);
int64_t jit_h_imod(int64_t a, int64_t b);
double jit_h_fidiv(double a, double b);
double jit_h_fmod(double a, double b);
double jit_h_floor(double a);
vm_string *jit_h_strchar(vm_string *s, int64_t i);
int64_t jit_h_ord(vm_string *s);
vm_array *jit_h_newarray(int64_t cap);
vm_string *jit_h_concat(vm_string *a, vm_string *b);
vm_instance *jit_h_newinst(vm_class *c);
vm_array *jit_h_reserve(vm_array *a);
vm_string *jit_h_str(int64_t payload, int64_t tag);
vm_string *jit_h_strf(double d);
void jit_h_print(int64_t payload, int64_t tag);
void jit_h_printf(double d);
void jit_h_breakpoint(void);
void jit_h_materialize(vm_value *base, uint64_t snap, const uint8_t *mcode);

static inline jit_type jit_tag_type(uint64_t tag)
{
  switch (tag) {
  case VM_T_NIL: return IRT_NIL;
  case VM_T_BOOL: return IRT_BOOL;
  case VM_T_INT: return IRT_INT;
  case VM_T_FLOAT: return IRT_FLT;
  default: return IRT_PTR;
  }
}

static inline bool jit_is_const(const jit_ins *i)
{
  return i->op <= IR_KNIL;
}

#endif
