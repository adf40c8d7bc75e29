/*
** lib/ahead.h — bridges written ahead of their checks (lib/ahead.c).
*/
#ifndef JC_LIB_AHEAD_H
#define JC_LIB_AHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "replay.h"

/* After committing path p as ts[0..p->depth) (a chain, each the previous
** one's bridge): write ahead the saved bridges of their exits whose code
** does not depend on bound values, and theirs down the family, into each
** parent's `ahead` list; for a lazy bridge, also those of its parent's
** other exits that have none yet, as far as the prefetch holds them.
** Families of p's records and of the bridges written ahead that the
** prefetch thread has not fetched yet are fetched on this thread.  `root`
** is the family's loop.  Best effort: what cannot be written ahead is
** reloaded the ordinary way.  Returns the time it took (ns); each bridge
** written gets its share in ahead_ns. */
uint64_t jc_ahead_write(jc_replay *r, const jc_path *p, jc_trace *const *ts,
                        const jc_trace *root);
/* Take the bridge written ahead for exit `guard` of `parent` from record
** `id` out of the list, or NULL. */
jc_trace *jc_ahead_take(jc_trace *parent, uint32_t guard, uint64_t id);
/* Free every bridge written ahead for `parent` (jc_trace_destroy does). */
void jc_ahead_free(jc_trace *parent);

#endif
