/*
** tui/panel_events.c — the event log: the probe stream, newest first.
**
** Lookups, replay hits, binds and relocations are too many to read; they are
** counted (and folded into the trace table) but logged only in verbose mode
** (v).  Enter on an event that names a trace opens that trace's detail.
*/
#include <stdio.h>
#include <string.h>

#include "panel.h"

static ui_role kind_role(int k) {
  switch (k) {
  case JT_EV_REPLAY_MISS: case JT_EV_TAIL_INVALIDATED: case JT_EV_COMMIT_FAIL:
  case JT_EV_REJECT: case JT_EV_WRITE_ERROR: case JT_EV_RECORD_ABORT:
    return R_BAD;
  case JT_EV_COMMIT: case JT_EV_TAIL_VALIDATED: case JT_EV_RECORD_WRITE:
    return R_GOOD;
  case JT_EV_TAIL_GUARD: case JT_EV_BRIDGE_ATTACH:
    return R_WARN;
  default:
    return R_NORMAL;
  }
}

static void line(const jt_model *m, const jt_event *ev, char *buf, size_t n) {
  char text[200];
  jt_event_text(ev, text, sizeof text);
  double t = ev->ts_ns >= m->start_ns ? (double)(ev->ts_ns - m->start_ns) / 1e9 : 0;
  snprintf(buf, n, "%8.3f %7d %-16s %s", t, (int)ev->pid, jt_ev_name(ev->kind), text);
}

static void draw(jt_panel *p, const jt_model *m, jt_rect r, bool focus) {
  char extra[96] = "";
  if (m->events_src[0])
    snprintf(extra, sizeof extra, "%llu logged%s%s",
             (unsigned long long)m->nevents, jt_verbose_log ? " (verbose)" : "",
             m->ev_dropped ? "  DROPPED EVENTS" : "");
  jt_panel_title(p, r, focus, extra);
  if (r.h < 2) return;
  int body = r.h - 1;
  if (!m->events_src[0]) {
    char msg[256];
    snprintf(msg, sizeof msg, "no event stream: bpf not available (%s)", m->events_why);
    ui_text(r.y + 1, r.x + 1, r.w - 1, R_DIM, msg, false);
    p->nrows = 0;
    return;
  }

  p->nrows = 0;
  if (!jt_list_reserve(p, JT_EVENTS)) return;
  char buf[320];
  const jt_event *ev;
  for (uint64_t i = 0; (ev = jt_model_event_at(m, i)); i++) {
    if (p->only_pid && ev->pid != p->only_pid) continue;
    if (p->filter[0]) {
      line(m, ev, buf, sizeof buf);
      if (!jt_match(buf, p->filter)) continue;
    }
    p->order[p->nrows++] = (int)i;
  }
  /* The log scrolls: keep the selection on the same event (by its serial
  ** number, nevents - 1 - i) unless it is at the top (follow the newest). */
  int found = -1;
  if (p->sel_id && p->sel > 0)
    for (int i = 0; i < p->nrows; i++)
      if (m->nevents - 1 - (uint64_t)p->order[i] == p->sel_id - 1) found = i;
  if (p->sel == 0) found = 0;
  jt_list_settle(p, body, found);
  if (p->nrows) p->sel_id = m->nevents - (uint64_t)p->order[p->sel];

  if (!p->nrows) {
    ui_text(r.y + 1, r.x + 1, r.w - 1, R_DIM,
            m->nevents ? "no event matches" : "no events yet", false);
    return;
  }
  for (int row = 0; row < body && p->top + row < p->nrows; row++) {
    int idx = p->top + row;
    ev = jt_model_event_at(m, (uint64_t)p->order[idx]);
    line(m, ev, buf, sizeof buf);
    bool sel = focus && idx == p->sel;
    int y = r.y + 1 + row;
    if (sel) {
      ui_text(y, r.x, r.w, R_SELECTED, buf, true);
      continue;
    }
    /* Time and pid plain, the kind coloured, the text plain. */
    ui_text(y, r.x, r.w, R_NORMAL, buf, false);
    ui_printf(y, r.x + 17, r.w - 17, kind_role(ev->kind), "%-16s", jt_ev_name(ev->kind));
  }
}

static int key(jt_panel *p, const jt_model *m, int k) {
  if (jt_list_key(p, k)) {
    if (p->nrows && p->sel < p->nrows) p->sel_id = m->nevents - (uint64_t)p->order[p->sel];
    return JT_HANDLED;
  }
  if (k == JK_ENTER && p->nrows) {
    const jt_event *ev = jt_model_event_at(m, (uint64_t)p->order[p->sel]);
    if (!ev) return JT_HANDLED;
    uint64_t id = ev->kind == JT_EV_REJECT ? ev->a[1] : ev->id;
    if (ev->kind == JT_EV_LOOKUP || ev->kind == JT_EV_RECORD_ABORT ||
        !jt_model_trace((jt_model *)m, ev->pid, id, false))
      return JT_HANDLED;
    jt_panel_traces.sel_pid = ev->pid;
    jt_panel_traces.sel_id = id;
    return JT_DETAIL;
  }
  return JT_IGNORED;
}

jt_panel jt_panel_events = {
  .name = "Events",
  .draw = draw,
  .key = key,
};
