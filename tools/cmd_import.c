/*
** tools/cmd_import.c — `jcache import`: add a bundle's records to a cache,
** each checked as the library checks a record before loading it.
*/
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "bundle.h"
#include "common.h"

static const char help[] =
    "Usage: jcache import [OPTIONS] [DIR] FILE\n"
    "\n"
    "Add the records of FILE, a bundle written by `jcache export`, to the\n"
    "cache at DIR (created, private, if missing).  The file is untrusted:\n"
    "every entry's lengths and checksum are checked, and every record is\n"
    "verified (jc_fmt_parse with the namespace of its key, key and id\n"
    "match) before it is inserted.  Bad entries are skipped and named, and\n"
    "the exit status is then 1.  Records already in the cache are left as\n"
    "they are.  Imported records get a usage entry created now, with no hits.\n"
    "\n"
    "Options:\n"
    "  -q, --quiet   only the summary\n"
    "  -h, --help    this help\n"
    "\n"
    "Examples:\n"
    "  jcache import warm.jcb\n"
    "  JCACHE_DIR=/opt/app/cache jcache import /opt/app/share/warm.jcb\n"
    "  jcache import /tmp/newcache warm.jcb && jcache verify /tmp/newcache\n";

/* Records inserted per write transaction: bounded so a huge bundle does not
** exhaust LMDB's dirty-page list. */
enum { BATCH = 1000 };

int jc_cmd_import(int argc, char **argv) {
  static const struct option opts[] = {
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  bool quiet = false;
  int o;
  while ((o = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
    switch (o) {
    case 'q': quiet = true; break;
    case 'h': fputs(help, stdout); return JT_EXIT_OK;
    default: return jt_usage_err("import", "bad option");
    }
  }
  int npos = argc - optind;
  if (npos < 1) return jt_usage_err("import", "no input FILE");
  if (npos > 2) return jt_usage_err("import", "too many arguments");
  const char *dir = npos == 2 ? argv[optind] : NULL;
  const char *file = argv[argc - 1];

  /* Map the file first: a missing or foreign file touches no cache. */
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    jt_err("cannot open %s: %s", file, strerror(errno));
    return JT_EXIT_USAGE;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    jt_err("%s is not a regular file", file);
    close(fd);
    return JT_EXIT_USAGE;
  }
  size_t size = (size_t)st.st_size;
  if (size < JT_BUNDLE_HDR + JT_BUNDLE_TRAILER) {
    jt_err("%s is not a jcache bundle (%zu bytes)", file, size);
    close(fd);
    return JT_EXIT_USAGE;
  }
  const uint8_t *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    jt_err("cannot map %s: %s", file, strerror(errno));
    return JT_EXIT_USAGE;
  }
  int status = JT_EXIT_OK;
  if (memcmp(p, JT_BUNDLE_MAGIC, 8) != 0) {
    jt_err("%s is not a jcache bundle (bad magic)", file);
    munmap((void *)p, size);
    return JT_EXIT_USAGE;
  }
  if (jc_ld32(p + 8) != JT_BUNDLE_VERSION) {
    jt_err("%s is a bundle of version %u; this jcache reads version %d", file,
           jc_ld32(p + 8), JT_BUNDLE_VERSION);
    munmap((void *)p, size);
    return JT_EXIT_USAGE;
  }
  uint64_t count = jc_ld64(p + 16);
  const uint8_t *trailer = p + size - JT_BUNDLE_TRAILER;
  if (memcmp(trailer, JT_BUNDLE_END "\0\0", 8) != 0) {
    printf("%s: no trailer: the file is cut short; importing the entries "
           "that check\n", file);
    status = JT_EXIT_BAD;
  } else if (XXH3_64bits(p, size - JT_BUNDLE_TRAILER) != jc_ld64(trailer + 8)) {
    printf("%s: file checksum mismatch: the file is damaged; importing the "
           "entries that check\n", file);
    status = JT_EXIT_BAD;
  }

  jt_store s;
  if (!jt_store_open(&s, dir, JT_OPEN_CREATE)) {
    munmap((void *)p, size);
    return JT_EXIT_USAGE;
  }
  uint64_t added = 0, present = 0, bad = 0, bytes = 0, seen = 0;
  uint64_t now = (uint64_t)time(NULL);
  size_t pos = JT_BUNDLE_HDR, end = size - JT_BUNDLE_TRAILER;
  MDB_txn *txn = NULL;
  int rc = 0;
  size_t in_batch = 0;
  for (; seen < count && !rc; seen++) {
    if (end - pos < JT_BUNDLE_ENTRY) break;
    uint64_t klen = jc_ld32(p + pos), vlen = jc_ld32(p + pos + 4);
    uint64_t sum = jc_ld64(p + pos + 8);
    if (klen + vlen > end - pos - JT_BUNDLE_ENTRY) break;
    const uint8_t *kp = p + pos + JT_BUNDLE_ENTRY, *vp = kp + klen;
    pos += JT_BUNDLE_ENTRY + klen + vlen;

    XXH3_state_t es;
    XXH3_64bits_reset(&es);
    XXH3_64bits_update(&es, kp, klen);
    XXH3_64bits_update(&es, vp, vlen);
    bool sum_ok = XXH3_64bits_digest(&es) == sum;

    MDB_val k = {klen, (void *)kp}, v = {vlen, (void *)vp};
    jt_rec r;
    jt_rec_load(&s, NULL, &k, &v, &r);
    if (!sum_ok || !r.ok) {
      char ns[12];
      bad++;
      if (quiet) continue;
      printf("skipped entry %llu (%s %016llx): %s: %s\n",
             (unsigned long long)seen, jt_ns_short(ns, r.ns),
             (unsigned long long)r.id, sum_ok ? r.reason : "entry checksum",
             sum_ok ? r.detail : "the entry's bytes differ from its checksum");
      continue;
    }
    if (!txn && (rc = jt_txn_begin(&s, true, &txn))) break;
    rc = mdb_put(txn, s.traces, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) {
      /* Same key, same id: the same content (the id is its hash). */
      rc = 0;
      present++;
      continue;
    }
    if (rc) break;
    if (s.has_usage) {
      uint8_t u[JT_USAGE_SIZE];
      uint64_t fields[3] = {now, 0, now}; /* last_used, hits, created */
      memcpy(u, fields, sizeof u);
      MDB_val uv = {sizeof u, u};
      rc = mdb_put(txn, s.usage, &k, &uv, 0);
      if (rc) break;
    }
    added++;
    bytes += vlen;
    if (++in_batch == BATCH) {
      rc = mdb_txn_commit(txn);
      txn = NULL;
      in_batch = 0;
    }
  }
  if (txn) {
    if (!rc) rc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
  }
  if (rc) {
    jt_err("import into %s failed after %llu records: %s", s.dir,
           (unsigned long long)added,
           rc == ENOMEM ? "out of memory" : mdb_strerror(rc));
    status = JT_EXIT_USAGE;
  } else {
    if (seen < count || pos != end) {
      printf("%s: %llu of %llu entries readable; the rest is cut or garbled\n",
             file, (unsigned long long)seen, (unsigned long long)count);
      status = JT_EXIT_BAD;
    }
    char b[24];
    printf("imported %llu record%s (%s) into %s; %llu already present, %llu "
           "bad skipped\n",
           (unsigned long long)added, added == 1 ? "" : "s",
           jt_size(b, sizeof b, bytes), s.dir, (unsigned long long)present,
           (unsigned long long)bad);
    if (bad) status = JT_EXIT_BAD;
  }
  jt_store_close(&s);
  munmap((void *)p, size);
  return status;
}
