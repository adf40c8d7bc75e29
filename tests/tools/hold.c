/*
** tests/tools/hold.c — keep a cache open until stdin closes, so that
** `jcache stat -p PID` can read this process's live counters.
**
**   jc_tool_hold DIR      prints "ready PID" once the cache is open
*/
#include <stdio.h>
#include <unistd.h>

#include "jcache/jcache.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: jc_tool_hold DIR\n");
    return 2;
  }
  static const jc_ns ns = {"jcache-demo", "1", "demo-build", "x86-64"};
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
