/*
** tui/panel_help.c — the help overlay (h, ?, F1).
*/
#include "panel.h"

static const char *const help[] = {
  "jcache-top: what libjcache does in every process, live",
  "",
  "Keys",
  "  Tab / Shift-Tab  next / previous pane (processes, traces, events)",
  "  Up Down PgUp PgDn Home End   move in the pane",
  "  Enter            process: show only its traces and events (again: all)",
  "                   trace or event: the trace's detail and disassembly",
  "  s  F6            sort the pane by the next column;  S  reverse",
  "  /  F3            filter the pane (Enter applies, Esc clears)",
  "  p  Space         pause the display (collection goes on)",
  "  v                log lookups, hits, binds and relocations too",
  "  h  ?  F1         this help (any key closes it)",
  "  q  F10           quit",
  "",
  "Process columns",
  "  LKUP/s  lookups per second    MISS    replays dropped on a miss",
  "  RELOAD  traces reloaded       COMPIL  traces recorded here (records",
  "  RELOCS  relocations patched           written + not persisted)",
  "  TAIL p/v/i  tail guards pending / validated / invalidated",
  "  WARM-UP traces made live (reloaded + compiled) per second, last 60 s",
  "",
  "Counters come from /dev/shm/jcache.PID (no root needed).  The event log",
  "and the trace table need bpf (root): the header says which source is used.",
};

void jt_help_draw(jt_rect r) {
  int n = (int)(sizeof help / sizeof help[0]);
  int w = 78 < r.w - 2 ? 78 : r.w - 2;
  int h = n + 2 < r.h ? n + 2 : r.h;
  int y0 = r.y + (r.h - h) / 2, x0 = r.x + (r.w - w) / 2;
  if (w < 10 || h < 3) return;
  ui_text(y0, x0, w, R_TITLE_FOCUS, " Help  (any key closes)", true);
  for (int i = 0; i < h - 2 && i < n; i++)
    ui_text(y0 + 1 + i, x0, w, i == 0 || help[i][0] != ' ' ? R_HEADER : R_NORMAL,
            help[i], true);
  ui_fill(y0 + h - 1, x0, w, R_TITLE);
}
