/*
** gdbjit/unwind.c — call frame information for traces (x86-64).
**
** gdb and perf need to know, at every address of a trace, where the caller's
** frame is: the CFA (canonical frame address) and where the return address
** and callee-saved registers are.  The record format has no frame table yet,
** so it is derived from the code, for the shape every simple backend emits:
**
**   entry:     push r ...; [sub rsp, N]        the prologue
**   body:      CFA = rsp + 8 + 8*pushes + N     (the whole trace)
**   epilogue:  [add rsp, N]; pop r ... (reverse order); ret | jmp
**
** Every epilogue with exactly the reverse of the prologue is described
** instruction by instruction (remember_state / restore_state around it).  A
** bridge is entered by a jump from its parent's exit, inside the parent's
** frame, so it starts in the parent's body state.
**
** The byte patterns are searched, not decoded, so a match may lie inside an
** immediate.  That only changes the rows of addresses that are not
** instruction starts, where no debugger or profiler ever stops.
** This is the only architecture-specific file of gdbjit/.
*/
#include <string.h>

#include "gdbjit.h"

/* DWARF CFA opcodes. */
enum {
  CFA_advance_loc = 0x40, CFA_offset = 0x80, CFA_restore = 0xc0,
  CFA_nop = 0x00, CFA_advance_loc1 = 0x02, CFA_advance_loc2 = 0x03,
  CFA_advance_loc4 = 0x04, CFA_remember_state = 0x0a,
  CFA_restore_state = 0x0b, CFA_def_cfa_offset = 0x0e
};

#define MAX_PUSH 16
#define MAX_PROLOGUE 64

/* The frame of a trace's body. */
typedef struct frame {
  int npush;
  uint8_t reg[MAX_PUSH];  /* DWARF numbers, in push order */
  uint32_t sub;           /* sub rsp, N after the pushes */
  uint32_t end;           /* prologue end (code offset) */
  uint32_t push_end[MAX_PUSH], sub_end; /* offsets after each instruction */
} frame;

/* x86 register encoding (0..7, +8 with REX.B) to DWARF number. */
static const uint8_t x86_to_dw[16] = {0, 2, 1, 3, 7, 6, 4, 5,
                                      8, 9, 10, 11, 12, 13, 14, 15};

static uint32_t cfa_of(const frame *f) {
  return 8 + 8 * (uint32_t)f->npush + f->sub;
}

/* Recognize the prologue at code[at ..]. */
static void scan_prologue(const uint8_t *c, uint32_t size, uint32_t at,
                          frame *f) {
  memset(f, 0, sizeof *f);
  uint32_t p = at, lim = size < at + MAX_PROLOGUE ? size : at + MAX_PROLOGUE;
  while (p < lim && f->npush < MAX_PUSH && !f->sub) {
    if (c[p] >= 0x50 && c[p] <= 0x57 && c[p] != 0x54) {
      f->reg[f->npush] = x86_to_dw[c[p] - 0x50];
      p += 1;
    } else if (p + 1 < lim && c[p] == 0x41 && c[p + 1] >= 0x50 &&
               c[p + 1] <= 0x57) {
      f->reg[f->npush] = x86_to_dw[8 + c[p + 1] - 0x50];
      p += 2;
    } else if (p + 3 < lim && c[p] == 0x48 && c[p + 1] == 0x83 &&
               c[p + 2] == 0xEC && c[p + 3] < 0x80) {
      f->sub = c[p + 3];
      f->sub_end = p += 4;
      break;
    } else if (p + 6 < lim && c[p] == 0x48 && c[p + 1] == 0x81 &&
               c[p + 2] == 0xEC) {
      uint32_t n;
      memcpy(&n, c + p + 3, 4);
      if (n >= (1u << 24)) break; /* not a frame size */
      f->sub = n;
      f->sub_end = p += 7;
      break;
    } else {
      break;
    }
    f->push_end[f->npush++] = p;
  }
  f->end = p;
}

/* The epilogue that undoes `f`, as bytes: [add rsp, N] pop... (reverse). */
static size_t epilogue_bytes(const frame *f, uint8_t *e, uint8_t *len,
                             size_t cap) {
  size_t n = 0, k = 0;
  if (f->sub) {
    if (f->sub < 0x80) {
      uint8_t ins[4] = {0x48, 0x83, 0xC4, (uint8_t)f->sub};
      memcpy(e + n, ins, 4), n += 4;
      len[k++] = 4;
    } else {
      uint8_t ins[7] = {0x48, 0x81, 0xC4};
      memcpy(ins + 3, &f->sub, 4);
      memcpy(e + n, ins, 7), n += 7;
      len[k++] = 7;
    }
  }
  for (int i = f->npush - 1; i >= 0 && n + 2 <= cap; i--) {
    uint8_t dw = f->reg[i], enc = 0;
    for (uint8_t x = 0; x < 16; x++)
      if (x86_to_dw[x] == dw) enc = x;
    if (enc >= 8) e[n++] = 0x41, len[k++] = 2;
    else len[k++] = 1;
    e[n++] = (uint8_t)(0x58 + (enc & 7));
  }
  return n;
}

/* -- A bounded CFA program writer -------------------------------------------- */

typedef struct prog {
  uint8_t *p;
  size_t n, cap;
  uint32_t loc; /* code offset the rows have reached */
  bool full;
} prog;

static void op(prog *g, uint8_t b) {
  if (g->n < g->cap) g->p[g->n++] = b;
  else g->full = true;
}
static void uleb(prog *g, uint64_t v) {
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    op(g, (uint8_t)(b | (v ? 0x80 : 0)));
  } while (v);
}
static void advance(prog *g, uint32_t to) {
  if (to <= g->loc) return;
  uint32_t d = to - g->loc;
  if (d < 0x40) {
    op(g, (uint8_t)(CFA_advance_loc | d));
  } else if (d <= 0xff) {
    op(g, CFA_advance_loc1), op(g, (uint8_t)d);
  } else if (d <= 0xffff) {
    op(g, CFA_advance_loc2), op(g, (uint8_t)d), op(g, (uint8_t)(d >> 8));
  } else {
    op(g, CFA_advance_loc4);
    for (int i = 0; i < 4; i++) op(g, (uint8_t)(d >> (8 * i)));
  }
  g->loc = to;
}
static void def_cfa_offset(prog *g, uint32_t off) {
  op(g, CFA_def_cfa_offset);
  uleb(g, off);
}
/* Register `reg` saved at CFA - off (data alignment factor -8). */
static void saved_at(prog *g, uint8_t reg, uint32_t off) {
  op(g, (uint8_t)(CFA_offset | reg));
  uleb(g, off / 8);
}

/* The body state of `f`, all at once (a bridge's start). */
static void body_state(prog *g, const frame *f) {
  def_cfa_offset(g, cfa_of(f));
  for (int i = 0; i < f->npush; i++) saved_at(g, f->reg[i], 16 + 8 * (uint32_t)i);
}

/* Rows for every epilogue of `f` in code[from .. size), terminated by ret,
** jmp rel32 or jmp rel8. */
static void epilogues(prog *g, const uint8_t *c, uint32_t size, uint32_t from,
                      const frame *f) {
  uint8_t e[MAX_PUSH * 2 + 8], len[MAX_PUSH + 1];
  size_t elen = epilogue_bytes(f, e, len, sizeof e);
  if (elen == 0) return;
  size_t nins = (size_t)f->npush + (f->sub ? 1 : 0);
  for (uint32_t q = from; q + elen < size; q++) {
    if (memcmp(c + q, e, elen) != 0) continue;
    uint8_t t = c[q + elen];
    uint32_t tlen = t == 0xC3 ? 1 : t == 0xE9 ? 5 : t == 0xEB ? 2 : 0;
    if (!tlen || q + elen + tlen > size) continue;
    advance(g, q);
    op(g, CFA_remember_state);
    uint32_t cfa = cfa_of(f), at = q;
    size_t k = 0;
    if (f->sub) {
      at += len[k++];
      cfa -= f->sub;
      advance(g, at);
      def_cfa_offset(g, cfa);
    }
    for (int i = f->npush - 1; i >= 0 && k < nins; i--) {
      at += len[k++];
      cfa -= 8;
      advance(g, at);
      def_cfa_offset(g, cfa);
      op(g, (uint8_t)(CFA_restore | f->reg[i]));
    }
    at += tlen;
    if (at < size) {
      advance(g, at);
      op(g, CFA_restore_state);
    }
    q = at - 1;
  }
}

size_t jc_gdbjit_cfa_program(const jc_trace *t, const jc_trace *parent,
                             uint8_t *out, size_t cap) {
  prog g = {out, 0, cap, 0, false};
  const uint8_t *c = t->code;
  uint32_t size = (uint32_t)t->size;
  if (!c || !size) return 0;
  frame f;
  if (parent && parent->code && parent->size) {
    /* A bridge: the parent's frame, then the same epilogues. */
    scan_prologue(parent->code, (uint32_t)parent->size, parent->entry_off, &f);
    if (f.npush || f.sub) {
      body_state(&g, &f);
      epilogues(&g, c, size, 0, &f);
    }
    return g.full ? 0 : g.n;
  }
  scan_prologue(c, size, t->entry_off, &f);
  if (!f.npush && !f.sub) return 0; /* frameless: the CIE's rule holds */
  uint32_t cfa = 8;
  for (int i = 0; i < f.npush; i++) {
    advance(&g, f.push_end[i]);
    cfa += 8;
    def_cfa_offset(&g, cfa);
    saved_at(&g, f.reg[i], cfa);
  }
  if (f.sub) {
    advance(&g, f.sub_end);
    def_cfa_offset(&g, cfa + f.sub);
  }
  epilogues(&g, c, size, f.end, &f);
  return g.full ? 0 : g.n;
}
