/*
** bpf/trace.c — `jcache trace`: print libjcache's probe events as they
** happen, then each process's counters and latency histograms.
**
**     # jcache trace -p 4242
**     PID     COMM            EVENT            TRACE            DETAILS
**     4242    jcvm            trace_live       8d791ff6d7ac9a56 reloaded jc_loop_f_L12 at 0x7f..., 61 bytes
**     4242    jcvm            trace_live       3c1e0a4f5b2d7e90 reloaded jc_bridge_f_L12_x0 at 0x7f..., 33 bytes
**     4242    jcvm            commit           8d791ff6d7ac9a56 code=0x7f... bytes=94 ntraces=2 latency=21043ns
**     4242    jcvm            tail_validated   8d791ff6d7ac9a56 after_guard=0 patch=0x7f...
**
** libbpf-tools layout: the BPF side is jcache.bpf.c, the shared types
** jcache.h, loading and attaching loader.c.
*/
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loader.h"

static const char usage[] =
    "Usage: jcache trace [-p PID] [-e EVENTS] [-t] [-c] [-d SECONDS] [--lib PATH] [-v]\n"
    "\n"
    "Trace libjcache's USDT probes with eBPF: one line per event, then, on\n"
    "Ctrl-C (or at the end of -d, or when -p's process exits), each process's\n"
    "counters (the same as jc_stats_get() in that process) and its reload and\n"
    "commit latency histograms.  Needs root (or CAP_BPF and CAP_PERFMON).\n"
    "\n"
    "  -p, --pid PID        trace this process only (its libjcache.so is found\n"
    "                       in /proc/PID/maps, else its executable is used)\n"
    "  -e, --events LIST    events to print, comma-separated: probe names\n"
    "                       (lookup, reject, replay_hit, replay_miss, bind, reloc,\n"
    "                       commit, commit_fail, bridge_attach, tail_guard,\n"
    "                       tail_validated, tail_invalidated, record_write,\n"
    "                       record_abort, write_error, commit_begin, trace_live,\n"
    "                       trace_release) or groups: hit, miss, replay, commit,\n"
    "                       bridge, tail, record, store, error, live (trace_live\n"
    "                       and trace_release), default, all.  Default: misses,\n"
    "                       rejects, commits, bridges, tails, aborts, errors and\n"
    "                       trace_live.  Every probe is counted whatever is\n"
    "                       printed.\n"
    "  -t, --timestamp      print the wall-clock time of each event\n"
    "  -c, --counts         print no events, only the summary\n"
    "  -d, --duration SEC   stop after SEC seconds\n"
    "  -l, --lib PATH       the libjcache.so to trace, or a program linking it\n"
    "                       statically (default: -p's library, else the build\n"
    "                       tree's, else the installed one)\n"
    "  -v, --verbose        show libbpf's messages\n"
    "  -h, --help           this text\n"
    "\n"
    "EXAMPLES:\n"
    "    jcache trace                     # every process using libjcache\n"
    "    jcache trace -p 4242             # one process\n"
    "    jcache trace -e miss,tail -t     # misses and tail events, with times\n"
    "    jcache trace -e live             # every trace made live or released\n"
    "    jcache trace -e all              # everything, hits and binds too\n"
    "    jcache trace -c -d 10            # counters of 10 seconds, no events\n"
    "    jcache trace --lib ./jcvm        # a program linking libjcache.a\n";

static volatile sig_atomic_t exiting;

static void on_signal(int sig) {
  (void)sig;
  exiting = 1;
}

struct trace_env {
  bool timestamp;
  bool counts_only;
  uint64_t mono_to_real_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC at start */
  uint64_t nevents;
};

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int on_event(void *ctx, const struct jc_event *e) {
  struct trace_env *env = ctx;
  env->nevents++;
  if (env->counts_only) return 0;
  char details[512];
  jc_bpf_event_format(e, details, sizeof details);
  if (env->timestamp) {
    uint64_t real = e->ts + env->mono_to_real_ns;
    time_t sec = (time_t)(real / 1000000000ULL);
    struct tm tm;
    char hms[16];
    localtime_r(&sec, &tm);
    strftime(hms, sizeof hms, "%H:%M:%S", &tm);
    printf("%s.%06llu ", hms,
           (unsigned long long)(real % 1000000000ULL / 1000));
  }
  char comm[17];
  memcpy(comm, e->comm, 16);
  comm[16] = 0;
  if (e->trace)
    printf("%-7u %-15s %-16s %016llx %s\n", e->pid, comm,
           jc_bpf_event_name(e->kind), (unsigned long long)e->trace, details);
  else
    printf("%-7u %-15s %-16s %-16s %s\n", e->pid, comm,
           jc_bpf_event_name(e->kind), "-", details);
  return 0;
}

/* Each process's counters (non-zero ones), probe firings and histograms. */
static void print_summary(jc_bpf *b, FILE *f) {
  pid_t pids[1024];
  size_t n = jc_bpf_pids(b, pids, 1024);
  if (n > 1024) n = 1024;
  fprintf(f, "\n");
  if (!n) fprintf(f, "no jcache probe fired\n");
  for (size_t i = 0; i < n; i++) {
    struct jc_counters c;
    if (jc_bpf_counters(b, pids[i], &c)) continue;
    fprintf(f, "pid %d:\n", (int)pids[i]);
    for (unsigned k = 0; k < JC_STAT_COUNT; k++)
      if (c.stat[k])
        fprintf(f, "  %-24s %llu\n", jc_bpf_stat_name(k),
                (unsigned long long)c.stat[k]);
    fprintf(f, "  probes fired:");
    for (unsigned k = 0, col = 0; k < JC_EV_COUNT; k++)
      if (c.fired[k])
        fprintf(f, "%s%s=%llu", col++ % 5 ? " " : "\n    ",
                jc_bpf_event_name(k), (unsigned long long)c.fired[k]);
    fprintf(f, "\n");
    /* Not library counters (see jcache.h): on a line of their own. */
    if (c.fired[JC_EV_TRACE_LIVE] || c.traces_released) {
      uint64_t live = c.fired[JC_EV_TRACE_LIVE], rel = c.traces_released;
      fprintf(f, "  live traces: %llu compiled (%llu bytes), %llu reloaded, "
                 "%llu released, %llu still live\n",
              (unsigned long long)c.traces_compiled,
              (unsigned long long)c.bytes_compiled,
              (unsigned long long)(live - c.traces_compiled),
              (unsigned long long)rel,
              (unsigned long long)(live > rel ? live - rel : 0));
    }
    static const char *const titles[JC_HIST_COUNT] = {
        [JC_HIST_REPLAY] = "reload latency (lookup -> commit)",
        [JC_HIST_COMMIT] = "commit latency",
    };
    for (int h = 0; h < JC_HIST_COUNT; h++) {
      struct jc_hist hist;
      if (jc_bpf_hist(b, pids[i], h, &hist) == 0 && hist.count)
        jc_bpf_hist_print(f, &hist, titles[h]);
    }
  }
  uint64_t lost = jc_bpf_lost(b);
  if (lost)
    fprintf(f, "%llu events lost (ring buffer full); counters are complete\n",
            (unsigned long long)lost);
}

int jc_cmd_trace(int argc, char **argv) {
  static const struct option longopts[] = {
      {"pid", required_argument, NULL, 'p'},
      {"events", required_argument, NULL, 'e'},
      {"timestamp", no_argument, NULL, 't'},
      {"counts", no_argument, NULL, 'c'},
      {"duration", required_argument, NULL, 'd'},
      {"lib", required_argument, NULL, 'l'},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  jc_bpf_opts o = {0};
  struct trace_env env = {0};
  double duration = 0;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "p:e:tcd:l:vh", longopts, NULL)) != -1) {
    char *end;
    switch (opt) {
    case 'p':
      errno = 0;
      o.pid = (pid_t)strtol(optarg, &end, 10);
      if (errno || *end || o.pid <= 0) {
        fprintf(stderr, "jcache trace: invalid PID '%s'\n", optarg);
        return 2;
      }
      break;
    case 'e':
      if (jc_bpf_event_mask(optarg, &o.event_mask)) {
        fprintf(stderr, "jcache trace: %s\n", jc_bpf_error());
        return 2;
      }
      break;
    case 't': env.timestamp = true; break;
    case 'c': env.counts_only = true; break;
    case 'd':
      duration = strtod(optarg, &end);
      if (*end || duration <= 0) {
        fprintf(stderr, "jcache trace: invalid duration '%s'\n", optarg);
        return 2;
      }
      break;
    case 'l': o.lib = optarg; break;
    case 'v': o.verbose = true; break;
    case 'h': fputs(usage, stdout); return 0;
    default: fputs(usage, stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "jcache trace: unexpected argument '%s'\n%s", argv[optind],
            usage);
    return 2;
  }
  if (env.counts_only) o.event_mask = JC_EV_NONE_MASK;

  jc_bpf *b = jc_bpf_open(&o);
  if (!b) {
    fprintf(stderr, "jcache trace: %s\n", jc_bpf_error());
    return 1;
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);
  env.mono_to_real_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
  uint64_t end_ns = duration ? clock_ns(CLOCK_MONOTONIC) +
                                   (uint64_t)(duration * 1e9) : 0;

  if (o.pid)
    fprintf(stderr, "Tracing jcache probes in %s for pid %d... Hit Ctrl-C to "
                    "end.\n", jc_bpf_lib(b), (int)o.pid);
  else
    fprintf(stderr, "Tracing jcache probes in %s... Hit Ctrl-C to end.\n",
            jc_bpf_lib(b));
  if (jc_bpf_warning(b)) fprintf(stderr, "warning: %s\n", jc_bpf_warning(b));
  uint32_t mask = o.event_mask ? o.event_mask : JC_EV_DEFAULT_MASK;
  if (!jc_bpf_has_live(b) && !env.counts_only &&
      (mask & (JC_EV_BIT(JC_EV_TRACE_LIVE) | JC_EV_BIT(JC_EV_TRACE_RELEASE))))
    fprintf(stderr, "note: %s has no trace_live/trace_release probes: no "
                    "live-trace events\n", jc_bpf_lib(b));
  if (!env.counts_only) {
    if (env.timestamp) printf("%-15s ", "TIME");
    printf("%-7s %-15s %-16s %-16s %s\n", "PID", "COMM", "EVENT", "TRACE",
           "DETAILS");
  }

  int err = 0;
  while (!exiting) {
    err = jc_bpf_poll(b, 100, on_event, &env);
    if (err == -EINTR) {
      err = 0;
      break;
    }
    if (err < 0) {
      fprintf(stderr, "jcache trace: %s\n", jc_bpf_error());
      break;
    }
    err = 0;
    if (end_ns && clock_ns(CLOCK_MONOTONIC) >= end_ns) break;
    if (o.pid && kill(o.pid, 0) != 0 && errno == ESRCH) {
      fprintf(stderr, "pid %d exited\n", (int)o.pid);
      break;
    }
  }
  jc_bpf_poll(b, 0, on_event, &env); /* what is left in the ring buffer */
  print_summary(b, stdout);
  if (jc_bpf_warning(b)) printf("warning: %s\n", jc_bpf_warning(b));
  if (!jc_bpf_has_commit_begin(b))
    printf("(this library has no commit_begin probe: commit latency is "
           "measured from the last replay decision)\n");
  if (!jc_bpf_has_live(b))
    printf("(this library has no trace_live/trace_release probes: live traces "
           "are not announced or counted)\n");
  jc_bpf_close(b);
  return err != 0;
}
