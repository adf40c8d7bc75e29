/*
** lib/rec.c — the recorder: tape, slots and machine-code facts of a trace.
**
** The recorder only collects; jc_rec_finish() serializes with the record
** format and then parses the result back before queueing it.  That second
** look costs little next to compiling the trace, and it means the cache never
** holds a record that the loader would reject: what the format cannot
** describe is refused here, counted as not persisted, and the JIT runs on.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "jcache/rec.h"
#include "internal.h"
#include "probes.h"
#include "trace.h"
#include "gdbjit.h"

struct jc_rec {
  jc_cache *cache;
  uint16_t kind;
  jc_key key;
  uint64_t parent_id;
  uint32_t parent_exit;
  jc_err err; /* sticky: the first failure */

  struct jc_fmt_tape *tape;   uint32_t ntape, cap_tape;
  struct jc_fmt_slot *slots;  uint32_t nslots, cap_slots;
  struct jc_fmt_reloc *relocs; uint32_t nrelocs, cap_relocs;
  struct jc_fmt_exit *exits;  uint32_t nexits, cap_exits;
  struct jc_fmt_patch *patches; uint32_t npatches, cap_patches;
  struct jc_fmt_line *lines;  uint32_t nlines, cap_lines;
  char *strings;              uint32_t strings_len, cap_strings;
  uint32_t last_file;         /* string offset of the last line's file */
  char *name;
  void *aux;                  uint32_t aux_len;
};

/* -- Helpers ------------------------------------------------------------------ */

/* Make room for one more element of size `sz` in *arr. */
static jc_err grow(void **arr, uint32_t n, uint32_t *cap, size_t sz) {
  if (n < *cap) return JC_OK;
  if (n >= JC_FMT_MAX_ENTRIES)
    return jc_fail(JC_LIMIT, "jcache: more than %u entries in one section",
                   JC_FMT_MAX_ENTRIES);
  uint32_t ncap = *cap ? *cap * 2 : 16;
  void *p = realloc(*arr, (size_t)ncap * sz);
  if (!p) return jc_fail(JC_NOMEM, "jcache: out of memory recording a trace");
  *arr = p;
  *cap = ncap;
  return JC_OK;
}

#define PUSH(rec, arr, n, cap)                                                 \
  ((rec)->err ? (rec)->err                                                     \
              : ((rec)->err = grow((void **)&(rec)->arr, (rec)->n,             \
                                   &(rec)->cap, sizeof *(rec)->arr)))

/* Intern a string in the strings section; returns its offset via *off. */
static jc_err intern(jc_rec *r, const char *s, uint32_t *off) {
  size_t n = strlen(s) + 1;
  for (uint32_t i = 0; i < r->strings_len; i += (uint32_t)strlen(r->strings + i) + 1)
    if (strcmp(r->strings + i, s) == 0) {
      *off = i;
      return JC_OK;
    }
  if (n > JC_FMT_MAX_CODE || r->strings_len + n > JC_FMT_MAX_CODE)
    return jc_fail(JC_LIMIT, "jcache: strings of one trace too long");
  if (r->strings_len + n > r->cap_strings) {
    uint32_t cap = r->cap_strings ? r->cap_strings : 256;
    while (cap < r->strings_len + n) cap *= 2;
    char *p = realloc(r->strings, cap);
    if (!p) return jc_fail(JC_NOMEM, "jcache: out of memory recording a trace");
    r->strings = p;
    r->cap_strings = cap;
  }
  memcpy(r->strings + r->strings_len, s, n);
  *off = r->strings_len;
  r->strings_len += (uint32_t)n;
  return JC_OK;
}

static jc_err bad(jc_rec *r, jc_err err) {
  if (r && !r->err) r->err = err;
  return err;
}

/* -- Begin ------------------------------------------------------------------------- */

static jc_err begin(jc_cache *c, jc_rec **out) {
  if (!out) return jc_fail(JC_INVAL, "jcache: recorder out pointer is NULL");
  *out = NULL;
  jc_shm_publish(NULL);
  jc_rec *r = calloc(1, sizeof *r);
  if (!r) return jc_fail(JC_NOMEM, "jcache: out of memory starting a recorder");
  r->cache = c;
  r->last_file = UINT32_MAX;
  *out = r;
  return JC_OK;
}

JC_API jc_err jc_rec_begin_loop(jc_cache *c, jc_key key, jc_rec **out) {
  jc_err err = begin(c, out);
  if (err) return err;
  (*out)->kind = JC_FMT_LOOP;
  (*out)->key = key;
  return JC_OK;
}

JC_API jc_err jc_rec_begin_bridge(jc_cache *c, uint64_t parent, uint32_t exit,
                                  jc_rec **out) {
  if (parent == 0) {
    if (out) *out = NULL;
    jc_stat_add(records_not_persisted, 1);
    JC_PROBE(record_abort, (uint64_t)0, (uint64_t)0,
             "bridge of a parent that was not persisted");
    return jc_fail(JC_INVAL, "jcache: bridge of a parent that was not "
                             "persisted (id 0)");
  }
  jc_err err = begin(c, out);
  if (err) return err;
  (*out)->kind = JC_FMT_BRIDGE;
  (*out)->key = jc_key_bridge(parent, exit);
  (*out)->parent_id = parent;
  (*out)->parent_exit = exit;
  return JC_OK;
}

/* -- Tape ---------------------------------------------------------------------------- */

static jc_err tape(jc_rec *r, uint8_t op, uint16_t kind, uint32_t arg,
                   uint64_t fp) {
  if (!r) return JC_INVAL;
  jc_err err = PUSH(r, tape, ntape, cap_tape);
  if (err) return err;
  r->tape[r->ntape++] = (struct jc_fmt_tape){op, 0, kind, arg, fp};
  return JC_OK;
}

JC_API jc_err jc_rec_green(jc_rec *r, uint32_t site, uint16_t kind,
                           uint64_t fp) {
  return tape(r, JC_TAPE_GREEN, kind, site, fp);
}

JC_API jc_err jc_rec_bind(jc_rec *r, uint32_t slot) {
  if (r && slot >= r->nslots)
    return bad(r, jc_fail(JC_INVAL, "jcache: BIND of undeclared slot %u", slot));
  return tape(r, JC_TAPE_BIND, 0, slot, 0);
}

JC_API jc_err jc_rec_guard(jc_rec *r, uint32_t guard) {
  return tape(r, JC_TAPE_GUARD, 0, guard, 0);
}

JC_API jc_err jc_rec_guard_fp(jc_rec *r, uint32_t guard, uint64_t fp) {
  return tape(r, JC_TAPE_GUARD, 0, guard, fp);
}

/* -- Slots ------------------------------------------------------------------------------ */

static jc_err slot(jc_rec *r, uint8_t type, uint8_t ref, uint32_t arg,
                   uint32_t *out) {
  if (!r || !out) return bad(r, jc_fail(JC_INVAL, "jcache: slot: NULL argument"));
  jc_err err = PUSH(r, slots, nslots, cap_slots);
  if (err) return err;
  r->slots[r->nslots] = (struct jc_fmt_slot){type, ref, 0, arg};
  *out = r->nslots++;
  return JC_OK;
}

JC_API jc_err jc_rec_slot_bound(jc_rec *r, uint32_t *out) {
  return slot(r, JC_SLOT_BOUND, 0, 0, out);
}

JC_API jc_err jc_rec_slot_symbol(jc_rec *r, const char *name, uint32_t *out) {
  if (!r || !name || !*name)
    return bad(r, jc_fail(JC_INVAL, "jcache: symbol slot without a name"));
  if (r->err) return r->err;
  uint32_t off;
  jc_err err = intern(r, name, &off);
  if (err) return bad(r, err);
  return slot(r, JC_SLOT_SYMBOL, 0, off, out);
}

JC_API jc_err jc_rec_slot_arena(jc_rec *r, jc_trace_ref ref, uint32_t offset,
                                uint32_t *out) {
  if (r && ref != JC_REF_SELF && r->kind != JC_FMT_BRIDGE)
    return bad(r, jc_fail(JC_INVAL, "jcache: a loop has no parent or root "
                                    "to point into"));
  if (r && ref > JC_REF_ROOT)
    return bad(r, jc_fail(JC_INVAL, "jcache: bad trace reference %d", ref));
  return slot(r, JC_SLOT_ARENA, (uint8_t)ref, offset, out);
}

/* -- Machine-code facts ------------------------------------------------------------- */

JC_API jc_err jc_rec_reloc(jc_rec *r, uint32_t off, jc_reloc_kind kind,
                           uint32_t slot_no, int64_t addend) {
  if (!r) return JC_INVAL;
  if (kind < JC_RELOC_ABS64 || kind > JC_RELOC_CELL32 || slot_no >= r->nslots)
    return bad(r, jc_fail(JC_INVAL, "jcache: bad relocation (kind %d, slot %u)",
                          kind, slot_no));
  jc_err err = PUSH(r, relocs, nrelocs, cap_relocs);
  if (err) return err;
  struct jc_fmt_reloc *e = &r->relocs[r->nrelocs++];
  memset(e, 0, sizeof *e);
  e->off = off;
  e->slot = slot_no;
  e->kind = (uint8_t)kind;
  e->addend = addend;
  return JC_OK;
}

JC_API jc_err jc_rec_exit(jc_rec *r, uint32_t guard, uint32_t field_off) {
  if (!r) return JC_INVAL;
  if (field_off % 8 > 4)
    return bad(r, jc_fail(JC_INVAL, "jcache: exit %u's rel32 field at %u "
                                    "straddles an 8-byte word", guard, field_off));
  jc_err err = PUSH(r, exits, nexits, cap_exits);
  if (err) return err;
  /* Its stub is where the rel32 points when the code is finished. */
  r->exits[r->nexits++] =
      (struct jc_fmt_exit){guard, field_off, JC_NO_STUB, JC_EXIT_REL32};
  return JC_OK;
}

JC_API jc_err jc_rec_exit_slot(jc_rec *r, uint32_t guard, uint32_t field_off,
                               uint32_t stub_off) {
  if (!r) return JC_INVAL;
  jc_err err = PUSH(r, exits, nexits, cap_exits);
  if (err) return err;
  r->exits[r->nexits++] =
      (struct jc_fmt_exit){guard, field_off, stub_off, JC_EXIT_SLOT};
  return JC_OK;
}

/* A REL32 exit's stub: where its jump goes in the finished code, if that
** is inside the code (the parser checks the field's bounds; here a field
** out of bounds is left for it to refuse). */
static void rel32_stubs(jc_rec *r, const uint8_t *code, size_t len) {
  for (uint32_t i = 0; i < r->nexits; i++) {
    struct jc_fmt_exit *e = &r->exits[i];
    if (e->kind != JC_EXIT_REL32 || (uint64_t)e->field_off + 4 > len) continue;
    int32_t rel;
    memcpy(&rel, code + e->field_off, 4);
    int64_t to = (int64_t)e->field_off + 4 + rel;
    e->stub_off = to >= 0 && (uint64_t)to < len ? (uint32_t)to : JC_NO_STUB;
  }
}

JC_API jc_err jc_rec_patch_point(jc_rec *r, uint32_t after_guard, uint32_t off,
                                 uint32_t end, uint32_t target_off) {
  if (!r) return JC_INVAL;
  if (off % 8 != 0 || end <= off)
    return bad(r, jc_fail(JC_INVAL, "jcache: patch point at %u must be 8-aligned "
                                    "and guard a non-empty range", off));
  jc_err err = PUSH(r, patches, npatches, cap_patches);
  if (err) return err;
  r->patches[r->npatches++] =
      (struct jc_fmt_patch){after_guard, off, end, target_off};
  return JC_OK;
}

/* -- Debug information and aux ------------------------------------------------------ */

JC_API jc_err jc_rec_name(jc_rec *r, const char *name) {
  if (!r || !name) return bad(r, jc_fail(JC_INVAL, "jcache: name is NULL"));
  char *n = strdup(name);
  if (!n) return bad(r, jc_fail(JC_NOMEM, "jcache: out of memory"));
  free(r->name);
  r->name = n;
  return JC_OK;
}

JC_API jc_err jc_rec_line(jc_rec *r, uint32_t off, const char *file,
                          uint32_t line) {
  if (!r || !file) return bad(r, jc_fail(JC_INVAL, "jcache: line: NULL file"));
  if (r->err) return r->err;
  if (r->nlines && off < r->lines[r->nlines - 1].off)
    return bad(r, jc_fail(JC_INVAL, "jcache: line entries must ascend by "
                                    "offset (%u after %u)", off,
                          r->lines[r->nlines - 1].off));
  uint32_t f;
  if (r->last_file != UINT32_MAX && strcmp(r->strings + r->last_file, file) == 0)
    f = r->last_file;
  else if ((r->err = intern(r, file, &f)))
    return r->err;
  r->last_file = f;
  jc_err err = PUSH(r, lines, nlines, cap_lines);
  if (err) return err;
  r->lines[r->nlines++] = (struct jc_fmt_line){off, f, line, 0};
  return JC_OK;
}

JC_API jc_err jc_rec_aux(jc_rec *r, const void *data, size_t len) {
  if (!r || (!data && len)) return bad(r, jc_fail(JC_INVAL, "jcache: aux: NULL"));
  if (len > JC_FMT_MAX_CODE)
    return bad(r, jc_fail(JC_LIMIT, "jcache: aux data of %zu bytes is too large",
                          len));
  void *p = malloc(len ? len : 1);
  if (!p) return bad(r, jc_fail(JC_NOMEM, "jcache: out of memory"));
  if (len) memcpy(p, data, len);
  free(r->aux);
  r->aux = p;
  r->aux_len = (uint32_t)len;
  return JC_OK;
}

/* -- Finish ---------------------------------------------------------------------------- */

static void rec_free(jc_rec *r) {
  free(r->tape);
  free(r->slots);
  free(r->relocs);
  free(r->exits);
  free(r->patches);
  free(r->lines);
  free(r->strings);
  free(r->name);
  free(r->aux);
  free(r);
}

/* The live handle of a freshly compiled trace. */
static jc_err live_trace(const jc_rec *r, uint64_t id, void *live, size_t len,
                         uint32_t entry_off, jc_trace **out) {
  jc_trace *t = jc_trace_new();
  if (!t) return jc_fail(JC_NOMEM, "jcache: out of memory");
  t->id = id;
  t->parent_id = r->parent_id;
  t->parent_exit = r->parent_exit;
  if (r->parent_id) {
    const jc_trace *pt = jc_trace_find(r->parent_id);
    t->root_id = !pt ? r->parent_id : pt->root_id ? pt->root_id : pt->id;
  }
  t->code = live;
  t->size = len;
  t->entry_off = entry_off;
  /* Relocations and tape too, for debuggers (jcache-gdb.py `jcache
  ** trace`); the slots stay unbound: this run's values are in the code. */
  jc_trace_parts parts = {
      r->name,  r->slots,   r->exits,   r->tape,   r->relocs, r->lines,
      r->aux,   r->strings, r->nslots,  r->nexits, r->ntape,  r->nrelocs,
      r->nlines, r->strings_len, r->aux_len};
  if (jc_trace_alloc(t, &parts)) {
    jc_trace_destroy(t);
    return JC_NOMEM;
  }
  /* The client's slots: its code names them (jc_rec_exit_slot). */
  for (uint32_t i = 0; live && i < r->nexits; i++)
    if (r->exits[i].kind == JC_EXIT_SLOT && (uint64_t)r->exits[i].field_off + 8 <= len)
      memcpy(&t->exit_slot[i], (const uint8_t *)live + r->exits[i].field_off, 8);
  if (id) jc_trace_register(t);
  *out = t;
  return JC_OK;
}

/* Serialize, check and queue.  Returns the trace id in *id (0 on failure). */
static jc_err persist(jc_rec *r, const void *code, size_t len,
                      uint32_t entry_off, uint64_t *id) {
  *id = 0;
  if (r->err) return r->err;
  if (!code || len == 0 || len > JC_FMT_MAX_CODE || entry_off >= len)
    return jc_fail(JC_INVAL, "jcache: finish: bad code (%zu bytes, entry %u)",
                   len, entry_off);
  /* Without a cache the record is still built and checked: that gives the
  ** trace its id, and the same refusals as with one. */
  jc_key ns = r->cache ? r->cache->ns : (jc_key){0, 0};
  jc_fmt_parts p = {
      .kind = r->kind, .ns = ns, .key = r->key,
      .entry_off = entry_off, .created = (uint64_t)time(NULL),
      .code = code, .code_len = (uint32_t)len,
      .tape = r->tape, .ntape = r->ntape,
      .slots = r->slots, .nslots = r->nslots,
      .relocs = r->relocs, .nrelocs = r->nrelocs,
      .exits = r->exits, .nexits = r->nexits,
      .patches = r->patches, .npatches = r->npatches,
      .strings = r->strings, .strings_len = r->strings_len,
      .name = r->name,
      .lines = r->lines, .nlines = r->nlines,
      .aux = r->aux, .aux_len = r->aux_len,
      .parent_id = r->parent_id, .parent_exit = r->parent_exit,
  };
  void *buf;
  size_t blen;
  uint64_t tid;
  jc_err err = jc_fmt_build(&p, &buf, &blen, &tid);
  if (err) {
    char why[256]; /* jc_fail writes the buffer jc_last_error() reads */
    snprintf(why, sizeof why, "%s", jc_last_error());
    return jc_fail(err, "jcache: cannot serialize the trace: %s", why);
  }
  jc_view v;
  char detail[160];
  jc_reject why = jc_fmt_parse(buf, blen, ns, &v, detail, sizeof detail);
  if (why != JC_REJECT_NONE) {
    free(buf);
    return jc_fail(JC_INVAL, "jcache: the trace cannot be described by the "
                             "record format (%s: %s)",
                   jc_fmt_reject_name(why), detail);
  }
  *id = tid;
  if (!r->cache) {
    free(buf);
    return JC_OK;
  }
  if (r->kind == JC_FMT_LOOP) jc_program_note(r->cache, r->key);
  return jc_store_put(r->cache, r->key, tid, buf, blen);
}

JC_API jc_err jc_rec_finish(jc_rec *r, const void *code, size_t len,
                            uint32_t entry_off, void *live, jc_trace **out) {
  if (out) *out = NULL;
  if (!r) return jc_fail(JC_INVAL, "jcache: jc_rec_finish: recorder is NULL");
  uint64_t id;
  if (code) rel32_stubs(r, code, len);
  jc_err err = persist(r, code, len, entry_off, &id);
  if (err && !id) {
    jc_stat_add(records_not_persisted, 1);
    JC_PROBE(record_abort, r->key.lo, r->key.hi, jc_last_error());
  }
  if (out) {
    jc_err lerr = live_trace(r, id, live, len, entry_off, out);
    if (!err) err = lerr;
    if (!lerr && live) {
      jc_gdbjit_register(*out); /* the code is live */
      JC_PROBE(trace_live, id, (uint64_t)(uintptr_t)live, (uint64_t)len, 0,
               (*out)->name);
    }
  }
  rec_free(r);
  return err;
}

JC_API void jc_rec_abort(jc_rec *r, const char *reason) {
  if (!r) return;
  jc_stat_add(records_not_persisted, 1);
  JC_PROBE(record_abort, r->key.lo, r->key.hi, reason ? reason : "");
  rec_free(r);
}
