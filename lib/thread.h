/*
** lib/thread.h — starting libjcache's background threads (internal).
**
** libjcache runs up to three threads beside the program: jc-writer
** (store.c), jc-prefetch (prefetch.c) and jc-mem (mem.c).  They are named
** by their creator, so that perf, top -H, gdb and /proc/PID/task show the
** name as soon as they exist, and they run on other CPUs than the one the
** program's thread was on when it started them (when that thread may use
** another): the program's thread keeps its CPU to itself (thread.c says
** why and what was measured).
*/
#ifndef JC_LIB_THREAD_H
#define JC_LIB_THREAD_H

#include <pthread.h>
#include <stdbool.h>

/* Start fn(arg) as a thread named `name` (15 characters at most), detached
** or not, kept off the caller's current CPU when the caller may use
** another.  False if it could not start. */
bool jc_thread_start(pthread_t *t, bool detached, void *(*fn)(void *), void *arg,
                     const char *name);

#endif
