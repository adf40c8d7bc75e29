/*
** tools/cmd_gc.c — `jcache gc`: evict the least recently used records until
** the records fit a size, and remove bad ones.
**
** Everything happens in one write transaction, so a process reading the
** store meanwhile sees it before or after, never half-collected; its own
** candidates stay valid (LMDB keeps the pages it reads until it is done).
*/
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char help[] =
    "Usage: jcache gc [OPTIONS] [DIR] --max-size SIZE\n"
    "\n"
    "Shrink the cache at DIR until its records take at most SIZE bytes: the\n"
    "least recently used records are evicted first (last reload from the\n"
    "usage table; a record never reloaded counts from its creation).  Bad\n"
    "records (see `jcache verify`) and usage entries without a record are\n"
    "always removed, with or without --max-size.  Each removal is printed,\n"
    "then a summary.\n"
    "\n"
    "SIZE counts record bytes (what `jcache ls` shows under RECORD), not the\n"
    "store file: LMDB keeps freed pages in the file for reuse, so the file\n"
    "does not shrink (`jcache stat` shows the free pages).  To get a small\n"
    "file, export, remove the directory, and import.\n"
    "\n"
    "Options:\n"
    "  -m, --max-size SIZE  the limit: bytes, or with a K, M, G or T suffix\n"
    "                       (powers of 1024), e.g. 512K, 64M, 1G\n"
    "      --giveups        also drop every give-up: the loops and exits a JIT\n"
    "                       gave up tracing, which its next runs record only\n"
    "                       once, late (see `jcache stat`)\n"
    "      --programs       also drop every program's list of the loops its\n"
    "                       last run used (its next run then fetches its\n"
    "                       records as it compiles, not before)\n"
    "      --dry-run        print what would be removed; change nothing\n"
    "  -q, --quiet          only the summary\n"
    "  -h, --help           this help\n"
    "\n"
    "Examples:\n"
    "  jcache gc --max-size 64M\n"
    "  jcache gc --dry-run --max-size 1M /tmp/cache\n"
    "  jcache gc /tmp/cache              (only removes bad records)\n";

typedef struct entry {
  size_t koff, klen;    /* the store key, copied into the key buffer */
  uint64_t id, size, last_used, created;
  jc_key ns;
  bool ok, bridge, evict;
  const char *name, *reason; /* into the map / static; valid in the txn */
} entry;

static int lru_cmp(const void *pa, const void *pb) {
  const entry *a = *(const entry *const *)pa, *b = *(const entry *const *)pb;
  if (a->last_used != b->last_used) return a->last_used < b->last_used ? -1 : 1;
  if (a->created != b->created) return a->created < b->created ? -1 : 1;
  /* Same age: a family's bridges before its loop, then larger first. */
  if (a->bridge != b->bridge) return a->bridge ? -1 : 1;
  if (a->size != b->size) return a->size > b->size ? -1 : 1;
  return a->koff < b->koff ? -1 : a->koff > b->koff;
}

/* A growing buffer of store keys (copied: the map may change under a write
** transaction's deletes). */
typedef struct keybuf {
  uint8_t *p;
  size_t len, cap;
} keybuf;

static bool key_push(keybuf *kb, const MDB_val *k, size_t *off) {
  if (kb->len + k->mv_size > kb->cap) {
    size_t cap = kb->cap ? kb->cap : 4096;
    while (cap < kb->len + k->mv_size) cap *= 2;
    uint8_t *np = realloc(kb->p, cap);
    if (!np) return false;
    kb->p = np;
    kb->cap = cap;
  }
  memcpy(kb->p + kb->len, k->mv_data, k->mv_size);
  *off = kb->len;
  kb->len += k->mv_size;
  return true;
}

int jc_cmd_gc(int argc, char **argv) {
  static const struct option opts[] = {
      {"max-size", required_argument, NULL, 'm'},
      {"dry-run", no_argument, NULL, 'D'},
      {"giveups", no_argument, NULL, 'G'},
      {"programs", no_argument, NULL, 'P'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  uint64_t max = 0;
  bool has_max = false, dry = false, quiet = false, giveups = false, programs = false;
  int o;
  while ((o = getopt_long(argc, argv, "m:qh", opts, NULL)) != -1) {
    switch (o) {
    case 'm':
      if (!jt_parse_size(optarg, &max))
        return jt_usage_err("gc", "'%s' is not a size (e.g. 4096, 512K, 64M, "
                                  "1G)", optarg);
      has_max = true;
      break;
    case 'D': dry = true; break;
    case 'G': giveups = true; break;
    case 'P': programs = true; break;
    case 'q': quiet = true; break;
    case 'h': fputs(help, stdout); return JT_EXIT_OK;
    default: return jt_usage_err("gc", "bad option");
    }
  }
  if (argc - optind > 1) return jt_usage_err("gc", "too many arguments");
  const char *dir = optind < argc ? argv[optind] : NULL;

  jt_store s;
  if (!jt_store_open(&s, dir, dry ? JT_OPEN_READ : JT_OPEN_WRITE))
    return JT_EXIT_USAGE;
  if (!s.has_traces) {
    printf("gc: %s holds no records\n", s.dir);
    jt_store_close(&s);
    return JT_EXIT_OK;
  }

  entry *e = NULL;
  entry **order = NULL;
  size_t n = 0, cap = 0, nstray = 0;
  keybuf kb = {NULL, 0, 0}, stray = {NULL, 0, 0};
  size_t *stray_len = NULL;
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  MDB_val k, v;
  int rc = jt_txn_begin(&s, !dry, &txn);
  if (!rc) rc = mdb_cursor_open(txn, s.traces, &cur);
  for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    jt_rec r;
    jt_rec_load(&s, txn, &k, &v, &r);
    if (n == cap) {
      cap = cap ? 2 * cap : 256;
      entry *ne = realloc(e, cap * sizeof *ne);
      if (!ne) {
        rc = ENOMEM;
        break;
      }
      e = ne;
    }
    entry *x = &e[n];
    memset(x, 0, sizeof *x);
    if (!key_push(&kb, &k, &x->koff)) {
      rc = ENOMEM;
      break;
    }
    n++;
    x->klen = k.mv_size;
    x->id = r.id;
    x->ns = r.ns;
    x->size = r.len;
    x->ok = r.ok;
    x->reason = r.reason;
    x->name = r.ok ? jt_rec_name(&r) : "";
    x->bridge = r.ok && r.v.hdr.kind == JC_FMT_BRIDGE;
    x->created = jt_rec_created(&r);
    x->last_used = jt_rec_last_used(&r);
  }
  if (cur) mdb_cursor_close(cur);
  cur = NULL;
  if (rc != MDB_NOTFOUND) goto ioerr;
  rc = 0;

  /* Usage entries whose record is gone. */
  if (s.has_usage) {
    rc = mdb_cursor_open(txn, s.usage, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      MDB_val rv;
      if (mdb_get(txn, s.traces, &k, &rv) == 0) continue;
      size_t off, *nl = realloc(stray_len, (nstray + 1) * sizeof *nl);
      if (!nl || !key_push(&stray, &k, &off)) {
        if (nl) stray_len = nl;
        rc = ENOMEM;
        break;
      }
      stray_len = nl;
      stray_len[nstray++] = k.mv_size;
    }
    if (cur) mdb_cursor_close(cur);
    cur = NULL;
    if (rc != MDB_NOTFOUND) goto ioerr;
    rc = 0;
  }

  /* Decide: every bad record; then good ones, least recently used first,
  ** while the good records exceed the limit. */
  uint64_t total = 0, good = 0, nbad = 0, bad_bytes = 0;
  for (size_t i = 0; i < n; i++) {
    total += e[i].size;
    if (e[i].ok) good += e[i].size;
  }
  const char *verb = dry ? "would remove" : "removed";
  if (!quiet) {
    char b1[24], b2[24];
    printf("gc %s: %zu record%s, %s", s.dir, n, n == 1 ? "" : "s",
           jt_size(b1, sizeof b1, total));
    if (has_max) printf(" (limit %s)", jt_size(b2, sizeof b2, max));
    printf("%s\n", dry ? "; dry run, nothing changes" : "");
  }
  for (size_t i = 0; i < n; i++) {
    if (e[i].ok) continue;
    e[i].evict = true;
    nbad++;
    bad_bytes += e[i].size;
    if (!quiet) {
      char ns[12];
      printf("  %s bad     %s %016llx %7llu B  %s\n", verb,
             jt_ns_short(ns, e[i].ns), (unsigned long long)e[i].id,
             (unsigned long long)e[i].size, e[i].reason);
    }
  }
  uint64_t nevict = 0, evict_bytes = 0;
  /* The side tables emptied on request: give-ups, program lists. */
  struct {
    bool want, has;
    MDB_dbi dbi;
    const char *what;
    uint64_t n;
  } side[] = {{giveups, s.has_giveups, s.giveups, "give-up", 0},
              {programs, s.has_programs, s.programs, "program list", 0}};
  enum { NSIDE = sizeof side / sizeof side[0] };
  for (size_t i = 0; i < NSIDE; i++) {
    MDB_stat st;
    if (side[i].want && side[i].has && mdb_stat(txn, side[i].dbi, &st) == 0)
      side[i].n = st.ms_entries;
  }
  if (has_max && good > max) {
    order = malloc((n ? n : 1) * sizeof *order);
    if (!order) {
      rc = ENOMEM;
      goto ioerr;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
      if (e[i].ok) order[m++] = &e[i];
    qsort(order, m, sizeof *order, lru_cmp);
    for (size_t i = 0; i < m && good > max; i++) {
      entry *x = order[i];
      x->evict = true;
      good -= x->size;
      nevict++;
      evict_bytes += x->size;
      if (!quiet) {
        char ns[12], t[32];
        printf("  %s LRU     %s %016llx %7llu B  last used %s  %s\n",
               dry ? "would evict" : "evicted", jt_ns_short(ns, x->ns),
               (unsigned long long)x->id, (unsigned long long)x->size,
               jt_time(t, sizeof t, x->last_used), x->name);
      }
    }
  }

  if (!dry) {
    for (size_t i = 0; i < n && !rc; i++)
      if (e[i].evict) rc = jt_rec_delete(&s, txn, kb.p + e[i].koff, e[i].klen);
    size_t off = 0;
    for (size_t i = 0; i < nstray && !rc; i++) {
      MDB_val uk = {stray_len[i], stray.p + off};
      off += stray_len[i];
      rc = mdb_del(txn, s.usage, &uk, NULL);
      if (rc == MDB_NOTFOUND) rc = 0;
    }
    for (size_t i = 0; i < NSIDE && !rc; i++)
      if (side[i].want && side[i].has) rc = mdb_drop(txn, side[i].dbi, 0);
    if (!rc) rc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
    txn = NULL;
    if (rc) goto ioerr;
  }
  for (size_t i = 0; i < NSIDE; i++)
    if (side[i].want)
      printf("gc: %s %llu %s%s\n", verb, (unsigned long long)side[i].n, side[i].what,
             side[i].n == 1 ? "" : "s");

  {
    char b1[24], b2[24], b3[24];
    uint64_t left = n - nbad - nevict;
    printf("gc: %s %llu bad record%s (%s), %s %llu record%s (%s)%s; "
           "%llu record%s, %s %s\n",
           verb, (unsigned long long)nbad, nbad == 1 ? "" : "s",
           jt_size(b1, sizeof b1, bad_bytes), dry ? "would evict" : "evicted",
           (unsigned long long)nevict, nevict == 1 ? "" : "s",
           jt_size(b2, sizeof b2, evict_bytes),
           nstray ? (dry ? ", would remove stray usage entries"
                         : ", removed stray usage entries")
                  : "",
           (unsigned long long)left, left == 1 ? "" : "s",
           jt_size(b3, sizeof b3, good), dry ? "would remain" : "remain");
  }
  if (txn) mdb_txn_abort(txn);
  free(e);
  free(order);
  free(kb.p);
  free(stray.p);
  free(stray_len);
  jt_store_close(&s);
  return JT_EXIT_OK;

ioerr:
  jt_err("gc on %s failed, nothing changed: %s", s.dir,
         rc == ENOMEM ? "out of memory" : mdb_strerror(rc));
  if (cur) mdb_cursor_close(cur);
  if (txn) mdb_txn_abort(txn);
  free(e);
  free(order);
  free(kb.p);
  free(stray.p);
  free(stray_len);
  jt_store_close(&s);
  return JT_EXIT_USAGE;
}
