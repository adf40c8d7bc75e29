/*
** gdbjit/jitdump.c — jit-PID.dump for `perf inject --jit`.
**
** The format is perf's (tools/perf/Documentation/jitdump-specification.txt):
** a header, then records.  For every trace, in this order:
**
**   JIT_CODE_DEBUG_INFO      the trace's line table (perf attaches it to the
**                            next CODE_LOAD)
**   JIT_CODE_UNWINDING_INFO  .eh_frame + .eh_frame_hdr (elf.c), for perf's
**                            DWARF unwinder
**   JIT_CODE_LOAD            name, address and a copy of the code bytes
**
** perf finds the file through the mmap of it that this process makes (the
** "marker": PROT_READ|PROT_EXEC, so perf records it as an executable mmap),
** and orders records with the samples by timestamp: CLOCK_MONOTONIC, so
** record with `perf record -k 1` (or -k mono).  The file is
** $JITDUMPDIR/.debug/jit/jcache-jit-DATE.XXXXXX/jit-PID.dump ($HOME when
** JITDUMPDIR is unset, /tmp when both are); perf inject writes the per-trace
** DSOs (jitted-PID-N.so) beside it.
**
** UNWINDING_INFO's mapped_size is 0: perf would otherwise extend the trace's
** synthetic mmap past its code by the unwind data's size, over the next
** trace in the arena, and shadow it.  perf still copies the unwind data into
** the DSO.  Called with gdbjit's lock held.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gdbjit.h"

enum { JIT_CODE_LOAD = 0, JIT_CODE_DEBUG_INFO = 2, JIT_CODE_UNWINDING_INFO = 4 };

#define JITDUMP_MAGIC 0x4A695444u /* "JiTD" */

struct jd_header {
  uint32_t magic, version, total_size, elf_mach, pad1, pid;
  uint64_t timestamp, flags;
};
struct jd_prefix {
  uint32_t id, total_size;
  uint64_t timestamp;
};
struct jd_load {
  struct jd_prefix p;
  uint32_t pid, tid;
  uint64_t vma, code_addr, code_size, code_index;
  /* name, NUL, code bytes */
};
struct jd_debug_info {
  struct jd_prefix p;
  uint64_t code_addr, nr_entry;
  /* entries */
};
struct jd_debug_entry {
  uint64_t addr;
  int32_t lineno, discrim;
  /* file name, NUL ("\xff\0": same as the previous entry) */
};
struct jd_unwinding {
  struct jd_prefix p;
  uint64_t unwinding_size, eh_frame_hdr_size, mapped_size;
  /* .eh_frame then .eh_frame_hdr */
};
_Static_assert(sizeof(struct jd_header) == 40, "jitdump header is 40 bytes");
_Static_assert(sizeof(struct jd_prefix) == 16, "record prefix is 16 bytes");
_Static_assert(sizeof(struct jd_load) == 56, "CODE_LOAD fixed part is 56");
_Static_assert(sizeof(struct jd_debug_info) == 32, "DEBUG_INFO fixed part");
_Static_assert(sizeof(struct jd_debug_entry) == 16, "debug entry fixed part");
_Static_assert(sizeof(struct jd_unwinding) == 40, "UNWINDING_INFO fixed part");

static int fd = -1;
static pid_t fd_pid;
static bool failed;
static void *marker = MAP_FAILED;
static size_t marker_len;
static uint64_t code_index;
static char path[4096 + 64];

static uint64_t timestamp(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void mkdir_p(char *p) {
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    mkdir(p, 0755); /* EEXIST is fine; a real failure shows at mkdtemp */
    *s = '/';
  }
  mkdir(p, 0755);
}

static void drop(const char *why) {
  if (!failed)
    fprintf(stderr, "jcache: jitdump disabled: %s: %s\n", why, strerror(errno));
  failed = true;
  if (fd >= 0) close(fd);
  fd = -1;
  path[0] = 0;
}

static bool open_dump(void) {
  pid_t pid = getpid();
  if (fd >= 0 && fd_pid == pid) return true;
  if (fd_pid != pid) { /* first use, or a forked child: its own file */
    if (fd >= 0) close(fd);
    if (marker != MAP_FAILED) munmap(marker, marker_len);
    fd = -1;
    marker = MAP_FAILED;
    failed = false;
    code_index = 0;
  }
  fd_pid = pid;
  if (failed) return false;

  const char *base = getenv("JITDUMPDIR");
  if (!base || !*base) base = getenv("HOME");
  if (!base || !*base) base = "/tmp";
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  char dir[4096];
  int n = snprintf(dir, sizeof dir, "%s/.debug/jit", base);
  if (n <= 0 || (size_t)n >= sizeof dir - 64) {
    errno = ENAMETOOLONG;
    drop(base);
    return false;
  }
  mkdir_p(dir);
  snprintf(dir + n, sizeof dir - (size_t)n, "/jcache-jit-%04d%02d%02d.XXXXXX",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  if (!mkdtemp(dir)) {
    drop(dir);
    return false;
  }
  snprintf(path, sizeof path, "%s/jit-%d.dump", dir, (int)pid);
  fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    drop(path);
    return false;
  }
  struct jd_header h = {
      .magic = JITDUMP_MAGIC, .version = 1, .total_size = sizeof h,
      .elf_mach = 62 /* EM_X86_64 */, .pid = (uint32_t)pid,
      .timestamp = timestamp(),
  };
  if (write(fd, &h, sizeof h) != (ssize_t)sizeof h) {
    drop(path);
    return false;
  }
  /* The marker perf looks for: an executable mapping of this very file. */
  marker_len = (size_t)sysconf(_SC_PAGESIZE);
  marker = mmap(NULL, marker_len, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
  if (marker == MAP_FAILED) {
    drop("mmap of the jitdump file");
    return false;
  }
  return true;
}

static void emit(jc_buf *b) {
  if (b->err) return;
  size_t done = 0;
  while (done < b->n) {
    ssize_t w = write(fd, b->p + done, b->n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      drop(path);
      return;
    }
    done += (size_t)w;
  }
}

static void prefix(jc_buf *b, uint32_t id) {
  struct jd_prefix p = {id, 0, timestamp()};
  jc_buf_put(b, &p, sizeof p);
}

static void finish(jc_buf *b, size_t start) {
  jc_buf_set32(b, start + 4, (uint32_t)(b->n - start)); /* total_size */
}

void jc_jitdump_add(const jc_trace *t) {
  if (!open_dump()) return;
  jc_buf b = {0};
  uint64_t code = (uint64_t)(uintptr_t)t->code;

  if (t->nlines) {
    size_t s = b.n;
    prefix(&b, JIT_CODE_DEBUG_INFO);
    jc_buf_u64(&b, code);
    jc_buf_u64(&b, t->nlines);
    const char *last = NULL;
    for (uint32_t i = 0; i < t->nlines; i++) {
      const jc_trace_line *l = &t->lines[i];
      const char *f = l->file ? l->file : "";
      jc_buf_u64(&b, code + l->off);
      jc_buf_u32(&b, l->line);
      jc_buf_u32(&b, 0);
      if (last && strcmp(last, f) == 0) jc_buf_put(&b, "\xff", 2);
      else jc_buf_str(&b, f);
      last = f;
    }
    finish(&b, s);
  }

  size_t s = b.n;
  prefix(&b, JIT_CODE_UNWINDING_INFO);
  size_t sizes = b.n;
  jc_buf_u64(&b, 0), jc_buf_u64(&b, 0), jc_buf_u64(&b, 0);
  size_t data = b.n, hdr = 0;
  const jc_trace *parent = t->parent_id ? jc_trace_find(t->parent_id) : NULL;
  if (jc_gdbjit_eh_frame(t, parent, &b, &hdr)) {
    uint64_t v[3] = {b.n - data, hdr, 0};
    if (!b.err) memcpy(b.p + sizes, v, sizeof v);
    jc_buf_align(&b, 8, 0);
    finish(&b, s);
  } else {
    b.n = s; /* no unwind record; the code is still named */
    b.err = false;
  }

  s = b.n;
  prefix(&b, JIT_CODE_LOAD);
  jc_buf_u32(&b, (uint32_t)getpid());
  jc_buf_u32(&b, (uint32_t)syscall(SYS_gettid));
  jc_buf_u64(&b, code); /* vma */
  jc_buf_u64(&b, code);
  jc_buf_u64(&b, t->size);
  jc_buf_u64(&b, ++code_index);
  char name[160];
  if (t->name && t->name[0]) snprintf(name, sizeof name, "%s", t->name);
  else snprintf(name, sizeof name, "jc_trace_%016llx", (unsigned long long)t->id);
  jc_buf_str(&b, name);
  jc_buf_put(&b, t->code, t->size);
  finish(&b, s);

  emit(&b);
  free(b.p);
}

const char *jc_jitdump_path(void) { return path; }

void jc_jitdump_close(void) {
  if (marker != MAP_FAILED) munmap(marker, marker_len);
  marker = MAP_FAILED;
  if (fd >= 0) close(fd);
  fd = -1;
  fd_pid = 0;
  failed = false;
  path[0] = 0;
}
