/*
** lib/trace.h — live traces and their registry (internal).
*/
#ifndef JC_LIB_TRACE_H
#define JC_LIB_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "format.h"
#include "jcache/trace.h"

/* A patch point of a live trace, and the state of its tail. */
typedef struct jc_tail {
  struct jc_fmt_patch pp;
  jc_tail_state state;
  uint8_t orig[8];    /* the 8 code bytes the tail guard replaced */
  uint32_t tape_pos;  /* first tape entry of the tail */
} jc_tail;

/* One line-table entry: code from `off` on comes from file:line. */
typedef struct jc_trace_line {
  uint32_t off;
  uint32_t line;
  const char *file; /* points into the trace's strings */
} jc_trace_line;

/* A trace's entry in gdbjit's list of live traces (gdbjit/gdbjit.c): kept in
** the trace, so that listing one at its commit allocates and hashes
** nothing.  jcache-gdb.py walks the list through the offsets of these
** fields that jc_gdbjit_table publishes. */
typedef struct jc_gdbjit_node {
  struct jc_gdbjit_node *next, *prev; /* newest first */
  jc_trace *t;                        /* the trace this node is in */
  struct jc_gdbjit_group *g;          /* its gdb object's group, or NULL */
  uint64_t seq;                       /* 0: not listed */
} jc_gdbjit_node;

struct jc_trace {
  uint64_t id, parent_id;
  uint32_t parent_exit;
  bool reloaded;  /* reloaded from the cache (else compiled here) */
  bool owns_code; /* the library allocated the code in the arena */
  uint8_t *code;  /* NULL if the code does not run in this process */
  size_t size;
  uint32_t entry_off;
  char *name;
  void *aux;
  size_t aux_len;
  const void *prep; /* jc_trace_prepared: the prefetch's, not t's */
  size_t prep_len;

  /* Slots and their values at commit (or after tail validation). */
  uint32_t nslots;
  struct jc_fmt_slot *slots;
  uint64_t *slot_val;
  bool *slot_set;

  uint32_t nexits;
  struct jc_fmt_exit *exits;
  /* Per exit, where a SLOT exit's jump finds its target (NULL for REL32):
  ** in reloaded code one of exit_mem[], which the library owns; in code the
  ** client compiled, the client's slot its code names. */
  uint64_t **exit_slot;
  uint64_t *exit_mem;
  /* Per slot, its cell (JC_RELOC_CELL32) in reloaded code: 8 bytes of
  ** data memory next to the code (jc_arena_data_alloc), libjcache's; NULL
  ** if the record has no CELL32 relocation or the code was compiled here
  ** (the client's cells are the client's). */
  uint64_t *cells;

  /* The tape (always kept: tail checks and debuggers). */
  uint32_t ntape;
  struct jc_fmt_tape *tape;
  /* Kept only while a tail is pending: what validating it needs. */
  uint32_t ntails;
  jc_tail *tails;
  uint32_t ndeferred;
  struct jc_fmt_reloc *deferred; /* relocations inside pending tails */
  uint32_t npatches;
  struct jc_fmt_patch *patches;  /* all of the record's patch points: where
                                    a moved tail may wait (tail.c) */

  /* The loop at the root of this trace's family (0: this trace is one).
  ** An id, not a pointer, so releasing a trace never has to find and fix
  ** the traces that refer to it. */
  uint64_t root_id;
  /* Line table (sorted by off), for debuggers and profilers. */
  uint32_t nlines;
  jc_trace_line *lines;
  /* The strings section: symbol slots' names (debuggers), file names. */
  char *strings;
  uint32_t strings_len;

  /* All relocations (for debuggers), as recorded. */
  uint32_t nrelocs;
  struct jc_fmt_reloc *relocs;
#define JC_TRACE_KEEPS_RELOCS 1

  /* One allocation holds the name, slots, values, exits, tape, relocations,
  ** line table, strings and aux above (jc_trace_alloc); tails, deferred
  ** and patches come and go with a pending tail and are separate. */
  void *mem;

  /* Bridges of this trace's exits written ahead of their checks, not
  ** attached, not registered (lib/ahead.c); freed with this trace. */
  jc_trace *ahead, *ahead_next;
  /* For clients' cost accounting (jc_trace_ahead_ns): this trace's share
  ** of the writing ahead that made it (by code size), and the time its
  ** own commit spent writing others ahead. */
  uint64_t ahead_ns, wrote_ahead_ns;

  jc_trace *hnext;         /* registry hash chain */
  jc_gdbjit_node gdb;      /* gdbjit's list (next to hnext: a commit writes both) */
};

/* Allocate an empty trace (zeroed, name ""). */
jc_trace *jc_trace_new(void);
/* What a trace's metadata is copied from: a parsed record (commit.c) or
** a recorder (rec.c).  Arrays may sit at any alignment. */
typedef struct jc_trace_parts {
  const char *name; /* NULL for "" */
  const void *slots, *exits, *tape, *relocs, *lines, *aux;
  const char *strings;
  uint32_t nslots, nexits, ntape, nrelocs, nlines, strings_len;
  size_t aux_len;
} jc_trace_parts;
/* Give a new trace its metadata, copied from p into one block (one
** allocation where there were ten: a reload makes this call on its
** critical path): name, slots, exits, tape, relocations, line table
** (files resolved into the copied strings), strings and aux.  The slots
** start unbound (slot_val 0, slot_set false; nslots + 1 entries each);
** the exits' slots are NULL, their exit_mem 0. */
jc_err jc_trace_alloc(jc_trace *t, const jc_trace_parts *p);
/* Add to / remove from the registry. */
void jc_trace_register(jc_trace *t);
/* Free a trace's memory (not its code, not the registry entry). */
void jc_trace_destroy(jc_trace *t);
/* Serializes commits and tail validations (lib/commit.c, lib/tail.c). */
void jc_trace_lock(void);
void jc_trace_unlock(void);

#endif
