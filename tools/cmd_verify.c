/*
** tools/cmd_verify.c — `jcache verify`: every record through the parser.
**
** The same checks a lookup makes (lib/store.c): jc_fmt_parse() with the
** namespace of the record's store key, then the record's lookup key and
** trace id against the rest of the store key.
*/
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char help[] =
    "Usage: jcache verify [OPTIONS] [DIR]\n"
    "\n"
    "Check every record of the cache at DIR as the library checks it before\n"
    "loading: magic, version, namespace (the one in the record's store key),\n"
    "checksum, every section, offset, index and entry (docs/FORMAT.md), and\n"
    "that the record's lookup key and trace id are those of its store key.\n"
    "Each bad record is named with the reason (truncated, magic, namespace,\n"
    "checksum, bounds, entry, key) and the parser's detail.  Usage entries\n"
    "that are malformed or belong to no record are reported as notes.\n"
    "\n"
    "Exit status: 0 every record is good, 1 some are bad, 2 usage or I/O\n"
    "error.\n"
    "\n"
    "Options:\n"
    "      --delete-bad  remove the bad records (and stray usage entries);\n"
    "                    the library never loads them anyway\n"
    "  -v, --verbose     also list the good records\n"
    "  -q, --quiet       only the exit status (and errors)\n"
    "  -h, --help        this help\n"
    "\n"
    "Examples:\n"
    "  jcache verify\n"
    "  jcache verify /tmp/cache || echo corrupt\n"
    "  jcache verify --delete-bad ~/.cache/jcache\n";

/* A store key to delete, copied out of the map. */
typedef struct victim {
  uint8_t key[64];
  size_t len;
  bool is_record;
} victim;

static bool push(victim **v, size_t *n, size_t *cap, const MDB_val *k,
                 bool is_record) {
  if (k->mv_size > sizeof (*v)->key) return true; /* cannot be ours */
  if (*n == *cap) {
    *cap = *cap ? 2 * *cap : 16;
    victim *nv = realloc(*v, *cap * sizeof *nv);
    if (!nv) return false;
    *v = nv;
  }
  memcpy((*v)[*n].key, k->mv_data, k->mv_size);
  (*v)[*n].len = k->mv_size;
  (*v)[*n].is_record = is_record;
  ++*n;
  return true;
}

int jc_cmd_verify(int argc, char **argv) {
  enum { OPT_DELETE = 256 };
  static const struct option opts[] = {
      {"delete-bad", no_argument, NULL, OPT_DELETE},
      {"verbose", no_argument, NULL, 'v'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  bool del = false, verbose = false, quiet = false;
  int o;
  while ((o = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
    switch (o) {
    case OPT_DELETE: del = true; break;
    case 'v': verbose = true; break;
    case 'q': quiet = true; break;
    case 'h': fputs(help, stdout); return JT_EXIT_OK;
    default: return jt_usage_err("verify", "bad option");
    }
  }
  if (argc - optind > 1) return jt_usage_err("verify", "too many arguments");
  const char *dir = optind < argc ? argv[optind] : NULL;

  jt_store s;
  if (!jt_store_open(&s, dir, del ? JT_OPEN_WRITE : JT_OPEN_READ))
    return JT_EXIT_USAGE;
  uint64_t total = 0, bad = 0, notes = 0;
  victim *vic = NULL;
  size_t nvic = 0, cap = 0;
  MDB_txn *txn = NULL;
  int rc = 0;
  if (!s.has_traces) goto summary;
  if ((rc = jt_txn_begin(&s, del, &txn))) goto ioerr;

  MDB_cursor *cur;
  MDB_val k, v;
  if ((rc = mdb_cursor_open(txn, s.traces, &cur))) goto ioerr;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    jt_rec r;
    jt_rec_load(&s, NULL, &k, &v, &r);
    total++;
    char ns[12];
    jt_ns_short(ns, r.ns);
    if (r.ok) {
      if (verbose && !quiet)
        printf("ok   %s %016llx %6zu B  %s\n", ns, (unsigned long long)r.id,
               r.len, jt_rec_name(&r));
      continue;
    }
    bad++;
    if (!quiet)
      printf("BAD  %s %016llx %6zu B  %s: %s\n", ns, (unsigned long long)r.id,
             r.len, r.reason, r.detail);
    if (del && !push(&vic, &nvic, &cap, &k, true)) {
      rc = ENOMEM;
      break;
    }
  }
  mdb_cursor_close(cur);
  if (rc != MDB_NOTFOUND) goto ioerr;

  /* Usage entries: statistics only, so problems there are notes. */
  if (s.has_usage) {
    if ((rc = mdb_cursor_open(txn, s.usage, &cur))) goto ioerr;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      MDB_val rv;
      const char *what = NULL;
      if (v.mv_size != JT_USAGE_SIZE) what = "is not 24 bytes";
      else if (mdb_get(txn, s.traces, &k, &rv) != 0) what = "has no record";
      if (!what) continue;
      notes++;
      if (!quiet) {
        jc_key nsk = {0, 0};
        uint64_t id = 0;
        if (k.mv_size == 40) {
          nsk = (jc_key){jc_ld64(k.mv_data), jc_ld64((uint8_t *)k.mv_data + 8)};
          id = jc_ld64((uint8_t *)k.mv_data + 32);
        }
        char ns[12];
        printf("note %s %016llx  usage entry %s\n", jt_ns_short(ns, nsk),
               (unsigned long long)id, what);
      }
      if (del && !push(&vic, &nvic, &cap, &k, false)) {
        rc = ENOMEM;
        break;
      }
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) goto ioerr;
  }

  rc = 0;
  if (del) {
    size_t nrec = 0;
    for (size_t i = 0; i < nvic && !rc; i++) {
      if (vic[i].is_record) {
        rc = jt_rec_delete(&s, txn, vic[i].key, vic[i].len);
        nrec++;
      } else {
        MDB_val uk = {vic[i].len, vic[i].key};
        rc = mdb_del(txn, s.usage, &uk, NULL);
        if (rc == MDB_NOTFOUND) rc = 0;
      }
    }
    if (!rc) rc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
    txn = NULL;
    if (rc) goto ioerr;
    if (!quiet && nvic)
      printf("deleted %zu bad record%s and %zu stray usage entr%s\n", nrec,
             nrec == 1 ? "" : "s", nvic - nrec, nvic - nrec == 1 ? "y" : "ies");
  }

summary:
  if (txn) mdb_txn_abort(txn);
  if (!quiet)
    printf("verify: %llu record%s in %s: %llu good, %llu bad%s%s\n",
           (unsigned long long)total, total == 1 ? "" : "s", s.dir,
           (unsigned long long)(total - bad), (unsigned long long)bad,
           notes ? ", notes: " : "", notes ? "stray usage entries" : "");
  free(vic);
  jt_store_close(&s);
  return bad ? JT_EXIT_BAD : JT_EXIT_OK;

ioerr:
  jt_err("cannot read %s: %s", s.dir,
         rc == ENOMEM ? "out of memory" : mdb_strerror(rc));
  if (txn) mdb_txn_abort(txn);
  free(vic);
  jt_store_close(&s);
  return JT_EXIT_USAGE;
}
