/*
 * main.c — jcvm's command line and pipeline:
 *
 *   read file → parse (parse.c) → compile (compile.c) → run (interp.c)
 *                                                   └→ --dump-bytecode (dump.c)
 *
 * Exit status: 0 success, 1 runtime error, 2 parse/compile error or bad
 * usage (including an unreadable program file).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"
#include "compile.h"
#include "dump.h"
#include "error.h"
#include "gc.h"
#include "interp.h"
#include "jit/jit.h"
#include "parse.h"
#include "vm.h"

static void usage(FILE *out)
{
  fputs("usage: jcvm [options] PROGRAM.jc [ARGS...]\n"
        "\n"
        "Run a jc program; ARGS are available to it as the array `args`.\n"
        "\n"
        "options:\n"
        "  --dump-bytecode   print the compiled bytecode of PROGRAM and exit\n"
        "  --no-jit          run in the interpreter only\n"
        "  --jit-hot=N       back edges before a loop is traced (default 1000; env JCVM_JIT_HOT)\n"
        "  --jit-exit-hot=N  exits taken before a bridge is traced (default 10; env\n"
        "                    JCVM_JIT_EXIT_HOT)\n"
        "  --jit-reload-hot=N  with the cache: back edges (exits) before a loop (exit)\n"
        "                    is looked up in it (default 1; env JCVM_JIT_RELOAD_HOT)\n"
        "  --jit-stress      trace every loop at once, bridge every exit at once\n"
        "  --jit-no-sink     no allocation sinking (to compare with it)\n"
        "  --jit-no-prefetch look traces up in the cache only when loops get hot, not\n"
        "                    on a background thread at startup (to compare with it)\n"
        "  --jit-prefetch-wait  before running the program, wait until the prefetch\n"
        "                    thread has fetched what the program's last run used\n"
        "                    (tests; the best case of prefetching, to compare with it)\n"
        "  --jit-static=MODE with the cache, which saved traces are bound from where\n"
        "                    their objects come from, without a checking iteration:\n"
        "                    bridges (default: a hot exit's), all (loops too), off\n"
        "                    (always check), verify (both, and count agreement)\n"
        "  --jit-prepare=MODE  with the prefetch thread, whether it decodes and checks\n"
        "                    the snapshots of the traces it fetches: on (default), off\n"
        "                    (every reload does it), verify (both, and count agreement)\n"
        "  --jit-gc-stress   traces never allocate without leaving to collect, exits\n"
        "                    collect before each object they rebuild (tests)\n"
        "  --dump-ir         print each trace's IR (recorded and optimized) to stderr\n"
        "  --jit-stats       print JIT statistics to stderr at exit\n"
        "  --jit-stats-json=FILE  write them to FILE as one JSON object\n"
        "  --cache DIR       keep compiled traces in DIR (also --cache=DIR; default\n"
        "                    $JCACHE_DIR, else $XDG_CACHE_HOME/jcache or ~/.cache/jcache)\n"
        "  --no-cache        neither reload nor save compiled traces\n"
        "  --max-heap=MB     heap limit in MiB (default 2048); beyond it: out of memory\n"
        "  --help            show this help\n"
        "\n"
        "exit status: 0 ok, 1 runtime error, 2 syntax error or bad usage\n",
        out);
}

/* Read a whole file; NULL (errno set) on failure. */
static char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
    if (n == cap) {
      char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        buf = NULL;
        errno = ENOMEM;
        break;
      }
      buf = nb;
      cap *= 2;
    }
  }
  int err = ferror(f) ? (errno ? errno : EIO) : 0;
  fclose(f);
  if (buf && err) {
    free(buf);
    errno = err;
    return NULL;
  }
  *len = n;
  return buf;
}

/* The arena is static so its state survives the longjmp of an error. */
static vm_arena arena;

/* Compile and run (or dump) a program; returns the exit status.  Kept apart
   from main so no local of main is live across setjmp. */
static int run(vm_vm *vm, const char *path, const char *src, size_t len, int dump, int pargc,
               char **pargv)
{
  vm_errjmp ej;
  vm->err = &ej;
  vm->source_name = path;
  if (setjmp(ej.buf) != 0) {
    vm->err = NULL;
    return ej.status;
  }
  vm_init_strings(vm);
  vm_builtins_install(vm, pargc, pargv);
  vm_gc_pause(vm); /* the tree and half-built code objects are unrooted */
  vm_node *prog = vm_parse_program(vm, &arena, src, len);
  vm->main_func = vm_compile_program(vm, &arena, prog, path);
  vm_gc_resume(vm);
  vm_arena_free(&arena);
  if (vm->jit && !dump)
    jit_cache_prefetch(vm->jit, vm->main_func->code);
  if (dump)
    vm_dump_code(vm->main_func->code, stdout);
  else
    vm_interp_run(vm, vm->main_func);
  vm->err = NULL;
  return 0;
}

int main(int argc, char **argv)
{
  static jit_state jit; /* static: outlives the error longjmp */
  jit_init(NULL, &jit);
  int dump = 0;
  size_t max_heap_mb = 0;
  int argi = 1;
  for (; argi < argc && argv[argi][0] == '-' && argv[argi][1] == '-'; argi++) {
    const char *a = argv[argi];
    if (strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--dump-bytecode") == 0) {
      dump = 1;
    } else if (strcmp(a, "--cache") == 0 && argi + 1 < argc) {
      jit.cache_dir = argv[++argi];
      jit.use_cache = true;
    } else if (strncmp(a, "--jit", 5) == 0 || strcmp(a, "--no-jit") == 0 ||
               strcmp(a, "--dump-ir") == 0 || strcmp(a, "--no-cache") == 0 ||
               strncmp(a, "--cache=", 8) == 0) {
      if (jit_option(&jit, a) != 1) {
        fprintf(stderr, "jcvm: invalid option '%s'\n", a);
        return VM_EXIT_PARSE;
      }
    } else if (strncmp(a, "--max-heap=", 11) == 0) {
      char *end;
      errno = 0;
      unsigned long long mb = strtoull(a + 11, &end, 10);
      if (errno || *end || end == a + 11 || mb == 0 || mb > (1ull << 30)) {
        fprintf(stderr, "jcvm: invalid --max-heap value '%s'\n", a + 11);
        return VM_EXIT_PARSE;
      }
      max_heap_mb = (size_t)mb;
    } else if (strcmp(a, "--") == 0) {
      argi++;
      break;
    } else {
      fprintf(stderr, "jcvm: unknown option '%s'\n", a);
      usage(stderr);
      return VM_EXIT_PARSE;
    }
  }
  if (argi >= argc) {
    usage(stderr);
    return VM_EXIT_PARSE;
  }
  const char *path = argv[argi];
  size_t len = 0;
  char *src = read_file(path, &len);
  if (!src) {
    fprintf(stderr, "jcvm: cannot read '%s': %s\n", path, strerror(errno));
    return VM_EXIT_PARSE;
  }

  static vm_vm vm; /* static: large */
  vm_init(&vm);
  if (max_heap_mb)
    vm.max_heap = max_heap_mb << 20;
  jit.vm = &vm;
  if (jit.enabled && !dump) {
    vm.jit = &jit;
    jit_cache_open(&jit, src, len);
    vm.jit_hot = jit.cache ? jit.reload_hot : jit.hot;
  }
  int status = run(&vm, path, src, len, dump, argc - argi - 1, argv + argi + 1);
  fflush(stdout);
  vm.jit_recording = 0;
  vm.jit = NULL;
  jit_report(&jit);
  jit_free(&jit);
  vm_arena_free(&arena);
  vm_free(&vm);
  free(src);
  return status;
}
