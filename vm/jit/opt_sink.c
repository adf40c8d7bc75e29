/*
** vm/jit/opt_sink.c — allocation sinking: instances that do not escape the
** trace are never allocated; the exits that need one rebuild it.
**
** jcvm never boxes floats (a value is a 16-byte tag + payload, and traces
** keep doubles unboxed in XMM registers), so the allocations worth removing
** are the instances a loop creates as temporaries: `a.add(b).scale(k)`
** makes two Vec objects per iteration whose fields are read a few
** instructions later and then dropped.  Constructors are inlined, so such an
** object is a CALLA (jit_h_newinst), the FSTOREs of its init, and FLOADs.
**
** Escape analysis.  A fresh object can only be reached through its CALLA's
** ref until the trace stores that ref somewhere, so an object is a candidate
** for sinking when every use of its ref is one of:
**   - the object of an FSTORE, FLOAD, FLOADT or OBJCLASS (its own fields and
**     class);
**   - the value of an FSTORE into another candidate (nested objects; if the
**     container escapes, so does the object);
**   - an identity guard against another ref (NE(o, x) always holds: x cannot
**     be o, o was never stored anywhere x could have been loaded from);
**   - a snapshot entry (the exit rebuilds it, see below).
** Anything else lets it escape: an SSTORE (the slot is live at the loop
** head, see record.c: with bytecode liveness only those are written back),
** an ASTORE or CSTORE, a helper call's argument, any other instruction.
** Loads from a candidate are forwarded to the value its latest FSTORE wrote
** before them (nil if none) — sound because nothing else can write the
** object's fields: no other ref can point to it.  A load that cannot be
** forwarded (its type differs from the stored value's: a guard that always
** fails) makes the object escape.  Since forwarding a load of a container
** yields the nested object itself, uses are checked after forwarding, and
** the whole analysis is repeated until no candidate drops out (candidates
** only ever drop out, so this ends).
**
** Sinking.  A sunk CALLA stays in the IR, flagged IRF_SINK and no longer a
** guard (it cannot fail: it never runs), so --dump-ir can show it; the
** backend emits nothing for it.  Its FSTOREs, the forwarded loads and the
** guards on its class and field tags disappear.  Every snapshot that names
** a sunk object (as a slot's value, or as a field of another sunk object it
** names) gets a record of it: {JIT_SE_OBJ, CALLA} followed by the value of
** each field as of the snapshot's guard (see ir.h).  The field values stay
** alive to that guard (they are snapshot uses for the register allocator
** and DCE), which is the price of not allocating.
**
** Exits.  The exit stub of such a snapshot writes the slot entries as usual
** (a slot holding a sunk object gets nil for now), the records' field values
** to a scratch area of the VM stack above the frame (base + JIT_MAX_SLOTS:
** no trace addresses a slot that high; the trace is not sunk if its root
** frame is that large), and calls jit_h_materialize (jit.c), which allocates
** the objects with their real classes, fills them and stores them into their
** slots.  The exit program it runs (T->matprog, built here by
** jit_sink_prog from the records) needs no IR, so a trace reloaded from the
** cache rebuilds exactly what the compiled one does.  Since the stub calls it
** before its patchable jump, a bridge attached to the exit starts from the
** materialized objects in the frame, like the interpreter does.
**
** Not done: arrays (NEWARRAY + APPEND would need ALEN/ACAP forwarding),
** re-sinking a parent's objects in a bridge (LuaJIT replays them), and
** sinking through the loop's back edge (loop-carried objects are written
** to their live slots at the end of the iteration and escape there).
*/
#include <stdlib.h>
#include <string.h>

#include "jit.h"

typedef struct sink_state {
  jit_trace *T;
  uint32_t n;
  uint8_t *cand;     /* per ref: a candidate allocation */
  uint32_t *fbase;   /* per candidate: its first field in cur[] / curtag[] */
  jit_ref *cur;      /* a candidate field's current value (JIT_REF_NONE: nil) */
  uint8_t *curtag;   /* and its tag */
  jit_ref *map;      /* forwarding: a load -> the value it reads */
  jit_ref *tagof;    /* per ref: an FLOADT of a candidate: that candidate */
  uint8_t *ktag;     /* its known tag */
  uint32_t *first;   /* per snapshot: position of its first guard (NONE: unused) */
  uint32_t *last;    /* and of its last */
  uint32_t *seen;    /* per ref: the snapshot (+1) whose record lists it */
  jit_snapent *rec;  /* records built, all snapshots */
  uint32_t nrec, rec_cap;
  uint32_t *rstart, *rlen; /* per snapshot: its records in rec[] */
  jit_ref knil;
} sink_state;

#define NONE JIT_REF_NONE

static vm_class *class_of(const jit_trace *T, jit_ref o)
{
  return (vm_class *)(intptr_t)T->ir[T->ir[o].a].k;
}

static bool is_newinst(const jit_trace *T, jit_ref r)
{
  const jit_ins *i = &T->ir[r];
  return i->op == IR_CALLA && i->k == JIT_H_NEWINST && i->a < T->nir &&
         T->ir[i->a].op == IR_KPTR;
}

static void drop(sink_state *S, jit_ref o, bool *changed)
{
  if (o != NONE && S->cand[o]) {
    S->cand[o] = 0;
    *changed = true;
  }
}

/* Is u's use as operand `pos` (0 a, 1 b, 2 k) of instruction i allowed for a
** candidate?  a and b are i's operands after forwarding. */
static bool use_ok(const sink_state *S, const jit_ins *i, int pos, jit_ref u, jit_ref a,
                   jit_ref b)
{
  switch (i->op) {
  case IR_FSTORE: return pos == 0 || (pos == 2 && S->cand[a]);
  case IR_FLOAD:
  case IR_FLOADT:
  case IR_OBJCLASS: return pos == 0;
  case IR_NE: return (i->flags & IRF_GUARD) && i->type == IRT_PTR && (pos == 0 ? b : a) != u;
  case IR_EQ: return (i->flags & IRF_GUARD) && i->type == IRT_PTR && a == b;
  default: return false;
  }
}

/* A use of an FLOADT of a candidate: only its tag guard, with the tag the
** field holds. */
static bool tag_use_ok(const sink_state *S, const jit_ins *i, jit_ref u, jit_ref a, jit_ref b)
{
  const jit_trace *T = S->T;
  if (i->op != IR_EQ || !(i->flags & IRF_GUARD) || i->type != IRT_INT)
    return false;
  jit_ref other = a == u ? b : a;
  return T->ir[other].op == IR_KINT && T->ir[other].k == S->ktag[u];
}

/* One pass of forwarding and use checks over the current candidates; true
** if a candidate dropped out (run again). */
static bool sink_round(sink_state *S)
{
  jit_trace *T = S->T;
  bool changed = false;
  for (jit_ref r = 0; r < S->n; r++) {
    S->map[r] = r;
    S->tagof[r] = NONE;
  }
  for (jit_ref r = 0; r < S->n; r++) {
    const jit_ins *i = &T->ir[r];
    uint8_t m = jit_ir_refmask(i);
    jit_ref a = (m & 1) ? S->map[i->a] : i->a;
    jit_ref b = (m & 2) ? S->map[i->b] : i->b;
    jit_ref k = (m & 4) ? S->map[(jit_ref)i->k] : NONE;
    switch (i->op) {
    case IR_CALLA:
      if (S->cand[r]) {
        uint32_t nf = class_of(T, r)->nfields;
        for (uint32_t f = 0; f < nf; f++) {
          S->cur[S->fbase[r] + f] = NONE;
          S->curtag[S->fbase[r] + f] = VM_T_NIL;
        }
      }
      break;
    case IR_FSTORE:
      if (S->cand[a]) {
        if (i->b >= class_of(T, a)->nfields) {
          drop(S, a, &changed);
          break;
        }
        S->cur[S->fbase[a] + i->b] = k;
        S->curtag[S->fbase[a] + i->b] = i->tag;
      }
      break;
    case IR_FLOAD:
      if (S->cand[a]) {
        uint32_t x = S->fbase[a] + i->b;
        if (i->b >= class_of(T, a)->nfields || S->cur[x] == NONE || S->curtag[x] != i->tag ||
            T->ir[S->cur[x]].type != i->type)
          drop(S, a, &changed);
        else
          S->map[r] = S->cur[x];
      }
      break;
    case IR_FLOADT:
      if (S->cand[a]) {
        if (i->b >= class_of(T, a)->nfields) {
          drop(S, a, &changed);
          break;
        }
        S->tagof[r] = a;
        S->ktag[r] = S->curtag[S->fbase[a] + i->b];
      }
      break;
    default: break;
    }
    /* The uses this instruction makes. */
    jit_ref ops[3] = {(m & 1) ? a : NONE, (m & 2) ? b : NONE, (m & 4) ? k : NONE};
    for (int p = 0; p < 3; p++) {
      jit_ref u = ops[p];
      if (u == NONE)
        continue;
      if (S->tagof[u] != NONE && S->cand[S->tagof[u]] && !tag_use_ok(S, i, u, a, b))
        drop(S, S->tagof[u], &changed);
      if (S->cand[u] && !use_ok(S, i, p, u, a, b))
        drop(S, u, &changed);
    }
  }
  /* A snapshot may hold a candidate, never the tag of one of its fields. */
  for (uint32_t s = 0; s < T->nsnap; s++) {
    if (S->first[s] == NONE)
      continue;
    const jit_snap *sn = &T->snaps[s];
    for (uint32_t e = 0; e < sn->nent; e++) {
      jit_ref u = S->map[T->snapents[sn->ent + e].ref];
      if (S->tagof[u] != NONE)
        drop(S, S->tagof[u], &changed);
    }
  }
  /* The guards of one snapshot must all see the same fields: the recorder
  ** never stores between them, but check rather than assume. */
  for (uint32_t s = 0; s < T->nsnap; s++) {
    if (S->first[s] == NONE || S->first[s] == S->last[s])
      continue;
    for (uint32_t p = S->first[s] + 1; p < S->last[s]; p++)
      if (T->ir[p].op == IR_FSTORE && S->cand[S->map[T->ir[p].a]])
        drop(S, S->map[T->ir[p].a], &changed);
  }
  return changed;
}

static bool rec_push(sink_state *S, uint32_t slot, jit_ref ref, uint8_t tag)
{
  if (S->nrec == S->rec_cap) {
    uint32_t cap = S->rec_cap ? S->rec_cap * 2 : 256;
    jit_snapent *p = realloc(S->rec, cap * sizeof *p);
    if (!p)
      return false;
    S->rec = p;
    S->rec_cap = cap;
  }
  S->rec[S->nrec++] = (jit_snapent){slot, ref, tag};
  return true;
}

/* The records of snapshot s at its first guard, with the candidates' fields
** as they are there (cur[]).  On a limit, drops the candidates it names and
** returns false. */
static bool build_snap(sink_state *S, uint32_t s, bool *oom)
{
  jit_trace *T = S->T;
  const jit_snap *sn = &T->snaps[s];
  jit_ref queue[JIT_MAX_SUNKOBJ + 1];
  uint32_t nq = 0, nval = 0;
  bool over = false;
  S->rstart[s] = S->nrec;
  for (uint32_t e = 0; e < sn->nent && !over; e++) {
    jit_ref u = S->map[T->snapents[sn->ent + e].ref];
    if (!S->cand[u] || S->seen[u] == s + 1)
      continue;
    S->seen[u] = s + 1;
    if (nq == JIT_MAX_SUNKOBJ)
      over = true;
    else
      queue[nq++] = u;
  }
  for (uint32_t q = 0; q < nq && !over; q++) {
    jit_ref o = queue[q];
    uint32_t nf = class_of(T, o)->nfields;
    nval += nf;
    if (nval > JIT_MAX_MATVAL) {
      over = true;
      break;
    }
    if (!rec_push(S, JIT_SE_OBJ, o, VM_T_INSTANCE)) {
      *oom = true;
      return false;
    }
    for (uint32_t f = 0; f < nf; f++) {
      jit_ref v = S->cur[S->fbase[o] + f];
      uint8_t tag = S->curtag[S->fbase[o] + f];
      if (v == NONE) {
        v = S->knil;
        tag = VM_T_NIL;
      }
      if (!rec_push(S, JIT_SE_FIELD | f, v, tag)) {
        *oom = true;
        return false;
      }
      if (S->cand[v] && S->seen[v] != s + 1) {
        S->seen[v] = s + 1;
        if (nq == JIT_MAX_SUNKOBJ)
          over = true;
        else
          queue[nq++] = v;
      }
    }
  }
  if (over) {
    /* Too much to rebuild at this exit: allocate these for real. */
    bool changed = false;
    for (uint32_t q = 0; q < nq; q++)
      drop(S, queue[q], &changed);
    for (uint32_t e = 0; e < sn->nent; e++)
      drop(S, S->map[T->snapents[sn->ent + e].ref], &changed);
    return false;
  }
  S->rlen[s] = S->nrec - S->rstart[s];
  return true;
}

/* Replay the candidates' stores and build every used snapshot's records;
** false if a snapshot was over a limit (candidates dropped: run again). */
static bool build_records(sink_state *S, bool *oom)
{
  jit_trace *T = S->T;
  S->nrec = 0;
  for (uint32_t s = 0; s < T->nsnap; s++)
    S->rlen[s] = 0;
  memset(S->seen, 0, S->n * sizeof *S->seen);
  for (jit_ref r = 0; r < S->n; r++) {
    const jit_ins *i = &T->ir[r];
    if ((i->flags & IRF_GUARD) && S->first[i->snap] == r && !build_snap(S, i->snap, oom))
      return false;
    if (i->op == IR_CALLA && S->cand[r]) {
      uint32_t nf = class_of(T, r)->nfields;
      for (uint32_t f = 0; f < nf; f++) {
        S->cur[S->fbase[r] + f] = NONE;
        S->curtag[S->fbase[r] + f] = VM_T_NIL;
      }
    } else if (i->op == IR_FSTORE && S->cand[S->map[i->a]]) {
      jit_ref o = S->map[i->a];
      S->cur[S->fbase[o] + i->b] = S->map[(jit_ref)i->k];
      S->curtag[S->fbase[o] + i->b] = i->tag;
    }
  }
  return true;
}

/* Rewrite the IR: forwarded loads, sunk stores and the guards that only
** checked a sunk object disappear; snapshots get their records. */
static bool apply(sink_state *S)
{
  jit_trace *T = S->T;
  jit_ref *map = S->map;
  for (jit_ref r = 0; r < S->n; r++) {
    jit_ins *i = &T->ir[r];
    uint8_t m = jit_ir_refmask(i);
    jit_ref a = (m & 1) ? map[i->a] : i->a;
    jit_ref b = (m & 2) ? map[i->b] : i->b;
    switch (i->op) {
    case IR_CALLA:
      if (S->cand[r]) {
        i->flags = (uint8_t)((i->flags & ~IRF_GUARD) | IRF_SINK);
      }
      break;
    case IR_FSTORE:
    case IR_FLOAD:
    case IR_FLOADT:
      if (S->cand[a])
        i->op = IR_NOP; /* a load's value is in map[] */
      break;
    case IR_OBJCLASS:
      /* Any fresh instance's class is its CALLA's constant. */
      if (is_newinst(T, a)) {
        map[r] = T->ir[a].a;
        i->op = IR_NOP;
      }
      break;
    case IR_EQ:
    case IR_NE:
      if (!(i->flags & IRF_GUARD))
        break;
      if (i->type == IRT_INT && ((S->tagof[a] != NONE && S->cand[S->tagof[a]]) ||
                                 (S->tagof[b] != NONE && S->cand[S->tagof[b]]))) {
        i->op = IR_NOP; /* a sunk field's tag: checked in sink_round */
      } else if (i->type == IRT_PTR) {
        bool same = a == b || (T->ir[a].op == IR_KPTR && T->ir[b].op == IR_KPTR &&
                               T->ir[a].k == T->ir[b].k);
        if ((i->op == IR_EQ && same) ||
            (i->op == IR_NE && !same && (S->cand[a] || S->cand[b])))
          i->op = IR_NOP;
      }
      break;
    default: break;
    }
  }
  /* Snapshots: slot entries, then the records. */
  uint32_t total = T->nsnapent + S->nrec;
  jit_snapent *ents = malloc((total ? total : 1) * sizeof *ents);
  if (!ents)
    return false;
  uint32_t n = 0;
  for (uint32_t s = 0; s < T->nsnap; s++) {
    jit_snap *sn = &T->snaps[s];
    uint32_t start = n;
    if (S->first[s] != NONE) {
      memcpy(ents + n, T->snapents + sn->ent, sn->nent * sizeof *ents);
      n += sn->nent;
      memcpy(ents + n, S->rec + S->rstart[s], S->rlen[s] * sizeof *ents);
      n += S->rlen[s];
    }
    /* An unused snapshot keeps no entries: no exit reads them. */
    sn->ent = start;
    sn->nent = n - start;
  }
  free(T->snapents);
  T->snapents = ents;
  T->nsnapent = n;
  jit_ir_rename(T, map);
  jit_ir_compact(T);
  return true;
}

static uint32_t sink(jit_trace *T)
{
  uint32_t n = T->nir, nsunk = 0;
  /* The exits' scratch area must lie above the root frame. */
  if (n == 0 || T->code->nslots > JIT_MAX_SLOTS)
    return 0;
  sink_state st;
  sink_state *S = &st;
  memset(S, 0, sizeof *S);
  S->T = T;
  S->n = n;
  S->knil = NONE;
  uint32_t ncand = 0, nfields = 0;
  for (jit_ref r = 0; r < n; r++) {
    if (T->ir[r].op == IR_KNIL && S->knil == NONE)
      S->knil = r;
    if (is_newinst(T, r) && class_of(T, r)->nfields <= JIT_MAX_MATVAL) {
      ncand++;
      nfields += class_of(T, r)->nfields;
    }
  }
  if (ncand == 0 || S->knil == NONE)
    return 0;
  S->cand = calloc(n, 1);
  S->fbase = calloc(n, sizeof *S->fbase);
  S->cur = malloc((nfields ? nfields : 1) * sizeof *S->cur);
  S->curtag = malloc(nfields ? nfields : 1);
  S->map = malloc(n * sizeof *S->map);
  S->tagof = malloc(n * sizeof *S->tagof);
  S->ktag = calloc(n, 1);
  S->seen = calloc(n, sizeof *S->seen);
  S->first = malloc((T->nsnap ? T->nsnap : 1) * sizeof *S->first);
  S->last = malloc((T->nsnap ? T->nsnap : 1) * sizeof *S->last);
  S->rstart = calloc(T->nsnap ? T->nsnap : 1, sizeof *S->rstart);
  S->rlen = calloc(T->nsnap ? T->nsnap : 1, sizeof *S->rlen);
  if (!S->cand || !S->fbase || !S->cur || !S->curtag || !S->map || !S->tagof || !S->ktag ||
      !S->seen || !S->first || !S->last || !S->rstart || !S->rlen)
    goto done;
  nfields = 0;
  for (jit_ref r = 0; r < n; r++)
    if (is_newinst(T, r) && class_of(T, r)->nfields <= JIT_MAX_MATVAL) {
      S->cand[r] = 1;
      S->fbase[r] = nfields;
      nfields += class_of(T, r)->nfields;
    }
  for (uint32_t s = 0; s < T->nsnap; s++)
    S->first[s] = S->last[s] = NONE;
  for (jit_ref r = 0; r < n; r++) {
    const jit_ins *i = &T->ir[r];
    if ((i->flags & IRF_GUARD) && i->snap < T->nsnap) {
      if (S->first[i->snap] == NONE)
        S->first[i->snap] = r;
      S->last[i->snap] = r;
    }
  }
  bool oom = false;
  for (;;) {
    while (sink_round(S))
      ;
    bool any = false;
    for (jit_ref r = 0; r < n && !any; r++)
      any = S->cand[r];
    if (!any)
      goto done;
    if (build_records(S, &oom))
      break;
    if (oom)
      goto done;
  }
  for (jit_ref r = 0; r < n; r++)
    nsunk += S->cand[r];
  if (!apply(S))
    nsunk = 0;
done:
  free(S->cand);
  free(S->fbase);
  free(S->cur);
  free(S->curtag);
  free(S->map);
  free(S->tagof);
  free(S->ktag);
  free(S->seen);
  free(S->first);
  free(S->last);
  free(S->rstart);
  free(S->rlen);
  free(S->rec);
  return nsunk;
}

/* -- Forwarding on the objects that stay ------------------------------------------ */

/*
** An allocation that escapes is still fresh until it does: before its ref is
** stored anywhere, no other ref can point to it, so its fields change only
** through its own FSTOREs, and its loads read what they wrote (a class
** guard or a field's tag guard on it holds).  One forward pass, escapes
** found as they happen, operands already forwarded: storing the object into
** another fresh object only makes it escape when that one does.  The loads
** after the escape are left alone.
*/

typedef struct fresh_edge {
  jit_ref holder, held;
} fresh_edge;

static void escape(jit_ref o, uint8_t *escaped, const fresh_edge *edge, uint32_t nedge)
{
  jit_ref stack[64];
  uint32_t sp = 0;
  if (escaped[o])
    return;
  escaped[o] = 1;
  stack[sp++] = o;
  while (sp) {
    jit_ref h = stack[--sp];
    for (uint32_t e = 0; e < nedge; e++) {
      jit_ref u = edge[e].held;
      if (edge[e].holder != h || escaped[u])
        continue;
      escaped[u] = 1;
      if (sp < 64) {
        stack[sp++] = u;
      } else {
        /* Deep graphs: give up on precision, everything escapes. */
        for (uint32_t x = 0; x < nedge; x++)
          escaped[edge[x].held] = 1;
        return;
      }
    }
  }
}

static void forward_fresh(jit_trace *T)
{
  uint32_t n = T->nir, nf = 0;
  for (jit_ref r = 0; r < n; r++)
    if (is_newinst(T, r) && !(T->ir[r].flags & IRF_SINK))
      nf += class_of(T, r)->nfields;
  if (nf == 0)
    return;
  uint8_t *fresh = calloc(n, 1), *escaped = calloc(n, 1), *ktag = calloc(n, 1);
  uint32_t *fbase = calloc(n, sizeof *fbase);
  jit_ref *map = malloc(n * sizeof *map), *tagof = malloc(n * sizeof *tagof);
  jit_ref *cur = malloc(nf * sizeof *cur);
  uint8_t *curtag = malloc(nf);
  fresh_edge *edge = malloc(n * sizeof *edge);
  uint32_t nedge = 0;
  bool changed = false;
  if (!fresh || !escaped || !ktag || !fbase || !map || !tagof || !cur || !curtag || !edge)
    goto done;
  nf = 0;
  for (jit_ref r = 0; r < n; r++) {
    map[r] = r;
    tagof[r] = NONE;
    if (is_newinst(T, r) && !(T->ir[r].flags & IRF_SINK)) {
      fresh[r] = 1;
      fbase[r] = nf;
      nf += class_of(T, r)->nfields;
    }
  }
  for (jit_ref r = 0; r < n; r++) {
    jit_ins *i = &T->ir[r];
    uint8_t m = jit_ir_refmask(i);
    jit_ref a = (m & 1) ? map[i->a] : NONE;
    jit_ref b = (m & 2) ? map[i->b] : NONE;
    jit_ref k = (m & 4) ? map[(jit_ref)i->k] : NONE;
    bool live_a = a != NONE && fresh[a] && !escaped[a];
    switch (i->op) {
    case IR_CALLA:
      if (fresh[r])
        for (uint32_t f = 0; f < class_of(T, r)->nfields; f++) {
          cur[fbase[r] + f] = NONE;
          curtag[fbase[r] + f] = VM_T_NIL;
        }
      break;
    case IR_FSTORE:
      if (live_a && i->b < class_of(T, a)->nfields) {
        cur[fbase[a] + i->b] = k;
        curtag[fbase[a] + i->b] = i->tag;
      }
      if (fresh[k] && !escaped[k]) {
        if (live_a)
          edge[nedge++] = (fresh_edge){a, k};
        else
          escape(k, escaped, edge, nedge);
      }
      continue;
    case IR_FLOAD:
      if (live_a && i->b < class_of(T, a)->nfields) {
        uint32_t x = fbase[a] + i->b;
        if (cur[x] != NONE && curtag[x] == i->tag && T->ir[cur[x]].type == i->type) {
          map[r] = cur[x];
          i->op = IR_NOP;
          changed = true;
        }
      }
      continue;
    case IR_FLOADT:
      if (live_a && i->b < class_of(T, a)->nfields) {
        tagof[r] = a;
        ktag[r] = curtag[fbase[a] + i->b];
      }
      continue;
    case IR_OBJCLASS:
      if (a != NONE && fresh[a]) {
        map[r] = T->ir[a].a;
        i->op = IR_NOP;
        changed = true;
      }
      continue;
    case IR_EQ:
      if ((i->flags & IRF_GUARD) && i->type == IRT_INT) {
        /* The tag guard of a forwarded field. */
        jit_ref t = tagof[a] != NONE ? a : b, kk = t == a ? b : a;
        if (tagof[t] != NONE && T->ir[kk].op == IR_KINT && T->ir[kk].k == ktag[t]) {
          i->op = IR_NOP;
          changed = true;
          continue;
        }
      }
      if ((i->flags & IRF_GUARD) && i->type == IRT_PTR) {
        if (a == b || (T->ir[a].op == IR_KPTR && T->ir[b].op == IR_KPTR && T->ir[a].k == T->ir[b].k)) {
          i->op = IR_NOP; /* a class guard on a fresh object, forwarded above */
          changed = true;
        }
        continue; /* comparing a pointer does not store it */
      }
      break;
    case IR_NE:
      if ((i->flags & IRF_GUARD) && i->type == IRT_PTR)
        continue;
      break;
    default: break;
    }
    /* Any other use lets a fresh object escape. */
    jit_ref ops[3] = {a, b, k};
    for (int p = 0; p < 3; p++)
      if (ops[p] != NONE && fresh[ops[p]])
        escape(ops[p], escaped, edge, nedge);
  }
  if (changed) {
    jit_ir_rename(T, map);
    jit_ir_compact(T);
  }
done:
  free(fresh);
  free(escaped);
  free(ktag);
  free(fbase);
  free(map);
  free(tagof);
  free(cur);
  free(curtag);
  free(edge);
}

uint32_t jit_opt_sink(jit_trace *T)
{
  uint32_t n = sink(T);
  forward_fresh(T);
  return n;
}

/* -- Exit programs ------------------------------------------------------------------ */

/*
** The exit program of a snapshot (uint32 words in T->matprog, at
** snaps[s].mat), which jit_h_materialize runs after the stub wrote the
** field values to the scratch area, in record order:
**
**   nobj nval                  objects, scratch values (sum of their nfield)
**   per object:
**     cls                      index into T->matcls (bits 0-23; bits 24-31:
**                              the kind, 0 = instance, the only one so far)
**     nfield nslot
**     nfield words             0: the next scratch value; 1 + j: object j
**     nslot words              the frame slots that receive the object
**
** persist.c saves these words and the classes' BIND slots, and checks every
** word of a reloaded program against its bounds.
*/

static uint32_t matcls_index(jit_trace *T, vm_class *c, uint32_t bind, bool *ok)
{
  for (uint32_t k = 0; k < T->nmatcls; k++)
    if (T->matcls[k] == c)
      return k;
  vm_class **nc = realloc(T->matcls, (T->nmatcls + 1) * sizeof *nc);
  if (nc)
    T->matcls = nc;
  uint32_t *nb = realloc(T->matcls_bind, (T->nmatcls + 1) * sizeof *nb);
  if (nb)
    T->matcls_bind = nb;
  if (!nc || !nb) {
    *ok = false;
    return 0;
  }
  T->matcls[T->nmatcls] = c;
  T->matcls_bind[T->nmatcls] = bind;
  return T->nmatcls++;
}

static bool prog_push(jit_trace *T, uint32_t *cap, uint32_t w)
{
  if (T->nmatprog == *cap) {
    uint32_t nc = *cap ? *cap * 2 : 64;
    uint32_t *p = realloc(T->matprog, nc * sizeof *p);
    if (!p)
      return false;
    T->matprog = p;
    *cap = nc;
  }
  T->matprog[T->nmatprog++] = w;
  return true;
}

bool jit_sink_prog(jit_trace *T)
{
  uint32_t cap = 0;
  bool ok = true;
  uint8_t *used = calloc(T->nsnap ? T->nsnap : 1, 1);
  if (!used)
    return false;
  for (jit_ref r = 0; r < T->nir; r++)
    if ((T->ir[r].flags & IRF_GUARD) && T->ir[r].snap < T->nsnap)
      used[T->ir[r].snap] = 1;
  ok = prog_push(T, &cap, 0); /* offset 0 means "no program" */
  for (uint32_t s = 0; s < T->nsnap && ok; s++) {
    jit_snap *sn = &T->snaps[s];
    const jit_snapent *ents = T->snapents + sn->ent;
    sn->mat = 0;
    if (!used[s])
      continue;
    jit_ref objs[JIT_MAX_SUNKOBJ];
    uint32_t nobj = 0, nval = 0;
    for (uint32_t e = 0; e < sn->nent; e++) {
      if (ents[e].slot != JIT_SE_OBJ)
        continue;
      if (nobj == JIT_MAX_SUNKOBJ) {
        ok = false;
        break;
      }
      objs[nobj++] = ents[e].ref;
    }
    /* Every slot holding a sunk object needs its record. */
    for (uint32_t e = 0; e < sn->nent && ok; e++) {
      if (ents[e].slot >= JIT_SE_FIELD || !(T->ir[ents[e].ref].flags & IRF_SINK))
        continue;
      uint32_t j = 0;
      while (j < nobj && objs[j] != ents[e].ref)
        j++;
      ok = j < nobj;
    }
    if (!ok || nobj == 0)
      continue;
    sn->mat = T->nmatprog;
    ok = prog_push(T, &cap, nobj) && prog_push(T, &cap, 0);
    uint32_t e = 0;
    for (uint32_t j = 0; j < nobj && ok; j++) {
      while (ents[e].slot != JIT_SE_OBJ)
        e++;
      jit_ref o = ents[e++].ref;
      const jit_ins *k = &T->ir[T->ir[o].a];
      vm_class *c = (vm_class *)(intptr_t)k->k;
      uint32_t ci = matcls_index(T, c, k->b, &ok);
      uint32_t nf = 0;
      while (e + nf < sn->nent && (ents[e + nf].slot & JIT_SE_FIELD) && ents[e + nf].slot != JIT_SE_OBJ)
        nf++;
      if (!ok || nf != c->nfields) {
        ok = false;
        break;
      }
      uint32_t nslot = 0;
      for (uint32_t x = 0; x < sn->nent; x++)
        nslot += ents[x].slot < JIT_SE_FIELD && ents[x].ref == o;
      ok = prog_push(T, &cap, ci) && prog_push(T, &cap, nf) && prog_push(T, &cap, nslot);
      for (uint32_t f = 0; f < nf && ok; f++) {
        const jit_snapent *fe = &ents[e + f];
        uint32_t w = 0;
        if (fe->tag == VM_T_INSTANCE && (T->ir[fe->ref].flags & IRF_SINK)) {
          uint32_t jj = 0;
          while (jj < nobj && objs[jj] != fe->ref)
            jj++;
          if (jj == nobj) {
            ok = false;
            break;
          }
          w = 1 + jj;
        }
        ok = prog_push(T, &cap, w);
      }
      nval += nf;
      for (uint32_t x = 0; x < sn->nent && ok; x++)
        if (ents[x].slot < JIT_SE_FIELD && ents[x].ref == o)
          ok = prog_push(T, &cap, ents[x].slot);
      e += nf;
    }
    if (ok) {
      if (nval > JIT_MAX_MATVAL)
        ok = false;
      else
        T->matprog[sn->mat + 1] = nval;
    }
  }
  free(used);
  return ok;
}
