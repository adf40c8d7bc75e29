/*
** gdbjit/gdbjit.c — the GDB JIT interface, modes, and the table for gdb.
**
** A session with the toy JIT (tests/integration/gdb.sh):
**
**   (gdb) break jc_loop_toy_L1
**   Function "jc_loop_toy_L1" not defined.
**   Breakpoint 1 (jc_loop_toy_L1) pending.
**   (gdb) run
**   Breakpoint 1, 0x00005555d5a00000 in jc_loop_toy_L1 () at toy.jc:1
**   (gdb) break toy_helper
**   (gdb) continue
**   Breakpoint 2, toy_helper (v=1012) at examples/toytrace.c:11
**   (gdb) bt
**   #0  toy_helper (v=1012) at examples/toytrace.c:11
**   #1  0x00005555d5a00030 in jc_loop_toy_L1 () at toy.jc:2
**   #2  0x0000555555556f1e in run (...) at tests/unit/helper_gdbjit.c:60
**   #3  0x0000555555556d2b in main (...) at tests/unit/helper_gdbjit.c:120
**   (gdb) info jcache
**     #  id                name             address         size  origin   ...
**
** How traces reach gdb.  gdb puts a breakpoint on __jit_debug_register_code
** and, each time it is hit, reads __jit_debug_descriptor's relevant entry: an
** in-memory ELF object (elf.c) that it loads like a shared library.  Every
** event stops the process, and gdb's cost per event grows with the number of
** objects it already has (its section map is rebuilt over all objfiles), so
** traces are described in *groups* where that is free: the traces of one
** jc_gdbjit_register_n call (a commit: a loop and its bridges), and, when
** lazy mode finds a debugger, all traces listed so far, JCACHE_GDB_GROUP
** (64) per object.  A group's object is never extended: gdb 13 does not
** re-set breakpoints when a JIT object is registered, and it disables every
** breakpoint location inside an object it frees, so replacing an object by
** a bigger one would silently turn breakpoints on its traces pending again.
** Releasing a trace does replace its group's object (without the trace);
** jcache-gdb.py's `jcache break` sets breakpoints again after that.

** Modes (JCACHE_GDB): off: nothing.  lazy (default): traces are only listed;
** gdb objects are built when a debugger is seen — TracerPid in
** /proc/self/status, checked at the first registration and then at most
** every 50 ms (on libjcache's background thread: the registration after
** that reading sees the debugger) — or when jcache-gdb.py asks (jc_gdbjit_table.want, or
** `jcache sync`, which calls jc_gdbjit_sync()); then every listed trace is
** registered at once, in full groups.  on: every trace at once, always.
**
** The table: jc_gdbjit_table is exported with a self-describing layout (the
** offsets of the fields of struct jc_trace that jcache-gdb.py reads), so the
** script works without debug information for libjcache, and on core files.
*/
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gdbjit.h"
#include "tracer.h"

#define JC_EXPORT __attribute__((visibility("default")))

/* -- The GDB JIT interface (version 1) -------------------------------------------- */

typedef enum { JIT_NOACTION = 0, JIT_REGISTER_FN, JIT_UNREGISTER_FN } jit_action;

struct jit_code_entry {
  struct jit_code_entry *next_entry, *prev_entry;
  const char *symfile_addr;
  uint64_t symfile_size;
};

struct jit_descriptor {
  uint32_t version;
  uint32_t action_flag;
  struct jit_code_entry *relevant_entry;
  struct jit_code_entry *first_entry;
};

/* gdb breaks here; the body must not be optimized away or merged. */
JC_EXPORT void __attribute__((noinline, used)) __jit_debug_register_code(void);
JC_EXPORT void __attribute__((noinline, used)) __jit_debug_register_code(void) {
  __asm__ volatile("" ::: "memory");
}

JC_EXPORT struct jit_descriptor __jit_debug_descriptor = {1, JIT_NOACTION, NULL,
                                                          NULL};

/* -- The table jcache-gdb.py reads ----------------------------------------------- */

/* Indices of jc_gdbjit_table.layout: byte offsets, or sizes, as named;
** JC_GDBJIT_ABSENT where the field does not exist in this build. */
enum {
  L_NODE_NEXT, L_NODE_TRACE, L_NODE_GDB, L_NODE_SEQ,
  L_T_ID, L_T_PARENT_ID, L_T_PARENT_EXIT, L_T_RELOADED, L_T_CODE, L_T_SIZE,
  L_T_ENTRY_OFF, L_T_NAME, L_T_NSLOTS, L_T_SLOTS, L_T_SLOT_VAL, L_T_SLOT_SET,
  L_T_NEXITS, L_T_EXITS, L_T_NTAILS, L_T_TAILS, L_T_NTAPE, L_T_TAPE,
  L_T_STRINGS, L_T_STRINGS_LEN, L_T_NLINES, L_T_LINES, L_T_ROOT_ID,
  L_T_NRELOCS, L_T_RELOCS,
  L_TAIL_SIZE, L_TAIL_PP, L_TAIL_STATE,
  L_LINE_SIZE, L_LINE_OFF, L_LINE_LINE, L_LINE_FILE,
  L__N
};
#define JC_GDBJIT_ABSENT 0xffffffffu

typedef jc_gdbjit_node node; /* in struct jc_trace (trace.h) */

struct jc_gdbjit_table {
  char magic[8];        /* "JCGDBJT" */
  uint32_t version;     /* 1 */
  uint32_t nlayout;     /* L__N */
  uint32_t layout[L__N];
  uint32_t mode;        /* jc_gdbjit_mode */
  volatile uint32_t want; /* set by jcache-gdb.py: register with gdb now */
  uint32_t active;      /* gdb objects are being built */
  uint32_t group;       /* traces per gdb object */
  node *head;           /* newest first */
  uint64_t count;       /* traces listed */
  uint64_t objects;     /* gdb objects registered now */
  uint64_t events;      /* __jit_debug_register_code calls */
  uint64_t failures;    /* objects that could not be built */
};

typedef struct jc_gdbjit_group {
  struct jit_code_entry *entry; /* registered object, or NULL */
  node **m;
  uint32_t n, cap;
  bool dirty;
} group;

#define OFF(f) ((uint32_t)offsetof(struct jc_trace, f))
JC_EXPORT struct jc_gdbjit_table jc_gdbjit_table = {
    .magic = "JCGDBJT",
    .version = 1,
    .nlayout = L__N,
    .layout = {
        [L_NODE_NEXT] = offsetof(node, next),
        [L_NODE_TRACE] = offsetof(node, t),
        [L_NODE_GDB] = offsetof(node, g),
        [L_NODE_SEQ] = offsetof(node, seq),
        [L_T_ID] = OFF(id), [L_T_PARENT_ID] = OFF(parent_id),
        [L_T_PARENT_EXIT] = OFF(parent_exit), [L_T_RELOADED] = OFF(reloaded),
        [L_T_CODE] = OFF(code), [L_T_SIZE] = OFF(size),
        [L_T_ENTRY_OFF] = OFF(entry_off), [L_T_NAME] = OFF(name),
        [L_T_NSLOTS] = OFF(nslots), [L_T_SLOTS] = OFF(slots),
        [L_T_SLOT_VAL] = OFF(slot_val), [L_T_SLOT_SET] = OFF(slot_set),
        [L_T_NEXITS] = OFF(nexits), [L_T_EXITS] = OFF(exits),
        [L_T_NTAILS] = OFF(ntails), [L_T_TAILS] = OFF(tails),
        [L_T_NTAPE] = OFF(ntape), [L_T_TAPE] = OFF(tape),
        [L_T_STRINGS] = OFF(strings), [L_T_STRINGS_LEN] = OFF(strings_len),
        [L_T_NLINES] = OFF(nlines), [L_T_LINES] = OFF(lines),
        [L_T_ROOT_ID] = OFF(root_id),
#ifdef JC_TRACE_KEEPS_RELOCS
        [L_T_NRELOCS] = OFF(nrelocs), [L_T_RELOCS] = OFF(relocs),
#else
        [L_T_NRELOCS] = JC_GDBJIT_ABSENT, [L_T_RELOCS] = JC_GDBJIT_ABSENT,
#endif
        [L_TAIL_SIZE] = sizeof(jc_tail), [L_TAIL_PP] = offsetof(jc_tail, pp),
        [L_TAIL_STATE] = offsetof(jc_tail, state),
        [L_LINE_SIZE] = sizeof(jc_trace_line),
        [L_LINE_OFF] = offsetof(jc_trace_line, off),
        [L_LINE_LINE] = offsetof(jc_trace_line, line),
        [L_LINE_FILE] = offsetof(jc_trace_line, file),
    },
};
#undef OFF

/* -- State -------------------------------------------------------------------------- */

#define DEFAULT_GROUP 64
#define TRACER_CHECK_NS 50000000ull /* lazy: look for a debugger every 50 ms */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static group *cur;            /* the group new traces join */
static bool perfmap_on, jitdump_on;
static uint64_t seq, next_check;

static bool env_flag(const char *name) {
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") != 0 && strcmp(v, "off") != 0 &&
         strcmp(v, "no") != 0;
}

static void read_env(void) {
  const char *v = getenv("JCACHE_GDB");
  jc_gdbjit_table.mode = JC_GDBJIT_LAZY;
  if (v && (!strcmp(v, "off") || !strcmp(v, "0")))
    jc_gdbjit_table.mode = JC_GDBJIT_OFF;
  else if (v && (!strcmp(v, "on") || !strcmp(v, "1")))
    jc_gdbjit_table.mode = JC_GDBJIT_ON;
  jc_gdbjit_table.active = jc_gdbjit_table.mode == JC_GDBJIT_ON;
  const char *g = getenv("JCACHE_GDB_GROUP");
  long n = g ? strtol(g, NULL, 10) : 0;
  jc_gdbjit_table.group = n >= 1 && n <= 4096 ? (uint32_t)n : DEFAULT_GROUP;
  perfmap_on = env_flag("JCACHE_PERFMAP");
  jitdump_on = env_flag("JCACHE_JITDUMP");
}

static uint64_t now_coarse(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* -- gdb events ------------------------------------------------------------------------ */

static void notify(jit_action a, struct jit_code_entry *e) {
  __jit_debug_descriptor.action_flag = a;
  __jit_debug_descriptor.relevant_entry = e;
  __jit_debug_register_code();
  __jit_debug_descriptor.action_flag = JIT_NOACTION;
  __jit_debug_descriptor.relevant_entry = NULL;
  jc_gdbjit_table.events++;
}

static void entry_link(struct jit_code_entry *e) {
  e->prev_entry = NULL;
  e->next_entry = __jit_debug_descriptor.first_entry;
  if (e->next_entry) e->next_entry->prev_entry = e;
  __jit_debug_descriptor.first_entry = e;
  notify(JIT_REGISTER_FN, e);
  jc_gdbjit_table.objects++;
}

static void entry_unlink(struct jit_code_entry *e) {
  if (e->prev_entry) e->prev_entry->next_entry = e->next_entry;
  else __jit_debug_descriptor.first_entry = e->next_entry;
  if (e->next_entry) e->next_entry->prev_entry = e->prev_entry;
  notify(JIT_UNREGISTER_FN, e);
  jc_gdbjit_table.objects--;
  free((void *)e->symfile_addr);
  free(e);
}

/* Rebuild a group's object and put it in place of the old one.  The old one
** goes first: when gdb frees an objfile it disables every breakpoint
** location inside its address ranges (it treats it like an unloaded shared
** library) and nothing re-enables them, so with the new object registered
** first, a breakpoint on a trace of the group would end up pending again.
** Registering the new object re-sets all breakpoints. */
static void group_flush(group *g) {
  g->dirty = false;
  struct jit_code_entry *e = NULL;
  if (g->entry) entry_unlink(g->entry);
  g->entry = NULL;
  if (g->n) {
    jc_trace **ts = malloc(g->n * sizeof *ts);
    void *obj = NULL;
    size_t len = 0;
    if (ts) {
      for (uint32_t i = 0; i < g->n; i++) ts[i] = g->m[i]->t;
      if (jc_gdbjit_elf_build(ts, g->n, &obj, &len) &&
          (e = calloc(1, sizeof *e))) {
        e->symfile_addr = obj;
        e->symfile_size = len;
        entry_link(e);
        g->entry = e;
      } else {
        free(obj);
        jc_gdbjit_table.failures++;
      }
      free(ts);
    } else {
      jc_gdbjit_table.failures++;
    }
  }
}

static void group_free(group *g) {
  if (g->entry) entry_unlink(g->entry);
  if (cur == g) cur = NULL;
  free(g->m);
  free(g);
}

/* Put node x in the current group (opening one if needed); the caller
** flushes.  False on OOM (x stays without gdb object). */
static group *group_add(node *x) {
  uint32_t gs = jc_gdbjit_table.group;
  if (!cur || cur->n >= gs) {
    group *g = calloc(1, sizeof *g);
    if (g && !(g->m = malloc(gs * sizeof *g->m))) {
      free(g);
      g = NULL;
    }
    if (!g) return NULL;
    g->cap = gs;
    cur = g;
  }
  cur->m[cur->n++] = x;
  cur->dirty = true;
  x->g = cur;
  return cur;
}

/* Lazy mode found a debugger: describe every listed trace, oldest first. */
static void activate(void) {
  jc_gdbjit_table.active = 1;
  cur = NULL;
  node *last = jc_gdbjit_table.head;
  while (last && last->next) last = last->next;
  for (node *x = last; x; x = x->prev) {
    if (x->g) continue;
    group *before = cur;
    group *g = group_add(x);
    if (!g) {
      jc_gdbjit_table.failures++;
      continue;
    }
    if (before && before != g && before->dirty) group_flush(before);
  }
  if (cur && cur->dirty) group_flush(cur);
  cur = NULL;
}

static bool want_gdb(void) {
  if (jc_gdbjit_table.active) return true;
  if (jc_gdbjit_table.mode != JC_GDBJIT_LAZY) return false;
  if (jc_gdbjit_table.want) return true;
  uint64_t now = now_coarse();
  if (now < next_check) return false;
  next_check = now + TRACER_CHECK_NS;
  return jc_tracer_attached_soon(TRACER_CHECK_NS);
}

/* -- Register / unregister ---------------------------------------------------------------- */

static void add_locked(jc_trace *t, group **touched, size_t *ntouched) {
  /* The node is the trace's own: every commit lists its traces here, and
  ** an allocation and a hash table of nodes cost a commit cache misses. */
  node *x = &t->gdb;
  if (x->seq) return; /* listed already */
  x->t = t;
  x->seq = ++seq;
  x->g = NULL;
  x->prev = NULL;
  x->next = jc_gdbjit_table.head;
  if (x->next) x->next->prev = x;
  jc_gdbjit_table.head = x;
  jc_gdbjit_table.count++;
  if (jc_gdbjit_table.active) {
    group *before = cur;
    group *g = group_add(x);
    if (!g) jc_gdbjit_table.failures++;
    if (before && before != g && before->dirty) touched[(*ntouched)++] = before;
  }
}

JC_EXPORT void jc_gdbjit_sync(void);

void jc_gdbjit_register_n(jc_trace *const *ts, size_t n) {
  pthread_once(&once, read_env);
  if (jc_gdbjit_table.mode == JC_GDBJIT_OFF && !perfmap_on && !jitdump_on)
    return;
  pthread_mutex_lock(&lock);
  cur = NULL; /* these traces get objects of their own (never extended) */
  if (jc_gdbjit_table.mode != JC_GDBJIT_OFF) {
    bool activating = !jc_gdbjit_table.active && want_gdb();
    group *touched[64];
    size_t ntouched = 0;
    for (size_t i = 0; i < n; i++) {
      if (!ts[i] || !ts[i]->code || !ts[i]->size) continue;
      if (ntouched == 64) {
        for (size_t k = 0; k < ntouched; k++)
          if (touched[k]->dirty) group_flush(touched[k]);
        ntouched = 0;
      }
      add_locked(ts[i], touched, &ntouched);
    }
    for (size_t k = 0; k < ntouched; k++)
      if (touched[k]->dirty) group_flush(touched[k]);
    if (activating) activate();
    else if (cur && cur->dirty) group_flush(cur);
    cur = NULL;
  }
  for (size_t i = 0; i < n; i++) {
    if (!ts[i] || !ts[i]->code || !ts[i]->size) continue;
    if (perfmap_on) jc_perfmap_add(ts[i]);
    if (jitdump_on) jc_jitdump_add(ts[i]);
  }
  pthread_mutex_unlock(&lock);
}

void jc_gdbjit_register(jc_trace *t) { jc_gdbjit_register_n(&t, 1); }

void jc_gdbjit_unregister(jc_trace *t) {
  /* Whatever the mode now: a trace listed before it was turned off is
  ** still in the list, and must leave it before its memory goes. */
  if (!t || !t->gdb.seq) return;
  pthread_mutex_lock(&lock);
  node *x = &t->gdb;
  if (x->seq) {
    if (x->prev) x->prev->next = x->next;
    else jc_gdbjit_table.head = x->next;
    if (x->next) x->next->prev = x->prev;
    jc_gdbjit_table.count--;
    group *g = x->g;
    if (g) {
      for (uint32_t i = 0; i < g->n; i++)
        if (g->m[i] == x) {
          g->m[i] = g->m[--g->n]; /* order within a group does not matter */
          break;
        }
      if (g->n == 0) group_free(g);
      else group_flush(g);
    }
    memset(x, 0, sizeof *x);
  }
  pthread_mutex_unlock(&lock);
}

/* Called by jcache-gdb.py (`jcache sync`) in a stopped process: describe all
** traces to gdb now, whatever the mode but off. */
JC_EXPORT void __attribute__((noinline, used)) jc_gdbjit_sync(void) {
  pthread_once(&once, read_env);
  if (jc_gdbjit_table.mode == JC_GDBJIT_OFF) return;
  /* No lock if another thread holds it (it is stopped by gdb mid-change):
  ** the next registration will activate instead. */
  jc_gdbjit_table.want = 1;
  if (pthread_mutex_trylock(&lock) != 0) return;
  if (!jc_gdbjit_table.active) activate();
  pthread_mutex_unlock(&lock);
}

/* -- Tests ------------------------------------------------------------------------------- */

void jc_gdbjit_configure(jc_gdbjit_mode gdb, bool perfmap, bool jitdump,
                         uint32_t group_size) {
  pthread_once(&once, read_env);
  pthread_mutex_lock(&lock);
  jc_gdbjit_table.mode = gdb;
  if (gdb == JC_GDBJIT_ON && !jc_gdbjit_table.active) activate();
  if (gdb != JC_GDBJIT_ON) next_check = 0;
  perfmap_on = perfmap;
  jitdump_on = jitdump;
  if (group_size) {
    if (cur && cur->n) cur = NULL; /* the next trace opens a group of the new size */
    jc_gdbjit_table.group = group_size;
  }
  pthread_mutex_unlock(&lock);
}

void jc_gdbjit_reset(void) {
  pthread_once(&once, read_env);
  pthread_mutex_lock(&lock);
  for (node *x = jc_gdbjit_table.head, *nx; x; x = nx) {
    nx = x->next;
    group *g = x->g;
    if (g) {
      for (uint32_t i = 0; i < g->n; i++) g->m[i]->g = NULL;
      g->n = 0;
      group_free(g);
    }
    memset(x, 0, sizeof *x);
  }
  jc_gdbjit_table.head = NULL;
  jc_gdbjit_table.count = 0;
  jc_gdbjit_table.want = 0;
  jc_gdbjit_table.active = jc_gdbjit_table.mode == JC_GDBJIT_ON;
  cur = NULL;
  next_check = 0;
  jc_perfmap_close();
  jc_jitdump_close();
  pthread_mutex_unlock(&lock);
}
