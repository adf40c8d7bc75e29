/*
** tests/tools/hold.c — keep a cache open until stdin closes, so that
** `jcache stat -p PID` can read this process's live counters; or save a
** give-up, as a JIT that gave up tracing a key does.
**
**   jc_tool_hold DIR                  prints "ready PID" once the cache is open
**   jc_tool_hold --giveup DIR KEY WHY  saves a give-up for jc_key_hash(KEY)
**   jc_tool_hold --program DIR NAME KEY  a run of program NAME that saves the
**                                      toy loop under jc_key_hash(KEY): its
**                                      close writes the program's list
*/
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jcache/jcache.h"
#include "toytrace.h"

int main(int argc, char **argv) {
  static const jc_ns ns = {"jcache-demo", "1", "demo-build", "x86-64"};
  if (argc == 5 && strcmp(argv[1], "--giveup") == 0) {
    jc_cache_opts o = {.dir = argv[2]};
    jc_cache *c;
    if (jc_cache_open(&ns, &o, &c) ||
        jc_giveup_save(c, jc_key_hash(argv[3], strlen(argv[3])), argv[4])) {
      fprintf(stderr, "jc_tool_hold: %s\n", jc_last_error());
      return 1;
    }
    jc_cache_close(c); /* writes it */
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "--program") == 0) {
    jc_cache_opts o = {.dir = argv[2]};
    jc_cache *c;
    jc_trace *loop = NULL;
    static const toy_consts k = {1000, 7, 5, 100};
    if (jc_cache_open(&ns, &o, &c) ||
        jc_cache_prefetch_program(c, jc_key_hash(argv[3], strlen(argv[3]))) ||
        toy_compile_loop(c, jc_key_hash(argv[4], strlen(argv[4])), &toy_default_greens,
                         &k, 0, &loop)) {
      fprintf(stderr, "jc_tool_hold: %s\n", jc_last_error());
      return 1;
    }
    jc_trace_release(loop);
    jc_cache_close(c); /* writes the record and the list */
    return 0;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: jc_tool_hold DIR | jc_tool_hold --giveup DIR KEY WHY | "
                    "jc_tool_hold --program DIR NAME KEY\n");
    return 2;
  }
  jc_cache_opts o = {.dir = argv[1], .flags = JC_CACHE_READONLY};
  jc_cache *c;
  jc_err err = jc_cache_open(&ns, &o, &c);
  if (err) {
    fprintf(stderr, "jc_tool_hold: %s\n", jc_last_error());
    return 1;
  }
  /* Something to count: one lookup per key we know nothing about. */
  jc_cands *cs;
  for (int i = 0; i < 3; i++)
    if (jc_lookup(c, jc_key_hash(&i, sizeof i), &cs) == JC_OK)
      jc_cands_release(cs);
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  jc_cache_close(c);
  return 0;
}
