/*
** tools/cmd_export.c — `jcache export`: the cache's good records into one
** bundle file (format in tools/bundle.h).
*/
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "bundle.h"
#include "common.h"
#include "jcache/cache.h"

static const char help[] =
    "Usage: jcache export [OPTIONS] [DIR] FILE\n"
    "\n"
    "Write every good record of the cache at DIR into FILE, a bundle that\n"
    "`jcache import` adds to another cache: ship a warmed cache with an\n"
    "application.  Records that fail verification are left out and named\n"
    "(exit status 1).  Usage statistics are not exported.  FILE is written\n"
    "under a temporary name and renamed when complete.\n"
    "\n"
    "The bundle format (magic, version, count, then each LMDB key and record\n"
    "with an XXH3-64 checksum, and a checksum of the whole file) is described\n"
    "in jcache(1) and tools/bundle.h.\n"
    "\n"
    "Options:\n"
    "  -n, --ns PREFIX   only namespaces whose hex starts with PREFIX\n"
    "  -h, --help        this help\n"
    "\n"
    "Examples:\n"
    "  jcache export warm.jcb\n"
    "  jcache export -n f97a3ac9 ~/.cache/jcache /opt/app/share/warm.jcb\n";

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* fwrite that also feeds the whole-file checksum. */
static bool out(FILE *f, XXH3_state_t *st, const void *p, size_t n) {
  XXH3_64bits_update(st, p, n);
  return fwrite(p, 1, n, f) == n;
}

int jc_cmd_export(int argc, char **argv) {
  static const struct option opts[] = {
      {"ns", required_argument, NULL, 'n'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  char prefix[40] = "";
  int o;
  while ((o = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
    switch (o) {
    case 'n':
      if (!jt_parse_hex_prefix(optarg, prefix, sizeof prefix))
        return jt_usage_err("export", "namespace prefix '%s' is not hex", optarg);
      break;
    case 'h': fputs(help, stdout); return JT_EXIT_OK;
    default: return jt_usage_err("export", "bad option");
    }
  }
  int npos = argc - optind;
  if (npos < 1) return jt_usage_err("export", "no output FILE");
  if (npos > 2) return jt_usage_err("export", "too many arguments");
  const char *dir = npos == 2 ? argv[optind] : NULL;
  const char *file = argv[argc - 1];

  jt_store s;
  if (!jt_store_open(&s, dir, JT_OPEN_READ)) return JT_EXIT_USAGE;
  int status = JT_EXIT_OK;
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  MDB_val *kv = NULL; /* key, value pairs to write; point into the map */
  size_t n = 0, cap = 0, bad = 0;
  uint64_t bytes = 0;
  FILE *f = NULL;
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", file, (int)getpid());

  int rc = 0;
  if (s.has_traces) {
    rc = jt_txn_begin(&s, false, &txn);
    if (!rc) rc = mdb_cursor_open(txn, s.traces, &cur);
    MDB_val k, v;
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      jt_rec r;
      jt_rec_load(&s, NULL, &k, &v, &r);
      if (*prefix && (k.mv_size != 40 || !jt_ns_match(r.ns, prefix))) continue;
      if (!r.ok) {
        char ns[12];
        printf("skipped bad record %s %016llx: %s: %s\n", jt_ns_short(ns, r.ns),
               (unsigned long long)r.id, r.reason, r.detail);
        bad++;
        continue;
      }
      if (n + 2 > cap) {
        cap = cap ? 2 * cap : 256;
        MDB_val *nk = realloc(kv, cap * sizeof *nk);
        if (!nk) {
          rc = ENOMEM;
          break;
        }
        kv = nk;
      }
      kv[n++] = k;
      kv[n++] = v;
      bytes += v.mv_size;
    }
    if (rc != MDB_NOTFOUND) {
      jt_err("cannot read %s: %s", s.dir,
             rc == ENOMEM ? "out of memory" : mdb_strerror(rc));
      status = JT_EXIT_USAGE;
      goto done;
    }
  }

  f = fopen(tmp, "wb");
  if (!f) {
    jt_err("cannot create %s: %s", tmp, strerror(errno));
    status = JT_EXIT_USAGE;
    goto done;
  }
  XXH3_state_t st;
  XXH3_64bits_reset(&st);
  uint8_t hdr[JT_BUNDLE_HDR] = {0};
  memcpy(hdr, JT_BUNDLE_MAGIC, 8);
  put32(hdr + 8, JT_BUNDLE_VERSION);
  put32(hdr + 12, JC_FORMAT_VERSION);
  put64(hdr + 16, n / 2);
  put64(hdr + 24, (uint64_t)time(NULL));
  bool ok = out(f, &st, hdr, sizeof hdr);
  for (size_t i = 0; ok && i < n; i += 2) {
    XXH3_state_t es;
    XXH3_64bits_reset(&es);
    XXH3_64bits_update(&es, kv[i].mv_data, kv[i].mv_size);
    XXH3_64bits_update(&es, kv[i + 1].mv_data, kv[i + 1].mv_size);
    uint8_t eh[JT_BUNDLE_ENTRY];
    put32(eh, (uint32_t)kv[i].mv_size);
    put32(eh + 4, (uint32_t)kv[i + 1].mv_size);
    put64(eh + 8, XXH3_64bits_digest(&es));
    ok = out(f, &st, eh, sizeof eh) &&
         out(f, &st, kv[i].mv_data, kv[i].mv_size) &&
         out(f, &st, kv[i + 1].mv_data, kv[i + 1].mv_size);
  }
  uint8_t tr[JT_BUNDLE_TRAILER] = {0};
  memcpy(tr, JT_BUNDLE_END, 6);
  put64(tr + 8, XXH3_64bits_digest(&st));
  if (ok) ok = fwrite(tr, 1, sizeof tr, f) == sizeof tr;
  if (ok) ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
  if (fclose(f) != 0) ok = false;
  f = NULL;
  if (!ok || rename(tmp, file) != 0) {
    jt_err("cannot write %s: %s", file, strerror(errno));
    unlink(tmp);
    status = JT_EXIT_USAGE;
    goto done;
  }
  {
    char b[24];
    printf("exported %zu record%s (%s) from %s to %s", n / 2,
           n / 2 == 1 ? "" : "s", jt_size(b, sizeof b, bytes), s.dir, file);
    if (bad) printf("; skipped %zu bad record%s", bad, bad == 1 ? "" : "s");
    printf("\n");
  }
  if (bad) status = JT_EXIT_BAD;

done:
  if (cur) mdb_cursor_close(cur);
  if (txn) mdb_txn_abort(txn);
  free(kv);
  jt_store_close(&s);
  return status;
}
