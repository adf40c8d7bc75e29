/*
** bpf/loader.h — load the jcache BPF program and read what it collects.
**
** Used by `jcache trace` (bpf/trace.c) and jcache-top.  One handle holds the
** loaded program, its USDT attachments and the ring buffer:
**
**     jc_bpf_opts o = {.pid = pid, .verbose = v};
**     jc_bpf *b = jc_bpf_open(&o);
**     if (!b) { fprintf(stderr, "%s\n", jc_bpf_error()); ...run on without bpf }
**     while (!done) jc_bpf_poll(b, 100, on_event, ctx);
**     jc_bpf_counters(b, pid, &c);
**     jc_bpf_close(b);
**
** Failures never abort: every call returns an error code (a negative errno)
** or NULL, and jc_bpf_error() holds a sentence for the user that says why
** (no root, no BTF, no such library, no probes in that binary...).
*/
#ifndef JC_BPF_LOADER_H
#define JC_BPF_LOADER_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "jcache.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jc_bpf jc_bpf;

typedef struct jc_bpf_opts {
  pid_t pid;           /* trace this process only; 0: every process */
  const char *lib;     /* libjcache.so, or a binary linking it statically;
                       ** NULL: the one PID maps, else the build's or the
                       ** installed library */
  uint32_t event_mask; /* kinds streamed (JC_EV_BIT); 0: JC_EV_DEFAULT_MASK;
                       ** JC_EV_NONE_MASK: none (counters only) */
  bool verbose;        /* libbpf's messages on stderr */
} jc_bpf_opts;

/* Open, load and attach to every jcache probe.  NULL on failure. */
jc_bpf *jc_bpf_open(const jc_bpf_opts *o);
/* Detach and free everything.  NULL is fine. */
void jc_bpf_close(jc_bpf *b);

/* Why the last jc_bpf_* call of this thread failed. */
const char *jc_bpf_error(void);

/* The path the probes were attached to. */
const char *jc_bpf_lib(const jc_bpf *b);
/* The probes attached (JC_EV_BIT of each kind).  A probe that the library
** has but libbpf cannot decode is left out, and jc_bpf_warning() says so;
** its counters then stay 0. */
uint32_t jc_bpf_attached(const jc_bpf *b);
/* NULL, or a sentence naming the probes that are not traced and why. */
const char *jc_bpf_warning(const jc_bpf *b);
/* True if the library has the optional commit_begin probe (then the commit
** histogram measures the commit alone). */
bool jc_bpf_has_commit_begin(const jc_bpf *b);
/* True if the library has the optional trace_live and trace_release probes
** (then every trace that starts running is announced with its name, exact
** address and size, and every release of one). */
bool jc_bpf_has_live(const jc_bpf *b);

/* Events: fn is called for each, in the order they were submitted; a
** non-zero return stops the poll and is passed back. */
typedef int (*jc_bpf_event_fn)(void *ctx, const struct jc_event *e);
/* Wait up to timeout_ms for events (0: do not wait) and deliver them.
** Returns the number delivered, or a negative errno (-EINTR: a signal). */
int jc_bpf_poll(jc_bpf *b, int timeout_ms, jc_bpf_event_fn fn, void *ctx);
/* The ring buffer's fd, for a caller's own poll()/epoll loop. */
int jc_bpf_fd(const jc_bpf *b);
/* Events dropped because the ring buffer was full. */
uint64_t jc_bpf_lost(const jc_bpf *b);

/* Counters and histograms of one process.  -ENOENT: no probe of it fired. */
int jc_bpf_counters(jc_bpf *b, pid_t pid, struct jc_counters *out);
int jc_bpf_hist(jc_bpf *b, pid_t pid, enum jc_hist_kind kind,
                struct jc_hist *out);
/* The processes that have counters, up to cap of them, in ascending order;
** returns how many there are (may exceed cap). */
size_t jc_bpf_pids(jc_bpf *b, pid_t *out, size_t cap);
/* Drop a process's counters and histograms (it has exited). */
void jc_bpf_forget(jc_bpf *b, pid_t pid);

/* -- Names and formatting --------------------------------------------------- */

/* "lookup", "replay_miss", ... (the probe's name); NULL if out of range. */
const char *jc_bpf_event_name(unsigned kind);
/* The field name of counter i of struct jc_counters.stat ("lookups"...). */
const char *jc_bpf_stat_name(unsigned i);
/* Parse an event list ("miss,tail,commit", "all", "default", "live", or
** probe names) into a mask.  -EINVAL with jc_bpf_error() naming the bad word. */
int jc_bpf_event_mask(const char *list, uint32_t *mask);
/* The event's arguments as "name=value ..." text (no pid, kind or trace). */
int jc_bpf_event_format(const struct jc_event *e, char *buf, size_t len);
/* A log2 histogram, libbpf-tools style, in ns/us/ms as fits. */
void jc_bpf_hist_print(FILE *f, const struct jc_hist *h, const char *title);

/* `jcache trace` (bpf/trace.c). */
int jc_cmd_trace(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
