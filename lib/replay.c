/*
** lib/replay.c — the checking iteration: green decisions, binds, guards.
**
** The client calls green/bind/guard in exactly the order its tracer called
** the recorder.  Every candidate still alive must see the same entry next on
** its tape; a candidate that sees anything else is dropped.  When no
** candidate is left the cursor answers JC_MISS for good, and the client
** traces the loop as if there were no cache.
*/
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "jcache/mem.h"
#include "probes.h"
#include "replay.h"

/* -- Paths -------------------------------------------------------------------- */

/* A level's slot values and their set flags: one block from jc_mem (size
** classes recycled from one check to the next, pages populated ahead),
** not two callocs and two frees per level of every check. */
static void level_free(jc_level *l) {
  jc_mem_free(l->val);
  l->val = NULL;
  l->set = NULL;
}

static void path_free(jc_path *p) {
  for (uint32_t i = 0; i < p->depth; i++) level_free(&p->lv[i]);
  p->depth = 0;
}

jc_err jc_level_slots(jc_level *l, uint32_t nslots) {
  size_t n = (size_t)nslots + 1;
  l->val = jc_mem_alloc(n * (sizeof *l->val + sizeof *l->set));
  if (!l->val) {
    l->set = NULL;
    return jc_fail(JC_NOMEM, "jcache: out of memory in replay");
  }
  l->set = (bool *)(l->val + n);
  return JC_OK;
}

/* Level `l` over a candidate (or, with cand NULL, raw tape), but for the
** room of its slot values (level_init, or jc_replay_static's stack). */
static void level_over(jc_level *l, const jc_cand *cand, uint64_t id,
                       const uint8_t *tape, uint32_t ntape, uint32_t nslots) {
  memset(l, 0, sizeof *l);
  l->cand = cand;
  l->id = id;
  l->tape = tape;
  l->ntape = ntape;
  l->left_guard = JC_NO_GUARD;
  l->nslots = nslots;
}

/* Nothing bound yet: every value and set flag of l's room cleared (one
** block, the flags after the values, as jc_level_slots lays it out). */
static void level_clear(jc_level *l) {
  memset(l->val, 0, ((size_t)l->nslots + 1) * (sizeof *l->val + sizeof *l->set));
}

/* Initialize level `l` over a candidate (or, with cand NULL, raw tape). */
static jc_err level_init(jc_level *l, const jc_cand *cand, uint64_t id,
                         const uint8_t *tape, uint32_t ntape, uint32_t nslots) {
  level_over(l, cand, id, tape, ntape, nslots);
  jc_err err = jc_level_slots(l, nslots);
  if (err) return err;
  level_clear(l);
  return JC_OK;
}

static jc_err level_copy(jc_level *dst, const jc_level *src) {
  jc_err err = level_init(dst, src->cand, src->id, src->tape, src->ntape,
                          src->nslots);
  if (err) return err;
  dst->pos = src->pos;
  dst->left_guard = src->left_guard;
  memcpy(dst->val, src->val, (src->nslots + 1) * sizeof *dst->val);
  memcpy(dst->set, src->set, (src->nslots + 1) * sizeof *dst->set);
  return JC_OK;
}

/* Room for `cap` paths, from jc_mem like the replay itself (a path is
** most of a kilobyte, and realloc of the first one cost a check more than
** half of a green decision's worth per candidate); false when out of
** memory. */
static bool paths_reserve(jc_replay *r, uint32_t cap) {
  if (cap <= r->cap) return true;
  jc_path *np = jc_mem_alloc((size_t)cap * sizeof *np);
  if (!np) return false;
  if (r->npaths) memcpy(np, r->paths, (size_t)r->npaths * sizeof *np);
  jc_mem_free(r->paths);
  r->paths = np;
  r->cap = cap;
  return true;
}

/* Append an empty path; returns it or NULL. */
static jc_path *path_new(jc_replay *r) {
  if (r->npaths == r->cap && !paths_reserve(r, r->cap ? r->cap * 2 : 4))
    return NULL;
  jc_path *p = &r->paths[r->npaths++];
  memset(p, 0, sizeof *p);
  p->alive = true;
  return p;
}

static void tape_at(const jc_level *l, struct jc_fmt_tape *e) {
  memcpy(e, l->tape + (size_t)l->pos * sizeof *e, sizeof *e);
}

/* With jc_replay_pass_guards, the GUARD entries at l's position are passed
** (op is an entry's first byte). */
static inline void skip_guards(const jc_replay *r, jc_level *l) {
  if (!r->pass_guards) return;
  while (l->pos < l->ntape &&
         l->tape[(size_t)l->pos * sizeof(struct jc_fmt_tape)] == JC_TAPE_GUARD)
    l->pos++;
}

/* -- Begin and end -------------------------------------------------------------- */

/* What a cursor counted, added to the process counters once. */
static void count_decisions(const jc_replay *r) {
  if (r->hits) jc_stat_add(replay_hits, r->hits);
  if (r->binds) jc_stat_add(binds, r->binds);
}

void jc_replay_free(jc_replay *r) {
  if (!r) return;
  count_decisions(r);
  for (uint32_t i = 0; i < r->npaths; i++) path_free(&r->paths[i]);
  jc_mem_free(r->paths);
  for (uint32_t i = 0; i < r->nheld; i++) jc_cands_release(r->held[i]);
  free(r->held);
  jc_mem_free(r);
}

/* The live parent of a lazy bridge's candidate (NULL if it does not run
** here: that candidate cannot be followed). */
static jc_trace *bridge_parent(const jc_cand *cd) {
  jc_trace *parent = jc_trace_find(cd->view.parent_id);
  return parent && parent->code ? parent : NULL;
}

JC_API jc_err jc_replay_begin(jc_cache *c, jc_cands *cands, jc_resolver resolve,
                              void *resolve_ctx, jc_replay **out) {
  if (!out) return jc_fail(JC_INVAL, "jcache: jc_replay_begin: out is NULL");
  *out = NULL;
  if (!c || !cands)
    return jc_fail(JC_INVAL, "jcache: jc_replay_begin: no cache or candidates");
  jc_replay *r = jc_mem_calloc(sizeof *r);
  if (!r) return jc_fail(JC_NOMEM, "jcache: out of memory in replay");
  r->cache = c;
  r->resolve = resolve;
  r->resolve_ctx = resolve_ctx;
  if (cands->n && !paths_reserve(r, (uint32_t)cands->n)) {
    jc_replay_free(r);
    return jc_fail(JC_NOMEM, "jcache: out of memory in replay");
  }
  for (size_t i = 0; i < cands->n; i++) {
    const jc_cand *cd = &cands->v[i];
    if (cd->view.hdr.kind == JC_FMT_BRIDGE) {
      /* A lazy bridge: its parent must run here, and all candidates of one
      ** bridge key share the parent. */
      jc_trace *parent = bridge_parent(cd);
      if (!parent) continue;
      r->parent = parent;
      r->parent_exit = cd->view.parent_exit;
    }
    jc_path *p = path_new(r);
    if (!p || level_init(&p->lv[0], cd, cd->id, cd->view.tape, cd->view.ntape,
                         cd->view.nslots)) {
      if (p) r->npaths--;
      jc_replay_free(r);
      return jc_fail(JC_NOMEM, "jcache: out of memory in replay");
    }
    p->depth = 1;
  }
  *out = r;
  return JC_OK;
}

JC_API void jc_replay_abort(jc_replay *r) { jc_replay_free(r); }

/* -- Decisions ------------------------------------------------------------------ */

/* What the last dying path expected, for the miss probe. */
typedef struct miss_info {
  uint64_t id;
  uint32_t site;
  uint64_t expected, observed;
  const char *why;
} miss_info;

/* Count the live paths; on the transition to none, report the miss once. */
static jc_err settle(jc_replay *r, const miss_info *mi) {
  for (uint32_t i = 0; i < r->npaths; i++)
    if (r->paths[i].alive) return JC_OK;
  if (!r->missed) {
    r->missed = true;
    if (r->tail) {
      jc_tail_invalidate(r, mi->site, mi->expected, mi->observed);
    } else {
      jc_stat_add(replay_misses, 1);
      JC_PROBE(replay_miss, mi->id, mi->site, mi->expected, mi->observed,
               mi->why);
    }
  }
  return jc_fail(JC_MISS, "jcache: replay miss (%s) at site %u: expected "
                          "%#llx, observed %#llx", mi->why, mi->site,
                 (unsigned long long)mi->expected,
                 (unsigned long long)mi->observed);
}

static void kill(jc_path *p, miss_info *mi, const struct jc_fmt_tape *e,
                 uint32_t site, uint64_t observed, const char *why) {
  p->alive = false;
  mi->id = p->lv[p->depth - 1].id;
  mi->site = site;
  mi->expected = e ? e->fp : 0;
  mi->observed = observed;
  mi->why = why;
}

/* The level a path is checking now, or NULL if the path ended at an exit. */
static jc_level *current(jc_path *p) {
  return (p->alive && !p->exited) ? &p->lv[p->depth - 1] : NULL;
}

/* A tail check met something else than the committed trace in the prefix
** before the tail, or, in the tail, another kind of entry, another site or
** another guard: this iteration does not follow the trace's path, so it
** says nothing about the tail.  The path ends as if at an exit (commit then
** leaves the tail pending).  Only a green decision at the same site with
** another fingerprint tells that the program is not what the tail was
** recorded from: a miss, which invalidates the tail. */
static bool in_prefix(const jc_replay *r, const jc_level *l) {
  return r->tail && l->pos < r->tail_from;
}

static jc_err left_path(jc_path *p) {
  p->exited = true;
  return jc_fail_const(JC_EXIT, "jcache: the tail check's iteration left "
                                "the trace's path");
}

/* The level path i checks now and its next tape entry in *e; NULL if the
** path has ended at an exit, is dead, or dies now because its tape ended. */
static jc_level *next_entry(jc_replay *r, uint32_t i, struct jc_fmt_tape *e,
                            miss_info *mi, uint32_t site, uint64_t observed) {
  jc_level *l = current(&r->paths[i]);
  if (!l) return NULL;
  skip_guards(r, l);
  if (l->pos >= l->ntape) {
    if (r->tail)
      r->paths[i].exited = true; /* went on past the trace: another path */
    else
      kill(&r->paths[i], mi, NULL, site, observed, "tape ended");
    return NULL;
  }
  tape_at(l, e);
  return l;
}

/* The one path of an ordinary check, still checking, and its next entry
** in *e; else NULL.  Most checks follow one candidate, and most answers
** match: green, bind and guard then skip the loops over paths (the same
** result, at a fraction of the cost: they run at every decision). */
static inline jc_level *sole(jc_replay *r, struct jc_fmt_tape *e) {
  if (r->npaths != 1 || r->tail) return NULL;
  jc_level *l = current(&r->paths[0]);
  if (!l) return NULL;
  skip_guards(r, l);
  if (l->pos >= l->ntape) return NULL;
  tape_at(l, e);
  return l;
}

/* The general case of each answer: every path, misses, forks. */
static __attribute__((noinline)) jc_err green_all(jc_replay *r, uint32_t site,
                                                  uint16_t kind, uint64_t fp) {
  miss_info mi = {0, site, 0, fp, "no candidate"};
  uint64_t hit_id = 0;
  for (uint32_t i = 0; i < r->npaths; i++) {
    struct jc_fmt_tape e;
    jc_level *l = next_entry(r, i, &e, &mi, site, fp);
    if (!l) continue;
    if (in_prefix(r, l)) {
      if (e.op != JC_TAPE_GREEN || e.arg != site || e.kind != kind || e.fp != fp)
        return left_path(&r->paths[i]);
      l->pos++;
      continue;
    }
    if (r->tail && (e.op != JC_TAPE_GREEN || e.arg != site || e.kind != kind)) {
      return left_path(&r->paths[i]);
    } else if (e.op != JC_TAPE_GREEN) {
      kill(&r->paths[i], &mi, &e, site, fp, "expected another kind of entry");
    } else if (e.arg != site || e.kind != kind) {
      kill(&r->paths[i], &mi, &e, site, fp, "other site or kind");
    } else if (e.fp != fp) {
      kill(&r->paths[i], &mi, &e, site, fp, "fingerprint");
    } else {
      l->pos++;
      hit_id = l->id;
    }
  }
  jc_err err = settle(r, &mi);
  if (!err && hit_id) {
    r->hits++;
    JC_PROBE(replay_hit, hit_id, site, kind, fp);
  }
  return err;
}

JC_API jc_err jc_replay_green(jc_replay *r, uint32_t site, uint16_t kind,
                              uint64_t fp) {
  if (!r) return jc_fail(JC_INVAL, "jcache: replay cursor is NULL");
  struct jc_fmt_tape e;
  jc_level *l = sole(r, &e);
  if (!l || e.op != JC_TAPE_GREEN || e.arg != site || e.kind != kind ||
      e.fp != fp)
    return green_all(r, site, kind, fp);
  l->pos++;
  r->hits++;
  JC_PROBE(replay_hit, l->id, site, kind, fp);
  return JC_OK;
}

static __attribute__((noinline)) jc_err bind_all(jc_replay *r,
                                                 uint64_t value) {
  miss_info mi = {0, 0, 0, value, "no candidate"};
  uint64_t bound_id = 0;
  uint32_t bound_slot = 0;
  for (uint32_t i = 0; i < r->npaths; i++) {
    struct jc_fmt_tape e;
    jc_level *l = next_entry(r, i, &e, &mi, 0, value);
    if (!l) continue;
    if (in_prefix(r, l)) {
      /* The prefix bound its slots at commit: the same values, or this is
      ** another path (the code would leave at the identity guard). */
      if (e.op != JC_TAPE_BIND || !l->set[e.arg] || l->val[e.arg] != value)
        return left_path(&r->paths[i]);
      l->pos++;
      return JC_OK;
    }
    if (e.op != JC_TAPE_BIND) {
      if (r->tail) return left_path(&r->paths[i]);
      kill(&r->paths[i], &mi, &e, e.arg, value, "expected a bind");
      continue;
    }
    l->val[e.arg] = value;
    l->set[e.arg] = true;
    l->pos++;
    bound_id = l->id;
    bound_slot = e.arg;
  }
  jc_err err = settle(r, &mi);
  if (!err) {
    r->binds++;
    JC_PROBE(bind, bound_id, bound_slot, value);
  }
  return err;
}

JC_API jc_err jc_replay_bind(jc_replay *r, uint64_t value) {
  if (!r) return jc_fail(JC_INVAL, "jcache: replay cursor is NULL");
  struct jc_fmt_tape e;
  jc_level *l = sole(r, &e);
  if (!l || e.op != JC_TAPE_BIND) return bind_all(r, value);
  l->val[e.arg] = value;
  l->set[e.arg] = true;
  l->pos++;
  r->binds++;
  JC_PROBE(bind, l->id, e.arg, value);
  return JC_OK;
}

/* The answers a[0..n) that level `one`, the cursor's only one, takes as its
** tape says, in place; returns how many.  Its position and counts are
** kept in locals and stored once (a probe's asm, between them, made the
** compiler reload them at every entry: a static bridge's tape has about
** twice as many GUARDs, passed here, as answers). */
static size_t follow_one(jc_replay *r, jc_level *one, const jc_replay_ans *a,
                         size_t n) {
  const size_t esz = sizeof(struct jc_fmt_tape);
  const uint8_t *at = one->tape + (size_t)one->pos * esz;
  const uint8_t *end = one->tape + (size_t)one->ntape * esz;
  const bool pass = r->pass_guards;
  uint32_t hits = 0, binds = 0;
  size_t i = 0;
  if (pass)
    while (at < end && *at == JC_TAPE_GUARD) at += esz; /* the tape's first */
  for (; i < n; i++) {
    const jc_replay_ans *x = &a[i];
    if (at >= end) break;
    struct jc_fmt_tape e;
    memcpy(&e, at, sizeof e);
    if (x->op == JC_ANS_GREEN && e.op == JC_TAPE_GREEN && e.arg == x->site &&
        e.kind == x->kind && e.fp == x->value) {
      hits++;
      JC_PROBE(replay_hit, one->id, x->site, x->kind, x->value);
    } else if (x->op == JC_ANS_BIND && e.op == JC_TAPE_BIND) {
      one->val[e.arg] = x->value;
      one->set[e.arg] = true;
      binds++;
      JC_PROBE(bind, one->id, e.arg, x->value);
    } else {
      break;
    }
    /* Past this entry and, passing guards, the GUARDs after it: its count
    ** of them (checked when the record was parsed) unless it is 255, the
    ** most it says, after which they are stepped over one by one. */
    at += esz;
    if (pass) {
      at += (size_t)e.guards * esz;
      if (e.guards == 255)
        while (at < end && *at == JC_TAPE_GUARD) at += esz;
    }
  }
  one->pos = (uint32_t)((size_t)(at - one->tape) / esz);
  r->hits += hits;
  r->binds += binds;
  return i;
}

JC_API jc_err jc_replay_feed(jc_replay *r, const jc_replay_ans *a, size_t n) {
  if (!r || (n && !a))
    return jc_fail(JC_INVAL, "jcache: jc_replay_feed: %s is NULL",
                   r ? "answers" : "replay cursor");
  /* One candidate followed, every answer as its tape says: one level, its
  ** entries read in place, no call per answer.  The first answer that
  ** differs (or a path that ends) goes to the general loop below. */
  jc_level *one = r->npaths == 1 && !r->tail ? current(&r->paths[0]) : NULL;
  size_t i = one ? follow_one(r, one, a, n) : 0;
  /* The rest as the calls they stand for: every path, misses, forks. */
  for (; i < n; i++) {
    const jc_replay_ans *x = &a[i];
    jc_err err = x->op == JC_ANS_GREEN  ? jc_replay_green(r, x->site, x->kind, x->value)
                 : x->op == JC_ANS_BIND ? jc_replay_bind(r, x->value)
                                        : jc_fail(JC_INVAL, "jcache: jc_replay_feed: "
                                                            "answer %zu has op %u",
                                                  i, (unsigned)x->op);
    if (err) return err;
  }
  return JC_OK;
}

/* Fork path `pi` into one path per saved bridge of exit `guard`.  The
** original path stays, ended at the exit, as the fallback. */
static jc_err enter_bridges(jc_replay *r, uint32_t pi, uint32_t guard) {
  jc_level *l = &r->paths[pi].lv[r->paths[pi].depth - 1];
  uint64_t id = l->id;
  jc_cands *cs;
  jc_err err = jc_lookup(r->cache, jc_key_bridge(id, guard), &cs);
  if (err) return err;
  if (cs->n == 0 || r->paths[pi].depth >= JC_MAX_CHAIN) {
    jc_cands_release(cs);
    return JC_OK;
  }
  if (r->nheld == r->cap_held) {
    uint32_t cap = r->cap_held ? r->cap_held * 2 : 4;
    jc_cands **nh = realloc(r->held, cap * sizeof *nh);
    if (!nh) {
      jc_cands_release(cs);
      return jc_fail(JC_NOMEM, "jcache: out of memory in replay");
    }
    r->held = nh;
    r->cap_held = cap;
  }
  r->held[r->nheld++] = cs;
  for (size_t b = 0; b < cs->n; b++) {
    const jc_cand *cd = &cs->v[b];
    if (cd->view.parent_id != id || cd->view.parent_exit != guard) continue;
    jc_path *np = path_new(r); /* may move r->paths */
    if (!np) return jc_fail(JC_NOMEM, "jcache: out of memory in replay");
    const jc_path *src = &r->paths[pi];
    np->depth = src->depth + 1;
    for (uint32_t k = 0; k < src->depth && !err; k++)
      err = level_copy(&np->lv[k], &src->lv[k]);
    if (!err)
      err = level_init(&np->lv[src->depth], cd, cd->id, cd->view.tape,
                       cd->view.ntape, cd->view.nslots);
    if (err) {
      np->depth = 0;
      for (uint32_t k = 0; k <= src->depth; k++) level_free(&np->lv[k]);
      r->npaths--;
      return err;
    }
  }
  return JC_OK;
}

/* Guard n for every live path: by_fp decides exit_taken per path from the
** recorded outcome fingerprint, else the client's exit_taken holds for all. */
static __attribute__((noinline)) jc_err guard(jc_replay *r, uint32_t n,
                                              bool by_fp, uint64_t fp,
                                              bool exit_taken) {
  if (!r) return jc_fail(JC_INVAL, "jcache: replay cursor is NULL");
  miss_info mi = {0, n, n, n, "no candidate"};
  uint32_t np = r->npaths; /* paths forked now are not advanced again */
  for (uint32_t i = 0; i < np; i++) {
    struct jc_fmt_tape e;
    jc_level *l = next_entry(r, i, &e, &mi, n, n);
    if (!l) continue;
    if (in_prefix(r, l)) {
      /* The guard the first check left through is in the prefix too: the
      ** tail is checked only on an iteration that passes it. */
      if (e.op != JC_TAPE_GUARD || e.arg != n || (by_fp ? e.fp != fp : exit_taken))
        return left_path(&r->paths[i]);
      l->pos++;
      return JC_OK;
    }
    if (e.op != JC_TAPE_GUARD || e.arg != n) {
      if (r->tail) return left_path(&r->paths[i]);
      kill(&r->paths[i], &mi, &e, n, n, "expected another guard");
      mi.expected = e.op == JC_TAPE_GUARD ? e.arg : UINT64_MAX;
      continue;
    }
    l->pos++;
    if (!(by_fp ? e.fp != fp : exit_taken)) continue;
    l->left_guard = n;
    r->paths[i].exited = true;
    if (r->tail) continue; /* a tail check ends at the first exit */
    jc_err err = enter_bridges(r, i, n);
    if (err) return err;
  }
  jc_err err = settle(r, &mi);
  if (err || !by_fp) return err;
  /* Every path still checking is at the client's level, or was forked into
  ** a bridge just now.  Follow the trace that continues if any does: the
  ** client's recorder cannot report a bridge and the rest of the trace at
  ** once.  The paths that left here stay, ended at the exit, as fallbacks. */
  bool same = false, forked = false;
  for (uint32_t i = 0; i < np; i++)
    if (current(&r->paths[i])) same = true;
  for (uint32_t i = np; i < r->npaths; i++)
    if (current(&r->paths[i])) forked = true;
  if (same) {
    for (uint32_t i = np; i < r->npaths; i++) r->paths[i].alive = false;
    return JC_OK;
  }
  return forked ? JC_BRIDGE : JC_EXIT;
}

JC_API jc_err jc_replay_guard(jc_replay *r, uint32_t n, bool exit_taken) {
  struct jc_fmt_tape e;
  jc_level *l = r && !exit_taken ? sole(r, &e) : NULL;
  if (!l || e.op != JC_TAPE_GUARD || e.arg != n)
    return guard(r, n, false, 0, exit_taken);
  l->pos++; /* passed: the path goes on */
  return JC_OK;
}

JC_API jc_err jc_replay_pass_guards(jc_replay *r) {
  if (!r) return jc_fail(JC_INVAL, "jcache: replay cursor is NULL");
  if (r->tail)
    return jc_fail_const(JC_STATE, "jcache: a tail check reports its guards");
  r->pass_guards = true;
  return JC_OK;
}

JC_API jc_err jc_replay_guard_fp(jc_replay *r, uint32_t n, uint64_t fp) {
  struct jc_fmt_tape e;
  jc_level *l = r ? sole(r, &e) : NULL;
  if (!l || e.op != JC_TAPE_GUARD || e.arg != n || e.fp != fp)
    return guard(r, n, true, fp, false);
  l->pos++; /* the same outcome: the path goes on */
  return JC_OK;
}

/* -- Commit ------------------------------------------------------------------------ */

/* A path may be committed if every level but the last was left through an
** exit into the next, and the last was consumed to its end or left too. */
static bool complete(const jc_path *p) {
  const jc_level *l = &p->lv[p->depth - 1];
  return p->alive && (p->exited || l->pos == l->ntape);
}

/* jc_replay_commit but for freeing the cursor. */
static jc_err commit_best(jc_replay *r, jc_trace **out, size_t cap, size_t *n) {
  jc_path *best = NULL;
  for (uint32_t i = 0; i < r->npaths; i++) {
    jc_path *p = &r->paths[i];
    jc_level *l = current(p);
    if (l) skip_guards(r, l); /* a tape ending in guards */
    if (!complete(p)) continue;
    /* Prefer the deepest chain: it reloads the bridges as well; then a
    ** path checked to its end over one that ended at an exit (whose tail
    ** would stay behind a tail guard). */
    if (!best || p->depth > best->depth ||
        (p->depth == best->depth && best->exited && !p->exited))
      best = p;
  }
  jc_err err;
  if (r->tail) {
    if (!best) {
      err = jc_fail(r->missed ? JC_MISS : JC_STATE,
                    "jcache: the tail check did not reach the end of the "
                    "trace; the tail guard stays pending");
    } else if (best->exited) {
      err = jc_tail_move(r, best); /* JC_EXIT if moved, else pending */
    } else {
      err = jc_tail_validate(r, best);
    }
  } else if (!best) {
    err = jc_fail(JC_MISS, "jcache: no candidate's tape was checked to its "
                           "end");
    if (!r->missed) {
      r->missed = true;
      jc_stat_add(replay_misses, 1);
      JC_PROBE(replay_miss, (uint64_t)0, 0u, (uint64_t)0, (uint64_t)0,
               "tape not checked to its end");
    }
  } else {
    err = jc_commit_path(r, best, out, cap, n);
  }
  return err;
}

JC_API jc_err jc_replay_commit(jc_replay *r, jc_trace **out, size_t cap,
                               size_t *n) {
  if (n) *n = 0;
  if (!r) return jc_fail(JC_INVAL, "jcache: replay cursor is NULL");
  jc_err err = commit_best(r, out, cap, n);
  jc_replay_free(r);
  return err;
}

/* -- Bound without a cursor --------------------------------------------------------- */

/* Slot values of a candidate bound statically live on the stack up to this
** many slots (a bridge has a few dozen). */
#define STATIC_SLOTS 63

JC_API jc_err jc_replay_static(jc_cache *c, const jc_cands *cands, size_t i,
                               jc_resolver resolve, void *resolve_ctx,
                               const jc_replay_ans *a, size_t n,
                               jc_trace **out, size_t cap, size_t *nout) {
  if (nout) *nout = 0;
  if (!c || !cands || i >= cands->n || (n && !a))
    return jc_fail(JC_INVAL, "jcache: jc_replay_static: %s",
                   !c ? "cache is NULL" : !cands ? "candidates are NULL"
                   : i >= cands->n ? "no such candidate" : "answers are NULL");
  /* The cursor of jc_replay_begin on candidate i alone, with
  ** jc_replay_pass_guards, on the stack: one path, one level, its slot
  ** values beside it when they fit. */
  const jc_cand *cd = &cands->v[i];
  jc_replay r;
  memset(&r, 0, sizeof r);
  r.cache = c;
  r.resolve = resolve;
  r.resolve_ctx = resolve_ctx;
  r.pass_guards = true;
  jc_path p;
  p.alive = true;
  p.exited = false;
  p.depth = 1;
  if (cd->view.hdr.kind == JC_FMT_BRIDGE) {
    r.parent = bridge_parent(cd);
    r.parent_exit = cd->view.parent_exit;
    if (!r.parent) p.alive = false; /* as if begin had left it out */
  }
  jc_level *l = &p.lv[0];
  level_over(l, cd, cd->id, cd->view.tape, cd->view.ntape, cd->view.nslots);
  /* The room jc_level_slots would allocate: values, then set flags. */
  uint64_t room[STATIC_SLOTS + 1 + (STATIC_SLOTS + 1 + 7) / 8];
  bool heap = l->nslots > STATIC_SLOTS;
  if (heap) {
    jc_err err = jc_level_slots(l, l->nslots);
    if (err) return err;
  } else {
    l->val = room;
    l->set = (bool *)(room + l->nslots + 1);
  }
  level_clear(l);
  r.paths = &p;
  r.npaths = r.cap = 1;
  /* Green and bind never fork a path (only a guard does): r.paths stays. */
  jc_err err = jc_replay_feed(&r, a, n);
  if (!err) err = commit_best(&r, out, cap, nout);
  count_decisions(&r);
  if (heap) level_free(l);
  return err;
}
