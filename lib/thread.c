/*
** lib/thread.c — starting libjcache's background threads (thread.h).
**
** Why off the program's CPU, for good.  Linux places a new thread near its
** creator, and wakes a sleeping one where it last ran; on a two-CPU
** machine libjcache's threads kept landing on the program's CPU as it
** started, and the program's thread was preempted there while the other
** CPU sat idle.  Warm spectral-norm under `perf record -e sched:sched_switch`,
** 8 runs per figure, the program's thread preempted by libjcache's threads:
** 1.02 and 0.58 ms per run when the writer and the memory thread started
** anywhere and the prefetch thread started on another CPU and then could
** move; about 0.4 ms (jc-mem, populating memory ahead, most of it) when all
** three started so; 0.01 to 0.06 ms kept off the program's CPU.  If the
** program's thread moves to theirs, the scheduler's balancing can move it
** back to the free one (it is the only thread there that may move; this
** case was not measured).
** (bench/README.md, "Background threads", has what it did to reloads.)
**
** Whatever CPUs the caller may use (taskset, a program's own pinning), its
** threads may use the same but one; a caller held on one CPU starts them
** on that CPU, as a thread created in the ordinary way (a program that
** restricts itself is not overridden).
*/
#include <sched.h>

#include "thread.h"

bool jc_thread_start(pthread_t *t, bool detached, void *(*fn)(void *), void *arg,
                     const char *name) {
  pthread_attr_t at;
  if (pthread_attr_init(&at) != 0) return false;
  if (detached) (void)pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  cpu_set_t cpus;
  int me = sched_getcpu();
  if (me >= 0 && sched_getaffinity(0, sizeof cpus, &cpus) == 0) {
    CPU_CLR(me, &cpus);
    if (CPU_COUNT(&cpus) > 0) (void)pthread_attr_setaffinity_np(&at, sizeof cpus, &cpus);
  }
  bool ok = pthread_create(t, &at, fn, arg) == 0;
  pthread_attr_destroy(&at);
  /* Named by the creator: the name is there before the thread first runs.
  ** A detached thread must not be able to end before this (mem.c holds
  ** the lock its thread takes first). */
  if (ok) (void)pthread_setname_np(*t, name);
  return ok;
}
