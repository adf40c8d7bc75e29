/*
** tools/common.h — what the `jcache` subcommands share: opening the store,
** reading records and their usage entries, option and output helpers.
**
** The tool opens a cache through jc_cache_open(), so it resolves the
** directory and refuses unsafe ones exactly as the library does, and then
** works on the LMDB environment underneath (struct jc_cache, lib/cache.h)
** with plain LMDB calls: it walks every namespace, which the library's
** lookup API never does.  Records are untrusted here as everywhere: nothing
** looks inside one before jc_fmt_parse() has accepted it.
**
** Conventions of the output: a 128-bit value (namespace, key) prints as one
** hex number, high half first; a trace id as 16 hex digits; short forms are
** the leading digits.  Sizes are bytes unless a unit is printed.
*/
#ifndef JC_TOOLS_COMMON_H
#define JC_TOOLS_COMMON_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cache.h"
#include "format.h"

/* Exit statuses of every subcommand. */
enum { JT_EXIT_OK = 0, JT_EXIT_BAD = 1, JT_EXIT_USAGE = 2 };

/* -- Subcommands ------------------------------------------------------------ */

/* One entry of the dispatch table in tools/jcache.c. */
typedef struct jt_cmd {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[0] is "jcache NAME" */
  const char *summary;               /* one line for `jcache --help` */
} jt_cmd;

int jc_cmd_ls(int argc, char **argv);
int jc_cmd_show(int argc, char **argv);
int jc_cmd_stat(int argc, char **argv);
int jc_cmd_verify(int argc, char **argv);
int jc_cmd_gc(int argc, char **argv);
int jc_cmd_export(int argc, char **argv);
int jc_cmd_import(int argc, char **argv);
int jc_cmd_trace(int argc, char **argv); /* bpf/trace.c, when built */

/* -- Messages ----------------------------------------------------------------- */

/* "jcache: " + message + "\n" on stderr. */
void jt_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error: the message, then "try 'jcache CMD --help'"; returns 2. */
int jt_usage_err(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* -- The store ------------------------------------------------------------------ */

enum {
  JT_OPEN_READ = 0,    /* read-only; the store must exist */
  JT_OPEN_WRITE = 1,   /* read-write; the store must exist */
  JT_OPEN_CREATE = 2   /* read-write; directory and store created if missing */
};

typedef struct jt_store {
  jc_cache *cache;   /* owns the environment */
  MDB_env *env;
  const char *dir;   /* the directory in use (owned by cache) */
  MDB_dbi traces, usage, giveups, programs;
  bool has_traces;   /* false: an empty store (read-only, no table yet) */
  bool has_usage;    /* false: an older store without the usage table */
  bool has_giveups;  /* false: a store without the give-ups table (lib/giveup.c) */
  bool has_programs; /* false: a store without the program lists (lib/program.c) */
  bool writable;
} jt_store;

/* Open the cache at `dir` (NULL: the library's default directory).  Prints
** the reason and returns false on failure. */
bool jt_store_open(jt_store *s, const char *dir, int mode);
void jt_store_close(jt_store *s);

/* Begin a transaction (adopting a map another process grew). */
int jt_txn_begin(jt_store *s, bool write, MDB_txn **txn);

/* -- Records ------------------------------------------------------------------------ */

/* The usage entry of a record (table "usage", same 40-byte key), 24 bytes
** little-endian.  Absent in older caches and before the first reload. */
typedef struct jt_usage {
  uint64_t last_used; /* unix seconds */
  uint64_t hits;      /* commits of the record */
  uint64_t created;   /* unix seconds */
} jt_usage;
#define JT_USAGE_SIZE 24

/* One record as a walk meets it.  Pointers point into the map: valid until
** the transaction ends. */
typedef struct jt_rec {
  const uint8_t *lkey; size_t lkey_len; /* the LMDB key */
  const uint8_t *val; size_t len;       /* the LMDB value: the record */
  jc_key ns, key; uint64_t id;          /* from the LMDB key (0 if malformed) */
  bool ok;                  /* passed jc_fmt_parse and the key/id check */
  const char *reason;       /* why not: a jc_reject name, or "key" */
  char detail[200];
  jc_view v;                /* the parsed record when ok */
  bool has_usage;
  jt_usage usage;           /* zero when absent */
} jt_rec;

/* Parse and check one record of the trace table; look up its usage entry
** when `txn` is given and the store has the table. */
void jt_rec_load(const jt_store *s, MDB_txn *txn, const MDB_val *k,
                 const MDB_val *v, jt_rec *r);
/* When the record was last used: usage.last_used, else its creation time
** (jt_rec_created: the header's, else the usage entry's), else 0. */
uint64_t jt_rec_last_used(const jt_rec *r);
uint64_t jt_rec_created(const jt_rec *r);

/* Delete a record and its usage entry in a write transaction.  Returns 0 or
** an LMDB error (a missing entry is not an error). */
int jt_rec_delete(const jt_store *s, MDB_txn *txn, const void *lkey,
                  size_t lkey_len);

/* Decode a usage value; false if it is not 24 bytes. */
bool jt_usage_decode(const MDB_val *v, jt_usage *u);

/* -- Formatting ------------------------------------------------------------------------ */

/* 32 hex digits, high half first (buf >= 33). */
char *jt_hex128(char *buf, jc_key k);
/* The namespace of a record as ls prints it: the leading 8 digits. */
char *jt_ns_short(char *buf, jc_key ns);
/* "2025-06-01 12:34:56" local time, or "-" for 0 (buf >= 24). */
char *jt_time(char *buf, size_t n, uint64_t t);
/* "812 B", "1.5 KiB", "3.2 MiB" (buf >= 16). */
char *jt_size(char *buf, size_t n, uint64_t bytes);
/* Parse "123", "64K", "10M", "1G", "2T" (powers of 1024, optional "B" or
** "iB").  False on a malformed or overflowing value. */
bool jt_parse_size(const char *s, uint64_t *out);
/* Parse a hex prefix (1-32 digits) of a namespace or an id: lower-cased copy
** into `out`; false if not hex. */
bool jt_parse_hex_prefix(const char *s, char *out, size_t n);
/* True if the 32-digit namespace hex starts with `prefix` (lower case). */
bool jt_ns_match(jc_key ns, const char *prefix);

/* The name of a trace for listings: the NAME section, or "-". */
const char *jt_rec_name(const jt_rec *r);

#endif
