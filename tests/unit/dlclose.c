/*
** tests/unit/dlclose.c — a program that dlopens libjcache, uses it and
** dlcloses it goes on running.
**
** libjcache keeps running its own code after the program's last call: the
** thread that populates memory wakes up on its own, and a thread that
** freed jc_mem blocks gives them back when it ends.  Unmapped by dlclose,
** that code is gone and the process crashes (it did, before the library
** was linked -z nodelete: lib/CMakeLists.txt).
*/
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *(*mem_alloc)(size_t);
static void (*mem_free)(void *);
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

/* Frees a block (kept by this thread), then ends after the dlclose. */
static void *worker(void *arg) {
  (void)arg;
  mem_free(mem_alloc(100));
  pthread_mutex_lock(&gate);
  pthread_mutex_unlock(&gate);
  return NULL;
}

int main(void) {
  void *h = dlopen(JC_SHARED_LIB, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    printf("dlclose: cannot load %s: %s\n", JC_SHARED_LIB, dlerror());
    return 1;
  }
  mem_alloc = (void *(*)(size_t))dlsym(h, "jc_mem_alloc");
  mem_free = (void (*)(void *))dlsym(h, "jc_mem_free");
  if (!mem_alloc || !mem_free) {
    printf("dlclose: no jc_mem_alloc / jc_mem_free in %s\n", JC_SHARED_LIB);
    return 1;
  }
  pthread_mutex_lock(&gate);
  pthread_t t;
  if (pthread_create(&t, NULL, worker, NULL) != 0) return 1;
  usleep(50000); /* the worker has freed its block */
  if (dlclose(h) != 0) {
    printf("dlclose: %s\n", dlerror());
    return 1;
  }
  pthread_mutex_unlock(&gate);
  pthread_join(t, NULL);
  /* Past the populating thread's longest sleep (128 ms). */
  usleep(300000);
  printf("dlclose: the worker ended and the process ran on after dlclose\n");
  return 0;
}
