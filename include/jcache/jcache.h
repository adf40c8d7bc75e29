/*
** jcache/jcache.h — libjcache, a persistent code cache for tracing JITs.
**
** Include this one header to get the whole API:
**   error.h   status codes, jc_strerror, jc_last_error
**   cache.h   open a cache on a directory and namespace; keys; lookup
**   rec.h     record a trace: tape, slots, relocations, exits, patch points
**   replay.h  check candidates against the program, commit, check tails
**   trace.h   live traces: code address, bound slots, tails, attach
**   arena.h   the process's code arena (W^X)
**   stats.h   per-process counters
**
** See docs/ARCHITECTURE.md for how the pieces fit and docs/FORMAT.md for the
** record format.
*/
#ifndef JCACHE_JCACHE_H
#define JCACHE_JCACHE_H

#include <jcache/error.h>
#include <jcache/cache.h>
#include <jcache/rec.h>
#include <jcache/replay.h>
#include <jcache/trace.h>
#include <jcache/arena.h>
#include <jcache/mem.h>
#include <jcache/stats.h>

#define JC_VERSION_MAJOR 0
#define JC_VERSION_MINOR 1
#define JC_VERSION_PATCH 0

#endif
