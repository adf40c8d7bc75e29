/*
** jcache/stats.h — per-process counters.
**
** The library counts every event that its USDT probes report.  Counters are
** process-wide (all cache handles together), monotonic, and updated with
** relaxed atomic adds; jc_stats_get() takes a snapshot.
*/
#ifndef JCACHE_STATS_H
#define JCACHE_STATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X-macro list: field name, description.  Order is ABI: append only. */
#define JC_STATDEF(_)                                                          \
  _(lookups, "lookups")                                                        \
  _(candidates, "candidates returned by lookups")                              \
  _(replay_hits, "green decisions that matched the tape")                      \
  _(replay_misses, "replays dropped on a miss")                                \
  _(binds, "constants bound by replay")                                        \
  _(relocs_patched, "relocations patched")                                     \
  _(commits, "commits")                                                        \
  _(traces_reloaded, "traces reloaded (loops and bridges)")                    \
  _(bridges_attached, "bridges attached to exits")                             \
  _(tail_guards, "tail guards written")                                        \
  _(tails_validated, "tails validated")                                        \
  _(tails_invalidated, "tails invalidated")                                    \
  _(bytes_reloaded, "code bytes reloaded")                                     \
  _(records_written, "records written to the store")                           \
  _(records_not_persisted, "traces not persisted (recorder gave up)")          \
  _(records_rejected, "records rejected on load (sum of reasons below)")       \
  _(rejected_truncated, "rejected: shorter than its header or lengths say")    \
  _(rejected_magic, "rejected: bad magic or format version")                   \
  _(rejected_namespace, "rejected: other namespace or key")                    \
  _(rejected_checksum, "rejected: checksum mismatch")                          \
  _(rejected_bounds, "rejected: offset or length outside the record")          \
  _(rejected_entry, "rejected: invalid entry (kind, index, count)")            \
  _(write_errors, "records lost to store errors (full disk, I/O)")

typedef struct jc_stats {
#define JC_STATFIELD(name, desc) uint64_t name;
  JC_STATDEF(JC_STATFIELD)
#undef JC_STATFIELD
} jc_stats;

/* A snapshot of this process's counters. */
void jc_stats_get(jc_stats *out);

/* Field names and descriptions, in struct order, for tools. */
#define JC_STATS_COUNT (sizeof(jc_stats) / sizeof(uint64_t))
const char *jc_stats_name(size_t i);
const char *jc_stats_desc(size_t i);

#ifdef __cplusplus
}
#endif
#endif
