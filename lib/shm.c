/*
** lib/shm.c — publishing this process's counters in /dev/shm/jcache.PID.
**
** Created on first use (jc_cache_open, jc_rec_begin_*); the counters then
** move into the segment, so every jc_stat_add updates what jcache-top reads.
** Removed at exit.  Observability fails soft: if the segment cannot be made
** the counters stay private and nothing else changes.  JCACHE_SHM=off turns
** the segment off.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "shm.h"

static pthread_mutex_t shm_lock = PTHREAD_MUTEX_INITIALIZER;
static jc_shm *seg;       /* our segment, or NULL */
static pid_t seg_pid;     /* the process that created it (fork: not ours) */
static bool seg_tried;    /* created, or failed: do not retry */

static void seg_name(char *buf, size_t n, pid_t pid) {
  snprintf(buf, n, "/" JC_SHM_PREFIX "%d", (int)pid);
}

bool jc_shm_stale(const char *name) {
  if (strncmp(name, JC_SHM_PREFIX, strlen(JC_SHM_PREFIX)) != 0) return false;
  char *end;
  long pid = strtol(name + strlen(JC_SHM_PREFIX), &end, 10);
  if (*end || pid <= 0) return false;
  return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Remove segments of dead processes of this user. */
static void clean_stale(void) {
  DIR *d = opendir("/dev/shm");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!jc_shm_stale(e->d_name)) continue;
    char path[300];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
    if (stat(path, &st) == 0 && st.st_uid == geteuid()) unlink(path);
  }
  closedir(d);
}

static void remove_at_exit(void) {
  if (!seg || seg_pid != getpid()) return;
  char name[64];
  seg_name(name, sizeof name, seg_pid);
  shm_unlink(name);
}

/* A forked child must not count into its parent's segment. */
static void atfork_child(void) {
  if (!seg) return;
  static jc_stats child_stats;
  memcpy(&child_stats, &seg->stats, sizeof child_stats);
  jc_stats_p = &child_stats;
  seg = NULL;
  seg_tried = false;
}

static void create(void) {
  const char *e = getenv("JCACHE_SHM");
  if (e && strcmp(e, "off") == 0) return;
  clean_stale();
  char name[64];
  pid_t pid = getpid();
  seg_name(name, sizeof name, pid);
  shm_unlink(name); /* a leftover of a dead process that had our pid */
  int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return;
  jc_shm *s = MAP_FAILED;
  if (ftruncate(fd, sizeof *s) == 0)
    s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (s == MAP_FAILED) {
    shm_unlink(name);
    return;
  }
  memcpy(s->magic, JC_SHM_MAGIC, sizeof s->magic);
  s->version = JC_SHM_VERSION;
  s->size = sizeof *s;
  s->pid = (int32_t)pid;
  s->nstats = (uint32_t)JC_STATS_COUNT;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  s->start_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  FILE *f = fopen("/proc/self/comm", "r");
  if (f) {
    if (fgets(s->comm, sizeof s->comm, f)) s->comm[strcspn(s->comm, "\n")] = 0;
    fclose(f);
  }
  /* Move the counters in: what was counted so far, then the pointer. */
  jc_stats_get(&s->stats);
  __atomic_store_n(&jc_stats_p, &s->stats, __ATOMIC_RELEASE);
  seg = s;
  seg_pid = pid;
  static bool hooks;
  if (!hooks) {
    hooks = true;
    atexit(remove_at_exit);
    pthread_atfork(NULL, NULL, atfork_child);
  }
}

void jc_shm_publish(const char *cache_dir) {
  jc_stats_init();
  pthread_mutex_lock(&shm_lock);
  if (!seg_tried) {
    seg_tried = true;
    create();
  }
  if (seg && cache_dir)
    snprintf(seg->cache_dir, sizeof seg->cache_dir, "%s", cache_dir);
  pthread_mutex_unlock(&shm_lock);
}

bool jc_shm_read(pid_t pid, jc_shm *out) {
  char name[64];
  seg_name(name, sizeof name, pid);
  int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return false;
  struct stat st;
  const jc_shm *s = MAP_FAILED;
  if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof *s)
    s = mmap(NULL, sizeof *s, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (s == MAP_FAILED) return false;
  bool ok = memcmp(s->magic, JC_SHM_MAGIC, sizeof s->magic) == 0 &&
            s->version == JC_SHM_VERSION && s->size == sizeof *s;
  if (ok) {
    memcpy(out, s, sizeof *out);
    /* Counters are read one by one: each is a consistent 64-bit value. */
    const uint64_t *src = (const uint64_t *)&s->stats;
    uint64_t *dst = (uint64_t *)&out->stats;
    for (size_t i = 0; i < JC_STATS_COUNT; i++)
      dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
  }
  munmap((void *)s, sizeof *s);
  return ok;
}
