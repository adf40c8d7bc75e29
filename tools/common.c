/*
** tools/common.c — store access, record checks and formatting for `jcache`.
*/
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "jcache/jcache.h"

/* -- Messages ---------------------------------------------------------------- */

void jt_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("jcache: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

int jt_usage_err(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "jcache %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\nTry 'jcache %s --help'.\n", cmd);
  va_end(ap);
  return JT_EXIT_USAGE;
}

/* The library's messages already start with "jcache: ". */
static void lib_err(jc_err err) {
  const char *m = jc_last_error();
  if (!*m) m = jc_strerror(err);
  if (strncmp(m, "jcache: ", 8) == 0) m += 8;
  jt_err("%s", m);
}

/* -- The store ----------------------------------------------------------------- */

/* The tool's namespace: any will do, the tool walks all of them. */
static const jc_ns tool_ns = {"jcache-tool", "1", "", ""};

int jt_txn_begin(jt_store *s, bool write, MDB_txn **txn) {
  int rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, txn);
  if (rc == MDB_MAP_RESIZED) {
    mdb_env_set_mapsize(s->env, 0);
    rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, txn);
  }
  return rc;
}

static bool open_cache(jt_store *s, const char *dir, unsigned flags) {
  jc_cache_opts o = {.dir = dir, .flags = flags};
  jc_err err = jc_cache_open(&tool_ns, &o, &s->cache);
  if (err) {
    lib_err(err);
    return false;
  }
  return true;
}

/* An optional table of the store: absent is fine (*has false), any other
** failure is printed. */
static bool open_table(jt_store *s, MDB_txn *txn, const char *name, MDB_dbi *dbi,
                       bool *has) {
  int rc = mdb_dbi_open(txn, name, s->writable ? MDB_CREATE : 0, dbi);
  *has = rc == 0;
  if (rc && rc != MDB_NOTFOUND) {
    jt_err("cannot open the %s table in %s: %s", name, s->dir, mdb_strerror(rc));
    return false;
  }
  return true;
}

bool jt_store_open(jt_store *s, const char *dir, int mode) {
  memset(s, 0, sizeof *s);
  /* Open read-only first even to write: that resolves the directory and
  ** requires an existing store, so `gc` on a mistyped path creates nothing. */
  if (mode != JT_OPEN_CREATE) {
    if (!open_cache(s, dir, JC_CACHE_READONLY)) return false;
    if (mode == JT_OPEN_WRITE) {
      char *d = strdup(jc_cache_dir(s->cache));
      jc_cache_close(s->cache);
      s->cache = NULL;
      bool ok = d && open_cache(s, d, JC_CACHE_SYNC_WRITE);
      free(d);
      if (!ok) return false;
    }
  } else if (!open_cache(s, dir, JC_CACHE_SYNC_WRITE)) {
    return false;
  }
  s->writable = mode != JT_OPEN_READ;
  s->env = s->cache->env;
  s->dir = jc_cache_dir(s->cache);
  s->has_traces = s->cache->has_dbi;
  s->traces = s->cache->dbi;
  if (!s->has_traces) return true;

  /* The usage, give-ups and programs tables, if this store has them (the
  ** library creates them when it opens a store for writing). */
  MDB_txn *txn;
  int rc = jt_txn_begin(s, s->writable, &txn);
  if (rc) {
    jt_err("cannot begin a transaction in %s: %s", s->dir, mdb_strerror(rc));
    jt_store_close(s);
    return false;
  }
  if (!open_table(s, txn, "usage", &s->usage, &s->has_usage) ||
      !open_table(s, txn, "giveups", &s->giveups, &s->has_giveups) ||
      !open_table(s, txn, "programs", &s->programs, &s->has_programs)) {
    mdb_txn_abort(txn);
    jt_store_close(s);
    return false;
  }
  /* Committing (even a read-only transaction) keeps the table handle. */
  rc = mdb_txn_commit(txn);
  if (rc) {
    jt_err("cannot commit in %s: %s", s->dir, mdb_strerror(rc));
    jt_store_close(s);
    return false;
  }
  return true;
}

void jt_store_close(jt_store *s) {
  jc_cache_close(s->cache);
  memset(s, 0, sizeof *s);
}

/* -- Records --------------------------------------------------------------------- */

bool jt_usage_decode(const MDB_val *v, jt_usage *u) {
  memset(u, 0, sizeof *u);
  if (v->mv_size != JT_USAGE_SIZE) return false;
  const uint8_t *p = v->mv_data;
  u->last_used = jc_ld64(p);
  u->hits = jc_ld64(p + 8);
  u->created = jc_ld64(p + 16);
  return true;
}

void jt_rec_load(const jt_store *s, MDB_txn *txn, const MDB_val *k,
                 const MDB_val *v, jt_rec *r) {
  memset(r, 0, sizeof *r);
  r->lkey = k->mv_data;
  r->lkey_len = k->mv_size;
  r->val = v->mv_data;
  r->len = v->mv_size;
  if (k->mv_size == 40) {
    r->ns = (jc_key){jc_ld64(r->lkey), jc_ld64(r->lkey + 8)};
    r->key = (jc_key){jc_ld64(r->lkey + 16), jc_ld64(r->lkey + 24)};
    r->id = jc_ld64(r->lkey + 32);
  }

  if (k->mv_size != 40) {
    r->reason = "key";
    snprintf(r->detail, sizeof r->detail,
             "store key is %zu bytes, not 40 (ns | key | id)", k->mv_size);
  } else {
    /* The namespace comes from the store key: the tool walks them all. */
    jc_reject why = jc_fmt_parse(r->val, r->len, r->ns, &r->v, r->detail,
                                 sizeof r->detail);
    if (why != JC_REJECT_NONE) {
      r->reason = jc_fmt_reject_name(why);
    } else if (r->v.hdr.key_lo != r->key.lo || r->v.hdr.key_hi != r->key.hi) {
      r->reason = "key";
      snprintf(r->detail, sizeof r->detail,
               "record's lookup key %016llx%016llx differs from its store key",
               (unsigned long long)r->v.hdr.key_hi,
               (unsigned long long)r->v.hdr.key_lo);
    } else if (r->v.hdr.trace_id != r->id) {
      r->reason = "key";
      snprintf(r->detail, sizeof r->detail,
               "record's trace id %016llx differs from its store key's",
               (unsigned long long)r->v.hdr.trace_id);
    } else {
      r->ok = true;
    }
  }
  if (!r->ok) memset(&r->v, 0, sizeof r->v);

  if (txn && s->has_usage) {
    MDB_val uv;
    if (mdb_get(txn, s->usage, (MDB_val *)k, &uv) == 0)
      r->has_usage = jt_usage_decode(&uv, &r->usage);
  }
}

int jt_rec_delete(const jt_store *s, MDB_txn *txn, const void *lkey,
                  size_t lkey_len) {
  MDB_val k = {lkey_len, (void *)lkey};
  int rc = mdb_del(txn, s->traces, &k, NULL);
  if (rc && rc != MDB_NOTFOUND) return rc;
  if (!s->has_usage) return 0;
  rc = mdb_del(txn, s->usage, &k, NULL);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The record's own time first: a usage entry made by `jcache import` says
** when the record arrived in this store, not when it was recorded. */
uint64_t jt_rec_created(const jt_rec *r) {
  if (r->ok && r->v.hdr.created) return r->v.hdr.created;
  return r->has_usage ? r->usage.created : 0;
}

uint64_t jt_rec_last_used(const jt_rec *r) {
  if (r->has_usage && r->usage.last_used) return r->usage.last_used;
  return jt_rec_created(r);
}

const char *jt_rec_name(const jt_rec *r) {
  return r->ok && r->v.name[0] ? r->v.name : "-";
}

/* -- Formatting -------------------------------------------------------------------- */

char *jt_hex128(char *buf, jc_key k) {
  snprintf(buf, 33, "%016llx%016llx", (unsigned long long)k.hi,
           (unsigned long long)k.lo);
  return buf;
}

char *jt_ns_short(char *buf, jc_key ns) {
  snprintf(buf, 9, "%08llx", (unsigned long long)(ns.hi >> 32));
  return buf;
}

bool jt_ns_match(jc_key ns, const char *prefix) {
  char hex[33];
  jt_hex128(hex, ns);
  return strncmp(hex, prefix, strlen(prefix)) == 0;
}

char *jt_time(char *buf, size_t n, uint64_t t) {
  if (!t) {
    snprintf(buf, n, "-");
    return buf;
  }
  time_t tt = (time_t)t;
  struct tm tm;
  if (!localtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm))
    snprintf(buf, n, "%llu", (unsigned long long)t);
  return buf;
}

char *jt_size(char *buf, size_t n, uint64_t bytes) {
  static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) {
    snprintf(buf, n, "%llu B", (unsigned long long)bytes);
    return buf;
  }
  double v = (double)bytes / 1024;
  size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof unit / sizeof unit[0]) {
    v /= 1024;
    u++;
  }
  snprintf(buf, n, "%.1f %s", v, unit[u]);
  return buf;
}

bool jt_parse_size(const char *s, uint64_t *out) {
  if (!s || !isdigit((unsigned char)*s)) return false;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno) return false;
  unsigned shift = 0;
  switch (toupper((unsigned char)*end)) {
  case 'K': shift = 10; end++; break;
  case 'M': shift = 20; end++; break;
  case 'G': shift = 30; end++; break;
  case 'T': shift = 40; end++; break;
  default: break;
  }
  if (shift && (*end == 'i' || *end == 'I')) end++;
  if (*end == 'B' || *end == 'b') end++;
  if (*end) return false;
  if (shift && v > (UINT64_MAX >> shift)) return false;
  *out = (uint64_t)v << shift;
  return true;
}

bool jt_parse_hex_prefix(const char *s, char *out, size_t n) {
  size_t len = strlen(s);
  if (len == 0 || len > 32 || len >= n) return false;
  for (size_t i = 0; i < len; i++) {
    if (!isxdigit((unsigned char)s[i])) return false;
    out[i] = (char)tolower((unsigned char)s[i]);
  }
  out[len] = '\0';
  return true;
}
