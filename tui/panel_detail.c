/*
** tui/panel_detail.c — one trace, full screen: what the event stream knows
** about it and its machine code as it is now in the process, with the
** relocation sites (from the reloc probes) and the tail guard's patch point
** highlighted.
**
** trace_live gives every live copy of a trace (compiled or reloaded) its
** exact address and size, and trace_release takes it back: only copies
** still live are read, so memory that was freed and may hold another trace
** now is never disassembled as this one.
**
** A reloaded loop is committed together with its bridges (a chain), and is
** shown with them.  With a library that has no trace_live probe, the commit
** probe gives only the loop's address and the bytes of the whole chain,
** bridge_attach each bridge's address; a member's size is then estimated
** from the next member's address, so the last bytes shown may be padding.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jcache/rec.h"
#include "panel.h"

typedef struct member {
  uint64_t id, addr, size;
  bool bridge;
  bool exact;    /* size from trace_live */
  bool released; /* this copy was released: not read */
  uint32_t seq;  /* exact: the copy's jt_inst.seq */
  char name[JT_NAME];
} member;

static struct {
  bool active;
  pid_t pid;
  uint64_t id;
  jt_trace t;          /* snapshot at opening */
  int nmem;
  member mem[JT_MAX_CHAIN + 1];
  int nreloc;
  jt_reloc reloc[(JT_MAX_CHAIN + 1) * JT_MAX_RELOCS];
  int ntail;
  struct { uint64_t addr; int state; } tail[JT_MAX_CHAIN + 1];
  jt_disasm d;
  char note[200];
  int top, page;
} D;

bool jt_detail_active(void) { return D.active; }

void jt_detail_close(void) {
  jt_disasm_free(&D.d);
  D.active = false;
}

static int cmp_member(const void *a, const void *b) {
  const member *x = a, *y = b;
  return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int reloc_width(int kind) { return kind == 1 ? 8 : 4; }

static void add_trace_facts(const jt_trace *t) {
  for (uint32_t i = 0; i < t->nreloc && D.nreloc < (int)(sizeof D.reloc / sizeof D.reloc[0]); i++)
    D.reloc[D.nreloc++] = t->reloc[i];
  if (t->tail != JT_TAIL_NONE && t->tail_addr && D.ntail < JT_MAX_CHAIN + 1) {
    D.tail[D.ntail].addr = t->tail_addr;
    D.tail[D.ntail++].state = t->tail;
  }
}

/* The root of the chain that holds (pid, id): itself, or the loop whose
** last commit attached it as a bridge. */
static const jt_trace *chain_root(const jt_model *m, pid_t pid, uint64_t id) {
  const jt_trace *self = jt_model_trace((jt_model *)m, pid, id, false);
  if (self && self->bytes) return self;
  for (int i = 0; i < m->ntraces; i++) {
    const jt_trace *t = &m->traces[i];
    if (t->pid != pid) continue;
    for (uint32_t k = 0; k < t->nchain; k++)
      if (t->chain[k].id == id) {
        /* With exact facts, only if that chain is the copy live now. */
        if (!self || !self->live_known) return t;
        if (!t->released && t->chain_code == t->code && t->chain[k].addr == self->code)
          return t;
      }
  }
  return self;
}

static const char *kind_of(const jt_trace *t, bool bridge) {
  if (bridge || (t && t->bridge)) return "bridge";
  if (t && (t->commits || t->origin == JT_ORIGIN_RELOADED)) return "loop";
  return "trace";
}

static void load(const jt_model *m) {
  jt_disasm_free(&D.d);
  D.nmem = D.nreloc = D.ntail = 0;
  D.note[0] = 0;
  const jt_trace *self = jt_model_trace((jt_model *)m, D.pid, D.id, false);
  if (!self) {
    snprintf(D.note, sizeof D.note, "trace %016llx of pid %d is no longer in the table",
             (unsigned long long)D.id, (int)D.pid);
    return;
  }
  D.t = *self;
  if (self->released) {
    snprintf(D.note, sizeof D.note,
             "released (trace_release): its code at %llx may have been freed and "
             "reused by another trace, so it is not shown",
             (unsigned long long)self->code);
    return;
  }
  const jt_trace *root = chain_root(m, D.pid, D.id);
  if (!root || !root->code) {
    snprintf(D.note, sizeof D.note,
             self->origin == JT_ORIGIN_COMPILED && m->no_live_events
                 ? "compiled in this process: its code address is not in the event stream "
                   "(this library has no trace_live probe)"
                 : "no code address known for this trace yet");
    return;
  }
  bool estimated = false;
  if (root->live_known) {
    /* Exact: the newest live copy of the root, and the bridges its commit
    ** attached that are still live at the addresses of that commit. */
    const jt_inst *ri = jt_trace_inst(root, root->code);
    member r0 = {root->id, root->code, root->size, false, true, false, ri ? ri->seq : 0, ""};
    snprintf(r0.name, sizeof r0.name, "%s", root->name);
    D.mem[D.nmem++] = r0;
    for (uint32_t k = 0; root->chain_code == root->code && k < root->nchain &&
                         D.nmem < JT_MAX_CHAIN + 1; k++) {
      const jt_link *l = &root->chain[k];
      const jt_trace *b = l->id ? jt_model_trace((jt_model *)m, D.pid, l->id, false) : NULL;
      member mb = {l->id, l->addr, 0, true, false, false, 0, ""};
      if (b) snprintf(mb.name, sizeof mb.name, "%s", b->name);
      if (b && b->live_known) {
        const jt_inst *in = jt_trace_inst(b, l->addr);
        if (in) mb.size = in->size, mb.exact = true, mb.seq = in->seq;
        else mb.released = true;
      }
      D.mem[D.nmem++] = mb;
    }
    for (int i = 1; i < D.nmem; i++)
      if (!D.mem[i].exact && !D.mem[i].released) {
        /* A bridge not announced by trace_live: 64 bytes, or up to the next
        ** member. */
        uint64_t size = 64;
        for (int k = 0; k < D.nmem; k++)
          if (D.mem[k].addr > D.mem[i].addr && D.mem[k].addr - D.mem[i].addr < size)
            size = D.mem[k].addr - D.mem[i].addr;
        D.mem[i].size = size;
        estimated = true;
      }
    if (D.nmem > 2) qsort(D.mem + 1, (size_t)D.nmem - 1, sizeof D.mem[0], cmp_member);
    if (estimated)
      snprintf(D.note, sizeof D.note, "a chain of %d traces: a bridge's end is estimated",
               D.nmem);
  } else if (!root->bytes) {
    /* A bridge seen only through bridge_attach: address, no size. */
    D.mem[D.nmem++] = (member){root->id, root->code, 64, false, false, false, 0, ""};
    snprintf(D.note, sizeof D.note, "size unknown: showing 64 bytes");
  } else {
    D.mem[D.nmem++] = (member){root->id, root->code, 0, false, false, false, 0, ""};
    for (uint32_t k = 0; k < root->nchain && D.nmem < JT_MAX_CHAIN + 1; k++)
      D.mem[D.nmem++] = (member){root->chain[k].id, root->chain[k].addr, 0, true, false,
                                 false, 0, ""};
    qsort(D.mem, (size_t)D.nmem, sizeof D.mem[0], cmp_member);
    /* The commit probe gives the chain's total only: a member ends at the
    ** next member's address if that is near enough, else it is shown with
    ** up to the chain's total bytes (the end may be padding or a neighbour). */
    for (int i = 0; i < D.nmem; i++) {
      uint64_t size = root->bytes;
      if (i + 1 < D.nmem && D.mem[i + 1].addr - D.mem[i].addr < size)
        size = D.mem[i + 1].addr - D.mem[i].addr;
      D.mem[i].size = size;
    }
    /* Shown loop first, then its bridges. */
    for (int i = 0; i < D.nmem; i++)
      if (!D.mem[i].bridge && i) {
        member tmp = D.mem[0];
        D.mem[0] = D.mem[i];
        D.mem[i] = tmp;
      }
    if (D.nmem > 2) qsort(D.mem + 1, (size_t)D.nmem - 1, sizeof D.mem[0], cmp_member);
    snprintf(D.note, sizeof D.note, D.nmem > 1
             ? "a chain of %d traces, %llu bytes in all: a member's end is estimated "
               "(this library has no trace_live probe)"
             : "this library has no trace_live probe: the size is the commit's (%d trace, "
               "%llu bytes)", D.nmem, (unsigned long long)root->bytes);
  }
  add_trace_facts(root);
  if (m->no_reloc_events)
    snprintf(D.note, sizeof D.note, "relocation sites unknown: the reloc probe is not traced "
             "(see the header)");
  for (int i = 0; i < D.nmem; i++) {
    const jt_trace *t = D.mem[i].id && D.mem[i].id != root->id
                            ? jt_model_trace((jt_model *)m, D.pid, D.mem[i].id, false) : NULL;
    if (t) add_trace_facts(t);
  }
  if (!D.note[0] && m->ev_dropped)
    snprintf(D.note, sizeof D.note, "%llu events were lost (ring buffer full): a copy "
             "shown may have been released since", (unsigned long long)m->ev_dropped);
  for (int i = 0; i < D.nmem; i++) {
    char label[160];
    const jt_trace *mt = i == 0 ? root
                         : D.mem[i].id ? jt_model_trace((jt_model *)m, D.pid, D.mem[i].id, false)
                                       : NULL;
    const char *kind = kind_of(mt, D.mem[i].bridge);
    char name[JT_NAME + 2] = "";
    if (D.mem[i].name[0]) snprintf(name, sizeof name, " %s", D.mem[i].name);
    if (D.mem[i].released) {
      snprintf(label, sizeof label, "-- %s %016llx%s at %llx: released, not shown --",
               kind, (unsigned long long)D.mem[i].id, name,
               (unsigned long long)D.mem[i].addr);
      jt_disasm_label(&D.d, label);
      continue;
    }
    snprintf(label, sizeof label, "-- %s %016llx%s at %llx, %llu bytes%s --", kind,
             (unsigned long long)D.mem[i].id, name, (unsigned long long)D.mem[i].addr,
             (unsigned long long)D.mem[i].size, D.mem[i].exact ? "" : " (estimated)");
    jt_disasm_label(&D.d, label);
    /* A tail guard is a 5-byte jmp over an 8-byte patch point: decode up to
    ** the patch point's end and resynchronise there. */
    uint64_t at = D.mem[i].addr, end = at + D.mem[i].size;
    for (int k = 0; k < D.ntail; k++) {
      uint64_t cut = D.tail[k].addr + 8;
      if (D.tail[k].addr >= at && cut < end && !D.d.error[0]) {
        jt_disasm_run(&D.d, D.pid, at, cut - at);
        at = cut;
      }
    }
    if (!D.d.error[0]) jt_disasm_run(&D.d, D.pid, at, end - at);
    if (D.d.error[0]) break;
  }
  /* Mark what the probes said about these bytes. */
  for (int i = 0; i < D.d.n; i++) {
    jt_insn *in = &D.d.insn[i];
    if (!in->len) continue;
    for (int k = 0; k < D.nreloc; k++) {
      const jt_reloc *r = &D.reloc[k];
      if (r->addr >= in->addr && r->addr < in->addr + in->len) {
        in->mark |= JT_MARK_RELOC;
        in->reloc = (int8_t)(k < 127 ? k : 127);
        snprintf(in->note, sizeof in->note, "reloc %s = %llx",
                 jc_reloc_kind_name(r->kind) ? jc_reloc_kind_name(r->kind) : "?",
                 (unsigned long long)r->value);
      }
    }
    for (int k = 0; k < D.ntail; k++)
      if (D.tail[k].addr == in->addr) {
        in->mark |= JT_MARK_TAIL;
        snprintf(in->note, sizeof in->note, "tail guard patch point (%s)",
                 jt_tail_name(D.tail[k].state));
      }
  }
}

/* Is the copy that member mb was read from still live in m?  True when
** that cannot be told (no trace_live for it, or its row is gone). */
static bool copy_live(const jt_model *m, const member *mb) {
  if (!mb->exact || !mb->id) return true;
  const jt_trace *t = jt_model_trace((jt_model *)m, D.pid, mb->id, false);
  if (!t || !t->live_known) return true;
  const jt_inst *in = t->released ? NULL : jt_trace_inst(t, mb->addr);
  return in && in->seq == mb->seq;
}

void jt_detail_verify(const jt_model *m) {
  if (!D.active) return;
  for (int i = 0; i < D.nmem; i++) {
    const member *mb = &D.mem[i];
    if (mb->released || copy_live(m, mb)) continue;
    /* trace_release fires before the code is freed: a copy still live in
    ** the events taken in after the read was live while it was read. */
    jt_disasm_free(&D.d);
    snprintf(D.note, sizeof D.note,
             "the copy of %016llx at %llx was released while it was read (the memory "
             "may hold another trace now): r reads the newest copy",
             (unsigned long long)mb->id, (unsigned long long)mb->addr);
    return;
  }
}

void jt_detail_open(const jt_model *m, pid_t pid, uint64_t id) {
  D.active = true;
  D.pid = pid;
  D.id = id;
  D.top = 0;
  load(m);
}

void jt_detail_draw(const jt_model *m, jt_rect r) {
  const jt_trace *t = &D.t;
  char buf[256];
  snprintf(buf, sizeof buf, " Trace %016llx %s  pid %d  %s%s   Esc: back  r: re-read",
           (unsigned long long)D.id, t->name, (int)D.pid, jt_origin_name(t->origin),
           t->released ? ", released" : "");
  ui_text(r.y, r.x, r.w, R_TITLE_FOCUS, buf, true);
  int y = r.y + 1;
  if (t->live_known)
    ui_printf(y++, r.x, r.w, R_NORMAL,
              "code %llx  %llu bytes  %u live cop%s (%u made, %u released)  commits %u  "
              "chain %u  written %u",
              (unsigned long long)t->code, (unsigned long long)t->size, t->ninst,
              t->ninst == 1 ? "y" : "ies", t->lives, t->releases, t->commits, t->ntraces,
              t->writes);
  else
    ui_printf(y++, r.x, r.w, R_NORMAL,
              "code %llx  %llu bytes in chain  %u trace%s in chain  commits %u  written %u",
              (unsigned long long)t->code, (unsigned long long)t->bytes, t->ntraces,
              t->ntraces == 1 ? "" : "s", t->commits, t->writes);
  ui_printf(y++, r.x, r.w, R_NORMAL,
            "hits %u  misses %u  binds %u  relocs %u (%d sites)  tail %s (%u valid, %u invalid)",
            t->hits, t->misses, t->binds, t->relocs, D.nreloc, jt_tail_name(t->tail),
            t->tails_validated, t->tails_invalidated);
  if (D.d.error[0] || D.note[0])
    ui_text(y++, r.x, r.w, D.d.error[0] ? R_BAD : R_DIM, D.d.error[0] ? D.d.error : D.note, false);
  bool gone = false;
  for (int i = 0; i < D.nmem && D.d.n; i++)
    if (!D.mem[i].released && !copy_live(m, &D.mem[i])) gone = true;
  if (gone)
    ui_text(y++, r.x, r.w, R_WARN, "released since it was read: below is its code as it "
            "was then (r reads the newest copy)", false);
  if (D.d.n) {
    ui_text(y, r.x, r.w, R_DIM, "relocation fields: ", false);
    ui_text(y, r.x + 19, 6, R_RELOC, "xx xx", false);
    ui_text(y++, r.x + 25, r.w - 25, R_DIM, "  tail guard patch point: >>", false);
  }
  int body = r.y + r.h - y;
  D.page = body > 0 ? body : 1;
  if (D.top > D.d.n - D.page) D.top = D.d.n - D.page;
  if (D.top < 0) D.top = 0;
  int nbytes = (r.w - 56) / 3;
  if (nbytes < 3) nbytes = 3;
  if (nbytes > 10) nbytes = 10;
  for (int row = 0; row < body && D.top + row < D.d.n; row++, y++) {
    const jt_insn *in = &D.d.insn[D.top + row];
    if (!in->len) {
      ui_text(y, r.x, r.w, R_HEADER, in->text, false);
      continue;
    }
    int x = r.x;
    ui_text(y, x, 2, R_TAIL, in->mark & JT_MARK_TAIL ? ">>" : "  ", false);
    x += 2;
    ui_printf(y, x, r.w - x, R_ADDR, "%12llx ", (unsigned long long)in->addr);
    x += 13;
    for (int j = 0; j < nbytes; j++, x += 3) {
      if (j >= in->len) continue;
      bool field = false;
      for (int k = 0; k < D.nreloc; k++) {
        uint64_t a = in->addr + (uint64_t)j;
        if (a >= D.reloc[k].addr && a < D.reloc[k].addr + (uint64_t)reloc_width(D.reloc[k].kind))
          field = true;
      }
      char hx[4];
      snprintf(hx, sizeof hx, j + 1 == nbytes && in->len > nbytes ? "..": "%02x", in->bytes[j]);
      ui_text(y, x, 2, field ? R_RELOC : R_NORMAL, hx, false);
    }
    x += 1;
    ui_role role = in->mark & JT_MARK_BAD ? R_BAD : in->mark & JT_MARK_RELOC ? R_WARN : R_NORMAL;
    int tw = (int)strlen(in->text);
    ui_text(y, x, r.w - (x - r.x), role, in->text, false);
    if (in->note[0]) {
      x += tw + 2;
      ui_printf(y, x, r.w - (x - r.x), in->mark & JT_MARK_TAIL ? R_TAIL : R_RELOC, "; %s", in->note);
    }
  }
}

int jt_detail_key(const jt_model *m, int key) {
  switch (key) {
  case JK_ESC: case JK_BACKSPACE: case JK_LEFT: case JK_ENTER:
    jt_detail_close();
    return JT_HANDLED;
  case 'r':
    load(m);
    return JT_HANDLED;
  case JK_UP: case 'k': D.top--; break;
  case JK_DOWN: case 'j': D.top++; break;
  case JK_PGUP: D.top -= D.page; break;
  case JK_PGDN: D.top += D.page; break;
  case JK_HOME: case 'g': D.top = 0; break;
  case JK_END: case 'G': D.top = D.d.n; break;
  default: return JT_IGNORED;
  }
  if (D.top < 0) D.top = 0;
  return JT_HANDLED;
}
