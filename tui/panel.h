/*
** tui/panel.h — the panels of jcache-top.
**
** A panel draws part of the model into a rectangle and handles the keys sent
** to it while it has the focus; its key handler returns JT_* flags that tell
** the event loop what to do next (as in htop).  Selection is kept by key
** (a pid, or pid and trace id), not by row, so it survives re-sorting and
** refreshes.
*/
#ifndef JT_PANEL_H
#define JT_PANEL_H

#include "top.h"
#include "ui.h"

enum {
  JT_IGNORED = 0,
  JT_HANDLED = 1 << 0,
  JT_DETAIL = 1 << 1,   /* open the detail view of the selected trace */
  JT_QUIT = 1 << 2,
};

typedef struct jt_panel jt_panel;
struct jt_panel {
  const char *name;
  void (*draw)(jt_panel *p, const jt_model *m, jt_rect r, bool focus);
  /* Keys not handled by the event loop itself (movement, Enter). */
  int (*key)(jt_panel *p, const jt_model *m, int key);
  /* Sort columns: names, count, current one, direction. */
  const char *const *sorts;
  int nsorts, sort;
  bool reverse;
  char filter[64];
  /* Rows in display order, from the last draw: indices into the model. */
  int *order;
  int nrows, cap;
  int sel, top, page;
  pid_t sel_pid;        /* the selected row's key */
  uint64_t sel_id;
  pid_t only_pid;       /* traces and events: one process only (0: all) */
};

extern jt_panel jt_panel_procs, jt_panel_traces, jt_panel_events;

/* Common list behaviour (panel.c). */
int jt_list_key(jt_panel *p, int key);
/* After filling p->order: find the selection again, scroll it into view. */
void jt_list_settle(jt_panel *p, int body_rows, int found);
bool jt_list_reserve(jt_panel *p, int n);
/* The title bar: name, sort, filter, extra text. */
void jt_panel_title(jt_panel *p, jt_rect r, bool focus, const char *extra);
/* Case-insensitive substring test; an empty needle matches. */
bool jt_match(const char *hay, const char *needle);

/* Numbers in at most w characters: exact when they fit, else k/M/G/T. */
char *jt_fmt_count(char *buf, size_t n, uint64_t v, int w);
char *jt_fmt_rate(char *buf, size_t n, double v, int w);

/* "reload", "compil", "?" and "pending", "valid"... (panel_traces.c). */
const char *jt_origin_name(int o);
const char *jt_tail_name(int t);

/* The detail view of one trace (panel_detail.c), full screen. */
void jt_detail_open(const jt_model *m, pid_t pid, uint64_t id);
void jt_detail_close(void);
bool jt_detail_active(void);
void jt_detail_draw(const jt_model *m, jt_rect r);
/* After the code was read (open, r): with the events taken in since, drop
** the disassembly of a copy that was released meanwhile. */
void jt_detail_verify(const jt_model *m);
int jt_detail_key(const jt_model *m, int key);

/* The help overlay (panel_help.c). */
void jt_help_draw(jt_rect r);

#endif
