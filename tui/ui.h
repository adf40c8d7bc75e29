/*
** tui/ui.h — the terminal: the one module that owns curses and colours.
**
** Panels draw through these calls with semantic roles (ui decides what a
** role looks like) and read keys as JK_* codes, so no other file includes
** curses.h.  Coordinates are screen cells; every call clips to the screen.
*/
#ifndef JT_UI_H
#define JT_UI_H

#include <stdbool.h>

typedef enum ui_role {
  R_NORMAL, R_HEADER, R_TITLE, R_TITLE_FOCUS, R_COLHDR, R_SELECTED, R_DIM,
  R_GOOD, R_BAD, R_WARN, R_RELOC, R_TAIL, R_PAUSED, R_KEY, R_SPARK, R_ADDR,
  R__MAX
} ui_role;

/* Keys: printable characters are themselves; the rest are these. */
enum {
  JK_NONE = -1,
  JK_UP = 0x10000, JK_DOWN, JK_LEFT, JK_RIGHT, JK_PGUP, JK_PGDN, JK_HOME,
  JK_END, JK_ENTER, JK_ESC, JK_TAB, JK_BTAB, JK_BACKSPACE, JK_F1, JK_F3,
  JK_F5, JK_F6, JK_F10, JK_RESIZE
};

typedef struct jt_rect {
  int y, x, h, w;
} jt_rect;

/* Start curses.  `ascii` forces the ASCII sparkline even in a UTF-8 locale.
** False (with nothing changed on the terminal) if there is no terminal. */
bool ui_open(bool ascii);
void ui_close(void);
bool ui_is_open(void);
void ui_size(int *rows, int *cols);
bool ui_unicode(void);

/* A frame: ui_begin clears, the panels draw, ui_end shows it. */
void ui_begin(void);
void ui_end(void);

/* Write at most w cells of s at (y, x); pad with spaces to w if `pad`. */
void ui_text(int y, int x, int w, ui_role role, const char *s, bool pad);
void ui_printf(int y, int x, int w, ui_role role, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Fill w cells with spaces in the role's colours. */
void ui_fill(int y, int x, int w, ui_role role);
/* A sparkline of the last w values of v[0..n) scaled to `max` (0: their own
** maximum): unicode eighth blocks, or " .:-=+*#" in ASCII. */
void ui_spark(int y, int x, int w, const float *v, int n, float max, ui_role role);
/* Show the cursor at (y, x), or hide it (y < 0). */
void ui_cursor(int y, int x);

/* Wait at most timeout_ms for a key (JK_NONE on timeout). */
int ui_key(int timeout_ms);

#endif
