/*
** tui/disasm.c — reading a trace's code out of its process and
** disassembling it with Zydis.
**
** The code is read from /proc/PID/mem, which needs ptrace access to the
** process (root, or the same user with a permissive kernel.yama.ptrace_scope).
** What is read is a snapshot: a tail validated later changes the bytes.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <Zydis/Zydis.h>

#include "top.h"

#define JT_MAX_CODE (64 * 1024)

static jt_insn *push(jt_disasm *d) {
  if (d->n == d->cap) {
    int cap = d->cap ? d->cap * 2 : 256;
    jt_insn *p = realloc(d->insn, (size_t)cap * sizeof *p);
    if (!p) return NULL;
    d->insn = p;
    d->cap = cap;
  }
  jt_insn *i = &d->insn[d->n++];
  memset(i, 0, sizeof *i);
  i->reloc = -1;
  return i;
}

void jt_disasm_label(jt_disasm *d, const char *text) {
  jt_insn *i = push(d);
  if (i) snprintf(i->text, sizeof i->text, "%s", text);
}

/* Read len bytes at addr of pid; on failure a sentence in d->error. */
static uint8_t *read_mem(jt_disasm *d, pid_t pid, uint64_t addr, uint64_t *lenp) {
  uint64_t len = *lenp;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    snprintf(d->error, sizeof d->error, "cannot open %s: %s%s", path, strerror(e),
             e == EACCES || e == EPERM ? " (needs root or ptrace access)"
             : e == ENOENT ? " (the process has exited)" : "");
    return NULL;
  }
  uint8_t *buf = malloc(len);
  ssize_t got = buf ? pread(fd, buf, len, (off_t)addr) : -1;
  int e = errno;
  close(fd);
  if (got <= 0) {
    snprintf(d->error, sizeof d->error, "cannot read %llu bytes at %llx of pid %d: %s",
             (unsigned long long)len, (unsigned long long)addr, (int)pid,
             got == 0 || e == EIO ? "no longer mapped (the process freed it or exited)"
                                  : strerror(e));
    free(buf);
    return NULL;
  }
  *lenp = (uint64_t)got; /* a short read keeps what was read */
  return buf;
}

void jt_disasm_run(jt_disasm *d, pid_t pid, uint64_t addr, uint64_t len) {
  if (!len || !addr) return;
  if (len > JT_MAX_CODE) len = JT_MAX_CODE;
  uint8_t *buf = read_mem(d, pid, addr, &len);
  if (!buf) return;
  for (uint64_t off = 0; off < len;) {
    /* int3 is what the arena fills unused code space with, never code the
    ** JIT emits: the trace ends there. */
    if (buf[off] == 0xCC && off) {
      jt_disasm_label(d, "-- int3 fill: end of the code --");
      break;
    }
    jt_insn *i = push(d);
    if (!i) break;
    ZydisDisassembledInstruction ins;
    i->addr = addr + off;
    if (ZYAN_SUCCESS(ZydisDisassembleIntel(ZYDIS_MACHINE_MODE_LONG_64, addr + off,
                                           buf + off, len - off, &ins))) {
      i->len = ins.info.length;
      snprintf(i->text, sizeof i->text, "%s", ins.text);
    } else {
      i->len = 1;
      i->mark |= JT_MARK_BAD;
      snprintf(i->text, sizeof i->text, "(bad) .byte 0x%02x", buf[off]);
    }
    memcpy(i->bytes, buf + off, i->len);
    off += i->len;
  }
  free(buf);
}

void jt_disasm_free(jt_disasm *d) {
  free(d->insn);
  memset(d, 0, sizeof *d);
}
