/*
** jcache/rec.h — recording a trace for the cache.
**
** While the client's tracer records a loop or a bridge, it tells the recorder
** every decision that depended only on green (compile-time constant) inputs,
** and where the constants met on the way are used.  After the backend has
** assembled the trace, it declares the relocations, exits and patch points of
** the machine code and finishes the recording with the code bytes.
**
**   tape      GREEN(site, kind, fingerprint)  a green decision and its outcome
**             BIND(slot)                      a constant the replay re-binds
**             GUARD(n)                        the trace passes guard n here
**   slot      a constant re-derived at reload: bound by replay, a symbol
**             resolved by name, or an address inside the code arena
**   reloc     code offset + kind + slot + addend
**   exit      guard n's jump, where a bridge can attach: a rel32 field in
**             the code, or a slot in data memory the code jumps through
**   patch pt  8 aligned bytes after guard n where a temporary tail guard
**             (jmp rel32 to a stub in the same trace) can be written
**
** Never record raw pointers as fingerprints: record what was deduced from
** them (a class's name and layout hash, an opcode, a method's code hash).
**
** Thread safety: a jc_rec belongs to one thread at a time; any number of
** recorders may be active on one cache at once.  Errors are sticky: after a
** failed call, later calls return the same error and jc_rec_finish() does not
** persist the trace.
*/
#ifndef JCACHE_REC_H
#define JCACHE_REC_H

#include <stddef.h>
#include <stdint.h>
#include <jcache/cache.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jc_rec jc_rec;
typedef struct jc_trace jc_trace;

/* Relocation kinds (x86-64).  The patched field is at code offset `off`. */
typedef enum jc_reloc_kind {
  JC_RELOC_ABS64 = 1, /* 8 bytes: slot value + addend */
  JC_RELOC_ABS32 = 2, /* 4 bytes: slot value + addend, must sign-extend */
  JC_RELOC_REL32 = 3, /* 4 bytes: slot value + addend - (field address + 4),
                         must fit in 32 bits signed */
  JC_RELOC_CELL32 = 4 /* 4 bytes: the address of the trace's cell of this
                         slot + addend - (field address + 4).  The cell is 8
                         bytes of data memory near the code holding the
                         slot's value (code loads it: mov r, [rip+disp32]),
                         so the code bytes never depend on the value.  In a
                         reloaded trace libjcache owns the cells (next to its
                         code, jc_arena_data_alloc); in compiled code the
                         client does, and records where it loads them */
} jc_reloc_kind;

/* "ABS64", "ABS32", "REL32", "CELL32"; NULL for a kind that is none. */
const char *jc_reloc_kind_name(unsigned kind);

/* Which trace an arena slot points into. */
typedef enum jc_trace_ref {
  JC_REF_SELF = 0,   /* this trace's own code */
  JC_REF_PARENT = 1, /* a bridge's parent trace */
  JC_REF_ROOT = 2    /* the loop at the root of the family */
} jc_trace_ref;

/* Begin recording a loop under `key`, or a bridge from exit `exit` of the
** trace `parent` (a trace id returned by jc_rec_finish or a commit).
** `cache` may be NULL (no cache, or it was refused): nothing is persisted,
** but jc_rec_finish still returns a live trace with its id, exits and line
** table, so bridges attach to it and debuggers and profilers see it. */
jc_err jc_rec_begin_loop(jc_cache *cache, jc_key key, jc_rec **out);
jc_err jc_rec_begin_bridge(jc_cache *cache, uint64_t parent, uint32_t exit,
                           jc_rec **out);

/* Tape entries, in the order the tracer meets them. */
jc_err jc_rec_green(jc_rec *rec, uint32_t site, uint16_t kind, uint64_t fp);
jc_err jc_rec_bind(jc_rec *rec, uint32_t slot);
jc_err jc_rec_guard(jc_rec *rec, uint32_t guard);
/* A guard with the fingerprint of the outcome the trace expects there (e.g.
** a hash of the branch direction, or of the type or value guarded).  Replay
** with jc_replay_guard_fp() then works out by itself which candidates pass
** and which leave through the guard's exit. */
jc_err jc_rec_guard_fp(jc_rec *rec, uint32_t guard, uint64_t fp);

/* Slots; each returns the new slot's number in *slot. */
jc_err jc_rec_slot_bound(jc_rec *rec, uint32_t *slot);
jc_err jc_rec_slot_symbol(jc_rec *rec, const char *name, uint32_t *slot);
jc_err jc_rec_slot_arena(jc_rec *rec, jc_trace_ref ref, uint32_t offset,
                         uint32_t *slot);

/* Machine-code facts, declared after assembling (offsets into the code). */
jc_err jc_rec_reloc(jc_rec *rec, uint32_t off, jc_reloc_kind kind,
                    uint32_t slot, int64_t addend);
/* Guard `guard`'s exit jump; `field_off` is the offset of its rel32 field,
** which must not straddle an 8-byte boundary (so a live attach is one
** aligned atomic store). */
jc_err jc_rec_exit(jc_rec *rec, uint32_t guard, uint32_t field_off);
/* Guard `guard`'s exit jumps through a slot: an 8-byte word in data memory
** that holds the target, e.g. `movabs rax, <slot address>; jmp [rax]`.
** `field_off` is the offset of the 8 code bytes holding the slot's address
** (any alignment), `stub_off` where the exit goes with no bridge.  Attaching
** a bridge is then one atomic store into data memory, no code write at all.
** In code you compiled, the field points at a slot you own, holding
** code + stub_off, for as long as the trace lives; in reloaded code the
** library gives every slot exit a slot of its own and writes the field. */
jc_err jc_rec_exit_slot(jc_rec *rec, uint32_t guard, uint32_t field_off,
                        uint32_t stub_off);
/* A patch point for the tail after guard `after_guard`: `off` is 8-aligned
** and starts 8 bytes that may be replaced by "jmp rel32 to target_off" while
** the tail is unchecked.  Relocations in [off, end) whose slots are bound in
** the tail are patched when the tail is validated (those inside the 8 bytes
** too: the bytes put back carry them), so code that uses them must run only
** through the patch point; other code in the range may run, and is left
** as it is.  Any 8 bytes of code qualify, not only nops: the jump lands on
** client code (target_off) that may, for instance, redo the guard's own
** branch before it leaves.
**
** A check that leaves through guard g gets its tail guard at all the patch
** points recorded for g if together they cover every relocation on a slot
** the tail binds (each in one's [off, end)), never at only some of them;
** else at the JC_GUARD_ANY patch points; else the reload is a miss.  So a
** client may offer both: those after g (one where the body reaches the
** tail, one where a loop's preamble would run hoisted code that needs it,
** jumping over it), and the one at the entry always.  They are one tail:
** checked, validated (every patch point restored) and invalidated
** together.  A tail check that passes g but leaves through a later guard m
** moves the tail to m's patch points by the same rule (JC_EXIT from
** jc_replay_commit), so a client that records patch points after every
** decision lets a tail be validated piece by piece. */
/* A patch point that serves the tail after whichever guard the checking
** iteration leaves through: a client that guards the whole trace from its
** entry (its loop-invariant code may rely on any decision of the tape)
** records one such patch point, with or without ones per guard. */
#define JC_GUARD_ANY UINT32_MAX
jc_err jc_rec_patch_point(jc_rec *rec, uint32_t after_guard, uint32_t off,
                          uint32_t end, uint32_t target_off);

/* Debug information: the trace's symbol name (a C identifier is best) and the
** source line of the code from `off` on. */
jc_err jc_rec_name(jc_rec *rec, const char *name);
jc_err jc_rec_line(jc_rec *rec, uint32_t off, const char *file, uint32_t line);

/* Opaque client bytes stored with the trace (e.g. exit snapshots); they may
** refer to slots by number.  Read back with jc_trace_aux(). */
jc_err jc_rec_aux(jc_rec *rec, const void *data, size_t len);

/* Finish: validate and persist the trace with its code bytes.  `entry_off` is
** where the trace is entered.  `live` is where the code runs (inside the code
** arena), or NULL if it does not run in this process.  If `out` is non-NULL
** it receives a trace handle (see jcache/trace.h) carrying the trace's id, to
** which bridges recorded later refer, and whose exits they attach to.
** Persisting never blocks on the disk: the record is queued for the writer
** thread.  The recorder is freed whatever the result.  A trace the record
** format cannot describe returns an error and is counted as not persisted;
** a live trace handle is still returned then, so the client's code runs on. */
jc_err jc_rec_finish(jc_rec *rec, const void *code, size_t len,
                     uint32_t entry_off, void *live, jc_trace **out);

/* Give up; `reason` is counted and reported to the probes.  Frees rec. */
void jc_rec_abort(jc_rec *rec, const char *reason);

#ifdef __cplusplus
}
#endif
#endif
