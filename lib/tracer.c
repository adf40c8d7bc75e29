/*
** lib/tracer.c — is a debugger attached to this process?
**
** The code arena asks once, when it is reserved (under a debugger it takes
** the private mode, where software breakpoints work); the GDB JIT interface
** in lazy mode asks at its first registration and then every 50 ms.  Both
** readings are one: the kernel formats the whole of /proc/self/status for
** it, several microseconds that would otherwise land on the first commit of
** a warm run, right after the arena was reserved.  Later readings are the
** background thread's (jc_tracer_attached_soon): one every 50 ms on the
** program's thread cost whichever commit came then 5 to 20 us.
*/
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "tracer.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool read_tracer(void) {
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  const char *p = strstr(buf, "TracerPid:");
  return p && strtol(p + 10, NULL, 10) != 0;
}

/* The last reading and when it was made (0: never).  Races between
** threads only cost an extra reading. */
static uint64_t read_at;
static bool attached;

static bool refresh(void) {
  uint64_t now = now_ns();
  bool a = read_tracer();
  __atomic_store_n(&attached, a, __ATOMIC_RELAXED);
  __atomic_store_n(&read_at, now ? now : 1, __ATOMIC_RELEASE);
  return a;
}

static void refresh_job(void) { (void)refresh(); }

bool jc_tracer_attached(uint64_t max_age_ns) {
  uint64_t at = __atomic_load_n(&read_at, __ATOMIC_ACQUIRE);
  if (at && max_age_ns && now_ns() - at < max_age_ns)
    return __atomic_load_n(&attached, __ATOMIC_RELAXED);
  return refresh();
}

bool jc_tracer_attached_soon(uint64_t max_age_ns) {
  uint64_t at = __atomic_load_n(&read_at, __ATOMIC_ACQUIRE);
  if (!at) return refresh();
  if (now_ns() - at >= max_age_ns) jc_mem_background(refresh_job);
  return __atomic_load_n(&attached, __ATOMIC_RELAXED);
}
