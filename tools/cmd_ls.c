/*
** tools/cmd_ls.c — `jcache ls`: one line per record, then a summary.
*/
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char help[] =
    "Usage: jcache ls [OPTIONS] [DIR]\n"
    "\n"
    "List every record of the cache at DIR (all namespaces), one per line:\n"
    "\n"
    "  NS         namespace: the client's ABI fingerprint hash (short hex)\n"
    "  KEY        lookup key (short: high 64 bits; -l: all 128)\n"
    "  TRACE ID   the record's content hash; `jcache show` takes a prefix\n"
    "  KIND       loop, or bridge PARENT/EXIT (parent id prefix, guard no.)\n"
    "  CODE       machine code bytes\n"
    "  RECORD     record bytes in the store\n"
    "  CREATED    when it was recorded\n"
    "  HITS       how often it was reloaded (usage table; - if none)\n"
    "  LAST USED  last reload (or the creation time)\n"
    "  NAME       the trace's symbol name\n"
    "\n"
    "A record that fails its checks is listed with KIND 'BAD' and the reason\n"
    "in NAME; `jcache verify` says more.  A summary line follows the list.\n"
    "\n"
    "Options:\n"
    "  -n, --ns PREFIX   only namespaces whose hex starts with PREFIX\n"
    "  -s, --sort KEY    size (largest first), hits (most first), age (least\n"
    "                    recently used first: gc's eviction order), name;\n"
    "                    default: store order (namespace, key, id)\n"
    "  -r, --reverse     reverse the order\n"
    "  -l, --long        full 128-bit namespace and key\n"
    "  -h, --help        this help\n"
    "\n"
    "Examples:\n"
    "  jcache ls\n"
    "  jcache ls -s size ~/.cache/jcache\n"
    "  jcache ls -n f97a -s age /tmp/cache\n";

/* What one line shows; `name` points into the map (txn kept open). */
typedef struct row {
  jc_key ns, key;
  uint64_t id;
  bool ok, bridge, has_usage;
  const char *reason, *name;
  uint64_t parent;
  uint32_t exit, code;
  uint64_t len, created, hits, last_used;
} row;

enum { SORT_STORE, SORT_SIZE, SORT_HITS, SORT_AGE, SORT_NAME };
static int sort_by;
static bool sort_rev;

static int u64cmp(uint64_t a, uint64_t b) { return (a > b) - (a < b); }

static int row_cmp(const void *pa, const void *pb) {
  const row *a = pa, *b = pb;
  int c = 0;
  switch (sort_by) {
  case SORT_SIZE: c = u64cmp(b->len, a->len); break;
  case SORT_HITS: c = u64cmp(b->hits, a->hits); break;
  case SORT_AGE: c = u64cmp(a->last_used, b->last_used); break;
  case SORT_NAME: c = strcmp(a->name, b->name); break;
  default: break;
  }
  if (!c) c = u64cmp(a->ns.hi, b->ns.hi);
  if (!c) c = u64cmp(a->ns.lo, b->ns.lo);
  if (!c) c = u64cmp(a->key.hi, b->key.hi);
  if (!c) c = u64cmp(a->key.lo, b->key.lo);
  if (!c) c = u64cmp(a->id, b->id);
  return sort_rev ? -c : c;
}

int jc_cmd_ls(int argc, char **argv) {
  static const struct option opts[] = {
      {"ns", required_argument, NULL, 'n'},
      {"sort", required_argument, NULL, 's'},
      {"reverse", no_argument, NULL, 'r'},
      {"long", no_argument, NULL, 'l'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  char prefix[40] = "";
  bool lng = false;
  sort_by = SORT_STORE;
  sort_rev = false;
  int o;
  while ((o = getopt_long(argc, argv, "n:s:rlh", opts, NULL)) != -1) {
    switch (o) {
    case 'n':
      if (!jt_parse_hex_prefix(optarg, prefix, sizeof prefix))
        return jt_usage_err("ls", "namespace prefix '%s' is not hex", optarg);
      break;
    case 's':
      if (!strcmp(optarg, "size")) sort_by = SORT_SIZE;
      else if (!strcmp(optarg, "hits")) sort_by = SORT_HITS;
      else if (!strcmp(optarg, "age")) sort_by = SORT_AGE;
      else if (!strcmp(optarg, "name")) sort_by = SORT_NAME;
      else return jt_usage_err("ls", "cannot sort by '%s'", optarg);
      break;
    case 'r': sort_rev = true; break;
    case 'l': lng = true; break;
    case 'h': fputs(help, stdout); return JT_EXIT_OK;
    default: return jt_usage_err("ls", "bad option");
    }
  }
  if (argc - optind > 1) return jt_usage_err("ls", "too many arguments");
  const char *dir = optind < argc ? argv[optind] : NULL;

  jt_store s;
  if (!jt_store_open(&s, dir, JT_OPEN_READ)) return JT_EXIT_USAGE;
  int status = JT_EXIT_OK;
  row *rows = NULL;
  size_t n = 0, cap = 0, nns = 0;
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  if (s.has_traces) {
    int rc = jt_txn_begin(&s, false, &txn);
    if (!rc) rc = mdb_cursor_open(txn, s.traces, &cur);
    MDB_val k, v;
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      jt_rec r;
      jt_rec_load(&s, txn, &k, &v, &r);
      if (*prefix && (k.mv_size != 40 || !jt_ns_match(r.ns, prefix))) continue;
      if (n == cap) {
        cap = cap ? 2 * cap : 64;
        row *nr = realloc(rows, cap * sizeof *nr);
        if (!nr) {
          jt_err("out of memory");
          rc = ENOMEM;
          break;
        }
        rows = nr;
      }
      /* Store order keeps a namespace's records adjacent: count them here,
      ** before sorting. */
      if (!n || rows[n - 1].ns.lo != r.ns.lo || rows[n - 1].ns.hi != r.ns.hi)
        nns++;
      row *w = &rows[n++];
      memset(w, 0, sizeof *w);
      w->ns = r.ns;
      w->key = r.key;
      w->id = r.id;
      w->ok = r.ok;
      w->reason = r.reason;
      w->len = r.len;
      w->has_usage = r.has_usage;
      w->hits = r.usage.hits;
      w->created = jt_rec_created(&r);
      w->last_used = jt_rec_last_used(&r);
      w->name = r.ok ? jt_rec_name(&r) : "";
      if (r.ok) {
        w->bridge = r.v.hdr.kind == JC_FMT_BRIDGE;
        w->parent = r.v.parent_id;
        w->exit = r.v.parent_exit;
        w->code = r.v.code_len;
      }
    }
    if (rc != MDB_NOTFOUND && rc != ENOMEM) {
      jt_err("cannot read %s: %s", s.dir, mdb_strerror(rc));
      status = JT_EXIT_USAGE;
    } else if (rc == ENOMEM) {
      status = JT_EXIT_USAGE;
    }
  }

  if (status == JT_EXIT_OK) {
    if (sort_by != SORT_STORE || sort_rev) qsort(rows, n, sizeof *rows, row_cmp);
    int w_ns = lng ? 32 : 8, w_key = lng ? 32 : 16;
    if (n)
      printf("%-*s  %-*s  %-16s  %-18s %6s %7s  %-19s %5s  %-19s  %s\n", w_ns,
             "NS", w_key, "KEY", "TRACE ID", "KIND", "CODE", "RECORD",
             "CREATED", "HITS", "LAST USED", "NAME");
    uint64_t loops = 0, bridges = 0, bad = 0, bytes = 0, code = 0, hits = 0;
    for (size_t i = 0; i < n; i++) {
      const row *w = &rows[i];
      char ns[40], key[40], kind[40], t1[32], t2[32], hb[24];
      if (lng) {
        jt_hex128(ns, w->ns);
        jt_hex128(key, w->key);
      } else {
        jt_ns_short(ns, w->ns);
        snprintf(key, sizeof key, "%016llx", (unsigned long long)w->key.hi);
      }
      if (!w->ok) snprintf(kind, sizeof kind, "BAD");
      else if (w->bridge)
        snprintf(kind, sizeof kind, "bridge %08llx/%u",
                 (unsigned long long)(w->parent >> 32), w->exit);
      else snprintf(kind, sizeof kind, "loop");
      if (w->has_usage) snprintf(hb, sizeof hb, "%llu", (unsigned long long)w->hits);
      else snprintf(hb, sizeof hb, "-");
      jt_time(t1, sizeof t1, w->created);
      jt_time(t2, sizeof t2, w->last_used);
      printf("%-*s  %-*s  %016llx  %-18s %6u %7llu  %-19s %5s  %-19s  ", w_ns,
             ns, w_key, key, (unsigned long long)w->id, kind, w->code,
             (unsigned long long)w->len, t1, hb, t2);
      if (w->ok) printf("%s\n", w->name);
      else printf("bad: %s\n", w->reason);

      bytes += w->len;
      hits += w->hits;
      if (!w->ok) bad++;
      else if (w->bridge) bridges++;
      else loops++;
      code += w->code;
    }
    char b1[24], b2[24];
    printf("%zu record%s (%llu loop%s, %llu bridge%s, %llu bad) in %zu "
           "namespace%s: %s in records, %s of code, %llu hit%s\n",
           n, n == 1 ? "" : "s", (unsigned long long)loops,
           loops == 1 ? "" : "s", (unsigned long long)bridges,
           bridges == 1 ? "" : "s", (unsigned long long)bad, nns,
           nns == 1 ? "" : "s", jt_size(b1, sizeof b1, bytes),
           jt_size(b2, sizeof b2, code), (unsigned long long)hits,
           hits == 1 ? "" : "s");
  }
  if (cur) mdb_cursor_close(cur);
  if (txn) mdb_txn_abort(txn);
  free(rows);
  jt_store_close(&s);
  return status;
}
