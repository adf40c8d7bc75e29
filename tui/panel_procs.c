/*
** tui/panel_procs.c — the process list: one row per process using libjcache,
** with its counters, rates and a warm-up sparkline.
**
** Columns are dropped from the least important on when the terminal is
** narrow, so 80 columns still show the story: rates, misses, reloaded vs
** compiled, tails and the sparkline.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "panel.h"

enum { C_PID, C_COMM, C_LKPS, C_LOOKUPS, C_HITS, C_MISS, C_RELOC, C_RELD,
       C_COMP, C_TAILS, C_SPARK, C__N };

typedef struct col {
  const char *title;
  int width;
  int drop; /* drop order when narrow: 1 first; 0 never */
  bool left;
} col;

static const col cols[C__N] = {
  [C_PID] = {"PID", 7, 0, false},
  [C_COMM] = {"COMMAND", 9, 0, true},
  [C_LKPS] = {"LKUP/s", 6, 0, false},
  [C_LOOKUPS] = {"LOOKUPS", 7, 1, false},
  [C_HITS] = {"HITS", 7, 3, false},
  [C_MISS] = {"MISS", 5, 0, false},
  [C_RELOC] = {"RELOCS", 6, 2, false},
  [C_RELD] = {"RELOAD", 6, 0, false},
  [C_COMP] = {"COMPIL", 6, 0, false},
  [C_TAILS] = {"TAIL p/v/i", 11, 0, true},
  [C_SPARK] = {"WARM-UP traces/s 60s", 10, 4, true}, /* width: the minimum */
};

static const char *const sorts[] = {"lookups/s", "pid", "command", "lookups",
                                    "misses", "reloaded", "compiled", "warm-up"};

static const jt_model *cmp_m;
static int cmp_sort;
static bool cmp_rev;

static double sort_value(const jt_proc *p, int s) {
  switch (s) {
  case 0: return p->lookups_ps;
  case 1: return p->pid;
  case 3: return (double)p->st.lookups;
  case 4: return (double)p->st.replay_misses;
  case 5: return (double)p->st.traces_reloaded;
  case 6: return (double)jt_compiled(&p->st);
  case 7: return p->traces_ps;
  default: return 0;
  }
}

static int cmp_proc(const void *a, const void *b) {
  const jt_proc *p = &cmp_m->procs[*(const int *)a], *q = &cmp_m->procs[*(const int *)b];
  int c;
  if (cmp_sort == 2) {
    c = strcmp(p->comm, q->comm);
  } else {
    double x = sort_value(p, cmp_sort), y = sort_value(q, cmp_sort);
    c = x < y ? -1 : x > y;
    /* Numbers: biggest first unless reversed (pid: smallest first). */
    if (cmp_sort != 1) c = -c;
  }
  if (!c) c = p->pid < q->pid ? -1 : p->pid > q->pid;
  return cmp_rev ? -c : c;
}

/* Which columns fit in w cells; the sparkline gets what is left. */
static void layout(int w, bool show[C__N], int *spark_w) {
  for (int i = 0; i < C__N; i++) show[i] = true;
  for (int drop = 0;; drop++) {
    int used = 0;
    for (int i = 0; i < C__N; i++)
      if (show[i]) used += (i == C_SPARK ? cols[i].width : cols[i].width) + 1;
    if (used <= w || drop > 4) {
      *spark_w = show[C_SPARK] ? cols[C_SPARK].width + (w - used) : 0;
      if (*spark_w > JT_HIST) *spark_w = JT_HIST;
      return;
    }
    for (int i = 0; i < C__N; i++)
      if (cols[i].drop == drop + 1) show[i] = false;
  }
}

static void draw(jt_panel *p, const jt_model *m, jt_rect r, bool focus) {
  bool show[C__N];
  int spark_w;
  layout(r.w, show, &spark_w);

  char extra[64];
  snprintf(extra, sizeof extra, "%d process%s", m->nprocs, m->nprocs == 1 ? "" : "es");
  jt_panel_title(p, r, focus, extra);
  if (r.h < 2) return;

  /* Column header. */
  int x = r.x;
  ui_fill(r.y + 1, r.x, r.w, R_COLHDR);
  for (int i = 0; i < C__N; i++) {
    if (!show[i]) continue;
    int w = i == C_SPARK ? spark_w : cols[i].width;
    char buf[64];
    snprintf(buf, sizeof buf, cols[i].left ? "%-*s" : "%*s", w, cols[i].title);
    ui_text(r.y + 1, x, w, R_COLHDR, buf, false);
    x += w + 1;
  }

  /* Rows: filter and sort. */
  p->nrows = 0;
  if (!jt_list_reserve(p, m->nprocs)) return;
  for (int i = 0; i < m->nprocs; i++) {
    const jt_proc *q = &m->procs[i];
    char pidbuf[16];
    snprintf(pidbuf, sizeof pidbuf, "%d", (int)q->pid);
    if (p->filter[0] && !jt_match(q->comm, p->filter) && !jt_match(pidbuf, p->filter))
      continue;
    p->order[p->nrows++] = i;
  }
  cmp_m = m;
  cmp_sort = p->sort;
  cmp_rev = p->reverse;
  qsort(p->order, (size_t)p->nrows, sizeof *p->order, cmp_proc);
  int found = -1;
  for (int i = 0; i < p->nrows; i++)
    if (m->procs[p->order[i]].pid == p->sel_pid) found = i;
  int body = r.h - 2;
  jt_list_settle(p, body, found);
  if (p->nrows) p->sel_pid = m->procs[p->order[p->sel]].pid;

  if (!p->nrows) {
    ui_text(r.y + 2, r.x + 1, r.w - 1, R_DIM,
            m->nprocs ? "no process matches the filter"
                      : "no process using libjcache (no /dev/shm/jcache.* segment)",
            false);
    return;
  }
  for (int row = 0; row < body && p->top + row < p->nrows; row++) {
    int idx = p->top + row;
    const jt_proc *q = &m->procs[p->order[idx]];
    const jc_stats *s = &q->st;
    bool sel = focus && idx == p->sel;
    int y = r.y + 2 + row;
    ui_role base = sel ? R_SELECTED : R_NORMAL;
    if (sel) ui_fill(y, r.x, r.w, R_SELECTED);
    x = r.x;
    for (int i = 0; i < C__N; i++) {
      if (!show[i]) continue;
      int w = i == C_SPARK ? spark_w : cols[i].width;
      char v[64], cell[80];
      ui_role role = base;
      v[0] = 0;
      switch (i) {
      case C_PID: snprintf(v, sizeof v, "%d", (int)q->pid); break;
      case C_COMM: snprintf(v, sizeof v, "%s", q->comm); break;
      case C_LKPS: jt_fmt_rate(v, sizeof v, q->lookups_ps, w); break;
      case C_LOOKUPS: jt_fmt_count(v, sizeof v, s->lookups, w); break;
      case C_HITS: jt_fmt_count(v, sizeof v, s->replay_hits, w); break;
      case C_MISS:
        jt_fmt_count(v, sizeof v, s->replay_misses, w);
        if (s->replay_misses && !sel) role = R_WARN;
        break;
      case C_RELOC: jt_fmt_count(v, sizeof v, s->relocs_patched, w); break;
      case C_RELD:
        jt_fmt_count(v, sizeof v, s->traces_reloaded, w);
        if (!sel) role = R_GOOD;
        break;
      case C_COMP: jt_fmt_count(v, sizeof v, jt_compiled(s), w); break;
      case C_TAILS: {
        char a[16], b[16], c[16];
        snprintf(v, sizeof v, "%s/%s/%s", jt_fmt_count(a, sizeof a, jt_tails_pending(s), 3),
                 jt_fmt_count(b, sizeof b, s->tails_validated, 4),
                 jt_fmt_count(c, sizeof c, s->tails_invalidated, 4));
        break;
      }
      case C_SPARK:
        ui_spark(y, x, w, q->hist, JT_HIST, 0, sel ? R_SELECTED : R_SPARK);
        x += w + 1;
        continue;
      }
      snprintf(cell, sizeof cell, cols[i].left ? "%-*s" : "%*s", w, v);
      ui_text(y, x, w, role, cell, false);
      x += w + 1;
    }
  }
}

static int key(jt_panel *p, const jt_model *m, int k) {
  if (jt_list_key(p, k)) {
    if (p->nrows && p->sel < p->nrows) p->sel_pid = m->procs[p->order[p->sel]].pid;
    return JT_HANDLED;
  }
  if (k == JK_ENTER && p->nrows) {
    /* Enter: show only this process in the trace table and the event log. */
    pid_t pid = m->procs[p->order[p->sel]].pid;
    pid_t set = jt_panel_traces.only_pid == pid ? 0 : pid;
    jt_panel_traces.only_pid = set;
    jt_panel_events.only_pid = set;
    return JT_HANDLED;
  }
  return JT_IGNORED;
}

jt_panel jt_panel_procs = {
  .name = "Processes",
  .draw = draw,
  .key = key,
  .sorts = sorts,
  .nsorts = sizeof sorts / sizeof sorts[0],
};
