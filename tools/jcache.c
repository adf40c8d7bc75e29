/*
** tools/jcache.c — the `jcache` command: list, inspect, verify and prune
** code caches, and ship them as one file.
**
**   jcache CMD [OPTIONS] [ARGS]      see `jcache --help`, `jcache CMD --help`
**
** Each subcommand lives in its own file (tools/cmd_NAME.c) as
** `int jc_cmd_NAME(int argc, char **argv)`; adding one is one line in the
** table below plus its declaration in tools/common.h.  A subcommand gets its
** own argv with argv[0] = "jcache NAME" (so getopt's messages name it) and
** returns the process's exit status: 0 fine, 1 bad records found, 2 usage or
** I/O error.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "jcache/jcache.h"

static const jt_cmd commands[] = {
    {"ls", jc_cmd_ls, "list every record: key, trace id, kind, sizes, hits"},
    {"show", jc_cmd_show, "one trace: tape, slots, relocations, disassembly"},
    {"stat", jc_cmd_stat, "store totals; a live process's counters (-p)"},
    {"verify", jc_cmd_verify, "check every record; exit 1 if any is bad"},
    {"gc", jc_cmd_gc, "evict least recently used records to a size limit"},
    {"export", jc_cmd_export, "write the cache's records to one file"},
    {"import", jc_cmd_import, "add the records of an exported file"},
#ifdef JC_HAVE_BPF
    {"trace", jc_cmd_trace, "stream the library's events live (bpf, root)"},
#endif
};

static void help(FILE *f) {
  fprintf(f,
          "Usage: jcache COMMAND [OPTIONS] [DIR] [ARGS]\n"
          "\n"
          "Inspect and manage a jcache code cache: the LMDB store in which\n"
          "libjcache keeps the traces (machine code, tape, slots, relocations)\n"
          "a tracing JIT saved for the next run.\n"
          "\n"
          "Commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(f,
          "\n"
          "DIR is the cache directory.  Without it: $JCACHE_DIR, else\n"
          "$XDG_CACHE_HOME/jcache, else ~/.cache/jcache, as the library does.\n"
          "A directory or store not private to you is refused.  ls, show,\n"
          "stat, verify and export only read the store.\n"
          "\n"
          "Exit status: 0 success, 1 bad records found, 2 usage or I/O error.\n"
          "\n"
          "Examples:\n"
          "  jcache ls                     records of the default cache\n"
          "  jcache show ~/.cache/myvm 80bbd12b\n"
          "  jcache verify --delete-bad /var/cache/app/jcache\n"
          "  jcache gc --max-size 64M\n"
          "  jcache export warm.jcb && jcache import /opt/app/jcache warm.jcb\n"
          "\n"
          "'jcache COMMAND --help' describes a command; see also jcache(1).\n");
}

int main(int argc, char **argv) {
  /* The tool is not a JIT: keep it out of jcache-top's process list. */
  setenv("JCACHE_SHM", "off", 1);

  if (argc < 2) {
    help(stderr);
    return JT_EXIT_USAGE;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    if (!strcmp(name, "help") && argc > 2) {
      /* `jcache help CMD` is `jcache CMD --help`. */
      name = argv[2];
      for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name)) continue;
        char prog[64];
        snprintf(prog, sizeof prog, "jcache %s", name);
        char *av[] = {prog, "--help", NULL};
        return commands[i].run(2, av);
      }
      return jt_usage_err("help", "no command '%s'", name);
    }
    help(stdout);
    return JT_EXIT_OK;
  }
  if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
    printf("jcache %d.%d.%d (record format %d)\n", JC_VERSION_MAJOR,
           JC_VERSION_MINOR, JC_VERSION_PATCH, JC_FORMAT_VERSION);
    return JT_EXIT_OK;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (strcmp(commands[i].name, name)) continue;
    char prog[64];
    snprintf(prog, sizeof prog, "jcache %s", name);
    argv[1] = prog;
    return commands[i].run(argc - 1, argv + 1);
  }
  fprintf(stderr, "jcache: no command '%s'\nTry 'jcache --help'.\n", name);
  return JT_EXIT_USAGE;
}
