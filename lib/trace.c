/*
** lib/trace.c — live traces: the registry by id, getters, live attach.
*/
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ahead.h"
#include "arena.h"
#include "internal.h"
#include "jcache/mem.h"
#include "jcache/rec.h"
#include "probes.h"
#include "trace.h"
#include "gdbjit.h"

/* -- Registry ------------------------------------------------------------------ */

/* A hash table by id that grows with the number of live traces.  It starts
** at 2 KiB rather than as a 32 KiB static array: every first touch of a
** page costs a page fault (two, read then write, for zero-filled .bss),
** which in a virtual machine is a few microseconds, more than a whole
** registration (libjcache's own pages are populated ahead, jc_mem.h, so
** one is paid off the program's thread).  Not smaller: a warm run
** registers its traces in a burst, and each growth (a rehash) fell on a
** commit, about 1 us (rdtsc) with 16 buckets to start with. */
static jc_trace *first_buckets[256];
static jc_trace **buckets = first_buckets;
static size_t nbuckets = 256, nlive; /* nbuckets: a power of two */
static pthread_rwlock_t reg_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t commit_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t bucket_of(uint64_t id, size_t n) {
  return (size_t)((id ^ (id >> 29)) & (n - 1));
}

/* Double the table when it holds twice as many traces as buckets; on no
** memory the chains just get longer. */
static void grow(void) {
  size_t n = nbuckets * 2;
  jc_trace **nb = calloc(n, sizeof *nb);
  if (!nb) return;
  for (size_t i = 0; i < nbuckets; i++) {
    /* Oldest first, each pushed in front: traces of one id (one old
    ** chain) stay newest first. */
    jc_trace *rev = NULL, *t = buckets[i];
    while (t) {
      jc_trace *next = t->hnext;
      t->hnext = rev;
      rev = t;
      t = next;
    }
    while (rev) {
      jc_trace *next = rev->hnext;
      size_t b = bucket_of(rev->id, n);
      rev->hnext = nb[b];
      nb[b] = rev;
      rev = next;
    }
  }
  if (buckets != first_buckets) free(buckets);
  buckets = nb;
  nbuckets = n;
}

void jc_trace_register(jc_trace *t) {
  pthread_rwlock_wrlock(&reg_lock);
  if (++nlive > 2 * nbuckets) grow();
  size_t b = bucket_of(t->id, nbuckets);
  t->hnext = buckets[b];
  buckets[b] = t; /* newest first: jc_trace_find returns the latest */
  pthread_rwlock_unlock(&reg_lock);
}

static void unregister(jc_trace *t) {
  pthread_rwlock_wrlock(&reg_lock);
  for (jc_trace **pp = &buckets[bucket_of(t->id, nbuckets)]; *pp; pp = &(*pp)->hnext) {
    if (*pp == t) {
      *pp = t->hnext;
      nlive--;
      break;
    }
  }
  pthread_rwlock_unlock(&reg_lock);
}

JC_API jc_trace *jc_trace_find(uint64_t id) {
  pthread_rwlock_rdlock(&reg_lock);
  jc_trace *t = buckets[bucket_of(id, nbuckets)];
  while (t && t->id != id) t = t->hnext;
  pthread_rwlock_unlock(&reg_lock);
  return t;
}

void jc_trace_lock(void) { pthread_mutex_lock(&commit_lock); }
void jc_trace_unlock(void) { pthread_mutex_unlock(&commit_lock); }

/* -- Life cycle ------------------------------------------------------------------ */

jc_trace *jc_trace_new(void) {
  jc_trace *t = jc_mem_calloc(sizeof *t);
  if (t) t->name = (char *)""; /* replaced by jc_trace_alloc */
  return t;
}

/* Carve n bytes at 8-byte alignment off *at. */
static void *carve(uint8_t **at, size_t n) {
  void *p = *at;
  *at += (n + 7) & ~(size_t)7;
  return p;
}

jc_err jc_trace_alloc(jc_trace *t, const jc_trace_parts *p) {
  size_t name_len = p->name ? strlen(p->name) + 1 : 1;
  size_t ns = (size_t)p->nslots + 1;
  size_t sz[] = {
      ns * sizeof *t->slots,       ns * sizeof *t->slot_val,
      (size_t)p->nexits * sizeof *t->exits,
      (size_t)p->ntape * sizeof *t->tape,
      (size_t)p->nrelocs * sizeof *t->relocs,
      (size_t)p->nlines * sizeof *t->lines,
      p->aux_len,                  ns * sizeof *t->slot_set,
      (size_t)p->strings_len + 1,  name_len,
      (size_t)p->nexits * sizeof *t->exit_slot,
      (size_t)p->nexits * sizeof *t->exit_mem,
  };
  size_t total = 0;
  for (size_t i = 0; i < sizeof sz / sizeof *sz; i++) total += (sz[i] + 7) & ~(size_t)7;
  uint8_t *at = jc_mem_alloc(total); /* populated ahead: no page fault here */
  if (!at) return jc_fail(JC_NOMEM, "jcache: out of memory for a trace");
  t->mem = at;
  t->slots = carve(&at, sz[0]);
  t->slot_val = carve(&at, sz[1]);
  t->exits = carve(&at, sz[2]);
  t->tape = carve(&at, sz[3]);
  t->relocs = carve(&at, sz[4]);
  t->lines = carve(&at, sz[5]);
  t->aux = p->aux_len ? carve(&at, sz[6]) : NULL;
  t->slot_set = carve(&at, sz[7]);
  t->strings = carve(&at, sz[8]);
  t->name = carve(&at, sz[9]);
  t->exit_slot = carve(&at, sz[10]);
  t->exit_mem = carve(&at, sz[11]);
  t->nslots = p->nslots;
  t->nexits = p->nexits;
  t->ntape = p->ntape;
  t->nrelocs = p->nrelocs;
  t->nlines = p->nlines;
  t->strings_len = p->strings_len;
  t->aux_len = p->aux_len;

  if (p->name) memcpy(t->name, p->name, name_len);
  else t->name[0] = '\0';
  memset(t->slots, 0, sz[0]);
  memset(t->slot_val, 0, sz[1]);
  memset(t->slot_set, 0, sz[7]);
  memset(t->exit_slot, 0, sz[10]);
  memset(t->exit_mem, 0, sz[11]);
  if (p->nslots) memcpy(t->slots, p->slots, (size_t)p->nslots * sizeof *t->slots);
  if (p->nexits) memcpy(t->exits, p->exits, sz[2]);
  if (p->ntape) memcpy(t->tape, p->tape, sz[3]);
  if (p->nrelocs) memcpy(t->relocs, p->relocs, sz[4]);
  if (p->aux_len) memcpy(t->aux, p->aux, p->aux_len);
  if (p->strings_len) memcpy(t->strings, p->strings, p->strings_len);
  t->strings[p->strings_len] = '\0';
  for (uint32_t i = 0; i < p->nlines; i++) {
    struct jc_fmt_line ln;
    memcpy(&ln, (const uint8_t *)p->lines + (size_t)i * sizeof ln, sizeof ln);
    t->lines[i] = (jc_trace_line){ln.off, ln.line, t->strings + ln.file};
  }
  return JC_OK;
}

void jc_trace_destroy(jc_trace *t) {
  if (!t) return;
  jc_ahead_free(t);
  jc_mem_free(t->mem);
  jc_arena_data_free(t->cells);
  free(t->tails);
  free(t->deferred);
  free(t->patches);
  jc_mem_free(t);
}

JC_API void jc_trace_release(jc_trace *t) {
  if (!t) return;
  jc_gdbjit_unregister(t); /* before the code can be reused */
  JC_PROBE(trace_release, t->id, (uint64_t)(uintptr_t)t->code);
  unregister(t);
  if (t->owns_code) jc_arena_free(t->code);
  jc_trace_destroy(t);
}

/* -- Getters ------------------------------------------------------------------------ */

JC_API uint64_t jc_trace_id(const jc_trace *t) { return t ? t->id : 0; }

JC_API uint64_t jc_trace_ahead_ns(const jc_trace *t) { return t ? t->ahead_ns : 0; }

JC_API uint64_t jc_trace_wrote_ahead_ns(const jc_trace *t) {
  return t ? t->wrote_ahead_ns : 0;
}

JC_API uint64_t jc_trace_parent(const jc_trace *t, uint32_t *exit) {
  if (exit) *exit = t ? t->parent_exit : 0;
  return t ? t->parent_id : 0;
}

JC_API bool jc_trace_reloaded(const jc_trace *t) { return t && t->reloaded; }

JC_API void *jc_trace_code(const jc_trace *t, size_t *size) {
  if (size) *size = t ? t->size : 0;
  return t ? t->code : NULL;
}

JC_API void *jc_trace_entry(const jc_trace *t) {
  return (t && t->code) ? t->code + t->entry_off : NULL;
}

JC_API const char *jc_trace_name(const jc_trace *t) {
  return t ? t->name : "";
}

JC_API jc_err jc_trace_slot(const jc_trace *t, uint32_t slot,
                            uint64_t *value) {
  /* Clients ask on every reload: constant messages, no formatting. */
  if (!t || !value || slot >= t->nslots)
    return jc_fail_const(JC_NOTFOUND, "jcache: no such slot in this trace");
  if (!t->slot_set[slot])
    return jc_fail_const(JC_STATE, "jcache: the slot is not bound yet (its "
                                   "tail is unchecked)");
  *value = t->slot_val[slot];
  return JC_OK;
}

JC_API const void *jc_trace_aux(const jc_trace *t, size_t *len) {
  if (len) *len = t ? t->aux_len : 0;
  return t ? t->aux : NULL;
}

JC_API const void *jc_trace_prepared(const jc_trace *t, size_t *len) {
  if (len) *len = t && t->prep ? t->prep_len : 0;
  return t ? t->prep : NULL;
}

/* The index of guard's exit, or -1. */
static ptrdiff_t find_exit(const jc_trace *t, uint32_t guard) {
  for (uint32_t i = 0; i < t->nexits; i++)
    if (t->exits[i].guard == guard) return i;
  return -1;
}

JC_API void *jc_trace_exit_target(const jc_trace *t, uint32_t guard) {
  ptrdiff_t i = t && t->code ? find_exit(t, guard) : -1;
  if (i < 0) return NULL;
  const struct jc_fmt_exit *e = &t->exits[i];
  if (e->kind == JC_EXIT_SLOT)
    return t->exit_slot[i] ? (void *)(uintptr_t)__atomic_load_n(
                                 t->exit_slot[i], __ATOMIC_ACQUIRE)
                           : NULL;
  uint8_t *field = t->code + e->field_off;
  int32_t rel;
  memcpy(&rel, field, 4);
  return field + 4 + rel;
}

JC_API bool jc_trace_line_at(const jc_trace *t, size_t i, uint32_t *off,
                              const char **file, uint32_t *line) {
  if (!t || i >= t->nlines) return false;
  if (off) *off = t->lines[i].off;
  if (file) *file = t->lines[i].file;
  if (line) *line = t->lines[i].line;
  return true;
}

JC_API jc_tail_state jc_trace_tail(const jc_trace *t, uint32_t after_guard) {
  if (!t) return JC_TAIL_NONE;
  if (after_guard == JC_GUARD_ANY) {
    for (uint32_t i = 0; i < t->ntails; i++)
      if (t->tails[i].state == JC_TAIL_PENDING) return JC_TAIL_PENDING;
    return t->ntails ? t->tails[0].state : JC_TAIL_NONE;
  }
  for (uint32_t i = 0; i < t->ntails; i++)
    if (t->tails[i].pp.after_guard == after_guard) return t->tails[i].state;
  return JC_TAIL_NONE;
}

/* -- Attach -------------------------------------------------------------------------- */

JC_API jc_err jc_trace_attach(jc_trace *t, uint32_t guard, void *target) {
  if (!t || !t->code)
    return jc_fail(JC_INVAL, "jcache: jc_trace_attach: no live code");
  ptrdiff_t i = find_exit(t, guard);
  if (i < 0)
    return jc_fail(JC_NOTFOUND, "jcache: trace %016llx has no exit %u",
                   (unsigned long long)t->id, guard);
  const struct jc_fmt_exit *e = &t->exits[i];
  if (!target && e->stub_off != JC_NO_STUB)
    target = t->code + e->stub_off; /* detach: back to the exit's stub */
  if (!target)
    return jc_fail(JC_INVAL, "jcache: exit %u has no stub to go back to", guard);
  if (e->kind == JC_EXIT_SLOT) {
    /* Data memory: one release store, no code written.  The bridge's code
    ** was written before, so a thread that loads the new target sees it. */
    if (!t->exit_slot[i])
      return jc_fail(JC_STATE, "jcache: exit %u has no slot", guard);
    __atomic_store_n(t->exit_slot[i], (uint64_t)(uintptr_t)target,
                     __ATOMIC_RELEASE);
    jc_stat_add(bridges_attached, 1);
    JC_PROBE(bridge_attach, t->id, guard, (uint64_t)0,
             (uint64_t)(uintptr_t)target);
    return JC_OK;
  }
  uint8_t *field = t->code + e->field_off;
  int64_t rel = (int64_t)((uintptr_t)target - (uintptr_t)(field + 4));
  if (rel != (int32_t)rel)
    return jc_fail(JC_RANGE, "jcache: bridge at %p is out of rel32 range of "
                             "exit %u", target, guard);
  int32_t rel32 = (int32_t)rel;
  jc_err err = jc_arena_patch(field, &rel32, 4);
  if (err) return err;
  jc_stat_add(bridges_attached, 1);
  JC_PROBE(bridge_attach, t->id, guard, (uint64_t)0, (uint64_t)(uintptr_t)target);
  return JC_OK;
}
