/*
** tui/ui.c — curses, colours, keys.  The only file that includes curses.h.
**
** Resizing: ncurses handles SIGWINCH itself and reports KEY_RESIZE from
** getch() with LINES/COLS already updated; every frame is drawn from scratch
** (erase, draw, refresh), so a resize is just another frame.
*/
#include <langinfo.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "ui.h"

static bool is_open, unicode;
static attr_t role_attr[R__MAX];

static void init_roles(void) {
  bool color = has_colors() && start_color() == OK;
  if (color) use_default_colors();
  struct { ui_role r; short fg, bg; attr_t a, mono; } t[] = {
    {R_NORMAL, -1, -1, 0, 0},
    {R_HEADER, COLOR_CYAN, -1, A_BOLD, A_BOLD},
    {R_TITLE, COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE},
    {R_TITLE_FOCUS, COLOR_BLACK, COLOR_GREEN, A_BOLD, A_REVERSE | A_BOLD},
    {R_COLHDR, COLOR_BLACK, COLOR_WHITE, 0, A_UNDERLINE},
    {R_SELECTED, COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE},
    {R_DIM, COLOR_BLUE, -1, A_BOLD, A_DIM},
    {R_GOOD, COLOR_GREEN, -1, 0, 0},
    {R_BAD, COLOR_RED, -1, A_BOLD, A_BOLD},
    {R_WARN, COLOR_YELLOW, -1, 0, 0},
    {R_RELOC, COLOR_BLACK, COLOR_YELLOW, 0, A_REVERSE},
    {R_TAIL, COLOR_WHITE, COLOR_MAGENTA, 0, A_UNDERLINE},
    {R_PAUSED, COLOR_WHITE, COLOR_RED, A_BOLD, A_REVERSE | A_BOLD},
    {R_KEY, COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE},
    {R_SPARK, COLOR_GREEN, -1, 0, 0},
    {R_ADDR, COLOR_CYAN, -1, 0, 0},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    if (!color) {
      role_attr[t[i].r] = t[i].mono;
      continue;
    }
    short pair = (short)(i + 1);
    init_pair(pair, t[i].fg, t[i].bg);
    role_attr[t[i].r] = (attr_t)COLOR_PAIR(pair) | t[i].a;
  }
  role_attr[R_NORMAL] = 0;
}

bool ui_open(bool ascii) {
  setlocale(LC_ALL, "");
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) return false;
  unicode = !ascii && strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
  /* ESC arrives alone quickly: wait 25 ms for the rest of a sequence. */
  setenv("ESCDELAY", "25", 0);
  if (!initscr()) return false;
  is_open = true;
  cbreak();
  noecho();
  nonl();
  intrflush(stdscr, FALSE);
  keypad(stdscr, TRUE);
  curs_set(0);
  init_roles();
  return true;
}

void ui_close(void) {
  if (!is_open) return;
  endwin();
  is_open = false;
}

bool ui_is_open(void) { return is_open; }
bool ui_unicode(void) { return unicode; }

void ui_size(int *rows, int *cols) {
  *rows = LINES;
  *cols = COLS;
}

void ui_begin(void) { erase(); }
void ui_end(void) { refresh(); }

static bool clip(int y, int x, int *w) {
  if (y < 0 || y >= LINES || x < 0 || x >= COLS) return false;
  if (*w > COLS - x) *w = COLS - x;
  return *w > 0;
}

void ui_text(int y, int x, int w, ui_role role, const char *s, bool pad) {
  if (!clip(y, x, &w)) return;
  attrset(role_attr[role]);
  /* Panels hand over ASCII; anything else is shown as '?', so a string from
  ** a traced process can never move the cursor or print wide characters. */
  int n = 0;
  for (; s[n] && n < w; n++) {
    unsigned char c = (unsigned char)s[n];
    mvaddch(y, x + n, c >= 0x20 && c < 0x7f ? c : '?');
  }
  if (pad)
    for (; n < w; n++) mvaddch(y, x + n, ' ');
  attrset(A_NORMAL);
}

void ui_printf(int y, int x, int w, ui_role role, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  ui_text(y, x, w, role, buf, false);
}

void ui_fill(int y, int x, int w, ui_role role) { ui_text(y, x, w, role, "", true); }

void ui_spark(int y, int x, int w, const float *v, int n, float max, ui_role role) {
  static const char *const blocks[] = {" ", "\u2581", "\u2582", "\u2583", "\u2584",
                                       "\u2585", "\u2586", "\u2587", "\u2588"};
  static const char ascii[] = " .:-=+*#@";
  if (!clip(y, x, &w)) return;
  int first = n > w ? n - w : 0;
  if (max <= 0)
    for (int i = first; i < n; i++)
      if (v[i] > max) max = v[i];
  attrset(role_attr[role]);
  int col = x + w - (n - first); /* newest value at the right edge */
  for (int i = first; i < n; i++, col++) {
    int level = 0;
    if (max > 0 && v[i] > 0) {
      level = (int)(v[i] / max * 8.0f + 0.999f);
      if (level < 1) level = 1;
      if (level > 8) level = 8;
    }
    if (unicode)
      mvaddstr(y, col, blocks[level]);
    else
      mvaddch(y, col, (chtype)(unsigned char)ascii[level]);
  }
  attrset(A_NORMAL);
}

void ui_cursor(int y, int x) {
  if (y < 0) {
    curs_set(0);
    return;
  }
  move(y, x);
  curs_set(1);
}

int ui_key(int timeout_ms) {
  timeout(timeout_ms < 0 ? 0 : timeout_ms);
  int c = getch();
  switch (c) {
  case ERR: return JK_NONE;
  case KEY_UP: return JK_UP;
  case KEY_DOWN: return JK_DOWN;
  case KEY_LEFT: return JK_LEFT;
  case KEY_RIGHT: return JK_RIGHT;
  case KEY_PPAGE: return JK_PGUP;
  case KEY_NPAGE: return JK_PGDN;
  case KEY_HOME: return JK_HOME;
  case KEY_END: return JK_END;
  case KEY_ENTER: case '\r': case '\n': return JK_ENTER;
  case 27: return JK_ESC;
  case '\t': return JK_TAB;
  case KEY_BTAB: return JK_BTAB;
  case KEY_BACKSPACE: case 127: case 8: return JK_BACKSPACE;
  case KEY_F(1): return JK_F1;
  case KEY_F(3): return JK_F3;
  case KEY_F(5): return JK_F5;
  case KEY_F(6): return JK_F6;
  case KEY_F(10): return JK_F10;
  case KEY_RESIZE: return JK_RESIZE;
  default: return c >= 0 && c < 0x100 ? c : JK_NONE;
  }
}
