/*
** lib/cache.c — opening a cache: directory, safety checks, namespace.
**
** The cache directory holds executable code for the next run, so it must be
** private: a directory or store file owned by another user, or writable by
** group or others, would let someone else choose the code we run.  Such a
** cache is refused with a message and the host program runs on without it.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "cache.h"
#include "internal.h"
#include "mem.h"

/* -- Directory ------------------------------------------------------------ */

/* The default directory: $JCACHE_DIR, $XDG_CACHE_HOME/jcache, ~/.cache/jcache. */
static char *default_dir(void) {
  const char *e = getenv("JCACHE_DIR");
  if (e && *e) return strdup(e);
  char buf[4096];
  e = getenv("XDG_CACHE_HOME");
  if (e && *e) {
    snprintf(buf, sizeof buf, "%s/jcache", e);
    return strdup(buf);
  }
  e = getenv("HOME");
  if (!e || !*e) return NULL;
  snprintf(buf, sizeof buf, "%s/.cache/jcache", e);
  return strdup(buf);
}

/* mkdir -p with mode 0700 for every directory we create. */
static int mkdir_p(const char *path) {
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) return ENAMETOOLONG;
  memcpy(buf, path, n + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return errno;
    *p = '/';
  }
  if (mkdir(buf, 0700) != 0 && errno != EEXIST) return errno;
  return 0;
}

/* Refuse a path not owned by us or writable by group/others. */
static jc_err check_private(const char *path, bool want_dir) {
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT && !want_dir) return JC_OK; /* created by us later */
    return jc_fail(JC_IO, "jcache: cannot stat %s: %s", path, strerror(errno));
  }
  if (want_dir && !S_ISDIR(st.st_mode))
    return jc_fail(JC_UNSAFE, "jcache: %s is not a directory; cache disabled",
                   path);
  if (!want_dir && !S_ISREG(st.st_mode))
    return jc_fail(JC_UNSAFE, "jcache: %s is not a regular file; cache disabled",
                   path);
  if (st.st_uid != geteuid())
    return jc_fail(JC_UNSAFE,
                   "jcache: %s is owned by uid %u, not by this user (uid %u); "
                   "cache disabled",
                   path, (unsigned)st.st_uid, (unsigned)geteuid());
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return jc_fail(JC_UNSAFE,
                   "jcache: %s is writable by group or others (mode %03o); "
                   "cache disabled",
                   path, (unsigned)(st.st_mode & 0777));
  return JC_OK;
}

/* -- Namespace --------------------------------------------------------------- */

static void ns_field(XXH3_state_t *st, const char *s) {
  /* Length-prefixed so ("ab","c") and ("a","bc") differ. */
  uint64_t n = s ? strlen(s) : 0;
  XXH3_128bits_update(st, &n, sizeof n);
  if (n) XXH3_128bits_update(st, s, n);
}

static jc_key ns_hash(const jc_ns *ns) {
  XXH3_state_t st;
  XXH3_128bits_reset(&st);
  uint32_t ver = JC_FORMAT_VERSION;
  XXH3_128bits_update(&st, "jcache-namespace", 16);
  XXH3_128bits_update(&st, &ver, sizeof ver);
  ns_field(&st, ns->vm_name);
  ns_field(&st, ns->vm_version);
  ns_field(&st, ns->build_id);
  ns_field(&st, ns->cpu_features);
  XXH128_hash_t h = XXH3_128bits_digest(&st);
  return (jc_key){h.low64, h.high64};
}

/* -- Open and close ------------------------------------------------------------ */

JC_API jc_err jc_cache_open(const jc_ns *ns, const jc_cache_opts *opts,
                            jc_cache **out) {
  jc_clear_error();
  if (!out) return jc_fail(JC_INVAL, "jcache: jc_cache_open: out is NULL");
  *out = NULL;
  if (!ns) return jc_fail(JC_INVAL, "jcache: jc_cache_open: no namespace");

  jc_cache *c = calloc(1, sizeof *c);
  if (!c) return jc_fail(JC_NOMEM, "jcache: out of memory opening the cache");
  c->ns = ns_hash(ns);
  c->flags = opts ? opts->flags : 0;
  c->prepare = opts ? opts->prepare : NULL;
  c->prepare_user = opts ? opts->prepare_user : NULL;
  c->dir = (opts && opts->dir) ? strdup(opts->dir) : default_dir();
  pthread_mutex_init(&c->spare_lock, NULL);
  pthread_mutex_init(&c->qlock, NULL);
  pthread_cond_init(&c->qwake, NULL);
  pthread_cond_init(&c->qdone, NULL);

  jc_err err = JC_OK;
  if (!c->dir) {
    err = jc_fail(JC_IO, "jcache: no cache directory: set JCACHE_DIR or HOME; "
                         "cache disabled");
    goto fail;
  }
  if (!(c->flags & JC_CACHE_READONLY)) {
    int e = mkdir_p(c->dir);
    if (e) {
      err = jc_fail(JC_IO, "jcache: cannot create %s: %s; cache disabled",
                    c->dir, strerror(e));
      goto fail;
    }
  }
  if ((err = check_private(c->dir, true))) goto fail;
  char path[4200];
  static const char *const files[] = {"data.mdb", "lock.mdb"};
  for (size_t i = 0; i < JC_COUNTOF(files); i++) {
    snprintf(path, sizeof path, "%s/%s", c->dir, files[i]);
    if ((err = check_private(path, false))) goto fail;
  }
  c->max_size = opts && opts->max_size ? opts->max_size : ((size_t)1 << 30);
  if ((err = jc_store_open(c))) goto fail;
  jc_mem_start(); /* reloads' metadata comes from pages populated ahead */
  jc_shm_publish(c->dir);
  *out = c;
  return JC_OK;

fail:
  jc_cache_close(c);
  return err;
}

JC_API void jc_cache_close(jc_cache *c) {
  if (!c) return;
  jc_prefetch_free(c); /* its thread reads the store */
  jc_program_save(c);   /* queued for the writer, which close waits for */
  jc_store_close(c);
  pthread_mutex_destroy(&c->spare_lock);
  pthread_mutex_destroy(&c->qlock);
  pthread_cond_destroy(&c->qwake);
  pthread_cond_destroy(&c->qdone);
  free(c->dir);
  free(c);
}

JC_API jc_err jc_cache_flush(jc_cache *c) {
  if (!c) return jc_fail(JC_INVAL, "jcache: jc_cache_flush: cache is NULL");
  return jc_store_flush(c);
}

JC_API const char *jc_cache_dir(const jc_cache *c) { return c ? c->dir : ""; }

JC_API jc_key jc_cache_ns(const jc_cache *c) {
  return c ? c->ns : (jc_key){0, 0};
}
