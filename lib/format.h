/*
** lib/format.h — the record format: one trace, as stored in an LMDB value.
**
** A record is untrusted input: another process, a crash or a disk error may
** have written anything.  jc_fmt_parse() checks every length, offset, count
** and index before anything else looks at the record; code past it may rely
** on the invariants listed with each section below.  docs/FORMAT.md is the
** reference for the layout; keep the two in step.
**
** All integers are little-endian.  A record read from the store may sit at
** any alignment, so fields are read with memcpy (jc_ld32/jc_ld64), never by
** dereferencing a struct pointer into the map.
**
**   header       struct jc_fmt_hdr, 96 bytes
**   section table  nsections x struct jc_fmt_sect, 16 bytes each
**   payloads     each section's bytes, at 8-aligned offsets
*/
#ifndef JC_LIB_FORMAT_H
#define JC_LIB_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "jcache/cache.h"

#define JC_FMT_MAGIC 0x5243434au /* "JCCR" read as little-endian u32 */
#define JC_FMT_MAX_SECTIONS 16
#define JC_FMT_MAX_RECORD (64u << 20)  /* whole record */
#define JC_FMT_MAX_CODE (16u << 20)    /* code bytes of one trace */
#define JC_FMT_MAX_ENTRIES (1u << 20)  /* per entry section (byte sections are
                                          bounded by MAX_RECORD / MAX_CODE) */

/* Trace kinds. */
enum { JC_FMT_LOOP = 1, JC_FMT_BRIDGE = 2 };

/* The header.  `checksum` is XXH3-64 of bytes [16, total_len). */
struct jc_fmt_hdr {
  uint32_t magic;      /* JC_FMT_MAGIC */
  uint16_t version;    /* JC_FORMAT_VERSION */
  uint16_t hdr_size;   /* sizeof(struct jc_fmt_hdr) */
  uint64_t checksum;
  uint32_t total_len;  /* the whole record, header included */
  uint16_t kind;       /* JC_FMT_LOOP or JC_FMT_BRIDGE */
  uint16_t nsections;
  uint64_t ns_lo, ns_hi;   /* namespace hash */
  uint64_t key_lo, key_hi; /* lookup key (jc_key_bridge() for a bridge) */
  uint64_t trace_id;       /* content hash, nonzero */
  uint32_t entry_off;      /* entry point, < code length */
  uint32_t flags;          /* 0 */
  uint64_t created;        /* unix seconds, informational */
  uint8_t reserved[16];    /* 0 */
};

struct jc_fmt_sect {
  uint32_t type;   /* JC_SECT_* */
  uint32_t count;  /* entries (bytes for byte sections) */
  uint32_t offset; /* from the start of the record, 8-aligned */
  uint32_t length; /* bytes */
};

/* Section types and their entries.  Invariants after parsing in brackets. */
enum {
  JC_SECT_CODE = 1,    /* machine code bytes [1 <= count <= MAX_CODE] */
  JC_SECT_TAPE = 2,    /* struct jc_fmt_tape */
  JC_SECT_SLOTS = 3,   /* struct jc_fmt_slot */
  JC_SECT_RELOCS = 4,  /* struct jc_fmt_reloc */
  JC_SECT_EXITS = 5,   /* struct jc_fmt_exit */
  JC_SECT_PATCHES = 6, /* struct jc_fmt_patch */
  JC_SECT_STRINGS = 7, /* NUL-terminated strings [last byte is NUL] */
  JC_SECT_PARENT = 8,  /* struct jc_fmt_parent, exactly one for a bridge */
  JC_SECT_NAME = 9,    /* the symbol name, NUL-terminated */
  JC_SECT_LINES = 10,  /* struct jc_fmt_line, sorted by offset */
  JC_SECT_AUX = 11,    /* opaque client bytes */
  JC_SECT__MAX
};

/* Tape entry ops. */
enum { JC_TAPE_GREEN = 1, JC_TAPE_BIND = 2, JC_TAPE_GUARD = 3 };

struct jc_fmt_tape {
  uint8_t op;     /* JC_TAPE_* */
  uint8_t guards; /* GUARD entries right after this one, at most 255: a
                     static binding passes them in one step */
  uint16_t kind;  /* GREEN: client's decision kind */
  uint32_t arg;   /* GREEN: site; BIND: slot [< nslots]; GUARD: guard no. */
  uint64_t fp;    /* GREEN: fingerprint; GUARD: fingerprint of the outcome
                     the trace expects there (0: not recorded); BIND: 0 */
};

/* Slot types. */
enum { JC_SLOT_BOUND = 1, JC_SLOT_SYMBOL = 2, JC_SLOT_ARENA = 3 };

struct jc_fmt_slot {
  uint8_t type;  /* JC_SLOT_* */
  uint8_t ref;   /* ARENA: jc_trace_ref [PARENT/ROOT only in a bridge] */
  uint16_t pad;  /* 0 */
  uint32_t arg;  /* SYMBOL: string offset [< strings length];
                    ARENA: byte offset in the referenced trace's code
                    [< code length for SELF] */
};

struct jc_fmt_reloc {
  uint32_t off;   /* field offset [off + width <= code length] */
  uint32_t slot;  /* [< nslots] */
  uint8_t kind;   /* jc_reloc_kind */
  uint8_t pad[7]; /* 0 */
  int64_t addend;
};

/* How an exit's jump finds its target (jcache/rec.h). */
enum jc_fmt_exit_kind {
  JC_EXIT_REL32 = 0, /* a jmp rel32 in the code, patched to attach */
  JC_EXIT_SLOT = 1   /* an indirect jmp through a slot in data memory whose
                        address the code loads from an 8-byte field */
};
#define JC_NO_STUB UINT32_MAX /* a REL32 exit whose jump leaves the code */

struct jc_fmt_exit {
  uint32_t guard;     /* guard number [unique in the section] */
  uint32_t field_off; /* REL32: the rel32 field [+4 <= code length, inside
                         one aligned 8-byte word]; SLOT: the 8-byte field
                         that holds the slot's address [+8 <= code length] */
  uint32_t stub_off;  /* where the exit goes with no bridge attached [< code
                         length; JC_NO_STUB allowed for REL32 only] */
  uint32_t kind;      /* enum jc_fmt_exit_kind */
};

struct jc_fmt_patch {
  uint32_t after_guard; /* [a GUARD entry with this number is on the tape] */
  uint32_t off;         /* [8-aligned, off + 8 <= code length] */
  uint32_t end;         /* guarded code is [off, end) [off < end <= code] */
  uint32_t target_off;  /* tail-guard stub [< code length] */
};

struct jc_fmt_parent {
  uint64_t trace_id; /* the parent trace [nonzero] */
  uint32_t exit;     /* the parent's guard number */
  uint32_t pad;      /* 0 */
};

struct jc_fmt_line {
  uint32_t off;  /* code offset [< code length, ascending] */
  uint32_t file; /* string offset [< strings length] */
  uint32_t line;
  uint32_t pad;  /* 0 */
};

_Static_assert(sizeof(struct jc_fmt_hdr) == 96, "header is 96 bytes");
_Static_assert(sizeof(struct jc_fmt_sect) == 16, "section entry is 16 bytes");
_Static_assert(sizeof(struct jc_fmt_tape) == 16, "tape entry is 16 bytes");
_Static_assert(sizeof(struct jc_fmt_slot) == 8, "slot entry is 8 bytes");
_Static_assert(sizeof(struct jc_fmt_reloc) == 24, "reloc entry is 24 bytes");
_Static_assert(sizeof(struct jc_fmt_exit) == 16, "exit entry is 16 bytes");
_Static_assert(sizeof(struct jc_fmt_patch) == 16, "patch entry is 16 bytes");
_Static_assert(sizeof(struct jc_fmt_parent) == 16, "parent entry is 16 bytes");
_Static_assert(sizeof(struct jc_fmt_line) == 16, "line entry is 16 bytes");

/* -- Unaligned little-endian loads -------------------------------------- */

static inline uint32_t jc_ld32(const void *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline uint64_t jc_ld64(const void *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* -- Parsed view ---------------------------------------------------------- */

/* A validated record.  Pointers point into the record's bytes (usually the
** store's memory map); entries are read with the jc_view_* accessors, which
** copy them out (the record may be unaligned). */
typedef struct jc_view {
  const uint8_t *base; /* the record */
  uint32_t len;
  struct jc_fmt_hdr hdr;  /* copied out */
  const uint8_t *code;   uint32_t code_len;
  const uint8_t *tape;   uint32_t ntape;
  const uint8_t *slots;  uint32_t nslots;
  const uint8_t *relocs; uint32_t nrelocs;
  const uint8_t *exits;  uint32_t nexits;
  const uint8_t *patches; uint32_t npatches;
  const char *strings;   uint32_t strings_len;
  const char *name;      /* "" if absent */
  const uint8_t *lines;  uint32_t nlines;
  const uint8_t *aux;    uint32_t aux_len;
  /* What the client's prepare hook made of aux on the prefetch thread
  ** (lib/prefetch.c); NULL if it did not run.  Not part of the record. */
  const void *prep;      uint32_t prep_len;
  uint64_t parent_id;    /* 0 for a loop */
  uint32_t parent_exit;
} jc_view;

/* Why a record was rejected; maps onto the rejected_* counters. */
typedef enum jc_reject {
  JC_REJECT_NONE = 0,
  JC_REJECT_TRUNCATED, /* shorter than its header or total_len says */
  JC_REJECT_MAGIC,     /* bad magic, version or header size */
  JC_REJECT_NAMESPACE, /* other namespace (or key / id, checked by caller) */
  JC_REJECT_CHECKSUM,
  JC_REJECT_BOUNDS,    /* a section or offset outside the record or code */
  JC_REJECT_ENTRY      /* bad op, kind, index, count, order, duplicate */
} jc_reject;

const char *jc_fmt_reject_name(jc_reject why);

/* Validate `len` bytes at `buf` as a record of namespace `ns` and fill *v.
** Returns JC_REJECT_NONE or the first reason found; never reads outside
** [buf, buf+len).  `v` may be NULL (validate only); absent sections read as
** count 0 with a non-NULL pointer.  `detail` (may be NULL) receives a short
** human message ("" on success). */
jc_reject jc_fmt_parse(const void *buf, size_t len, jc_key ns, jc_view *v,
                       char *detail, size_t detail_len);

static inline void jc_view_tape(const jc_view *v, uint32_t i,
                                struct jc_fmt_tape *e) {
  memcpy(e, v->tape + (size_t)i * sizeof *e, sizeof *e);
}
static inline void jc_view_slot(const jc_view *v, uint32_t i,
                                struct jc_fmt_slot *e) {
  memcpy(e, v->slots + (size_t)i * sizeof *e, sizeof *e);
}
static inline void jc_view_reloc(const jc_view *v, uint32_t i,
                                 struct jc_fmt_reloc *e) {
  memcpy(e, v->relocs + (size_t)i * sizeof *e, sizeof *e);
}
static inline void jc_view_exit(const jc_view *v, uint32_t i,
                                struct jc_fmt_exit *e) {
  memcpy(e, v->exits + (size_t)i * sizeof *e, sizeof *e);
}
static inline void jc_view_patch(const jc_view *v, uint32_t i,
                                 struct jc_fmt_patch *e) {
  memcpy(e, v->patches + (size_t)i * sizeof *e, sizeof *e);
}
static inline void jc_view_line(const jc_view *v, uint32_t i,
                                struct jc_fmt_line *e) {
  memcpy(e, v->lines + (size_t)i * sizeof *e, sizeof *e);
}

/* -- Building a record ------------------------------------------------------ */

/* The parts of a record, as the recorder holds them (host-aligned arrays). */
typedef struct jc_fmt_parts {
  uint16_t kind;
  jc_key ns, key;
  uint32_t entry_off;
  uint64_t created;
  const void *code; uint32_t code_len;
  const struct jc_fmt_tape *tape; uint32_t ntape;
  const struct jc_fmt_slot *slots; uint32_t nslots;
  const struct jc_fmt_reloc *relocs; uint32_t nrelocs;
  const struct jc_fmt_exit *exits; uint32_t nexits;
  const struct jc_fmt_patch *patches; uint32_t npatches;
  const char *strings; uint32_t strings_len; /* may be 0 */
  const char *name;                          /* may be NULL */
  const struct jc_fmt_line *lines; uint32_t nlines;
  const void *aux; uint32_t aux_len;
  uint64_t parent_id; uint32_t parent_exit;  /* bridges */
} jc_fmt_parts;

/* Serialize into a malloc'd buffer (*out, *out_len), computing the trace id
** (XXH3-64 of everything but the id and checksum; never 0) and checksum.
** Checks limits, not content: parse the result before storing it.
** Returns JC_OK, JC_NOMEM, JC_LIMIT, or JC_INVAL (NULL argument, bad kind,
** NULL array with a nonzero count).  `trace_id` may be NULL. */
jc_err jc_fmt_build(const jc_fmt_parts *p, void **out, size_t *out_len,
                    uint64_t *trace_id);

#endif
