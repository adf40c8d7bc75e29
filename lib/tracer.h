/*
** lib/tracer.h — is a debugger attached to this process? (internal)
*/
#ifndef JC_LIB_TRACER_H
#define JC_LIB_TRACER_H

#include <stdbool.h>
#include <stdint.h>

/* True if a tracer (gdb, strace: anything using ptrace) is attached, from
** TracerPid in /proc/self/status.  Reading that file costs microseconds,
** so a reading younger than max_age_ns is reused (0: always read). */
bool jc_tracer_attached(uint64_t max_age_ns);
/* The same without reading on the caller's thread, but the first time:
** a reading older than max_age_ns is answered, and renewed on libjcache's
** background thread (lib/mem.h) for the next call. */
bool jc_tracer_attached_soon(uint64_t max_age_ns);

#endif
