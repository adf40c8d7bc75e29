/*
** vm/jit/jit.c — the JIT's driver: flags, hot loops, the compile pipeline,
** trace entry and exits, bridges, statistics.
**
** Trace entry.  A compiled loop hangs off its back edge (code->ic[pc].target
** of the LOOP/FORLOOP, a field the interpreter does not use for back edges).
** When the interpreter takes that back edge it calls the trace as a C
** function, `uint32_t trace(vm_value *base)`, with the loop head's state in
** the frame.  The trace runs iterations until a guard fails; the exit stub
** writes the snapshot's slots into the frame and returns a global exit id.
** jit_enter() then rebuilds the inlined frames of the snapshot, sets the
** pcs, counts the exit and, when the exit is hot, starts recording a bridge.
*/
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include <signal.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

#include "../gc.h"
#include "../interp.h"
#include "jit.h"

#include <jcache/arena.h>
#include <jcache/mem.h>

/* -- Clock -------------------------------------------------------------------------- */

static uint64_t mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The per-trace costs (--jit-stats-json) time a lazy bridge's reload, about
** a microsecond, at four points; clock_gettime costs 26 ns a read here (the
** vDSO reads the TSC, then scales it under a sequence lock), so a tenth of
** what was counted as the reload was the clock.  Once calibrated
** (jit_clock_calibrate), the clock reads the TSC itself, 10 ns, and scales
** it by the rate measured against CLOCK_MONOTONIC, from the same epoch. */
static struct {
  uint64_t tsc0, ns0;
  uint64_t mult; /* ns per tick, 32.32 fixed point; 0: CLOCK_MONOTONIC */
} clk;

uint64_t jit_now_ns(void)
{
#if defined(__x86_64__)
  if (clk.mult)
    return clk.ns0 + (uint64_t)(((unsigned __int128)(__rdtsc() - clk.tsc0) * clk.mult) >> 32);
#endif
  return mono_ns();
}

/* Measure the TSC's rate against CLOCK_MONOTONIC over `reads` reads of the
** latter (about 26 ns each); only where the TSC is invariant (CPUID: it runs
** at one rate in every power state, and the same on every CPU). */
static void jit_clock_calibrate(int reads)
{
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (clk.mult)
    return; /* once (--jit-stats and --jit-stats-json both ask) */
  if (!__get_cpuid(0x80000007, &a, &b, &c, &d) || !(d & (1u << 8)))
    return;
  uint64_t t0 = __rdtsc(), n0 = mono_ns();
  for (int k = 0; k < reads; k++)
    (void)mono_ns();
  uint64_t t1 = __rdtsc(), n1 = mono_ns();
  if (t1 <= t0 || n1 <= n0)
    return;
  /* At most 100 ns a tick, at least 0.01: anything else is not a clock. */
  uint64_t mult = (uint64_t)(((unsigned __int128)(n1 - n0) << 32) / (t1 - t0));
  if (mult < (1ull << 32) / 100 || mult > (100ull << 32))
    return;
  clk.tsc0 = t1;
  clk.ns0 = n1;
  clk.mult = mult;
#else
  (void)reads;
#endif
}

/* -- Hashes (fingerprints never include a pointer) --------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

/* Content only: the same function in an edited program (other functions
** changed, lines moved) keeps its hash; any change to its bytecode,
** constants or names changes it. */
uint64_t jit_hash_code64(vm_code *c)
{
  if (c->jit_hash)
    return c->jit_hash;
  uint64_t h = jit_hash_strobj(c->name);
  h = mix(h, c->nparams);
  h = mix(h, c->nslots);
  h = mix(h, c->is_method);
  h = mix(h, c->ninsns);
  for (uint32_t i = 0; i < c->ninsns; i++)
    h = mix(h, c->insns[i]);
  h = mix(h, c->nconsts);
  for (uint32_t i = 0; i < c->nconsts; i++) {
    vm_value k = c->consts[i];
    h = mix(h, k.tag);
    if (k.tag == VM_T_STR)
      h = mix(h, jit_hash_strobj(k.u.p));
    else
      h = mix(h, (uint64_t)k.u.i);
  }
  h = mix(h, c->nnames);
  for (uint32_t i = 0; i < c->nnames; i++)
    h = mix(h, jit_hash_strobj(c->names[i]));
  h = mix(h, c->ncells);
  for (uint32_t i = 0; i < c->ncells; i++)
    h = mix(h, jit_hash_strobj(c->cells[i]->name));
  h = mix(h, c->nprotos);
  for (uint32_t i = 0; i < c->nprotos; i++)
    h = mix(h, jit_hash_code64(c->protos[i]));
  h = mix(h, c->nupvals);
  for (uint32_t i = 0; i < c->nupvals; i++)
    h = mix(h, (uint64_t)c->upvals[i].from_local << 16 | c->upvals[i].index);
  if (h == 0)
    h = 1;
  c->jit_hash = h;
  return h;
}

/* Class name and field layout, superclasses included. */
/* Name, field layout and superclasses; computed once per class (a class is
** complete before any trace meets it: its statement's FIELD instructions
** run first, and a recorder aborts on them), recomputed if its field count
** ever differs from the cached one.  Every checking iteration promotes
** receivers' classes, so this is on the reload path. */
uint64_t jit_hash_class(const vm_class *c)
{
  if (c->jit_fp_nfields == c->nfields + 1)
    return c->jit_fp;
  uint64_t h = jit_hash_strobj(c->name);
  h = mix(h, c->nfields);
  for (uint32_t i = 0; i < c->nfields; i++)
    h = mix(h, jit_hash_strobj(c->field_names[i]));
  if (c->super)
    h = mix(h, jit_hash_class(c->super));
  vm_class *w = (vm_class *)c; /* a cache, not a change of the class */
  w->jit_fp = h;
  w->jit_fp_nfields = c->nfields + 1;
  return h;
}

/* -- Helpers called by traces ----------------------------------------------------- */

int64_t jit_h_idiv(int64_t a, int64_t b)
{
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    q--;
  return q;
}

int64_t jit_h_imod(int64_t a, int64_t b)
{
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

double jit_h_fidiv(double a, double b) { return floor(a / b); }

double jit_h_fmod(double a, double b)
{
  double r = fmod(a, b);
  if (r != 0.0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

double jit_h_floor(double a) { return floor(a); }

/* Allocating helpers (IR_CALLA).  They never collect and never raise: when
** `need` more bytes would make a collection due (or come near the heap
** limit) they return NULL, the trace leaves through the snapshot taken before
** the instruction, and the interpreter redoes it with every value in frame
** memory, collecting there.  So no live pointer is ever held only in a
** register of a trace during a collection.  One VM per process. */
static vm_vm *jit_h_vm;

static bool h_room(size_t need)
{
#ifdef VM_GC_STRESS
  (void)need;
  return false; /* the interpreter collects at every allocation */
#else
  vm_vm *vm = jit_h_vm;
  size_t lim = vm->gc_threshold < vm->max_heap ? vm->gc_threshold : vm->max_heap;
  if (need < lim && vm->heap_bytes <= lim - need && !vm->jit->gc_stress)
    return true;
  vm->gc_threshold = 0; /* the interpreter's next allocation collects */
  return false;
#endif
}

vm_string *jit_h_strchar(vm_string *s, int64_t i)
{
  return jit_h_vm->char_strs[(unsigned char)s->chars[i]];
}

int64_t jit_h_ord(vm_string *s) { return (unsigned char)s->chars[0]; }

vm_array *jit_h_newarray(int64_t cap)
{
  vm_vm *vm = jit_h_vm;
  if (cap < 0 || cap > (1 << 20) || !h_room(sizeof(vm_array) + (size_t)cap * sizeof(vm_value)))
    return NULL;
  vm_gc_pause(vm);
  vm_array *a = vm_array_new(vm, (size_t)cap);
  vm_gc_resume(vm);
  return a;
}

vm_instance *jit_h_newinst(vm_class *c)
{
  vm_vm *vm = jit_h_vm;
  if (!h_room(sizeof(vm_instance) + (size_t)c->nfields * sizeof(vm_value)))
    return NULL;
  vm_gc_pause(vm);
  vm_instance *in = vm_instance_new(vm, c);
  vm_gc_resume(vm);
  return in;
}

/* str(v) of a number, bool or nil (formatted into vm->fmt, then interned). */
static vm_string *h_str(vm_value v)
{
  vm_vm *vm = jit_h_vm;
  size_t need = sizeof(vm_string) + 64;
  if (vm->intern_count + 1 > vm->intern_cap)
    need += (vm->intern_cap ? vm->intern_cap * 2 : 1024) * sizeof(void *);
  if (!h_room(need + 64))
    return NULL;
  vm_gc_pause(vm);
  vm_buf *b = &vm->fmt;
  b->len = 0;
  vm_value_format(vm, b, v, false, 0);
  vm_string *s = vm_str_intern(vm, b->data, b->len);
  vm_gc_resume(vm);
  return s;
}

vm_string *jit_h_str(int64_t payload, int64_t tag)
{
  vm_value v = {(uint64_t)tag, {.i = payload}};
  return h_str(v);
}

vm_string *jit_h_strf(double d) { return h_str(vm_float(d)); }

/* print(v): the builtin's output for one argument (never allocates objects). */
static void h_print(vm_value v)
{
  vm_vm *vm = jit_h_vm;
  vm_buf *b = &vm->fmt;
  b->len = 0;
  vm_value_format(vm, b, v, false, 0);
  vm_buf_append(vm, b, "\n", 1);
  fwrite(b->data, 1, b->len, stdout);
}

void jit_h_print(int64_t payload, int64_t tag)
{
  vm_value v = {(uint64_t)tag, {.i = payload}};
  h_print(v);
}

void jit_h_printf(double d) { h_print(vm_float(d)); }

/* breakpoint(): called from the trace with a normal call frame, so a
** debugger's backtrace shows the trace (jc_*) above jcvm's frames. */
void jit_h_breakpoint(void)
{
  fflush(stdout);
  raise(SIGTRAP);
}

/* Room for one more element (push, APPEND): vm_array_push's growth. */
vm_array *jit_h_reserve(vm_array *a)
{
  vm_vm *vm = jit_h_vm;
  if (a->len < a->cap)
    return a;
  size_t ncap = a->cap ? a->cap * 2 : 4;
  if (ncap > ((size_t)1 << 40) || !h_room((ncap - a->cap) * sizeof(vm_value)))
    return NULL;
  a->items = vm_mem_realloc(vm, a->items, a->cap * sizeof(vm_value), ncap * sizeof(vm_value));
  a->cap = ncap;
  return a;
}

vm_string *jit_h_concat(vm_string *a, vm_string *b)
{
  vm_vm *vm = jit_h_vm;
  /* The string, and the intern table if it grows. */
  size_t need = sizeof(vm_string) + a->len + b->len + 1;
  if (vm->intern_count + 1 > vm->intern_cap)
    need += (vm->intern_cap ? vm->intern_cap * 2 : 1024) * sizeof(void *);
  if (a->len > (1u << 30) || b->len > (1u << 30) || !h_room(need))
    return NULL;
  vm_gc_pause(vm);
  vm_string *s = vm_str_concat(vm, a, b);
  vm_gc_resume(vm);
  return s;
}

/* -- Setup and flags --------------------------------------------------------------- */

static uint32_t env_u32(const char *name, uint32_t dflt)
{
  const char *s = getenv(name);
  if (!s || !*s)
    return dflt;
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  return (*end || v == 0 || v > 1000000000ul) ? dflt : (uint32_t)v;
}

void jit_init(vm_vm *vm, jit_state *J)
{
  memset(J, 0, sizeof *J);
  J->vm = vm;
  J->enabled = true;
  J->hot = env_u32("JCVM_JIT_HOT", VM_JIT_HOT_THRESHOLD);
  J->exit_hot = env_u32("JCVM_JIT_EXIT_HOT", 10);
  J->reload_hot = env_u32("JCVM_JIT_RELOAD_HOT", 1);
  J->dump = stderr;
  J->use_cache = true;
  J->static_mode = JIT_STATIC_BRIDGES;
  J->t_start = jit_now_ns();
  __builtin_cpu_init();
  J->vzeroupper = __builtin_cpu_supports("avx");
}

static bool parse_u32(const char *s, uint32_t *out)
{
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*s == 0 || *end || v == 0 || v > 1000000000ul)
    return false;
  *out = (uint32_t)v;
  return true;
}

/* A --flag=MODE option's value: its index in modes (NULL-terminated) into
** *out and 1, or -1 if it is none of them. */
static int parse_mode(const char *v, const char *const *modes, uint8_t *out)
{
  for (uint8_t m = 0; modes[m]; m++)
    if (strcmp(v, modes[m]) == 0) {
      *out = m;
      return 1;
    }
  return -1;
}

int jit_option(jit_state *J, const char *a)
{
  if (strcmp(a, "--no-jit") == 0) {
    J->enabled = false;
  } else if (strncmp(a, "--jit-hot=", 10) == 0) {
    return parse_u32(a + 10, &J->hot) ? 1 : -1;
  } else if (strncmp(a, "--jit-exit-hot=", 15) == 0) {
    return parse_u32(a + 15, &J->exit_hot) ? 1 : -1;
  } else if (strncmp(a, "--jit-reload-hot=", 17) == 0) {
    return parse_u32(a + 17, &J->reload_hot) ? 1 : -1;
  } else if (strcmp(a, "--jit-stress") == 0) {
    J->hot = 1;
    J->exit_hot = 1;
  } else if (strcmp(a, "--dump-ir") == 0) {
    J->dump_ir = true;
  } else if (strcmp(a, "--jit-no-sink") == 0) {
    J->no_sink = true;
  } else if (strcmp(a, "--jit-no-prefetch") == 0) {
    J->no_prefetch = true;
  } else if (strcmp(a, "--jit-prefetch-wait") == 0) {
    J->prefetch_wait = true;
  } else if (strncmp(a, "--jit-static=", 13) == 0) {
    static const char *const modes[] = {"off", "bridges", "all", "verify", NULL};
    return parse_mode(a + 13, modes, &J->static_mode);
  } else if (strncmp(a, "--jit-prepare=", 14) == 0) {
    static const char *const modes[] = {"on", "off", "verify", NULL};
    return parse_mode(a + 14, modes, &J->prepare_mode);
  } else if (strcmp(a, "--jit-gc-stress") == 0) {
    J->gc_stress = true;
  } else if (strcmp(a, "--no-cache") == 0) {
    J->use_cache = false;
  } else if (strncmp(a, "--cache=", 8) == 0) {
    J->cache_dir = a + 8;
    J->use_cache = true;
    if (!*J->cache_dir)
      return -1;
  } else if (strcmp(a, "--jit-stats") == 0) {
    J->print_stats = true;
    jit_clock_calibrate(2048);
  } else if (strncmp(a, "--jit-stats-json=", 17) == 0) {
    J->stats_json = a + 17;
    if (!*J->stats_json)
      return -1;
    /* Per-trace costs include the hook's own time: calibrate the clock
    ** (its rate first, then what a read costs).  The mean of many
    ** back-to-back reads, not their minimum: every timed hook call pays a
    ** typical read, and with CLOCK_MONOTONIC the minimum (20 ns, its step
    ** 10 ns) was 4 to 5 ns below the mean, which over the fifty-odd hook
    ** calls of a check counted 0.2 us of clock as hook.  Reads an
    ** interrupt stretched (over 4x the minimum) are left out. */
    J->time_hooks = true;
    jit_clock_calibrate(2048);
    uint64_t d[1024], lo = UINT64_MAX, sum = 0, n = 0;
    for (int k = 0; k < 1024; k++) {
      uint64_t t0 = jit_now_ns(), t1 = jit_now_ns();
      d[k] = t1 - t0;
      lo = d[k] < lo ? d[k] : lo;
    }
    for (int k = 0; k < 1024; k++)
      if (d[k] <= 4 * lo + 10)
        sum += d[k], n++;
    J->timer_ns = n ? (sum + n / 2) / n : lo;
  } else {
    return 0;
  }
  return 1;
}

void jit_report(jit_state *J)
{
  jit_stats *s = &J->stats;
  jc_prefetch_info pf;
  jc_cache_prefetch_info(J->cache, &pf);
  jc_mem_stats mem;
  jc_mem_info(&mem);
  /* The populating thread's time for the JIT; its time on the heap's
  ** chunks (gc.c) is the VM's, apart. */
  uint64_t populate_ns = mem.cpu_ns > mem.ahead_cpu_ns ? mem.cpu_ns - mem.ahead_cpu_ns : 0;
  if (J->print_stats)
    fprintf(stderr,
            "jit: %llu loops, %llu bridges, %llu aborts, %llu entries, %llu guard exits, "
            "%llu code bytes\n"
            "jit: %llu allocations sunk, %llu objects materialized\n"
            "jit: tracing %.3f ms, optimizing %.3f ms, assembling %.3f ms\n"
            "jit: cache %s: %llu reloaded loops, %llu reloaded bridges, %llu replay hits, "
            "%llu replay misses, %llu not persisted\n"
            "jit: %llu tail guards, %llu tails validated, %llu tails invalidated, "
            "%llu tails moved, %llu checks deferred, replay %.3f ms, commit %.3f ms\n"
            "jit: traces bound statically: %llu reloaded, %llu left to their check, "
            "%llu missed; verified %llu agreed, %llu disagreed\n"
            "jit: prepared on the prefetch thread: %llu reloads; verified %llu agreed, "
            "%llu disagreed\n"
            "jit: given up (every recording aborted): %llu saved, %llu found from earlier runs\n"
            "jit: prefetch: %llu keys (%llu listed by the program's last run), %llu records, "
            "%llu lookups served, %.3f ms CPU on its thread; %llu families fetched by commits\n"
            "jit: memory populated ahead: %llu chunks, %.3f ms CPU on its thread; %llu chunks "
            "mapped on demand (none was ready); %llu heap chunks populated for the VM, "
            "%.3f ms CPU\n",
            (unsigned long long)s->loops, (unsigned long long)s->bridges,
            (unsigned long long)s->aborts, (unsigned long long)s->entries,
            (unsigned long long)s->guard_exits, (unsigned long long)s->code_bytes,
            (unsigned long long)s->sunk, (unsigned long long)s->materialized,
            s->tracing_ns / 1e6, s->optimizing_ns / 1e6, s->assembling_ns / 1e6,
            J->cache ? jc_cache_dir(J->cache) : "off",
            (unsigned long long)s->reloaded_loops, (unsigned long long)s->reloaded_bridges,
            (unsigned long long)s->replay_hits, (unsigned long long)s->replay_misses,
            (unsigned long long)s->not_persisted, (unsigned long long)s->tail_guards,
            (unsigned long long)s->tails_validated, (unsigned long long)s->tails_invalidated,
            (unsigned long long)s->tails_moved, (unsigned long long)s->checks_deferred,
            s->replay_ns / 1e6, s->commit_ns / 1e6, (unsigned long long)s->static_traces,
            (unsigned long long)s->static_fallbacks, (unsigned long long)s->static_misses,
            (unsigned long long)s->static_agreed, (unsigned long long)s->static_disagreed,
            (unsigned long long)s->prepared, (unsigned long long)s->prepare_agreed,
            (unsigned long long)s->prepare_disagreed,
            (unsigned long long)s->giveups_saved, (unsigned long long)s->giveups_found,
            (unsigned long long)pf.keys, (unsigned long long)pf.program_keys,
            (unsigned long long)pf.records, (unsigned long long)pf.served, pf.cpu_ns / 1e6,
            (unsigned long long)pf.families_fetched,
            (unsigned long long)mem.populated, populate_ns / 1e6, (unsigned long long)mem.faulting,
            (unsigned long long)mem.ahead, mem.ahead_cpu_ns / 1e6);
  if (J->stats_json) {
    FILE *f = fopen(J->stats_json, "w");
    if (!f) {
      fprintf(stderr, "jcvm: cannot write '%s'\n", J->stats_json);
      return;
    }
    fprintf(f,
            "{\"loops\": %llu, \"bridges\": %llu, \"aborts\": %llu, \"tracing_ns\": %llu, "
            "\"optimizing_ns\": %llu, \"assembling_ns\": %llu, \"code_bytes\": %llu, "
            "\"guard_exits\": %llu, \"entries\": %llu, \"sunk\": %llu, \"materialized\": %llu, "
            "\"reloaded_loops\": %llu, "
            "\"reloaded_bridges\": %llu, \"replay_hits\": %llu, \"replay_misses\": %llu, "
            "\"tail_guards\": %llu, \"tails_validated\": %llu, \"tails_invalidated\": %llu, "
            "\"tails_moved\": %llu, \"not_persisted\": %llu, \"checks_deferred\": %llu, "
            "\"static_traces\": %llu, \"static_fallbacks\": %llu, \"static_misses\": %llu, "
            "\"static_agreed\": %llu, \"static_disagreed\": %llu, \"prepared\": %llu, "
            "\"prepare_agreed\": %llu, \"prepare_disagreed\": %llu, \"giveups_saved\": %llu, "
            "\"giveups_found\": %llu, \"replay_ns\": %llu, "
            "\"commit_ns\": %llu, \"prefetch_keys\": %llu, \"prefetch_records\": %llu, "
            "\"prefetch_served\": %llu, \"prefetch_cpu_ns\": %llu, \"prefetch_families_fetched\": %llu, "
            "\"prefetch_program_keys\": %llu, "
            "\"populate_cpu_ns\": %llu, \"mem_chunks_faulting\": %llu, \"heap_chunks_ahead\": %llu, \"heap_ahead_cpu_ns\": %llu, "
            "\"cache\": %s, \"traces\": [",
            (unsigned long long)s->loops, (unsigned long long)s->bridges,
            (unsigned long long)s->aborts, (unsigned long long)s->tracing_ns,
            (unsigned long long)s->optimizing_ns, (unsigned long long)s->assembling_ns,
            (unsigned long long)s->code_bytes, (unsigned long long)s->guard_exits,
            (unsigned long long)s->entries, (unsigned long long)s->sunk,
            (unsigned long long)s->materialized, (unsigned long long)s->reloaded_loops,
            (unsigned long long)s->reloaded_bridges, (unsigned long long)s->replay_hits,
            (unsigned long long)s->replay_misses, (unsigned long long)s->tail_guards,
            (unsigned long long)s->tails_validated, (unsigned long long)s->tails_invalidated,
            (unsigned long long)s->tails_moved, (unsigned long long)s->not_persisted,
            (unsigned long long)s->checks_deferred, (unsigned long long)s->static_traces,
            (unsigned long long)s->static_fallbacks, (unsigned long long)s->static_misses,
            (unsigned long long)s->static_agreed, (unsigned long long)s->static_disagreed,
            (unsigned long long)s->prepared, (unsigned long long)s->prepare_agreed,
            (unsigned long long)s->prepare_disagreed,
            (unsigned long long)s->giveups_saved, (unsigned long long)s->giveups_found,
            (unsigned long long)s->replay_ns,
            (unsigned long long)s->commit_ns, (unsigned long long)pf.keys,
            (unsigned long long)pf.records, (unsigned long long)pf.served,
            (unsigned long long)pf.cpu_ns, (unsigned long long)pf.families_fetched,
            (unsigned long long)pf.program_keys, (unsigned long long)populate_ns,
            (unsigned long long)mem.faulting, (unsigned long long)mem.ahead,
            (unsigned long long)mem.ahead_cpu_ns,
            J->cache ? "true" : "false");
    static const char *const kinds[] = {"compile", "reload", "tail", "abort", "defer", "miss"};
    for (uint32_t i = 0; i < J->ncosts; i++) {
      const jit_costlog *c = &J->costs[i];
      fprintf(f,
              "%s{\"id\": \"%016llx\", \"kind\": \"%s\", \"bridge\": %s, \"chain\": %u, "
              "\"at_ns\": %llu, \"wall_ns\": %llu, \"hook_ns\": %llu, \"lookup_ns\": %llu, \"opt_ns\": %llu, "
              "\"asm_ns\": %llu, \"commit_ns\": %llu, \"build_ns\": %llu, \"ahead_ns\": %llu, "
              "\"wrote_ahead_ns\": %llu}",
              i ? ", " : "", (unsigned long long)c->id, kinds[c->kind], c->bridge ? "true" : "false",
              c->chain, (unsigned long long)c->at_ns, (unsigned long long)c->wall_ns, (unsigned long long)c->hook_ns,
              (unsigned long long)c->lookup_ns, (unsigned long long)c->opt_ns,
              (unsigned long long)c->asm_ns, (unsigned long long)c->commit_ns,
              (unsigned long long)c->build_ns, (unsigned long long)c->ahead_ns,
              (unsigned long long)c->wrote_ahead_ns);
    }
    fprintf(f, "]}\n");
    fclose(f);
  }
}

void jit_cost(jit_state *J, uint64_t id, jit_costkind kind, bool bridge, uint8_t chain)
{
  if (J->ncosts == J->costs_cap) {
    uint32_t cap = J->costs_cap ? J->costs_cap * 2 : 64;
    jit_costlog *c = realloc(J->costs, cap * sizeof *c);
    if (!c)
      return;
    J->costs = c;
    J->costs_cap = cap;
  }
  jit_costlog c = J->cur;
  c.id = id;
  c.kind = (uint8_t)kind;
  c.bridge = bridge;
  c.chain = chain;
  c.at_ns = jit_now_ns() - J->t_start;
  J->costs[J->ncosts++] = c;
}

/* -- Code address -> trace ------------------------------------------------------------ */

static uint32_t tmap_slot(const uint8_t *p, uint32_t cap)
{
  uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull;
  return (uint32_t)(h >> 32) & (cap - 1);
}

bool jit_tmap_add(jit_state *J, jit_trace *T)
{
  if ((J->tmap_n + 1) * 2 > J->tmap_cap) {
    /* Room for 512 traces at first (8 KiB): a warm run adds its traces in
    ** a burst of reloads, and each growth (a rehash into fresh pages) fell
    ** on one of them, 1 to 3 us.  From memory populated ahead: the first
    ** table, from calloc, faulted in the first reload of a process. */
    uint32_t cap = J->tmap_cap ? J->tmap_cap * 2 : 1024;
    jit_trace **m = jc_mem_calloc(cap * sizeof *m);
    if (!m)
      return false;
    for (uint32_t i = 0; i < J->tmap_cap; i++) {
      jit_trace *X = J->tmap[i];
      if (!X)
        continue;
      uint32_t k = tmap_slot(X->mcode, cap);
      while (m[k])
        k = (k + 1) & (cap - 1);
      m[k] = X;
    }
    jc_mem_free(J->tmap);
    J->tmap = m;
    J->tmap_cap = cap;
  }
  uint32_t k = tmap_slot(T->mcode, J->tmap_cap);
  while (J->tmap[k])
    k = (k + 1) & (J->tmap_cap - 1);
  J->tmap[k] = T;
  J->tmap_n++;
  return true;
}

jit_trace *jit_trace_at(jit_state *J, const uint8_t *mcode)
{
  if (!J->tmap_cap)
    return NULL;
  uint32_t k = tmap_slot(mcode, J->tmap_cap);
  while (J->tmap[k]) {
    if (J->tmap[k]->mcode == mcode)
      return J->tmap[k];
    k = (k + 1) & (J->tmap_cap - 1);
  }
  return NULL;
}

void jit_trace_free(jit_state *J, jit_trace *T)
{
  if (T->jt)
    jc_trace_release(T->jt);
  if (T->ngcref)
    vm_gc_unlink_roots(J->vm, &T->gcroot);
  if (!T->reloaded) { /* a reloaded trace's arrays are in its own block */
    free(T->gcrefs);
    free(T->snaps);
    free(T->snapframes);
    free(T->snap_count);
    free(T->exit_slot);
    free(T->bridges);
    free(T->exit_dead);
    free(T->exit_checks);
    free(T->matprog);
    free(T->matcls);
    free(T->matcls_bind);
  }
  free(T->ir);
  free(T->snapents);
  free(T->tape);
  free(T->gpp);
  free(T->bindv);
  jc_arena_data_free(T->cells);
  free(T->relocs);
  free(T->lines);
  if (T->reloaded)
    jc_mem_free(T); /* from_jc's block, with the arrays */
  else
    free(T);
}

void jit_free(jit_state *J)
{
  jit_rec_free(J);
  free(J->pf_keys); /* jit_cache_prefetch_code's buffer */
  J->pf_keys = NULL;
  jit_static_free(&J->stat);
  jit_trace *T = J->traces;
  while (T) {
    jit_trace *n = T->next;
    if (!T->parent && T->code->ic)
      T->code->ic[T->backedge_pc].target = NULL;
    jit_trace_free(J, T);
    T = n;
  }
  J->traces = NULL;
  if (J->chkT) {
    jit_trace_free(J, J->chkT); /* checks' scratch trace: no code, no roots */
    J->chkT = NULL;
  }
  jit_cache_close(J);
  jc_mem_free(J->tmap);
  free(J->loops);
  free(J->costs);
  J->tmap = NULL;
  J->loops = NULL;
  J->costs = NULL;
}

/* -- Hot loops, aborts, blacklisting ---------------------------------------------- */

jit_loopinfo *jit_loop_info(jit_state *J, vm_code *code, uint32_t pc)
{
  for (uint32_t i = 0; i < J->nloops; i++)
    if (J->loops[i].code == code && J->loops[i].pc == pc)
      return &J->loops[i];
  if (J->nloops == J->loops_cap) {
    uint32_t cap = J->loops_cap ? J->loops_cap * 2 : 16;
    jit_loopinfo *l = realloc(J->loops, cap * sizeof *l);
    if (!l)
      return NULL;
    J->loops = l;
    J->loops_cap = cap;
  }
  jit_loopinfo *L = &J->loops[J->nloops++];
  memset(L, 0, sizeof *L);
  L->code = code;
  L->pc = pc;
  return L;
}

void jit_hotloop(jit_state *J, vm_frame *frame, const vm_insn *pc)
{
  if (!J->enabled || J->vm->jit_recording)
    return;
  vm_code *code = frame->func->code;
  uint32_t pcx = (uint32_t)(pc - code->insns);
  /* The next call comes after reload_hot back edges while saved traces may
  ** still be checked, after the usual hot count otherwise (a loop with a
  ** trace still passes its back edge in the interpreter once per entry). */
  vm_icache *ic = &code->ic[pcx];
  ic->hot_limit = J->hot;
  if (ic->target)
    return;
  jit_loopinfo *L = jit_loop_info(J, code, pcx);
  if (!L || L->blacklisted)
    return;
  if (L->skip) {
    L->skip--;
    return;
  }
  if (J->cache && L->checks < JIT_CHECK_TRIES) {
    jc_replay *cur = NULL;
    if (jit_cache_find_loop(J, code, pcx)) {
      /* A miss retries soon (jit_reload_miss). */
      ic->hot_limit = J->reload_hot;
      if (jit_static_reload(J, code, pcx, NULL, 0))
        return; /* bound from its origins, no checking iteration */
      cur = jit_check_cursor(J);
    }
    if (cur) {
      if (!jit_check_start_loop(J, frame, pc, cur))
        L->checks = JIT_CHECK_NONE;
      return;
    }
    /* Nothing saved for it: it is traced when it gets hot as usual. */
    L->checks = JIT_CHECK_NONE;
    return;
  }
  if (J->cache && !L->giveup_asked) {
    /* About to be recorded: did an earlier run give up on it?  Then only
    ** once more, much later (JIT_GIVEUP_LATE hot counts): one abort then
    ** blacklists it. */
    L->giveup_asked = 1;
    if (jit_giveup_ask(J, jit_loop_key(code, pcx))) {
      L->aborts = JIT_LOOP_GIVEUP - 1;
      L->skip = JIT_GIVEUP_LATE;
      return;
    }
  }
  jit_rec_start_loop(J, frame, pc);
}

void jit_loop_abort(jit_state *J, vm_code *code, uint32_t pc, const char *why)
{
  jit_loopinfo *L = jit_loop_info(J, code, pc);
  if (!L)
    return;
  L->aborts++;
  if (L->aborts >= JIT_LOOP_GIVEUP) {
    L->blacklisted = 1;
    /* The next run skips these recordings (jit_hotloop). */
    if (J->cache)
      jit_giveup_save(J, jit_loop_key(code, pc), why);
  } else {
    L->skip = (1u << L->aborts) - 1;
  }
}

void jit_exit_abort(jit_state *J, jit_trace *T, uint32_t snap, const char *why)
{
  if (T->exit_dead[snap] < 255)
    T->exit_dead[snap]++;
  T->snap_count[snap] = 0;
  if (T->exit_dead[snap] == JIT_EXIT_GIVEUP && J->cache && T->jt)
    jit_giveup_save(J, jc_key_bridge(jc_trace_id(T->jt), snap), why);
}

/* -- Compile pipeline ------------------------------------------------------------- */

static void fail_compile(jit_state *J, jit_trace *T, const char *why)
{
  J->stats.aborts++;
  jit_cost(J, 0, JIT_COST_ABORT, T->parent != NULL, 0);
  if (J->dump_ir)
    fprintf(J->dump, "---- trace compile failed: %s\n", why);
  if (T->parent)
    jit_exit_abort(J, T->parent, T->parent_snap, why);
  else
    jit_loop_abort(J, T->code, T->backedge_pc, why);
  jit_trace_free(J, T);
}

/* The recorded IR and snapshots, kept while a trace with sunk allocations
** is assembled (see jit_attach). */
typedef struct ir_copy {
  jit_ins *ir;
  jit_snap *snaps;
  jit_snapent *ents;
  uint32_t nir, nsnap, nent;
} ir_copy;

static bool ir_save(const jit_trace *T, ir_copy *c)
{
  c->nir = T->nir;
  c->nsnap = T->nsnap;
  c->nent = T->nsnapent;
  c->ir = malloc((c->nir ? c->nir : 1) * sizeof *c->ir);
  c->snaps = malloc((c->nsnap ? c->nsnap : 1) * sizeof *c->snaps);
  c->ents = malloc((c->nent ? c->nent : 1) * sizeof *c->ents);
  if (!c->ir || !c->snaps || !c->ents)
    return false;
  memcpy(c->ir, T->ir, c->nir * sizeof *c->ir);
  memcpy(c->snaps, T->snaps, c->nsnap * sizeof *c->snaps);
  memcpy(c->ents, T->snapents, c->nent * sizeof *c->ents);
  return true;
}

static void ir_restore(jit_trace *T, ir_copy *c)
{
  memcpy(T->ir, c->ir, c->nir * sizeof *c->ir); /* the IR only ever shrinks */
  T->nir = c->nir;
  memcpy(T->snaps, c->snaps, c->nsnap * sizeof *c->snaps);
  free(T->snapents);
  T->snapents = c->ents;
  T->nsnapent = c->nent;
  c->ents = NULL;
  free(T->matprog);
  free(T->matcls);
  free(T->matcls_bind);
  T->matprog = NULL;
  T->matcls = NULL;
  T->matcls_bind = NULL;
  T->nmatprog = T->nmatcls = 0;
  free(T->relocs); /* NULL unless an assembly got that far */
  free(T->lines);
  T->relocs = NULL;
  T->lines = NULL;
  T->nreloc = T->nline = 0;
}

static void ir_free(ir_copy *c)
{
  free(c->ir);
  free(c->snaps);
  free(c->ents);
}

/* The optimizer's passes; returns the number of allocations sunk.  With
** `save`, allocations may be sunk, and the IR as recorded is kept there
** first, to compile again without sinking if the assembler fails (timed
** as optimizing: it is what sinking costs). */
static uint32_t optimize(jit_state *J, jit_trace *T, ir_copy *save, bool *prog_ok)
{
  uint64_t t0 = jit_now_ns();
  bool sink = save && ir_save(T, save);
  uint32_t n = 0;
  jit_opt_fold(T);
  jit_opt_cse(T);
  if (sink) {
    n = jit_opt_sink(T);
    if (n) {
      /* Forwarded loads may make constants, and the sunk FSTOREs no
      ** longer kill other loads of their fields. */
      jit_opt_fold(T);
      jit_opt_cse(T);
    }
  }
  if (!T->parent && !T->stops)
    jit_opt_loop(T);
  jit_opt_dce(T);
  *prog_ok = jit_sink_prog(T);
  uint64_t t1 = jit_now_ns();
  J->stats.optimizing_ns += t1 - t0;
  J->cur.opt_ns += jit_part_ns(J, t0, t1); /* twice if compiled again without sinking */
  if (J->dump_ir)
    jit_dump_trace(T, J->dump, "optimized");
  return n;
}

void jit_attach(jit_state *J, jit_trace *T)
{
  if (J->dump_ir)
    jit_dump_trace(T, J->dump, "recorded");
  ir_copy copy = {0};
  bool prog_ok;
  uint32_t nsunk = optimize(J, T, J->no_sink ? NULL : &copy, &prog_ok);
  /* Assembling starts with allocating the exit arrays it fills (a
  ** reload's trace build allocates them too, and is timed with them). */
  uint64_t t1 = jit_now_ns();
  T->snap_count = calloc(T->nsnap ? T->nsnap : 1, sizeof *T->snap_count);
  T->exit_slot = calloc(T->nsnap ? T->nsnap : 1, sizeof *T->exit_slot);
  T->bridges = calloc(T->nsnap ? T->nsnap : 1, sizeof *T->bridges);
  T->exit_dead = calloc(T->nsnap ? T->nsnap : 1, 1);
  T->exit_checks = calloc(T->nsnap ? T->nsnap : 1, 1);
  if (!T->snap_count || !T->exit_slot || !T->bridges || !T->exit_dead || !T->exit_checks) {
    ir_free(&copy);
    fail_compile(J, T, "out of memory");
    return;
  }
  bool ok = prog_ok && jit_asm(J, T);
  if (!ok && nsunk) {
    /* A sunk object keeps its field values alive up to every exit that
    ** rebuilds it: in a long trace that may be more values than the
    ** registers and spill slots hold.  Compile it again without sinking. */
    if (J->dump_ir)
      fprintf(J->dump, "---- trace compile failed with sunk allocations: again without\n");
    ir_restore(T, &copy);
    for (uint32_t s = 0; s < T->nsnap; s++)
      T->snaps[s].jmp = 0;
    nsunk = optimize(J, T, NULL, &prog_ok);
    ok = prog_ok && jit_asm(J, T);
  }
  ir_free(&copy);
  uint64_t t2 = jit_now_ns();
  J->stats.assembling_ns += t2 - t1;
  J->cur.asm_ns = jit_part_ns(J, t1, t2);
  J->stats.sunk += nsunk;
  if (ok) {
    uint32_t ngc = 0;
    for (uint32_t i = 0; i < T->nir; i++)
      if (T->ir[i].op == IR_KPTR)
        ngc++;
    T->gcrefs = calloc(ngc ? ngc : 1, sizeof *T->gcrefs);
    if (!T->gcrefs || !jit_tmap_add(J, T)) {
      jc_arena_free(T->mcode);
      ok = false;
    }
  }
  if (!ok) {
    fail_compile(J, T, !prog_ok ? "exit programs" : "assembler");
    return;
  }
  /* Persist (when the cache is on) and register with gdb/perf. */
  jit_persist(J, T);
  if (T->jt)
    jit_cost(J, jc_trace_id(T->jt), JIT_COST_COMPILE, T->parent != NULL, 1);
  /* Everything the code embeds stays alive as long as the trace. */
  for (uint32_t i = 0; i < T->nir; i++)
    if (T->ir[i].op == IR_KPTR)
      T->gcrefs[T->ngcref++] = vm_objval(VM_T_STR, (void *)(intptr_t)T->ir[i].k);
  if (T->ngcref)
    vm_gc_link_roots(J->vm, &T->gcroot, T->gcrefs, T->ngcref);
  T->id = ++J->ntraces;
  T->next = J->traces;
  J->traces = T;
  J->stats.code_bytes += T->msize;
  if (T->parent) {
    T->parent->bridges[T->parent_snap] = T;
    T->root->nbridges++;
    jit_asm_link(T->parent, T->parent_snap, T);
    J->stats.bridges++;
  } else {
    T->code->ic[T->backedge_pc].target = T;
    J->stats.loops++;
  }
  if (J->dump_ir)
    fprintf(J->dump, "---- trace %u: %u bytes at %p\n", T->id, T->msize, (void *)T->mcode);
}

/* -- Entry and exits --------------------------------------------------------------- */

/* The exit stubs return the snapshot number in rax and the start of their
** trace's code in rdx (position-independent: no exit numbers are embedded,
** so reloaded code needs no relocation for them). */
typedef struct jit_exitret {
  uint64_t snap;
  uint8_t *mcode;
} jit_exitret;
typedef jit_exitret (*jit_tracefn)(vm_value *base);

/* Push the inlined frames snapshot s of X lists above `frame` (the trace's
** frame, vm->frame) and set every pc: the interpreter resumes at s->pc of
** the innermost one.  Inlined: every exit runs it. */
static inline __attribute__((always_inline)) void restore_frames(jit_state *J, vm_frame *frame,
                                                                  jit_trace *X, const jit_snap *s)
{
  vm_vm *vm = J->vm;
  vm_code *code = frame->func->code;
  if (s->nframe == 0) {
    frame->pc = code->insns + s->pc;
    return;
  }
  frame->pc = code->insns + X->snapframes[s->frame].ret_pc;
  for (uint32_t k = 0; k < s->nframe; k++) {
    jit_snapframe *sf = &X->snapframes[s->frame + k];
    vm_frame *nf = ++vm->frame;
    vm_code *fc = sf->func->code;
    nf->func = sf->func;
    nf->base = frame->base + sf->base;
    nf->is_ctor = sf->ctor;
    nf->pc = fc->insns + (k + 1 < s->nframe ? X->snapframes[s->frame + k + 1].ret_pc : s->pc);
    if (nf->base + fc->nslots > vm->stack_hwm)
      vm->stack_hwm = nf->base + fc->nslots;
  }
}

static _Noreturn void bad_exit(uint64_t snap, const uint8_t *mcode)
{
  fprintf(stderr, "jcvm: internal error: unknown trace exit %llu at %p\n",
          (unsigned long long)snap, (const void *)mcode);
  abort();
}

/* Called by the exit stub of a snapshot that names sunk objects (see
** opt_sink.c), after it wrote the frame and the objects' field values to the
** scratch area at base + JIT_MAX_SLOTS: allocate the objects with their real
** classes, fill them and store them into their slots, so that whoever
** continues from the exit (jit_enter and the interpreter, or a bridge the
** stub jumps to next) finds them in the frame.
**
** Allocation may collect.  Every pointer the exit still needs must then be
** reachable: the frame slots the stub wrote are, once the snapshot's inlined
** frames are pushed (for this call only: jit_enter pushes them again, and a
** bridge runs in the trace's frame); the field values and the objects
** allocated so far are copied to J->mat, which jit_gc_mark marks (the
** scratch area is above every frame, and a collection clears such slots).
** No value is live in a register of the trace after its exit stub.  Nothing
** is stored into an object before all are allocated, so a collection never
** sees a half-built graph.  An "out of memory" raised here names the line
** the exit resumes at. */
void jit_h_materialize(vm_value *base, uint64_t snap, const uint8_t *mcode)
{
  vm_vm *vm = jit_h_vm;
  jit_state *J = vm->jit;
  jit_trace *X = jit_trace_at(J, mcode);
  if (!X || snap >= X->nsnap || !X->snaps[snap].mat || vm->frame->base != base)
    bad_exit(snap, mcode);
  const jit_snap *s = &X->snaps[snap];
  vm_frame *root = vm->frame;
  const vm_insn *root_pc = root->pc;
  restore_frames(J, root, X, s);
  vm->frame->pc++; /* the error line is the one of the instruction resumed */
  const uint32_t *p = X->matprog + s->mat;
  uint32_t nobj = p[0], nval = p[1];
  memcpy(J->mat, base + JIT_MAX_SLOTS, nval * sizeof *base);
  J->nmat = nval;
  const uint32_t *q = p + 2;
  for (uint32_t k = 0; k < nobj; k++) {
    if (J->gc_stress)
      vm_gc_collect(vm);
    vm_instance *in = vm_instance_new(vm, X->matcls[q[0] & 0xffffffu]);
    J->mat[nval + k] = vm_objval(VM_T_INSTANCE, in);
    J->nmat = nval + k + 1;
    q += 3 + q[1] + q[2];
  }
  q = p + 2;
  uint32_t v = 0;
  for (uint32_t k = 0; k < nobj; k++) {
    vm_value obj = J->mat[nval + k];
    vm_instance *in = obj.u.p;
    uint32_t nf = q[1], ns = q[2];
    for (uint32_t f = 0; f < nf; f++)
      in->fields[f] = q[3 + f] ? J->mat[nval + q[3 + f] - 1] : J->mat[v + f];
    v += nf;
    for (uint32_t j = 0; j < ns; j++)
      base[q[3 + nf + j]] = obj;
    q += 3 + nf + ns;
  }
  J->nmat = 0;
  J->stats.materialized += nobj;
  vm->frame = root;
  root->pc = root_pc;
}

void jit_gc_mark(jit_state *J, void (*mark)(vm_vm *vm, vm_value v))
{
  for (uint32_t k = 0; k < J->nmat; k++)
    mark(J->vm, J->mat[k]);
  if (J->vm->jit_recording)
    jit_rec_gc_mark(J, mark);
}

void jit_enter(jit_state *J, vm_frame *frame, jit_trace *T)
{
  vm_vm *vm = J->vm;
  /* Room for every frame an exit may rebuild and for the scratch area of
  ** sunk objects above them, so no exit can overflow. */
  if (vm->frame + JIT_MAX_DEPTH + 1 >= vm->frames + VM_MAX_FRAMES ||
      frame->base + JIT_MAX_SLOTS + JIT_MAX_MATVAL > vm->stack + VM_STACK_SLOTS)
    return;
  if (T->tail_armed) {
    /* The last iteration reached T's unchecked tail at a guard's patch
    ** point (below): this one, from the loop head, checks it instead of
    ** running T.  It validates the tail or leaves it pending, and T runs
    ** again from the next back edge. */
    T->tail_armed = false;
    if (!vm->jit_recording && !jit_check_start_tail(J, frame, T))
      jit_tail_done(J, T, JC_STATE, "no tail to check");
    return;
  }
  J->stats.entries++;
  jit_h_vm = vm;
  J->nmat = 0; /* an error raised while an exit rebuilt objects left it set */
  jit_tracefn fn = (jit_tracefn)(void *)T->mcode;
  /* The traces' float code is legacy SSE.  If anything in the process left
  ** the upper halves of the vector registers dirty (an AVX-512 routine
  ** without vzeroupper: libxxhash's dispatched XXH3 did), every SSE
  ** instruction pays a transition penalty: mandelbrot ran at half speed.
  ** One vzeroupper per entry rules that out. */
  if (J->vzeroupper)
    __asm__ volatile("vzeroupper" ::: "memory");
  jit_exitret ret = fn(frame->base);
  J->stats.guard_exits++;
  jit_trace *X = jit_trace_at(J, ret.mcode);
  uint32_t sn = (uint32_t)ret.snap;
  if (!X || (sn >= X->nsnap && sn != JIT_TAIL_EXIT &&
             (!(sn & JIT_TAIL_AT) || (sn & ~JIT_TAIL_AT) >= X->nsnap)))
    bad_exit(ret.snap, ret.mcode);
  if (sn == JIT_TAIL_EXIT) {
    /* X's tail guard fired at its entry: nothing ran.  The interpreter
    ** resumes where X starts (its loop head, or its parent's exit) and
    ** the iteration checks X's unchecked tail. */
    if (X->parent)
      restore_frames(J, frame, X->parent, &X->parent->snaps[X->parent_snap]);
    else
      frame->pc = frame->func->code->insns + X->head_pc;
    if (!vm->jit_recording && !jit_check_start_tail(J, frame, X))
      jit_tail_done(J, X, JC_STATE, "no tail to check");
    return;
  }
  if (sn & JIT_TAIL_AT) {
    /* X's tail guard after a guard fired: the iteration passed the guard
    ** the check left through, into the unchecked tail.  Its stub wrote the
    ** guard's snapshot, so the interpreter redoes that bytecode and
    ** finishes the iteration; X's next entry checks the tail. */
    restore_frames(J, frame, X, &X->snaps[sn & ~JIT_TAIL_AT]);
    X->tail_rearm = JIT_TAIL_REARM;
    jit_tail_arm(J, X);
    if (J->dump_ir)
      fprintf(J->dump, "---- tail guard fired after guard %u: %s\n", sn & ~JIT_TAIL_AT,
              X->jt ? jc_trace_name(X->jt) : "?");
    return;
  }
  const jit_snap *s = &X->snaps[sn];
  uint32_t *count = &X->snap_count[sn];
  restore_frames(J, frame, X, s);
  if (X->bridges[sn] && X->bridges[sn]->tail_armed && jit_tail_check_bridge(J, frame, X, sn))
    return; /* the bridge's entry, armed (jit_tail_arm): this iteration checks its tail */
  ++*count;
  uint8_t checks = X->exit_checks[sn];
  bool cached = J->cache && X->jt && checks < JIT_CHECK_TRIES;
  if (!vm->jit_recording && !X->bridges[sn] && X->exit_dead[sn] < JIT_EXIT_GIVEUP &&
      !(s->flags & (JIT_SNAP_GC | JIT_SNAP_END)) &&
      *count >= (cached                      ? (uint64_t)J->reload_hot
                   : checks == JIT_CHECK_GIVEUP ? (uint64_t)J->exit_hot * JIT_GIVEUP_LATE
                                                : (uint64_t)J->exit_hot) &&
      X->root->nbridges < JIT_MAX_BRIDGES) {
    if (cached) {
      /* A saved bridge for this exit: check it, reload it, no tracing.  A
      ** miss counts in exit_checks (jit_reload_miss); the exit is checked
      ** again the next time it is taken, and traced after JIT_CHECK_TRIES. */
      jc_replay *cur = NULL;
      if (jit_cache_find_bridge(J, X, sn)) {
        if (jit_static_reload(J, X->code, X->root->backedge_pc, X, sn))
          return; /* bound from its origins, no checking iteration */
        cur = jit_check_cursor(J);
      }
      if (cur) {
        if (!jit_check_start_bridge(J, frame, X, sn, cur))
          X->exit_checks[sn] = JIT_CHECK_NONE;
        return;
      }
      X->exit_checks[sn] = JIT_CHECK_NONE;
      if (*count < J->exit_hot)
        return; /* nothing saved: hot as usual before it is traced */
    }
    if (J->cache && X->jt && X->exit_checks[sn] == JIT_CHECK_NONE) {
      /* About to be recorded: did an earlier run give up on this exit?
      ** Then once more, much later; one abort then gives up. */
      X->exit_checks[sn] = JIT_CHECK_ASKED;
      if (jit_giveup_ask(J, jc_key_bridge(jc_trace_id(X->jt), sn))) {
        X->exit_checks[sn] = JIT_CHECK_GIVEUP;
        X->exit_dead[sn] = JIT_EXIT_GIVEUP - 1;
        *count = 0;
        return;
      }
    }
    jit_rec_start_bridge(J, frame, X, sn);
  }
}
