/*
** gdbjit/elf.c — in-memory ELF objects that describe traces to gdb.
**
** One object describes a group of traces (gdbjit.c decides which):
**
**   [0]        null section
**   [1..n]     .text of each trace: SHT_NOBITS at the trace's address (gdb
**              reads the code from the process, so no bytes are copied)
**   .symtab    per trace: NAME over the trace, NAME_exitN / NAME_tailN over
**              its stubs; all global, so `break NAME` finds them
**   .strtab .shstrtab
**   .debug_abbrev .debug_info   per trace one compile unit (name: the
**              trace's first source file) with one subprogram per symbol
**   .debug_line                 per trace one DWARF 4 line program from the
**              trace's line table
**   .debug_frame                one CIE, one FDE per trace (unwind.c)
**
** The CFI is in .debug_frame, which is not allocated.  An allocated
** .eh_frame would need an address; at address 0 (as some JITs do it) it
** overlaps the .eh_frame of every other in-memory object, and gdb's section
** map then takes its slow path on every registration.
**
** The object is ET_REL, like a compiler's output: symbol values are offsets
** in their .text section, whose sh_addr is the trace's absolute address.
** DWARF addresses are absolute (no relocations).
*/
#include <elf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gdbjit.h"

/* -- Byte buffer --------------------------------------------------------------- */

static bool grow(jc_buf *b, size_t need) {
  if (b->err) return false;
  if (b->n + need <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->n + need) cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) {
    b->err = true;
    return false;
  }
  b->p = p;
  b->cap = cap;
  return true;
}

void jc_buf_put(jc_buf *b, const void *src, size_t n) {
  if (n && grow(b, n)) {
    memcpy(b->p + b->n, src, n);
    b->n += n;
  }
}
void jc_buf_u8(jc_buf *b, uint8_t v) { jc_buf_put(b, &v, 1); }
void jc_buf_u16(jc_buf *b, uint16_t v) { jc_buf_put(b, &v, 2); }
void jc_buf_u32(jc_buf *b, uint32_t v) { jc_buf_put(b, &v, 4); }
void jc_buf_u64(jc_buf *b, uint64_t v) { jc_buf_put(b, &v, 8); }
void jc_buf_uleb(jc_buf *b, uint64_t v) {
  do {
    uint8_t x = v & 0x7f;
    v >>= 7;
    jc_buf_u8(b, (uint8_t)(x | (v ? 0x80 : 0)));
  } while (v);
}
void jc_buf_sleb(jc_buf *b, int64_t v) {
  for (;;) {
    uint8_t x = v & 0x7f;
    v >>= 7; /* arithmetic shift: gcc and clang on every target we build */
    bool done = (v == 0 && !(x & 0x40)) || (v == -1 && (x & 0x40));
    jc_buf_u8(b, (uint8_t)(x | (done ? 0 : 0x80)));
    if (done) return;
  }
}
void jc_buf_str(jc_buf *b, const char *s) { jc_buf_put(b, s, strlen(s) + 1); }
void jc_buf_align(jc_buf *b, size_t a, uint8_t fill) {
  while (b->n % a && !b->err) jc_buf_u8(b, fill);
}
void jc_buf_set32(jc_buf *b, size_t at, uint32_t v) {
  if (!b->err && at + 4 <= b->n) memcpy(b->p + at, &v, 4);
}

/* -- Symbols ------------------------------------------------------------------------ */

static void trace_name(const jc_trace *t, char *out, size_t len) {
  if (t->name && t->name[0])
    snprintf(out, len, "%s", t->name);
  else
    snprintf(out, len, "jc_trace_%016llx", (unsigned long long)t->id);
}

static int cmp_sym(const void *a, const void *b) {
  const jc_gdbjit_sym *x = a, *y = b;
  return x->off < y->off ? -1 : x->off > y->off;
}

size_t jc_gdbjit_symbols(const jc_trace *t, jc_gdbjit_sym *out, size_t cap) {
  size_t n = 1;
  char base[96];
  trace_name(t, base, sizeof base);
  out[0].off = 0;
  snprintf(out[0].name, sizeof out[0].name, "%s", base);
  /* An exit's stub is where its jump goes while no bridge is attached. */
  for (uint32_t i = 0; t->code && i < t->nexits && n < cap; i++) {
    uint32_t to = t->exits[i].stub_off;
    if (to == 0 || to >= t->size || to == t->entry_off) continue;
    out[n].off = to;
    snprintf(out[n].name, sizeof out[n].name, "%s_exit%u", base,
             t->exits[i].guard);
    n++;
  }
  for (uint32_t i = 0; i < t->ntails && n < cap; i++) {
    uint32_t to = t->tails[i].pp.target_off;
    if (to == 0 || to >= t->size) continue;
    out[n].off = to;
    snprintf(out[n].name, sizeof out[n].name, "%s_tail%u", base,
             t->tails[i].pp.after_guard);
    n++;
  }
  qsort(out + 1, n - 1, sizeof *out, cmp_sym);
  /* Drop stubs that share an offset (two exits to one stub). */
  size_t m = 1;
  for (size_t i = 1; i < n; i++)
    if (out[i].off != out[m - 1].off) out[m++] = out[i];
  for (size_t i = 0; i < m; i++)
    out[i].size = (i + 1 < m ? out[i + 1].off : (uint32_t)t->size) - out[i].off;
  return m;
}

/* -- Compilation directory ------------------------------------------------------------ */

static char comp_dir[PATH_MAX];

const char *jc_gdbjit_comp_dir(void) {
  if (!comp_dir[0] && !getcwd(comp_dir, sizeof comp_dir)) strcpy(comp_dir, "/");
  return comp_dir;
}

/* -- DWARF ------------------------------------------------------------------------------ */

enum { ABBREV_CU_LINES = 1, ABBREV_CU = 2, ABBREV_SUB = 3 };

static void abbrevs(jc_buf *b) {
  for (int k = 1; k <= 2; k++) {
    jc_buf_uleb(b, (uint64_t)k);
    jc_buf_uleb(b, 0x11); /* DW_TAG_compile_unit */
    jc_buf_u8(b, 1);      /* children */
    jc_buf_uleb(b, 0x25), jc_buf_uleb(b, 0x08); /* producer: string */
    jc_buf_uleb(b, 0x13), jc_buf_uleb(b, 0x05); /* language: data2 */
    jc_buf_uleb(b, 0x03), jc_buf_uleb(b, 0x08); /* name: string */
    jc_buf_uleb(b, 0x1b), jc_buf_uleb(b, 0x08); /* comp_dir: string */
    jc_buf_uleb(b, 0x11), jc_buf_uleb(b, 0x01); /* low_pc: addr */
    jc_buf_uleb(b, 0x12), jc_buf_uleb(b, 0x07); /* high_pc: data8 (length) */
    if (k == ABBREV_CU_LINES)
      jc_buf_uleb(b, 0x10), jc_buf_uleb(b, 0x17); /* stmt_list: sec_offset */
    jc_buf_uleb(b, 0), jc_buf_uleb(b, 0);
  }
  jc_buf_uleb(b, ABBREV_SUB);
  jc_buf_uleb(b, 0x2e); /* DW_TAG_subprogram */
  jc_buf_u8(b, 0);
  jc_buf_uleb(b, 0x03), jc_buf_uleb(b, 0x08); /* name: string */
  jc_buf_uleb(b, 0x3f), jc_buf_uleb(b, 0x19); /* external: flag_present */
  jc_buf_uleb(b, 0x11), jc_buf_uleb(b, 0x01); /* low_pc: addr */
  jc_buf_uleb(b, 0x12), jc_buf_uleb(b, 0x07); /* high_pc: data8 */
  jc_buf_uleb(b, 0), jc_buf_uleb(b, 0);
  jc_buf_uleb(b, 0);
}

/* Index (1-based) of `file` in the trace's distinct files, adding it. */
static uint32_t file_index(const char **files, uint32_t *nfiles, const char *f) {
  for (uint32_t i = 0; i < *nfiles; i++)
    if (files[i] == f || strcmp(files[i], f) == 0) return i + 1;
  files[*nfiles] = f;
  return ++*nfiles;
}

/* One DWARF 4 line program for trace t. */
static void line_program(jc_buf *b, const jc_trace *t) {
  size_t start = b->n;
  jc_buf_u32(b, 0); /* unit_length, patched */
  jc_buf_u16(b, 4);
  size_t hl = b->n;
  jc_buf_u32(b, 0); /* header_length, patched */
  static const uint8_t std_lengths[12] = {0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1};
  jc_buf_u8(b, 1);          /* minimum_instruction_length */
  jc_buf_u8(b, 1);          /* maximum_operations_per_instruction */
  jc_buf_u8(b, 1);          /* default_is_stmt */
  jc_buf_u8(b, (uint8_t)-5); /* line_base */
  jc_buf_u8(b, 14);         /* line_range */
  jc_buf_u8(b, 13);         /* opcode_base */
  jc_buf_put(b, std_lengths, sizeof std_lengths);
  jc_buf_u8(b, 0);          /* no include_directories */
  const char **files = malloc(((size_t)t->nlines + 1) * sizeof *files);
  uint32_t nfiles = 0;
  if (!files) {
    b->err = true;
    return;
  }
  for (uint32_t i = 0; i < t->nlines; i++)
    file_index(files, &nfiles, t->lines[i].file ? t->lines[i].file : "");
  for (uint32_t i = 0; i < nfiles; i++) {
    jc_buf_str(b, files[i]);
    jc_buf_uleb(b, 0), jc_buf_uleb(b, 0), jc_buf_uleb(b, 0);
  }
  jc_buf_u8(b, 0);
  jc_buf_set32(b, hl, (uint32_t)(b->n - hl - 4));

  /* The program. */
  jc_buf_u8(b, 0), jc_buf_uleb(b, 9), jc_buf_u8(b, 2); /* DW_LNE_set_address */
  jc_buf_u64(b, (uint64_t)(uintptr_t)t->code);
  uint32_t file = 1, off = 0;
  int64_t line = 1;
  for (uint32_t i = 0; i < t->nlines; i++) {
    const jc_trace_line *l = &t->lines[i];
    if (l->off >= t->size) break;
    uint32_t f = file_index(files, &nfiles, l->file ? l->file : "");
    if (f != file) jc_buf_u8(b, 4), jc_buf_uleb(b, f), file = f;
    if (l->off > off) jc_buf_u8(b, 2), jc_buf_uleb(b, l->off - off);
    off = l->off;
    if ((int64_t)l->line != line)
      jc_buf_u8(b, 3), jc_buf_sleb(b, (int64_t)l->line - line);
    line = l->line;
    jc_buf_u8(b, 1); /* DW_LNS_copy */
  }
  if (t->size > off) jc_buf_u8(b, 2), jc_buf_uleb(b, t->size - off);
  jc_buf_u8(b, 0), jc_buf_uleb(b, 1), jc_buf_u8(b, 1); /* end_sequence */
  free(files);
  jc_buf_set32(b, start, (uint32_t)(b->n - start - 4));
}

static void compile_unit(jc_buf *b, const jc_trace *t, uint32_t stmt_list,
                         const jc_gdbjit_sym *syms, size_t nsyms) {
  size_t start = b->n;
  uint64_t lo = (uint64_t)(uintptr_t)t->code;
  jc_buf_u32(b, 0); /* unit_length, patched */
  jc_buf_u16(b, 4);
  jc_buf_u32(b, 0); /* debug_abbrev_offset */
  jc_buf_u8(b, 8);
  bool lines = t->nlines > 0;
  jc_buf_uleb(b, lines ? ABBREV_CU_LINES : ABBREV_CU);
  jc_buf_str(b, "jcache gdbjit");
  jc_buf_u16(b, 0x0c); /* DW_LANG_C99: gdb needs some language */
  jc_buf_str(b, lines && t->lines[0].file ? t->lines[0].file : syms[0].name);
  jc_buf_str(b, jc_gdbjit_comp_dir());
  jc_buf_u64(b, lo);
  jc_buf_u64(b, t->size);
  if (lines) jc_buf_u32(b, stmt_list);
  for (size_t i = 0; i < nsyms; i++) {
    jc_buf_uleb(b, ABBREV_SUB);
    jc_buf_str(b, syms[i].name);
    jc_buf_u64(b, lo + syms[i].off);
    jc_buf_u64(b, syms[i].size);
  }
  jc_buf_uleb(b, 0);
  jc_buf_set32(b, start, (uint32_t)(b->n - start - 4));
}

/* The CIE both .debug_frame and .eh_frame use: CFA = rsp + 8, return address
** at CFA - 8 (the state at a call's target).  Code alignment 1, data -8. */
static void cie_body(jc_buf *b, bool eh) {
  jc_buf_u8(b, 1);                /* version */
  jc_buf_str(b, eh ? "zR" : "");  /* augmentation */
  jc_buf_uleb(b, 1);              /* code_alignment_factor */
  jc_buf_sleb(b, -8);             /* data_alignment_factor */
  jc_buf_u8(b, JC_DW_RA);         /* return_address_register */
  if (eh) {
    jc_buf_uleb(b, 1);            /* augmentation data length */
    jc_buf_u8(b, 0x1b);           /* FDE pointers: pcrel | sdata4 */
  }
  jc_buf_u8(b, 0x0c), jc_buf_uleb(b, JC_DW_RSP), jc_buf_uleb(b, 8); /* def_cfa */
  jc_buf_u8(b, 0x80 | JC_DW_RA), jc_buf_uleb(b, 1); /* RA at CFA - 8 */
  jc_buf_align(b, 8, 0);          /* DW_CFA_nop */
}

static const jc_trace *parent_of(const jc_trace *t) {
  return t->parent_id ? jc_trace_find(t->parent_id) : NULL;
}

static void debug_frame_fde(jc_buf *b, const jc_trace *t) {
  uint8_t prog[512];
  size_t plen = jc_gdbjit_cfa_program(t, parent_of(t), prog, sizeof prog);
  size_t start = b->n;
  jc_buf_u32(b, 0);  /* length, patched */
  jc_buf_u32(b, 0);  /* CIE_pointer: the CIE at offset 0 */
  jc_buf_u64(b, (uint64_t)(uintptr_t)t->code);
  jc_buf_u64(b, t->size);
  jc_buf_put(b, prog, plen);
  jc_buf_align(b, 8, 0);
  jc_buf_set32(b, start, (uint32_t)(b->n - start - 4));
}

/* -- The object ---------------------------------------------------------------------------- */

#define MAX_SYMS 64 /* per trace: the trace and its stubs */

enum { S_SYMTAB, S_STRTAB, S_SHSTRTAB, S_ABBREV, S_INFO, S_LINE, S_FRAME, S_N };
static const char *const sect_name[S_N] = {
    ".symtab", ".strtab", ".shstrtab", ".debug_abbrev", ".debug_info",
    ".debug_line", ".debug_frame"};

bool jc_gdbjit_elf_build(jc_trace *const *ts, size_t n, void **obj,
                         size_t *len) {
  *obj = NULL;
  *len = 0;
  jc_buf sect[S_N];
  memset(sect, 0, sizeof sect);
  jc_gdbjit_sym *syms = malloc(MAX_SYMS * sizeof *syms);
  jc_buf out = {0};
  if (!syms) return false;

  /* Section names: ".text" first, shared by every trace's section. */
  jc_buf *shs = &sect[S_SHSTRTAB];
  jc_buf_u8(shs, 0);
  uint32_t name_off[S_N], text_name = (uint32_t)shs->n;
  jc_buf_str(shs, ".text");
  for (int s = 0; s < S_N; s++) {
    name_off[s] = (uint32_t)shs->n;
    jc_buf_str(shs, sect_name[s]);
  }

  jc_buf *sym = &sect[S_SYMTAB], *str = &sect[S_STRTAB];
  Elf64_Sym null_sym = {0};
  jc_buf_put(sym, &null_sym, sizeof null_sym);
  jc_buf_u8(str, 0);
  abbrevs(&sect[S_ABBREV]);
  jc_buf *fr = &sect[S_FRAME];
  size_t cie = fr->n;
  jc_buf_u32(fr, 0);
  jc_buf_u32(fr, 0xffffffffu); /* CIE_id in .debug_frame */
  cie_body(fr, false);
  jc_buf_set32(fr, cie, (uint32_t)(fr->n - cie - 4));

  for (size_t i = 0; i < n; i++) {
    const jc_trace *t = ts[i];
    size_t ns = jc_gdbjit_symbols(t, syms, MAX_SYMS);
    for (size_t k = 0; k < ns; k++) {
      Elf64_Sym s = {
          .st_name = (uint32_t)str->n,
          .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
          .st_shndx = (uint16_t)(1 + i),
          .st_value = syms[k].off,
          .st_size = syms[k].size,
      };
      jc_buf_str(str, syms[k].name);
      jc_buf_put(sym, &s, sizeof s);
    }
    uint32_t stmt = (uint32_t)sect[S_LINE].n;
    if (t->nlines) line_program(&sect[S_LINE], t);
    compile_unit(&sect[S_INFO], t, stmt, syms, ns);
    debug_frame_fde(fr, t);
  }
  free(syms);

  /* Lay out: header, section bytes, section headers. */
  size_t nsh = 1 + n + S_N;
  if (nsh >= SHN_LORESERVE) goto fail; /* groups are far smaller */
  Elf64_Ehdr eh = {
      .e_ident = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB,
                  EV_CURRENT, ELFOSABI_SYSV},
      .e_type = ET_REL,
      .e_machine = EM_X86_64,
      .e_version = EV_CURRENT,
      .e_ehsize = sizeof(Elf64_Ehdr),
      .e_shentsize = sizeof(Elf64_Shdr),
      .e_shnum = (uint16_t)nsh,
      .e_shstrndx = (uint16_t)(1 + n + S_SHSTRTAB),
  };
  jc_buf_put(&out, &eh, sizeof eh);
  size_t at[S_N];
  for (int s = 0; s < S_N; s++) {
    jc_buf_align(&out, 8, 0);
    at[s] = out.n;
    jc_buf_put(&out, sect[s].p, sect[s].n);
    if (sect[s].err) out.err = true;
  }
  jc_buf_align(&out, 8, 0);
  size_t shoff = out.n;
  Elf64_Shdr sh = {0};
  jc_buf_put(&out, &sh, sizeof sh);
  for (size_t i = 0; i < n; i++) {
    sh = (Elf64_Shdr){
        .sh_name = text_name, .sh_type = SHT_NOBITS,
        .sh_flags = SHF_ALLOC | SHF_EXECINSTR,
        .sh_addr = (uint64_t)(uintptr_t)ts[i]->code,
        .sh_offset = at[0], .sh_size = ts[i]->size, .sh_addralign = 16,
    };
    jc_buf_put(&out, &sh, sizeof sh);
  }
  for (int s = 0; s < S_N; s++) {
    sh = (Elf64_Shdr){
        .sh_name = name_off[s],
        .sh_type = s == S_SYMTAB ? SHT_SYMTAB
                   : (s == S_STRTAB || s == S_SHSTRTAB) ? SHT_STRTAB
                   : SHT_PROGBITS,
        .sh_offset = at[s], .sh_size = sect[s].n,
        .sh_addralign = s == S_SYMTAB || s == S_FRAME ? 8 : 1,
    };
    if (s == S_SYMTAB) {
      sh.sh_link = (uint32_t)(1 + n + S_STRTAB);
      sh.sh_info = 1; /* first global symbol */
      sh.sh_entsize = sizeof(Elf64_Sym);
    }
    jc_buf_put(&out, &sh, sizeof sh);
  }
  if (out.err) goto fail;
  ((Elf64_Ehdr *)out.p)->e_shoff = shoff;
  for (int s = 0; s < S_N; s++) free(sect[s].p);
  *obj = out.p;
  *len = out.n;
  return true;

fail:
  for (int s = 0; s < S_N; s++) free(sect[s].p);
  free(out.p);
  return false;
}

/* -- .eh_frame for perf -------------------------------------------------------------------- */

bool jc_gdbjit_eh_frame(const jc_trace *t, const jc_trace *parent, jc_buf *b,
                        size_t *hdr_size) {
  /* Positions are relative to the code's start: perf puts .eh_frame at
  ** align8(code size) after the code, and .eh_frame_hdr right after it. */
  uint64_t base = (t->size + 7) & ~(uint64_t)7;
  size_t b0 = b->n;
  jc_buf_u32(b, 0);
  jc_buf_u32(b, 0); /* CIE_id in .eh_frame */
  cie_body(b, true);
  jc_buf_set32(b, b0, (uint32_t)(b->n - b0 - 4));

  uint8_t prog[512];
  size_t plen = jc_gdbjit_cfa_program(t, parent, prog, sizeof prog);
  size_t fde = b->n;
  jc_buf_u32(b, 0);
  jc_buf_u32(b, (uint32_t)(b->n - b0)); /* back to the CIE */
  int64_t pc_field = (int64_t)base + (int64_t)(b->n - b0);
  jc_buf_u32(b, (uint32_t)(int32_t)(0 - pc_field)); /* pcrel: the code */
  jc_buf_u32(b, (uint32_t)t->size);
  jc_buf_uleb(b, 0); /* augmentation data length */
  jc_buf_put(b, prog, plen);
  jc_buf_align(b, 8, 0);
  jc_buf_set32(b, fde, (uint32_t)(b->n - fde - 4));
  jc_buf_u32(b, 0); /* terminator */
  jc_buf_align(b, 8, 0);

  int64_t eh_len = (int64_t)(b->n - b0);
  int64_t hdr = (int64_t)base + eh_len;
  size_t h0 = b->n;
  jc_buf_u8(b, 1);    /* version */
  jc_buf_u8(b, 0x1b); /* eh_frame_ptr: pcrel | sdata4 */
  jc_buf_u8(b, 0x03); /* fde_count: udata4 */
  jc_buf_u8(b, 0x3b); /* table: datarel | sdata4 */
  jc_buf_u32(b, (uint32_t)(int32_t)((int64_t)base - (hdr + 4)));
  jc_buf_u32(b, 1);
  jc_buf_u32(b, (uint32_t)(int32_t)(0 - hdr));
  jc_buf_u32(b, (uint32_t)(int32_t)((int64_t)base + (int64_t)(fde - b0) - hdr));
  *hdr_size = b->n - h0;
  return !b->err;
}
