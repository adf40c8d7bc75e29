/*
** lib/probes.c — the semaphores of the USDT probes.
**
** A consumer attaching to probe N increments jcache_N_semaphore (the address
** is in the probe's ELF note); the library tests it before computing a
** probe's arguments.  They live in the ".probes" section by convention.
*/
#include "probes.h"

#define JC_PROBE_SEMA_DEF(n)                                                   \
  __attribute__((section(".probes"), used)) unsigned short                     \
      jcache_##n##_semaphore;
JC_PROBEDEF(JC_PROBE_SEMA_DEF)
#undef JC_PROBE_SEMA_DEF
