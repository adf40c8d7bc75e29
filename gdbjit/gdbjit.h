/*
** gdbjit/gdbjit.h — making live traces visible to gdb and perf (internal).
**
** The library calls two functions; everything else is gdbjit's business:
**
**   jc_gdbjit_register(t)    the trace's code is live (jc_rec_finish, after a
**                            commit); call it before the client can run it,
**                            so that a pending `break NAME` in gdb is hit.
**   jc_gdbjit_unregister(t)  first thing in jc_trace_release, before the code
**                            is freed, so gdb never has two objects claiming
**                            the same addresses.
**
** Both fail soft: if gdb, perf map or jitdump support cannot start (no memory,
** no disk, an unwritable directory), the trace simply is not described and
** the program runs on.  docs/DEBUGGING.md is the user's guide.
**
** Files: gdbjit.c (modes, the GDB JIT interface, groups, the table that
** jcache-gdb.py reads), elf.c (in-memory ELF/DWARF objects), unwind.c (CFI:
** the only x86-64-specific file), perfmap.c, jitdump.c.
*/
#ifndef JC_GDBJIT_H
#define JC_GDBJIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace.h"

/* -- Called by the library ---------------------------------------------------- */

void jc_gdbjit_register(jc_trace *t);
/* Several traces made live together (one commit): one gdb event at most. */
void jc_gdbjit_register_n(jc_trace *const *ts, size_t n);
void jc_gdbjit_unregister(jc_trace *t);

/* -- Modes (JCACHE_GDB, JCACHE_PERFMAP, JCACHE_JITDUMP) -------------------------- */

typedef enum jc_gdbjit_mode {
  JC_GDBJIT_OFF = 0,  /* nothing at all */
  JC_GDBJIT_LAZY = 1, /* keep a list; build gdb objects once a debugger is
                         seen (TracerPid) or asks (jcache-gdb.py) */
  JC_GDBJIT_ON = 2    /* build and register every trace at once */
} jc_gdbjit_mode;

/* For tests and benchmarks: override the environment (before or between
** registrations).  `group` is the number of traces per gdb object (0: keep). */
void jc_gdbjit_configure(jc_gdbjit_mode gdb, bool perfmap, bool jitdump,
                         uint32_t group);
/* Forget every trace and close the perf files (tests). */
void jc_gdbjit_reset(void);

/* -- Unwind information (unwind.c) ---------------------------------------------- */

/* DWARF register numbers of x86-64. */
enum { JC_DW_RSP = 7, JC_DW_RA = 16 };

/* The CFA instructions for a trace's code, to follow a CIE that says
** "CFA = rsp + 8, return address at CFA - 8" (the state at a call's target).
** Written to out[0 .. cap); returns the length (0 if it does not fit).
** `parent` is the bridge's parent trace (NULL for a loop): a bridge runs in
** its parent's frame. */
size_t jc_gdbjit_cfa_program(const jc_trace *t, const jc_trace *parent,
                             uint8_t *out, size_t cap);

/* -- Objects (elf.c) ------------------------------------------------------------- */

/* A growable byte buffer whose failure is sticky (err set, writes ignored). */
typedef struct jc_buf {
  uint8_t *p;
  size_t n, cap;
  bool err;
} jc_buf;

void jc_buf_put(jc_buf *b, const void *src, size_t n);
void jc_buf_u8(jc_buf *b, uint8_t v);
void jc_buf_u16(jc_buf *b, uint16_t v);
void jc_buf_u32(jc_buf *b, uint32_t v);
void jc_buf_u64(jc_buf *b, uint64_t v);
void jc_buf_uleb(jc_buf *b, uint64_t v);
void jc_buf_sleb(jc_buf *b, int64_t v);
void jc_buf_str(jc_buf *b, const char *s); /* with its NUL */
void jc_buf_align(jc_buf *b, size_t a, uint8_t fill);
void jc_buf_set32(jc_buf *b, size_t at, uint32_t v);

/* A symbol of a trace: the trace itself, or one of its stubs. */
typedef struct jc_gdbjit_sym {
  uint32_t off, size;
  char name[128];
} jc_gdbjit_sym;

/* The trace's symbols, sorted by offset, the trace's own first (at offset 0,
** even if its entry is elsewhere); stubs of exits and tail guards named
** NAME_exitN / NAME_tailN.  Returns the count (<= cap, at least 1). */
size_t jc_gdbjit_symbols(const jc_trace *t, jc_gdbjit_sym *out, size_t cap);

/* Build one ELF object describing `n` traces (.text at each trace's address,
** .symtab, .debug_info/.debug_abbrev/.debug_line, .debug_frame).  Returns a
** malloc'd object in *obj, or false (out of memory). */
bool jc_gdbjit_elf_build(jc_trace *const *ts, size_t n, void **obj,
                         size_t *len);

/* The unwind data of one trace for a jitdump UNWINDING_INFO record: an
** .eh_frame (CIE, FDE, terminator) laid out as if it followed the code at
** offset align8(size), then an .eh_frame_hdr.  Returns false on OOM. */
bool jc_gdbjit_eh_frame(const jc_trace *t, const jc_trace *parent, jc_buf *out,
                        size_t *hdr_size);

/* The directory gdb should resolve relative source names against. */
const char *jc_gdbjit_comp_dir(void);

/* -- perf (perfmap.c, jitdump.c) ------------------------------------------------- */

/* Append the trace to /tmp/perf-PID.map. */
void jc_perfmap_add(const jc_trace *t);
void jc_perfmap_close(void);
/* DEBUG_INFO, UNWINDING_INFO and CODE_LOAD records in jit-PID.dump. */
void jc_jitdump_add(const jc_trace *t);
void jc_jitdump_close(void);
/* The jitdump file's path ("" if none). */
const char *jc_jitdump_path(void);

#endif
