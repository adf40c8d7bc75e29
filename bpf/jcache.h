/*
** bpf/jcache.h — what the BPF program (jcache.bpf.c) and user space
** (loader.c, trace.c, jcache-top) share: event kinds, the event record of
** the ring buffer, the per-process counters and the latency histograms.
**
** Plain fixed-size types only: this header is compiled both by clang for the
** BPF target (with vmlinux.h) and by the host compiler (with <linux/types.h>).
*/
#ifndef JC_BPF_JCACHE_H
#define JC_BPF_JCACHE_H

/* One kind per USDT probe of libjcache (docs/PROBES.md), plus the optional
** probes the loader attaches only when the library has them. */
#define JC_EVDEF(_)                                                            \
  _(LOOKUP, lookup)                                                            \
  _(REJECT, reject)                                                            \
  _(REPLAY_HIT, replay_hit)                                                    \
  _(REPLAY_MISS, replay_miss)                                                  \
  _(BIND, bind)                                                                \
  _(RELOC, reloc)                                                              \
  _(COMMIT, commit)                                                            \
  _(COMMIT_FAIL, commit_fail)                                                  \
  _(BRIDGE_ATTACH, bridge_attach)                                              \
  _(TAIL_GUARD, tail_guard)                                                    \
  _(TAIL_VALIDATED, tail_validated)                                            \
  _(TAIL_INVALIDATED, tail_invalidated)                                        \
  _(RECORD_WRITE, record_write)                                                \
  _(RECORD_ABORT, record_abort)                                                \
  _(WRITE_ERROR, write_error)                                                  \
  _(COMMIT_BEGIN, commit_begin) /* optional: not in every library yet */  \
  _(TRACE_LIVE, trace_live)       /* optional, like commit_begin */         \
  _(TRACE_RELEASE, trace_release) /* optional, like commit_begin */

enum jc_ev_kind {
#define JC_EV_ENUM(up, low) JC_EV_##up,
  JC_EVDEF(JC_EV_ENUM)
#undef JC_EV_ENUM
  JC_EV_COUNT
};

#define JC_EV_BIT(k) (1u << (k))
/* Streamed by default: the rare events that tell a story, and trace_live
** (one per trace that starts running: its name, address and size).
** Lookups, hits, binds, relocations and commit_begin are many, and
** trace_release only mirrors trace_live; they are always counted and
** streamed only when asked for (trace -e). */
#define JC_EV_DEFAULT_MASK                                                     \
  (JC_EV_BIT(JC_EV_REJECT) | JC_EV_BIT(JC_EV_REPLAY_MISS) |                    \
   JC_EV_BIT(JC_EV_COMMIT) | JC_EV_BIT(JC_EV_COMMIT_FAIL) |                    \
   JC_EV_BIT(JC_EV_BRIDGE_ATTACH) | JC_EV_BIT(JC_EV_TAIL_GUARD) |              \
   JC_EV_BIT(JC_EV_TAIL_VALIDATED) | JC_EV_BIT(JC_EV_TAIL_INVALIDATED) |       \
   JC_EV_BIT(JC_EV_RECORD_ABORT) | JC_EV_BIT(JC_EV_WRITE_ERROR) |              \
   JC_EV_BIT(JC_EV_TRACE_LIVE))
#define JC_EV_ALL_MASK ((1u << JC_EV_COUNT) - 1)
#define JC_EV_NONE_MASK (1u << 31) /* count everything, stream nothing */

/* -- Events (ring buffer) ------------------------------------------------------ */

#define JC_EV_STR 128 /* probe strings (why, reason, message, detail) */
#define JC_EV_NAME 24 /* reject's reason_name */
#define JC_EV_TNAME 64 /* trace_live's name (longer names are cut) */

/* The probe's arguments, per kind; names as in docs/PROBES.md. */
struct jc_event {
  __u64 ts;     /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
  __u32 pid;    /* process (tgid) */
  __u32 tid;    /* thread */
  __u32 kind;   /* enum jc_ev_kind */
  __u32 pad;
  __u64 trace;  /* trace id; parent id for bridge_attach; 0 if none */
  char comm[16];
  union {
    struct { __u64 key_lo, key_hi, ncands; } lookup;
    struct { __u64 key_lo, key_hi; __s32 reason; char reason_name[JC_EV_NAME];
             char detail[JC_EV_STR]; } reject;
    struct { __u32 site; __u16 kind; __u64 fingerprint; } hit;
    struct { __u32 site; __u64 expected, observed; char why[JC_EV_STR]; } miss;
    struct { __u32 slot; __u64 value; } bind;
    struct { __u64 field_addr, value; __s32 kind; } reloc;
    /* latency_ns: commit_begin → commit when the library has commit_begin,
    ** else the thread's last replay decision → commit (an upper bound). */
    struct { __u64 code_addr, bytes, latency_ns; __u32 ntraces; } commit;
    struct { __s32 error; char message[JC_EV_STR]; } commit_fail;
    struct { __u32 exit; __u64 bridge_id, bridge_addr; } attach;
    struct { __u32 after_guard; __u64 patch_addr; } tail; /* guard, validated */
    struct { __u32 after_guard, site; __u64 patch_addr, expected, observed; }
        inval;
    struct { __u64 key_lo, key_hi, bytes; } write;
    struct { __u64 key_lo, key_hi; char reason[JC_EV_STR]; } abort;
    struct { __s32 mdb_error; char message[JC_EV_STR]; } werr;
    struct { __u32 ntraces; } commit_begin;
    /* trace_live: reloaded 0 compiled here (jc_rec_finish), 1 reloaded
    ** (one per trace of a commit, before its commit event). */
    struct { __u64 code_addr, code_len; __s32 reloaded; char name[JC_EV_TNAME]; }
        live;
    struct { __u64 code_addr; } release; /* trace_release */
  };
};

/* -- Per-process counters (hash map `counters`, key: pid) --------------------
**
** stat[] mirrors struct jc_stats of include/jcache/stats.h field by field
** (loader.c checks the order at compile time); fired[] counts the firings
** of each probe.  How each counter follows from the probes:
**
**   lookups, candidates        lookup (+1, +ncands)
**   replay_hits                replay_hit
**   replay_misses              replay_miss + commit_fail
**   binds                      bind (one per bound path: exact while one
**                              candidate path is alive, see bpf/README.md)
**   relocs_patched             reloc firings of a commit or tail validation
**                              that succeeded (commit, tail_validated);
**                              those of a failed commit are dropped
**   commits, traces_reloaded,  commit (+1, +ntraces, +bytes)
**   bytes_reloaded
**   bridges_attached           bridge_attach
**   tail_guards                tail_guard
**   tails_validated/invalidated  tail_validated / tail_invalidated
**   records_written            record_write
**   records_not_persisted      record_abort
**   records_rejected, rejected_<reason>  reject (reason 1..6; others: entry)
**   write_errors               write_error
*/
enum jc_stat_idx {
  JC_STAT_lookups,
  JC_STAT_candidates,
  JC_STAT_replay_hits,
  JC_STAT_replay_misses,
  JC_STAT_binds,
  JC_STAT_relocs_patched,
  JC_STAT_commits,
  JC_STAT_traces_reloaded,
  JC_STAT_bridges_attached,
  JC_STAT_tail_guards,
  JC_STAT_tails_validated,
  JC_STAT_tails_invalidated,
  JC_STAT_bytes_reloaded,
  JC_STAT_records_written,
  JC_STAT_records_not_persisted,
  JC_STAT_records_rejected,
  JC_STAT_rejected_truncated,
  JC_STAT_rejected_magic,
  JC_STAT_rejected_namespace,
  JC_STAT_rejected_checksum,
  JC_STAT_rejected_bounds,
  JC_STAT_rejected_entry,
  JC_STAT_write_errors,
  JC_STAT_COUNT
};

/* Besides stat[] (which mirrors jc_stats exactly) and the firings of each
** probe, counters the library does not keep, from trace_live and
** trace_release (0 with a library without those probes):
**   traces_compiled   trace_live with reloaded = 0 (jc_rec_finish, live code)
**   bytes_compiled    their code_len
**   traces_released   trace_release
** Traces live now = fired[JC_EV_TRACE_LIVE] - traces_released, counting
** only what happened while the program was attached. */
struct jc_counters {
  __u64 stat[JC_STAT_COUNT];
  __u64 fired[JC_EV_COUNT];
  __u64 traces_compiled;
  __u64 bytes_compiled;
  __u64 traces_released;
};

/* -- Latency histograms (hash map `hists`, key: struct jc_hist_key) ---------- */

enum jc_hist_kind {
  /* From the start of a reload to its commit: the lookup that found the
  ** candidates → commit (the checking iteration plus the commit). */
  JC_HIST_REPLAY,
  /* The commit itself: commit_begin → commit when the library has the
  ** commit_begin probe, else last replay decision → commit. */
  JC_HIST_COMMIT,
  JC_HIST_COUNT
};

#define JC_HIST_SLOTS 40 /* log2(ns): slot k counts [2^k, 2^(k+1)) ns */

struct jc_hist_key {
  __u32 pid;
  __u32 kind; /* enum jc_hist_kind */
};

struct jc_hist {
  __u64 slots[JC_HIST_SLOTS];
  __u64 count;
  __u64 sum_ns;
};

#endif
