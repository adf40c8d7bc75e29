/*
** tests/unit/test_format.c — the record format: build, parse, and above all
** reject.
**
** The parser is the only thing between the store's bytes and code that
** patches and runs machine code, so most of this file feeds it broken
** records: every truncation, random bit flips (caught by the checksum), and
** hand-made hostile records whose checksum is re-computed after the damage so
** the structural checks themselves are exercised.  Each case asserts the
** exact reason.  Records are always parsed from a heap buffer of exactly
** their length (so ASan sees any over-read) and again at an odd address (so
** UBSan sees any misaligned access).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "format.h"
#include "hash.h"
#include "internal.h"
#include "jcache/rec.h"
#include "testutil.h"

/* -- Fixture: a trace with every section populated ------------------------ */

#define CODE_LEN 256u

static const jc_key NS = {0x0123456789abcdefull, 0xfedcba9876543210ull};
static const jc_key KEY = {0x1111222233334444ull, 0x5555666677778888ull};

/* "printf" at 0, "loop.lua" at 7. */
static const char STRINGS[] = "printf\0loop.lua";
#define STRINGS_LEN ((uint32_t)sizeof STRINGS) /* 16, incl. the last NUL */
#define FILE_OFF 7u

static uint8_t code[CODE_LEN];
static const uint8_t AUX[13] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};

/* The second field: the GUARDs right after each entry (jc_fmt_build sets
** it whatever the parts say; these say it, so the record reads back as
** its parts). */
static const struct jc_fmt_tape TAPE[] = {
    {JC_TAPE_GREEN, 0, 5, 1, 0x1111},
    {JC_TAPE_BIND, 1, 0, 0, 0},
    {JC_TAPE_GUARD, 0, 0, 7, 0},
    {JC_TAPE_BIND, 0, 0, 1, 0},
    {JC_TAPE_GREEN, 1, 6, 2, 0x2222},
    {JC_TAPE_GUARD, 0, 0, 9, 0},
    {JC_TAPE_BIND, 0, 0, 2, 0},
};
/* Slots 3 and 4 (parent / root arena references) only in the bridge. */
static const struct jc_fmt_slot SLOTS[] = {
    {JC_SLOT_BOUND, 0, 0, 0},
    {JC_SLOT_SYMBOL, 0, 0, 0},
    {JC_SLOT_ARENA, JC_REF_SELF, 0, 0x40},
    {JC_SLOT_ARENA, JC_REF_PARENT, 0, 0x10},
    {JC_SLOT_ARENA, JC_REF_ROOT, 0, 0x20},
};
static const struct jc_fmt_reloc RELOCS[] = {
    {16, 0, JC_RELOC_ABS64, {0}, -8},
    {32, 1, JC_RELOC_ABS32, {0}, 0},
    {40, 2, JC_RELOC_REL32, {0}, 4},
};
static const struct jc_fmt_exit EXITS[] = {{7, 52, 100, JC_EXIT_REL32},
                                           {9, 60, JC_NO_STUB, JC_EXIT_REL32},
                                           {11, 80, 120, JC_EXIT_SLOT}};
static const struct jc_fmt_patch PATCHES[] = {{9, 128, 192, 224}};
static const struct jc_fmt_line LINES[] = {
    {0, FILE_OFF, 10, 0},
    {48, FILE_OFF, 11, 0},
    {48, FILE_OFF, 12, 0}, /* equal offsets are allowed */
    {200, FILE_OFF, 13, 0},
};

/* The parts of the full loop or bridge. */
static jc_fmt_parts full_parts(uint16_t kind) {
  for (uint32_t i = 0; i < CODE_LEN; i++) code[i] = (uint8_t)(i * 7 + 3);
  jc_fmt_parts p;
  memset(&p, 0, sizeof p);
  p.kind = kind;
  p.ns = NS;
  p.key = KEY;
  p.entry_off = 8;
  p.created = 1700000000;
  p.code = code;
  p.code_len = CODE_LEN;
  p.tape = TAPE;
  p.ntape = JC_COUNTOF(TAPE);
  p.slots = SLOTS;
  p.nslots = kind == JC_FMT_BRIDGE ? 5 : 3;
  p.relocs = RELOCS;
  p.nrelocs = JC_COUNTOF(RELOCS);
  p.exits = EXITS;
  p.nexits = JC_COUNTOF(EXITS);
  p.patches = PATCHES;
  p.npatches = JC_COUNTOF(PATCHES);
  p.strings = STRINGS;
  p.strings_len = STRINGS_LEN;
  p.name = kind == JC_FMT_BRIDGE ? "trace_bridge" : "trace_loop";
  p.lines = LINES;
  p.nlines = JC_COUNTOF(LINES);
  p.aux = AUX;
  p.aux_len = sizeof AUX;
  if (kind == JC_FMT_BRIDGE) {
    p.parent_id = 0xabcdef0012345678ull;
    p.parent_exit = 7;
  }
  return p;
}

/* The smallest valid record: one code byte, an empty tape. */
static jc_fmt_parts min_parts(void) {
  static const uint8_t ret = 0xc3;
  jc_fmt_parts p;
  memset(&p, 0, sizeof p);
  p.kind = JC_FMT_LOOP;
  p.ns = NS;
  p.key = KEY;
  p.code = &ret;
  p.code_len = 1;
  return p;
}

/* -- Record helpers ------------------------------------------------------- */

typedef struct rec {
  uint8_t *b;
  size_t len;
} rec;

static rec build(const jc_fmt_parts *p) {
  rec r = {NULL, 0};
  uint64_t id = 0;
  void *out = NULL;
  jc_err err = jc_fmt_build(p, &out, &r.len, &id);
  if (err != JC_OK)
    fail_msg("build: %s: %s", jc_strerror(err), jc_last_error());
  r.b = out;
  assert_non_null(r.b);
  assert_int_not_equal(id, 0);
  return r;
}

static rec copy(rec r) {
  rec c = {malloc(r.len), r.len};
  assert_non_null(c.b);
  memcpy(c.b, r.b, r.len);
  return c;
}

static uint16_t get16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, sizeof v);
  return v;
}
static void put8(uint8_t *p, uint8_t v) { *p = v; }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof v); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, sizeof v); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, sizeof v); }

#define HDR(r, field) ((r).b + offsetof(struct jc_fmt_hdr, field))

/* The section table entry of `type` (fails the test if absent). */
static uint8_t *sect(rec r, uint32_t type) {
  uint16_t n;
  memcpy(&n, HDR(r, nsections), sizeof n);
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *e = r.b + 96 + i * 16;
    if (jc_ld32(e) == type) return e;
  }
  fail_msg("no section of type %u", type);
  return NULL;
}
#define SECT(r, type, field)                                                   \
  (sect((r), (type)) + offsetof(struct jc_fmt_sect, field))

/* Entry i of an entry section, as type T; F is a field of T. */
static uint8_t *entry(rec r, uint32_t type, uint32_t i, size_t esize) {
  return r.b + jc_ld32(SECT(r, type, offset)) + i * esize;
}
#define ENT(r, type, T, i, field)                                              \
  (entry((r), (type), (i), sizeof(T)) + offsetof(T, field))

/* Re-compute the checksum after a deliberate change, so the record gets past
** the checksum and the structural checks are the ones that must catch it. */
static void reseal(rec r) {
  assert_true(r.len >= 96);
  put64(HDR(r, checksum), XXH3_64bits(r.b + 16, r.len - 16));
}

/* Parse r at an exact-size heap buffer, or at an odd address. */
static jc_reject parse_at(rec r, size_t shift, jc_view *v, char *detail,
                          size_t dlen) {
  uint8_t *mem = malloc(r.len + shift + 1);
  assert_non_null(mem);
  /* With shift 0 the record ends exactly at the allocation's end. */
  uint8_t *at = shift ? mem + shift : mem;
  if (r.len) memcpy(at, r.b, r.len);
  jc_reject why = jc_fmt_parse(at, r.len, NS, v, detail, dlen);
  free(mem);
  return why;
}

/* Parse without copying: the caller's buffer has exactly r.len bytes. */
static jc_reject parse(rec r, char *detail, size_t dlen) {
  jc_view v;
  return jc_fmt_parse(r.b, r.len, NS, &v, detail, dlen);
}

/* Assert that r is rejected for `why`, with `substr` in the detail message,
** at both alignments.  Frees r. */
static void expect_raw(rec r, jc_reject why, const char *substr,
                       const char *where, int line) {
  char detail[256];
  for (size_t shift = 0; shift <= 1; shift++) {
    jc_view v;
    memset(detail, 0, sizeof detail);
    jc_reject got = parse_at(r, shift, &v, detail, sizeof detail);
    if (got != why)
      fail_msg("%s:%d: expected reject '%s', got '%s' (%s)", where, line,
               jc_fmt_reject_name(why), jc_fmt_reject_name(got), detail);
    if (substr && !strstr(detail, substr))
      fail_msg("%s:%d: detail '%s' lacks '%s'", where, line, detail, substr);
    if (why != JC_REJECT_NONE && detail[0] == '\0')
      fail_msg("%s:%d: no detail for a rejection", where, line);
  }
  free(r.b);
}
#define expect_reject(r, why, substr)                                          \
  expect_raw((r), (why), (substr), __FILE__, __LINE__)
/* Re-seal, then expect. */
#define expect_sealed(r, why, substr)                                          \
  do {                                                                         \
    rec r_ = (r);                                                              \
    reseal(r_);                                                                \
    expect_raw(r_, (why), (substr), __FILE__, __LINE__);                       \
  } while (0)

/* A seeded PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state;
static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

/* -- Oracle: what an accepted record guarantees --------------------------- */

/* Re-check, from the view alone, every invariant format.h promises.  Run on
** everything the parser accepts, including fuzzed records. */
static void check_invariants(const jc_view *v) {
  assert_true(v->code_len >= 1 && v->code_len <= JC_FMT_MAX_CODE);
  assert_true(v->hdr.entry_off < v->code_len);
  assert_int_not_equal(v->hdr.trace_id, 0);
  assert_true(v->hdr.kind == JC_FMT_LOOP || v->hdr.kind == JC_FMT_BRIDGE);
  const uint8_t *end = v->base + v->len;
  assert_true(v->code >= v->base && v->code + v->code_len <= end);
  assert_true(v->tape + (size_t)v->ntape * 16 <= end || v->ntape == 0);
  assert_non_null(v->name);
  assert_non_null(v->strings);
  if (v->strings_len) assert_int_equal(v->strings[v->strings_len - 1], 0);
  for (uint32_t i = 0; i < v->ntape; i++) {
    struct jc_fmt_tape t;
    jc_view_tape(v, i, &t);
    assert_true(t.op >= JC_TAPE_GREEN && t.op <= JC_TAPE_GUARD);
    if (t.op == JC_TAPE_BIND) assert_true(t.arg < v->nslots);
  }
  for (uint32_t i = 0; i < v->nslots; i++) {
    struct jc_fmt_slot s;
    jc_view_slot(v, i, &s);
    if (s.type == JC_SLOT_SYMBOL) {
      assert_true(s.arg < v->strings_len);
      assert_true(strlen(v->strings + s.arg) > 0);
    } else if (s.type == JC_SLOT_ARENA) {
      if (s.ref == JC_REF_SELF) assert_true(s.arg < v->code_len);
      else assert_int_equal(v->hdr.kind, JC_FMT_BRIDGE);
    } else {
      assert_int_equal(s.type, JC_SLOT_BOUND);
    }
  }
  for (uint32_t i = 0; i < v->nrelocs; i++) {
    struct jc_fmt_reloc r;
    jc_view_reloc(v, i, &r);
    uint64_t w = r.kind == JC_RELOC_ABS64 ? 8 : 4;
    assert_true(r.kind >= JC_RELOC_ABS64 && r.kind <= JC_RELOC_CELL32);
    assert_true(r.off + w <= v->code_len);
    assert_true(r.slot < v->nslots);
  }
  for (uint32_t i = 0; i < v->nexits; i++) {
    struct jc_fmt_exit e;
    jc_view_exit(v, i, &e);
    assert_true(e.kind == JC_EXIT_REL32 || e.kind == JC_EXIT_SLOT);
    if (e.kind == JC_EXIT_SLOT) {
      assert_true((uint64_t)e.field_off + 8 <= v->code_len);
      assert_true(e.stub_off < v->code_len);
    } else {
      assert_true((uint64_t)e.field_off + 4 <= v->code_len);
      assert_true(e.field_off / 8 == (e.field_off + 3) / 8);
      assert_true(e.stub_off < v->code_len || e.stub_off == JC_NO_STUB);
    }
  }
  for (uint32_t i = 0; i < v->npatches; i++) {
    struct jc_fmt_patch p;
    jc_view_patch(v, i, &p);
    assert_int_equal(p.off % 8, 0);
    assert_true((uint64_t)p.off + 8 <= v->code_len);
    assert_true(p.off < p.end && p.end <= v->code_len);
    assert_true(p.target_off < v->code_len);
  }
  uint32_t prev = 0;
  for (uint32_t i = 0; i < v->nlines; i++) {
    struct jc_fmt_line l;
    jc_view_line(v, i, &l);
    assert_true(l.off < v->code_len && l.off >= prev);
    assert_true(l.file < v->strings_len);
    prev = l.off;
  }
  if (v->hdr.kind == JC_FMT_BRIDGE) assert_int_not_equal(v->parent_id, 0);
  else assert_int_equal(v->parent_id, 0);
}

/* -- Round trip ----------------------------------------------------------- */

/* Every field of the view equals what went into the build. */
static void check_view(const jc_view *v, const jc_fmt_parts *p, rec r) {
  assert_int_equal(v->len, r.len);
  assert_int_equal(v->hdr.magic, JC_FMT_MAGIC);
  assert_int_equal(v->hdr.version, JC_FORMAT_VERSION);
  assert_int_equal(v->hdr.hdr_size, 96);
  assert_int_equal(v->hdr.total_len, r.len);
  assert_int_equal(v->hdr.kind, p->kind);
  assert_int_equal(v->hdr.ns_lo, p->ns.lo);
  assert_int_equal(v->hdr.ns_hi, p->ns.hi);
  assert_int_equal(v->hdr.key_lo, p->key.lo);
  assert_int_equal(v->hdr.key_hi, p->key.hi);
  assert_int_equal(v->hdr.entry_off, p->entry_off);
  assert_int_equal(v->hdr.created, p->created);
  assert_int_equal(v->hdr.flags, 0);
  assert_int_equal(v->code_len, p->code_len);
  assert_memory_equal(v->code, p->code, p->code_len);

#define CHECK_ENTRIES(n, arr, getter, T)                                       \
  do {                                                                         \
    assert_int_equal(v->n, p->n);                                              \
    for (uint32_t i = 0; i < p->n; i++) {                                      \
      T e;                                                                     \
      getter(v, i, &e);                                                        \
      assert_memory_equal(&e, &p->arr[i], sizeof e);                           \
    }                                                                          \
  } while (0)
  CHECK_ENTRIES(ntape, tape, jc_view_tape, struct jc_fmt_tape);
  CHECK_ENTRIES(nslots, slots, jc_view_slot, struct jc_fmt_slot);
  CHECK_ENTRIES(nrelocs, relocs, jc_view_reloc, struct jc_fmt_reloc);
  CHECK_ENTRIES(nexits, exits, jc_view_exit, struct jc_fmt_exit);
  CHECK_ENTRIES(npatches, patches, jc_view_patch, struct jc_fmt_patch);
  CHECK_ENTRIES(nlines, lines, jc_view_line, struct jc_fmt_line);
#undef CHECK_ENTRIES

  assert_int_equal(v->strings_len, p->strings_len);
  assert_memory_equal(v->strings, p->strings, p->strings_len);
  assert_string_equal(v->name, p->name ? p->name : "");
  assert_int_equal(v->aux_len, p->aux_len);
  if (p->aux_len) assert_memory_equal(v->aux, p->aux, p->aux_len);
  if (p->kind == JC_FMT_BRIDGE) {
    assert_int_equal(v->parent_id, p->parent_id);
    assert_int_equal(v->parent_exit, p->parent_exit);
  } else {
    assert_int_equal(v->parent_id, 0);
    assert_int_equal(v->parent_exit, 0);
  }

  /* Raw little-endian reads through the view agree with the struct copies. */
  assert_int_equal(jc_ld32(v->base), JC_FMT_MAGIC);
  assert_int_equal(jc_ld32(v->base + offsetof(struct jc_fmt_hdr, total_len)),
                   r.len);
  assert_int_equal(jc_ld64(v->base + offsetof(struct jc_fmt_hdr, trace_id)),
                   v->hdr.trace_id);
  assert_int_equal(jc_ld64(v->base + offsetof(struct jc_fmt_hdr, checksum)),
                   XXH3_64bits(v->base + 16, v->len - 16));
  for (uint32_t i = 0; i < v->nrelocs; i++) {
    const uint8_t *e = v->relocs + i * sizeof(struct jc_fmt_reloc);
    assert_int_equal(jc_ld32(e + offsetof(struct jc_fmt_reloc, off)),
                     p->relocs[i].off);
    assert_int_equal(jc_ld32(e + offsetof(struct jc_fmt_reloc, slot)),
                     p->relocs[i].slot);
    assert_int_equal(
        (int64_t)jc_ld64(e + offsetof(struct jc_fmt_reloc, addend)),
        p->relocs[i].addend);
  }
  for (uint32_t i = 0; i < v->ntape; i++) {
    const uint8_t *e = v->tape + i * sizeof(struct jc_fmt_tape);
    assert_int_equal(jc_ld32(e + offsetof(struct jc_fmt_tape, arg)),
                     p->tape[i].arg);
    assert_int_equal(jc_ld64(e + offsetof(struct jc_fmt_tape, fp)),
                     p->tape[i].fp);
  }
  check_invariants(v);
}

static void roundtrip(uint16_t kind) {
  jc_fmt_parts p = full_parts(kind);
  rec r = build(&p);
  for (size_t shift = 0; shift < 8; shift++) {
    uint8_t *mem = malloc(r.len + 8);
    assert_non_null(mem);
    memcpy(mem + shift, r.b, r.len);
    jc_view v;
    char detail[128] = "";
    jc_reject why = jc_fmt_parse(mem + shift, r.len, NS, &v, detail,
                                 sizeof detail);
    if (why != JC_REJECT_NONE)
      fail_msg("shift %zu: %s: %s", shift, jc_fmt_reject_name(why), detail);
    assert_ptr_equal(v.base, mem + shift);
    check_view(&v, &p, r);
    free(mem);
  }
  free(r.b);
}

static void test_roundtrip_loop(void **state) {
  (void)state;
  roundtrip(JC_FMT_LOOP);
}

static void test_roundtrip_bridge(void **state) {
  (void)state;
  roundtrip(JC_FMT_BRIDGE);
}

/* The documented layout: header, table in type order, 8-aligned payloads
** with zero padding; optional sections only when they have content. */
static void test_layout(void **state) {
  (void)state;
  jc_fmt_parts p = full_parts(JC_FMT_BRIDGE);
  rec r = build(&p);
  uint16_t n;
  memcpy(&n, HDR(r, nsections), 2);
  assert_int_equal(n, 11); /* every section type */
  uint32_t end = 96 + n * 16, prev_type = 0;
  for (uint32_t i = 0; i < n; i++) {
    struct jc_fmt_sect s;
    memcpy(&s, r.b + 96 + i * 16, sizeof s);
    assert_true(s.type > prev_type); /* type order */
    assert_int_equal(s.offset % 8, 0);
    assert_int_equal(s.offset, (end + 7) & ~7u); /* packed, 8-aligned */
    for (uint32_t k = end; k < s.offset; k++) assert_int_equal(r.b[k], 0);
    end = s.offset + s.length;
    prev_type = s.type;
  }
  assert_int_equal(end, r.len);
  struct jc_fmt_sect s;
  memcpy(&s, sect(r, JC_SECT_NAME), sizeof s);
  assert_int_equal(s.count, strlen("trace_bridge") + 1);
  memcpy(&s, sect(r, JC_SECT_PARENT), sizeof s);
  assert_int_equal(s.count, 1);
  assert_int_equal(s.length, 16);
  static const uint8_t zero[16];
  assert_memory_equal(HDR(r, reserved), zero, 16);
  free(r.b);

  /* Minimal loop: CODE and an empty TAPE only; the view reads empty. */
  p = min_parts();
  p.name = ""; /* empty name: no NAME section */
  r = build(&p);
  memcpy(&n, HDR(r, nsections), 2);
  assert_int_equal(n, 2);
  memcpy(&s, sect(r, JC_SECT_TAPE), sizeof s);
  assert_int_equal(s.count, 0);
  assert_int_equal(s.length, 0);
  assert_int_equal(r.len, 96 + 2 * 16 + 8);
  jc_view v;
  assert_int_equal(parse(r, NULL, 0), JC_REJECT_NONE);
  assert_int_equal(jc_fmt_parse(r.b, r.len, NS, &v, NULL, 0), JC_REJECT_NONE);
  assert_string_equal(v.name, "");
  assert_int_equal(v.ntape + v.nslots + v.nrelocs + v.nexits + v.npatches +
                       v.nlines + v.strings_len + v.aux_len,
                   0);
  assert_non_null(v.aux); /* empty, but never NULL */
  assert_non_null(v.strings);
  assert_non_null(v.tape);
  free(r.b);
}

/* -- Trace id ------------------------------------------------------------- */

/* The record hash is XXH3-64 whichever vector build hashes: checksums and
** ids written by one machine are read by another.  Lengths cover every
** XXH3 branch: short, 129-240, and long inputs with a partial last stripe. */
static void test_hash_is_xxh3(void **state) {
  (void)state;
  size_t n = 20000;
  uint8_t *b = malloc(n + 1);
  assert_non_null(b);
  for (size_t i = 0; i <= n; i++) b[i] = (uint8_t)(i * 131 + (i >> 7));
  for (size_t len = 0; len <= n; len += len < 300 ? 1 : 97) {
    assert_int_equal(jc_hash64(b, len), XXH3_64bits(b, len));
    assert_int_equal(jc_hash64(b + 1, len), XXH3_64bits(b + 1, len));
  }
  free(b);
}

static void test_trace_id(void **state) {
  (void)state;
  jc_fmt_parts p = full_parts(JC_FMT_LOOP);
  void *a, *b;
  size_t alen, blen;
  uint64_t ida, idb;
  assert_int_equal(jc_fmt_build(&p, &a, &alen, &ida), JC_OK);
  assert_int_equal(jc_fmt_build(&p, &b, &blen, &idb), JC_OK);
  assert_int_equal(ida, idb);
  assert_int_equal(alen, blen);
  assert_memory_equal(a, b, alen); /* deterministic, byte for byte */
  assert_int_equal(
      jc_ld64((uint8_t *)a + offsetof(struct jc_fmt_hdr, trace_id)), ida);
  free(b);

  /* `created` is informational: same id, different checksum. */
  p.created += 3600;
  assert_int_equal(jc_fmt_build(&p, &b, &blen, &idb), JC_OK);
  assert_int_equal(ida, idb);
  assert_memory_not_equal(
      (uint8_t *)a + offsetof(struct jc_fmt_hdr, checksum),
      (uint8_t *)b + offsetof(struct jc_fmt_hdr, checksum), 8);
  free(b);
  p.created -= 3600;

  /* A different key or namespace is a different trace. */
  p.key.hi ^= 1;
  assert_int_equal(jc_fmt_build(&p, &b, &blen, &idb), JC_OK);
  assert_int_not_equal(ida, idb);
  free(b);
  p.key = KEY;

  /* Every code byte matters; ids are never 0 and (here) all distinct. */
  enum { N = 256 };
  static uint64_t ids[N];
  for (int i = 0; i < N; i++) {
    code[i % CODE_LEN] ^= (uint8_t)(1 + i / CODE_LEN);
    p.code = code;
    assert_int_equal(jc_fmt_build(&p, &b, &blen, &ids[i]), JC_OK);
    code[i % CODE_LEN] ^= (uint8_t)(1 + i / CODE_LEN);
    assert_int_not_equal(ids[i], 0);
    assert_int_not_equal(ids[i], ida);
    for (int k = 0; k < i; k++) assert_int_not_equal(ids[i], ids[k]);
    free(b);
  }
  free(a);

  /* trace_id may be NULL. */
  assert_int_equal(jc_fmt_build(&p, &b, &blen, NULL), JC_OK);
  free(b);
}

/* -- Namespace, magic, lengths -------------------------------------------- */

static void test_namespace(void **state) {
  (void)state;
  jc_fmt_parts p = full_parts(JC_FMT_LOOP);
  rec r = build(&p);
  jc_view v;
  char detail[128];
  jc_key other = NS;
  other.lo ^= 1;
  assert_int_equal(jc_fmt_parse(r.b, r.len, other, &v, detail, sizeof detail),
                   JC_REJECT_NAMESPACE);
  other = NS;
  other.hi ^= 1ull << 63;
  assert_int_equal(jc_fmt_parse(r.b, r.len, other, &v, NULL, 0),
                   JC_REJECT_NAMESPACE);
  /* The namespace is checked before the checksum: a foreign record with a
  ** broken checksum still counts as foreign. */
  put8(r.b + r.len - 1, r.b[r.len - 1] ^ 0x40);
  assert_int_equal(jc_fmt_parse(r.b, r.len, other, &v, NULL, 0),
                   JC_REJECT_NAMESPACE);
  assert_int_equal(parse(r, NULL, 0), JC_REJECT_CHECKSUM);
  free(r.b);
}

static void test_envelope(void **state) {
  (void)state;
  jc_fmt_parts p = full_parts(JC_FMT_LOOP);
  rec base = build(&p);
  rec m;

  m = copy(base);
  put32(HDR(m, magic), 0x4a434352u); /* byte-swapped */
  expect_reject(m, JC_REJECT_MAGIC, "magic");
  m = copy(base);
  put16(HDR(m, version), JC_FORMAT_VERSION + 1);
  expect_reject(m, JC_REJECT_MAGIC, "version");
  m = copy(base);
  put16(HDR(m, hdr_size), 104);
  expect_reject(m, JC_REJECT_MAGIC, "header size");

  /* total_len larger than the bytes we have: truncated; smaller: bounds. */
  m = copy(base);
  put32(HDR(m, total_len), (uint32_t)m.len + 8);
  expect_reject(m, JC_REJECT_TRUNCATED, "total_len");
  m = copy(base);
  put32(HDR(m, total_len), (uint32_t)m.len - 8);
  expect_reject(m, JC_REJECT_BOUNDS, "total_len");
  /* A trailing byte after a valid record is not ignored. */
  m.b = calloc(1, base.len + 1);
  m.len = base.len + 1;
  memcpy(m.b, base.b, base.len);
  expect_reject(m, JC_REJECT_BOUNDS, NULL);
  /* A NULL buffer reads as empty. */
  assert_int_equal(jc_fmt_parse(NULL, 100, NS, NULL, NULL, 0),
                   JC_REJECT_TRUNCATED);
  /* The checksum itself. */
  m = copy(base);
  put64(HDR(m, checksum), jc_ld64(HDR(m, checksum)) + 1);
  expect_reject(m, JC_REJECT_CHECKSUM, "checksum");
  free(base.b);
}

/* -- Corruption: truncation and bit flips --------------------------------- */

/* Every prefix of a record is rejected, at the right reason, without a
** single read past the prefix (each is parsed from its own exact-size heap
** block). */
static void test_truncation(void **state) {
  (void)state;
  for (int kind = JC_FMT_LOOP; kind <= JC_FMT_BRIDGE; kind++) {
    jc_fmt_parts p = full_parts((uint16_t)kind);
    rec r = build(&p);
    for (size_t n = 0; n < r.len; n++) {
      uint8_t *t = malloc(n ? n : 1);
      assert_non_null(t);
      memcpy(t, r.b, n);
      jc_view v;
      char detail[128];
      jc_reject why = jc_fmt_parse(t, n, NS, &v, detail, sizeof detail);
      assert_int_equal(why, JC_REJECT_TRUNCATED);
      free(t);
    }
    free(r.b);
  }
}

/* Random single and multi-bit flips anywhere: always rejected (magic,
** length, namespace or checksum), never accepted, never a crash. */
static void test_bit_flips(void **state) {
  (void)state;
  rng_state = 0x9e3779b97f4a7c15ull;
  for (int kind = JC_FMT_LOOP; kind <= JC_FMT_BRIDGE; kind++) {
    jc_fmt_parts p = full_parts((uint16_t)kind);
    rec r = build(&p);
    size_t nbits = r.len * 8;
    uint8_t *m = malloc(r.len);
    assert_non_null(m);
    /* Every single bit, exhaustively, then random groups of 2-8 bits. */
    for (size_t bit = 0; bit < nbits; bit++) {
      memcpy(m, r.b, r.len);
      m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      jc_reject why = jc_fmt_parse(m, r.len, NS, NULL, NULL, 0);
      if (why == JC_REJECT_NONE) fail_msg("bit %zu flipped: accepted", bit);
    }
    for (int it = 0; it < 5000; it++) {
      memcpy(m, r.b, r.len);
      int flips = 2 + (int)(rnd() % 7);
      size_t seen[8];
      for (int f = 0; f < flips; f++) {
        size_t bit;
        int dup;
        do { /* distinct bits, or two flips would cancel */
          bit = rnd() % nbits;
          dup = 0;
          for (int k = 0; k < f; k++) dup |= seen[k] == bit;
        } while (dup);
        seen[f] = bit;
        m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      }
      jc_reject why = jc_fmt_parse(m, r.len, NS, NULL, NULL, 0);
      if (why == JC_REJECT_NONE) fail_msg("iteration %d: accepted", it);
    }
    free(m);
    free(r.b);
  }
}

/* -- Hostile records with a valid checksum: header and section table ------ */

static void test_hostile_header(void **state) {
  (void)state;
  jc_fmt_parts p = full_parts(JC_FMT_LOOP);
  rec base = build(&p);
  rec m;

  m = copy(base);
  put16(HDR(m, kind), 3);
  expect_sealed(m, JC_REJECT_ENTRY, "kind");
  m = copy(base);
  put16(HDR(m, kind), 0);
  expect_sealed(m, JC_REJECT_ENTRY, "kind");
  m = copy(base);
  put16(HDR(m, nsections), JC_FMT_MAX_SECTIONS + 1);
  expect_sealed(m, JC_REJECT_ENTRY, "sections");
  m = copy(base);
  put16(HDR(m, nsections), 0xffff);
  expect_sealed(m, JC_REJECT_ENTRY, "sections");
  m = copy(base);
  put32(HDR(m, flags), 1);
  expect_sealed(m, JC_REJECT_ENTRY, "flags");
  m = copy(base);
  put8(HDR(m, reserved) + 15, 1);
  expect_sealed(m, JC_REJECT_ENTRY, "reserved");
  m = copy(base);
  put64(HDR(m, trace_id), 0);
  expect_sealed(m, JC_REJECT_ENTRY, "trace id");
  m = copy(base);
  put32(HDR(m, entry_off), CODE_LEN);
  expect_sealed(m, JC_REJECT_BOUNDS, "entry offset");
  m = copy(base);
  put32(HDR(m, entry_off), 0xffffffffu);
  expect_sealed(m, JC_REJECT_BOUNDS, "entry offset");
  m = copy(base);
  put32(HDR(m, entry_off), CODE_LEN - 1); /* last byte: fine */
  expect_sealed(m, JC_REJECT_NONE, NULL);
  free(base.b);

  /* A section table longer than the record. */
  jc_fmt_parts mp = min_parts();
  base = build(&mp);
  m = copy(base);
  put16(HDR(m, nsections), JC_FMT_MAX_SECTIONS);
  expect_sealed(m, JC_REJECT_BOUNDS, "section table");
  free(base.b);
}

static void test_hostile_sections(void **state) {
  (void)state;
  jc_fmt_parts p = full_parts(JC_FMT_LOOP);
  rec base = build(&p);
  rec m;
  uint32_t len = (uint32_t)base.len;

  /* Offsets outside the record, over the header, over the table. */
  m = copy(base);
  put32(SECT(m, JC_SECT_RELOCS, offset), (len + 7) & ~7u);
  expect_sealed(m, JC_REJECT_BOUNDS, "section 3 (relocs): offset");
  m = copy(base);
  put32(SECT(m, JC_SECT_CODE, offset), 0);
  expect_sealed(m, JC_REJECT_BOUNDS, "inside header");
  m = copy(base);
  put32(SECT(m, JC_SECT_TAPE, offset), 96); /* the section table */
  expect_sealed(m, JC_REJECT_BOUNDS, "inside header");
  m = copy(base);
  put32(SECT(m, JC_SECT_TAPE, offset),
        jc_ld32(SECT(m, JC_SECT_TAPE, offset)) + 4);
  expect_sealed(m, JC_REJECT_BOUNDS, "not 8-aligned");
  /* Length past the end by one byte. */
  m = copy(base);
  {
    uint8_t *s = sect(m, JC_SECT_AUX);
    put32(s + offsetof(struct jc_fmt_sect, length),
          len - jc_ld32(s + offsetof(struct jc_fmt_sect, offset)) + 1);
    put32(s + offsetof(struct jc_fmt_sect, count),
          jc_ld32(s + offsetof(struct jc_fmt_sect, length)));
  }
  expect_sealed(m, JC_REJECT_BOUNDS, "aux");
  /* offset + length wraps around 2^32 to a small number. */
  m = copy(base);
  put32(SECT(m, JC_SECT_RELOCS, offset), 0xfffffff0u);
  put32(SECT(m, JC_SECT_RELOCS, length), 0x20);
  expect_sealed(m, JC_REJECT_BOUNDS, "offset 4294967280 + length 32");
  m = copy(base);
  put32(SECT(m, JC_SECT_AUX, offset), 0xfffffff8u);
  put32(SECT(m, JC_SECT_AUX, length), 0x10);
  put32(SECT(m, JC_SECT_AUX, count), 0x10);
  expect_sealed(m, JC_REJECT_BOUNDS, "aux");

  /* Counts that disagree with lengths, and absurd counts. */
  m = copy(base);
  put32(SECT(m, JC_SECT_TAPE, count), 0xffffffffu);
  expect_sealed(m, JC_REJECT_ENTRY, "tape");
  m = copy(base);
  put32(SECT(m, JC_SECT_CODE, count), 0xffffffffu);
  expect_sealed(m, JC_REJECT_ENTRY, "count 4294967295 != length");
  m = copy(base);
  put32(SECT(m, JC_SECT_RELOCS, count), 2); /* 3 entries' worth of bytes */
  expect_sealed(m, JC_REJECT_ENTRY, "relocs");
  m = copy(base);
  /* 0x10000000 * 16 wraps to 0 in 32 bits: must not match an empty tape. */
  put32(SECT(m, JC_SECT_TAPE, count), 0x10000000u);
  put32(SECT(m, JC_SECT_TAPE, length), 0);
  expect_sealed(m, JC_REJECT_ENTRY, "268435456 entries x 16 bytes != length 0");
  m = copy(base);
  put32(SECT(m, JC_SECT_CODE, count), 0);
  put32(SECT(m, JC_SECT_CODE, length), 0);
  expect_sealed(m, JC_REJECT_ENTRY, "code length 0");

  /* Unknown, duplicate, missing sections. */
  m = copy(base);
  put32(SECT(m, JC_SECT_AUX, type), JC_SECT__MAX);
  expect_sealed(m, JC_REJECT_ENTRY, "unknown type");
  m = copy(base);
  put32(SECT(m, JC_SECT_AUX, type), 0);
  expect_sealed(m, JC_REJECT_ENTRY, "unknown type");
  m = copy(base);
  put32(SECT(m, JC_SECT_AUX, type), 0xffffffffu);
  expect_sealed(m, JC_REJECT_ENTRY, "unknown type");
  m = copy(base);
  put32(SECT(m, JC_SECT_RELOCS, type), JC_SECT_SLOTS);
  expect_sealed(m, JC_REJECT_ENTRY, "duplicate");
  m = copy(base);
  put32(SECT(m, JC_SECT_NAME, type), JC_SECT_STRINGS);
  expect_sealed(m, JC_REJECT_ENTRY, "duplicate");
  m = copy(base); /* drop the last table entry: AUX simply goes missing */
  put16(HDR(m, nsections), (uint16_t)(get16(HDR(m, nsections)) - 1));
  expect_sealed(m, JC_REJECT_NONE, NULL);
  free(base.b);

  /* Missing CODE / TAPE: retype them as sections that are absent. */
  p.aux = NULL;
  p.aux_len = 0;
  p.lines = NULL;
  p.nlines = 0;
  base = build(&p);
  m = copy(base);
  put32(SECT(m, JC_SECT_CODE, type), JC_SECT_AUX);
  expect_sealed(m, JC_REJECT_ENTRY, "no code section");
  m = copy(base);
  put32(SECT(m, JC_SECT_TAPE, type), JC_SECT_LINES); /* also 16-byte entries */
  expect_sealed(m, JC_REJECT_ENTRY, "no tape section");
  free(base.b);

  /* Sections may legally share bytes (nothing requires them disjoint), but
  ** each must still be valid on its own. */
  p = full_parts(JC_FMT_LOOP);
  base = build(&p);
  m = copy(base);
  put32(SECT(m, JC_SECT_AUX, offset), jc_ld32(SECT(m, JC_SECT_CODE, offset)));
  expect_sealed(m, JC_REJECT_NONE, NULL);
  free(base.b);
}

/* The PARENT section, strings and name. */
static void test_hostile_parent_strings(void **state) {
  (void)state;
  jc_fmt_parts lp = full_parts(JC_FMT_LOOP), bp = full_parts(JC_FMT_BRIDGE);
  rec loop = build(&lp), bridge = build(&bp);
  rec m;

  /* A loop relabelled as a bridge has no parent; and the reverse. */
  m = copy(loop);
  put16(HDR(m, kind), JC_FMT_BRIDGE);
  expect_sealed(m, JC_REJECT_ENTRY, "bridge without a parent");
  m = copy(bridge);
  put16(HDR(m, kind), JC_FMT_LOOP);
  expect_sealed(m, JC_REJECT_ENTRY, "loop with a parent");
  m = copy(bridge); /* two parents: the section is stretched over NAME */
  put32(SECT(m, JC_SECT_PARENT, count), 2);
  put32(SECT(m, JC_SECT_PARENT, length), 32);
  expect_sealed(m, JC_REJECT_ENTRY, "not 1");
  m = copy(bridge);
  put64(ENT(m, JC_SECT_PARENT, struct jc_fmt_parent, 0, trace_id), 0);
  expect_sealed(m, JC_REJECT_ENTRY, "parent");
  m = copy(bridge);
  put32(ENT(m, JC_SECT_PARENT, struct jc_fmt_parent, 0, pad), 1);
  expect_sealed(m, JC_REJECT_ENTRY, "parent");
  /* Parent/root arena references only make sense in a bridge. */
  m = copy(bridge);
  put8(ENT(m, JC_SECT_SLOTS, struct jc_fmt_slot, 4, ref), 3);
  expect_sealed(m, JC_REJECT_ENTRY, "arena ref");
  m = copy(loop);
  put8(ENT(m, JC_SECT_SLOTS, struct jc_fmt_slot, 2, ref), JC_REF_PARENT);
  expect_sealed(m, JC_REJECT_ENTRY, "in a loop");
  m = copy(loop);
  put8(ENT(m, JC_SECT_SLOTS, struct jc_fmt_slot, 2, ref), JC_REF_ROOT);
  expect_sealed(m, JC_REJECT_ENTRY, "in a loop");
  /* ... where their offsets are not bounded by this trace's code. */
  m = copy(bridge);
  put32(ENT(m, JC_SECT_SLOTS, struct jc_fmt_slot, 3, arg), 0x100000);
  expect_sealed(m, JC_REJECT_NONE, NULL);

  /* Strings must end in NUL; symbols and files must point inside. */
  m = copy(loop);
  put8(entry(m, JC_SECT_STRINGS, STRINGS_LEN - 1, 1), 'x');
  expect_sealed(m, JC_REJECT_ENTRY, "strings not NUL");
  m = copy(loop);
  put32(ENT(m, JC_SECT_SLOTS, struct jc_fmt_slot, 1, arg), STRINGS_LEN);
  expect_sealed(m, JC_REJECT_BOUNDS, "symbol at 16 >= strings 16");
  m = copy(loop);
  put32(ENT(m, JC_SECT_SLOTS, struct jc_fmt_slot, 1, arg), 0xffffffffu);
  expect_sealed(m, JC_REJECT_BOUNDS, "symbol");
  m = copy(loop);
  put32(ENT(m, JC_SECT_SLOTS, struct jc_fmt_slot, 1, arg), 6); /* the NUL */
  expect_sealed(m, JC_REJECT_ENTRY, "empty symbol");
  m = copy(loop);
  put32(ENT(m, JC_SECT_SLOTS, struct jc_fmt_slot, 1, arg), FILE_OFF); /* ok */
  expect_sealed(m, JC_REJECT_NONE, NULL);
  m = copy(loop);
  put32(ENT(m, JC_SECT_LINES, struct jc_fmt_line, 1, file), STRINGS_LEN);
  expect_sealed(m, JC_REJECT_BOUNDS, "file at 16");
  m = copy(loop); /* an empty STRINGS section */
  put32(SECT(m, JC_SECT_STRINGS, count), 0);
  put32(SECT(m, JC_SECT_STRINGS, length), 0);
  expect_sealed(m, JC_REJECT_ENTRY, "empty strings");
  m = copy(loop);
  put8(entry(m, JC_SECT_NAME, strlen("trace_loop"), 1), '!');
  expect_sealed(m, JC_REJECT_ENTRY, "name not NUL");
  m = copy(loop);
  put32(SECT(m, JC_SECT_NAME, count), 0);
  put32(SECT(m, JC_SECT_NAME, length), 0);
  expect_sealed(m, JC_REJECT_ENTRY, "name not NUL");
  free(loop.b);

  /* Without a STRINGS section every symbol and file is out of bounds. */
  lp.strings = NULL;
  lp.strings_len = 0;
  lp.nslots = 1;
  lp.nrelocs = 1; /* the ABS64 reloc uses slot 0 only */
  lp.nlines = 0;
  lp.ntape = 3;   /* GREEN, BIND 0, GUARD 7 */
  lp.npatches = 0;
  loop = build(&lp);
  m = copy(loop);
  put8(ENT(m, JC_SECT_SLOTS, struct jc_fmt_slot, 0, type), JC_SLOT_SYMBOL);
  expect_sealed(m, JC_REJECT_BOUNDS, "strings 0");
  free(loop.b);
  free(bridge.b);
}

/* -- Hostile records with a valid checksum: entries ----------------------- */

static void test_hostile_tape_slots(void **state) {
  (void)state;
  jc_fmt_parts p = full_parts(JC_FMT_LOOP);
  rec base = build(&p);
  rec m;
#define TAPE_AT(m, i, f) ENT(m, JC_SECT_TAPE, struct jc_fmt_tape, i, f)
#define SLOT_AT(m, i, f) ENT(m, JC_SECT_SLOTS, struct jc_fmt_slot, i, f)

  m = copy(base);
  put8(TAPE_AT(m, 0, op), 0);
  expect_sealed(m, JC_REJECT_ENTRY, "tape 0: bad op 0");
  m = copy(base);
  put8(TAPE_AT(m, 6, op), 4);
  expect_sealed(m, JC_REJECT_ENTRY, "tape 6: bad op 4");
  /* Each entry's count of the GUARDs right after it: the BIND at 1 and
  ** the GREEN at 4 have one, the rest none. */
  for (uint32_t i = 0; i < 7; i++)
    assert_int_equal(*TAPE_AT(base, i, guards), i == 1 || i == 4 ? 1 : 0);
  m = copy(base);
  put8(TAPE_AT(m, 1, guards), 0);
  expect_sealed(m, JC_REJECT_ENTRY, "tape 1: guard count 0, not 1");
  m = copy(base);
  put8(TAPE_AT(m, 2, guards), 1); /* the GUARD itself: a BIND follows */
  expect_sealed(m, JC_REJECT_ENTRY, "tape 2: guard count 1, not 0");
  m = copy(base);
  put32(TAPE_AT(m, 3, arg), 3); /* 3 slots: 0..2 */
  expect_sealed(m, JC_REJECT_ENTRY, "bind slot 3 >= 3");
  m = copy(base);
  put32(TAPE_AT(m, 3, arg), 0xffffffffu);
  expect_sealed(m, JC_REJECT_ENTRY, "bind slot");
  m = copy(base);
  put64(TAPE_AT(m, 2, fp), 1); /* a GUARD with an outcome fingerprint */
  expect_sealed(m, JC_REJECT_NONE, NULL);
  m = copy(base);
  put16(TAPE_AT(m, 2, kind), 1); /* a GUARD with a kind */
  expect_sealed(m, JC_REJECT_ENTRY, "guard");
  m = copy(base);
  put64(TAPE_AT(m, 1, fp), 1); /* a BIND with a fingerprint */
  expect_sealed(m, JC_REJECT_ENTRY, "bind");
  m = copy(base);
  put16(TAPE_AT(m, 1, kind), 1); /* a BIND with a kind */
  expect_sealed(m, JC_REJECT_ENTRY, "bind");
  m = copy(base); /* anything goes in a GREEN's kind, site and fp */
  put16(TAPE_AT(m, 0, kind), 0xffff);
  put32(TAPE_AT(m, 0, arg), 0xffffffffu);
  put64(TAPE_AT(m, 0, fp), 0);
  expect_sealed(m, JC_REJECT_NONE, NULL);

  m = copy(base);
  put8(SLOT_AT(m, 0, type), 0);
  expect_sealed(m, JC_REJECT_ENTRY, "bad type 0");
  m = copy(base);
  put8(SLOT_AT(m, 0, type), 4);
  expect_sealed(m, JC_REJECT_ENTRY, "bad type 4");
  m = copy(base);
  put16(SLOT_AT(m, 2, pad), 1);
  expect_sealed(m, JC_REJECT_ENTRY, "pad");
  m = copy(base);
  put32(SLOT_AT(m, 0, arg), 1);
  expect_sealed(m, JC_REJECT_ENTRY, "bound slot");
  m = copy(base);
  put8(SLOT_AT(m, 0, ref), 1);
  expect_sealed(m, JC_REJECT_ENTRY, "bound slot");
  m = copy(base);
  put8(SLOT_AT(m, 1, ref), 1);
  expect_sealed(m, JC_REJECT_ENTRY, "symbol slot with ref");
  m = copy(base);
  put32(SLOT_AT(m, 2, arg), CODE_LEN);
  expect_sealed(m, JC_REJECT_BOUNDS, "arena offset 256 >= code 256");
  m = copy(base);
  put32(SLOT_AT(m, 2, arg), CODE_LEN - 1);
  expect_sealed(m, JC_REJECT_NONE, NULL);
#undef TAPE_AT
#undef SLOT_AT
  free(base.b);
}

static void test_hostile_relocs(void **state) {
  (void)state;
  jc_fmt_parts p = full_parts(JC_FMT_LOOP);
  rec base = build(&p);
  rec m;
#define RELOC_AT(m, i, f) ENT(m, JC_SECT_RELOCS, struct jc_fmt_reloc, i, f)
  /* relocs: 0 = ABS64, 1 = ABS32, 2 = REL32 */
  m = copy(base);
  put32(RELOC_AT(m, 0, off), CODE_LEN);
  expect_sealed(m, JC_REJECT_BOUNDS, "reloc 0: offset 256 + width 8");
  m = copy(base);
  put32(RELOC_AT(m, 0, off), CODE_LEN - 7);
  expect_sealed(m, JC_REJECT_BOUNDS, "reloc 0");
  m = copy(base);
  put32(RELOC_AT(m, 0, off), CODE_LEN - 8); /* the last 8 bytes: fine */
  expect_sealed(m, JC_REJECT_NONE, NULL);
  m = copy(base);
  put32(RELOC_AT(m, 1, off), CODE_LEN - 3); /* ABS32 one byte past */
  expect_sealed(m, JC_REJECT_BOUNDS, "reloc 1: offset 253 + width 4");
  m = copy(base);
  put32(RELOC_AT(m, 1, off), CODE_LEN - 4);
  expect_sealed(m, JC_REJECT_NONE, NULL);
  m = copy(base);
  put32(RELOC_AT(m, 2, off), 0xfffffffeu); /* off + 4 wraps in 32 bits */
  expect_sealed(m, JC_REJECT_BOUNDS, "reloc 2");
  m = copy(base);
  put8(RELOC_AT(m, 2, kind), 0);
  expect_sealed(m, JC_REJECT_ENTRY, "bad kind 0");
  m = copy(base);
  put8(RELOC_AT(m, 2, kind), 5);
  expect_sealed(m, JC_REJECT_ENTRY, "bad kind 5");
  m = copy(base); /* CELL32: 4 bytes, like REL32 */
  put8(RELOC_AT(m, 2, kind), JC_RELOC_CELL32);
  expect_sealed(m, JC_REJECT_NONE, NULL);
  m = copy(base);
  put8(RELOC_AT(m, 1, kind), JC_RELOC_CELL32);
  put32(RELOC_AT(m, 1, off), CODE_LEN - 3);
  expect_sealed(m, JC_REJECT_BOUNDS, "reloc 1: offset 253 + width 4");
  m = copy(base);
  put32(RELOC_AT(m, 1, slot), 3);
  expect_sealed(m, JC_REJECT_ENTRY, "slot 3 >= 3");
  m = copy(base);
  put8(RELOC_AT(m, 1, pad) + 6, 1);
  expect_sealed(m, JC_REJECT_ENTRY, "pad");
  m = copy(base); /* any addend */
  put64(RELOC_AT(m, 1, addend), 0x8000000000000000ull);
  expect_sealed(m, JC_REJECT_NONE, NULL);
#undef RELOC_AT
  free(base.b);
}

static void test_hostile_exits_patches(void **state) {
  (void)state;
  jc_fmt_parts p = full_parts(JC_FMT_LOOP);
  rec base = build(&p);
  rec m;
#define EXIT_AT(m, i, f) ENT(m, JC_SECT_EXITS, struct jc_fmt_exit, i, f)
#define PATCH_AT(m, i, f) ENT(m, JC_SECT_PATCHES, struct jc_fmt_patch, i, f)

  m = copy(base);
  put32(EXIT_AT(m, 0, field_off), CODE_LEN - 3);
  expect_sealed(m, JC_REJECT_BOUNDS, "exit 0: field 253 + 4");
  m = copy(base);
  put32(EXIT_AT(m, 0, field_off), 0xfffffffdu);
  expect_sealed(m, JC_REJECT_BOUNDS, "exit 0");
  /* Field offsets 5, 6, 7 mod 8 straddle two words; 0..4 do not. */
  for (uint32_t r = 0; r < 8; r++) {
    m = copy(base);
    put32(EXIT_AT(m, 1, field_off), 64 + r);
    if (r <= 4) expect_sealed(m, JC_REJECT_NONE, NULL);
    else expect_sealed(m, JC_REJECT_ENTRY, "straddles");
  }
  m = copy(base);
  put32(EXIT_AT(m, 1, guard), 7);
  expect_sealed(m, JC_REJECT_ENTRY, "guard 7 appears twice");
  m = copy(base); /* an exit's guard need not be on the tape */
  put32(EXIT_AT(m, 1, guard), 12345);
  expect_sealed(m, JC_REJECT_NONE, NULL);
  /* Kinds, stubs, and a slot exit's 8-byte field (any alignment). */
  m = copy(base);
  put32(EXIT_AT(m, 0, kind), 2);
  expect_sealed(m, JC_REJECT_ENTRY, "exit 0: bad kind 2");
  m = copy(base);
  put32(EXIT_AT(m, 0, stub_off), CODE_LEN);
  expect_sealed(m, JC_REJECT_BOUNDS, "exit 0: stub 256 outside");
  m = copy(base);
  put32(EXIT_AT(m, 2, stub_off), JC_NO_STUB); /* REL32 only */
  expect_sealed(m, JC_REJECT_BOUNDS, "exit 2: stub");
  m = copy(base);
  put32(EXIT_AT(m, 2, field_off), CODE_LEN - 7);
  expect_sealed(m, JC_REJECT_BOUNDS, "exit 2: field 249 + 8");
  m = copy(base);
  put32(EXIT_AT(m, 2, field_off), CODE_LEN - 8); /* the last 8 bytes: fine */
  expect_sealed(m, JC_REJECT_NONE, NULL);
  m = copy(base);
  put32(EXIT_AT(m, 2, field_off), 61); /* unaligned: no atomic write needed */
  expect_sealed(m, JC_REJECT_NONE, NULL);

  m = copy(base);
  put32(PATCH_AT(m, 0, off), 132);
  expect_sealed(m, JC_REJECT_BOUNDS, "not 8-aligned");
  m = copy(base);
  put32(PATCH_AT(m, 0, off), CODE_LEN);
  expect_sealed(m, JC_REJECT_BOUNDS, "patch 0: offset 256 + 8");
  m = copy(base);
  put32(PATCH_AT(m, 0, off), 0xfffffff8u);
  expect_sealed(m, JC_REJECT_BOUNDS, "patch 0");
  m = copy(base);
  put32(PATCH_AT(m, 0, off), CODE_LEN - 8); /* end 192 <= off now */
  expect_sealed(m, JC_REJECT_BOUNDS, "end 192");
  m = copy(base);
  put32(PATCH_AT(m, 0, end), 128); /* empty range */
  expect_sealed(m, JC_REJECT_BOUNDS, "end 128");
  m = copy(base);
  put32(PATCH_AT(m, 0, end), CODE_LEN + 1);
  expect_sealed(m, JC_REJECT_BOUNDS, "end 257");
  m = copy(base);
  put32(PATCH_AT(m, 0, end), CODE_LEN);
  expect_sealed(m, JC_REJECT_NONE, NULL);
  m = copy(base);
  put32(PATCH_AT(m, 0, target_off), CODE_LEN);
  expect_sealed(m, JC_REJECT_BOUNDS, "target 256");
  m = copy(base);
  put32(PATCH_AT(m, 0, after_guard), 8); /* tape has guards 7 and 9 */
  expect_sealed(m, JC_REJECT_ENTRY, "guard 8 is not on the tape");
  m = copy(base); /* a BIND with arg 1 is not a guard 1 */
  put32(PATCH_AT(m, 0, after_guard), 1);
  expect_sealed(m, JC_REJECT_ENTRY, "not on the tape");
  m = copy(base);
  put32(PATCH_AT(m, 0, after_guard), 7);
  expect_sealed(m, JC_REJECT_NONE, NULL);
  /* Guard numbers too large for the parser's bitmap (a client that numbers
  ** guards sparsely): the same answers from the sorted fallback. */
#define TAPE_AT(m, i, f) ENT(m, JC_SECT_TAPE, struct jc_fmt_tape, i, f)
  m = copy(base);
  put32(TAPE_AT(m, 5, arg), 40000); /* guard 9 becomes guard 40000 */
  put32(PATCH_AT(m, 0, after_guard), 40000);
  expect_sealed(m, JC_REJECT_NONE, NULL);
  m = copy(base);
  put32(TAPE_AT(m, 5, arg), 40000);
  put32(PATCH_AT(m, 0, after_guard), 9);
  expect_sealed(m, JC_REJECT_ENTRY, "guard 9 is not on the tape");
#undef TAPE_AT
#undef EXIT_AT
#undef PATCH_AT
  free(base.b);
}

static void test_hostile_lines(void **state) {
  (void)state;
  jc_fmt_parts p = full_parts(JC_FMT_LOOP);
  rec base = build(&p);
  rec m;
#define LINE_AT(m, i, f) ENT(m, JC_SECT_LINES, struct jc_fmt_line, i, f)
  m = copy(base);
  put32(LINE_AT(m, 2, off), 47); /* 0, 48, 47, 200 */
  expect_sealed(m, JC_REJECT_ENTRY, "line 2: offset 47 < previous 48");
  m = copy(base);
  put32(LINE_AT(m, 3, off), CODE_LEN);
  expect_sealed(m, JC_REJECT_BOUNDS, "line 3: offset 256");
  m = copy(base);
  put32(LINE_AT(m, 0, pad), 1);
  expect_sealed(m, JC_REJECT_ENTRY, "pad");
  m = copy(base); /* any line number */
  put32(LINE_AT(m, 0, line), 0xffffffffu);
  expect_sealed(m, JC_REJECT_NONE, NULL);
#undef LINE_AT
  free(base.b);
}

/* The first failure wins: checks run in the documented order. */
static void test_reject_order(void **state) {
  (void)state;
  jc_fmt_parts p = full_parts(JC_FMT_LOOP);
  rec base = build(&p);
  rec m;
  /* Bad magic and bad namespace: magic. */
  m = copy(base);
  put32(HDR(m, magic), 0);
  put64(HDR(m, ns_lo), 0);
  expect_reject(m, JC_REJECT_MAGIC, NULL);
  /* Bad namespace and bad checksum: namespace (tested above too). */
  /* A bad section and a bad entry: the section. */
  m = copy(base);
  put32(SECT(m, JC_SECT_AUX, type), 99);
  put8(ENT(m, JC_SECT_RELOCS, struct jc_fmt_reloc, 0, kind), 9);
  expect_sealed(m, JC_REJECT_ENTRY, "unknown type 99");
  /* Sections are checked in table order: an earlier section's error wins
  ** over a later section's bounds error. */
  m = copy(base);
  put32(SECT(m, JC_SECT_AUX, offset), 0xfffffff0u);
  put32(SECT(m, JC_SECT_SLOTS, count), 1);
  expect_sealed(m, JC_REJECT_ENTRY, "slots");
  /* Tape before relocs. */
  m = copy(base);
  put32(ENT(m, JC_SECT_RELOCS, struct jc_fmt_reloc, 0, off), 0xffffff00u);
  put8(ENT(m, JC_SECT_TAPE, struct jc_fmt_tape, 0, op), 0);
  expect_sealed(m, JC_REJECT_ENTRY, "tape 0");
  free(base.b);
}

/* -- Large sections: the O(n log n) guard checks, and the entry limit ----- */

static void test_many_entries(void **state) {
  (void)state;
  enum { N = 3000 };
  struct jc_fmt_tape *tape = calloc(N, sizeof *tape);
  struct jc_fmt_exit *exits = calloc(N, sizeof *exits);
  struct jc_fmt_patch *patches = calloc(N, sizeof *patches);
  assert_true(tape && exits && patches);
  for (uint32_t i = 0; i < N; i++) {
    tape[i] = (struct jc_fmt_tape){JC_TAPE_GUARD, 0, 0, N - i, 0};
    exits[i] = (struct jc_fmt_exit){i * 7919u % 100003u, 4, 0, JC_EXIT_REL32};
    patches[i] = (struct jc_fmt_patch){1 + i, 8, 16, 0};
  }
  jc_fmt_parts p = min_parts();
  p.code = code;
  p.code_len = CODE_LEN;
  p.tape = tape;
  p.ntape = N;
  p.exits = exits;
  p.nexits = N;
  p.patches = patches;
  p.npatches = N;
  rec base = build(&p);
  rec m = copy(base);
  expect_sealed(m, JC_REJECT_NONE, NULL);
  /* Counts of the GUARDs after each entry stop at 255. */
  assert_int_equal(*ENT(base, JC_SECT_TAPE, struct jc_fmt_tape, 0, guards), 255);
  assert_int_equal(*ENT(base, JC_SECT_TAPE, struct jc_fmt_tape, N - 256, guards), 255);
  assert_int_equal(*ENT(base, JC_SECT_TAPE, struct jc_fmt_tape, N - 255, guards), 254);
  assert_int_equal(*ENT(base, JC_SECT_TAPE, struct jc_fmt_tape, N - 1, guards), 0);
  m = copy(base);
  put8(ENT(m, JC_SECT_TAPE, struct jc_fmt_tape, 0, guards), 254);
  expect_sealed(m, JC_REJECT_ENTRY, "tape 0: guard count 254, not 255");
  m = copy(base);
  put32(ENT(m, JC_SECT_EXITS, struct jc_fmt_exit, N - 1, guard),
        exits[17].guard);
  expect_sealed(m, JC_REJECT_ENTRY, "appears twice");
  m = copy(base);
  put32(ENT(m, JC_SECT_PATCHES, struct jc_fmt_patch, N / 2, after_guard),
        N + 1);
  expect_sealed(m, JC_REJECT_ENTRY, "not on the tape");
  free(base.b);

  free(tape);
  free(exits);
  free(patches);
}

/* Exactly JC_FMT_MAX_ENTRIES exits parse; one more is rejected.  The exits
** are smuggled in as AUX bytes and the section retyped, since the builder
** refuses to write too many. */
static void test_entry_limit(void **state) {
  (void)state;
  static const uint8_t code8[8];
  const uint32_t max = JC_FMT_MAX_ENTRIES;
  size_t n = (size_t)max + 1;
  struct jc_fmt_exit *e = calloc(n, sizeof *e);
  assert_non_null(e);
  for (uint32_t i = 0; i < n; i++) e[i] = (struct jc_fmt_exit){i, 0, 0, JC_EXIT_REL32};
  jc_fmt_parts p = min_parts();
  p.code = code8;
  p.code_len = 8;
  p.aux = e;
  p.aux_len = (uint32_t)(n * sizeof *e);
  rec base = build(&p);
  free(e);

  rec m = copy(base);
  put32(SECT(m, JC_SECT_AUX, type), JC_SECT_EXITS);
  put32(SECT(m, JC_SECT_EXITS, count), max);
  put32(SECT(m, JC_SECT_EXITS, length), max * (uint32_t)sizeof(struct jc_fmt_exit));
  expect_sealed(m, JC_REJECT_NONE, NULL);
  m = copy(base);
  put32(SECT(m, JC_SECT_AUX, type), JC_SECT_EXITS);
  put32(SECT(m, JC_SECT_EXITS, count), max + 1); /* length already fits */
  expect_sealed(m, JC_REJECT_ENTRY, "entries > limit");
  free(base.b);
}

/* -- Fuzz: random damage with a valid checksum ---------------------------- */

/* Whatever the parser accepts must satisfy every documented invariant; what
** it rejects it must reject cleanly.  Damage aims at the structural part of
** the record (header, table, entries) with values near the edges. */
static void test_fuzz_sealed(void **state) {
  (void)state;
  rng_state = 0x243f6a8885a308d3ull;
  unsigned accepted = 0, rejected[JC_REJECT_ENTRY + 1] = {0};
  for (int kind = JC_FMT_LOOP; kind <= JC_FMT_BRIDGE; kind++) {
    jc_fmt_parts p = full_parts((uint16_t)kind);
    rec base = build(&p);
    const uint32_t edges[] = {0, 1, 3, 4, 7, 8, 16, 96, CODE_LEN - 4,
                              CODE_LEN - 1, CODE_LEN, (uint32_t)base.len,
                              0x7fffffffu, 0xfffffff0u, 0xffffffffu};
    uint8_t *m = malloc(base.len);
    assert_non_null(m);
    for (int it = 0; it < 10000; it++) {
      memcpy(m, base.b, base.len);
      int nmut = 1 + (int)(rnd() % 3);
      for (int k = 0; k < nmut; k++) {
        /* A 4-aligned word past the checksum, in the first 2/3 of the
        ** record where the header, table and entries are. */
        size_t words = (base.len * 2 / 3 - 16) / 4;
        size_t at = 16 + (rnd() % words) * 4;
        uint64_t r = rnd();
        uint32_t val = (r & 1) ? edges[(r >> 1) % JC_COUNTOF(edges)]
                               : (uint32_t)(r >> 32);
        if ((r >> 8) % 4 == 0) m[at + (r >> 16) % 4] = (uint8_t)val;
        else memcpy(m + at, &val, 4);
      }
      put64(m + 8, XXH3_64bits(m + 16, base.len - 16));
      jc_view v;
      jc_reject why = jc_fmt_parse(m, base.len, NS, &v, NULL, 0);
      /* Bytes 0-15 are untouched and the checksum is fresh. */
      assert_true(why <= JC_REJECT_ENTRY);
      assert_true(why != JC_REJECT_MAGIC && why != JC_REJECT_CHECKSUM);
      rejected[why]++;
      if (why == JC_REJECT_NONE) {
        accepted++;
        check_invariants(&v);
      }
    }
    free(m);
    free(base.b);
  }
  /* Both outcomes must actually occur, or the fuzz is not probing much. */
  assert_true(accepted > 0);
  assert_true(rejected[JC_REJECT_BOUNDS] > 0);
  assert_true(rejected[JC_REJECT_ENTRY] > 0);
}

/* -- Building: limits and errors ------------------------------------------ */

static void test_build_errors(void **state) {
  (void)state;
  jc_fmt_parts p = min_parts();
  void *out;
  size_t len;
  uint64_t id;

  p.code_len = 0;
  assert_int_equal(jc_fmt_build(&p, &out, &len, &id), JC_LIMIT);
  p.code_len = JC_FMT_MAX_CODE + 1; /* never read: checked first */
  assert_int_equal(jc_fmt_build(&p, &out, &len, &id), JC_LIMIT);
  assert_null(out);
  p = min_parts();
  p.tape = TAPE;
  p.ntape = JC_FMT_MAX_ENTRIES + 1;
  assert_int_equal(jc_fmt_build(&p, &out, &len, &id), JC_LIMIT);
  assert_non_null(strstr(jc_last_error(), "tape"));
  p = min_parts();
  p.relocs = RELOCS;
  p.nrelocs = 0xffffffffu;
  assert_int_equal(jc_fmt_build(&p, &out, &len, &id), JC_LIMIT);
  p = min_parts();
  p.aux = AUX;
  p.aux_len = JC_FMT_MAX_RECORD; /* plus the header: too big */
  assert_int_equal(jc_fmt_build(&p, &out, &len, &id), JC_LIMIT);
  p = min_parts();
  p.aux = AUX;
  p.aux_len = JC_FMT_MAX_RECORD / 2;
  p.strings = STRINGS;
  p.strings_len = JC_FMT_MAX_RECORD / 2;
  assert_int_equal(jc_fmt_build(&p, &out, &len, &id), JC_LIMIT);

  /* Programming errors are INVAL. */
  p = min_parts();
  p.kind = 0;
  assert_int_equal(jc_fmt_build(&p, &out, &len, &id), JC_INVAL);
  p = min_parts();
  p.nslots = 1; /* no array */
  assert_int_equal(jc_fmt_build(&p, &out, &len, &id), JC_INVAL);
  assert_int_equal(jc_fmt_build(NULL, &out, &len, &id), JC_INVAL);
  p = min_parts();
  assert_int_equal(jc_fmt_build(&p, NULL, &len, &id), JC_INVAL);

  /* The builder checks limits, not content: that is the parser's job, and
  ** the recorder parses what it built before storing it. */
  p = full_parts(JC_FMT_LOOP);
  p.entry_off = CODE_LEN;
  rec r = build(&p);
  assert_int_equal(parse(r, NULL, 0), JC_REJECT_BOUNDS);
  free(r.b);
  p = full_parts(JC_FMT_LOOP);
  p.nslots = 2; /* BIND 2 and reloc 2 now dangle */
  r = build(&p);
  char detail[128];
  assert_int_equal(parse(r, detail, sizeof detail), JC_REJECT_ENTRY);
  assert_string_equal(detail, "tape 6: bind slot 2 >= 2 slots");
  free(r.b);
}

/* -- Small things --------------------------------------------------------- */

static void test_reject_names(void **state) {
  (void)state;
  static const char *const want[] = {"none",      "truncated", "magic",
                                     "namespace", "checksum",  "bounds",
                                     "entry"};
  for (int i = 0; i <= JC_REJECT_ENTRY; i++)
    assert_string_equal(jc_fmt_reject_name((jc_reject)i), want[i]);
  assert_string_equal(jc_fmt_reject_name((jc_reject)99), "unknown");
}

/* The detail buffer may be absent or tiny; it is always NUL-terminated. */
static void test_detail_buffer(void **state) {
  (void)state;
  jc_fmt_parts p = full_parts(JC_FMT_LOOP);
  rec r = build(&p);
  put32(SECT(r, JC_SECT_RELOCS, offset), 0xfffffff0u);
  reseal(r);
  char small[8];
  memset(small, 'x', sizeof small);
  assert_int_equal(jc_fmt_parse(r.b, r.len, NS, NULL, small, sizeof small),
                   JC_REJECT_BOUNDS);
  assert_int_equal(strlen(small), sizeof small - 1);
  assert_int_equal(jc_fmt_parse(r.b, r.len, NS, NULL, small, 0),
                   JC_REJECT_BOUNDS);
  assert_int_equal(jc_fmt_parse(r.b, r.len, NS, NULL, NULL, 100),
                   JC_REJECT_BOUNDS);
  char full[128];
  assert_int_equal(jc_fmt_parse(r.b, r.len, NS, NULL, full, sizeof full),
                   JC_REJECT_BOUNDS);
  assert_non_null(strstr(full, "section 3 (relocs)"));
  /* Success clears it. */
  jc_fmt_parts q = full_parts(JC_FMT_LOOP);
  rec ok = build(&q);
  assert_int_equal(jc_fmt_parse(ok.b, ok.len, NS, NULL, full, sizeof full),
                   JC_REJECT_NONE);
  assert_string_equal(full, "");
  free(ok.b);
  free(r.b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_loop),
      cmocka_unit_test(test_roundtrip_bridge),
      cmocka_unit_test(test_layout),
      cmocka_unit_test(test_trace_id),
      cmocka_unit_test(test_hash_is_xxh3),
      cmocka_unit_test(test_namespace),
      cmocka_unit_test(test_envelope),
      cmocka_unit_test(test_truncation),
      cmocka_unit_test(test_bit_flips),
      cmocka_unit_test(test_hostile_header),
      cmocka_unit_test(test_hostile_sections),
      cmocka_unit_test(test_hostile_parent_strings),
      cmocka_unit_test(test_hostile_tape_slots),
      cmocka_unit_test(test_hostile_relocs),
      cmocka_unit_test(test_hostile_exits_patches),
      cmocka_unit_test(test_hostile_lines),
      cmocka_unit_test(test_reject_order),
      cmocka_unit_test(test_many_entries),
      cmocka_unit_test(test_entry_limit),
      cmocka_unit_test(test_fuzz_sealed),
      cmocka_unit_test(test_build_errors),
      cmocka_unit_test(test_reject_names),
      cmocka_unit_test(test_detail_buffer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
