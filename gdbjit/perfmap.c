/*
** gdbjit/perfmap.c — /tmp/perf-PID.map, the simplest way to name JIT code
** for perf.
**
** One line per trace, "START SIZE NAME" in hex without 0x, appended with one
** write(2) so that lines from several threads never interleave.  perf reads
** the file when it reports, so the file must outlive the process: it is never
** removed.  The map has no way to say a trace was freed; if the arena reuses
** the addresses, perf sees both lines (jitdump has timestamps and does not
** have that problem).  Called with gdbjit's lock held.
*/
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gdbjit.h"

static int fd = -1;
static pid_t fd_pid; /* after fork() the child writes its own map */
static bool failed;

static bool open_map(void) {
  pid_t pid = getpid();
  if (fd >= 0 && fd_pid == pid) return true;
  if (fd >= 0) close(fd);
  fd = -1;
  if (failed && fd_pid == pid) return false;
  char path[64];
  snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)pid);
  fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  fd_pid = pid;
  failed = fd < 0;
  return !failed;
}

void jc_perfmap_add(const jc_trace *t) {
  if (!open_map()) return; /* fail soft: no map, the program runs on */
  char line[256];
  int n;
  if (t->name && t->name[0])
    n = snprintf(line, sizeof line, "%lx %lx %s\n", (unsigned long)(uintptr_t)t->code,
                 (unsigned long)t->size, t->name);
  else
    n = snprintf(line, sizeof line, "%lx %lx jc_trace_%016llx\n",
                 (unsigned long)(uintptr_t)t->code, (unsigned long)t->size,
                 (unsigned long long)t->id);
  if (n <= 0) return;
  if ((size_t)n >= sizeof line) {
    n = sizeof line - 1;
    line[n - 1] = '\n';
  }
  ssize_t w = write(fd, line, (size_t)n);
  (void)w;
}

void jc_perfmap_close(void) {
  if (fd >= 0) close(fd);
  fd = -1;
  failed = false;
}
