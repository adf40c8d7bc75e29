/*
** lib/reloc.h — the machine-specific part of the patcher (x86-64).
**
** Everything that knows an instruction encoding lives in lib/reloc.c, so a
** port to another architecture replaces that one file.
*/
#ifndef JC_LIB_RELOC_H
#define JC_LIB_RELOC_H

#include <stdint.h>

#include "jcache/error.h"

/* Bytes a relocation of this kind rewrites (0 for an unknown kind). */
unsigned jc_reloc_width(unsigned kind);

/* Write relocation `kind` for a field that will execute at `field` and is
** written at `rw`: value + addend (ABS64/ABS32) or value + addend - (field + 4)
** (REL32).  JC_RANGE if the result does not fit; nothing is written then. */
jc_err jc_reloc_apply(unsigned kind, uint8_t *rw, const uint8_t *field,
                      uint64_t value, int64_t addend);

/* The 8 bytes of a tail guard at `at`: a jmp rel32 to `target`, followed by
** the original bytes 5..7 (never executed while the guard is in place).
** JC_RANGE if the target is out of reach. */
jc_err jc_reloc_tail_guard(uint8_t out[8], const uint8_t orig[8],
                           const uint8_t *at, const uint8_t *target);

/* Point a rel32 field (exit jump) executing at `field` at `target`. */
jc_err jc_reloc_rel32(uint8_t *rw, const uint8_t *field, const void *target);

#endif
