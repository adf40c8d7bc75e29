/*
** tools/cmd_stat.c — `jcache stat`: the store's totals, and a live
** process's counters from its shared-memory segment (lib/shm.h).
*/
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "jcache/stats.h"
#include "shm.h"

static const char help[] =
    "Usage: jcache stat [OPTIONS] [DIR]\n"
    "\n"
    "Totals of the cache at DIR: records (loops, bridges, bad ones), record\n"
    "and code bytes, records per namespace, the store file's size against\n"
    "its map size, pages in use and free for reuse (LMDB's free list), and\n"
    "the read transactions active in other processes.\n"
    "\n"
    "With -p PID, also the counters of the live process PID, read from its\n"
    "shared-memory segment /dev/shm/jcache.PID (no privileges needed for\n"
    "your own processes): lookups, replay hits and misses, relocations\n"
    "patched, traces reloaded, tail guards, rejected records, ...  Without\n"
    "DIR, the store shown is then the one that process opened last.\n"
    "\n"
    "Options:\n"
    "  -p, --pid PID   also the live counters of process PID\n"
    "  -a, --all       with -p, list counters that are zero too\n"
    "  -h, --help      this help\n"
    "\n"
    "Examples:\n"
    "  jcache stat\n"
    "  jcache stat /tmp/cache\n"
    "  jcache stat -p $(pidof jcvm)\n";

typedef struct ns_total {
  jc_key ns;
  uint64_t records, loops, bridges, bad, bytes;
} ns_total;

static int count_reader(const char *msg, void *ctx) {
  /* One call per line: a header ("pid thread txnid"), then one line per
  ** reader, or "(no active readers)". */
  const char *p = msg;
  while (*p == ' ') p++;
  if (*p >= '0' && *p <= '9') ++*(unsigned *)ctx;
  return 0;
}

/* Pages on LMDB's free list: each free-list value is a page-number list
** whose first word is its length. */
static int free_pages(jt_store *s, MDB_txn *txn, uint64_t *out) {
  MDB_cursor *cur;
  *out = 0;
  int rc = mdb_cursor_open(txn, 0, &cur);
  if (rc) return rc;
  MDB_val k, v;
  while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
    size_t n;
    if (v.mv_size < sizeof n) continue;
    memcpy(&n, v.mv_data, sizeof n);
    *out += n;
  }
  mdb_cursor_close(cur);
  (void)s;
  return rc == MDB_NOTFOUND ? 0 : rc;
}

static int store_stat(jt_store *s) {
  char b1[24], b2[24], b3[24];
  struct stat st;
  char path[4200];
  MDB_envinfo info;
  MDB_stat est;
  mdb_env_info(s->env, &info);
  mdb_env_stat(s->env, &est);
  unsigned readers = 0;
  mdb_reader_list(s->env, count_reader, &readers);

  printf("cache        %s\n", s->dir);
  snprintf(path, sizeof path, "%s/data.mdb", s->dir);
  if (stat(path, &st) == 0) {
    printf("store        data.mdb %s (%llu bytes, %s allocated on disk) of a "
           "%s map (%.1f%%)\n",
           jt_size(b1, sizeof b1, (uint64_t)st.st_size),
           (unsigned long long)st.st_size,
           jt_size(b2, sizeof b2, (uint64_t)st.st_blocks * 512),
           jt_size(b3, sizeof b3, info.me_mapsize),
           info.me_mapsize ? 100.0 * (double)st.st_size / (double)info.me_mapsize
                           : 0.0);
  }
  uint64_t map_pages = est.ms_psize ? info.me_mapsize / est.ms_psize : 0;

  MDB_txn *txn;
  int rc = jt_txn_begin(s, false, &txn);
  if (rc) {
    jt_err("cannot read %s: %s", s->dir, mdb_strerror(rc));
    return JT_EXIT_USAGE;
  }
  uint64_t nfree = 0;
  rc = free_pages(s, txn, &nfree);
  uint64_t used = (uint64_t)info.me_last_pgno + 1;
  printf("pages        %llu of %llu in the file, %llu free for reuse "
         "(page size %u); last transaction %llu\n",
         (unsigned long long)used, (unsigned long long)map_pages,
         (unsigned long long)nfree, est.ms_psize,
         (unsigned long long)info.me_last_txnid);
  printf("readers      %u active (%u slots)\n", readers, info.me_maxreaders);

  uint64_t total = 0, loops = 0, bridges = 0, bad = 0, bytes = 0, code = 0;
  uint64_t nusage = 0, hits = 0, last = 0;
  ns_total *ns = NULL;
  size_t nns = 0;
  int status = JT_EXIT_OK;
  if (s->has_traces) {
    MDB_cursor *cur;
    MDB_val k, v;
    rc = mdb_cursor_open(txn, s->traces, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      jt_rec r;
      jt_rec_load(s, NULL, &k, &v, &r);
      if (!nns || ns[nns - 1].ns.lo != r.ns.lo || ns[nns - 1].ns.hi != r.ns.hi) {
        ns_total *nn = realloc(ns, (nns + 1) * sizeof *ns);
        if (!nn) {
          rc = ENOMEM;
          break;
        }
        ns = nn;
        memset(&ns[nns], 0, sizeof *ns);
        ns[nns++].ns = r.ns;
      }
      ns_total *t = &ns[nns - 1];
      t->records++;
      t->bytes += r.len;
      total++;
      bytes += r.len;
      if (!r.ok) {
        t->bad++;
        bad++;
      } else if (r.v.hdr.kind == JC_FMT_BRIDGE) {
        t->bridges++;
        bridges++;
      } else {
        t->loops++;
        loops++;
      }
      if (r.ok) code += r.v.code_len;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
      jt_err("cannot read %s: %s", s->dir, rc == ENOMEM ? "out of memory"
                                                        : mdb_strerror(rc));
      status = JT_EXIT_USAGE;
    }
  }
  if (s->has_usage) {
    MDB_cursor *cur;
    MDB_val k, v;
    rc = mdb_cursor_open(txn, s->usage, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      jt_usage u;
      nusage++;
      if (!jt_usage_decode(&v, &u)) continue;
      hits += u.hits;
      if (u.last_used > last) last = u.last_used;
    }
    mdb_cursor_close(cur);
  }
  MDB_stat gst, pst;
  uint64_t ngiveups =
      s->has_giveups && mdb_stat(txn, s->giveups, &gst) == 0 ? gst.ms_entries : 0;
  uint64_t nprograms =
      s->has_programs && mdb_stat(txn, s->programs, &pst) == 0 ? pst.ms_entries : 0;
  mdb_txn_abort(txn);

  printf("records      %llu: %llu loop%s, %llu bridge%s, %llu bad; %s in "
         "records, %s of code\n",
         (unsigned long long)total, (unsigned long long)loops,
         loops == 1 ? "" : "s", (unsigned long long)bridges,
         bridges == 1 ? "" : "s", (unsigned long long)bad,
         jt_size(b1, sizeof b1, bytes), jt_size(b2, sizeof b2, code));
  if (s->has_usage) {
    char t[32];
    printf("usage        %llu entr%s, %llu hit%s, last use %s\n",
           (unsigned long long)nusage, nusage == 1 ? "y" : "ies",
           (unsigned long long)hits, hits == 1 ? "" : "s",
           jt_time(t, sizeof t, last));
  } else {
    printf("usage        no usage table (an older store, or never written)\n");
  }
  printf("give-ups     %llu (loops and exits a JIT gave up tracing; "
         "`jcache gc --giveups` drops them)\n", (unsigned long long)ngiveups);
  printf("programs     %llu (lists of the loops a program's last run used, "
         "fetched first by its next run; `jcache gc --programs` drops them)\n",
         (unsigned long long)nprograms);
  printf("namespaces   %zu\n", nns);
  for (size_t i = 0; i < nns; i++) {
    char hex[40];
    printf("  %s  %llu record%s (%llu loop%s, %llu bridge%s, %llu bad)  %s\n",
           jt_hex128(hex, ns[i].ns), (unsigned long long)ns[i].records,
           ns[i].records == 1 ? "" : "s", (unsigned long long)ns[i].loops,
           ns[i].loops == 1 ? "" : "s", (unsigned long long)ns[i].bridges,
           ns[i].bridges == 1 ? "" : "s", (unsigned long long)ns[i].bad,
           jt_size(b1, sizeof b1, ns[i].bytes));
  }
  free(ns);
  return status;
}

static void print_process(const jc_shm *m, bool all) {
  char t[32];
  printf("process      %d (%s), counting since %s\n", (int)m->pid,
         m->comm[0] ? m->comm : "?", jt_time(t, sizeof t, m->start_ns / 1000000000u));
  printf("  cache      %s\n", m->cache_dir[0] ? m->cache_dir : "(none opened)");
  const uint64_t *v = (const uint64_t *)&m->stats;
  /* A writer built with fewer counters leaves the rest zero. */
  size_t n = m->nstats < JC_STATS_COUNT ? m->nstats : JC_STATS_COUNT;
  for (size_t i = 0; i < n; i++) {
    if (!v[i] && !all) continue;
    printf("  %-22s %12llu  %s\n", jc_stats_name(i), (unsigned long long)v[i],
           jc_stats_desc(i));
  }
}

int jc_cmd_stat(int argc, char **argv) {
  static const struct option opts[] = {
      {"pid", required_argument, NULL, 'p'},
      {"all", no_argument, NULL, 'a'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  long pid = 0;
  bool all = false;
  int o;
  while ((o = getopt_long(argc, argv, "p:ah", opts, NULL)) != -1) {
    switch (o) {
    case 'p': {
      char *end;
      errno = 0;
      pid = strtol(optarg, &end, 10);
      if (errno || *end || pid <= 0 || pid > 0x7fffffff)
        return jt_usage_err("stat", "'%s' is not a process id", optarg);
      break;
    }
    case 'a': all = true; break;
    case 'h': fputs(help, stdout); return JT_EXIT_OK;
    default: return jt_usage_err("stat", "bad option");
    }
  }
  if (argc - optind > 1) return jt_usage_err("stat", "too many arguments");
  const char *dir = optind < argc ? argv[optind] : NULL;

  jc_shm m;
  bool have_proc = false;
  if (pid) {
    have_proc = jc_shm_read((pid_t)pid, &m);
    if (!have_proc) {
      jt_err("no counters for process %ld: /dev/shm/jcache.%ld is missing, "
             "not yours, or not a jcache segment (is the process using "
             "libjcache, with JCACHE_SHM unset?)", pid, pid);
      return JT_EXIT_USAGE;
    }
    m.cache_dir[sizeof m.cache_dir - 1] = '\0';
    m.comm[sizeof m.comm - 1] = '\0';
    if (!dir && m.cache_dir[0]) dir = m.cache_dir;
  }

  int status = JT_EXIT_OK;
  if (!pid || dir) {
    jt_store s;
    if (jt_store_open(&s, dir, JT_OPEN_READ)) {
      status = store_stat(&s);
      jt_store_close(&s);
    } else {
      status = JT_EXIT_USAGE;
    }
  }
  if (have_proc) {
    if (!pid || dir) printf("\n");
    print_process(&m, all);
  }
  return status;
}
