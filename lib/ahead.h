/*
** lib/ahead.h — bridges written ahead of their checks (lib/ahead.c).
*/
#ifndef JC_LIB_AHEAD_H
#define JC_LIB_AHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "replay.h"

/* After committing ts[0..n) (a chain, each the previous one's bridge):
** write ahead the saved bridges of their exits that the prefetch holds and
** whose code does not depend on bound values, and theirs down the family,
** into each parent's `ahead` list; for a lazy bridge, also those of its
** parent's other exits that have none yet.  `root` is the family's loop.
** Best effort: what cannot be written ahead is reloaded the ordinary way. */
void jc_ahead_write(jc_replay *r, jc_trace *const *ts, size_t n,
                    const jc_trace *root);
/* Take the bridge written ahead for exit `guard` of `parent` from record
** `id` out of the list, or NULL. */
jc_trace *jc_ahead_take(jc_trace *parent, uint32_t guard, uint64_t id);
/* Free every bridge written ahead for `parent` (jc_trace_destroy does). */
void jc_ahead_free(jc_trace *parent);

#endif
