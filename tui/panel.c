/*
** tui/panel.c — what every list panel shares: selection, scrolling, the
** title bar, number formatting.
*/
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "panel.h"

bool jt_list_reserve(jt_panel *p, int n) {
  if (n <= p->cap && p->order) return true;
  int cap = n < 64 ? 64 : n * 2;
  int *o = realloc(p->order, (size_t)cap * sizeof *o);
  if (!o) return false;
  p->order = o;
  p->cap = cap;
  return true;
}

void jt_list_settle(jt_panel *p, int body_rows, int found) {
  p->page = body_rows > 0 ? body_rows : 1;
  if (found >= 0) p->sel = found;
  if (p->sel >= p->nrows) p->sel = p->nrows - 1;
  if (p->sel < 0) p->sel = 0;
  if (p->sel < p->top) p->top = p->sel;
  if (p->sel >= p->top + p->page) p->top = p->sel - p->page + 1;
  if (p->top > p->nrows - p->page) p->top = p->nrows - p->page;
  if (p->top < 0) p->top = 0;
}

/* Movement keys; the caller maps the new row back to its key. */
int jt_list_key(jt_panel *p, int key) {
  int old = p->sel;
  switch (key) {
  case JK_UP: case 'k': p->sel--; break;
  case JK_DOWN: case 'j': p->sel++; break;
  case JK_PGUP: p->sel -= p->page; break;
  case JK_PGDN: p->sel += p->page; break;
  case JK_HOME: case 'g': p->sel = 0; break;
  case JK_END: case 'G': p->sel = p->nrows - 1; break;
  default: return JT_IGNORED;
  }
  if (p->sel >= p->nrows) p->sel = p->nrows - 1;
  if (p->sel < 0) p->sel = 0;
  (void)old;
  return JT_HANDLED;
}

void jt_panel_title(jt_panel *p, jt_rect r, bool focus, const char *extra) {
  char buf[256];
  int n = snprintf(buf, sizeof buf, " %s", p->name);
  if (p->nsorts && n < (int)sizeof buf)
    n += snprintf(buf + n, sizeof buf - (size_t)n, "  sort:%s%s",
                  p->sorts[p->sort], p->reverse ? "+" : "-");
  if (p->filter[0] && n < (int)sizeof buf)
    n += snprintf(buf + n, sizeof buf - (size_t)n, "  filter:\"%s\"", p->filter);
  if (p->only_pid && n < (int)sizeof buf)
    n += snprintf(buf + n, sizeof buf - (size_t)n, "  pid:%d", (int)p->only_pid);
  if (extra && extra[0] && n < (int)sizeof buf)
    snprintf(buf + n, sizeof buf - (size_t)n, "  %s", extra);
  ui_text(r.y, r.x, r.w, focus ? R_TITLE_FOCUS : R_TITLE, buf, true);
}

bool jt_match(const char *hay, const char *needle) {
  if (!needle[0]) return true;
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0) return true;
  return false;
}

char *jt_fmt_count(char *buf, size_t n, uint64_t v, int w) {
  snprintf(buf, n, "%llu", (unsigned long long)v);
  if ((int)strlen(buf) <= w) return buf;
  static const char units[] = "kMGTPE";
  double d = (double)v;
  for (int i = 0; units[i]; i++) {
    d /= 1000.0;
    snprintf(buf, n, d < 10 ? "%.1f%c" : "%.0f%c", d, units[i]);
    if ((int)strlen(buf) <= w) return buf;
  }
  return buf;
}

char *jt_fmt_rate(char *buf, size_t n, double v, int w) {
  if (v < 0) v = 0;
  if (v < 10 && v > 0)
    snprintf(buf, n, "%.1f", v);
  else
    return jt_fmt_count(buf, n, (uint64_t)(v + 0.5), w);
  return buf;
}
