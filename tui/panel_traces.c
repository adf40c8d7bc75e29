/*
** tui/panel_traces.c — the trace table: one row per (process, trace id),
** built from the event stream (trace_live, trace_release, commit, reloc,
** tail and record probes).  NAME, CODE and BYTES are exact for every trace
** that trace_live announced (compiled or reloaded): the newest copy still
** live.  A trace whose last copy was released is dimmed and its CODE says
** "released": that memory may hold another trace now.
** Enter opens the trace's detail view with its disassembly.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "panel.h"

enum { C_PID, C_ID, C_NAME, C_ORIGIN, C_CODE, C_BYTES, C_COMMITS, C_HITS,
       C_MISS, C_RELOCS, C_TAIL, C__N };

/* Narrow screens drop columns by level (1 first); NAME takes the width
** left over, at least its own, at most NAME_MAX. */
#define NAME_MAX 40
static const struct {
  const char *title;
  int width, drop;
  bool left;
} cols[C__N] = {
  [C_PID] = {"PID", 7, 0, false},
  [C_ID] = {"TRACE", 16, 0, true},
  [C_NAME] = {"NAME", 16, 0, true},
  [C_ORIGIN] = {"ORIGIN", 6, 0, true},
  [C_CODE] = {"CODE", 12, 2, false},
  [C_BYTES] = {"BYTES", 6, 3, false},
  [C_COMMITS] = {"COMMIT", 6, 0, false},
  [C_HITS] = {"HITS", 6, 1, false},
  [C_MISS] = {"MISS", 5, 0, false},
  [C_RELOCS] = {"RELOCS", 6, 0, false},
  [C_TAIL] = {"TAIL", 7, 0, true},
};

static const char *const sorts[] = {"last seen", "pid", "trace", "commits",
                                    "hits", "misses", "relocs", "bytes", "name"};
enum { SORT_NAME = 8 };

const char *jt_origin_name(int o) {
  return o == JT_ORIGIN_RELOADED ? "reload" : o == JT_ORIGIN_COMPILED ? "compil" : "?";
}
const char *jt_tail_name(int t) {
  return t == JT_TAIL_PENDING ? "pending" : t == JT_TAIL_VALIDATED ? "valid"
         : t == JT_TAIL_INVALIDATED ? "invalid" : "-";
}

static const jt_model *cmp_m;
static int cmp_sort;
static bool cmp_rev;

static uint64_t sort_value(const jt_trace *t, int s) {
  switch (s) {
  case 0: return t->last_ns;
  case 1: return (uint64_t)t->pid;
  case 2: return t->id;
  case 3: return t->commits;
  case 4: return t->hits;
  case 5: return t->misses;
  case 6: return t->relocs;
  case 7: return t->live_known ? t->size : t->bytes;
  default: return 0;
  }
}

static int cmp_trace(const void *a, const void *b) {
  const jt_trace *p = &cmp_m->traces[*(const int *)a], *q = &cmp_m->traces[*(const int *)b];
  int c;
  if (cmp_sort == SORT_NAME) {
    c = strcmp(p->name, q->name);
  } else {
    uint64_t x = sort_value(p, cmp_sort), y = sort_value(q, cmp_sort);
    c = x < y ? -1 : x > y;
    if (cmp_sort != 1 && cmp_sort != 2) c = -c; /* numbers: biggest first */
  }
  if (!c) c = p->id < q->id ? -1 : p->id > q->id;
  if (!c) c = p->pid < q->pid ? -1 : p->pid > q->pid;
  return cmp_rev ? -c : c;
}

static bool matches(const jt_trace *t, const char *f) {
  if (!f[0]) return true;
  char buf[160];
  snprintf(buf, sizeof buf, "%d %016llx %s %s %s %s", (int)t->pid,
           (unsigned long long)t->id, t->name, jt_origin_name(t->origin),
           jt_tail_name(t->tail), t->released ? "released" : "live");
  return jt_match(buf, f);
}

static void draw(jt_panel *p, const jt_model *m, jt_rect r, bool focus) {
  bool show[C__N];
  int width[C__N], used = 0;
  for (int i = 0; i < C__N; i++) show[i] = true, width[i] = cols[i].width;
  for (int drop = 1; drop <= 4; drop++) {
    used = 0;
    for (int i = 0; i < C__N; i++)
      if (show[i]) used += cols[i].width + 1;
    if (used <= r.w || drop == 4) break;
    for (int i = 0; i < C__N; i++)
      if (cols[i].drop == drop) show[i] = false;
  }
  width[C_NAME] += r.w - used; /* what is left over, or what is missing */
  if (width[C_NAME] > NAME_MAX) width[C_NAME] = NAME_MAX;
  if (width[C_NAME] < 4) width[C_NAME] = 4;

  char extra[64] = "";
  if (m->events_src[0])
    snprintf(extra, sizeof extra, "%d trace%s", m->ntraces, m->ntraces == 1 ? "" : "s");
  jt_panel_title(p, r, focus, extra);
  if (r.h < 2) return;
  int x = r.x;
  ui_fill(r.y + 1, r.x, r.w, R_COLHDR);
  for (int i = 0; i < C__N; i++) {
    if (!show[i]) continue;
    char buf[64];
    snprintf(buf, sizeof buf, cols[i].left ? "%-*s" : "%*s", width[i], cols[i].title);
    ui_text(r.y + 1, x, width[i], R_COLHDR, buf, false);
    x += width[i] + 1;
  }

  p->nrows = 0;
  if (!jt_list_reserve(p, m->ntraces)) return;
  for (int i = 0; i < m->ntraces; i++) {
    const jt_trace *t = &m->traces[i];
    if (p->only_pid && t->pid != p->only_pid) continue;
    if (!matches(t, p->filter)) continue;
    p->order[p->nrows++] = i;
  }
  cmp_m = m;
  cmp_sort = p->sort;
  cmp_rev = p->reverse;
  qsort(p->order, (size_t)p->nrows, sizeof *p->order, cmp_trace);
  int found = -1;
  for (int i = 0; i < p->nrows; i++) {
    const jt_trace *t = &m->traces[p->order[i]];
    if (t->pid == p->sel_pid && t->id == p->sel_id) found = i;
  }
  int body = r.h - 2;
  jt_list_settle(p, body, found);
  if (p->nrows) {
    const jt_trace *t = &m->traces[p->order[p->sel]];
    p->sel_pid = t->pid;
    p->sel_id = t->id;
  }

  if (!p->nrows) {
    char msg[256];
    if (!m->events_src[0])
      snprintf(msg, sizeof msg, "no trace table: bpf not available (%s)", m->events_why);
    else
      snprintf(msg, sizeof msg, m->ntraces ? "no trace matches" : "no traces yet");
    ui_text(r.y + 2, r.x + 1, r.w - 1, R_DIM, msg, false);
    return;
  }
  for (int row = 0; row < body && p->top + row < p->nrows; row++) {
    int idx = p->top + row;
    const jt_trace *t = &m->traces[p->order[idx]];
    bool sel = focus && idx == p->sel;
    int y = r.y + 2 + row;
    bool alive = jt_model_proc((jt_model *)m, t->pid, false) != NULL;
    ui_role base = sel ? R_SELECTED : alive && !t->released ? R_NORMAL : R_DIM;
    alive = alive && !t->released; /* colours for what runs now only */
    if (sel) ui_fill(y, r.x, r.w, R_SELECTED);
    x = r.x;
    for (int i = 0; i < C__N; i++) {
      if (!show[i]) continue;
      int w = width[i];
      char v[64], cell[80];
      ui_role role = base;
      switch (i) {
      case C_PID: snprintf(v, sizeof v, "%d", (int)t->pid); break;
      case C_ID: snprintf(v, sizeof v, "%016llx", (unsigned long long)t->id); break;
      case C_NAME: snprintf(v, sizeof v, "%.*s", w, t->name[0] ? t->name : "-"); break;
      case C_ORIGIN:
        snprintf(v, sizeof v, "%s", jt_origin_name(t->origin));
        if (!sel && alive && t->origin == JT_ORIGIN_RELOADED) role = R_GOOD;
        break;
      case C_CODE:
        if (t->released) snprintf(v, sizeof v, "released");
        else if (t->code) snprintf(v, sizeof v, "%llx", (unsigned long long)t->code);
        else snprintf(v, sizeof v, "-");
        break;
      case C_BYTES: {
        /* Exact with trace_live; else the commit's whole chain. */
        uint64_t b = t->live_known ? t->size : t->bytes;
        if (b) jt_fmt_count(v, sizeof v, b, w);
        else snprintf(v, sizeof v, "-");
        break;
      }
      case C_COMMITS: jt_fmt_count(v, sizeof v, t->commits, w); break;
      case C_HITS: jt_fmt_count(v, sizeof v, t->hits, w); break;
      case C_MISS:
        jt_fmt_count(v, sizeof v, t->misses, w);
        if (!sel && alive && t->misses) role = R_WARN;
        break;
      case C_RELOCS:
        if (m->no_reloc_events) snprintf(v, sizeof v, "?");
        else jt_fmt_count(v, sizeof v, t->relocs, w);
        break;
      case C_TAIL:
        snprintf(v, sizeof v, "%s", jt_tail_name(t->tail));
        if (!sel && alive)
          role = t->tail == JT_TAIL_INVALIDATED ? R_BAD
                 : t->tail == JT_TAIL_PENDING ? R_WARN
                 : t->tail == JT_TAIL_VALIDATED ? R_GOOD : role;
        break;
      }
      snprintf(cell, sizeof cell, cols[i].left ? "%-*s" : "%*s", w, v);
      ui_text(y, x, w, role, cell, false);
      x += w + 1;
    }
  }
}

static int key(jt_panel *p, const jt_model *m, int k) {
  if (jt_list_key(p, k)) {
    if (p->nrows && p->sel < p->nrows) {
      const jt_trace *t = &m->traces[p->order[p->sel]];
      p->sel_pid = t->pid;
      p->sel_id = t->id;
    }
    return JT_HANDLED;
  }
  if (k == JK_ENTER && p->nrows) return JT_DETAIL;
  return JT_IGNORED;
}

jt_panel jt_panel_traces = {
  .name = "Traces",
  .draw = draw,
  .key = key,
  .sorts = sorts,
  .nsorts = sizeof sorts / sizeof sorts[0],
};
