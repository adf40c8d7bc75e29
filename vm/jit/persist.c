/*
** vm/jit/persist.c — the persistent cache: jcvm's traces saved with
** libjcache and reloaded in the next run instead of being compiled.
**
** Recording (jit_persist, after the assembler): the recorder's tape (green
** decisions, binds, guards) becomes the record's tape; every pointer the code
** embeds is a bound slot (ABS64), every helper call a symbol slot (REL32,
** resolved by name through jit_resolve), a bridge's jump back to its root's
** preamble an arena slot; each exit stub's patchable jmp is the exit; the
** snapshots the exit handler needs go into the aux bytes, with the inlined
** frames' functions as slot numbers (never pointers).
**
** Reloading (jit_cache_find_*, jit_check_cursor and jit_reload_commit): a hot loop with
** candidates runs one checking iteration (record.c in checking mode), which
** reports every green decision, bind and guard to the replay cursor; at its
** end the cursor is committed and the reloaded code is attached like a
** compiled trace.  A hot exit of a trace with a saved bridge does the same
** from the exit (a lazy bridge).  Any miss: the loop or exit is traced
** normally, and the new trace becomes another candidate.
**
** The namespace is "jcvm", its version, a build id (the GNU build-id note of
** the running binary, else a hash of the binary) and the CPU features the
** backend may depend on, so a differently built jcvm never loads this one's
** code.  JCVM_CACHE_BUILD_ID and JCVM_CACHE_CPU override the last two (tests).
*/
#define _GNU_SOURCE
#include <ctype.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../gc.h"
#include "jit.h"

/* v2: per snapshot its exit program's offset; the classes and exit
** programs of sunk objects (opt_sink.c) after the frames.  v3: the tape's
** GREEN and BIND entries with their origins last (AUX_STATIC words per
** entry, read by static.c; guards are passed there, not reported).  v4:
** each snapshot is a jit_snap as it is in memory (ir.h), read in place by
** the reloaded trace: pc, frame, nframe | flags << 24, exit jump, exit
** program, and two zero words (ent, nent). */
#define AUX_MAGIC 0x3456434au /* "JCV4" */
#define AUX_HDR 14
#define AUX_SNAP 7
_Static_assert(sizeof(jit_snap) == AUX_SNAP * 4, "a jit_snap is an aux snapshot record");
#define AUX_STATIC JIT_AUX_STATIC
#define AUX_MAX_PROG (1u << 20)

static size_t jit_aux_prepare(void *user, const void *aux, size_t alen, size_t code_len, void *out,
                              size_t cap);

/* -- Namespace ----------------------------------------------------------------------- */

static char build_id[80];

static int note_cb(struct dl_phdr_info *info, size_t size, void *data)
{
  (void)size;
  (void)data;
  /* The first object is the executable itself. */
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE)
      continue;
    const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
    const uint8_t *end = p + ph->p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
      const uint8_t *name = p + sizeof *n;
      const uint8_t *desc = name + ((n->n_namesz + 3) & ~3u);
      if (desc + n->n_descsz > end)
        break;
      if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
        size_t k = 0;
        for (uint32_t j = 0; j < n->n_descsz && k + 3 < sizeof build_id; j++)
          k += (size_t)snprintf(build_id + k, sizeof build_id - k, "%02x", desc[j]);
        return 1;
      }
      p = desc + ((n->n_descsz + 3) & ~3u);
    }
  }
  return 1;
}

static void compute_build_id(void)
{
  const char *o = getenv("JCVM_CACHE_BUILD_ID");
  if (o && *o) {
    snprintf(build_id, sizeof build_id, "%s", o);
    return;
  }
  build_id[0] = 0;
  dl_iterate_phdr(note_cb, NULL);
  if (build_id[0])
    return;
  /* No build-id note: hash the binary itself. */
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  jc_key h = jc_key_hash("jcvm", 4);
  if (fd >= 0) {
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
      h = jc_key_combine(h, buf, (size_t)n);
    close(fd);
  }
  snprintf(build_id, sizeof build_id, "exe-%016llx%016llx", (unsigned long long)h.hi,
           (unsigned long long)h.lo);
}

static char cpu_features[160];

static void compute_cpu_features(void)
{
  const char *o = getenv("JCVM_CACHE_CPU");
  if (o && *o) {
    snprintf(cpu_features, sizeof cpu_features, "%s", o);
    return;
  }
  __builtin_cpu_init();
  size_t k = (size_t)snprintf(cpu_features, sizeof cpu_features, "x86-64");
#define FEAT(f)                                                                                \
  if (__builtin_cpu_supports(f) && k < sizeof cpu_features)                                   \
    k += (size_t)snprintf(cpu_features + k, sizeof cpu_features - k, ",%s", f);
  FEAT("sse2") FEAT("sse3") FEAT("ssse3") FEAT("sse4.1") FEAT("sse4.2") FEAT("popcnt")
  FEAT("avx") FEAT("avx2") FEAT("bmi") FEAT("bmi2")
#undef FEAT
}

void jit_cache_open(jit_state *J, const char *src, size_t len)
{
  if (!J->enabled)
    return;
  /* The code arena first, at startup: its reservation and the pages it
  ** populates ahead are not a cost of the first trace. */
  jc_arena_opts ao = {.flags = JC_ARENA_ONE_THREAD}; /* traces run on this thread only */
  /* A warm run's first check and commit run the recorder, replay and
  ** reload code for the first time in this process: its pages mapped
  ** ahead, not faulted in on the first reload; its writable ones now,
  ** before libjcache's threads start (jcache/mem.h says why). */
  if (J->use_cache && !J->cache)
    jc_mem_prefault_image((const void *)&jit_cache_open);
  jc_arena_init(&ao);
  if (!J->use_cache || J->cache)
    return;
  compute_build_id();
  compute_cpu_features();
  jc_ns ns = {"jcvm", "1", build_id, cpu_features};
  jc_cache_opts o = {.dir = J->cache_dir, .prepare = jit_aux_prepare};
  if (jc_cache_open(&ns, &o, &J->cache) != JC_OK) {
    fprintf(stderr, "jcvm: running without the code cache: %s\n", jc_last_error());
    J->cache = NULL;
  } else if (!J->no_prefetch) {
    /* The prefetch thread sets itself up and fetches the loops the last
    ** run of this program used while the program compiles; the keys
    ** follow (jit_cache_prefetch).  The program is its source: an edit
    ** names another program, whose list starts afresh (the list is only
    ** which keys to fetch first, never what to run). */
    jc_cache_prefetch_program(J->cache, jc_key_hash(src, len));
    /* Whether the thread gets to the list before the first loop is hot
    ** depends on the machine's load; waiting makes it certain (tests), and
    ** shows what prefetching gives at best (benchmarks). */
    if (J->prefetch_wait)
      jc_cache_prefetch_wait(J->cache);
  }
  if (J->cache)
    jit_rec_prepare(J);
}

void jit_cache_close(jit_state *J)
{
  if (J->cache) {
    jc_cache_close(J->cache);
    J->cache = NULL;
  }
}

jc_key jit_loop_key(vm_code *code, uint32_t backedge_pc)
{
  uint64_t h = jit_hash_code64(code);
  jc_key k = jc_key_hash(&h, sizeof h);
  return jc_key_combine(k, &backedge_pc, sizeof backedge_pc);
}

/* Keys handed to libjcache at once: a wake of its prefetch thread costs
** the waker microseconds, so not one per function; few enough that the
** thread starts on the first functions while the rest compile. */
#define PF_BATCH_KEYS 16

static void prefetch_flush(jit_state *J)
{
  if (J->npf_keys) /* best effort: lookups work without it */
    jc_cache_prefetch(J->cache, J->pf_keys, J->npf_keys);
  J->npf_keys = 0;
}

/* The keys of the back edges in c itself (its nested functions were given
** when they were compiled, before it). */
void jit_cache_prefetch_code(jit_state *J, vm_code *c)
{
  if (!J->cache || J->no_prefetch)
    return;
  for (uint32_t pc = 0; pc < c->ninsns; pc++) {
    unsigned op = VM_INSN_OP(c->insns[pc]);
    if (op != VM_OP_LOOP && op != VM_OP_FORLOOP)
      continue;
    if (J->npf_keys == J->cap_pf_keys) {
      uint32_t nc = J->cap_pf_keys ? 2 * J->cap_pf_keys : 2 * PF_BATCH_KEYS;
      jc_key *k = realloc(J->pf_keys, nc * sizeof *k);
      if (!k)
        return;
      J->pf_keys = k;
      J->cap_pf_keys = nc;
    }
    J->pf_keys[J->npf_keys++] = jit_loop_key(c, pc);
  }
  if (J->npf_keys >= PF_BATCH_KEYS)
    prefetch_flush(J);
}

void jit_cache_prefetch(jit_state *J, vm_code *main)
{
  jit_cache_prefetch_code(J, main);
  prefetch_flush(J); /* the buffer itself goes at jit_free */
}

static uint64_t jit_resolve(void *ctx, const char *name)
{
  (void)ctx;
  for (int i = 0; i < JIT_H__COUNT; i++)
    if (strcmp(name, jit_helper_names[i]) == 0)
      return (uint64_t)(uintptr_t)jit_helper_addrs[i];
  return 0;
}

/* -- Recording ------------------------------------------------------------------------- */

static void trace_name(const jit_trace *T, char *out, size_t cap)
{
  const vm_code *c = T->code;
  char fn[64];
  size_t k = 0;
  for (uint32_t i = 0; i < c->name->len && k + 1 < sizeof fn; i++) {
    char ch = c->name->chars[i];
    if (isalnum((unsigned char)ch) || ch == '_')
      fn[k++] = ch;
    else if (ch == '.')
      fn[k++] = '_';
  }
  fn[k] = 0;
  uint32_t line = c->lines[T->head_pc];
  if (T->parent)
    snprintf(out, cap, "jc_bridge_%s_L%u_x%u", k ? fn : "anon", line, T->parent_snap);
  else
    snprintf(out, cap, "jc_loop_%s_L%u", k ? fn : "anon", line);
}

/* The bind slot of a pointer the recorder bound, or -1. */
static int64_t bind_slot_of(const jit_trace *T, const void *p)
{
  for (uint32_t b = 0; b < T->nbind; b++)
    if (T->bindv[b] == (uint64_t)(uintptr_t)p)
      return b;
  return -1;
}

/* Why the recorder cannot describe T, or NULL. */
static const char *undescribable(const jit_trace *T)
{
  if (!T->bindv)
    return "no bind values";
  for (uint32_t f = 0; f < T->nsnapframe; f++)
    if (bind_slot_of(T, T->snapframes[f].func) < 0)
      return "inlined function of unknown origin";
  for (uint32_t r = 0; r < T->nreloc; r++) {
    const jit_reloc *rl = &T->relocs[r];
    if ((rl->kind == JIT_RELOC_ABS64 || rl->kind == JIT_RELOC_CELL) && rl->bind >= T->nbind)
      return "constant of unknown origin";
    if (rl->kind == JIT_RELOC_CALL && rl->bind >= JIT_H__COUNT)
      return "unknown helper";
    if (rl->kind == JIT_RELOC_TRACE && !T->parent)
      return "trace jump in a loop";
  }
  for (uint32_t i = 0; i < T->ntape; i++)
    if (T->tape[i].op == JIT_TAPE_BIND && T->tape[i].fp >= T->nbind)
      return "bind of an unknown slot";
  for (uint32_t k = 0; k < T->nmatcls; k++)
    if (T->matcls_bind[k] >= T->nbind || T->bindv[T->matcls_bind[k]] != (uint64_t)(uintptr_t)T->matcls[k])
      return "sunk object of an unbound class";
  if (T->nmatprog > AUX_MAX_PROG)
    return "exit programs too large";
  return NULL;
}

/* The GREEN and BIND entries of the tape (static.c binds them). */
static uint32_t static_entries(const jit_trace *T)
{
  uint32_t n = 0;
  for (uint32_t i = 0; i < T->ntape; i++)
    n += T->tape[i].op != JIT_TAPE_GUARD;
  return n;
}

/* Fault injection for tests (tests/lang/sink_check.sh): JCVM_TEST_AUX=AREA:K
** overwrites word K of one area of every aux this process saves with
** 0xffffffff, a value none of those words may take: hdr (0, 1: the number of
** classes and of exit program words), snap (the exit program offset of
** snapshot K), cls (the BIND slot of class K), prog (exit program word K,
** the unused word 0 excepted); or, pc, the pc snapshot K resumes at with
** 0x7fffffff, past the end of any code but only known to be once the
** snapshot's frames are bound (jit_aux_prepare keeps it for prepared_ok).
** K is taken modulo the area's length, an empty area is left alone.  The
** next run must reject those traces. */
static void test_corrupt_aux(uint32_t *a, const jit_trace *T)
{
  const char *e = getenv("JCVM_TEST_AUX");
  const char *colon = e ? strchr(e, ':') : NULL;
  if (!colon)
    return;
  size_t k = strtoul(colon + 1, NULL, 10), n = 0, stride = 1;
  uint32_t bad = 0xffffffffu;
  uint32_t *mat = a + AUX_HDR + (size_t)T->nsnap * AUX_SNAP + (size_t)T->nsnapframe * 3;
  uint32_t *p = NULL;
  if (strncmp(e, "hdr:", 4) == 0) {
    p = a + 11;
    n = 2;
  } else if (strncmp(e, "snap:", 5) == 0) {
    p = a + AUX_HDR + 4;
    n = T->nsnap;
    stride = AUX_SNAP;
  } else if (strncmp(e, "pc:", 3) == 0) {
    p = a + AUX_HDR;
    n = T->nsnap;
    stride = AUX_SNAP;
    bad = 0x7fffffffu;
  } else if (strncmp(e, "cls:", 4) == 0) {
    p = mat;
    n = T->nmatcls;
  } else if (strncmp(e, "prog:", 5) == 0) {
    p = mat + T->nmatcls + 1;
    n = T->nmatprog > 1 ? T->nmatprog - 1 : 0;
  } else if (strncmp(e, "static:", 7) == 0) {
    p = mat + T->nmatcls + T->nmatprog;
    n = (size_t)static_entries(T) * AUX_STATIC;
  }
  if (n)
    p[(k % n) * stride] = bad;
}

static uint32_t *build_aux(const jit_trace *T, size_t *len)
{
  uint32_t nstatic = static_entries(T);
  size_t n = AUX_HDR + (size_t)T->nsnap * AUX_SNAP + (size_t)T->nsnapframe * 3 + T->nmatcls +
             T->nmatprog + (size_t)nstatic * AUX_STATIC;
  uint32_t *a = malloc(n * sizeof *a);
  if (!a)
    return NULL;
  a[0] = AUX_MAGIC;
  a[1] = T->parent ? 1 : 0;
  a[2] = T->head_pc;
  a[3] = T->backedge_pc;
  a[4] = T->preamble_off;
  a[5] = T->head_off;
  a[6] = T->nsnap;
  a[7] = T->nsnapframe;
  a[8] = T->nbind;
  a[9] = T->code->ninsns;
  a[10] = T->parent ? T->parent_snap : 0;
  a[11] = T->nmatcls;
  a[12] = T->nmatprog;
  a[13] = nstatic;
  uint32_t *p = a + AUX_HDR;
  for (uint32_t s = 0; s < T->nsnap; s++, p += AUX_SNAP) {
    jit_snap sn = T->snaps[s];
    sn.ent = sn.nent = 0; /* this process's snapshot entries */
    memcpy(p, &sn, sizeof sn);
  }
  for (uint32_t f = 0; f < T->nsnapframe; f++) {
    *p++ = (uint32_t)bind_slot_of(T, T->snapframes[f].func);
    *p++ = T->snapframes[f].base | (uint32_t)T->snapframes[f].ctor << 31; /* base < JIT_MAX_SLOTS */
    *p++ = T->snapframes[f].ret_pc;
  }
  for (uint32_t k = 0; k < T->nmatcls; k++)
    *p++ = T->matcls_bind[k];
  if (T->nmatprog)
    memcpy(p, T->matprog, T->nmatprog * sizeof *p);
  p += T->nmatprog;
  for (uint32_t i = 0; nstatic && i < T->ntape; i++) {
    const jit_tapeent *e = &T->tape[i];
    if (e->op == JIT_TAPE_GUARD)
      continue;
    *p++ = e->op | (uint32_t)e->org.kind << 8 | (uint32_t)e->kind << 16;
    *p++ = e->op == JIT_TAPE_BIND ? 0 : e->site;
    *p++ = e->org.a;
    *p++ = e->org.b;
    *p++ = e->org.c;
  }
  test_corrupt_aux(a, T);
  *len = n * sizeof *a;
  return a;
}

/* Does the tape have a GUARD for snapshot `snap`? */
static bool tape_has_guard(const jit_trace *T, uint32_t snap)
{
  for (uint32_t i = 0; i < T->ntape; i++)
    if (T->tape[i].op == JIT_TAPE_GUARD && T->tape[i].site == snap)
      return true;
  return false;
}

void jit_persist(jit_state *J, jit_trace *T)
{
  if (T->parent && !T->parent->jt)
    return; /* a bridge needs its parent's id */
  jc_cache *cache = J->cache;
  const char *why = undescribable(T);
  if (why)
    cache = NULL; /* registered for gdb/perf, not persisted */
  jc_rec *r;
  jc_err err = T->parent ? jc_rec_begin_bridge(cache, jc_trace_id(T->parent->jt), T->parent_snap, &r)
                         : jc_rec_begin_loop(cache, jit_loop_key(T->code, T->backedge_pc), &r);
  if (err)
    return;
  if (!why) {
    /* Slots: the binds first (slot b is BIND b), then helpers, then the root. */
    uint32_t slot, sym[JIT_H__COUNT], root = UINT32_MAX;
    for (uint32_t b = 0; b < T->nbind && !err; b++) {
      err = jc_rec_slot_bound(r, &slot);
      if (!err && slot != b)
        err = JC_INVAL;
    }
    for (int h = 0; h < JIT_H__COUNT; h++)
      sym[h] = UINT32_MAX;
    for (uint32_t k = 0; k < T->nreloc && !err; k++) {
      const jit_reloc *rl = &T->relocs[k];
      if (rl->kind == JIT_RELOC_CALL && sym[rl->bind] == UINT32_MAX)
        err = jc_rec_slot_symbol(r, jit_helper_names[rl->bind], &sym[rl->bind]);
      else if (rl->kind == JIT_RELOC_TRACE && root == UINT32_MAX)
        err = jc_rec_slot_arena(r, JC_REF_ROOT, T->root->preamble_off, &root);
    }
    for (uint32_t i = 0; i < T->ntape && !err; i++) {
      const jit_tapeent *e = &T->tape[i];
      if (e->op == JIT_TAPE_GREEN)
        err = jc_rec_green(r, e->site, e->kind, e->fp);
      else if (e->op == JIT_TAPE_BIND)
        err = jc_rec_bind(r, (uint32_t)e->fp);
      else
        err = jc_rec_guard_fp(r, e->site, e->fp);
    }
    for (uint32_t k = 0; k < T->nreloc && !err; k++) {
      const jit_reloc *rl = &T->relocs[k];
      if (rl->kind == JIT_RELOC_ABS64)
        err = jc_rec_reloc(r, rl->off, JC_RELOC_ABS64, rl->bind, 0);
      else if (rl->kind == JIT_RELOC_CELL)
        err = jc_rec_reloc(r, rl->off, JC_RELOC_CELL32, rl->bind, 0);
      else if (rl->kind == JIT_RELOC_CALL)
        err = jc_rec_reloc(r, rl->off, JC_RELOC_REL32, sym[rl->bind], 0);
      else
        err = jc_rec_reloc(r, rl->off, JC_RELOC_REL32, root, 0);
    }
    size_t alen = 0;
    uint32_t *aux = err ? NULL : build_aux(T, &alen);
    if (!err && aux)
      err = jc_rec_aux(r, aux, alen);
    free(aux);
    if (err)
      why = jc_last_error();
  }
  /* The patch point serves the tail after whichever guard a check leaves
  ** through: code hoisted into the preamble may rely on any decision of
  ** the tape, so an unchecked tail guards the whole trace from its entry. */
  if (!why && !err)
    err = jc_rec_patch_point(r, JC_GUARD_ANY, T->patch_off, T->msize, T->tail_off);
  /* And one after each guard that has one (a loop's: asm_x86.c), which
  ** libjcache prefers when nothing before it needs the tail: the loop then
  ** runs up to that guard, and its exit's bridge too.  Only guards the tape
  ** names (a hoisted guard leaves through the loop head's snapshot). */
  for (uint32_t k = 0; k < T->ngpp && !why && !err; k++) {
    if (!tape_has_guard(T, T->gpp[k].snap))
      continue;
    err = jc_rec_patch_point(r, T->gpp[k].snap, T->gpp[k].off, T->msize, T->gpp[k].target);
    /* Its skip patch point: the rest of the preamble, to the loop head. */
    if (!err && T->gpp[k].skip)
      err = jc_rec_patch_point(r, T->gpp[k].snap, T->gpp[k].skip, T->head_off, T->head_off);
  }
  if (err && !why)
    why = jc_last_error();
  /* Exits, names and lines: also for traces that are only registered. */
  for (uint32_t s = 0; s < T->nsnap; s++)
    if (T->snaps[s].jmp)
      jc_rec_exit_slot(r, s, T->snaps[s].jmp, T->snaps[s].jmp + JIT_EXIT_CONT);
  char name[128];
  trace_name(T, name, sizeof name);
  jc_rec_name(r, name);
  const char *src = T->code->source ? T->code->source->chars : "?";
  /* The prologue (before the first instruction with a line) belongs to the
  ** trace's first line, so a debugger stopped at the entry names it too. */
  if (T->nline && T->lines[0].off > 0)
    jc_rec_line(r, 0, src, T->lines[0].line);
  for (uint32_t l = 0; l < T->nline; l++)
    jc_rec_line(r, T->lines[l].off, src, T->lines[l].line);
  err = jc_rec_finish(r, T->mcode, T->msize, 0, T->mcode, &T->jt);
  if (J->cache && (why || err)) {
    J->stats.not_persisted++;
    if (J->dump_ir)
      fprintf(J->dump, "---- trace not persisted: %s\n", why ? why : jc_last_error());
  }
}

/* -- Lookup ----------------------------------------------------------------------------- */

/* Look key up: its candidates become the current check's (true), or
** there are none (false). */
static bool find(jit_state *J, jc_key key)
{
  jc_cands *cs;
  uint64_t t0 = jit_now_ns();
  jc_err err = jc_lookup(J->cache, key, &cs);
  J->t_mark = jit_now_ns();
  J->cur.lookup_ns = jit_part_ns(J, t0, J->t_mark);
  if (err != JC_OK)
    return false;
  if (jc_cands_count(cs) == 0) {
    jc_cands_release(cs);
    return false;
  }
  jit_check_done(J);
  J->chk_cands = cs;
  return true;
}

jc_replay *jit_check_cursor(jit_state *J)
{
  if (!J->chk_cands)
    return NULL;
  uint64_t t0 = jit_now_ns();
  jc_replay *cur;
  if (jc_replay_begin(J->cache, J->chk_cands, jit_resolve, J, &cur) != JC_OK) {
    jit_check_done(J);
    return NULL;
  }
  /* The cursor uses the candidates until it is finished (jit_check_done). */
  J->cur.lookup_ns += jit_part_ns(J, t0, jit_now_ns());
  return cur;
}

void jit_check_done(jit_state *J)
{
  if (J->chk_cands) {
    jc_cands_release(J->chk_cands);
    J->chk_cands = NULL;
  }
}

bool jit_cache_find_loop(jit_state *J, vm_code *code, uint32_t backedge_pc)
{
  return find(J, jit_loop_key(code, backedge_pc));
}

bool jit_cache_find_bridge(jit_state *J, jit_trace *P, uint32_t snap)
{
  return find(J, jc_key_bridge(jc_trace_id(P->jt), snap));
}

/* -- Give-ups ------------------------------------------------------------------------ */

bool jit_giveup_ask(jit_state *J, jc_key key)
{
  char why[JC_GIVEUP_WHY_MAX];
  if (jc_giveup_find(J->cache, key, why, sizeof why) != JC_OK)
    return false; /* none, or an entry that does not parse (counted) */
  J->stats.giveups_found++;
  if (J->dump_ir)
    fprintf(J->dump, "---- given up by an earlier run (%s): recorded later, once\n", why);
  return true;
}

void jit_giveup_save(jit_state *J, jc_key key, const char *why)
{
  if (jc_giveup_save(J->cache, key, why) == JC_OK)
    J->stats.giveups_saved++;
}

/* -- Reloading ------------------------------------------------------------------------- */

/* The part of aux_fits that needs nothing but the aux (the prefetch
** thread's jit_aux_prepare runs it too). */
static bool aux_counts_ok(const uint32_t *a, size_t alen, size_t *static_off)
{
  if (alen < AUX_HDR * 4 || alen % 4 || a[0] != AUX_MAGIC)
    return false;
  uint32_t nsnap = a[6], nframe = a[7], nbind = a[8], nmatcls = a[11], nmatprog = a[12],
           nstatic = a[13];
  if (a[1] > 1 || nsnap == 0 || nsnap > JIT_MAX_SNAP || nframe > JIT_MAX_SNAP * JIT_MAX_DEPTH ||
      nbind > JIT_MAX_TAPE || nmatcls > nbind || nmatprog > AUX_MAX_PROG ||
      nstatic > JIT_MAX_TAPE)
    return false;
  *static_off = AUX_HDR + (size_t)nsnap * AUX_SNAP + (size_t)nframe * 3 + nmatcls + nmatprog;
  return alen == (*static_off + (size_t)nstatic * AUX_STATIC) * 4;
}

/* The snapshots of the aux a (its counts checked), in place. */
static const jit_snap *aux_snaps(const uint32_t *a)
{
  return (const jit_snap *)(a + AUX_HDR);
}

/* The aux's frame records (3 words each). */
static const uint32_t *aux_frames(const uint32_t *a)
{
  return a + AUX_HDR + (size_t)a[6] * AUX_SNAP;
}

/* Does the header a of an aux of alen bytes describe a trace of the loop at
** backedge_pc of code (parent NULL), or a bridge of exit psnap of parent,
** with every count within its limit and the length they add up to?  Then
** *static_off is where its static section starts, in words. */
static bool aux_fits(const uint32_t *a, size_t alen, const vm_code *code, uint32_t backedge_pc,
                     const jit_trace *parent, uint32_t psnap, size_t *static_off)
{
  if (!aux_counts_ok(a, alen, static_off) || a[1] != (parent ? 1u : 0u) ||
      a[9] != code->ninsns)
    return false;
  return parent ? a[2] == parent->root->head_pc && a[10] == psnap
                : a[3] == backedge_pc && a[2] < code->ninsns;
}

const uint8_t *jit_aux_static(const void *aux, size_t alen, const vm_code *code,
                              uint32_t backedge_pc, const jit_trace *P, uint32_t psnap, uint32_t *n)
{
  uint32_t a[AUX_HDR];
  size_t off;
  *n = 0;
  if (!aux || alen < sizeof a)
    return NULL;
  memcpy(a, aux, sizeof a); /* a candidate's record may sit at any alignment */
  if (!aux_fits(a, alen, code, backedge_pc, P, psnap, &off))
    return NULL;
  *n = a[13];
  return (const uint8_t *)aux + off * 4;
}

/* Is the exit program at prog[at..] well formed for a trace of nmatcls
** classes (see opt_sink.c)?  The cache is untrusted input: every count,
** index and slot is checked before jit_h_materialize may follow it.  Each
** object's field count is that of its class: matcls[ci] bound (one bound
** in a pending tail is not known yet: *unbound is set and the program is
** checked again when the tail is validated), or, with matcls NULL, the
** count cls_nf[ci] the program's earlier objects gave it (PREP_NO_CLASS
** before the first: set then; jit_aux_prepare). */
#define PREP_NO_CLASS UINT32_MAX
static bool prog_valid(const uint32_t *prog, uint32_t nprog, uint32_t at, uint32_t nmatcls,
                       vm_class *const *matcls, uint32_t *cls_nf, bool *unbound)
{
  if (at == 0 || at >= nprog || nprog - at < 2)
    return false;
  uint32_t nobj = prog[at], nval = prog[at + 1], sum = 0;
  if (nobj == 0 || nobj > JIT_MAX_SUNKOBJ || nval > JIT_MAX_MATVAL)
    return false;
  uint32_t q = at + 2;
  for (uint32_t k = 0; k < nobj; k++) {
    if (nprog - q < 3)
      return false;
    uint32_t ci = prog[q], nf = prog[q + 1], ns = prog[q + 2];
    if ((ci >> 24) != 0 || ci >= nmatcls || nf > JIT_MAX_MATVAL || ns > JIT_MAX_SLOTS ||
        nprog - q - 3 < nf + ns)
      return false;
    if (!matcls) {
      if (cls_nf[ci] != PREP_NO_CLASS && cls_nf[ci] != nf)
        return false;
      cls_nf[ci] = nf;
    } else if (!matcls[ci]) {
      *unbound = true;
    } else if (nf != matcls[ci]->nfields) {
      return false;
    }
    for (uint32_t f = 0; f < nf; f++)
      if (prog[q + 3 + f] > nobj)
        return false;
    for (uint32_t j = 0; j < ns; j++)
      if (prog[q + 3 + nf + j] >= JIT_MAX_SLOTS)
        return false;
    sum += nf;
    q += 3 + nf + ns;
  }
  return sum == nval;
}

/* A bound slot of T holding an object of this kind: *out, or NULL if the
** slot is bound in a pending tail (true then), false if it is not such an
** object (the aux does not describe this trace).  Read from T->gcrefs,
** which reload_bind filled from the slots (a bound pointer is never NULL:
** NULL there is a slot not bound yet), not from libjcache once per frame
** of every snapshot. */
static bool bound_obj(const jit_trace *T, uint32_t slot, uint8_t kind, bool pending, void **out)
{
  *out = NULL;
  if (slot >= T->ngcref)
    return false;
  const vm_obj *o = T->gcrefs[slot].u.p;
  if (!o)
    return pending;
  if (o->kind != kind)
    return false;
  *out = T->gcrefs[slot].u.p;
  return true;
}

/* Where a pending tail waits (for --dump-ir): at the entry, or at the patch
** point after one of the loop's guards (libjcache chose). */
static const char *tail_guard_where(jit_state *J, jc_trace *jt)
{
  size_t size = 0;
  const uint8_t *code = jc_trace_code(jt, &size);
  jit_trace *T = code ? jit_trace_at(J, code) : NULL;
  uint32_t entry = !T ? 0 : T->parent ? 0 : T->preamble_off; /* its patch point */
  return T && entry < size && code[entry] != 0xE9 ? "after a guard" : "at the entry";
}

/* What reload_bind takes from the bound slots: GC roots, frames'
** functions, classes of sunk objects; false if one is of the wrong kind. */
static bool bind_objs(jit_trace *T, const uint32_t *a, bool pending)
{
  const uint32_t *fr = aux_frames(a);
  const uint32_t *mc = fr + (size_t)T->nsnapframe * 3;
  for (uint32_t b = 0; b < T->ngcref; b++) {
    uint64_t v = 0;
    T->gcrefs[b] = jc_trace_slot(T->jt, b, &v) == JC_OK && v
                       ? vm_objval(VM_T_STR, (void *)(uintptr_t)v)
                       : vm_nil(); /* not bound yet */
  }
  for (uint32_t f = 0; f < T->nsnapframe; f++)
    if (!bound_obj(T, fr[3 * f], VM_O_FUNC, pending, (void **)&T->snapframes[f].func))
      return false;
  for (uint32_t k = 0; k < T->nmatcls; k++) {
    if (!bound_obj(T, mc[k], VM_O_CLASS, pending, (void **)&T->matcls[k]))
      return false;
    T->matcls_bind[k] = mc[k];
  }
  return true;
}

/* The checks of one saved snapshot that need nothing but the aux: known
** flags, its frames inside the trace's nframe, its exit's jump inside the
** code's msize bytes, no snapshot entries (a reloaded trace has none). */
static bool snap_fits(const jit_snap *sn, uint32_t nframe, uint64_t msize)
{
  return !(sn->flags & ~JIT_SNAP_KNOWN) && sn->frame <= nframe &&
         sn->nframe <= nframe - sn->frame && sn->nframe <= JIT_MAX_DEPTH &&
         (!sn->jmp || (uint64_t)sn->jmp + JIT_EXIT_CONT < msize) && sn->ent == 0 &&
         sn->nent == 0;
}

/* Can every snapshot of T (its frames' functions bound) be resumed by an
** exit: its fields in range (the exit stub's jump inside the code), each
** frame's return pc inside its caller's code, its pc inside the innermost's,
** its exit program well formed?  A snapshot whose frames or program need a
** slot of a pending tail is left for later.  Consecutive snapshots that
** share their frames, as the recorder makes them, walk them once.  Run by
** from_jc once it has decoded them, and again by reload_bind when a tail
** is validated. */
static bool snaps_ok(const jit_trace *T)
{
  const jit_snap *sn = T->snaps;
  const jit_snapframe *frames = T->snapframes;
  const uint32_t nframe = T->nsnapframe, msize = T->msize;
  uint32_t wframe = UINT32_MAX, wn = UINT32_MAX; /* the frames last walked */
  bool unbound = false, outside = false;
  uint32_t ninsns = T->code->ninsns; /* the innermost frame's code's */
  for (uint32_t s = 0; s < T->nsnap; s++, sn++) {
    if (!snap_fits(sn, nframe, msize))
      return false;
    if (sn->frame != wframe || sn->nframe != wn) {
      wframe = sn->frame;
      wn = sn->nframe;
      unbound = outside = false;
      const vm_code *inner = T->code;
      for (const jit_snapframe *sf = frames + wframe; sf < frames + wframe + wn; sf++) {
        if (!sf->func) {
          unbound = true;
          break;
        }
        outside |= sf->ret_pc >= inner->ninsns;
        inner = sf->func->code;
      }
      ninsns = inner->ninsns;
    }
    bool skip = unbound; /* the frames' answer; the exit program's is this snapshot's */
    if (sn->mat && (T->code->nslots > JIT_MAX_SLOTS ||
                    !prog_valid(T->matprog, T->nmatprog, sn->mat, T->nmatcls, T->matcls, NULL,
                                &skip)))
      return false;
    if (!skip && (outside || sn->pc >= ninsns))
      return false;
  }
  return true;
}

/* Resolve what a reloaded trace takes from its bound slots: the functions
** of its snapshots' inlined frames and the classes its exits rebuild sunk
** objects with (each checked to be that kind of object), and the GC roots
** of everything the code embeds; then check every snapshot: its pcs inside
** the code they resume, its exit program well formed.  Slots bound in a
** pending tail are not known yet: what needs them stays NULL and those
** snapshots unchecked (no exit of the tail can be taken while its tail
** guard is in place), and this runs again when the tail is validated.
** False if the aux does not describe this trace. */
static bool reload_bind(jit_trace *T)
{
  size_t alen = 0;
  const uint32_t *a = jc_trace_aux(T->jt, &alen);
  if (!bind_objs(T, a, jc_trace_tail(T->jt, JC_GUARD_ANY) == JC_TAIL_PENDING))
    return false;
  return snaps_ok(T);
}

/* Pieces of one allocation, each 8-byte aligned. */
static size_t carve_len(size_t n)
{
  return (n + 7) & ~(size_t)7;
}

static void *carve(uint8_t **at, size_t n)
{
  void *p = *at;
  *at += carve_len(n);
  return p;
}

/* The base slot of aux frame record f (its top bit is ctor). */
static uint32_t frame_base(const uint32_t *f)
{
  return f[1] & 0x7fffffffu;
}

/* Decode the frames of the aux a into fr (their functions left NULL: bound
** later); false if a frame's base is out of range. */
static bool decode_frames(const uint32_t *a, jit_snapframe *fr)
{
  const uint32_t *f = aux_frames(a);
  for (uint32_t k = 0; k < a[7]; k++, f += 3) {
    if (frame_base(f) >= JIT_MAX_SLOTS)
      return false;
    fr[k] = (jit_snapframe){.base = frame_base(f), .ctor = (uint8_t)(f[1] >> 31), .ret_pc = f[2]};
  }
  return true;
}

/* -- Prepared on the prefetch thread --------------------------------------------------- */

/* What jit_aux_prepare makes of an aux on libjcache's prefetch thread
** (jc_cache_opts.prepare), ahead of the reload: everything snaps_ok checks
** that needs only the aux is checked there, and what needs this process's
** objects is reduced to one number per code object and per class, for
** prepared_ok.  A lazy bridge's reload then walks none of its snapshots
** (the walk was about a tenth of its cost, `ab.py`).  Laid out as
** prep_layout says, each array 8-byte aligned. */
#define PREP_MAGIC 0x50564a43u /* "CJVP" */
typedef struct jit_prep {
  uint32_t magic, nsnap, nframe, nmatcls;
  uint32_t need_root; /* every pc resumed in the root frame's code is below */
  uint32_t has_mat;   /* a snapshot has an exit program */
} jit_prep;

enum { PREP_NEED, PREP_CLS, PREP_END };

/* The offsets of a prep's arrays; returns its size. */
static size_t prep_layout(uint32_t nframe, uint32_t nmatcls, size_t off[PREP_END])
{
  size_t len[PREP_END] = {nframe * sizeof(uint32_t), nmatcls * sizeof(uint32_t)};
  size_t at = carve_len(sizeof(jit_prep));
  for (int k = 0; k < PREP_END; k++) {
    off[k] = at;
    at += carve_len(len[k]);
  }
  return at;
}

static void raise_to(uint32_t *need, uint32_t pc)
{
  if (pc >= *need)
    *need = pc + 1;
}

/* jc_cache_opts.prepare: on the prefetch thread, with nothing but the aux
** (and the code's size) to read: every check of snaps_ok that needs no
** object of this process, and the summary prepared_ok compares with the
** objects bound.  0 (nothing kept) for an aux that is not jcvm's or not
** well formed: the reload then checks it the usual way and rejects it
** there, counted. */
static size_t jit_aux_prepare(void *user, const void *aux, size_t alen, size_t code_len, void *out,
                              size_t cap)
{
  (void)user;
  const uint32_t *a = aux;
  size_t static_off, off[PREP_END];
  if ((uintptr_t)aux % 4 || !aux_counts_ok(a, alen, &static_off))
    return 0; /* a prefetched aux is 8-byte aligned (lib/format.c) */
  uint32_t nsnap = a[6], nframe = a[7], nmatcls = a[11], nmatprog = a[12];
  size_t size = prep_layout(nframe, nmatcls, off);
  if (size > cap)
    return size;
  uint8_t *o = out;
  jit_prep *P = out;
  uint32_t *need = (uint32_t *)(o + off[PREP_NEED]);
  uint32_t *cls_nf = (uint32_t *)(o + off[PREP_CLS]);
  const jit_snap *sn = aux_snaps(a);
  const uint32_t *fr = aux_frames(a);
  const uint32_t *prog = fr + (size_t)nframe * 3 + nmatcls;
  *P = (jit_prep){PREP_MAGIC, nsnap, nframe, nmatcls, 0, 0};
  memset(need, 0, nframe * sizeof *need);
  for (uint32_t k = 0; k < nmatcls; k++)
    cls_nf[k] = PREP_NO_CLASS;
  for (uint32_t k = 0; k < nframe; k++)
    if (frame_base(&fr[3 * k]) >= JIT_MAX_SLOTS || fr[3 * k + 2] == UINT32_MAX)
      return 0;
  for (uint32_t s = 0; s < nsnap; s++) {
    if (!snap_fits(&sn[s], nframe, code_len) || sn[s].pc == UINT32_MAX)
      return 0;
    /* Each frame returns to a pc of the code it was called from (the root
    ** frame's, or the frame before), the snapshot resumes at a pc of the
    ** innermost's: what prepared_ok compares with their code's length. */
    uint32_t *in = &P->need_root;
    for (uint32_t k = sn[s].frame; k < sn[s].frame + sn[s].nframe; k++) {
      raise_to(in, fr[3 * k + 2]);
      in = &need[k];
    }
    raise_to(in, sn[s].pc);
    bool unbound = false;
    if (sn[s].mat) {
      P->has_mat = 1;
      if (!prog_valid(prog, nmatprog, sn[s].mat, nmatcls, NULL, cls_nf, &unbound))
        return 0;
    }
  }
  return size;
}

/* The rest of snaps_ok for a trace with a prep P, its objects
** bound: each code object at least as long as its pcs need, each class
** with the field count its exit programs give it.  Stricter than snaps_ok
** (which leaves a snapshot with a frame of a pending tail for later): a
** trace whose frames are all bound later must pass this anyway. */
static bool prepared_ok(const jit_trace *T, const jit_prep *P, const uint32_t *need,
                        const uint32_t *cls_nf)
{
  if (T->code->ninsns < P->need_root || (P->has_mat && T->code->nslots > JIT_MAX_SLOTS))
    return false;
  for (uint32_t f = 0; f < T->nsnapframe; f++)
    if (T->snapframes[f].func && T->snapframes[f].func->code->ninsns < need[f])
      return false;
  for (uint32_t k = 0; k < T->nmatcls; k++)
    if (cls_nf[k] != PREP_NO_CLASS && T->matcls[k] && T->matcls[k]->nfields != cls_nf[k])
      return false;
  return true;
}

/* The prep libjcache kept for jt's record, if it is one for this aux a. */
static const jit_prep *prep_of(jit_state *J, jc_trace *jt, const uint32_t *a, size_t off[PREP_END])
{
  size_t len = 0;
  const jit_prep *P = J->prepare_mode == JIT_PREPARE_OFF ? NULL : jc_trace_prepared(jt, &len);
  if (!P || len < sizeof *P || P->magic != PREP_MAGIC || P->nsnap != a[6] ||
      P->nframe != a[7] || P->nmatcls != a[11] || prep_layout(a[7], a[11], off) != len)
    return NULL;
  return P;
}

/* Build the VM's trace for reloaded code; NULL (and *why) if its aux does not
** describe a trace of this loop. */
static jit_trace *from_jc(jit_state *J, jc_trace *jt, vm_code *code, uint32_t backedge_pc,
                          jit_trace *parent, uint32_t psnap, const char **why)
{
  size_t alen = 0, msize = 0;
  const uint32_t *a = jc_trace_aux(jt, &alen);
  uint8_t *mcode = jc_trace_code(jt, &msize);
  *why = "bad aux";
  size_t static_off;
  if (!a || !mcode || !aux_fits(a, alen, code, backedge_pc, parent, psnap, &static_off))
    return NULL;
  uint32_t nsnap = a[6], nframe = a[7], nbind = a[8], nmatcls = a[11], nmatprog = a[12];
  uint32_t head_pc = a[2];
  if (a[4] >= msize || a[5] >= msize)
    return NULL;
  /* One block for the trace and its arrays (a reload is on the warm run's
  ** critical path; ten callocs cost more than the rest of this function),
  ** from libjcache's memory populated ahead (jcache/mem.h): from malloc's
  ** fresh heap pages it faulted about once per reload.  jit_trace_free
  ** gives it back whole. */
#define ELEM(field) sizeof *((jit_trace *)0)->field
  size_t nb = nbind ? nbind : 1, nm = nmatcls ? nmatcls : 1;
  size_t sz[] = {sizeof(jit_trace),
                 nsnap * ELEM(snap_count),   (nframe ? nframe : 1) * ELEM(snapframes),
                 nb * ELEM(gcrefs),          nm * ELEM(matcls),
                 nsnap * ELEM(bridges),      nm * ELEM(matcls_bind),
                 nsnap,                      nsnap};
#undef ELEM
  size_t total = 0;
  for (size_t k = 0; k < sizeof sz / sizeof *sz; k++)
    total += carve_len(sz[k]);
  uint8_t *at = jc_mem_alloc(total);
  if (!at)
    return NULL;
  jit_trace *T = carve(&at, sz[0]);
  memset(T, 0, sizeof *T);
  T->reloaded = true;
  T->jt = jt;
  T->code = code;
  T->head_pc = head_pc;
  T->backedge_pc = parent ? parent->root->backedge_pc : backedge_pc;
  T->preamble_off = a[4];
  T->head_off = a[5];
  T->mcode = mcode;
  T->msize = (uint32_t)msize;
  T->nsnap = nsnap;
  T->nsnapframe = nframe;
  /* The snapshots are read where libjcache keeps the aux (jt's copy, as
  ** long-lived as T): decoding them was the largest part of building a
  ** lazy bridge's trace, and with their checks done on the prefetch thread
  ** a reload touches none of them.  Never written: what an exit changes is
  ** in snap_count, bridges, exit_dead and exit_checks. */
  T->snaps = (jit_snap *)aux_snaps(a);
  /* Populated ahead: no page fault.  Not zeroed whole: the decoding below
  ** writes every frame, root and class; only what starts at zero is
  ** cleared. */
  T->snap_count = carve(&at, sz[1]);
  T->snapframes = carve(&at, sz[2]);
  T->gcrefs = carve(&at, sz[3]);
  T->matcls = carve(&at, sz[4]);
  T->bridges = carve(&at, sz[5]);
  T->matcls_bind = carve(&at, sz[6]);
  T->exit_dead = carve(&at, sz[7]);
  T->exit_checks = carve(&at, sz[8]);
  memset(T->snap_count, 0, sz[1]);
  memset(T->bridges, 0, sz[5]);
  memset(T->exit_dead, 0, sz[7]);
  memset(T->exit_checks, 0, sz[8]);
  bool ok = true;
  T->ngcref = nbind;
  T->nmatcls = nmatcls;
  T->nmatprog = nmatprog;
  const uint32_t *mp = aux_frames(a) + (size_t)nframe * 3 + nmatcls;
  /* Read in place (a program can be kilobytes: copied, then zeroed first,
  ** it was most of a commit's memory traffic); only jit.c's exits read it. */
  T->matprog = nmatprog ? (uint32_t *)mp : NULL;
  ok = decode_frames(a, T->snapframes);
  /* reload_bind's work (the tail's validation runs reload_bind). */
  ok = ok && bind_objs(T, a, jc_trace_tail(jt, JC_GUARD_ANY) == JC_TAIL_PENDING);
  /* The snapshots checked on the prefetch thread (jit_aux_prepare), or here. */
  size_t poff[PREP_END];
  const jit_prep *P = ok ? prep_of(J, jt, a, poff) : NULL;
  if (P) {
    const uint8_t *pb = (const uint8_t *)P;
    ok = prepared_ok(T, P, (const uint32_t *)(pb + poff[PREP_NEED]),
                     (const uint32_t *)(pb + poff[PREP_CLS]));
    J->stats.prepared++;
    if (J->prepare_mode == JIT_PREPARE_VERIFY) {
      /* Never more lenient than the whole walk. */
      bool whole = snaps_ok(T);
      if (ok == whole)
        J->stats.prepare_agreed++;
      else if (ok)
        J->stats.prepare_disagreed++;
      ok = ok && whole;
    }
  } else {
    ok = ok && snaps_ok(T);
  }
  ok = ok && jit_tmap_add(J, T);
  if (!ok) {
    T->jt = NULL;
    T->ngcref = 0;
    jit_trace_free(J, T);
    return NULL;
  }
  /* Everything the code embeds stays alive as long as the trace (slots
  ** bound in a pending tail are nil until it is validated). */
  if (nbind)
    vm_gc_link_roots(J->vm, &T->gcroot, T->gcrefs, nbind);
  T->parent = parent;
  T->parent_snap = psnap;
  T->root = parent ? parent->root : T;
  T->id = ++J->ntraces;
  T->next = J->traces;
  J->traces = T;
  *why = NULL;
  return T;
}


/* What the commit of a check or of a static binding gave, made the VM's
** traces and attached (t0: when the commit began, tc: when it ended). */
static bool reload_built(jit_state *J, jc_err err, jc_trace **out, size_t n, uint64_t t0,
                         uint64_t tc, vm_code *code, uint32_t backedge_pc, jit_trace *parent,
                         uint32_t snap);

bool jit_reload_commit(jit_state *J, jc_replay *cur, vm_code *code, uint32_t backedge_pc,
                       jit_trace *parent, uint32_t snap)
{
  uint64_t t0 = jit_now_ns();
  jc_trace *out[JC_MAX_CHAIN];
  size_t n = 0;
  jc_err err = jc_replay_commit(cur, out, JC_MAX_CHAIN, &n);
  return reload_built(J, err, out, n, t0, jit_now_ns(), code, backedge_pc, parent, snap);
}

jc_err jit_reload_static(jit_state *J, size_t cand, const jc_replay_ans *a, size_t na,
                         vm_code *code, uint32_t backedge_pc, jit_trace *parent, uint32_t snap)
{
  uint64_t t0 = J->t_mark; /* static binding's end */
  jc_trace *out[JC_MAX_CHAIN];
  size_t n = 0;
  jc_err err = jc_replay_static(J->cache, J->chk_cands, cand, jit_resolve, J, a, na, out,
                                JC_MAX_CHAIN, &n);
  if (err)
    return err; /* the candidates stay: the caller checks them */
  reload_built(J, JC_OK, out, n, t0, jit_now_ns(), code, backedge_pc, parent, snap);
  return JC_OK;
}

static bool reload_built(jit_state *J, jc_err err, jc_trace **out, size_t n, uint64_t t0,
                         uint64_t tc, vm_code *code, uint32_t backedge_pc, jit_trace *parent,
                         uint32_t snap)
{
  jit_check_done(J);
  if (err || n == 0) {
    jit_reload_miss(J, code, backedge_pc, parent, snap, jc_last_error());
    return false;
  }
  /* out[0] is the loop (or the lazy bridge, already attached to parent's
  ** exit), out[i] a bridge attached to out[i-1]. */
  jit_trace *prev = parent;
  uint32_t prev_snap = snap;
  size_t built = 0;
  const char *why = NULL;
  for (size_t i = 0; i < n; i++) {
    uint32_t exit = snap;
    if (i > 0)
      jc_trace_parent(out[i], &exit);
    jit_trace *T = from_jc(J, out[i], code, backedge_pc, i ? prev : parent, i ? exit : snap, &why);
    if (!T)
      break;
    if (i == 0 && J->static_id)
      jit_static_verify(J, out[i]);
    if (i == 0 && !parent) {
      code->ic[backedge_pc].target = T;
      J->stats.reloaded_loops++;
    } else {
      T->parent->bridges[T->parent_snap] = T;
      T->root->nbridges++;
      J->stats.reloaded_bridges++;
    }
    J->stats.code_bytes += T->msize;
    if (jc_trace_tail(out[i], JC_GUARD_ANY) == JC_TAIL_PENDING)
      J->stats.tail_guards++;
    prev = T;
    prev_snap = exit;
    built++;
  }
  (void)prev_snap;
  if (built < n) {
    /* The reloaded code does not describe this loop: never run it.  A lazy
    ** bridge was attached already; point the exit back at its stub. */
    if (built == 0 && parent)
      jit_asm_link(parent, snap, NULL);
    if (built == 0)
      for (size_t i = 0; i < n; i++)
        jc_trace_release(out[i]);
    jit_reload_miss(J, code, backedge_pc, parent, snap, why ? why : "bad aux");
    return built > 0;
  }
  uint64_t t1 = jit_now_ns();
  J->stats.commit_ns += t1 - t0;
  J->stats.replay_hits++;
  J->cur.commit_ns = jit_part_ns(J, t0, tc);
  J->cur.build_ns = jit_part_ns(J, tc, t1);
  for (size_t i = 0; i < n; i++) {
    J->cur.ahead_ns += jc_trace_ahead_ns(out[i]);
    J->cur.wrote_ahead_ns += jc_trace_wrote_ahead_ns(out[i]);
  }
  jit_cost(J, jc_trace_id(out[0]), JIT_COST_RELOAD, parent != NULL, (uint8_t)n);
  memset(&J->cur, 0, sizeof J->cur);
  for (size_t i = 1; i < n; i++)
    jit_cost(J, jc_trace_id(out[i]), JIT_COST_RELOAD, true, 0);
  if (J->dump_ir) {
    fprintf(J->dump, "---- reloaded %zu trace(s): %s\n", n, jc_trace_name(out[0]));
    for (size_t i = 0; i < n; i++)
      if (jc_trace_tail(out[i], JC_GUARD_ANY) == JC_TAIL_PENDING)
        fprintf(J->dump, "---- tail guard of %s: %s\n", jc_trace_name(out[i]),
                tail_guard_where(J, out[i]));
  }
  return true;
}

bool jit_check_defer(jit_state *J, vm_code *code, uint32_t backedge_pc, jit_trace *parent,
                     uint32_t snap)
{
  uint8_t *tries;
  if (parent) {
    tries = &parent->exit_checks[snap];
  } else {
    jit_loopinfo *L = jit_loop_info(J, code, backedge_pc);
    if (!L)
      return false;
    tries = &L->checks;
  }
  if (*tries + 1 >= JIT_CHECK_TRIES)
    return false;
  (*tries)++;
  J->stats.checks_deferred++;
  if (J->dump_ir)
    fprintf(J->dump, "---- check deferred (%s): the iteration left the candidate at a guard\n",
            parent ? "bridge" : "loop");
  return true;
}

void jit_reload_miss(jit_state *J, vm_code *code, uint32_t backedge_pc, jit_trace *parent,
                     uint32_t snap, const char *why)
{
  J->stats.replay_misses++;
  jit_cost(J, 0, JIT_COST_MISS, parent != NULL, 0);
  jit_check_done(J);
  if (J->dump_ir)
    fprintf(J->dump, "---- cache miss (%s): %s\n", parent ? "bridge" : "loop", why ? why : "?");
  if (parent) {
    if (parent->exit_checks[snap] < JIT_CHECK_TRIES)
      parent->exit_checks[snap]++;
  } else {
    jit_loopinfo *L = jit_loop_info(J, code, backedge_pc);
    if (L && L->checks < JIT_CHECK_TRIES)
      L->checks++;
  }
}

/* -- Tails --------------------------------------------------------------------------- */

/* Never enter X again: its loop's back edge or its parent's exit forgets it
** (the exit points at its stub again), and what it hangs off is traced
** afresh when it gets hot, or at once if `hot` (it has been running all
** along).  X stays allocated: jit_free releases it. */
static void unhook(jit_state *J, jit_trace *X, bool hot)
{
  if (X->parent) {
    jit_trace *P = X->parent;
    if (P->bridges[X->parent_snap] == X) {
      P->bridges[X->parent_snap] = NULL;
      jit_asm_link(P, X->parent_snap, NULL);
    }
    P->exit_checks[X->parent_snap] = JIT_CHECK_NONE;
    P->snap_count[X->parent_snap] = hot ? J->exit_hot : 0;
  } else {
    if (X->code->ic[X->backedge_pc].target == X)
      X->code->ic[X->backedge_pc].target = NULL;
    X->code->ic[X->backedge_pc].hot_limit = hot ? J->reload_hot : J->hot;
    jit_loopinfo *L = jit_loop_info(J, X->code, X->backedge_pc);
    if (L)
      L->checks = JIT_CHECK_NONE;
  }
}

void jit_tail_arm(jit_state *J, jit_trace *X)
{
  (void)J;
  X->tail_armed = true;
  if (X->parent && X->parent->bridges[X->parent_snap] == X)
    jit_asm_link(X->parent, X->parent_snap, NULL);
}

bool jit_tail_check_bridge(jit_state *J, vm_frame *frame, jit_trace *P, uint32_t snap)
{
  jit_trace *B = P->bridges[snap];
  B->tail_armed = false;
  jit_asm_link(P, snap, B);
  if (J->vm->jit_recording)
    return false;
  if (!jit_check_start_tail(J, frame, B))
    jit_tail_done(J, B, JC_STATE, "no tail to check");
  return true;
}

void jit_tail_done(jit_state *J, jit_trace *X, jc_err verdict, const char *why)
{
  jit_cost(J, jc_trace_id(X->jt), JIT_COST_TAIL, X->parent != NULL, 0);
  /* Moved: the check left X through a guard inside the tail, so the tail
  ** up to it is checked and the tail guard waits after that guard now.
  ** Progress: the tries start again, and that guard has not fired. */
  bool moved = verdict == JC_EXIT && jc_trace_tail(X->jt, JC_GUARD_ANY) == JC_TAIL_PENDING;
  if (verdict == JC_OK || moved) {
    const char *what = moved ? "moved" : "validated";
    if (moved) {
      J->stats.tails_moved++;
      X->tail_rearm = 0;
      X->tail_tries = 0;
    } else {
      J->stats.tails_validated++;
    }
    /* The slots of the part checked are bound now: its frames and constants too. */
    if (!reload_bind(X)) {
      if (J->dump_ir)
        fprintf(J->dump, "---- tail %s, bad aux: %s\n", what, jc_trace_name(X->jt));
      unhook(J, X, false);
      return;
    }
    if (J->dump_ir)
      fprintf(J->dump, "---- tail %s: %s%s%s\n", what, jc_trace_name(X->jt), moved ? ": " : "",
              moved && why ? why : "");
    return;
  }
  jc_tail_state st = jc_trace_tail(X->jt, JC_GUARD_ANY);
  if (st == JC_TAIL_INVALIDATED) {
    /* The tail disagrees with the program: the tail guard stays an exit
    ** for good, and the trace is of no use any more. */
    J->stats.tails_invalidated++;
    if (J->dump_ir)
      fprintf(J->dump, "---- tail invalidated: %s: %s\n", jc_trace_name(X->jt), why ? why : "?");
    unhook(J, X, false);
    return;
  }
  if (J->dump_ir)
    fprintf(J->dump, "---- tail still pending: %s: %s\n", jc_trace_name(X->jt), why ? why : "?");
  if (st != JC_TAIL_PENDING || ++X->tail_tries >= JIT_TAIL_TRIES) {
    unhook(J, X, true); /* the iterations never take its path: trace afresh */
    return;
  }
  /* A tail guard after a guard has fired (an iteration took the tail's
  ** way), but the entry checked since went another way: check the next few
  ** entries too, then wait for the next firing.  A loop whose entries never
  ** go the tail's way (in deltablue, the iteration that would is run by the
  ** caller's trace) keeps its reloaded code, behind a tail guard that
  ** rarely fires, rather than being traced afresh with its family. */
  if (X->tail_rearm) {
    X->tail_rearm--;
    jit_tail_arm(J, X);
  }
}
