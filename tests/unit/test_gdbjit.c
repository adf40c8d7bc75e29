/*
** tests/unit/test_gdbjit.c — the objects gdbjit hands to gdb, read back with
** elfutils (libelf, libdw): symbols, compile units, the line table, and the
** CFI of every address; the GDB JIT descriptor's list through register,
** unregister and lazy activation; the perf map; jitdump failing soft.
** Links -ldw -lelf.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gdbjit.h"
#include "toytrace.h"

struct jit_code_entry {
  struct jit_code_entry *next_entry, *prev_entry;
  const char *symfile_addr;
  uint64_t symfile_size;
};
struct jit_descriptor {
  uint32_t version, action_flag;
  struct jit_code_entry *relevant_entry, *first_entry;
};
extern struct jit_descriptor __jit_debug_descriptor;

static const toy_consts consts = {.K = 1000, .D = 7, .T = 5, .B = 100};

/* A loop and its bridge, compiled without a cache. */
static void compile(jc_trace **loop, jc_trace **bridge) {
  jc_key key = jc_key_hash("gdbjit test", 11);
  assert_int_equal(toy_compile_loop(NULL, key, &toy_default_greens, &consts, 0, loop), JC_OK);
  assert_int_equal(toy_compile_bridge(NULL, *loop, &toy_default_greens, &consts, bridge), JC_OK);
}

static size_t entries(void) {
  size_t n = 0;
  for (struct jit_code_entry *e = __jit_debug_descriptor.first_entry; e; e = e->next_entry) n++;
  return n;
}

/* Check one object: every trace's symbols, CU, lines and CFI. */
static void check_object(const void *obj, size_t len, jc_trace *const *ts, size_t n) {
  elf_version(EV_CURRENT);
  Elf *elf = elf_memory((char *)obj, len);
  assert_non_null(elf);
  GElf_Ehdr eh;
  assert_non_null(gelf_getehdr(elf, &eh));
  assert_int_equal(eh.e_machine, EM_X86_64);

  /* Symbols: value + section address = the trace's address. */
  size_t shstrndx;
  assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
  Elf_Scn *scn = NULL;
  int found_loop = 0, found_stub = 0, found_bridge = 0, allocated_frames = 0;
  while ((scn = elf_nextscn(elf, scn))) {
    GElf_Shdr sh;
    gelf_getshdr(scn, &sh);
    const char *nm = elf_strptr(elf, shstrndx, sh.sh_name);
    if (!strcmp(nm, ".eh_frame") && (sh.sh_flags & SHF_ALLOC)) allocated_frames++;
    if (sh.sh_type != SHT_SYMTAB) continue;
    Elf_Data *d = elf_getdata(scn, NULL);
    for (size_t i = 1; i < sh.sh_size / sh.sh_entsize; i++) {
      GElf_Sym s;
      gelf_getsym(d, (int)i, &s);
      GElf_Shdr tsh;
      gelf_getshdr(elf_getscn(elf, s.st_shndx), &tsh);
      uint64_t addr = tsh.sh_addr + s.st_value;
      const char *name = elf_strptr(elf, sh.sh_link, s.st_name);
      if (!strcmp(name, "jc_loop_toy_L1")) {
        found_loop++;
        assert_int_equal(addr, (uint64_t)(uintptr_t)ts[0]->code);
      }
      if (!strcmp(name, "jc_loop_toy_L1_exit0")) found_stub++;
      if (!strcmp(name, "jc_bridge_toy_L1_x0")) found_bridge++;
      assert_int_equal(GELF_ST_TYPE(s.st_info), STT_FUNC);
    }
  }
  assert_int_equal(found_loop, 1);
  /* The exit's stub has a symbol, with or without a bridge attached: it
  ** is code of the trace either way. */
  assert_int_equal(found_stub, 1);
  assert_int_equal(found_bridge, n > 1 ? 1 : 0);
  assert_int_equal(allocated_frames, 0); /* the CFI is in .debug_frame */

  Dwarf *dbg = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
  assert_non_null(dbg);
  /* One CU per trace, covering its code; lines where the trace put them. */
  Dwarf_Off off = 0, next;
  size_t hsize, ncu = 0;
  while (dwarf_nextcu(dbg, off, &next, &hsize, NULL, NULL, NULL) == 0) {
    Dwarf_Die cu;
    assert_non_null(dwarf_offdie(dbg, off + hsize, &cu));
    Dwarf_Addr lo, hi;
    assert_int_equal(dwarf_lowpc(&cu, &lo), 0);
    assert_int_equal(dwarf_highpc(&cu, &hi), 0);
    const jc_trace *t = ts[ncu];
    assert_int_equal(lo, (uint64_t)(uintptr_t)t->code);
    assert_int_equal(hi - lo, t->size);
    for (uint32_t k = 0; k < t->nlines; k++) {
      Dwarf_Line *l = dwarf_getsrc_die(&cu, lo + t->lines[k].off);
      assert_non_null(l);
      int line;
      dwarf_lineno(l, &line);
      assert_int_equal(line, (int)t->lines[k].line);
      /* libdw joins a relative name with DW_AT_comp_dir (the cwd). */
      const char *src = dwarf_linesrc(l, NULL, NULL);
      char want[4200];
      snprintf(want, sizeof want, "%s/%s", jc_gdbjit_comp_dir(), t->lines[k].file);
      assert_string_equal(src, t->lines[k].file[0] == '/' ? t->lines[k].file : want);
    }
    off = next;
    ncu++;
  }
  assert_int_equal(ncu, n);

  /* CFI for every address of every trace; spot-check the CFA. */
  Dwarf_CFI *cfi = dwarf_getcfi(dbg);
  assert_non_null(cfi);
  for (size_t i = 0; i < n; i++) {
    const jc_trace *t = ts[i];
    for (size_t a = 0; a < t->size; a++) {
      Dwarf_Frame *fr;
      assert_int_equal(dwarf_cfi_addrframe(cfi, (uint64_t)(uintptr_t)t->code + a, &fr), 0);
      Dwarf_Op *ops;
      size_t nops;
      assert_int_equal(dwarf_frame_cfa(fr, &ops, &nops), 0);
      assert_int_equal(nops, 1);
      assert_int_equal(ops[0].atom, DW_OP_bregx);
      assert_int_equal(ops[0].number, JC_DW_RSP);
      uint64_t cfa = ops[0].number2;
      if (i == 0 && a == 0) assert_int_equal(cfa, 8);  /* before push rbx */
      if (i == 0 && a == 1) assert_int_equal(cfa, 16); /* after it */
      if (i == 1 && a == 0) assert_int_equal(cfa, 16); /* parent's frame */
      free(fr);
    }
  }
  dwarf_end(dbg);
  elf_end(elf);
}

static void test_object_readable(void **state) {
  (void)state;
  jc_gdbjit_configure(JC_GDBJIT_OFF, false, false, 0);
  jc_trace *loop, *bridge;
  compile(&loop, &bridge);
  jc_trace *ts[2] = {loop, bridge};
  void *obj;
  size_t len;
  assert_true(jc_gdbjit_elf_build(ts, 2, &obj, &len));
  check_object(obj, len, ts, 2);
  free(obj);
  assert_true(jc_gdbjit_elf_build(ts, 1, &obj, &len));
  check_object(obj, len, ts, 1);
  free(obj);
  jc_trace_release(bridge);
  jc_trace_release(loop);
}

/* Before a bridge is attached, exit 0 jumps to its stub: a symbol of its own. */
static void test_stub_symbol(void **state) {
  (void)state;
  jc_gdbjit_configure(JC_GDBJIT_OFF, false, false, 0);
  jc_trace *loop;
  jc_key key = jc_key_hash("gdbjit stub", 11);
  assert_int_equal(toy_compile_loop(NULL, key, &toy_default_greens, &consts, 0, &loop), JC_OK);
  jc_gdbjit_sym syms[8];
  size_t n = jc_gdbjit_symbols(loop, syms, 8);
  assert_int_equal(n, 2);
  assert_string_equal(syms[0].name, "jc_loop_toy_L1");
  assert_string_equal(syms[1].name, "jc_loop_toy_L1_exit0");
  assert_ptr_equal(loop->code + syms[1].off, jc_trace_exit_target(loop, 0));
  assert_int_equal(syms[0].size + syms[1].size, loop->size);
  void *obj;
  size_t len;
  assert_true(jc_gdbjit_elf_build(&loop, 1, &obj, &len));
  check_object(obj, len, &loop, 1);
  free(obj);
  jc_trace_release(loop);
}

static void test_descriptor(void **state) {
  (void)state;
  jc_gdbjit_configure(JC_GDBJIT_ON, false, false, 64);
  jc_gdbjit_reset();
  size_t before = entries();
  jc_trace *loop, *bridge;
  compile(&loop, &bridge);
  assert_int_equal(entries(), before + 2); /* one object per registration call */
  for (struct jit_code_entry *e = __jit_debug_descriptor.first_entry; e; e = e->next_entry) {
    assert_true(e->symfile_size > sizeof(Elf64_Ehdr));
    assert_memory_equal(e->symfile_addr, ELFMAG, SELFMAG);
  }
  jc_trace_release(bridge);
  assert_int_equal(entries(), before + 1);
  jc_trace_release(loop);
  assert_int_equal(entries(), before);
}

static void test_lazy(void **state) {
  (void)state;
  jc_gdbjit_configure(JC_GDBJIT_LAZY, false, false, 64);
  jc_gdbjit_reset();
  jc_trace *loop, *bridge;
  compile(&loop, &bridge);
  assert_int_equal(entries(), 0); /* no debugger: nothing built */
  extern void jc_gdbjit_sync(void);
  jc_gdbjit_sync();               /* what `jcache sync` does */
  assert_int_equal(entries(), 1); /* both traces, one object */
  check_object(__jit_debug_descriptor.first_entry->symfile_addr,
               __jit_debug_descriptor.first_entry->symfile_size,
               (jc_trace *[]){loop, bridge}, 2);
  jc_trace_release(bridge);
  jc_trace_release(loop);
  assert_int_equal(entries(), 0);
  jc_gdbjit_configure(JC_GDBJIT_OFF, false, false, 0);
  jc_gdbjit_reset();
}

static void test_perfmap(void **state) {
  (void)state;
  jc_gdbjit_configure(JC_GDBJIT_OFF, true, false, 0);
  jc_trace *loop, *bridge;
  compile(&loop, &bridge);
  char path[64], want[128], line[256];
  snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
  snprintf(want, sizeof want, "%lx %lx jc_loop_toy_L1\n",
           (unsigned long)(uintptr_t)loop->code, (unsigned long)loop->size);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  int ok = 0;
  while (fgets(line, sizeof line, f)) ok |= !strcmp(line, want);
  fclose(f);
  unlink(path);
  assert_true(ok);
  jc_trace_release(bridge);
  jc_trace_release(loop);
  jc_gdbjit_configure(JC_GDBJIT_OFF, false, false, 0);
  jc_gdbjit_reset();
}

/* jitdump in a directory that cannot be created: a warning, code runs. */
static void test_jitdump_fails_soft(void **state) {
  (void)state;
  setenv("JITDUMPDIR", "/proc/nonexistent", 1);
  jc_gdbjit_configure(JC_GDBJIT_OFF, false, true, 0);
  jc_trace *loop, *bridge;
  compile(&loop, &bridge);
  assert_string_equal(jc_jitdump_path(), "");
  toy_fn fn = (toy_fn)jc_trace_entry(loop);
  assert_int_equal(fn(5), toy_expect(&consts, 5));
  jc_trace_release(bridge);
  jc_trace_release(loop);
  jc_gdbjit_configure(JC_GDBJIT_OFF, false, false, 0);
  jc_gdbjit_reset();
  unsetenv("JITDUMPDIR");
}

/* A jitdump: header, then DEBUG_INFO, UNWINDING_INFO, CODE_LOAD per trace. */
static void test_jitdump_records(void **state) {
  (void)state;
  char dir[] = "/tmp/jc-jitdump-XXXXXX";
  assert_non_null(mkdtemp(dir));
  setenv("JITDUMPDIR", dir, 1);
  jc_gdbjit_configure(JC_GDBJIT_OFF, false, true, 0);
  jc_trace *loop, *bridge;
  compile(&loop, &bridge);
  char path[4200];
  snprintf(path, sizeof path, "%s", jc_jitdump_path());
  assert_true(strncmp(path, dir, strlen(dir)) == 0);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  uint32_t h[10];
  assert_int_equal(fread(h, 4, 10, f), 10);
  assert_int_equal(h[0], 0x4A695444u);
  assert_int_equal(h[2], 40);
  int order[8], n = 0;
  struct { uint32_t id, size; uint64_t ts; } p;
  while (n < 8 && fread(&p, sizeof p, 1, f) == 1) {
    order[n++] = (int)p.id;
    assert_true(p.size >= sizeof p);
    fseek(f, (long)(p.size - sizeof p), SEEK_CUR);
  }
  fclose(f);
  /* The loop has lines; the bridge has none. */
  int want[] = {2, 4, 0, 4, 0};
  assert_int_equal(n, 5);
  assert_memory_equal(order, want, sizeof want);
  jc_trace_release(bridge);
  jc_trace_release(loop);
  jc_gdbjit_configure(JC_GDBJIT_OFF, false, false, 0);
  jc_gdbjit_reset();
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
  unsetenv("JITDUMPDIR");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_object_readable),
      cmocka_unit_test(test_stub_symbol),
      cmocka_unit_test(test_descriptor),
      cmocka_unit_test(test_lazy),
      cmocka_unit_test(test_perfmap),
      cmocka_unit_test(test_jitdump_fails_soft),
      cmocka_unit_test(test_jitdump_records),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
