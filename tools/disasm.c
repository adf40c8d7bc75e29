/*
** tools/disasm.c — disassembly of a trace with its record's sites marked.
**
** The listing is linear: each instruction decodes from the byte after the
** previous one.  A byte Zydis cannot decode is shown as `.byte` and the walk
** goes on one byte later, so every byte of the code, and therefore every
** relocation, exit and patch point, lands in exactly one line.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <Zydis/Zydis.h>

#include "disasm.h"
#include "jcache/rec.h"

/* -- Descriptions --------------------------------------------------------------- */

const char *jt_reloc_kind_name(unsigned kind, char *buf, size_t n) {
  const char *s = jc_reloc_kind_name(kind);
  if (s) return s;
  snprintf(buf, n, "kind %u", kind);
  return buf;
}

void jt_slot_desc(const jc_view *v, uint32_t slot, char *buf, size_t n) {
  if (slot >= v->nslots) {
    snprintf(buf, n, "slot %u (?)", slot);
    return;
  }
  struct jc_fmt_slot s;
  jc_view_slot(v, slot, &s);
  static const char *const ref[] = {"self", "parent", "root"};
  switch (s.type) {
  case JC_SLOT_BOUND: snprintf(buf, n, "slot %u (bound)", slot); break;
  case JC_SLOT_SYMBOL:
    /* The parser checked arg < strings_len and the NUL at the end. */
    snprintf(buf, n, "slot %u (symbol %s)", slot, v->strings + s.arg);
    break;
  case JC_SLOT_ARENA:
    snprintf(buf, n, "slot %u (arena %s+0x%x)", slot,
             s.ref < 3 ? ref[s.ref] : "?", s.arg);
    break;
  default: snprintf(buf, n, "slot %u (type %u)", slot, s.type); break;
  }
}

/* -- Notes ------------------------------------------------------------------------ */

typedef struct notes {
  char buf[1024];
  size_t len;
} notes;

__attribute__((format(printf, 2, 3))) static void note(notes *nt,
                                                       const char *fmt, ...) {
  if (nt->len + 8 >= sizeof nt->buf) return;
  if (nt->len) {
    memcpy(nt->buf + nt->len, "; ", 2);
    nt->len += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(nt->buf + nt->len, sizeof nt->buf - nt->len, fmt, ap);
  va_end(ap);
  if (w > 0) nt->len += (size_t)w;
  if (nt->len >= sizeof nt->buf) nt->len = sizeof nt->buf - 1;
}

static bool in(uint32_t x, uint32_t lo, uint32_t len) {
  return x >= lo && x - lo < len;
}

/* Everything the record says about the code in [off, off+len). */
static unsigned annotate(const jc_view *v, uint32_t off, uint32_t len,
                         notes *nt) {
  unsigned flags = 0;
  if (in(v->hdr.entry_off, off, len)) {
    flags |= JT_DIS_ENTRY;
    note(nt, "entry");
  }
  for (uint32_t i = 0; i < v->npatches; i++) {
    struct jc_fmt_patch p;
    jc_view_patch(v, i, &p);
    if (in(p.target_off, off, len)) {
      flags |= JT_DIS_STUB;
      note(nt, "tail-guard stub (patch after guard %u)", p.after_guard);
    }
  }
  for (uint32_t i = 0; i < v->nexits; i++) {
    struct jc_fmt_exit e;
    jc_view_exit(v, i, &e);
    /* The parser checked stub_off < code_len (or JC_NO_STUB). */
    if (e.stub_off != JC_NO_STUB && e.stub_off == off)
      note(nt, "exit stub of guard %u", e.guard);
  }
  for (uint32_t i = 0; i < v->nrelocs; i++) {
    struct jc_fmt_reloc r;
    jc_view_reloc(v, i, &r);
    if (!in(r.off, off, len)) continue;
    char kb[16], sd[160];
    jt_slot_desc(v, r.slot, sd, sizeof sd);
    flags |= JT_DIS_RELOC;
    if (r.addend)
      note(nt, "reloc %s %s %+lld", jt_reloc_kind_name(r.kind, kb, sizeof kb),
           sd, (long long)r.addend);
    else
      note(nt, "reloc %s %s", jt_reloc_kind_name(r.kind, kb, sizeof kb), sd);
  }
  for (uint32_t i = 0; i < v->nexits; i++) {
    struct jc_fmt_exit e;
    jc_view_exit(v, i, &e);
    if (!in(e.field_off, off, len)) continue;
    flags |= JT_DIS_EXIT;
    note(nt, "exit guard %u (%s at +0x%x)", e.guard,
         e.kind == JC_EXIT_SLOT ? "slot address" : "rel32", e.field_off);
  }
  for (uint32_t i = 0; i < v->npatches; i++) {
    struct jc_fmt_patch p;
    jc_view_patch(v, i, &p);
    if (!in(p.off, off, len)) continue;
    flags |= JT_DIS_PATCH;
    note(nt, "patch point after guard %u: tail [0x%x, 0x%x), stub +0x%x%s",
         p.after_guard, p.off, p.end, p.target_off,
         p.off != off ? " (mid-instruction)" : "");
  }
  return flags;
}

/* The source line starting in [off, off+len), if any (the last one). */
static const char *source_at(const jc_view *v, uint32_t off, uint32_t len,
                             char *buf, size_t n) {
  const char *src = NULL;
  for (uint32_t i = 0; i < v->nlines; i++) {
    struct jc_fmt_line l;
    jc_view_line(v, i, &l);
    if (l.off >= off + len) break; /* sorted by offset */
    if (l.off < off) continue;
    snprintf(buf, n, "%s:%u", v->strings + l.file, l.line);
    src = buf;
  }
  return src;
}

/* -- Listing --------------------------------------------------------------------- */

bool jt_disasm(const jc_view *v, bool att, jt_dis_fn fn, void *ctx) {
  ZydisDecoder dec;
  ZydisFormatter fmt;
  if (ZYAN_FAILED(ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64,
                                   ZYDIS_STACK_WIDTH_64)) ||
      ZYAN_FAILED(ZydisFormatterInit(&fmt, att ? ZYDIS_FORMATTER_STYLE_ATT
                                               : ZYDIS_FORMATTER_STYLE_INTEL)))
    return false;
  /* Offsets are small: print them as they are, not as 64-bit addresses. */
  ZydisFormatterSetProperty(&fmt, ZYDIS_FORMATTER_PROP_HEX_UPPERCASE, ZYAN_FALSE);
  ZydisFormatterSetProperty(&fmt, ZYDIS_FORMATTER_PROP_ADDR_PADDING_ABSOLUTE,
                            ZYDIS_PADDING_DISABLED);
  ZydisFormatterSetProperty(&fmt, ZYDIS_FORMATTER_PROP_IMM_PADDING,
                            ZYDIS_PADDING_DISABLED);

  uint32_t off = 0;
  while (off < v->code_len) {
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    char text[128];
    uint32_t len = 1;
    unsigned flags = 0;
    if (ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, v->code + off,
                                            v->code_len - off, &insn, ops)) &&
        ZYAN_SUCCESS(ZydisFormatterFormatInstruction(
            &fmt, &insn, ops, insn.operand_count_visible, text, sizeof text,
            off, NULL))) {
      len = insn.length;
    } else {
      snprintf(text, sizeof text, ".byte 0x%02x", v->code[off]);
      flags |= JT_DIS_BAD;
    }
    notes nt = {.len = 0};
    nt.buf[0] = '\0';
    flags |= annotate(v, off, len, &nt);
    char src[300];
    jt_dis_line line = {off, len, v->code + off, text, nt.buf,
                        source_at(v, off, len, src, sizeof src), flags};
    fn(ctx, &line);
    off += len;
  }
  return true;
}

static void print_line(void *ctx, const jt_dis_line *l) {
  FILE *f = ctx;
  enum { PER_LINE = 8 };
  if (l->source) fprintf(f, "               ; %s\n", l->source);
  char hex[3 * PER_LINE + 1] = "";
  uint32_t first = l->len < PER_LINE ? l->len : PER_LINE;
  for (uint32_t i = 0; i < first; i++)
    snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02x ", l->bytes[i]);
  if (*l->notes)
    fprintf(f, "  %c %6x:  %-24s %-36s ; %s\n",
            l->flags & (JT_DIS_RELOC | JT_DIS_EXIT | JT_DIS_PATCH) ? '*' : ' ',
            l->off, hex, l->text, l->notes);
  else
    fprintf(f, "    %6x:  %-24s %s\n", l->off, hex, l->text);
  /* Long instructions: the rest of the bytes on continuation lines. */
  for (uint32_t i = PER_LINE; i < l->len; i += PER_LINE) {
    hex[0] = '\0';
    for (uint32_t j = i; j < l->len && j < i + PER_LINE; j++)
      snprintf(hex + 3 * (j - i), sizeof hex - 3 * (j - i), "%02x ", l->bytes[j]);
    fprintf(f, "    %6x:  %s\n", l->off + i, hex);
  }
}

bool jt_disasm_print(FILE *f, const jc_view *v, bool att) {
  return jt_disasm(v, att, print_line, f);
}
