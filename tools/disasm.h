/*
** tools/disasm.h — a trace's code disassembled (Zydis), with the sites the
** record knows about marked: relocations, exits, patch points, tail-guard
** stubs, the entry and the line table.  `jcache show` prints it; jcache-top
** can draw the same lines with the flags as highlights.
**
** The code is shown as stored: relocation fields still hold what the
** backend assembled, not this process's values.  Addresses are offsets from
** the start of the trace's code.
*/
#ifndef JC_TOOLS_DISASM_H
#define JC_TOOLS_DISASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "format.h"

enum {
  JT_DIS_RELOC = 1u << 0, /* a relocation field lies in the instruction */
  JT_DIS_EXIT = 1u << 1,  /* an exit's rel32 field lies in it */
  JT_DIS_PATCH = 1u << 2, /* a patch point starts in it */
  JT_DIS_STUB = 1u << 3,  /* a tail-guard stub starts here */
  JT_DIS_ENTRY = 1u << 4, /* the trace's entry point */
  JT_DIS_BAD = 1u << 5    /* bytes Zydis could not decode (shown as .byte) */
};

/* One instruction of the listing. */
typedef struct jt_dis_line {
  uint32_t off, len;       /* code offset and length */
  const uint8_t *bytes;    /* the instruction's bytes (len of them) */
  const char *text;        /* "mov rax, 0x1234" */
  const char *notes;       /* "reloc ABS64 slot 0 (bound); exit guard 0", or "" */
  const char *source;      /* "file:line" when a line-table entry starts in
                              this instruction, else NULL */
  unsigned flags;          /* JT_DIS_* */
} jt_dis_line;

typedef void (*jt_dis_fn)(void *ctx, const jt_dis_line *line);

/* Disassemble a parsed record's code, calling `fn` once per instruction in
** order.  `att` selects AT&T syntax (default Intel).  Returns false if
** Zydis could not be initialised. */
bool jt_disasm(const jc_view *v, bool att, jt_dis_fn fn, void *ctx);

/* Print the listing to `f` (what `jcache show` prints). */
bool jt_disasm_print(FILE *f, const jc_view *v, bool att);

/* "slot 3 (symbol foo)", "slot 0 (bound)", "slot 2 (arena self+0x2c)". */
void jt_slot_desc(const jc_view *v, uint32_t slot, char *buf, size_t n);
/* "ABS64", "ABS32", "REL32" or "kind N". */
const char *jt_reloc_kind_name(unsigned kind, char *buf, size_t n);

#endif
