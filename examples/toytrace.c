/*
** examples/toytrace.c — the toy JIT's emitter, recorder calls and replay.
*/
#include "toytrace.h"

#include <stdarg.h>
#include <string.h>

const toy_greens toy_default_greens = {0xA11CE, 0xB0B, 0xC0FFEE};
bool toy_slot_exits;

/* Slots of the slot exits of loops compiled here: the client's memory, as
** long as the process (the toy never frees a loop's slot). */
static uint64_t toy_slots[256];
static uint32_t toy_nslots;

long toy_helper(long v) { return 2 * v; }

uint64_t toy_resolve(void *ctx, const char *name) {
  (void)ctx;
  if (strcmp(name, "toy_helper") == 0) return (uint64_t)(uintptr_t)&toy_helper;
  return 0;
}

long toy_expect(const toy_consts *c, long x) {
  while (x > 100) x -= c->B;
  return toy_helper((long)c->K + x + c->D) + (long)c->T;
}

/* -- A byte emitter ---------------------------------------------------------- */

typedef struct emit {
  uint8_t buf[8192];
  uint32_t n;
} emit;

static void b(emit *e, int n, ...) {
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) e->buf[e->n++] = (uint8_t)va_arg(ap, int);
  va_end(ap);
}
static void u32(emit *e, uint32_t v) { memcpy(e->buf + e->n, &v, 4); e->n += 4; }
static void u64(emit *e, uint64_t v) { memcpy(e->buf + e->n, &v, 8); e->n += 8; }
static void nop(emit *e) { b(e, 1, 0x90); }
/* Pad so that an instruction with an `oplen`-byte opcode has its rel32 field
** inside one aligned 8-byte word (jc_rec_exit's rule). */
static void align_field(emit *e, uint32_t oplen) {
  while ((e->n + oplen) % 8 > 4) nop(e);
}
static void align8(emit *e) { while (e->n % 8) nop(e); }
static void rel32_to(emit *e, uint32_t field, uint32_t target) {
  int32_t rel = (int32_t)target - (int32_t)(field + 4);
  memcpy(e->buf + field, &rel, 4);
}

/* -- The loop -------------------------------------------------------------------- */

typedef struct loop_layout {
  uint32_t k, d, call, t, exit_field, pp, pp_end, tail_stub, exit_stub;
  uint32_t slot_field; /* slot exits: where the slot's address is */
} loop_layout;

/* Emit the loop as it runs at `at`, with the constants of `c`. */
static void emit_loop(emit *e, loop_layout *L, const uint8_t *at,
                      const toy_consts *c, uint32_t pad, uint64_t *slot) {
  e->n = 0;
  b(e, 1, 0x53);                       /* push rbx */
  b(e, 2, 0x48, 0xBB); L->k = e->n; u64(e, c->K);  /* mov rbx, K */
  b(e, 4, 0x48, 0x8D, 0x04, 0x3B);     /* lea rax, [rbx+rdi] */
  b(e, 2, 0x48, 0x05); L->d = e->n; u32(e, (uint32_t)c->D); /* add rax, D */
  for (uint32_t i = 0; i < pad; i++) nop(e);
  b(e, 4, 0x48, 0x83, 0xFF, 0x64);     /* cmp rdi, 100 */
  align_field(e, 2);
  b(e, 2, 0x0F, 0x8F); L->exit_field = e->n; u32(e, 0); /* jg exit 0 */
  align8(e);
  L->pp = e->n;                        /* patch point: an 8-byte nop */
  b(e, 8, 0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00);
  b(e, 3, 0x48, 0x89, 0xC7);           /* mov rdi, rax */
  b(e, 1, 0xE8); L->call = e->n; u32(e, 0); /* call toy_helper */
  rel32_to(e, L->call, (uint32_t)((const uint8_t *)&toy_helper - at));
  b(e, 2, 0x48, 0xBB); L->t = e->n; u64(e, c->T);  /* mov rbx, T */
  b(e, 3, 0x48, 0x01, 0xD8);           /* add rax, rbx */
  L->pp_end = e->n;
  b(e, 2, 0x5B, 0xC3);                 /* pop rbx; ret */
  uint32_t jump_to = 0;
  if (slot) {                          /* exit 0 jumps through its slot */
    jump_to = e->n;
    b(e, 2, 0x48, 0xB8); L->slot_field = e->n; u64(e, (uint64_t)(uintptr_t)slot);
    b(e, 2, 0xFF, 0x20);               /* jmp [rax] */
  }
  L->exit_stub = e->n;                 /* exit 0: return -1 */
  b(e, 3, 0x48, 0xC7, 0xC0); u32(e, (uint32_t)TOY_EXIT_MARK);
  b(e, 2, 0x5B, 0xC3);
  L->tail_stub = e->n;                 /* tail guard: return -2 */
  b(e, 3, 0x48, 0xC7, 0xC0); u32(e, (uint32_t)TOY_TAIL_MARK);
  b(e, 2, 0x5B, 0xC3);
  rel32_to(e, L->exit_field, slot ? jump_to : L->exit_stub);
}

jc_err toy_compile_loop(jc_cache *cache, jc_key key, const toy_greens *g,
                        const toy_consts *c, uint32_t pad, jc_trace **out) {
  emit local, *ep = &local;
  loop_layout L;
  void *at;
  jc_err err = jc_arena_alloc(sizeof ep->buf, &at);
  if (err) return err;
  uint64_t *slot = NULL;
  if (toy_slot_exits) {
    if (toy_nslots == sizeof toy_slots / sizeof *toy_slots) {
      jc_arena_free(at);
      return JC_LIMIT;
    }
    slot = &toy_slots[toy_nslots++];
  }
  emit_loop(ep, &L, at, c, pad, slot);
  if (slot) *slot = (uint64_t)(uintptr_t)((uint8_t *)at + L.exit_stub);
  jc_arena_shrink(at, ep->n);
  if ((err = jc_arena_write(at, ep->buf, ep->n))) {
    jc_arena_free(at);
    return err;
  }

  jc_rec *r;
  if ((err = jc_rec_begin_loop(cache, key, &r))) return err;
  uint32_t sK, sD, sT, sH;
  jc_rec_slot_bound(r, &sK);
  jc_rec_slot_bound(r, &sD);
  jc_rec_slot_bound(r, &sT);
  jc_rec_slot_symbol(r, "toy_helper", &sH);
  jc_rec_green(r, 1, TOY_KIND_OP, g->fp1);
  jc_rec_bind(r, sK);
  jc_rec_bind(r, sD);
  jc_rec_guard_fp(r, 0, TOY_GUARD_PASS); /* the trace expects x <= 100 */
  jc_rec_green(r, 2, TOY_KIND_OP, g->fp2);
  jc_rec_bind(r, sT);
  jc_rec_reloc(r, L.k, JC_RELOC_ABS64, sK, 0);
  jc_rec_reloc(r, L.d, JC_RELOC_ABS32, sD, 0);
  jc_rec_reloc(r, L.call, JC_RELOC_REL32, sH, 0);
  jc_rec_reloc(r, L.t, JC_RELOC_ABS64, sT, 0);
  if (slot) jc_rec_exit_slot(r, 0, L.slot_field, L.exit_stub);
  else jc_rec_exit(r, 0, L.exit_field);
  jc_rec_patch_point(r, 0, L.pp, L.pp_end, L.tail_stub);
  jc_rec_name(r, "jc_loop_toy_L1");
  jc_rec_line(r, 0, "toy.jc", 1);
  jc_rec_line(r, L.pp, "toy.jc", 2);
  return jc_rec_finish(r, ep->buf, ep->n, 0, at, out);
}

/* -- The bridge ------------------------------------------------------------------- */

jc_err toy_compile_bridge(jc_cache *cache, jc_trace *loop, const toy_greens *g,
                          const toy_consts *c, jc_trace **out) {
  emit e;
  void *at;
  jc_err err = jc_arena_alloc(64, &at);
  if (err) return err;
  uint8_t *root = jc_trace_entry(loop);
  e.n = 0;
  b(&e, 3, 0x48, 0x81, 0xEF); uint32_t fB = e.n; u32(&e, (uint32_t)c->B); /* sub rdi, B */
  b(&e, 1, 0x5B);                       /* pop rbx */
  b(&e, 1, 0xE9); uint32_t fJ = e.n; u32(&e, 0); /* jmp loop entry */
  int32_t rel = (int32_t)(root - ((uint8_t *)at + fJ + 4));
  memcpy(e.buf + fJ, &rel, 4);
  if ((err = jc_arena_write(at, e.buf, e.n))) {
    jc_arena_free(at);
    return err;
  }

  jc_rec *r;
  if ((err = jc_rec_begin_bridge(cache, jc_trace_id(loop), 0, &r))) return err;
  uint32_t sB, sRoot;
  jc_rec_slot_bound(r, &sB);
  jc_rec_slot_arena(r, JC_REF_ROOT, (uint32_t)(root - (uint8_t *)jc_trace_code(loop, NULL)), &sRoot);
  jc_rec_green(r, 3, TOY_KIND_OP, g->fp3);
  jc_rec_bind(r, sB);
  jc_rec_reloc(r, fB, JC_RELOC_ABS32, sB, 0);
  jc_rec_reloc(r, fJ, JC_RELOC_REL32, sRoot, 0);
  jc_rec_name(r, "jc_bridge_toy_L1_x0");
  err = jc_rec_finish(r, e.buf, e.n, 0, at, out);
  if (err) return err;
  return jc_trace_attach(loop, 0, at);
}

/* -- Reload ----------------------------------------------------------------------- */

jc_err toy_reload(jc_cache *cache, jc_key key, const toy_greens *g,
                  const toy_consts *c, long x, jc_trace **out, size_t cap,
                  size_t *n) {
  jc_cands *cs;
  jc_err err = jc_lookup(cache, key, &cs);
  if (err) return err;
  jc_replay *r;
  if ((err = jc_replay_begin(cache, cs, toy_resolve, NULL, &r))) {
    jc_cands_release(cs);
    return err;
  }
  /* The checking iteration: the same calls, in the same order, as the
  ** recording, with this run's values. */
  if (!err) err = jc_replay_green(r, 1, TOY_KIND_OP, g->fp1);
  if (!err) err = jc_replay_bind(r, c->K);
  if (!err) err = jc_replay_bind(r, (uint64_t)(int64_t)c->D);
  /* The outcome at guard 0; candidates that expect another one leave
  ** through exit 0 there.  JC_BRIDGE: into the saved bridge, whose
  ** decisions follow.  JC_EXIT: every candidate left without a bridge, so
  ** there is nothing more to check. */
  bool left = false, bridge = false;
  if (!err) {
    err = jc_replay_guard_fp(r, 0, x > 100 ? TOY_GUARD_EXIT : TOY_GUARD_PASS);
    if (err == JC_EXIT || err == JC_BRIDGE) {
      left = err == JC_EXIT;
      bridge = err == JC_BRIDGE;
      err = JC_OK;
    }
  }
  if (!err && left) {
    /* nothing more to check */
  } else if (!err && bridge) {
    /* Left through exit 0: the bridge's decisions follow. */
    err = jc_replay_green(r, 3, TOY_KIND_OP, g->fp3);
    if (!err) err = jc_replay_bind(r, (uint64_t)(int64_t)c->B);
  } else if (!err) {
    err = jc_replay_green(r, 2, TOY_KIND_OP, g->fp2);
    if (!err) err = jc_replay_bind(r, c->T);
  }
  if (err) {
    jc_replay_abort(r);
  } else {
    err = jc_replay_commit(r, out, cap, n);
  }
  jc_cands_release(cs);
  return err;
}

jc_err toy_check_tail(jc_trace *loop, const toy_greens *g, const toy_consts *c) {
  jc_replay *r;
  jc_err err = jc_tail_begin(loop, 0, &r);
  if (err) return err;
  /* The whole iteration again, from the entry: the prefix (compared with
  ** what the loop was committed with), guard 0 passed this time, then the
  ** tail itself. */
  err = jc_replay_green(r, 1, TOY_KIND_OP, g->fp1);
  if (!err) err = jc_replay_bind(r, c->K);
  if (!err) err = jc_replay_bind(r, (uint64_t)(int64_t)c->D);
  if (!err) err = jc_replay_guard_fp(r, 0, TOY_GUARD_PASS);
  if (!err) err = jc_replay_green(r, 2, TOY_KIND_OP, g->fp2);
  if (!err) err = jc_replay_bind(r, c->T);
  if (err) {
    jc_replay_abort(r);
    return err;
  }
  return jc_replay_commit(r, NULL, 0, NULL);
}
