/*
** tui/collect.c — the model's bookkeeping, and choosing the sources.
**
** Sources only report facts (a counters snapshot, a probe event); this file
** turns them into what the panels show: rates, the per-second warm-up
** history, the trace table and the event ring.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jcache/rec.h"
#include "top.h"

bool jt_verbose_log;

double jt_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t jt_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *jt_ev_name(int kind) {
  static const char *const names[] = {
#define JT_EVSTR(n, s) s,
      JT_EVDEF(JT_EVSTR)
#undef JT_EVSTR
  };
  return kind >= 0 && kind < JT_EV__MAX ? names[kind] : "?";
}

/* -- The model ------------------------------------------------------------- */

jt_model *jt_model_new(void) { return calloc(1, sizeof(jt_model)); }
void jt_model_free(jt_model *m) { free(m); }

jt_proc *jt_model_proc(jt_model *m, pid_t pid, bool create) {
  for (int i = 0; i < m->nprocs; i++)
    if (m->procs[i].pid == pid) return &m->procs[i];
  if (!create || m->nprocs == JT_MAX_PROCS) return NULL;
  jt_proc *p = &m->procs[m->nprocs++];
  memset(p, 0, sizeof *p);
  p->pid = pid;
  return p;
}

jt_trace *jt_model_trace(jt_model *m, pid_t pid, uint64_t id, bool create) {
  for (int i = 0; i < m->ntraces; i++)
    if (m->traces[i].id == id && m->traces[i].pid == pid) return &m->traces[i];
  if (!create) return NULL;
  if (m->ntraces == JT_MAX_TRACES) {
    /* Full: the released trace seen least recently makes room, else the
    ** trace seen least recently. */
    int old = 0;
    for (int i = 1; i < m->ntraces; i++) {
      const jt_trace *a = &m->traces[i], *o = &m->traces[old];
      if (a->released != o->released ? a->released : a->last_ns < o->last_ns) old = i;
    }
    m->traces[old] = m->traces[--m->ntraces];
    m->traces_dropped++;
  }
  jt_trace *t = &m->traces[m->ntraces++];
  memset(t, 0, sizeof *t);
  t->pid = pid;
  t->id = id;
  return t;
}

const jt_inst *jt_trace_inst(const jt_trace *t, uint64_t addr) {
  for (uint32_t i = 0; i < t->ninst; i++)
    if (t->inst[i].addr == addr) return &t->inst[i];
  return NULL;
}

/* trace_live: a copy of t starts running at addr. */
static void inst_add(jt_trace *t, uint64_t addr, uint64_t size, uint32_t seq) {
  for (uint32_t i = 0; i < t->ninst; i++)
    if (t->inst[i].addr == addr) { /* a release was lost: replace it */
      memmove(&t->inst[i], &t->inst[i + 1], (t->ninst - i - 1) * sizeof t->inst[0]);
      t->ninst--;
      break;
    }
  if (t->ninst == JT_MAX_INST) { /* forget the oldest */
    memmove(&t->inst[0], &t->inst[1], (JT_MAX_INST - 1) * sizeof t->inst[0]);
    t->ninst--;
  }
  t->inst[t->ninst++] = (jt_inst){addr, size, seq};
}

/* trace_release: the copy at addr may be freed and reused from now on.
** The row then shows the newest copy still live, or is marked released. */
static void inst_release(jt_trace *t, uint64_t addr) {
  bool found = false;
  for (uint32_t i = 0; i < t->ninst && !found; i++)
    if (t->inst[i].addr == addr) {
      memmove(&t->inst[i], &t->inst[i + 1], (t->ninst - i - 1) * sizeof t->inst[0]);
      t->ninst--;
      found = true;
    }
  if (t->ninst) {
    t->code = t->inst[t->ninst - 1].addr;
    t->size = t->inst[t->ninst - 1].size;
  } else if (found || t->code == addr) {
    /* No copy known to be live (one made before we attached may be: its
    ** release names another address, and is ignored). */
    t->released = true;
    t->relocs_open = false;
  }
}

/* -- Counters ------------------------------------------------------------- */

/* Spread `delta` events, counted over (t0, t1], over the one-second buckets
** of the warm-up history, so that a refresh interval other than one second
** still gives per-second values. */
static void hist_add(jt_proc *p, double t0, double t1, double delta) {
  int64_t s1 = (int64_t)floor(t1);
  if (!p->hist_sec) p->hist_sec = s1;
  if (s1 > p->hist_sec) {
    int64_t shift = s1 - p->hist_sec;
    if (shift >= JT_HIST) {
      memset(p->hist, 0, sizeof p->hist);
    } else {
      memmove(p->hist, p->hist + shift, (size_t)(JT_HIST - shift) * sizeof p->hist[0]);
      memset(p->hist + JT_HIST - shift, 0, (size_t)shift * sizeof p->hist[0]);
    }
    p->hist_sec = s1;
  }
  if (delta <= 0 || t1 <= t0) return;
  if (t1 - t0 > JT_HIST) t0 = t1 - JT_HIST;
  for (double a = t0; a < t1;) {
    double sec = floor(a), b = fmin(sec + 1, t1);
    int64_t idx = JT_HIST - 1 - (p->hist_sec - (int64_t)sec);
    if (idx >= 0 && idx < JT_HIST) p->hist[idx] += (float)(delta * (b - a) / (t1 - t0));
    a = b;
  }
}

void jt_model_sample(jt_model *m, pid_t pid, const char *comm,
                     const char *cache_dir, const jc_stats *st, bool from_bpf) {
  jt_proc *p = jt_model_proc(m, pid, true);
  if (!p) return;
  bool first = !p->t_last;
  if (comm && comm[0]) snprintf(p->comm, sizeof p->comm, "%s", comm);
  if (cache_dir) snprintf(p->cache_dir, sizeof p->cache_dir, "%s", cache_dir);
  p->prev = first ? *st : p->st;
  p->st = *st;
  p->t_prev = first ? m->now : p->t_last;
  p->t_last = m->now;
  p->alive = true;
  p->from_bpf = from_bpf;
  double dt = p->t_last - p->t_prev;
  uint64_t lk = p->st.lookups - p->prev.lookups;
  uint64_t tr = (p->st.traces_reloaded + jt_compiled(&p->st)) -
                (p->prev.traces_reloaded + jt_compiled(&p->prev));
  if (dt > 0) {
    p->lookups_ps = (double)lk / dt;
    p->traces_ps = (double)tr / dt;
  }
  hist_add(p, p->t_prev, p->t_last, (double)tr);
}

/* -- Events ---------------------------------------------------------------- */

/* Bridges committed in one chain fire bridge_attach before the commit probe
** of their loop: remember them per process until that commit arrives. */
typedef struct pending_chain {
  pid_t pid;
  uint32_t n;
  jt_link link[JT_MAX_CHAIN];
} pending_chain;
static pending_chain pend[16];

static pending_chain *pending_for(pid_t pid) {
  pending_chain *free_slot = NULL;
  for (size_t i = 0; i < sizeof pend / sizeof pend[0]; i++) {
    if (pend[i].pid == pid) return &pend[i];
    if (!pend[i].pid && !free_slot) free_slot = &pend[i];
  }
  if (!free_slot) free_slot = &pend[pid % 16];
  memset(free_slot, 0, sizeof *free_slot);
  free_slot->pid = pid;
  return free_slot;
}

static bool logged_kind(const jt_event *ev) {
  switch (ev->kind) {
  case JT_EV_LOOKUP: case JT_EV_REPLAY_HIT: case JT_EV_BIND: case JT_EV_RELOC:
  case JT_EV_TRACE_RELEASE:
    return jt_verbose_log;
  case JT_EV_TRACE_LIVE:
    /* A reloaded trace is in its commit's line already; a compiled one
    ** has no other event of its own (record_write comes later, if ever). */
    return jt_verbose_log || !ev->a[2];
  default:
    return true;
  }
}

/* Fold one event into the trace table. */
static void trace_event(jt_model *m, const jt_event *ev) {
  jt_trace *t;
  switch (ev->kind) {
  case JT_EV_LOOKUP: case JT_EV_RECORD_ABORT:
    return; /* keyed by key, not by trace */
  case JT_EV_REPLAY_MISS:
    if (!ev->id) return; /* "no tape checked to its end" names no trace */
    break;
  case JT_EV_TRACE_RELEASE:
    /* A trace never seen live here (made before we attached) gets no row. */
    if (!(t = jt_model_trace(m, ev->pid, ev->id, false))) return;
    t->releases++;
    t->last_ns = ev->ts_ns;
    inst_release(t, ev->a[0]);
    return;
  case JT_EV_REJECT:
    /* reject: key_lo, key_hi, trace_id: the trace is a[1]. */
    if (!(t = jt_model_trace(m, ev->pid, ev->a[1], true))) return;
    t->fails++;
    t->last_ns = ev->ts_ns;
    if (!t->first_ns) t->first_ns = ev->ts_ns;
    return;
  default:
    break;
  }
  if (!ev->id && ev->kind != JT_EV_BRIDGE_ATTACH) return;
  if (ev->kind == JT_EV_BRIDGE_ATTACH) {
    /* parent, exit, bridge id, bridge address. */
    if ((t = jt_model_trace(m, ev->pid, ev->id, true))) {
      t->bridges++;
      t->last_ns = ev->ts_ns;
    }
    if (ev->a[1]) {
      jt_trace *b = jt_model_trace(m, ev->pid, ev->a[1], true);
      if (b) {
        /* trace_live, which follows, is exact: this only stands in for it
        ** with a library that lacks it. */
        if (!b->live_known) b->code = ev->a[2];
        b->bridge = true;
        if (b->origin == JT_ORIGIN_UNKNOWN) b->origin = JT_ORIGIN_RELOADED;
        b->last_ns = ev->ts_ns;
        if (!b->first_ns) b->first_ns = ev->ts_ns;
      }
    }
    pending_chain *pc = pending_for(ev->pid);
    if (pc->n < JT_MAX_CHAIN) pc->link[pc->n++] = (jt_link){ev->a[1], ev->a[2]};
    return;
  }
  if (!(t = jt_model_trace(m, ev->pid, ev->id, true))) return;
  if (!t->first_ns) t->first_ns = ev->ts_ns;
  t->last_ns = ev->ts_ns;
  switch (ev->kind) {
  case JT_EV_RECORD_WRITE:
    t->writes++;
    t->record_bytes = ev->a[2];
    if (t->origin == JT_ORIGIN_UNKNOWN) t->origin = JT_ORIGIN_COMPILED;
    break;
  case JT_EV_WRITE_ERROR: case JT_EV_COMMIT_FAIL:
    t->fails++;
    break;
  case JT_EV_REPLAY_HIT: t->hits++; break;
  case JT_EV_REPLAY_MISS: t->misses++; break;
  case JT_EV_BIND: t->binds++; break;
  case JT_EV_RELOC: {
    t->relocs++;
    /* A relocation outside the latest copy's code starts a new commit's
    ** list; one inside it is a deferred one, patched at tail validation.
    ** Once released, the copy's memory may be reused by the next commit:
    ** any relocation starts a new list. */
    uint64_t span = t->size ? t->size : t->bytes;
    bool inside = t->code && !t->released && ev->a[0] >= t->code &&
                  ev->a[0] < t->code + span;
    if (!t->relocs_open && !inside) {
      t->nreloc = 0;
      t->relocs_open = true;
    }
    if (t->nreloc < JT_MAX_RELOCS)
      t->reloc[t->nreloc++] = (jt_reloc){ev->a[0], ev->a[2], (uint8_t)ev->a[1]};
    break;
  }
  case JT_EV_TRACE_LIVE: {
    t->lives++;
    t->live_known = true;
    t->released = false;
    t->origin = ev->a[2] ? JT_ORIGIN_RELOADED : JT_ORIGIN_COMPILED;
    t->code = ev->a[0];
    t->size = ev->a[1];
    snprintf(t->name, sizeof t->name, "%.*s", (int)sizeof t->name - 1, ev->str);
    inst_add(t, ev->a[0], ev->a[1], t->lives);
    break;
  }
  case JT_EV_COMMIT: {
    t->commits++;
    t->origin = JT_ORIGIN_RELOADED;
    t->code = ev->a[0];
    t->bytes = ev->a[1];
    t->ntraces = (uint32_t)ev->a[2];
    t->relocs_open = false;
    pending_chain *pc = pending_for(ev->pid);
    t->nchain = pc->n;
    t->chain_code = ev->a[0];
    memcpy(t->chain, pc->link, sizeof t->chain);
    pc->n = 0;
    /* A chain's bridges share the loop's commit: close their lists too. */
    for (uint32_t i = 0; i < t->nchain; i++) {
      jt_trace *b = t->chain[i].id ? jt_model_trace(m, ev->pid, t->chain[i].id, false) : NULL;
      if (b) b->relocs_open = false;
    }
    break;
  }
  case JT_EV_TAIL_GUARD:
    t->tail = JT_TAIL_PENDING;
    t->tail_addr = ev->a[1];
    break;
  case JT_EV_TAIL_VALIDATED:
    t->tail = JT_TAIL_VALIDATED;
    t->tails_validated++;
    t->tail_addr = ev->a[1];
    break;
  case JT_EV_TAIL_INVALIDATED:
    t->tail = JT_TAIL_INVALIDATED;
    t->tails_invalidated++;
    t->tail_addr = ev->a[1];
    break;
  default:
    break;
  }
}

void jt_model_event(jt_model *m, const jt_event *ev) {
  if (ev->kind >= JT_EV__MAX) return;
  if (m->follow && ev->pid != m->follow) return;
  m->ev_count[ev->kind]++;
  trace_event(m, ev);
  if (!logged_kind(ev)) return;
  m->events[m->nevents % JT_EVENTS] = *ev;
  m->nevents++;
}

const jt_event *jt_model_event_at(const jt_model *m, uint64_t i) {
  if (i >= m->nevents || i >= JT_EVENTS) return NULL;
  return &m->events[(m->nevents - 1 - i) % JT_EVENTS];
}

static const char *reloc_kind(uint64_t k) {
  const char *s = k <= 0xff ? jc_reloc_kind_name((unsigned)k) : NULL;
  return s ? s : "?";
}

void jt_event_text(const jt_event *ev, char *buf, size_t n) {
  unsigned long long id = ev->id;
  const uint64_t *a = ev->a;
  switch (ev->kind) {
  case JT_EV_LOOKUP:
    snprintf(buf, n, "key %016llx: %llu candidates", id, (unsigned long long)a[1]);
    break;
  case JT_EV_REJECT:
    snprintf(buf, n, "record %016llx rejected: %s", (unsigned long long)a[1], ev->str);
    break;
  case JT_EV_RECORD_WRITE:
    snprintf(buf, n, "%016llx written, %llu bytes", id, (unsigned long long)a[2]);
    break;
  case JT_EV_RECORD_ABORT:
    snprintf(buf, n, "key %016llx not persisted: %s", id, ev->str);
    break;
  case JT_EV_WRITE_ERROR:
    snprintf(buf, n, "%016llx lost: %s", id, ev->str);
    break;
  case JT_EV_REPLAY_HIT:
    snprintf(buf, n, "%016llx site %llu kind %llu fp %llx", id,
             (unsigned long long)a[0], (unsigned long long)a[1], (unsigned long long)a[2]);
    break;
  case JT_EV_REPLAY_MISS:
    if (!id)
      snprintf(buf, n, "no tape checked to its end (%s)", ev->str);
    else
      snprintf(buf, n, "%016llx site %llu: expected %llx observed %llx (%s)", id,
               (unsigned long long)a[0], (unsigned long long)a[1],
               (unsigned long long)a[2], ev->str);
    break;
  case JT_EV_BIND:
    snprintf(buf, n, "%016llx slot %llu = %llx", id, (unsigned long long)a[0],
             (unsigned long long)a[1]);
    break;
  case JT_EV_RELOC:
    snprintf(buf, n, "%016llx %s at %llx = %llx", id, reloc_kind(a[1]),
             (unsigned long long)a[0], (unsigned long long)a[2]);
    break;
  case JT_EV_COMMIT:
    snprintf(buf, n, "%016llx at %llx, %llu bytes, %llu trace%s", id,
             (unsigned long long)a[0], (unsigned long long)a[1],
             (unsigned long long)a[2], a[2] == 1 ? "" : "s");
    break;
  case JT_EV_COMMIT_FAIL:
    snprintf(buf, n, "%016llx: %s", id, ev->str);
    break;
  case JT_EV_BRIDGE_ATTACH:
    snprintf(buf, n, "exit %llu of %016llx -> %016llx at %llx",
             (unsigned long long)a[0], id, (unsigned long long)a[1],
             (unsigned long long)a[2]);
    break;
  case JT_EV_TAIL_GUARD:
  case JT_EV_TAIL_VALIDATED:
    snprintf(buf, n, "%016llx after guard %llu at %llx", id,
             (unsigned long long)a[0], (unsigned long long)a[1]);
    break;
  case JT_EV_TAIL_INVALIDATED:
    snprintf(buf, n, "%016llx after guard %llu at %llx: site %llu %llx != %llx",
             id, (unsigned long long)a[0], (unsigned long long)a[1],
             (unsigned long long)a[2], (unsigned long long)a[3],
             (unsigned long long)a[4]);
    break;
  case JT_EV_TRACE_LIVE:
    snprintf(buf, n, "%016llx %s %s at %llx, %llu bytes", id,
             a[2] ? "reloaded" : "compiled", ev->str[0] ? ev->str : "(unnamed)",
             (unsigned long long)a[0], (unsigned long long)a[1]);
    break;
  case JT_EV_TRACE_RELEASE:
    snprintf(buf, n, "%016llx at %llx", id, (unsigned long long)a[0]);
    break;
  default:
    snprintf(buf, n, "?");
  }
}

/* -- The collector ---------------------------------------------------------- */

int jt_collect_open(jt_collector *c, jt_model *m, jt_source_mode mode,
                    pid_t follow, char *err, size_t n) {
  memset(c, 0, sizeof *c);
  m->follow = follow;
  m->start_ns = jt_now_ns();
  c->counters = jt_src_shm_open(follow);
  if (!c->counters) {
    snprintf(err, n, "cannot scan /dev/shm");
    return -1;
  }
  snprintf(m->counters_src, sizeof m->counters_src, "%s", c->counters->name);
  char why[160] = "";
  if (mode == JT_SRC_SHM) {
    snprintf(why, sizeof why, "--source=shm");
  } else {
    c->events = jt_src_bpf_open(follow, why, sizeof why);
    if (!c->events && mode == JT_SRC_BPF) {
      snprintf(err, n, "bpf not available: %s", why);
      jt_collect_close(c);
      return -1;
    }
  }
  if (c->events) {
    snprintf(m->events_src, sizeof m->events_src, "%s", c->events->name);
    snprintf(m->events_why, sizeof m->events_why, "%s", why);
    snprintf(m->source_line, sizeof m->source_line,
             "source: bpf events (%s) + shared-memory counters", why);
  } else {
    m->events_src[0] = 0;
    snprintf(m->events_why, sizeof m->events_why, "%s", why);
    snprintf(m->source_line, sizeof m->source_line,
             "source: shared memory (%s)", why);
  }
  return 0;
}

void jt_collect_poll(jt_collector *c, jt_model *m) {
  m->now = jt_now();
  m->now_ns = jt_now_ns();
  if (c->counters) c->counters->poll(c->counters, m);
  if (c->events) c->events->poll(c->events, m);
}

void jt_collect_drain(jt_collector *c, jt_model *m) {
  if (c->events && c->events->drain) {
    m->now_ns = jt_now_ns();
    c->events->drain(c->events, m);
  }
}

void jt_collect_close(jt_collector *c) {
  if (c->events) c->events->close(c->events);
  if (c->counters) c->counters->close(c->counters);
  memset(c, 0, sizeof *c);
}
