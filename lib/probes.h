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
/* Arguments in registers or constants only ("nr", not the default "nor"):
** libbpf before late 2025 (Debian 12 has 1.1) cannot decode a memory
** operand with an index register (8@(%rdx,%rcx,8)) and refuses to attach to
** such a probe.  Arguments are computed only while a consumer is attached,
** so this costs nothing otherwise. */
#define STAP_SDT_ARG_CONSTRAINT nr
#include <sys/sdt.h>

#include "internal.h"

/* Every probe name, for the semaphore declarations (lib/probes.c). */
#define JC_PROBEDEF(_)                                                         \
  _(lookup) _(reject) _(replay_hit) _(replay_miss) _(bind) _(reloc)            \
  _(commit_begin) _(commit) _(trace_live) _(trace_release) _(commit_fail) _(bridge_attach) _(tail_guard)      \
  _(tail_validated) _(tail_invalidated) _(record_write) _(record_abort)        \
  _(write_error)

#define JC_PROBE_SEMA_DECL(n) extern unsigned short jcache_##n##_semaphore;
JC_PROBEDEF(JC_PROBE_SEMA_DECL)
#undef JC_PROBE_SEMA_DECL

#ifndef JC_NO_PROBES
#define JC_PROBE_ENABLED(n)                                                    \
  JC_UNLIKELY(__atomic_load_n(&jcache_##n##_semaphore, __ATOMIC_RELAXED))

/* JC_PROBE(name, args...): fire probe `name` if a consumer is attached. */
#define JC_PROBE(n, ...)                                                       \
  do {                                                                         \
    if (JC_PROBE_ENABLED(n)) STAP_PROBEV(jcache, n, __VA_ARGS__);              \
  } while (0)
#else
/* -DJC_NO_PROBES: no probe at all (bench/probe_bench.sh measures what the
** semaphore tests cost against this).  The arguments stay type-checked. */
#define JC_PROBE_ENABLED(n) 0
#define JC_PROBE(n, ...)                                                       \
  do {                                                                         \
    if (0) STAP_PROBEV(jcache, n, __VA_ARGS__);                                \
  } while (0)
#endif

#endif
