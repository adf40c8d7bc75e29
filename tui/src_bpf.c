/*
** tui/src_bpf.c — the event source: libjcache's USDT probes through the
** jcache BPF program (bpf/loader.h).
**
** It feeds the event log and the trace table.  The process list keeps its
** counters from shared memory, which count from the process's start, while
** the BPF counters count only from the moment the probes were attached; a
** process that has no segment (JCACHE_SHM=off) is listed from the BPF
** counters instead.
**
** Without root, or in a build without the loader, there is no event stream
** and jt_src_bpf_open() says why.
*/
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "top.h"

#ifdef JT_HAVE_BPF
#include "loader.h"

_Static_assert(sizeof(((struct jc_counters *)0)->stat) == sizeof(jc_stats),
               "bpf counters mirror struct jc_stats");

typedef struct bpf_src {
  jt_source base;
  jc_bpf *b;
  pid_t follow;
  bool told; /* the attach warning is in the model */
} bpf_src;

static void copy_str(char *dst, size_t n, const char *src, size_t srcn) {
  size_t len = strnlen(src, srcn);
  if (len >= n) len = n - 1;
  memcpy(dst, src, len);
  dst[len] = 0;
}

/* The loader's record, in the probe's argument order (see top.h). */
static bool translate(const struct jc_event *e, jt_event *ev) {
  memset(ev, 0, sizeof *ev);
  ev->ts_ns = e->ts;
  ev->pid = (int32_t)e->pid;
  ev->id = e->trace;
  uint64_t *a = ev->a;
  switch (e->kind) {
  case JC_EV_LOOKUP:
    ev->kind = JT_EV_LOOKUP;
    ev->id = e->lookup.key_lo;
    a[0] = e->lookup.key_hi;
    a[1] = e->lookup.ncands;
    break;
  case JC_EV_REJECT: {
    char name[JC_EV_NAME + 1], detail[JC_EV_STR + 1];
    ev->kind = JT_EV_REJECT;
    ev->id = e->reject.key_lo;
    a[0] = e->reject.key_hi;
    a[1] = e->trace;
    a[2] = (uint64_t)(int64_t)e->reject.reason;
    copy_str(name, sizeof name, e->reject.reason_name, sizeof e->reject.reason_name);
    copy_str(detail, sizeof detail, e->reject.detail, sizeof e->reject.detail);
    snprintf(ev->str, sizeof ev->str, "%s: %s", name, detail);
    break;
  }
  case JC_EV_REPLAY_HIT:
    ev->kind = JT_EV_REPLAY_HIT;
    a[0] = e->hit.site;
    a[1] = e->hit.kind;
    a[2] = e->hit.fingerprint;
    break;
  case JC_EV_REPLAY_MISS:
    ev->kind = JT_EV_REPLAY_MISS;
    a[0] = e->miss.site;
    a[1] = e->miss.expected;
    a[2] = e->miss.observed;
    copy_str(ev->str, sizeof ev->str, e->miss.why, sizeof e->miss.why);
    break;
  case JC_EV_BIND:
    ev->kind = JT_EV_BIND;
    a[0] = e->bind.slot;
    a[1] = e->bind.value;
    break;
  case JC_EV_RELOC:
    ev->kind = JT_EV_RELOC;
    a[0] = e->reloc.field_addr;
    a[1] = (uint64_t)(int64_t)e->reloc.kind;
    a[2] = e->reloc.value;
    break;
  case JC_EV_COMMIT:
    ev->kind = JT_EV_COMMIT;
    a[0] = e->commit.code_addr;
    a[1] = e->commit.bytes;
    a[2] = e->commit.ntraces;
    a[3] = e->commit.latency_ns;
    break;
  case JC_EV_COMMIT_FAIL:
    ev->kind = JT_EV_COMMIT_FAIL;
    a[0] = (uint64_t)(int64_t)e->commit_fail.error;
    copy_str(ev->str, sizeof ev->str, e->commit_fail.message, sizeof e->commit_fail.message);
    break;
  case JC_EV_BRIDGE_ATTACH:
    ev->kind = JT_EV_BRIDGE_ATTACH;
    a[0] = e->attach.exit;
    a[1] = e->attach.bridge_id;
    a[2] = e->attach.bridge_addr;
    break;
  case JC_EV_TAIL_GUARD:
  case JC_EV_TAIL_VALIDATED:
    ev->kind = e->kind == JC_EV_TAIL_GUARD ? JT_EV_TAIL_GUARD : JT_EV_TAIL_VALIDATED;
    a[0] = e->tail.after_guard;
    a[1] = e->tail.patch_addr;
    break;
  case JC_EV_TAIL_INVALIDATED:
    ev->kind = JT_EV_TAIL_INVALIDATED;
    a[0] = e->inval.after_guard;
    a[1] = e->inval.patch_addr;
    a[2] = e->inval.site;
    a[3] = e->inval.expected;
    a[4] = e->inval.observed;
    break;
  case JC_EV_RECORD_WRITE:
    ev->kind = JT_EV_RECORD_WRITE;
    a[0] = e->write.key_lo;
    a[1] = e->write.key_hi;
    a[2] = e->write.bytes;
    break;
  case JC_EV_RECORD_ABORT:
    ev->kind = JT_EV_RECORD_ABORT;
    ev->id = e->abort.key_lo;
    a[0] = e->abort.key_hi;
    copy_str(ev->str, sizeof ev->str, e->abort.reason, sizeof e->abort.reason);
    break;
  case JC_EV_WRITE_ERROR:
    ev->kind = JT_EV_WRITE_ERROR;
    a[0] = (uint64_t)(int64_t)e->werr.mdb_error;
    copy_str(ev->str, sizeof ev->str, e->werr.message, sizeof e->werr.message);
    break;
  case JC_EV_TRACE_LIVE:
    ev->kind = JT_EV_TRACE_LIVE;
    a[0] = e->live.code_addr;
    a[1] = e->live.code_len;
    a[2] = e->live.reloaded != 0;
    copy_str(ev->str, sizeof ev->str, e->live.name, sizeof e->live.name);
    break;
  case JC_EV_TRACE_RELEASE:
    ev->kind = JT_EV_TRACE_RELEASE;
    a[0] = e->release.code_addr;
    break;
  default:
    return false; /* commit_begin and future kinds: not shown */
  }
  return true;
}

static int on_event(void *ctx, const struct jc_event *e) {
  jt_event ev;
  if (translate(e, &ev)) jt_model_event(ctx, &ev);
  return 0;
}

/* Drain what is there without waiting; bounded so a flood of events
** cannot starve the display. */
static void bpf_drain(jt_source *src, jt_model *m) {
  bpf_src *s = (bpf_src *)src;
  for (int round = 0; round < 64; round++)
    if (jc_bpf_poll(s->b, 0, on_event, m) <= 0) break;
  m->ev_dropped = jc_bpf_lost(s->b);
}

static void bpf_poll(jt_source *src, jt_model *m) {
  bpf_src *s = (bpf_src *)src;
  if (!s->told) {
    const char *w = jc_bpf_warning(s->b);
    snprintf(m->events_warning, sizeof m->events_warning, "%s", w ? w : "");
    m->no_reloc_events = !(jc_bpf_attached(s->b) & JC_EV_BIT(JC_EV_RELOC));
    m->no_live_events = !jc_bpf_has_live(s->b);
    s->told = true;
  }
  bpf_drain(src, m);

  /* Processes without a shared-memory segment: list them from the BPF
  ** counters; forget the ones that exited. */
  pid_t pids[JT_MAX_PROCS];
  size_t n = jc_bpf_pids(s->b, pids, JT_MAX_PROCS);
  if (n > JT_MAX_PROCS) n = JT_MAX_PROCS;
  for (size_t i = 0; i < n; i++) {
    jt_proc *p = jt_model_proc(m, pids[i], false);
    if (p && !p->from_bpf) continue;
    if (s->follow && pids[i] != s->follow) continue;
    if (kill(pids[i], 0) != 0 && errno == ESRCH) {
      jc_bpf_forget(s->b, pids[i]);
      if (p) *p = m->procs[--m->nprocs];
      continue;
    }
    struct jc_counters c;
    if (jc_bpf_counters(s->b, pids[i], &c) != 0) continue;
    jc_stats st;
    memcpy(&st, c.stat, sizeof st);
    char comm[32] = "";
    if (!p) {
      char path[64];
      snprintf(path, sizeof path, "/proc/%d/comm", (int)pids[i]);
      FILE *f = fopen(path, "r");
      if (f) {
        if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = 0;
        fclose(f);
      }
    }
    jt_model_sample(m, pids[i], comm, NULL, &st, true);
  }
}

static void bpf_close(jt_source *src) {
  bpf_src *s = (bpf_src *)src;
  jc_bpf_close(s->b);
  free(s);
}

jt_source *jt_src_bpf_open(pid_t follow, char *why, size_t n) {
  if (geteuid() != 0) {
    snprintf(why, n, "not root");
    return NULL;
  }
  bpf_src *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(why, n, "out of memory");
    return NULL;
  }
  /* The story events, plus what the trace table needs: relocation sites
  ** (the detail view), records written (compiled traces), hits per trace,
  ** every trace made live (name, exact address and size) and released. */
  jc_bpf_opts o = {
    .pid = follow,
    .event_mask = JC_EV_DEFAULT_MASK | JC_EV_BIT(JC_EV_RELOC) |
                  JC_EV_BIT(JC_EV_RECORD_WRITE) | JC_EV_BIT(JC_EV_REPLAY_HIT) |
                  JC_EV_BIT(JC_EV_TRACE_LIVE) | JC_EV_BIT(JC_EV_TRACE_RELEASE),
  };
  if (jt_verbose_log) o.event_mask = JC_EV_ALL_MASK;
  s->b = jc_bpf_open(&o);
  if (!s->b) {
    snprintf(why, n, "%s", jc_bpf_error());
    free(s);
    return NULL;
  }
  s->follow = follow;
  s->base.name = "bpf";
  s->base.poll = bpf_poll;
  s->base.drain = bpf_drain;
  s->base.close = bpf_close;
  snprintf(why, n, "root; probes of %s", jc_bpf_lib(s->b));
  return &s->base;
}

#else /* !JT_HAVE_BPF */

jt_source *jt_src_bpf_open(pid_t follow, char *why, size_t n) {
  (void)follow;
  if (geteuid() != 0)
    snprintf(why, n, "not root");
  else
    snprintf(why, n, "this jcache-top was built without the bpf loader");
  return NULL;
}

#endif
