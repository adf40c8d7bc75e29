/*
** lib/shm.h — the per-process statistics segment, /dev/shm/jcache.PID.
**
** Each process using libjcache publishes its counters here, so jcache-top
** and `jcache stat -p PID` can show them without privileges (the segment is
** mode 0600: readable by the owner).  The library's counters live inside the
** segment once it exists; readers map it read-only and copy the fields.  The
** segment is removed at exit; segments of dead processes are removed by the
** next process that creates one, and by readers (jc_shm_stale()).
**
** Layout (native endianness, the reader runs on the same machine):
*/
#ifndef JC_LIB_SHM_H
#define JC_LIB_SHM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "jcache/stats.h"

#define JC_SHM_MAGIC "JCSHM01"
#define JC_SHM_VERSION 1
#define JC_SHM_PREFIX "jcache." /* /dev/shm/jcache.PID */

typedef struct jc_shm {
  char magic[8];        /* JC_SHM_MAGIC, NUL-terminated */
  uint32_t version;     /* JC_SHM_VERSION */
  uint32_t size;        /* sizeof(jc_shm) */
  int32_t pid;
  uint32_t nstats;      /* JC_STATS_COUNT of the writer */
  uint64_t start_ns;    /* CLOCK_REALTIME when the segment was created */
  char comm[32];        /* /proc/self/comm */
  char cache_dir[256];  /* the last cache directory opened ("" if none) */
  jc_stats stats;       /* live counters, updated with relaxed atomics */
} jc_shm;

/* Read the segment of `pid` into *out (a snapshot).  False if there is none
** or it is not a valid segment. */
bool jc_shm_read(pid_t pid, jc_shm *out);
/* True if the segment file name (e.g. "jcache.1234") belongs to a process
** that no longer exists. */
bool jc_shm_stale(const char *name);

#endif
