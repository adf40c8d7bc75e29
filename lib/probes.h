/*
** lib/probes.h — the library's USDT probes (provider "jcache").
**
** Each probe is gated by its semaphore: the kernel (uprobe ref_ctr_offset),
** bpftrace or libbpf raises it while a consumer is attached, so an unattached
** probe costs one predictable load and branch and its arguments are not even
** computed.  docs/PROBES.md lists every probe with its arguments; keep it in
** step with the call sites.
*/
#ifndef JC_LIB_PROBES_H
#define JC_LIB_PROBES_H

#define _SDT_HAS_SEMAPHORES 1
#define SDT_USE_VARIADIC 1
#include <sys/sdt.h>

#include "internal.h"

/* Every probe name, for the semaphore declarations (lib/probes.c). */
#define JC_PROBEDEF(_)                                                         \
  _(lookup) _(reject) _(replay_hit) _(replay_miss) _(bind) _(reloc)            \
  _(commit) _(commit_fail) _(bridge_attach) _(tail_guard) _(tail_validated)    \
  _(tail_invalidated) _(record_write) _(record_abort) _(write_error)

#define JC_PROBE_SEMA_DECL(n) extern unsigned short jcache_##n##_semaphore;
JC_PROBEDEF(JC_PROBE_SEMA_DECL)
#undef JC_PROBE_SEMA_DECL

#define JC_PROBE_ENABLED(n)                                                    \
  JC_UNLIKELY(__atomic_load_n(&jcache_##n##_semaphore, __ATOMIC_RELAXED))

/* JC_PROBE(name, args...): fire probe `name` if a consumer is attached. */
#define JC_PROBE(n, ...)                                                       \
  do {                                                                         \
    if (JC_PROBE_ENABLED(n)) STAP_PROBEV(jcache, n, __VA_ARGS__);              \
  } while (0)

#endif
