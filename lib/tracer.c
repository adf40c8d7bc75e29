/*
** lib/tracer.c — is a debugger attached to this process?
**
** The code arena asks once, when it is reserved (under a debugger it takes
** the private mode, where software breakpoints work); the GDB JIT interface
** in lazy mode asks at its first registration and then every 50 ms.  Both
** readings are one: the kernel formats the whole of /proc/self/status for
** it, several microseconds that would otherwise land on the first commit of
** a warm run, right after the arena was reserved.
*/
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

bool jc_tracer_attached(uint64_t max_age_ns) {
  /* Races between threads only cost an extra reading. */
  static uint64_t read_at; /* 0: never */
  static bool attached;
  uint64_t now = now_ns();
  uint64_t at = __atomic_load_n(&read_at, __ATOMIC_ACQUIRE);
  if (at && max_age_ns && now - at < max_age_ns)
    return __atomic_load_n(&attached, __ATOMIC_RELAXED);
  bool a = read_tracer();
  __atomic_store_n(&attached, a, __ATOMIC_RELAXED);
  __atomic_store_n(&read_at, now ? now : 1, __ATOMIC_RELEASE);
  return a;
}
