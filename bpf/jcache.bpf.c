/*
** bpf/jcache.bpf.c — the BPF side of `jcache trace` and jcache-top.
**
** One BPF_USDT program per probe of libjcache (provider "jcache",
** docs/PROBES.md); the loader (loader.c) attaches each to every site of its
** probe in the library, or in a binary that links the library statically.
** Every firing
**   - adds to the process's counters (map `counters`), which mirror the
**     library's own struct jc_stats (the mapping is in jcache.h);
**   - updates the thread's reload timing and, at a commit, the log2
**     latency histograms (map `hists`);
**   - if its kind is in `event_mask`, streams a struct jc_event through the
**     ring buffer `events`.
** Filters are read-only data set before load: `targ_pid` (0: every
** process) and `event_mask` (which kinds are streamed; all are counted).
*/
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "jcache.h"

const volatile __u32 targ_pid = 0;
const volatile __u32 event_mask = JC_EV_DEFAULT_MASK;

/* Events lost because the ring buffer was full (user space reports it). */
__u64 lost_events = 0;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4 * 1024 * 1024); /* bursts of short-lived JIT processes */
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, __u32); /* pid */
  __type(value, struct jc_counters);
} counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, struct jc_hist_key);
  __type(value, struct jc_hist);
} hists SEC(".maps");

/* What one thread is in the middle of.  Replay cursors and commits belong to
** one thread at a time (docs/ARCHITECTURE.md), so a thread's probes arrive
** in program order and per-thread state is enough to pair them. */
struct jc_thread {
  __u64 reload_start;  /* the lookup that found candidates; 0: none */
  __u64 last_decision; /* the last replay_hit or bind */
  __u64 commit_start;  /* commit_begin, if the library has it */
  __u32 decided;       /* a replay decision was seen since reload_start */
  __u32 relocs;        /* reloc firings of the commit or tail in progress */
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 10240);
  __type(key, __u32); /* tid */
  __type(value, struct jc_thread);
} threads SEC(".maps");

static const struct jc_counters zero_counters;
static const struct jc_hist zero_hist;
static const struct jc_thread zero_thread;

/* -- Helpers ------------------------------------------------------------------- */

/* The context of one firing: who, when, and the process's counters. */
struct fire {
  __u32 pid, tid;
  __u64 ts;
  struct jc_counters *c;
};

/* Start handling a firing of probe `kind`; false if filtered out.  Counts
** the firing.  f->c is NULL only if the counters map is full. */
static __always_inline bool fire_begin(struct fire *f, int kind) {
  __u64 id = bpf_get_current_pid_tgid();
  f->pid = id >> 32;
  f->tid = (__u32)id;
  if (targ_pid && f->pid != targ_pid) return false;
  f->ts = bpf_ktime_get_ns();
  f->c = bpf_map_lookup_elem(&counters, &f->pid);
  if (!f->c) {
    bpf_map_update_elem(&counters, &f->pid, &zero_counters, BPF_NOEXIST);
    f->c = bpf_map_lookup_elem(&counters, &f->pid);
  }
  if (f->c && kind >= 0 && kind < JC_EV_COUNT)
    __sync_fetch_and_add(&f->c->fired[kind], 1);
  return true;
}

static __always_inline void stat_add(struct fire *f, int idx, __u64 n) {
  if (f->c && idx >= 0 && idx < JC_STAT_COUNT)
    __sync_fetch_and_add(&f->c->stat[idx], n);
}

static __always_inline struct jc_thread *thread_of(struct fire *f) {
  struct jc_thread *t = bpf_map_lookup_elem(&threads, &f->tid);
  if (t) return t;
  bpf_map_update_elem(&threads, &f->tid, &zero_thread, BPF_NOEXIST);
  return bpf_map_lookup_elem(&threads, &f->tid);
}

/* Reserve a ring-buffer event of `kind` if that kind is streamed. */
static __always_inline struct jc_event *event_new(struct fire *f, int kind,
                                                  __u64 trace) {
  if (!(event_mask & JC_EV_BIT(kind))) return NULL;
  struct jc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    __sync_fetch_and_add(&lost_events, 1);
    return NULL;
  }
  __builtin_memset(e, 0, sizeof(*e));
  e->ts = f->ts;
  e->pid = f->pid;
  e->tid = f->tid;
  e->kind = kind;
  e->trace = trace;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  return e;
}

/* Read a probe's C string argument. */
static __always_inline void read_str(char *dst, __u32 len, long ptr) {
  if (bpf_probe_read_user_str(dst, len, (const void *)ptr) < 0) dst[0] = 0;
}

/* Branch-free floor(log2(v)) for v > 0 (0 for 0). */
static __always_inline __u32 log2_32(__u32 v) {
  __u32 r, shift;
  r = (v > 0xFFFF) << 4;
  v >>= r;
  shift = (v > 0xFF) << 3;
  v >>= shift;
  r |= shift;
  shift = (v > 0xF) << 2;
  v >>= shift;
  r |= shift;
  shift = (v > 0x3) << 1;
  v >>= shift;
  r |= shift;
  r |= (v >> 1);
  return r;
}

static __always_inline __u32 log2_64(__u64 v) {
  __u32 hi = v >> 32;
  return hi ? log2_32(hi) + 32 : log2_32((__u32)v);
}

static __always_inline void hist_add(struct fire *f, int kind, __u64 ns) {
  struct jc_hist_key k = {.pid = f->pid, .kind = kind};
  struct jc_hist *h = bpf_map_lookup_elem(&hists, &k);
  if (!h) {
    bpf_map_update_elem(&hists, &k, &zero_hist, BPF_NOEXIST);
    h = bpf_map_lookup_elem(&hists, &k);
    if (!h) return;
  }
  __u32 slot = log2_64(ns);
  if (slot >= JC_HIST_SLOTS) slot = JC_HIST_SLOTS - 1;
  __sync_fetch_and_add(&h->slots[slot], 1);
  __sync_fetch_and_add(&h->count, 1);
  __sync_fetch_and_add(&h->sum_ns, ns);
}

/* A reload ended without a commit (miss, failed commit): forget it. */
static __always_inline void reload_reset(struct jc_thread *t) {
  t->reload_start = 0;
  t->decided = 0;
  t->commit_start = 0;
  t->relocs = 0;
}

/* -- Lookup and store ------------------------------------------------------------ */

SEC("usdt")
int BPF_USDT(jc_lookup, __u64 key_lo, __u64 key_hi, __u64 ncands) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_LOOKUP)) return 0;
  stat_add(&f, JC_STAT_lookups, 1);
  stat_add(&f, JC_STAT_candidates, ncands);
  /* A lookup outside a replay starts a reload (if it found candidates).
  ** One during a replay, after its first decision, is the replay looking
  ** up the bridges of a taken exit: the reload goes on. */
  struct jc_thread *t = thread_of(&f);
  if (t && !t->decided) {
    t->reload_start = ncands ? f.ts : 0;
    t->commit_start = 0;
    t->relocs = 0;
  }
  struct jc_event *e = event_new(&f, JC_EV_LOOKUP, 0);
  if (!e) return 0;
  e->lookup.key_lo = key_lo;
  e->lookup.key_hi = key_hi;
  e->lookup.ncands = ncands;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("usdt")
int BPF_USDT(jc_reject, __u64 key_lo, __u64 key_hi, __u64 trace_id, int reason,
             long reason_name, long detail) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_REJECT)) return 0;
  stat_add(&f, JC_STAT_records_rejected, 1);
  /* lib/format.h: 1 truncated .. 6 entry; the library counts anything
  ** else as an invalid entry too. */
  switch (reason) {
  case 1: stat_add(&f, JC_STAT_rejected_truncated, 1); break;
  case 2: stat_add(&f, JC_STAT_rejected_magic, 1); break;
  case 3: stat_add(&f, JC_STAT_rejected_namespace, 1); break;
  case 4: stat_add(&f, JC_STAT_rejected_checksum, 1); break;
  case 5: stat_add(&f, JC_STAT_rejected_bounds, 1); break;
  default: stat_add(&f, JC_STAT_rejected_entry, 1); break;
  }
  struct jc_event *e = event_new(&f, JC_EV_REJECT, trace_id);
  if (!e) return 0;
  e->reject.key_lo = key_lo;
  e->reject.key_hi = key_hi;
  e->reject.reason = reason;
  read_str(e->reject.reason_name, sizeof(e->reject.reason_name), reason_name);
  read_str(e->reject.detail, sizeof(e->reject.detail), detail);
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("usdt")
int BPF_USDT(jc_record_write, __u64 trace_id, __u64 key_lo, __u64 key_hi,
             __u64 bytes) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_RECORD_WRITE)) return 0;
  stat_add(&f, JC_STAT_records_written, 1);
  struct jc_event *e = event_new(&f, JC_EV_RECORD_WRITE, trace_id);
  if (!e) return 0;
  e->write.key_lo = key_lo;
  e->write.key_hi = key_hi;
  e->write.bytes = bytes;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("usdt")
int BPF_USDT(jc_record_abort, __u64 key_lo, __u64 key_hi, long reason) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_RECORD_ABORT)) return 0;
  stat_add(&f, JC_STAT_records_not_persisted, 1);
  struct jc_event *e = event_new(&f, JC_EV_RECORD_ABORT, 0);
  if (!e) return 0;
  e->abort.key_lo = key_lo;
  e->abort.key_hi = key_hi;
  read_str(e->abort.reason, sizeof(e->abort.reason), reason);
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("usdt")
int BPF_USDT(jc_write_error, __u64 trace_id, int mdb_error, long message) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_WRITE_ERROR)) return 0;
  stat_add(&f, JC_STAT_write_errors, 1);
  struct jc_event *e = event_new(&f, JC_EV_WRITE_ERROR, trace_id);
  if (!e) return 0;
  e->werr.mdb_error = mdb_error;
  read_str(e->werr.message, sizeof(e->werr.message), message);
  bpf_ringbuf_submit(e, 0);
  return 0;
}

/* -- Replay ------------------------------------------------------------------------ */

static __always_inline void decision(struct fire *f) {
  struct jc_thread *t = thread_of(f);
  if (!t) return;
  if (t->reload_start) t->decided = 1;
  t->last_decision = f->ts;
  /* Relocations fire only inside a commit or a tail validation, after the
  ** last decision: any still pending belong to one that failed. */
  t->relocs = 0;
}

SEC("usdt")
int BPF_USDT(jc_replay_hit, __u64 trace_id, __u32 site, __u16 kind,
             __u64 fingerprint) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_REPLAY_HIT)) return 0;
  stat_add(&f, JC_STAT_replay_hits, 1);
  decision(&f);
  struct jc_event *e = event_new(&f, JC_EV_REPLAY_HIT, trace_id);
  if (!e) return 0;
  e->hit.site = site;
  e->hit.kind = kind;
  e->hit.fingerprint = fingerprint;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("usdt")
int BPF_USDT(jc_replay_miss, __u64 trace_id, __u32 site, __u64 expected,
             __u64 observed, long why) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_REPLAY_MISS)) return 0;
  stat_add(&f, JC_STAT_replay_misses, 1);
  struct jc_thread *t = thread_of(&f);
  if (t) reload_reset(t);
  struct jc_event *e = event_new(&f, JC_EV_REPLAY_MISS, trace_id);
  if (!e) return 0;
  e->miss.site = site;
  e->miss.expected = expected;
  e->miss.observed = observed;
  read_str(e->miss.why, sizeof(e->miss.why), why);
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("usdt")
int BPF_USDT(jc_bind, __u64 trace_id, __u32 slot, __u64 value) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_BIND)) return 0;
  stat_add(&f, JC_STAT_binds, 1);
  decision(&f);
  struct jc_event *e = event_new(&f, JC_EV_BIND, trace_id);
  if (!e) return 0;
  e->bind.slot = slot;
  e->bind.value = value;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

/* -- Commit -------------------------------------------------------------------------- */

SEC("usdt")
int BPF_USDT(jc_commit_begin, __u64 trace_id, __u32 ntraces) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_COMMIT_BEGIN)) return 0;
  struct jc_thread *t = thread_of(&f);
  if (t) {
    t->commit_start = f.ts;
    t->relocs = 0;
  }
  struct jc_event *e = event_new(&f, JC_EV_COMMIT_BEGIN, trace_id);
  if (!e) return 0;
  e->commit_begin.ntraces = ntraces;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("usdt")
int BPF_USDT(jc_reloc, __u64 trace_id, __u64 field_addr, int kind,
             __u64 value) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_RELOC)) return 0;
  /* Counted when the commit or tail validation it belongs to succeeds:
  ** the library counts relocs_patched only then. */
  struct jc_thread *t = thread_of(&f);
  if (t) t->relocs++;
  struct jc_event *e = event_new(&f, JC_EV_RELOC, trace_id);
  if (!e) return 0;
  e->reloc.field_addr = field_addr;
  e->reloc.kind = kind;
  e->reloc.value = value;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("usdt")
int BPF_USDT(jc_commit, __u64 trace_id, __u64 code_addr, __u64 bytes,
             __u32 ntraces) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_COMMIT)) return 0;
  stat_add(&f, JC_STAT_commits, 1);
  stat_add(&f, JC_STAT_traces_reloaded, ntraces);
  stat_add(&f, JC_STAT_bytes_reloaded, bytes);
  __u64 lat = 0;
  struct jc_thread *t = thread_of(&f);
  if (t) {
    stat_add(&f, JC_STAT_relocs_patched, t->relocs);
    if (t->reload_start) hist_add(&f, JC_HIST_REPLAY, f.ts - t->reload_start);
    __u64 from = t->commit_start ? t->commit_start : t->last_decision;
    if (from) {
      lat = f.ts - from;
      hist_add(&f, JC_HIST_COMMIT, lat);
    }
    reload_reset(t);
    t->last_decision = 0;
  }
  struct jc_event *e = event_new(&f, JC_EV_COMMIT, trace_id);
  if (!e) return 0;
  e->commit.code_addr = code_addr;
  e->commit.bytes = bytes;
  e->commit.ntraces = ntraces;
  e->commit.latency_ns = lat;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("usdt")
int BPF_USDT(jc_commit_fail, __u64 trace_id, int error, long message) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_COMMIT_FAIL)) return 0;
  stat_add(&f, JC_STAT_replay_misses, 1);
  struct jc_thread *t = thread_of(&f);
  if (t) reload_reset(t); /* its relocations were undone: not counted */
  struct jc_event *e = event_new(&f, JC_EV_COMMIT_FAIL, trace_id);
  if (!e) return 0;
  e->commit_fail.error = error;
  read_str(e->commit_fail.message, sizeof(e->commit_fail.message), message);
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("usdt")
int BPF_USDT(jc_bridge_attach, __u64 parent_id, __u32 exit, __u64 bridge_id,
             __u64 bridge_addr) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_BRIDGE_ATTACH)) return 0;
  stat_add(&f, JC_STAT_bridges_attached, 1);
  struct jc_event *e = event_new(&f, JC_EV_BRIDGE_ATTACH, parent_id);
  if (!e) return 0;
  e->attach.exit = exit;
  e->attach.bridge_id = bridge_id;
  e->attach.bridge_addr = bridge_addr;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("usdt")
int BPF_USDT(jc_tail_guard, __u64 trace_id, __u32 after_guard,
             __u64 patch_addr) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_TAIL_GUARD)) return 0;
  stat_add(&f, JC_STAT_tail_guards, 1);
  struct jc_event *e = event_new(&f, JC_EV_TAIL_GUARD, trace_id);
  if (!e) return 0;
  e->tail.after_guard = after_guard;
  e->tail.patch_addr = patch_addr;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

/* -- Live traces ------------------------------------------------------------------- */

/* trace_live fires for each trace of a commit (reloaded = 1) before that
** commit's own probe, and for a compiled trace whose code is live
** (reloaded = 0).  The library counts reloaded traces (traces_reloaded,
** from commit) but not compiled ones: those are counted here. */
SEC("usdt")
int BPF_USDT(jc_trace_live, __u64 trace_id, __u64 code_addr, __u64 code_len,
             int reloaded, long name) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_TRACE_LIVE)) return 0;
  if (f.c && !reloaded) {
    __sync_fetch_and_add(&f.c->traces_compiled, 1);
    __sync_fetch_and_add(&f.c->bytes_compiled, code_len);
  }
  struct jc_event *e = event_new(&f, JC_EV_TRACE_LIVE, trace_id);
  if (!e) return 0;
  e->live.code_addr = code_addr;
  e->live.code_len = code_len;
  e->live.reloaded = reloaded;
  read_str(e->live.name, sizeof(e->live.name), name);
  bpf_ringbuf_submit(e, 0);
  return 0;
}

/* jc_trace_release: from here on the code at code_addr may be freed and
** reused by another trace. */
SEC("usdt")
int BPF_USDT(jc_trace_release, __u64 trace_id, __u64 code_addr) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_TRACE_RELEASE)) return 0;
  if (f.c) __sync_fetch_and_add(&f.c->traces_released, 1);
  struct jc_event *e = event_new(&f, JC_EV_TRACE_RELEASE, trace_id);
  if (!e) return 0;
  e->release.code_addr = code_addr;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

/* -- Tails ---------------------------------------------------------------------------- */

SEC("usdt")
int BPF_USDT(jc_tail_validated, __u64 trace_id, __u32 after_guard,
             __u64 patch_addr) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_TAIL_VALIDATED)) return 0;
  stat_add(&f, JC_STAT_tails_validated, 1);
  struct jc_thread *t = thread_of(&f);
  if (t) {
    stat_add(&f, JC_STAT_relocs_patched, t->relocs); /* the deferred ones */
    t->relocs = 0;
  }
  struct jc_event *e = event_new(&f, JC_EV_TAIL_VALIDATED, trace_id);
  if (!e) return 0;
  e->tail.after_guard = after_guard;
  e->tail.patch_addr = patch_addr;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("usdt")
int BPF_USDT(jc_tail_invalidated, __u64 trace_id, __u32 after_guard,
             __u64 patch_addr, __u32 site, __u64 expected, __u64 observed) {
  struct fire f;
  if (!fire_begin(&f, JC_EV_TAIL_INVALIDATED)) return 0;
  stat_add(&f, JC_STAT_tails_invalidated, 1);
  struct jc_event *e = event_new(&f, JC_EV_TAIL_INVALIDATED, trace_id);
  if (!e) return 0;
  e->inval.after_guard = after_guard;
  e->inval.site = site;
  e->inval.patch_addr = patch_addr;
  e->inval.expected = expected;
  e->inval.observed = observed;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

/* GPL: bpf_probe_read_user_str() is a GPL-only helper. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
