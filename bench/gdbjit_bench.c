/*
** bench/gdbjit_bench.c — what describing traces to gdb and perf costs.
**
**   jc-bench-gdbjit [N]          N regions (default 1000; run it with 10000 too)
**   jc-bench-gdbjit N --gdb      the same with gdb attached (gdb -p, batch)
**
** Regions are synthetic traces (80 bytes of code with a prologue, two stubs'
** worth of exits, a 3-entry line table) registered one by one, the way a JIT
** compiles them.  Printed per region: the median and p90 of
** jc_gdbjit_register, per mode (off, lazy with no debugger, on), perf map,
** jitdump; with --gdb: on-mode registration at the first and the last 10% of
** the N regions (gdb's cost grows with its number of objects), and lazy
** mode's one-time activation (all N regions in groups of 64) when a debugger
** appears.  Figures, not a test: nothing asserts on time.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gdbjit.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void print_stats(const char *what, double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp);
  printf("  %-44s median %9.2f us   p90 %9.2f us\n", what, v[n / 2] / 1e3,
         v[n * 9 / 10] / 1e3);
}

static uint8_t *arena;
static jc_trace_line lines[3] = {{0, 10, "bench.jc"}, {16, 11, "bench.jc"},
                                 {48, 12, "bench.jc"}};

static jc_trace *make(size_t i) {
  jc_trace *t = jc_trace_new();
  uint8_t *c = arena + i * 96;
  memset(c, 0x90, 80);
  c[0] = 0x53;                          /* push rbx */
  c[70] = 0x5B, c[71] = 0xC3;           /* pop rbx; ret */
  t->id = 0x1000 + i;
  t->code = c;
  t->size = 80;
  free(t->name);
  char nm[64];
  snprintf(nm, sizeof nm, "jc_loop_bench_L%zu", i);
  t->name = strdup(nm);
  t->nlines = 3;
  t->lines = malloc(sizeof lines);
  memcpy(t->lines, lines, sizeof lines);
  return t;
}

static void drop(jc_trace *t) {
  jc_gdbjit_unregister(t);
  jc_trace_destroy(t);
}

static void run(const char *what, jc_gdbjit_mode mode, bool pm, bool jd,
                size_t n, jc_trace **ts, double *v) {
  jc_gdbjit_configure(mode, pm, jd, 64);
  jc_gdbjit_reset();
  for (size_t i = 0; i < n; i++) {
    ts[i] = make(i);
    double t0 = now_ns();
    jc_gdbjit_register(ts[i]);
    v[i] = now_ns() - t0;
  }
  print_stats(what, v, n);
  for (size_t i = 0; i < n; i++) drop(ts[i]);
}

static bool traced(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long pid = 0;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "TracerPid:", 10)) pid = atol(line + 10);
  if (f) fclose(f);
  return pid != 0;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
  bool gdb = argc > 2 && !strcmp(argv[2], "--gdb");
  if (n < 10) n = 10;
  arena = aligned_alloc(4096, (n * 96 + 4095) & ~(size_t)4095);
  jc_trace **ts = calloc(n, sizeof *ts);
  double *v = calloc(n, sizeof *v);
  char dir[] = "/tmp/jc-bench-jitdump-XXXXXX";
  if (!arena || !ts || !v || !mkdtemp(dir)) return 1;
  setenv("JITDUMPDIR", dir, 1);

  if (!gdb) {
    printf("gdbjit: %zu regions, no debugger\n", n);
    run("JCACHE_GDB=off", JC_GDBJIT_OFF, false, false, n, ts, v);
    run("JCACHE_GDB=lazy (default; no debugger)", JC_GDBJIT_LAZY, false, false, n, ts, v);
    run("JCACHE_GDB=on (object built, no debugger)", JC_GDBJIT_ON, false, false, n, ts, v);
    run("JCACHE_PERFMAP=1 (gdb off)", JC_GDBJIT_OFF, true, false, n, ts, v);
    run("JCACHE_JITDUMP=1 (gdb off)", JC_GDBJIT_OFF, false, true, n, ts, v);
    char map[64];
    snprintf(map, sizeof map, "/tmp/perf-%d.map", (int)getpid());
    unlink(map);
  } else {
    /* Lazy mode lists N regions before gdb attaches ... */
    jc_gdbjit_configure(JC_GDBJIT_LAZY, false, false, 64);
    jc_gdbjit_reset();
    for (size_t i = 0; i < n; i++) {
      ts[i] = make(i);
      jc_gdbjit_register(ts[i]);
    }
    pid_t me = getpid(), g = fork();
    if (g == 0) {
      char p[32];
      snprintf(p, sizeof p, "%d", (int)me);
      execlp("gdb", "gdb", "-nx", "-batch", "-p", p, "-ex", "continue",
             (char *)NULL);
      _exit(127);
    }
    for (int i = 0; i < 3000 && !traced(); i++) usleep(10000);
    if (!traced()) {
      fprintf(stderr, "gdbjit bench: gdb did not attach\n");
      return 1;
    }
    printf("gdbjit: %zu regions, gdb %s attached\n", n, "13");
    /* ... and describes them all at once when it notices the debugger. */
    extern void jc_gdbjit_sync(void);
    double t0 = now_ns();
    jc_gdbjit_sync();
    double act = now_ns() - t0;
    printf("  lazy activation: %zu regions in %zu objects: %.1f ms (%.1f us per "
           "region)\n", n, (n + 63) / 64, act / 1e6, act / 1e3 / (double)n);
    for (size_t i = 0; i < n; i++) drop(ts[i]);
    /* On mode: one object per registration. */
    jc_gdbjit_configure(JC_GDBJIT_ON, false, false, 64);
    jc_gdbjit_reset();
    double total = now_ns();
    for (size_t i = 0; i < n; i++) {
      ts[i] = make(i);
      double t1 = now_ns();
      jc_gdbjit_register(ts[i]);
      v[i] = now_ns() - t1;
    }
    total = now_ns() - total;
    size_t k = n / 10;
    print_stats("JCACHE_GDB=on, first 10% of the regions", v, k);
    print_stats("JCACHE_GDB=on, last 10% of the regions", v + n - k, k);
    printf("  JCACHE_GDB=on, all %zu registrations: %.1f ms\n", n, total / 1e6);
    t0 = now_ns();
    for (size_t i = 0; i < n; i++) drop(ts[i]);
    printf("  unregistering all: %.1f ms\n", (now_ns() - t0) / 1e6);
    kill(g, SIGTERM);
    waitpid(g, NULL, 0);
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) return 1;
  return 0;
}
