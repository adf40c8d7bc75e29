/*
** jcache/cache.h — the cache handle, keys, namespaces and lookup.
**
** A cache is a directory holding one LMDB store shared by every process of the
** same user.  A handle is opened on that directory and on a namespace, the
** client's ABI fingerprint: records written under one namespace are never
** returned under another, so one build never loads another build's code.
**
** Thread safety: a jc_cache handle may be used from any number of threads at
** once (lookup, recording, commits).  Opening and closing are not concurrent
** with any other use of the same handle.  Many processes may open the same
** directory at once.
*/
#ifndef JCACHE_CACHE_H
#define JCACHE_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <jcache/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's record format version; part of every namespace. */
#define JC_FORMAT_VERSION 5

typedef struct jc_cache jc_cache;

/* A 128-bit key the client computes from its code object and green key. */
typedef struct jc_key {
  uint64_t lo, hi;
} jc_key;

/* XXH3-128 of a byte string: a convenience for computing keys. */
jc_key jc_key_hash(const void *data, size_t len);
/* Combine a key with more bytes (e.g. code-object hash + loop pc). */
jc_key jc_key_combine(jc_key key, const void *data, size_t len);
/* The key under which the bridges of exit `exit` of trace `parent` live.
** All bridge keys of one parent share their `lo` (so its bridges are one
** range of the store); `hi` depends on the exit. */
jc_key jc_key_bridge(uint64_t parent_trace, uint32_t exit);

/* The client's ABI fingerprint.  Every field is a NUL-terminated string;
** NULL counts as "".  The library adds JC_FORMAT_VERSION itself. */
typedef struct jc_ns {
  const char *vm_name;
  const char *vm_version;
  const char *build_id;
  const char *cpu_features;
} jc_ns;

enum {
  JC_CACHE_READONLY = 1u << 0,  /* never write (tools) */
  JC_CACHE_SYNC_WRITE = 1u << 1 /* write records in jc_rec_finish itself,
                                   not on the writer thread (tools, tests) */
};

typedef struct jc_cache_opts {
  /* Directory of the store.  NULL: $JCACHE_DIR, else $XDG_CACHE_HOME/jcache,
  ** else ~/.cache/jcache.  Created 0700 if missing. */
  const char *dir;
  /* Upper bound of the store file in bytes; 0: 1 GiB.  The file is sparse. */
  size_t max_size;
  unsigned flags; /* JC_CACHE_* */
  /* Optional: the client's own work on a record's aux, done ahead of need
  ** on the prefetch thread (jc_cache_prefetch).  For each record that
  ** thread fetches and validates, prepare is called there with the
  ** record's aux and the size of its code; it may read them and write up
  ** to cap bytes at out (16-byte aligned), and returns how many bytes it
  ** needs: 0 for nothing kept, more than cap to be called again with that
  ** much room (at most JC_PREPARE_MAX).  What it wrote is kept with the
  ** record, read-only, until the cache closes, and jc_trace_prepared
  ** gives it to the trace committed from that record: a client can check
  ** there what does not depend on the new process (counts, offsets, the
  ** shape of its own tables) and leave its commit the rest.  Records read
  ** on the program's thread (a lookup or a commit that finds a key not
  ** fetched yet) are not prepared: the work would be that thread's.  The
  ** hook runs concurrently with the client's threads: it must touch
  ** nothing but its arguments and what prepare_user gives it to share. */
  size_t (*prepare)(void *prepare_user, const void *aux, size_t aux_len,
                    size_t code_len, void *out, size_t cap);
  void *prepare_user;
} jc_cache_opts;

#define JC_PREPARE_MAX ((size_t)1 << 20)

/* Open the cache.  On failure *out is NULL and the return value says why
** (JC_UNSAFE: directory or file owned by another user or writable by group or
** others; JC_IO: the store could not be opened).  The host program should
** then run without a cache; jc_last_error() has a message for the user. */
jc_err jc_cache_open(const jc_ns *ns, const jc_cache_opts *opts,
                     jc_cache **out);

/* Write every queued record, then close.  NULL is accepted. */
void jc_cache_close(jc_cache *cache);

/* Block until every record queued so far is in the store (and on disk). */
jc_err jc_cache_flush(jc_cache *cache);

/* The directory in use. */
const char *jc_cache_dir(const jc_cache *cache);

/* The 128-bit namespace hash of this handle (for tools). */
jc_key jc_cache_ns(const jc_cache *cache);

/* -- Lookup ------------------------------------------------------------- */

/* Candidates for one key.  They point into the store's memory map (no copy),
** or into the prefetch's private copies (see jc_cache_prefetch), and stay
** valid until jc_cands_release().  Every candidate was fully
** validated (checksum, bounds of every offset); corrupted records are skipped
** and counted, never returned.  A jc_cands belongs to one thread at a time. */
typedef struct jc_cands jc_cands;

/* Look up the records stored under `key` (a loop key, or jc_key_bridge()).
** Zero candidates is not an error.  *out must be released. */
jc_err jc_lookup(jc_cache *cache, jc_key key, jc_cands **out);

size_t jc_cands_count(const jc_cands *cands);
/* The trace id of candidate i (0 if out of range). */
uint64_t jc_cands_id(const jc_cands *cands, size_t i);
/* The client's aux bytes of candidate i (jc_rec_aux), valid until the
** candidates are released; NULL with *len 0 if out of range or none.  Like
** the rest of the record they passed the checksum and bounds checks, and
** they are still the client's to validate: it wrote them. */
const void *jc_cands_aux(const jc_cands *cands, size_t i, size_t *len);
void jc_cands_release(jc_cands *cands);

/* -- Give-ups ------------------------------------------------------------ */

/* A key the client's JIT gave up on: every recording there aborted as often
** as it allows (say, a loop that calls what it cannot compile).  A later
** run that finds nothing to reload there can ask, and skip the recordings
** that would only abort again.  Saved under the handle's namespace, like
** records; written by the writer thread (jc_cache_flush waits for them).
** `why` is the client's reason, kept for tools (at most
** JC_GIVEUP_WHY_MAX - 1 bytes are kept).  Saving a key again replaces its
** entry.  A give-up is advice, never a promise: a client should still try
** again, late and once, since the program may have changed in a way the
** key does not show (a function the trace called).  JC_DISABLED on a
** read-only cache. */
#define JC_GIVEUP_WHY_MAX 48
jc_err jc_giveup_save(jc_cache *cache, jc_key key, const char *why);

/* Was `key` given up on?  JC_OK and, if why is not NULL, the reason in
** why[0, cap) (cut, NUL-terminated); JC_NOTFOUND if not (or the store has
** no give-ups); JC_CORRUPT for an entry that does not parse (counted as a
** rejected record, trace id 0; a client treats it as absent). */
jc_err jc_giveup_find(jc_cache *cache, jc_key key, char *why, size_t cap);

/* -- Prefetch ------------------------------------------------------------ */

/* Look up `keys` ahead of need, on a background thread, so that the lookups
** a client makes when its loops get hot are answered from memory.  The
** thread copies each record found into private memory, validates the copy
** (as jc_lookup does; rejects are counted the same way), and reads the
** bridges saved for any exit of each record (one pass over the store: the
** bridge keys of one trace are adjacent there, see jc_key_bridge), so a
** family is fetched whole, and a lookup of an exit without bridges is
** answered too.  Keys are fetched in the order given, bridges after.
**
** The first call starts the thread; n may be 0, to start it early (say, at
** startup, before the client knows its keys), so that its own setup is done
** when the keys come.  The thread lives until the cache closes.
**
** A later jc_lookup of a fetched key returns the fetched candidates without
** touching the store; a key not fetched yet is looked up as usual.  What a
** key was fetched with is a snapshot: records written under it afterwards
** (by this or another process) are not returned for it until the cache is
** reopened.  Fewer candidates only means more compiling, never wrong code.
** Keys may be given in several calls; a key already fetched is skipped.
** At most JC_PREFETCH_MAX_BYTES of records are kept; past that, keys are
** left to jc_lookup.  The memory is freed when the cache closes. */
#define JC_PREFETCH_MAX_BYTES (64u << 20)
jc_err jc_cache_prefetch(jc_cache *cache, const jc_key *keys, size_t n);

/* Prefetch what the last run of the same program used, before the client
** knows its keys.  `program` names the program (jcvm: a hash of its
** source).  The thread (started if need be) first reads the program's
** list: the lookup keys of the loops its last run reloaded or saved, in
** the order they were first used; it fetches them, and their families, as
** if they had been given to jc_cache_prefetch, ahead of keys given later.
** Call it right after opening the cache: while the client parses and
** compiles, the thread has the records ready for its first loops.
**
** From this call on, the loops this run reloads (jc_replay_commit,
** jc_replay_static) or saves (jc_rec_finish) are noted, and closing the
** cache writes them as the program's new list, unless they are the list
** read (then nothing is written) or none (the last list stays).  Not on a
** read-only cache.  At most JC_PROGRAM_MAX_KEYS loops are kept.
**
** The list is only a hint: a key in it that has no records, or records
** that do not replay, costs a lookup and nothing else.  A list that does
** not parse is counted as a rejected record (jc_stats) and ignored.
** Naming another program later starts a new list for it. */
#define JC_PROGRAM_MAX_KEYS 4096u
jc_err jc_cache_prefetch_program(jc_cache *cache, jc_key program);

/* Wait until every key given to jc_cache_prefetch so far has been fetched
** (tests, benchmarks). */
void jc_cache_prefetch_wait(jc_cache *cache);

typedef struct jc_prefetch_info {
  uint64_t keys;    /* keys answered: those given, and every exit's bridge
                       key of every record kept */
  uint64_t records; /* valid records kept */
  uint64_t bytes;   /* their size */
  uint64_t cpu_ns;  /* the thread's CPU time so far */
  uint64_t served;  /* jc_lookup calls answered from the prefetch */
  uint64_t families_fetched; /* families a commit fetched itself, the
                                thread not having got to them yet */
  uint64_t program_keys; /* keys read from the program's list
                            (jc_cache_prefetch_program) */
  bool busy;        /* keys remain to be fetched */
} jc_prefetch_info;

/* What the prefetch has done so far (zeros if it never ran). */
void jc_cache_prefetch_info(jc_cache *cache, jc_prefetch_info *out);

#ifdef __cplusplus
}
#endif
#endif
