/*
** tui/top.h — jcache-top's model: plain structs that the collectors fill and
** the panels render.
**
** Collection is separate from display (as in htop).  Sources (src_shm.c,
** src_bpf.c) write into a jt_model; collect.c owns the model's bookkeeping
** (rates, the warm-up history, the trace table, the event ring); the panels
** only read it.  Nothing here knows about curses: ui.c alone does.
**
** Two kinds of source feed the model:
**   counters  the per-process counters of every process using libjcache,
**             from its /dev/shm/jcache.PID segment (no privileges needed);
**   events    the USDT probe stream (bpf, root only), which also builds the
**             trace table: names, code addresses and sizes (trace_live,
**             trace_release), relocation sites, tail states.
** The shared-memory source always provides the counters; the bpf source,
** when it loads, adds the events.
*/
#ifndef JT_TOP_H
#define JT_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jcache/stats.h"

/* -- Processes ------------------------------------------------------------ */

#define JT_MAX_PROCS 256
#define JT_HIST 60 /* seconds of warm-up history per process */

typedef struct jt_proc {
  pid_t pid;
  char comm[32];
  char cache_dir[256];
  jc_stats st;          /* the latest snapshot */
  jc_stats prev;        /* the snapshot before it (rates) */
  double t_prev, t_last;/* monotonic seconds of the two snapshots */
  double lookups_ps;    /* lookups per second over the last interval */
  double traces_ps;     /* traces made live per second (reloaded + compiled) */
  float hist[JT_HIST];  /* traces made live in each of the last 60 seconds */
  int64_t hist_sec;     /* the second that hist[JT_HIST - 1] stands for */
  bool alive;           /* seen in the latest scan */
  bool from_bpf;        /* known from the event stream only */
} jt_proc;

/* What the process list shows as "compiled": the library has no counter for
** traces compiled as such; a trace recorded here is either written to the
** store or not persisted.  Records are counted when the writer thread has
** written them, so the number can lag a compile by one batch. */
static inline uint64_t jt_compiled(const jc_stats *s) {
  return s->records_written + s->records_not_persisted;
}
/* Tail guards written whose tail was neither validated nor invalidated yet. */
static inline uint64_t jt_tails_pending(const jc_stats *s) {
  uint64_t done = s->tails_validated + s->tails_invalidated;
  return s->tail_guards > done ? s->tail_guards - done : 0;
}

/* -- Events (the USDT probes, docs/PROBES.md) ------------------------------ */

#define JT_EVDEF(_)                                                            \
  _(LOOKUP, "lookup") _(REJECT, "reject") _(RECORD_WRITE, "record_write")      \
  _(RECORD_ABORT, "record_abort") _(WRITE_ERROR, "write_error")                \
  _(REPLAY_HIT, "replay_hit") _(REPLAY_MISS, "replay_miss") _(BIND, "bind")    \
  _(RELOC, "reloc") _(COMMIT, "commit") _(COMMIT_FAIL, "commit_fail")          \
  _(BRIDGE_ATTACH, "bridge_attach") _(TAIL_GUARD, "tail_guard")                \
  _(TAIL_VALIDATED, "tail_validated") _(TAIL_INVALIDATED, "tail_invalidated") \
  _(TRACE_LIVE, "trace_live") _(TRACE_RELEASE, "trace_release")

typedef enum jt_ev_kind {
#define JT_EVENUM(n, s) JT_EV_##n,
  JT_EVDEF(JT_EVENUM)
#undef JT_EVENUM
  JT_EV__MAX
} jt_ev_kind;

const char *jt_ev_name(int kind);

/* One probe firing.  The arguments keep the probe's order (docs/PROBES.md):
** id is the first u64 (a trace id, or key_lo for lookup/record_abort), a[]
** the following numeric ones, str the string argument if any
** (trace_live: a[0] code_addr, a[1] code_len, a[2] reloaded, str the name). */
typedef struct jt_event {
  uint64_t ts_ns; /* CLOCK_MONOTONIC */
  int32_t pid;
  uint16_t kind;  /* jt_ev_kind */
  uint64_t id;
  uint64_t a[5];
  char str[160];
} jt_event;

#define JT_EVENTS 2048 /* the event ring */

/* -- Traces (from the event stream) --------------------------------------- */

#define JT_MAX_TRACES 2048
#define JT_MAX_RELOCS 48
#define JT_MAX_CHAIN 8
#define JT_MAX_INST 4    /* live copies of one trace at once, tracked */
#define JT_NAME 48

typedef enum jt_origin { JT_ORIGIN_UNKNOWN, JT_ORIGIN_RELOADED, JT_ORIGIN_COMPILED } jt_origin;
typedef enum jt_tail { JT_TAIL_NONE, JT_TAIL_PENDING, JT_TAIL_VALIDATED, JT_TAIL_INVALIDATED } jt_tail;

typedef struct jt_reloc {
  uint64_t addr;  /* the patched field */
  uint64_t value;
  uint8_t kind;   /* jc_reloc_kind: 1 ABS64, 2 ABS32, 3 REL32, 4 CELL32 */
} jt_reloc;

typedef struct jt_link {
  uint64_t id;    /* 0: not persisted */
  uint64_t addr;
} jt_link;

/* One copy of a trace's code that runs now: trace_live announced it and no
** trace_release has taken it back.  A trace id may be live several times
** at once (reloaded again before the older copy is released). */
typedef struct jt_inst {
  uint64_t addr, size;
  uint32_t seq;       /* which trace_live of the trace (1, 2...): the arena
                      ** may put a new copy where a released one was */
} jt_inst;

typedef struct jt_trace {
  int32_t pid;
  uint64_t id;
  uint8_t origin;     /* jt_origin */
  uint8_t tail;       /* jt_tail of the latest tail guard */
  bool live_known;    /* trace_live seen: code, size and name are exact */
  bool released;      /* its last live copy was released: code is stale
                      ** (the memory may hold another trace now) */
  char name[JT_NAME]; /* trace_live: the trace's symbol name, "" if none */
  uint64_t code;      /* latest code address (0: unknown) */
  uint64_t size;      /* trace_live: this trace's exact code size; 0 unknown */
  uint64_t bytes;     /* commit: bytes of the whole chain */
  uint32_t ninst;     /* live copies known (trace_live minus trace_release) */
  jt_inst inst[JT_MAX_INST]; /* oldest first; the last is `code` */
  uint32_t lives, releases; /* trace_live and trace_release events */
  uint32_t ntraces;   /* commit: traces in the chain */
  uint64_t tail_addr; /* the latest tail guard's patch point */
  uint32_t commits, writes, hits, misses, binds, relocs, bridges, fails;
  uint32_t tails_validated, tails_invalidated;
  uint64_t first_ns, last_ns;
  uint64_t record_bytes;             /* record_write: record size */
  bool relocs_open;                  /* relocs since the last commit */
  uint32_t nreloc;                   /* of the latest commit */
  jt_reloc reloc[JT_MAX_RELOCS];
  uint32_t nchain;                   /* bridges committed with it */
  jt_link chain[JT_MAX_CHAIN];
  uint64_t chain_code;               /* the commit's code address: the chain
                                     ** belongs to the copy there */
  bool bridge;                       /* seen as a bridge (bridge_attach) */
} jt_trace;

/* -- The model ------------------------------------------------------------- */

typedef struct jt_model {
  uint64_t start_ns;        /* when jcache-top started (CLOCK_MONOTONIC) */
  double now;               /* monotonic seconds of the latest collection */
  uint64_t now_ns;
  int nprocs;
  jt_proc procs[JT_MAX_PROCS];
  int ntraces;
  jt_trace traces[JT_MAX_TRACES];
  uint64_t nevents;         /* events ever logged; the ring holds the last */
  jt_event events[JT_EVENTS];
  uint64_t ev_count[JT_EV__MAX]; /* every event seen, logged or not */
  uint64_t ev_dropped;      /* lost by the source (ring buffer full) */
  uint64_t traces_dropped;  /* trace table full */
  /* Sources, for the header. */
  char counters_src[64];    /* "shared memory" */
  char events_src[64];      /* "bpf" or "" */
  char events_why[160];     /* why there is no event stream, or how it runs */
  char source_line[256];    /* "source: ... (why)" */
  char events_warning[512]; /* probes the event source could not attach */
  bool no_reloc_events;     /* the reloc probe is not traced */
  bool no_live_events;      /* the library has no trace_live/trace_release:
                            ** sizes are estimated from the commit probe */
  pid_t follow;             /* -p: 0 for every process */
} jt_model;

jt_model *jt_model_new(void);
void jt_model_free(jt_model *m);
jt_proc *jt_model_proc(jt_model *m, pid_t pid, bool create);
/* A counters snapshot of one process, taken at m->now: updates its rates and
** its warm-up history. */
void jt_model_sample(jt_model *m, pid_t pid, const char *comm,
                     const char *cache_dir, const jc_stats *st, bool from_bpf);
jt_trace *jt_model_trace(jt_model *m, pid_t pid, uint64_t id, bool create);
/* The live copy of t at addr (exact size), or NULL: not known to be live. */
const jt_inst *jt_trace_inst(const jt_trace *t, uint64_t addr);
/* Record one probe event: updates the trace table and the ring.  Events of
** high-volume kinds (lookup, replay_hit, bind, reloc) are counted and folded
** into the trace table but only logged when `verbose_log` is set. */
void jt_model_event(jt_model *m, const jt_event *ev);
extern bool jt_verbose_log;
/* The i-th newest logged event (0 = newest), or NULL. */
const jt_event *jt_model_event_at(const jt_model *m, uint64_t i);
/* Format an event's arguments for the log (no timestamp, pid or kind). */
void jt_event_text(const jt_event *ev, char *buf, size_t n);

/* -- Sources ---------------------------------------------------------------- */

typedef struct jt_source jt_source;
struct jt_source {
  const char *name;  /* "shared memory", "bpf" */
  /* Bring the model up to date (never blocks). */
  void (*poll)(jt_source *s, jt_model *m);
  /* Between polls: take in what is buffered (events) so that the source's
  ** buffer does not overflow, without new counter samples.  May be NULL. */
  void (*drain)(jt_source *s, jt_model *m);
  void (*close)(jt_source *s);
  void *priv;
};

typedef enum jt_source_mode { JT_SRC_AUTO, JT_SRC_SHM, JT_SRC_BPF } jt_source_mode;

/* The counters: scan /dev/shm/jcache.* every poll. */
jt_source *jt_src_shm_open(pid_t follow);
/* The event stream.  NULL with a reason in `why` when bpf is unavailable. */
jt_source *jt_src_bpf_open(pid_t follow, char *why, size_t n);

/* collect.c: open the sources for `mode`, say which and why. */
typedef struct jt_collector {
  jt_source *counters;
  jt_source *events;
} jt_collector;

int jt_collect_open(jt_collector *c, jt_model *m, jt_source_mode mode,
                    pid_t follow, char *err, size_t n);
void jt_collect_poll(jt_collector *c, jt_model *m);
/* Every JT_DRAIN_MS between polls: events only (the ring buffer fills in
** well under a second under a busy JIT). */
#define JT_DRAIN_MS 100
void jt_collect_drain(jt_collector *c, jt_model *m);
void jt_collect_close(jt_collector *c);

/* Helpers for sources: monotonic time. */
double jt_now(void);
uint64_t jt_now_ns(void);

/* -- Disassembly (disasm.c) -------------------------------------------------- */

typedef struct jt_insn {
  uint64_t addr;
  uint8_t len;
  uint8_t bytes[15];
  char text[160];
  char note[96];      /* what is patched here (reloc, tail guard) */
  int8_t reloc;       /* index into the trace's relocs hit, or -1 */
  uint8_t mark;       /* JT_MARK_* */
} jt_insn;

enum { JT_MARK_RELOC = 1, JT_MARK_TAIL = 2, JT_MARK_ENTRY = 4, JT_MARK_BAD = 8 };

typedef struct jt_disasm {
  int n, cap;
  jt_insn *insn;
  char error[160];   /* why the code could not be read, or "" */
} jt_disasm;

/* Read [addr, addr+len) of process pid's memory and disassemble it. */
void jt_disasm_run(jt_disasm *d, pid_t pid, uint64_t addr, uint64_t len);
/* A line of text between instructions ("-- bridge ... --"). */
void jt_disasm_label(jt_disasm *d, const char *text);
void jt_disasm_free(jt_disasm *d);

#endif
