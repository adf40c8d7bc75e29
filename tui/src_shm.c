/*
** tui/src_shm.c — the counters source: /dev/shm/jcache.PID segments.
**
** Every process using libjcache publishes its counters in a segment of mode
** 0600 (lib/shm.h), so this works without privileges for the user's own
** processes (root sees everyone's).  Each poll rescans the directory: a
** process that started since appears, one that exited disappears.
*/
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm.h"
#include "top.h"

typedef struct shm_src {
  jt_source base;
  pid_t follow;
} shm_src;

static void update(jt_model *m, const jc_shm *s) {
  jt_model_sample(m, s->pid, s->comm, s->cache_dir, &s->stats, false);
}

static void shm_poll(jt_source *src, jt_model *m) {
  shm_src *s = (shm_src *)src;
  for (int i = 0; i < m->nprocs; i++)
    if (!m->procs[i].from_bpf) m->procs[i].alive = false;
  DIR *d = opendir("/dev/shm");
  if (d) {
    struct dirent *e;
    size_t plen = strlen(JC_SHM_PREFIX);
    while ((e = readdir(d))) {
      if (strncmp(e->d_name, JC_SHM_PREFIX, plen) != 0) continue;
      char *end;
      long pid = strtol(e->d_name + plen, &end, 10);
      if (*end || pid <= 0) continue;
      if (s->follow && pid != s->follow) continue;
      if (jc_shm_stale(e->d_name)) continue;
      jc_shm seg;
      if (jc_shm_read((pid_t)pid, &seg) && seg.pid == pid) update(m, &seg);
    }
    closedir(d);
  }
  /* Drop processes that are gone (their traces stay in the trace table). */
  for (int i = 0; i < m->nprocs;) {
    if (!m->procs[i].alive && !m->procs[i].from_bpf)
      m->procs[i] = m->procs[--m->nprocs];
    else
      i++;
  }
}

static void shm_close(jt_source *src) { free(src); }

jt_source *jt_src_shm_open(pid_t follow) {
  shm_src *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->base.name = "shared memory";
  s->base.poll = shm_poll;
  s->base.close = shm_close;
  s->follow = follow;
  return &s->base;
}
