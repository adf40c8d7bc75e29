/*
** tui/main.c — jcache-top: options, the event loop, the screen layout.
**
**   jcache-top [-d TENTHS] [-p PID] [-n N | --once] [--source=auto|shm|bpf]
**
** The loop: collect every interval into the live model; draw the shown
** model (the live one, or a frozen copy while paused); dispatch keys to the
** focused panel, which answers with JT_* flags.  When stdout is not a
** terminal (or with -b), it prints plain tables instead, top -b style.
*/
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "panel.h"

#define JT_VERSION "0.1.0"

typedef struct opts {
  int tenths;          /* refresh interval */
  pid_t pid;
  long iterations;     /* 0: until q */
  jt_source_mode mode;
  bool ascii, batch, verbose;
} opts;

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void usage(FILE *f) {
  fprintf(f,
    "usage: jcache-top [OPTIONS]\n"
    "Show, live, what libjcache does in every process that uses it: lookups,\n"
    "replay hits and misses, relocations, reloaded vs compiled traces, tail\n"
    "guards; with bpf (root) also the event log and the trace table.\n"
    "\n"
    "  -d, --delay=TENTHS     refresh interval in tenths of seconds (default 10)\n"
    "  -p, --pid=PID          show only this process\n"
    "  -n, --iterations=N     exit after N refreshes\n"
    "      --once             one refresh, then exit (-n 1)\n"
    "      --source=SOURCE    auto (default): bpf events when root and bpf loads,\n"
    "                         shm: shared-memory counters only, bpf: require bpf\n"
    "  -b, --batch            plain text tables on stdout (default when stdout\n"
    "                         is not a terminal)\n"
    "      --ascii            ASCII sparklines even in a UTF-8 locale\n"
    "  -v, --verbose          log lookups, replay hits, binds and relocations too\n"
    "  -h, --help             this help;  -V, --version\n"
    "\n"
    "Keys: h help, Tab pane, s/F6 sort, / filter, p pause, Enter detail, q quit.\n"
    "\n"
    "Examples:\n"
    "  jcache-top                      every process of this user (root: all)\n"
    "  jcache-top -p 1234 -d 5         one process, twice a second\n"
    "  jcache-top -b --once --source=shm -d 5   one table for scripts\n");
}

static int parse(int argc, char **argv, opts *o) {
  enum { OPT_ONCE = 256, OPT_SOURCE, OPT_ASCII };
  static const struct option lo[] = {
    {"delay", required_argument, 0, 'd'}, {"pid", required_argument, 0, 'p'},
    {"iterations", required_argument, 0, 'n'}, {"once", no_argument, 0, OPT_ONCE},
    {"source", required_argument, 0, OPT_SOURCE}, {"batch", no_argument, 0, 'b'},
    {"ascii", no_argument, 0, OPT_ASCII}, {"verbose", no_argument, 0, 'v'},
    {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
  *o = (opts){.tenths = 10};
  int c;
  char *end;
  while ((c = getopt_long(argc, argv, "d:p:n:bvhV", lo, NULL)) != -1) {
    switch (c) {
    case 'd':
      o->tenths = (int)strtol(optarg, &end, 10);
      if (*end || o->tenths < 1 || o->tenths > 36000) {
        fprintf(stderr, "jcache-top: -d wants tenths of seconds (1..36000), not '%s'\n", optarg);
        return 2;
      }
      break;
    case 'p':
      o->pid = (pid_t)strtol(optarg, &end, 10);
      if (*end || o->pid <= 0) {
        fprintf(stderr, "jcache-top: -p wants a process id, not '%s'\n", optarg);
        return 2;
      }
      break;
    case 'n':
      o->iterations = strtol(optarg, &end, 10);
      if (*end || o->iterations < 1) {
        fprintf(stderr, "jcache-top: -n wants a positive count, not '%s'\n", optarg);
        return 2;
      }
      break;
    case OPT_ONCE: o->iterations = 1; break;
    case OPT_SOURCE:
      if (strcmp(optarg, "auto") == 0) o->mode = JT_SRC_AUTO;
      else if (strcmp(optarg, "shm") == 0) o->mode = JT_SRC_SHM;
      else if (strcmp(optarg, "bpf") == 0) o->mode = JT_SRC_BPF;
      else {
        fprintf(stderr, "jcache-top: --source is auto, shm or bpf, not '%s'\n", optarg);
        return 2;
      }
      break;
    case 'b': o->batch = true; break;
    case OPT_ASCII: o->ascii = true; break;
    case 'v': o->verbose = true; break;
    case 'h': usage(stdout); return 0;
    case 'V': printf("jcache-top %s\n", JT_VERSION); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "jcache-top: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  return -1;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (!stop && nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Sleep `s` seconds, taking in the event stream every JT_DRAIN_MS. */
static void sleep_draining(double s, jt_collector *c, jt_model *m) {
  double end = jt_now() + s;
  for (double left = s; !stop && left > 0; left = end - jt_now()) {
    sleep_s(left < JT_DRAIN_MS / 1000.0 ? left : JT_DRAIN_MS / 1000.0);
    jt_collect_drain(c, m);
  }
}

/* -- Batch mode ------------------------------------------------------------- */

static const jt_model *by_seen_m;
static int by_seen(const void *a, const void *b) {
  uint64_t x = by_seen_m->traces[*(const int *)a].last_ns;
  uint64_t y = by_seen_m->traces[*(const int *)b].last_ns;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* The trace table, the 20 traces seen last first. */
static void print_traces(const jt_model *m) {
  int n = m->ntraces, released = 0;
  static int order[JT_MAX_TRACES];
  for (int i = 0; i < n; i++) order[i] = i, released += m->traces[i].released;
  by_seen_m = m;
  qsort(order, (size_t)n, sizeof order[0], by_seen);
  printf("traces: %d (%d released)%s\n", n, released,
         m->no_live_events ? "; no trace_live probe: no names, sizes estimated" : "");
  if (!n) return;
  printf("  %7s %-16s %-24s %-6s %12s %6s %6s\n", "PID", "TRACE", "NAME", "ORIGIN",
         "CODE", "BYTES", "COMMIT");
  for (int i = 0; i < n && i < 20; i++) {
    const jt_trace *t = &m->traces[order[i]];
    char code[24];
    if (t->released) snprintf(code, sizeof code, "released");
    else snprintf(code, sizeof code, "%llx", (unsigned long long)t->code);
    printf("  %7d %016llx %-24s %-6s %12s %6llu %6u\n", (int)t->pid,
           (unsigned long long)t->id, t->name[0] ? t->name : "-",
           jt_origin_name(t->origin), code,
           (unsigned long long)(t->live_known ? t->size : t->bytes), t->commits);
  }
}

static void print_table(const jt_model *m) {
  printf("jcache-top: %d process%s; %s\n", m->nprocs, m->nprocs == 1 ? "" : "es",
         m->source_line);
  printf("%7s %-15s %9s %9s %9s %7s %8s %8s %8s %7s %7s %7s\n", "PID", "COMMAND",
         "LKUP/s", "LOOKUPS", "HITS", "MISS", "RELOCS", "RELOAD", "COMPIL", "T.PEND",
         "T.VALID", "T.INVAL");
  for (int i = 0; i < m->nprocs; i++) {
    const jt_proc *p = &m->procs[i];
    const jc_stats *s = &p->st;
    printf("%7d %-15.15s %9.1f %9llu %9llu %7llu %8llu %8llu %8llu %7llu %7llu %7llu\n",
           (int)p->pid, p->comm, p->lookups_ps, (unsigned long long)s->lookups,
           (unsigned long long)s->replay_hits, (unsigned long long)s->replay_misses,
           (unsigned long long)s->relocs_patched, (unsigned long long)s->traces_reloaded,
           (unsigned long long)jt_compiled(s), (unsigned long long)jt_tails_pending(s),
           (unsigned long long)s->tails_validated, (unsigned long long)s->tails_invalidated);
  }
  if (m->events_src[0]) {
    printf("events: %llu logged, %llu dropped\n", (unsigned long long)m->nevents,
           (unsigned long long)m->ev_dropped);
    if (m->events_warning[0]) printf("warning: %s\n", m->events_warning);
    const jt_event *ev;
    for (uint64_t i = 0; i < 10 && (ev = jt_model_event_at(m, i)); i++) {
      char text[200];
      jt_event_text(ev, text, sizeof text);
      printf("  %7d %-16s %s\n", (int)ev->pid, jt_ev_name(ev->kind), text);
    }
    print_traces(m);
  } else {
    printf("no event stream: bpf not available (%s)\n", m->events_why);
  }
  fflush(stdout);
}

static int run_batch(const opts *o, jt_collector *c, jt_model *m) {
  double interval = o->tenths / 10.0;
  long n = o->iterations ? o->iterations : -1;
  jt_collect_poll(c, m);
  for (long i = 0; !stop && i != n; i++) {
    sleep_draining(interval, c, m);
    jt_collect_poll(c, m);
    if (i) printf("\n");
    print_table(m);
  }
  return 0;
}

/* -- The interactive loop --------------------------------------------------- */

static jt_panel *const panels[] = {&jt_panel_procs, &jt_panel_traces, &jt_panel_events};
enum { NPANELS = 3 };

typedef struct state {
  int focus;
  bool paused, help, editing;
  jt_model *live, *frozen;
  double interval;
  jt_collector *c;
} state;

/* The detail view has just read code from the process: take in the events
** fired since, and check that no copy it read was released meanwhile. */
static void detail_verify(state *s) {
  jt_collect_drain(s->c, s->live);
  jt_detail_verify(s->live);
}

static const jt_model *shown(const state *s) { return s->frozen ? s->frozen : s->live; }

static void draw_header(const state *s, const jt_model *m, int cols) {
  char buf[1024], clock[16];
  time_t now = time(NULL);
  strftime(clock, sizeof clock, "%H:%M:%S", localtime(&now));
  uint64_t sum = 0;
  for (int i = 0; i < JT_EV__MAX; i++) sum += m->ev_count[i];
  int n = snprintf(buf, sizeof buf, "jcache-top %s  %s  %d process%s  refresh %.1fs",
                   JT_VERSION, clock, m->nprocs, m->nprocs == 1 ? "" : "es", s->interval);
  if (m->events_src[0] && n < (int)sizeof buf)
    snprintf(buf + n, sizeof buf - (size_t)n, "  %llu events", (unsigned long long)sum);
  ui_text(0, 0, cols, R_HEADER, buf, true);
  if (s->paused) ui_text(0, cols - 8, 8, R_PAUSED, " PAUSED ", false);
  snprintf(buf, sizeof buf, "%s%s%s", m->source_line, m->events_warning[0] ? "; " : "",
           m->events_warning);
  ui_text(1, 0, cols, m->events_src[0] && !m->events_warning[0] ? R_GOOD : R_WARN, buf, true);
}

static void draw_footer(const state *s, int y, int cols) {
  jt_panel *p = panels[s->focus];
  if (s->editing) {
    char buf[128];
    snprintf(buf, sizeof buf, "Filter %s: %s", p->name, p->filter);
    ui_text(y, 0, cols, R_NORMAL, buf, true);
    ui_text(y, 0, 7, R_KEY, "Filter ", false);
    ui_cursor(y, (int)strlen(buf) < cols ? (int)strlen(buf) : cols - 1);
    return;
  }
  static const struct { const char *k, *label; } keys[] = {
    {"F1", "Help"}, {"Tab", "Pane"}, {"F6", "Sort"}, {"/", "Filter"},
    {"p", "Pause"}, {"Enter", "Detail"}, {"q", "Quit"}};
  int x = 0;
  ui_fill(y, 0, cols, R_NORMAL);
  for (size_t i = 0; i < sizeof keys / sizeof keys[0] && x < cols; i++) {
    int kw = (int)strlen(keys[i].k), lw = (int)strlen(keys[i].label);
    ui_text(y, x, kw, R_NORMAL, keys[i].k, false);
    ui_text(y, x + kw, lw + 1, R_KEY, keys[i].label, true);
    x += kw + lw + 2;
  }
  ui_cursor(-1, 0);
}

static void draw(state *s) {
  const jt_model *m = shown(s);
  int rows, cols;
  ui_size(&rows, &cols);
  ui_begin();
  if (rows < 8 || cols < 40) {
    ui_text(0, 0, cols, R_BAD, "jcache-top: terminal too small (need 40x8)", true);
    ui_end();
    return;
  }
  draw_header(s, m, cols);
  int body = rows - 3, y = 2;
  if (jt_detail_active()) {
    /* The detail view is a snapshot of the process's memory, read from
    ** the live model's facts even while paused. */
    jt_detail_draw(s->live, (jt_rect){y, 0, body, cols});
  } else {
    /* Without an event stream the trace table and the log are one line each
    ** (they say why); the process list takes the room. */
    bool ev = m->events_src[0] != 0;
    int procs_h = m->nprocs + 2;
    int cap = ev ? body * 2 / 5 : body - 5;
    if (procs_h > cap) procs_h = cap;
    if (procs_h < 3) procs_h = 3;
    int rest = body - procs_h;
    int traces_h = ev ? rest / 2 : 3;
    int events_h = rest - traces_h;
    jt_rect r[NPANELS] = {{y, 0, procs_h, cols}, {y + procs_h, 0, traces_h, cols},
                          {y + procs_h + traces_h, 0, events_h, cols}};
    for (int i = 0; i < NPANELS; i++)
      if (r[i].h > 0) panels[i]->draw(panels[i], m, r[i], i == s->focus);
  }
  if (s->help) jt_help_draw((jt_rect){2, 0, body, cols});
  draw_footer(s, rows - 1, cols);
  ui_end();
}

static void set_paused(state *s, bool on) {
  if (on == s->paused) return;
  if (on) {
    s->frozen = jt_model_new();
    if (!s->frozen) return;
    memcpy(s->frozen, s->live, sizeof *s->frozen);
  } else {
    jt_model_free(s->frozen);
    s->frozen = NULL;
  }
  s->paused = on;
}

/* Returns false to quit. */
static bool handle_key(state *s, int k) {
  jt_panel *p = panels[s->focus];
  const jt_model *m = shown(s);
  if (k == JK_RESIZE) return true;
  if (s->help) {
    s->help = false; /* any key closes the help */
    return true;
  }
  if (s->editing) {
    size_t n = strlen(p->filter);
    if (k == JK_ENTER) {
      s->editing = false;
    } else if (k == JK_ESC) {
      p->filter[0] = 0;
      s->editing = false;
    } else if (k == JK_BACKSPACE) {
      if (n) p->filter[n - 1] = 0;
    } else if (k >= 0x20 && k < 0x7f && n + 1 < sizeof p->filter) {
      p->filter[n] = (char)k;
      p->filter[n + 1] = 0;
    }
    p->sel = 0;
    return true;
  }
  switch (k) {
  case 'q': case 'Q': case JK_F10: return false;
  case 'h': case '?': case JK_F1: s->help = true; return true;
  case 'p': case ' ': set_paused(s, !s->paused); return true;
  default: break;
  }
  if (jt_detail_active()) {
    jt_detail_key(s->live, k);
    if (k == 'r') detail_verify(s);
    return true;
  }
  switch (k) {
  case JK_TAB: s->focus = (s->focus + 1) % NPANELS; return true;
  case JK_BTAB: s->focus = (s->focus + NPANELS - 1) % NPANELS; return true;
  case 's': case JK_F6:
    if (p->nsorts) p->sort = (p->sort + 1) % p->nsorts;
    return true;
  case 'S': p->reverse = !p->reverse; return true;
  case '/': case JK_F3: s->editing = true; return true;
  case 'v': jt_verbose_log = !jt_verbose_log; return true;
  default: break;
  }
  int f = p->key(p, m, k);
  if (f & JT_DETAIL) {
    jt_detail_open(s->live, jt_panel_traces.sel_pid, jt_panel_traces.sel_id);
    detail_verify(s);
  }
  return !(f & JT_QUIT);
}

static int run_tui(const opts *o, jt_collector *c, jt_model *m) {
  state s = {.live = m, .interval = o->tenths / 10.0, .c = c};
  jt_collect_poll(c, m);
  double next = jt_now() + s.interval;
  long done = 0;
  bool redraw = true;
  for (;;) {
    if (redraw) draw(&s);
    redraw = true;
    if (stop) break;
    /* Wake up every JT_DRAIN_MS to take in events; the screen changes at
    ** the refresh interval (or on a key) only. */
    int wait = (int)((next - jt_now()) * 1000);
    if (wait > JT_DRAIN_MS) wait = JT_DRAIN_MS;
    int k = ui_key(wait > 0 ? wait : 0);
    if (k == JK_NONE) {
      if (jt_now() < next) {
        jt_collect_drain(c, m);
        redraw = false;
      } else {
        jt_collect_poll(c, m);
        next += s.interval;
        if (next < jt_now()) next = jt_now() + s.interval;
        if (o->iterations && ++done >= o->iterations) {
          draw(&s);
          break;
        }
      }
      continue;
    }
    if (!handle_key(&s, k)) break;
  }
  jt_detail_close();
  set_paused(&s, false);
  return 0;
}

int main(int argc, char **argv) {
  opts o;
  int rc = parse(argc, argv, &o);
  if (rc >= 0) return rc;
  jt_verbose_log = o.verbose;

  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);

  jt_model *m = jt_model_new();
  if (!m) {
    fprintf(stderr, "jcache-top: out of memory\n");
    return 1;
  }
  jt_collector c;
  char err[256];
  if (jt_collect_open(&c, m, o.mode, o.pid, err, sizeof err) != 0) {
    fprintf(stderr, "jcache-top: %s\n", err);
    jt_model_free(m);
    return 1;
  }
  bool batch = o.batch || !isatty(STDOUT_FILENO);
  if (!batch && !ui_open(o.ascii)) {
    fprintf(stderr, "jcache-top: cannot start the terminal UI; printing tables (-b)\n");
    batch = true;
  }
  if (batch) {
    rc = run_batch(&o, &c, m);
  } else {
    atexit(ui_close);
    rc = run_tui(&o, &c, m);
    ui_close();
  }
  jt_collect_close(&c);
  jt_model_free(m);
  for (int i = 0; i < NPANELS; i++) free(panels[i]->order);
  return rc;
}
