/*
** bpf/loader.c — open, load and attach the jcache BPF program; read its
** ring buffer, counters and histograms (loader.h).
**
** Attaching: one uprobe per USDT site, through libbpf's
** bpf_program__attach_usdt(), which also raises the probe's semaphore
** (the kernel's ref_ctr_offset) so that the library computes the probe's
** arguments only while we listen.  Attaching by path covers every process
** that maps the file, now or later; with a pid, only that process.
*/
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "jcache/stats.h"
#include "jcache.skel.h"
#include "loader.h"

/* struct jc_counters.stat mirrors struct jc_stats: same fields, same order. */
#define JC_CHECK_STAT(name, desc)                                              \
  _Static_assert(JC_STAT_##name * sizeof(uint64_t) ==                          \
                     offsetof(jc_stats, name),                                 \
                 "bpf/jcache.h: JC_STAT_" #name " out of step with stats.h");
JC_STATDEF(JC_CHECK_STAT)
#undef JC_CHECK_STAT
_Static_assert(JC_STAT_COUNT * sizeof(uint64_t) == sizeof(jc_stats),
               "bpf/jcache.h: JC_STAT_COUNT out of step with stats.h");

struct jc_bpf {
  struct jcache_bpf *skel;
  struct bpf_link *links[JC_EV_COUNT];
  struct ring_buffer *rb;
  jc_bpf_event_fn fn;
  void *ctx;
  int stop; /* a callback's non-zero return */
  pid_t pid;
  uint32_t attached; /* JC_EV_BIT of each probe attached */
  char warning[512]; /* probes that could not be attached, and why */
  char lib[PATH_MAX];
};

/* -- Errors -------------------------------------------------------------------- */

static __thread char errbuf[512];

const char *jc_bpf_error(void) { return errbuf; }

__attribute__((format(printf, 2, 3))) static int fail(int err, const char *fmt,
                                                      ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  return err < 0 ? err : -err;
}

static bool verbose;

static int print_libbpf(enum libbpf_print_level level, const char *fmt,
                        va_list ap) {
  if (level == LIBBPF_DEBUG && !verbose) return 0;
  if (!verbose) return 0; /* our own messages say what failed */
  return vfprintf(stderr, fmt, ap);
}

/* -- Finding the library ----------------------------------------------------------- */

/* The libjcache.so that `pid` maps, else its executable (which may link the
** library statically).  0 or a negative errno. */
static int lib_of_pid(pid_t pid, char *out, size_t len) {
  char path[64], line[PATH_MAX + 256];
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return fail(-errno, "cannot read %s: %s (is %d running?)", path,
                strerror(errno), (int)pid);
  bool found = false;
  while (!found && fgets(line, sizeof line, f)) {
    char *p = strchr(line, '/');
    if (!p) continue;
    p[strcspn(p, "\n")] = 0;
    const char *base = strrchr(p, '/') + 1;
    if (strncmp(base, "libjcache.so", 12) == 0) {
      /* Through the process's root: it may live in another mount ns. */
      snprintf(out, len, "/proc/%d/root%s", (int)pid, p);
      found = true;
    }
  }
  fclose(f);
  if (!found) snprintf(out, len, "/proc/%d/exe", (int)pid);
  return 0;
}

static int find_lib(const jc_bpf_opts *o, char *out, size_t len) {
  const char *cand[] = {o->lib,
#ifdef JC_BPF_BUILD_LIB
                        o->lib || o->pid ? NULL : JC_BPF_BUILD_LIB,
#endif
#ifdef JC_BPF_INSTALL_LIB
                        o->lib || o->pid ? NULL : JC_BPF_INSTALL_LIB,
#endif
                        NULL};
  if (!o->lib && o->pid > 0) {
    char p[PATH_MAX];
    int err = lib_of_pid(o->pid, p, sizeof p);
    if (err) return err;
    if (!realpath(p, out))
      return fail(-errno, "cannot resolve %s: %s", p, strerror(errno));
    return 0;
  }
  for (size_t i = 0; i < sizeof cand / sizeof *cand; i++) {
    if (!cand[i]) continue;
    if (realpath(cand[i], out)) return 0;
    if (o->lib)
      return fail(-errno, "cannot open %s: %s", o->lib, strerror(errno));
  }
  return fail(-ENOENT, "no libjcache.so found (looked in the build tree and "
                       "the install prefix); name it with --lib PATH");
}

/* -- The probes' ELF notes -------------------------------------------------------------
**
** libbpf says only "cannot attach" when a probe is missing and when it cannot
** decode the probe's argument specification; reading the notes ourselves
** tells the two apart, and lets the message show the specification. */

/* The arguments of the first site of jcache:`name` in `path` ("8@%rax ...").
** 1 if found, 0 if the file has no such probe, negative if unreadable. */
static int probe_args(const char *path, const char *name, char *args,
                      size_t len) {
  if (elf_version(EV_CURRENT) == EV_NONE) return -EINVAL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
  int found = elf ? 0 : -EINVAL;
  Elf_Scn *scn = NULL;
  while (elf && !found && (scn = elf_nextscn(elf, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE) continue;
    Elf_Data *d = elf_getdata(scn, NULL);
    GElf_Nhdr nh;
    size_t off = 0, noff, doff;
    while (d && !found && (off = gelf_getnote(d, off, &nh, &noff, &doff))) {
      /* stapsdt v3: pc, base, semaphore (3 addresses), then provider,
      ** name and arguments as NUL-terminated strings. */
      if (nh.n_type != 3 || nh.n_namesz != 8 ||
          memcmp((char *)d->d_buf + noff, "stapsdt", 8) != 0 ||
          nh.n_descsz < 24)
        continue;
      const char *s = (const char *)d->d_buf + doff + 24;
      const char *end = (const char *)d->d_buf + doff + nh.n_descsz;
      const char *prov = s, *pname = prov + strnlen(prov, end - prov) + 1;
      if (pname >= end) continue;
      const char *pargs = pname + strnlen(pname, end - pname) + 1;
      if (pargs > end) continue;
      if (strcmp(prov, "jcache") || strcmp(pname, name)) continue;
      snprintf(args, len, "%.*s", (int)(end - pargs), pargs);
      found = 1;
    }
  }
  if (elf) elf_end(elf);
  close(fd);
  return found;
}

/* -- Open and close ------------------------------------------------------------------ */

/* Which program serves which probe.  commit_begin, trace_live and
** trace_release are optional: libraries without them are traced all the
** same (the commit histogram then starts at the last replay decision; there
** are no live-trace events and traces_compiled/released stay 0). */
static struct bpf_program *prog_of(struct jcache_bpf *s, int kind) {
  switch (kind) {
  case JC_EV_LOOKUP: return s->progs.jc_lookup;
  case JC_EV_REJECT: return s->progs.jc_reject;
  case JC_EV_REPLAY_HIT: return s->progs.jc_replay_hit;
  case JC_EV_REPLAY_MISS: return s->progs.jc_replay_miss;
  case JC_EV_BIND: return s->progs.jc_bind;
  case JC_EV_RELOC: return s->progs.jc_reloc;
  case JC_EV_COMMIT: return s->progs.jc_commit;
  case JC_EV_COMMIT_FAIL: return s->progs.jc_commit_fail;
  case JC_EV_BRIDGE_ATTACH: return s->progs.jc_bridge_attach;
  case JC_EV_TAIL_GUARD: return s->progs.jc_tail_guard;
  case JC_EV_TAIL_VALIDATED: return s->progs.jc_tail_validated;
  case JC_EV_TAIL_INVALIDATED: return s->progs.jc_tail_invalidated;
  case JC_EV_RECORD_WRITE: return s->progs.jc_record_write;
  case JC_EV_RECORD_ABORT: return s->progs.jc_record_abort;
  case JC_EV_WRITE_ERROR: return s->progs.jc_write_error;
  case JC_EV_COMMIT_BEGIN: return s->progs.jc_commit_begin;
  case JC_EV_TRACE_LIVE: return s->progs.jc_trace_live;
  case JC_EV_TRACE_RELEASE: return s->progs.jc_trace_release;
  }
  return NULL;
}

static bool optional_probe(int kind) {
  return kind == JC_EV_COMMIT_BEGIN || kind == JC_EV_TRACE_LIVE ||
         kind == JC_EV_TRACE_RELEASE;
}

static int on_ringbuf(void *ctx, void *data, size_t size) {
  jc_bpf *b = ctx;
  if (size < sizeof(struct jc_event) || !b->fn) return 0;
  int rc = b->fn(b->ctx, data);
  if (rc) b->stop = rc;
  return rc;
}

/* A sentence for a failed load: the usual causes first. */
static int load_error(int err) {
  if (err == -EPERM || err == -EACCES)
    return fail(err, "cannot load the BPF program: %s; jcache trace needs "
                     "root (or CAP_BPF and CAP_PERFMON)", strerror(-err));
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
    return fail(err, "cannot load the BPF program: %s; this kernel has no "
                     "BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)",
                strerror(-err));
  return fail(err, "cannot load the BPF program: %s (run with -v for "
                   "libbpf's messages)", strerror(-err));
}

jc_bpf *jc_bpf_open(const jc_bpf_opts *o) {
  jc_bpf_opts def = {0};
  if (!o) o = &def;
  errbuf[0] = 0;
  verbose = o->verbose;
  libbpf_set_print(print_libbpf);

  jc_bpf *b = calloc(1, sizeof *b);
  if (!b) {
    fail(-ENOMEM, "out of memory");
    return NULL;
  }
  b->pid = o->pid;
  int err = find_lib(o, b->lib, sizeof b->lib);
  if (err) goto cleanup;

  b->skel = jcache_bpf__open();
  if (!b->skel) {
    err = fail(-errno, "cannot open the BPF program: %s", strerror(errno));
    goto cleanup;
  }
  b->skel->rodata->targ_pid = o->pid > 0 ? (__u32)o->pid : 0;
  b->skel->rodata->event_mask = o->event_mask ? o->event_mask
                                              : JC_EV_DEFAULT_MASK;
  err = jcache_bpf__load(b->skel);
  if (err) {
    err = load_error(err);
    goto cleanup;
  }

  for (int k = 0; k < JC_EV_COUNT; k++) {
    const char *name = jc_bpf_event_name(k);
    b->links[k] = bpf_program__attach_usdt(prog_of(b->skel, k),
                                           o->pid > 0 ? o->pid : -1, b->lib,
                                           "jcache", name, NULL);
    if (b->links[k]) {
      b->attached |= JC_EV_BIT(k);
      continue;
    }
    err = -errno;
    char args[256] = "";
    int has = probe_args(b->lib, name, args, sizeof args);
    if (has == 0 && optional_probe(k)) {
      err = 0;
      continue;
    }
    if (has == 0) {
      fail(err, "%s has no USDT probe jcache:%s: not libjcache, or a build "
                "without probes (readelf -n %s | grep -A2 stapsdt)",
           b->lib, name, b->lib);
      goto cleanup;
    }
    if (has > 0 && (err == -EINVAL || err == -ENOENT || err == -E2BIG)) {
      /* The probe is there but libbpf cannot decode its arguments: trace
      ** the others, and say which is missing. */
      size_t used = strlen(b->warning);
      snprintf(b->warning + used, sizeof b->warning - used,
               "%sjcache:%s is not traced: libbpf %s cannot decode its "
               "arguments '%s' (an indexed memory operand needs a libbpf with "
               "SIB support, from late 2025, or libjcache built with "
               "STAP_SDT_ARG_CONSTRAINT=nr)",
               used ? "; " : "", name, libbpf_version_string(), args);
      err = 0;
      continue;
    }
    if (err == -EPERM || err == -EACCES)
      fail(err, "cannot attach to jcache:%s in %s: %s; needs root (or "
                "CAP_BPF and CAP_PERFMON)", name, b->lib, strerror(-err));
    else
      fail(err, "cannot attach to jcache:%s in %s: %s (run with -v for "
                "libbpf's messages)", name, b->lib, strerror(-err));
    goto cleanup;
  }

  b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.events), on_ringbuf, b,
                           NULL);
  if (!b->rb) {
    err = fail(-errno, "cannot create the ring buffer: %s", strerror(errno));
    goto cleanup;
  }
  return b;

cleanup:
  jc_bpf_close(b);
  (void)err;
  return NULL;
}

void jc_bpf_close(jc_bpf *b) {
  if (!b) return;
  ring_buffer__free(b->rb);
  for (int k = 0; k < JC_EV_COUNT; k++) bpf_link__destroy(b->links[k]);
  jcache_bpf__destroy(b->skel);
  free(b);
}

const char *jc_bpf_lib(const jc_bpf *b) { return b->lib; }

uint32_t jc_bpf_attached(const jc_bpf *b) { return b->attached; }

const char *jc_bpf_warning(const jc_bpf *b) {
  return b->warning[0] ? b->warning : NULL;
}

bool jc_bpf_has_commit_begin(const jc_bpf *b) {
  return b->attached & JC_EV_BIT(JC_EV_COMMIT_BEGIN);
}

bool jc_bpf_has_live(const jc_bpf *b) {
  uint32_t both = JC_EV_BIT(JC_EV_TRACE_LIVE) | JC_EV_BIT(JC_EV_TRACE_RELEASE);
  return (b->attached & both) == both;
}

/* -- Events, counters, histograms ------------------------------------------------------ */

int jc_bpf_poll(jc_bpf *b, int timeout_ms, jc_bpf_event_fn fn, void *ctx) {
  b->fn = fn;
  b->ctx = ctx;
  b->stop = 0;
  int n = timeout_ms ? ring_buffer__poll(b->rb, timeout_ms)
                     : ring_buffer__consume(b->rb);
  if (b->stop) return b->stop;
  if (n < 0 && n != -EINTR)
    return fail(n, "reading the ring buffer: %s", strerror(-n));
  return n;
}

int jc_bpf_fd(const jc_bpf *b) { return ring_buffer__epoll_fd(b->rb); }

uint64_t jc_bpf_lost(const jc_bpf *b) {
  return __atomic_load_n(&b->skel->bss->lost_events, __ATOMIC_RELAXED);
}

int jc_bpf_counters(jc_bpf *b, pid_t pid, struct jc_counters *out) {
  __u32 key = (__u32)pid;
  if (bpf_map_lookup_elem(bpf_map__fd(b->skel->maps.counters), &key, out)) {
    memset(out, 0, sizeof *out);
    return fail(-errno, "no counters for pid %d", (int)pid);
  }
  return 0;
}

int jc_bpf_hist(jc_bpf *b, pid_t pid, enum jc_hist_kind kind,
                struct jc_hist *out) {
  struct jc_hist_key key = {.pid = (__u32)pid, .kind = kind};
  if (bpf_map_lookup_elem(bpf_map__fd(b->skel->maps.hists), &key, out)) {
    memset(out, 0, sizeof *out);
    return fail(-errno, "no histogram for pid %d", (int)pid);
  }
  return 0;
}

static int cmp_pid(const void *a, const void *b) {
  pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
  return (x > y) - (x < y);
}

size_t jc_bpf_pids(jc_bpf *b, pid_t *out, size_t cap) {
  int fd = bpf_map__fd(b->skel->maps.counters);
  __u32 key, next;
  size_t n = 0;
  for (int rc = bpf_map_get_next_key(fd, NULL, &next); rc == 0;
       rc = bpf_map_get_next_key(fd, &key, &next)) {
    if (n < cap) out[n] = (pid_t)next;
    n++;
    key = next;
  }
  qsort(out, n < cap ? n : cap, sizeof *out, cmp_pid);
  return n;
}

void jc_bpf_forget(jc_bpf *b, pid_t pid) {
  __u32 key = (__u32)pid;
  bpf_map_delete_elem(bpf_map__fd(b->skel->maps.counters), &key);
  for (__u32 k = 0; k < JC_HIST_COUNT; k++) {
    struct jc_hist_key hk = {.pid = key, .kind = k};
    bpf_map_delete_elem(bpf_map__fd(b->skel->maps.hists), &hk);
  }
}

/* -- Names and formatting ------------------------------------------------------------ */

static const char *const ev_names[] = {
#define JC_EV_NAME_STR(up, low) #low,
    JC_EVDEF(JC_EV_NAME_STR)
#undef JC_EV_NAME_STR
};

static const char *const stat_names[] = {
#define JC_STAT_NAME_STR(name, desc) #name,
    JC_STATDEF(JC_STAT_NAME_STR)
#undef JC_STAT_NAME_STR
};

const char *jc_bpf_event_name(unsigned kind) {
  return kind < JC_EV_COUNT ? ev_names[kind] : NULL;
}

const char *jc_bpf_stat_name(unsigned i) {
  return i < JC_STAT_COUNT ? stat_names[i] : NULL;
}

/* Short names for -e, each a set of probes. */
static const struct {
  const char *word;
  uint32_t mask;
} ev_groups[] = {
    {"all", JC_EV_ALL_MASK},
    {"default", JC_EV_DEFAULT_MASK},
    {"hit", JC_EV_BIT(JC_EV_REPLAY_HIT)},
    {"miss", JC_EV_BIT(JC_EV_REPLAY_MISS) | JC_EV_BIT(JC_EV_COMMIT_FAIL)},
    {"replay", JC_EV_BIT(JC_EV_REPLAY_HIT) | JC_EV_BIT(JC_EV_REPLAY_MISS) |
                   JC_EV_BIT(JC_EV_BIND)},
    {"commit", JC_EV_BIT(JC_EV_COMMIT) | JC_EV_BIT(JC_EV_COMMIT_FAIL) |
                   JC_EV_BIT(JC_EV_COMMIT_BEGIN)},
    {"bridge", JC_EV_BIT(JC_EV_BRIDGE_ATTACH)},
    {"tail", JC_EV_BIT(JC_EV_TAIL_GUARD) | JC_EV_BIT(JC_EV_TAIL_VALIDATED) |
                 JC_EV_BIT(JC_EV_TAIL_INVALIDATED)},
    {"record", JC_EV_BIT(JC_EV_RECORD_WRITE) | JC_EV_BIT(JC_EV_RECORD_ABORT) |
                   JC_EV_BIT(JC_EV_WRITE_ERROR)},
    {"store", JC_EV_BIT(JC_EV_LOOKUP) | JC_EV_BIT(JC_EV_REJECT) |
                  JC_EV_BIT(JC_EV_RECORD_WRITE) | JC_EV_BIT(JC_EV_WRITE_ERROR)},
    {"error", JC_EV_BIT(JC_EV_REJECT) | JC_EV_BIT(JC_EV_COMMIT_FAIL) |
                  JC_EV_BIT(JC_EV_WRITE_ERROR) | JC_EV_BIT(JC_EV_RECORD_ABORT)},
    {"live", JC_EV_BIT(JC_EV_TRACE_LIVE) | JC_EV_BIT(JC_EV_TRACE_RELEASE)},
};

int jc_bpf_event_mask(const char *list, uint32_t *mask) {
  uint32_t m = 0;
  char buf[512];
  snprintf(buf, sizeof buf, "%s", list ? list : "");
  char *save = NULL;
  for (char *w = strtok_r(buf, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
    bool ok = false;
    for (size_t i = 0; i < sizeof ev_groups / sizeof *ev_groups && !ok; i++)
      if (strcmp(w, ev_groups[i].word) == 0) m |= ev_groups[i].mask, ok = true;
    for (unsigned k = 0; k < JC_EV_COUNT && !ok; k++)
      if (strcmp(w, ev_names[k]) == 0) m |= JC_EV_BIT(k), ok = true;
    if (!ok)
      return fail(-EINVAL, "unknown event '%s' (probe names, or all, default, "
                           "hit, miss, replay, commit, bridge, tail, record, "
                           "store, error, live)", w);
  }
  if (!m) return fail(-EINVAL, "empty event list");
  *mask = m;
  return 0;
}

#define HX(v) ((unsigned long long)(v))

int jc_bpf_event_format(const struct jc_event *e, char *buf, size_t len) {
  switch (e->kind) {
  case JC_EV_LOOKUP:
    return snprintf(buf, len, "key=%016llx%016llx ncands=%llu",
                    HX(e->lookup.key_hi), HX(e->lookup.key_lo),
                    HX(e->lookup.ncands));
  case JC_EV_REJECT:
    return snprintf(buf, len, "key=%016llx%016llx reason=%d(%s) detail=\"%s\"",
                    HX(e->reject.key_hi), HX(e->reject.key_lo),
                    e->reject.reason, e->reject.reason_name, e->reject.detail);
  case JC_EV_REPLAY_HIT:
    return snprintf(buf, len, "site=%u kind=%u fp=%016llx", e->hit.site,
                    e->hit.kind, HX(e->hit.fingerprint));
  case JC_EV_REPLAY_MISS:
    return snprintf(buf, len, "site=%u expected=%016llx observed=%016llx "
                              "why=\"%s\"", e->miss.site, HX(e->miss.expected),
                    HX(e->miss.observed), e->miss.why);
  case JC_EV_BIND:
    return snprintf(buf, len, "slot=%u value=%#llx", e->bind.slot,
                    HX(e->bind.value));
  case JC_EV_RELOC: {
    static const char *const kinds[] = {"?", "ABS64", "ABS32", "REL32",
                                        "CELL32"};
    int k = e->reloc.kind;
    return snprintf(buf, len, "field=%#llx kind=%s value=%#llx",
                    HX(e->reloc.field_addr), k >= 1 && k <= 4 ? kinds[k] : "?",
                    HX(e->reloc.value));
  }
  case JC_EV_COMMIT:
    return snprintf(buf, len, "code=%#llx bytes=%llu ntraces=%u "
                              "latency=%lluns", HX(e->commit.code_addr),
                    HX(e->commit.bytes), e->commit.ntraces,
                    HX(e->commit.latency_ns));
  case JC_EV_COMMIT_FAIL:
    return snprintf(buf, len, "error=%d message=\"%s\"", e->commit_fail.error,
                    e->commit_fail.message);
  case JC_EV_BRIDGE_ATTACH:
    return snprintf(buf, len, "exit=%u bridge=%016llx addr=%#llx%s",
                    e->attach.exit, HX(e->attach.bridge_id),
                    HX(e->attach.bridge_addr),
                    e->attach.bridge_id ? "" : " (live attach)");
  case JC_EV_TAIL_GUARD:
  case JC_EV_TAIL_VALIDATED:
    return snprintf(buf, len, "after_guard=%u patch=%#llx", e->tail.after_guard,
                    HX(e->tail.patch_addr));
  case JC_EV_TAIL_INVALIDATED:
    return snprintf(buf, len, "after_guard=%u patch=%#llx site=%u "
                              "expected=%016llx observed=%016llx",
                    e->inval.after_guard, HX(e->inval.patch_addr),
                    e->inval.site, HX(e->inval.expected),
                    HX(e->inval.observed));
  case JC_EV_RECORD_WRITE:
    return snprintf(buf, len, "key=%016llx%016llx bytes=%llu",
                    HX(e->write.key_hi), HX(e->write.key_lo),
                    HX(e->write.bytes));
  case JC_EV_RECORD_ABORT:
    return snprintf(buf, len, "key=%016llx%016llx reason=\"%s\"",
                    HX(e->abort.key_hi), HX(e->abort.key_lo), e->abort.reason);
  case JC_EV_WRITE_ERROR:
    return snprintf(buf, len, "mdb_error=%d message=\"%s\"", e->werr.mdb_error,
                    e->werr.message);
  case JC_EV_COMMIT_BEGIN:
    return snprintf(buf, len, "ntraces=%u", e->commit_begin.ntraces);
  case JC_EV_TRACE_LIVE:
    /* "reloaded jc_loop_f_L12 at 0x7f..., 94 bytes" */
    return snprintf(buf, len, "%s %.*s at %#llx, %llu bytes",
                    e->live.reloaded ? "reloaded" : "compiled",
                    (int)sizeof e->live.name,
                    e->live.name[0] ? e->live.name : "(unnamed)",
                    HX(e->live.code_addr), HX(e->live.code_len));
  case JC_EV_TRACE_RELEASE:
    return snprintf(buf, len, "at %#llx", HX(e->release.code_addr));
  }
  return snprintf(buf, len, "?");
}

/* "1.5us"-style bucket bounds for the histogram. */
static void fmt_ns(char *buf, size_t len, unsigned long long ns) {
  if (ns < 1000ULL) snprintf(buf, len, "%lluns", ns);
  else if (ns < 1000000ULL) snprintf(buf, len, "%lluus", ns / 1000);
  else if (ns < 1000000000ULL) snprintf(buf, len, "%llums", ns / 1000000);
  else snprintf(buf, len, "%llus", ns / 1000000000ULL);
}

void jc_bpf_hist_print(FILE *f, const struct jc_hist *h, const char *title) {
  int lo = -1, hi = -1;
  uint64_t max = 0;
  for (int i = 0; i < JC_HIST_SLOTS; i++) {
    if (!h->slots[i]) continue;
    if (lo < 0) lo = i;
    hi = i;
    if (h->slots[i] > max) max = h->slots[i];
  }
  char mean[32];
  fmt_ns(mean, sizeof mean, h->count ? h->sum_ns / h->count : 0);
  fprintf(f, "    %s: %llu, mean %s\n", title, HX(h->count), mean);
  if (lo < 0) return;
  fprintf(f, "    %21s : %-8s |%-40s|\n", "nsecs", "count", "distribution");
  for (int i = lo; i <= hi; i++) {
    char range[48];
    snprintf(range, sizeof range, "%llu -> %llu", i ? 1ULL << i : 0ULL,
             (1ULL << (i + 1)) - 1);
    int stars = max ? (int)(h->slots[i] * 40 / max) : 0;
    fprintf(f, "    %21s : %-8llu |%-40.*s|\n", range, HX(h->slots[i]), stars,
            "****************************************");
  }
}
