/*
** tests/unit/test_shm.c — the per-process counters segment in /dev/shm.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm.h"
#include "testutil.h"
#include "toytrace.h"

static const jc_ns test_ns = {"jcache-test", "1", "shm", "x86-64"};

static void shm_path(char *buf, size_t n, pid_t pid) {
  snprintf(buf, n, "/dev/shm/jcache.%d", (int)pid);
}

/* The segment appears on first use, private to the user, and carries the
** same counters as jc_stats_get. */
static void test_published(void **state) {
  (void)state;
  char *dir = tu_tmpdir();
  jc_cache *c;
  jc_cache_opts o = {.dir = dir};
  assert_int_equal(jc_cache_open(&test_ns, &o, &c), JC_OK);
  char path[64];
  shm_path(path, sizeof path, getpid());
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(st.st_uid, geteuid());

  jc_cands *cs;
  for (int i = 0; i < 5; i++) {
    assert_int_equal(jc_lookup(c, jc_key_hash(&i, sizeof i), &cs), JC_OK);
    jc_cands_release(cs);
  }
  jc_shm seg;
  assert_true(jc_shm_read(getpid(), &seg));
  jc_stats s;
  jc_stats_get(&s);
  assert_int_equal(seg.pid, getpid());
  assert_string_equal(seg.cache_dir, dir);
  assert_true(seg.stats.lookups >= 5);
  assert_int_equal(seg.stats.lookups, s.lookups);
  assert_int_equal(seg.nstats, JC_STATS_COUNT);
  assert_true(strlen(seg.comm) > 0);
  jc_cache_close(c);
  tu_rmtree(dir);
  free(dir);
}

/* A child process's segment is its own and disappears when it exits;
** segments of dead processes are cleaned; JCACHE_SHM=off makes none. */
static void test_lifecycle(void **state) {
  (void)state;
  char *dir = tu_tmpdir();
  /* A stale segment of a process that cannot exist (above pid_max). */
  const char *stale = "/dev/shm/jcache.2147483600";
  int fd = open(stale, O_CREAT | O_WRONLY, 0600);
  assert_true(fd >= 0);
  close(fd);

  int pipefd[2];
  assert_int_equal(pipe(pipefd), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    jc_cache *c;
    jc_cache_opts o = {.dir = dir};
    if (jc_cache_open(&test_ns, &o, &c)) _exit(10);
    jc_cands *cs;
    for (int i = 0; i < 7; i++) {
      jc_lookup(c, jc_key_hash(&i, sizeof i), &cs);
      jc_cands_release(cs);
    }
    char b = 1;
    if (write(pipefd[1], &b, 1) != 1) _exit(11);
    pause(); /* until the parent has looked */
    _exit(0);
  }
  close(pipefd[1]);
  char b;
  assert_int_equal(read(pipefd[0], &b, 1), 1);
  jc_shm seg;
  assert_true(jc_shm_read(pid, &seg));
  assert_int_equal(seg.pid, pid);
  assert_true(seg.stats.lookups >= 7);
  struct stat st;
  assert_int_not_equal(stat(stale, &st), 0); /* cleaned by the child */
  kill(pid, SIGTERM);
  int status;
  waitpid(pid, &status, 0);
  /* Killed: no atexit; the next publisher (or a reader) removes it. */
  char path[64];
  shm_path(path, sizeof path, pid);
  char name[64];
  snprintf(name, sizeof name, "jcache.%d", (int)pid);
  assert_true(jc_shm_stale(name));

  /* A helper that exits normally leaves nothing behind, and cleans the
  ** segment of the killed child. */
  char *argv[] = {(char *)tu_helper("helper_toy"), "record", dir, "1", "2", "3",
                  "4", NULL};
  assert_int_equal(tu_run(argv), 0);
  assert_int_not_equal(stat(path, &st), 0);

  /* JCACHE_SHM=off: no segment at all. */
  pid = fork();
  if (pid == 0) {
    setenv("JCACHE_SHM", "off", 1);
    jc_cache *c;
    jc_cache_opts o = {.dir = dir};
    if (jc_cache_open(&test_ns, &o, &c)) _exit(10);
    char p2[64];
    shm_path(p2, sizeof p2, getpid());
    struct stat st2;
    _exit(stat(p2, &st2) == 0 ? 12 : 0);
  }
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  tu_rmtree(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_published),
      cmocka_unit_test(test_lifecycle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
