/*
** lib/format.c — building and validating records (see lib/format.h and
** docs/FORMAT.md).
**
** jc_fmt_build() lays a trace out as one contiguous little-endian record;
** jc_fmt_parse() is the only gate between the store's bytes and the rest of
** the library.  A record is untrusted: a crash, a disk error, another build
** or a hostile user may have written it.  The parser therefore
**
**   - never reads outside [buf, buf+len) and never dereferences a struct
**     pointer into the record (it may sit at any alignment): every field is
**     copied out with memcpy;
**   - checks in a fixed order (size, magic, namespace, checksum, structure,
**     entries) and reports the first failure, so each corruption is counted
**     under one reason;
**   - does all offset arithmetic in 64 bits, so no sum can wrap.
**
** Whatever jc_fmt_parse() accepts satisfies every invariant in brackets in
** format.h; the replay, reloc and commit code rely on that and do not check
** again.
*/
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "hash.h"
#include "internal.h"
#include "jcache/rec.h"

/* The format is little-endian and fields are copied out with memcpy, which
** is only a byte-order no-op on a little-endian host. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lib/format.c assumes a little-endian host; add byte swaps first"
#endif

#define HDR_SIZE ((uint32_t)sizeof(struct jc_fmt_hdr))
#define SECT_SIZE ((uint32_t)sizeof(struct jc_fmt_sect))
/* The checksum covers everything after itself: bytes [16, total_len). */
#define CSUM_FROM (offsetof(struct jc_fmt_hdr, checksum) + sizeof(uint64_t))

_Static_assert(CSUM_FROM == 16, "checksum covers [16, total_len)");

/* -- Section types -------------------------------------------------------- */

/* Name and entry size of each section type; esize 0 marks a byte section,
** whose count is its length in bytes. */
static const struct {
  const char *name;
  uint32_t esize;
} sect_info[JC_SECT__MAX] = {
    [JC_SECT_CODE] = {"code", 0},
    [JC_SECT_TAPE] = {"tape", sizeof(struct jc_fmt_tape)},
    [JC_SECT_SLOTS] = {"slots", sizeof(struct jc_fmt_slot)},
    [JC_SECT_RELOCS] = {"relocs", sizeof(struct jc_fmt_reloc)},
    [JC_SECT_EXITS] = {"exits", sizeof(struct jc_fmt_exit)},
    [JC_SECT_PATCHES] = {"patches", sizeof(struct jc_fmt_patch)},
    [JC_SECT_STRINGS] = {"strings", 0},
    [JC_SECT_PARENT] = {"parent", sizeof(struct jc_fmt_parent)},
    [JC_SECT_NAME] = {"name", 0},
    [JC_SECT_LINES] = {"lines", sizeof(struct jc_fmt_line)},
    [JC_SECT_AUX] = {"aux", 0},
};

static bool sect_known(uint32_t type) {
  return type > 0 && type < JC_SECT__MAX;
}

static uint64_t align8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

/* -- Rejection reasons ---------------------------------------------------- */

const char *jc_fmt_reject_name(jc_reject why) {
  switch (why) {
  case JC_REJECT_NONE: return "none";
  case JC_REJECT_TRUNCATED: return "truncated";
  case JC_REJECT_MAGIC: return "magic";
  case JC_REJECT_NAMESPACE: return "namespace";
  case JC_REJECT_CHECKSUM: return "checksum";
  case JC_REJECT_BOUNDS: return "bounds";
  case JC_REJECT_ENTRY: return "entry";
  }
  return "unknown";
}

/* -- Parsing: context and helpers ----------------------------------------- */

/* What the parser has learned so far.  Sections are indexed by type; `have`
** says which are present (absent ones read as empty). */
typedef struct pctx {
  const uint8_t *b;
  uint32_t len; /* == hdr.total_len once the size check passed */
  struct jc_fmt_hdr hdr;
  struct jc_fmt_sect sect[JC_SECT__MAX];
  bool have[JC_SECT__MAX];
  char *detail;
  size_t detail_len;
  /* The guard numbers on the tape, collected by check_tape for
  ** check_patches: a bitmap (not zeroed in advance: words [0, gwords) are
  ** valid), unless a number is too large for it (gbig). */
  uint64_t *gbits;
  uint32_t gwords;
  bool gbig;
} pctx;

/* Report `why` with a formatted detail message; returns `why`. */
static jc_reject bad(pctx *c, jc_reject why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static jc_reject bad(pctx *c, jc_reject why, const char *fmt, ...) {
  if (c->detail && c->detail_len > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, c->detail_len, fmt, ap);
    va_end(ap);
  }
  return why;
}

/* Entry count and first byte of a section (count 0 if absent). */
static uint32_t scount(const pctx *c, int type) {
  return c->have[type] ? c->sect[type].count : 0;
}
static const uint8_t *sdata(const pctx *c, int type) {
  return c->b + c->sect[type].offset;
}

/* Copy entry i of an entry section out of the (possibly unaligned) record. */
#define ENTRY_AT(c, type, i, e)                                                \
  memcpy((e), sdata((c), (type)) + (size_t)(i) * sizeof *(e), sizeof *(e))

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

/* A sorted scratch array of guard numbers.  Sections hold up to
** JC_FMT_MAX_ENTRIES entries, so duplicate and membership checks sort
** (O(n log n)) instead of comparing pairs; small sets stay on the stack. */
/* A set of guard numbers, for membership and duplicate checks.  Every
** lookup parses its records, and clients number guards densely from 0 (a
** trace has a few hundred), so a bitmap on the stack is the usual case;
** sorting is the fallback for large numbers. */
#define GS_BITS 32768u
typedef struct guardset {
  uint32_t *v;
  uint32_t n;
  uint32_t local[256];
  uint32_t max;
  bool bitmap;
  uint64_t bits[GS_BITS / 64];
} guardset;

/* Make room for n numbers; false if memory is short. */
static bool gs_init(guardset *g, uint32_t n) {
  g->n = 0;
  g->v = n <= JC_COUNTOF(g->local) ? g->local
                                   : malloc((size_t)n * sizeof *g->v);
  return g->v != NULL;
}
static void gs_free(guardset *g) {
  if (g->v != g->local) free(g->v);
}
/* Index the numbers added; true if one of them appears twice (*dup). */
static bool gs_build(guardset *g, uint32_t *dup) {
  g->max = 0;
  for (uint32_t i = 0; i < g->n; i++)
    if (g->v[i] > g->max) g->max = g->v[i];
  g->bitmap = g->max < GS_BITS;
  if (g->bitmap) {
    memset(g->bits, 0, (g->max / 64 + 1) * sizeof *g->bits);
    bool twice = false;
    for (uint32_t i = 0; i < g->n; i++) {
      uint64_t m = 1ull << (g->v[i] % 64);
      if (!twice && (g->bits[g->v[i] / 64] & m)) {
        twice = true;
        *dup = g->v[i];
      }
      g->bits[g->v[i] / 64] |= m;
    }
    return twice;
  }
  qsort(g->v, g->n, sizeof *g->v, cmp_u32);
  for (uint32_t i = 1; i < g->n; i++)
    if (g->v[i] == g->v[i - 1]) {
      *dup = g->v[i];
      return true;
    }
  return false;
}
static bool gs_has(const guardset *g, uint32_t x) {
  if (g->bitmap)
    return g->n > 0 && x <= g->max && (g->bits[x / 64] >> (x % 64) & 1);
  return g->n > 0 && bsearch(&x, g->v, g->n, sizeof *g->v, cmp_u32) != NULL;
}

/* -- Parsing: header and section table ------------------------------------ */

/* Steps 1-3: size, magic, namespace, checksum. */
static jc_reject check_envelope(pctx *c, size_t len, jc_key ns) {
  if (len < HDR_SIZE)
    return bad(c, JC_REJECT_TRUNCATED, "record of %zu bytes < header %u", len,
               HDR_SIZE);
  memcpy(&c->hdr, c->b, sizeof c->hdr);
  const struct jc_fmt_hdr *h = &c->hdr;
  if (h->magic != JC_FMT_MAGIC)
    return bad(c, JC_REJECT_MAGIC, "bad magic 0x%08x", h->magic);
  if (h->version != JC_FORMAT_VERSION)
    return bad(c, JC_REJECT_MAGIC, "format version %u, expected %u",
               h->version, JC_FORMAT_VERSION);
  if (h->hdr_size != HDR_SIZE)
    return bad(c, JC_REJECT_MAGIC, "header size %u, expected %u", h->hdr_size,
               HDR_SIZE);
  if (h->total_len > len)
    return bad(c, JC_REJECT_TRUNCATED, "record of %zu bytes < total_len %u",
               len, h->total_len);
  if (h->total_len < len)
    return bad(c, JC_REJECT_BOUNDS, "record of %zu bytes > total_len %u", len,
               h->total_len);
  c->len = h->total_len;
  /* The namespace comes before the checksum: a record of another build
  ** (met by a tool walking the whole store) is foreign, not corrupt, and
  ** need not be hashed to say so. */
  if (h->ns_lo != ns.lo || h->ns_hi != ns.hi)
    return bad(c, JC_REJECT_NAMESPACE,
               "namespace %016llx%016llx, expected %016llx%016llx",
               (unsigned long long)h->ns_hi, (unsigned long long)h->ns_lo,
               (unsigned long long)ns.hi, (unsigned long long)ns.lo);
  uint64_t sum = jc_hash64(c->b + CSUM_FROM, c->len - CSUM_FROM);
  if (sum != h->checksum)
    return bad(c, JC_REJECT_CHECKSUM, "checksum %016llx, computed %016llx",
               (unsigned long long)h->checksum, (unsigned long long)sum);
  return JC_REJECT_NONE;
}

/* Step 4: header fields the checksum cannot vouch for (a buggy writer). */
static jc_reject check_header(pctx *c) {
  const struct jc_fmt_hdr *h = &c->hdr;
  static const uint8_t zero[sizeof h->reserved];
  if (h->kind != JC_FMT_LOOP && h->kind != JC_FMT_BRIDGE)
    return bad(c, JC_REJECT_ENTRY, "bad trace kind %u", h->kind);
  if (h->nsections > JC_FMT_MAX_SECTIONS)
    return bad(c, JC_REJECT_ENTRY, "%u sections > limit %u", h->nsections,
               JC_FMT_MAX_SECTIONS);
  if (h->flags != 0)
    return bad(c, JC_REJECT_ENTRY, "unknown flags 0x%x", h->flags);
  if (memcmp(h->reserved, zero, sizeof zero) != 0)
    return bad(c, JC_REJECT_ENTRY, "reserved header bytes not zero");
  if (h->trace_id == 0) return bad(c, JC_REJECT_ENTRY, "trace id is 0");
  uint64_t table_end = HDR_SIZE + (uint64_t)h->nsections * SECT_SIZE;
  if (table_end > c->len)
    return bad(c, JC_REJECT_BOUNDS, "section table end %llu > record %u",
               (unsigned long long)table_end, c->len);
  return JC_REJECT_NONE;
}

/* Step 5a: one section table entry on its own. */
static jc_reject check_sect(pctx *c, uint32_t i, const struct jc_fmt_sect *s) {
  uint64_t table_end = HDR_SIZE + (uint64_t)c->hdr.nsections * SECT_SIZE;
  if (!sect_known(s->type))
    return bad(c, JC_REJECT_ENTRY, "section %u: unknown type %u", i, s->type);
  const char *nm = sect_info[s->type].name;
  if (c->have[s->type])
    return bad(c, JC_REJECT_ENTRY, "section %u (%s): duplicate", i, nm);
  if (s->offset % 8 != 0)
    return bad(c, JC_REJECT_BOUNDS, "section %u (%s): offset %u not 8-aligned",
               i, nm, s->offset);
  if (s->offset < table_end)
    return bad(c, JC_REJECT_BOUNDS,
               "section %u (%s): offset %u inside header or table (< %llu)", i,
               nm, s->offset, (unsigned long long)table_end);
  if ((uint64_t)s->offset + s->length > c->len)
    return bad(c, JC_REJECT_BOUNDS,
               "section %u (%s): offset %u + length %u > record %u", i, nm,
               s->offset, s->length, c->len);
  uint32_t esize = sect_info[s->type].esize;
  if (esize == 0) {
    if (s->count != s->length)
      return bad(c, JC_REJECT_ENTRY, "section %u (%s): count %u != length %u",
                 i, nm, s->count, s->length);
  } else {
    if ((uint64_t)s->count * esize != s->length)
      return bad(c, JC_REJECT_ENTRY,
                 "section %u (%s): %u entries x %u bytes != length %u", i, nm,
                 s->count, esize, s->length);
    /* Only entry sections: byte sections are bounded by the record size
    ** (and CODE by JC_FMT_MAX_CODE below). */
    if (s->count > JC_FMT_MAX_ENTRIES)
      return bad(c, JC_REJECT_ENTRY, "section %u (%s): %u entries > limit %u",
                 i, nm, s->count, JC_FMT_MAX_ENTRIES);
  }
  c->sect[s->type] = *s;
  c->have[s->type] = true;
  return JC_REJECT_NONE;
}

/* Step 5b: the section table as a whole. */
static jc_reject check_sections(pctx *c) {
  for (uint32_t i = 0; i < c->hdr.nsections; i++) {
    struct jc_fmt_sect s;
    memcpy(&s, c->b + HDR_SIZE + (size_t)i * SECT_SIZE, sizeof s);
    jc_reject r = check_sect(c, i, &s);
    if (r != JC_REJECT_NONE) return r;
  }
  if (!c->have[JC_SECT_CODE])
    return bad(c, JC_REJECT_ENTRY, "no code section");
  if (!c->have[JC_SECT_TAPE])
    return bad(c, JC_REJECT_ENTRY, "no tape section");
  uint32_t code_len = c->sect[JC_SECT_CODE].length;
  if (code_len < 1 || code_len > JC_FMT_MAX_CODE)
    return bad(c, JC_REJECT_ENTRY, "code length %u not in [1, %u]", code_len,
               JC_FMT_MAX_CODE);
  bool bridge = c->hdr.kind == JC_FMT_BRIDGE;
  if (bridge && !c->have[JC_SECT_PARENT])
    return bad(c, JC_REJECT_ENTRY, "bridge without a parent section");
  if (!bridge && c->have[JC_SECT_PARENT])
    return bad(c, JC_REJECT_ENTRY, "loop with a parent section");
  if (bridge && c->sect[JC_SECT_PARENT].count != 1)
    return bad(c, JC_REJECT_ENTRY, "parent section has %u entries, not 1",
               c->sect[JC_SECT_PARENT].count);
  /* Byte sections of strings end in NUL, so every string starting inside
  ** them is terminated inside them. */
  if (c->have[JC_SECT_STRINGS]) {
    uint32_t n = c->sect[JC_SECT_STRINGS].length;
    if (n == 0) return bad(c, JC_REJECT_ENTRY, "empty strings section");
    if (sdata(c, JC_SECT_STRINGS)[n - 1] != 0)
      return bad(c, JC_REJECT_ENTRY, "strings not NUL-terminated");
  }
  if (c->have[JC_SECT_NAME]) {
    uint32_t n = c->sect[JC_SECT_NAME].length;
    if (n == 0 || sdata(c, JC_SECT_NAME)[n - 1] != 0)
      return bad(c, JC_REJECT_ENTRY, "name not NUL-terminated");
  }
  return JC_REJECT_NONE;
}

/* -- Parsing: entries ----------------------------------------------------- */

/* Tape entries: known op, BIND within the slots, unused fields zero. */
static jc_reject check_tape(pctx *c) {
  uint32_t n = scount(c, JC_SECT_TAPE), nslots = scount(c, JC_SECT_SLOTS);
  for (uint32_t i = 0; i < n; i++) {
    struct jc_fmt_tape e;
    ENTRY_AT(c, JC_SECT_TAPE, i, &e);
    if (e.op == JC_TAPE_GUARD && !c->gbig) {
      if (e.arg >= GS_BITS) {
        c->gbig = true;
      } else {
        uint32_t w = e.arg / 64;
        if (w >= c->gwords) {
          memset(c->gbits + c->gwords, 0, (w + 1 - c->gwords) * sizeof *c->gbits);
          c->gwords = w + 1;
        }
        c->gbits[w] |= 1ull << (e.arg % 64);
      }
    }
    if (e.op != JC_TAPE_GREEN && e.op != JC_TAPE_BIND && e.op != JC_TAPE_GUARD)
      return bad(c, JC_REJECT_ENTRY, "tape %u: bad op %u", i, e.op);
    if (e.op == JC_TAPE_BIND && e.arg >= nslots)
      return bad(c, JC_REJECT_ENTRY, "tape %u: bind slot %u >= %u slots", i,
                 e.arg, nslots);
    /* A GREEN carries kind and fingerprint, a GUARD its expected outcome's
    ** fingerprint (0 if the client does not record it), a BIND neither. */
    if ((e.op != JC_TAPE_GREEN && e.kind != 0) ||
        (e.op == JC_TAPE_BIND && e.fp != 0))
      return bad(c, JC_REJECT_ENTRY, "tape %u: kind/fp set on a %s", i,
                 e.op == JC_TAPE_BIND ? "bind" : "guard");
  }
  /* Each entry's count of the GUARDs right after it (`guards`, which
  ** jc_fmt_build writes): a static binding steps over them by it. */
  uint32_t run = 0;
  for (uint32_t i = n; i-- > 0;) {
    struct jc_fmt_tape e;
    ENTRY_AT(c, JC_SECT_TAPE, i, &e);
    if (e.guards != (run < 255 ? run : 255))
      return bad(c, JC_REJECT_ENTRY, "tape %u: guard count %u, not %u", i,
                 e.guards, run < 255 ? run : 255);
    run = e.op == JC_TAPE_GUARD ? run + 1 : 0;
  }
  return JC_REJECT_NONE;
}

/* Slots: known type, references that exist in this kind of trace. */
static jc_reject check_slots(pctx *c) {
  uint32_t n = scount(c, JC_SECT_SLOTS);
  uint32_t code_len = c->sect[JC_SECT_CODE].length;
  uint32_t strings_len = scount(c, JC_SECT_STRINGS);
  const uint8_t *strings = sdata(c, JC_SECT_STRINGS);
  bool bridge = c->hdr.kind == JC_FMT_BRIDGE;
  for (uint32_t i = 0; i < n; i++) {
    struct jc_fmt_slot e;
    ENTRY_AT(c, JC_SECT_SLOTS, i, &e);
    if (e.pad != 0) return bad(c, JC_REJECT_ENTRY, "slot %u: pad not 0", i);
    switch (e.type) {
    case JC_SLOT_BOUND:
      if (e.ref != 0 || e.arg != 0)
        return bad(c, JC_REJECT_ENTRY, "slot %u: bound slot with ref/arg", i);
      break;
    case JC_SLOT_SYMBOL:
      if (e.ref != 0)
        return bad(c, JC_REJECT_ENTRY, "slot %u: symbol slot with ref %u", i,
                   e.ref);
      if (e.arg >= strings_len)
        return bad(c, JC_REJECT_BOUNDS, "slot %u: symbol at %u >= strings %u",
                   i, e.arg, strings_len);
      if (strings[e.arg] == 0)
        return bad(c, JC_REJECT_ENTRY, "slot %u: empty symbol name", i);
      break;
    case JC_SLOT_ARENA:
      if (e.ref != JC_REF_SELF && e.ref != JC_REF_PARENT &&
          e.ref != JC_REF_ROOT)
        return bad(c, JC_REJECT_ENTRY, "slot %u: bad arena ref %u", i, e.ref);
      if (e.ref != JC_REF_SELF && !bridge)
        return bad(c, JC_REJECT_ENTRY, "slot %u: parent/root ref in a loop", i);
      /* Offsets into another trace are checked when that trace is known. */
      if (e.ref == JC_REF_SELF && e.arg >= code_len)
        return bad(c, JC_REJECT_BOUNDS, "slot %u: arena offset %u >= code %u",
                   i, e.arg, code_len);
      break;
    default:
      return bad(c, JC_REJECT_ENTRY, "slot %u: bad type %u", i, e.type);
    }
  }
  return JC_REJECT_NONE;
}

/* Relocations: the patched field lies inside the code, the slot exists. */
static jc_reject check_relocs(pctx *c) {
  static const uint8_t zero[7];
  uint32_t n = scount(c, JC_SECT_RELOCS), nslots = scount(c, JC_SECT_SLOTS);
  uint32_t code_len = c->sect[JC_SECT_CODE].length;
  for (uint32_t i = 0; i < n; i++) {
    struct jc_fmt_reloc e;
    ENTRY_AT(c, JC_SECT_RELOCS, i, &e);
    uint32_t width;
    switch (e.kind) {
    case JC_RELOC_ABS64: width = 8; break;
    case JC_RELOC_ABS32:
    case JC_RELOC_REL32:
    case JC_RELOC_CELL32: width = 4; break;
    default: return bad(c, JC_REJECT_ENTRY, "reloc %u: bad kind %u", i, e.kind);
    }
    if ((uint64_t)e.off + width > code_len)
      return bad(c, JC_REJECT_BOUNDS,
                 "reloc %u: offset %u + width %u > code %u", i, e.off, width,
                 code_len);
    if (e.slot >= nslots)
      return bad(c, JC_REJECT_ENTRY, "reloc %u: slot %u >= %u slots", i,
                 e.slot, nslots);
    if (memcmp(e.pad, zero, sizeof zero) != 0)
      return bad(c, JC_REJECT_ENTRY, "reloc %u: pad not 0", i);
  }
  return JC_REJECT_NONE;
}

/* Exits: a REL32 exit's field sits inside one aligned 8-byte word of the
** code (a live attach is a single aligned atomic store), a SLOT exit's
** 8-byte field inside the code; the stub is inside the code; guard numbers
** are unique (an exit is found by its guard). */
static jc_reject check_exits(pctx *c) {
  uint32_t n = scount(c, JC_SECT_EXITS);
  uint32_t code_len = c->sect[JC_SECT_CODE].length;
  guardset g;
  if (!gs_init(&g, n))
    return bad(c, JC_REJECT_ENTRY, "exits: out of memory checking guards");
  jc_reject r = JC_REJECT_NONE;
  for (uint32_t i = 0; i < n && r == JC_REJECT_NONE; i++) {
    struct jc_fmt_exit e;
    ENTRY_AT(c, JC_SECT_EXITS, i, &e);
    uint32_t width = e.kind == JC_EXIT_SLOT ? 8 : 4;
    if (e.kind != JC_EXIT_REL32 && e.kind != JC_EXIT_SLOT)
      r = bad(c, JC_REJECT_ENTRY, "exit %u: bad kind %u", i, e.kind);
    else if ((uint64_t)e.field_off + width > code_len)
      r = bad(c, JC_REJECT_BOUNDS, "exit %u: field %u + %u > code %u", i,
              e.field_off, width, code_len);
    else if (e.kind == JC_EXIT_REL32 && e.field_off % 8 > 4)
      r = bad(c, JC_REJECT_ENTRY, "exit %u: field %u straddles an 8-byte word",
              i, e.field_off);
    else if (e.stub_off >= code_len &&
             (e.kind == JC_EXIT_SLOT || e.stub_off != JC_NO_STUB))
      r = bad(c, JC_REJECT_BOUNDS, "exit %u: stub %u outside code %u", i,
              e.stub_off, code_len);
    else
      g.v[g.n++] = e.guard;
  }
  uint32_t dup;
  if (r == JC_REJECT_NONE && gs_build(&g, &dup))
    r = bad(c, JC_REJECT_ENTRY, "exits: guard %u appears twice", dup);
  gs_free(&g);
  return r;
}

/* Patch points: 8 aligned bytes inside the code, after a guard on the tape
** (or after any guard: JC_GUARD_ANY). */
static jc_reject check_patches(pctx *c) {
  uint32_t n = scount(c, JC_SECT_PATCHES);
  uint32_t code_len = c->sect[JC_SECT_CODE].length;
  if (n == 0) return JC_REJECT_NONE;
  for (uint32_t i = 0; i < n; i++) {
    struct jc_fmt_patch e;
    ENTRY_AT(c, JC_SECT_PATCHES, i, &e);
    if (e.off % 8 != 0)
      return bad(c, JC_REJECT_BOUNDS, "patch %u: offset %u not 8-aligned", i,
                 e.off);
    if ((uint64_t)e.off + 8 > code_len)
      return bad(c, JC_REJECT_BOUNDS, "patch %u: offset %u + 8 > code %u", i,
                 e.off, code_len);
    if (e.end <= e.off || e.end > code_len)
      return bad(c, JC_REJECT_BOUNDS, "patch %u: end %u not in (%u, %u]", i,
                 e.end, e.off, code_len);
    if (e.target_off >= code_len)
      return bad(c, JC_REJECT_BOUNDS, "patch %u: target %u >= code %u", i,
                 e.target_off, code_len);
  }
  /* Every patch names a guard the tape passes (JC_GUARD_ANY: any). */
  bool named = false;
  for (uint32_t i = 0; i < n && !named; i++) {
    struct jc_fmt_patch e;
    ENTRY_AT(c, JC_SECT_PATCHES, i, &e);
    named = e.after_guard != JC_GUARD_ANY;
  }
  if (!named) return JC_REJECT_NONE;
  if (!c->gbig) {
    /* The usual case: the bitmap check_tape built. */
    for (uint32_t i = 0; i < n; i++) {
      struct jc_fmt_patch e;
      ENTRY_AT(c, JC_SECT_PATCHES, i, &e);
      if (e.after_guard != JC_GUARD_ANY &&
          (e.after_guard / 64 >= c->gwords ||
           !(c->gbits[e.after_guard / 64] >> (e.after_guard % 64) & 1)))
        return bad(c, JC_REJECT_ENTRY, "patch %u: guard %u is not on the tape",
                   i, e.after_guard);
    }
    return JC_REJECT_NONE;
  }
  uint32_t ntape = scount(c, JC_SECT_TAPE);
  guardset g;
  if (!gs_init(&g, ntape))
    return bad(c, JC_REJECT_ENTRY, "patches: out of memory checking guards");
  for (uint32_t i = 0; i < ntape; i++) {
    struct jc_fmt_tape t;
    ENTRY_AT(c, JC_SECT_TAPE, i, &t);
    if (t.op == JC_TAPE_GUARD) g.v[g.n++] = t.arg;
  }
  uint32_t dup; /* guards may share a number: not an error here */
  (void)gs_build(&g, &dup);
  jc_reject r = JC_REJECT_NONE;
  for (uint32_t i = 0; i < n; i++) {
    struct jc_fmt_patch e;
    ENTRY_AT(c, JC_SECT_PATCHES, i, &e);
    if (e.after_guard != JC_GUARD_ANY && !gs_has(&g, e.after_guard)) {
      r = bad(c, JC_REJECT_ENTRY, "patch %u: guard %u is not on the tape", i,
              e.after_guard);
      break;
    }
  }
  gs_free(&g);
  return r;
}

/* The parent link of a bridge (presence and count checked with the table). */
static jc_reject check_parent(pctx *c) {
  if (!c->have[JC_SECT_PARENT]) return JC_REJECT_NONE;
  struct jc_fmt_parent e;
  ENTRY_AT(c, JC_SECT_PARENT, 0, &e);
  if (e.trace_id == 0) return bad(c, JC_REJECT_ENTRY, "parent: trace id 0");
  if (e.pad != 0) return bad(c, JC_REJECT_ENTRY, "parent: pad not 0");
  return JC_REJECT_NONE;
}

/* Source lines: inside the code, in code order, file names in the strings. */
static jc_reject check_lines(pctx *c) {
  uint32_t n = scount(c, JC_SECT_LINES);
  uint32_t code_len = c->sect[JC_SECT_CODE].length;
  uint32_t strings_len = scount(c, JC_SECT_STRINGS);
  uint32_t prev = 0;
  for (uint32_t i = 0; i < n; i++) {
    struct jc_fmt_line e;
    ENTRY_AT(c, JC_SECT_LINES, i, &e);
    if (e.off >= code_len)
      return bad(c, JC_REJECT_BOUNDS, "line %u: offset %u >= code %u", i,
                 e.off, code_len);
    if (e.off < prev)
      return bad(c, JC_REJECT_ENTRY, "line %u: offset %u < previous %u", i,
                 e.off, prev);
    if (e.file >= strings_len)
      return bad(c, JC_REJECT_BOUNDS, "line %u: file at %u >= strings %u", i,
                 e.file, strings_len);
    if (e.pad != 0) return bad(c, JC_REJECT_ENTRY, "line %u: pad not 0", i);
    prev = e.off;
  }
  return JC_REJECT_NONE;
}

/* Step 6: every entry, in section order. */
static jc_reject check_entries(pctx *c) {
  uint32_t code_len = c->sect[JC_SECT_CODE].length;
  if (c->hdr.entry_off >= code_len)
    return bad(c, JC_REJECT_BOUNDS, "entry offset %u >= code %u",
               c->hdr.entry_off, code_len);
  jc_reject (*const checks[])(pctx *) = {
      check_tape,    check_slots,  check_relocs, check_exits,
      check_patches, check_parent, check_lines,
  };
  for (size_t i = 0; i < JC_COUNTOF(checks); i++) {
    jc_reject r = checks[i](c);
    if (r != JC_REJECT_NONE) return r;
  }
  return JC_REJECT_NONE;
}

/* -- Parsing: entry point ------------------------------------------------- */

/* Absent sections read as empty but never as NULL, so a caller's
** memcpy(dst, v->aux, v->aux_len) is defined even when there is nothing. */
static const uint8_t empty_sect[8];

/* Step 7: point the view into the validated record. */
static void fill_view(const pctx *c, jc_view *v) {
  memset(v, 0, sizeof *v);
  v->base = c->b;
  v->len = c->len;
  v->hdr = c->hdr;
#define SECT_PTR(type) (c->have[type] ? sdata(c, type) : empty_sect)
  v->code = SECT_PTR(JC_SECT_CODE);
  v->code_len = scount(c, JC_SECT_CODE);
  v->tape = SECT_PTR(JC_SECT_TAPE);
  v->ntape = scount(c, JC_SECT_TAPE);
  v->slots = SECT_PTR(JC_SECT_SLOTS);
  v->nslots = scount(c, JC_SECT_SLOTS);
  v->relocs = SECT_PTR(JC_SECT_RELOCS);
  v->nrelocs = scount(c, JC_SECT_RELOCS);
  v->exits = SECT_PTR(JC_SECT_EXITS);
  v->nexits = scount(c, JC_SECT_EXITS);
  v->patches = SECT_PTR(JC_SECT_PATCHES);
  v->npatches = scount(c, JC_SECT_PATCHES);
  v->strings = (const char *)SECT_PTR(JC_SECT_STRINGS);
  v->strings_len = scount(c, JC_SECT_STRINGS);
  v->name = (const char *)SECT_PTR(JC_SECT_NAME); /* "" when absent */
  v->lines = SECT_PTR(JC_SECT_LINES);
  v->nlines = scount(c, JC_SECT_LINES);
  v->aux = SECT_PTR(JC_SECT_AUX);
  v->aux_len = scount(c, JC_SECT_AUX);
#undef SECT_PTR
  if (c->have[JC_SECT_PARENT]) {
    struct jc_fmt_parent p;
    ENTRY_AT(c, JC_SECT_PARENT, 0, &p);
    v->parent_id = p.trace_id;
    v->parent_exit = p.exit;
  }
}

jc_reject jc_fmt_parse(const void *buf, size_t len, jc_key ns, jc_view *v,
                       char *detail, size_t detail_len) {
  pctx c;
  uint64_t gbits[GS_BITS / 64]; /* zeroed as used (check_tape) */
  memset(&c, 0, sizeof c);
  c.gbits = gbits;
  c.b = buf;
  c.detail = detail;
  c.detail_len = detail_len;
  if (detail && detail_len > 0) detail[0] = '\0';
  if (buf == NULL) len = 0; /* nothing to read: reported as truncated */
  jc_reject r = check_envelope(&c, len, ns);
  if (r == JC_REJECT_NONE) r = check_header(&c);
  if (r == JC_REJECT_NONE) r = check_sections(&c);
  if (r == JC_REJECT_NONE) r = check_entries(&c);
  if (r == JC_REJECT_NONE && v) fill_view(&c, v);
  return r;
}

/* -- Building ------------------------------------------------------------- */

/* One section to write: its table entry and where its payload comes from. */
typedef struct bsect {
  uint32_t type, count;
  uint64_t length;
  const void *src;
} bsect;

/* Check one entry section's count and queue it if it has entries. */
static jc_err plan_entries(bsect *s, int *ns, int type, const void *src,
                           uint32_t count, bool always) {
  if (count > JC_FMT_MAX_ENTRIES)
    return jc_fail(JC_LIMIT, "record: %u %s entries exceed the limit of %u",
                   count, sect_info[type].name, JC_FMT_MAX_ENTRIES);
  if (count > 0 && src == NULL)
    return jc_fail(JC_INVAL, "record: %u %s entries but no array", count,
                   sect_info[type].name);
  if (count > 0 || always)
    s[(*ns)++] = (bsect){(uint32_t)type, count,
                         (uint64_t)count * sect_info[type].esize, src};
  return JC_OK;
}

/* Queue a byte section if it has bytes (CODE always). */
static jc_err plan_bytes(bsect *s, int *ns, int type, const void *src,
                         uint64_t len) {
  if (len > JC_FMT_MAX_RECORD)
    return jc_fail(JC_LIMIT, "record: %s of %llu bytes exceeds the limit",
                   sect_info[type].name, (unsigned long long)len);
  if (len > 0 && src == NULL)
    return jc_fail(JC_INVAL, "record: %s of %llu bytes but no data",
                   sect_info[type].name, (unsigned long long)len);
  if (len > 0) s[(*ns)++] = (bsect){(uint32_t)type, (uint32_t)len, len, src};
  return JC_OK;
}

/* Set each tape entry's count of the GUARDs right after it (the parts'
** own value is ignored). */
static void count_guards(uint8_t *tape, uint32_t n) {
  const size_t esz = sizeof(struct jc_fmt_tape);
  uint32_t run = 0;
  for (uint32_t i = n; i-- > 0;) {
    tape[i * esz + offsetof(struct jc_fmt_tape, guards)] = (uint8_t)(run < 255 ? run : 255);
    run = tape[i * esz] == JC_TAPE_GUARD ? run + 1 : 0;
  }
}

jc_err jc_fmt_build(const jc_fmt_parts *p, void **out, size_t *out_len,
                    uint64_t *trace_id) {
  if (out) *out = NULL;
  if (out_len) *out_len = 0;
  /* Only limits are checked here, plus the arguments that would make the
  ** copy itself unsafe (JC_INVAL).  The content (offsets, indices) is the
  ** parser's business: callers parse what they built before storing it. */
  if (!p || !out || !out_len) return jc_fail(JC_INVAL, "record: NULL argument");
  if (p->kind != JC_FMT_LOOP && p->kind != JC_FMT_BRIDGE)
    return jc_fail(JC_INVAL, "record: bad trace kind %u", p->kind);
  if (p->code_len < 1 || p->code_len > JC_FMT_MAX_CODE)
    return jc_fail(JC_LIMIT, "record: code of %u bytes not in [1, %u]",
                   p->code_len, JC_FMT_MAX_CODE);

  /* The sections, in type order.  CODE and TAPE are always present (an
  ** empty tape is a valid, if unusual, trace); the rest only with content. */
  bsect s[JC_SECT__MAX];
  int n = 0;
  jc_err err = JC_OK;
  struct jc_fmt_parent parent = {p->parent_id, p->parent_exit, 0};
  uint64_t name_len = p->name && p->name[0] ? strlen(p->name) + 1 : 0;
  bool bridge = p->kind == JC_FMT_BRIDGE;
  if (!err) err = plan_bytes(s, &n, JC_SECT_CODE, p->code, p->code_len);
  if (!err) err = plan_entries(s, &n, JC_SECT_TAPE, p->tape, p->ntape, true);
  if (!err)
    err = plan_entries(s, &n, JC_SECT_SLOTS, p->slots, p->nslots, false);
  if (!err)
    err = plan_entries(s, &n, JC_SECT_RELOCS, p->relocs, p->nrelocs, false);
  if (!err)
    err = plan_entries(s, &n, JC_SECT_EXITS, p->exits, p->nexits, false);
  if (!err)
    err = plan_entries(s, &n, JC_SECT_PATCHES, p->patches, p->npatches, false);
  if (!err)
    err = plan_bytes(s, &n, JC_SECT_STRINGS, p->strings, p->strings_len);
  if (!err && bridge)
    err = plan_entries(s, &n, JC_SECT_PARENT, &parent, 1, true);
  if (!err) err = plan_bytes(s, &n, JC_SECT_NAME, p->name, name_len);
  if (!err)
    err = plan_entries(s, &n, JC_SECT_LINES, p->lines, p->nlines, false);
  if (!err) err = plan_bytes(s, &n, JC_SECT_AUX, p->aux, p->aux_len);
  if (err) return err;

  /* Lay out: header, table, then each payload at an 8-aligned offset.  The
  ** sum is taken in 64 bits; each term is at most JC_FMT_MAX_RECORD. */
  uint32_t off[JC_SECT__MAX];
  uint64_t total = HDR_SIZE + (uint64_t)n * SECT_SIZE;
  for (int i = 0; i < n; i++) {
    total = align8(total);
    if (total > JC_FMT_MAX_RECORD) break;
    off[i] = (uint32_t)total;
    total += s[i].length;
  }
  if (total > JC_FMT_MAX_RECORD)
    return jc_fail(JC_LIMIT, "record of %llu+ bytes exceeds the limit of %u",
                   (unsigned long long)total, JC_FMT_MAX_RECORD);

  uint8_t *buf = calloc(1, (size_t)total); /* padding and id start zeroed */
  if (!buf)
    return jc_fail(JC_NOMEM, "record: cannot allocate %llu bytes",
                   (unsigned long long)total);
  struct jc_fmt_hdr h;
  memset(&h, 0, sizeof h);
  h.magic = JC_FMT_MAGIC;
  h.version = JC_FORMAT_VERSION;
  h.hdr_size = HDR_SIZE;
  h.total_len = (uint32_t)total;
  h.kind = p->kind;
  h.nsections = (uint16_t)n;
  h.ns_lo = p->ns.lo;
  h.ns_hi = p->ns.hi;
  h.key_lo = p->key.lo;
  h.key_hi = p->key.hi;
  h.entry_off = p->entry_off;
  memcpy(buf, &h, sizeof h);
  for (int i = 0; i < n; i++) {
    struct jc_fmt_sect t = {s[i].type, s[i].count, off[i],
                            (uint32_t)s[i].length};
    memcpy(buf + HDR_SIZE + (size_t)i * SECT_SIZE, &t, sizeof t);
    if (s[i].length) memcpy(buf + off[i], s[i].src, (size_t)s[i].length);
    if (s[i].type == JC_SECT_TAPE) count_guards(buf + off[i], s[i].count);
  }

  /* The trace id hashes the content with id, checksum and `created` still
  ** zero, so the same trace recorded twice gets the same id whenever it was
  ** recorded.  0 means "no trace" everywhere, hence the remap. */
  uint64_t id = jc_hash64(buf, (size_t)total);
  if (id == 0) id = 1;
  memcpy(buf + offsetof(struct jc_fmt_hdr, trace_id), &id, sizeof id);
  memcpy(buf + offsetof(struct jc_fmt_hdr, created), &p->created,
         sizeof p->created);
  uint64_t sum = jc_hash64(buf + CSUM_FROM, (size_t)total - CSUM_FROM);
  memcpy(buf + offsetof(struct jc_fmt_hdr, checksum), &sum, sizeof sum);

  *out = buf;
  *out_len = (size_t)total;
  if (trace_id) *trace_id = id;
  return JC_OK;
}
