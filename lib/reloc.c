/*
** lib/reloc.c — x86-64 encodings for relocations, exits and tail guards.
*/
#include <string.h>

#include "internal.h"
#include "jcache/rec.h"
#include "reloc.h"

unsigned jc_reloc_width(unsigned kind) {
  switch (kind) {
  case JC_RELOC_ABS64: return 8;
  case JC_RELOC_ABS32:
  case JC_RELOC_REL32:
  case JC_RELOC_CELL32: return 4;
  default: return 0;
  }
}

JC_API const char *jc_reloc_kind_name(unsigned kind) {
  switch (kind) {
  case JC_RELOC_ABS64: return "ABS64";
  case JC_RELOC_ABS32: return "ABS32";
  case JC_RELOC_REL32: return "REL32";
  case JC_RELOC_CELL32: return "CELL32";
  default: return NULL;
  }
}

jc_err jc_reloc_rel32(uint8_t *rw, const uint8_t *field, const void *target) {
  /* rel32 counts from the end of the field, which ends every x86 branch. */
  int64_t rel = (int64_t)((uintptr_t)target - ((uintptr_t)field + 4));
  if (rel != (int32_t)rel)
    return jc_fail(JC_RANGE, "jcache: %p is out of rel32 reach of %p", target,
                   (const void *)field);
  int32_t r32 = (int32_t)rel;
  memcpy(rw, &r32, 4);
  return JC_OK;
}

jc_err jc_reloc_apply(unsigned kind, uint8_t *rw, const uint8_t *field,
                      uint64_t value, int64_t addend) {
  uint64_t v = value + (uint64_t)addend; /* wraps like the CPU's adds */
  switch (kind) {
  case JC_RELOC_ABS64:
    memcpy(rw, &v, 8);
    return JC_OK;
  case JC_RELOC_ABS32: {
    /* The CPU sign-extends imm32/disp32: the value must survive that. */
    int64_t s = (int64_t)v;
    if (s != (int32_t)s)
      return jc_fail(JC_RANGE, "jcache: ABS32 value %#llx does not sign-extend "
                               "from 32 bits", (unsigned long long)v);
    int32_t v32 = (int32_t)s;
    memcpy(rw, &v32, 4);
    return JC_OK;
  }
  case JC_RELOC_REL32:
  case JC_RELOC_CELL32: /* value: the cell's address (commit.c) */
    return jc_reloc_rel32(rw, field, (const void *)(uintptr_t)v);
  default:
    return jc_fail(JC_INVAL, "jcache: unknown relocation kind %u", kind);
  }
}

jc_err jc_reloc_tail_guard(uint8_t out[8], const uint8_t orig[8],
                           const uint8_t *at, const uint8_t *target) {
  memcpy(out, orig, 8);
  out[0] = 0xE9; /* jmp rel32 */
  return jc_reloc_rel32(out + 1, at + 1, target);
}
