/*
** tools/cmd_show.c — `jcache show`: everything one record holds.
*/
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "disasm.h"

static const char help[] =
    "Usage: jcache show [OPTIONS] [DIR] TRACE\n"
    "\n"
    "Show one trace of the cache at DIR: its header (namespace, key, kind,\n"
    "parent, sizes, times, usage), the tape (GREEN site/kind/fingerprint,\n"
    "BIND slot, GUARD n), the slots (bound, symbol name, or arena reference\n"
    "and offset), relocations, exits, patch points, the line table, the aux\n"
    "size, and the machine code disassembled (Zydis).  In the listing, lines\n"
    "holding a relocation field, an exit's jump field or a patch point are\n"
    "starred and carry a comment such as\n"
    "    ; reloc ABS64 slot 3 (symbol foo)\n"
    "The code is shown as stored, before relocation; addresses are offsets\n"
    "into the trace's code.\n"
    "\n"
    "TRACE is a trace id or a prefix of one (as `jcache ls` prints it), or a\n"
    "trace name.  If it matches several records they are listed and nothing\n"
    "is shown.  A record that fails its checks is reported with the reason\n"
    "(exit status 1), never decoded.\n"
    "\n"
    "Options:\n"
    "  -n, --ns PREFIX   only look in namespaces whose hex starts with PREFIX\n"
    "      --att         AT&T syntax (default Intel)\n"
    "      --no-code     no disassembly\n"
    "  -x, --hex         also a hex dump of the code\n"
    "  -h, --help        this help\n"
    "\n"
    "Examples:\n"
    "  jcache show 80bbd12b\n"
    "  jcache show /tmp/cache jc_loop_toy_L1\n"
    "  jcache show --att -x ~/.cache/jcache 80bbd12be54c9c24\n";

static const char *const op_name[] = {"?", "GREEN", "BIND", "GUARD"};

static void print_header(const jt_rec *r) {
  const jc_view *v = &r->v;
  char b1[40], b2[40], t[32];
  printf("trace %016llx  %s\n", (unsigned long long)r->id, jt_rec_name(r));
  printf("  namespace   %s\n", jt_hex128(b1, r->ns));
  printf("  key         %s\n", jt_hex128(b2, r->key));
  if (v->hdr.kind == JC_FMT_BRIDGE)
    printf("  kind        bridge from trace %016llx, exit (guard) %u\n",
           (unsigned long long)v->parent_id, v->parent_exit);
  else
    printf("  kind        loop\n");
  printf("  record      %u bytes, format %u, %u sections, checksum %016llx\n",
         v->len, v->hdr.version, v->hdr.nsections,
         (unsigned long long)v->hdr.checksum);
  printf("  code        %u bytes, entry +0x%x\n", v->code_len, v->hdr.entry_off);
  printf("  created     %s\n", jt_time(t, sizeof t, v->hdr.created));
  if (r->has_usage) {
    char t2[32];
    printf("  usage       %llu hit%s, last used %s (entry created %s)\n",
           (unsigned long long)r->usage.hits, r->usage.hits == 1 ? "" : "s",
           jt_time(t, sizeof t, r->usage.last_used),
           jt_time(t2, sizeof t2, r->usage.created));
  } else {
    printf("  usage       none recorded\n");
  }
  printf("  aux         %u bytes\n", v->aux_len);
}

static void print_tape(const jc_view *v) {
  printf("\ntape (%u entr%s)\n", v->ntape, v->ntape == 1 ? "y" : "ies");
  for (uint32_t i = 0; i < v->ntape; i++) {
    struct jc_fmt_tape e;
    jc_view_tape(v, i, &e);
    const char *op = e.op <= JC_TAPE_GUARD ? op_name[e.op] : "?";
    switch (e.op) {
    case JC_TAPE_GREEN:
      printf("  %4u  %-5s  site %u  kind %u  fp %016llx\n", i, op, e.arg,
             e.kind, (unsigned long long)e.fp);
      break;
    case JC_TAPE_BIND: printf("  %4u  %-5s  slot %u\n", i, op, e.arg); break;
    default: printf("  %4u  %-5s  %u\n", i, op, e.arg); break;
    }
  }
}

static void print_slots(const jc_view *v) {
  printf("\nslots (%u)\n", v->nslots);
  for (uint32_t i = 0; i < v->nslots; i++) {
    char d[200];
    jt_slot_desc(v, i, d, sizeof d);
    printf("  %s\n", d);
  }
}

static void print_relocs(const jc_view *v) {
  printf("\nrelocations (%u)\n", v->nrelocs);
  for (uint32_t i = 0; i < v->nrelocs; i++) {
    struct jc_fmt_reloc r;
    jc_view_reloc(v, i, &r);
    char kb[16], d[200];
    jt_slot_desc(v, r.slot, d, sizeof d);
    printf("  +0x%04x  %-5s  %s  addend %lld\n", r.off,
           jt_reloc_kind_name(r.kind, kb, sizeof kb), d, (long long)r.addend);
  }
}

static void print_exits(const jc_view *v) {
  printf("\nexits (%u)\n", v->nexits);
  for (uint32_t i = 0; i < v->nexits; i++) {
    struct jc_fmt_exit e;
    jc_view_exit(v, i, &e);
    if (e.kind == JC_EXIT_SLOT)
      printf("  guard %u: jumps through a slot, its address at +0x%04x, stub "
             "+0x%04x\n", e.guard, e.field_off, e.stub_off);
    else
      printf("  guard %u: jump field at +0x%04x\n", e.guard, e.field_off);
  }
  printf("\npatch points (%u)\n", v->npatches);
  for (uint32_t i = 0; i < v->npatches; i++) {
    struct jc_fmt_patch p;
    jc_view_patch(v, i, &p);
    printf("  after guard %u: at +0x%04x, tail [0x%x, 0x%x), stub +0x%x\n",
           p.after_guard, p.off, p.off, p.end, p.target_off);
  }
}

static void print_lines(const jc_view *v) {
  printf("\nlines (%u)\n", v->nlines);
  for (uint32_t i = 0; i < v->nlines; i++) {
    struct jc_fmt_line l;
    jc_view_line(v, i, &l);
    printf("  +0x%04x  %s:%u\n", l.off, v->strings + l.file, l.line);
  }
}

static void print_hex(const jc_view *v) {
  printf("\ncode bytes\n");
  for (uint32_t i = 0; i < v->code_len; i += 16) {
    printf("  %6x: ", i);
    for (uint32_t j = i; j < i + 16 && j < v->code_len; j++)
      printf(" %02x", v->code[j]);
    printf("\n");
  }
}

/* Does the record match what the user typed? */
static bool matches(const jt_rec *r, const char *arg, const char *hexarg) {
  if (r->ok && !strcmp(jt_rec_name(r), arg)) return true;
  if (!*hexarg || strlen(hexarg) > 16) return false;
  char id[20];
  snprintf(id, sizeof id, "%016llx", (unsigned long long)r->id);
  return strncmp(id, hexarg, strlen(hexarg)) == 0;
}

int jc_cmd_show(int argc, char **argv) {
  enum { OPT_ATT = 256, OPT_NOCODE };
  static const struct option opts[] = {
      {"ns", required_argument, NULL, 'n'},
      {"att", no_argument, NULL, OPT_ATT},
      {"no-code", no_argument, NULL, OPT_NOCODE},
      {"hex", no_argument, NULL, 'x'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  char prefix[40] = "";
  bool att = false, code = true, hex = false;
  int o;
  while ((o = getopt_long(argc, argv, "n:xh", opts, NULL)) != -1) {
    switch (o) {
    case 'n':
      if (!jt_parse_hex_prefix(optarg, prefix, sizeof prefix))
        return jt_usage_err("show", "namespace prefix '%s' is not hex", optarg);
      break;
    case OPT_ATT: att = true; break;
    case OPT_NOCODE: code = false; break;
    case 'x': hex = true; break;
    case 'h': fputs(help, stdout); return JT_EXIT_OK;
    default: return jt_usage_err("show", "bad option");
    }
  }
  int npos = argc - optind;
  if (npos < 1) return jt_usage_err("show", "which trace?");
  if (npos > 2) return jt_usage_err("show", "too many arguments");
  const char *dir = npos == 2 ? argv[optind] : NULL;
  const char *arg = argv[argc - 1];
  char hexarg[40] = "";
  if (strlen(arg) <= 16 && !jt_parse_hex_prefix(arg, hexarg, sizeof hexarg))
    hexarg[0] = '\0';

  jt_store s;
  if (!jt_store_open(&s, dir, JT_OPEN_READ)) return JT_EXIT_USAGE;
  int status = JT_EXIT_USAGE;
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  size_t nmatch = 0;
  jt_rec found;
  memset(&found, 0, sizeof found);
  if (s.has_traces) {
    int rc = jt_txn_begin(&s, false, &txn);
    if (!rc) rc = mdb_cursor_open(txn, s.traces, &cur);
    MDB_val k, v;
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      jt_rec r;
      jt_rec_load(&s, txn, &k, &v, &r);
      if (*prefix && (k.mv_size != 40 || !jt_ns_match(r.ns, prefix))) continue;
      if (!matches(&r, arg, hexarg)) continue;
      if (nmatch++ == 0) {
        found = r;
        continue;
      }
      if (nmatch == 2) {
        printf("'%s' matches several records:\n", arg);
        printf("  %016llx  %s\n", (unsigned long long)found.id,
               found.ok ? jt_rec_name(&found) : "(bad)");
      }
      printf("  %016llx  %s\n", (unsigned long long)r.id,
             r.ok ? jt_rec_name(&r) : "(bad)");
    }
    if (rc != MDB_NOTFOUND) {
      jt_err("cannot read %s: %s", s.dir, mdb_strerror(rc));
      nmatch = 0;
      goto out;
    }
  }
  if (nmatch == 0) {
    jt_err("no trace '%s' in %s", arg, s.dir);
  } else if (nmatch > 1) {
    printf("give more digits of the trace id, or -n NAMESPACE\n");
  } else if (!found.ok) {
    char b1[40], b2[40];
    printf("trace %016llx  BAD RECORD\n", (unsigned long long)found.id);
    printf("  namespace   %s\n", jt_hex128(b1, found.ns));
    printf("  key         %s\n", jt_hex128(b2, found.key));
    printf("  record      %zu bytes\n", found.len);
    printf("  rejected    %s: %s\n", found.reason, found.detail);
    status = JT_EXIT_BAD;
  } else {
    const jc_view *v = &found.v;
    print_header(&found);
    print_tape(v);
    print_slots(v);
    print_relocs(v);
    print_exits(v);
    print_lines(v);
    if (hex) print_hex(v);
    if (code) {
      printf("\ncode (%s syntax; * marks relocation, exit and patch sites)\n",
             att ? "AT&T" : "Intel");
      if (!jt_disasm_print(stdout, v, att)) jt_err("cannot initialise Zydis");
    }
    status = JT_EXIT_OK;
  }
out:
  if (cur) mdb_cursor_close(cur);
  if (txn) mdb_txn_abort(txn);
  jt_store_close(&s);
  return status;
}
