/*
** vm/jit/emit_x86.h — x86-64 instruction encoder for asm_x86.c.
**
** Register numbers: GPRs 0..15 in hardware order (rax=0 .. r15=15); XMM
** registers are passed as 0..15 to the SSE emitters.  Memory operands are
** always [base + disp32] (base any GPR; rsp/r12 need a SIB byte).
** The buffer grows on demand; on allocation failure it sets `oom` and the
** assembler gives up.
*/
#ifndef VM_JIT_EMIT_X86_H
#define VM_JIT_EMIT_X86_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

/* Condition codes (the low nibble of Jcc). */
enum {
  CC_O = 0x0, CC_NO = 0x1, CC_B = 0x2, CC_AE = 0x3, CC_E = 0x4, CC_NE = 0x5, CC_BE = 0x6,
  CC_A = 0x7, CC_S = 0x8, CC_NS = 0x9, CC_P = 0xa, CC_NP = 0xb, CC_L = 0xc, CC_GE = 0xd,
  CC_LE = 0xe, CC_G = 0xf
};

typedef struct mcbuf {
  uint8_t *p;
  uint32_t n, cap;
  int oom;
} mcbuf;

static inline void mc_need(mcbuf *b, uint32_t k)
{
  if (b->n + k <= b->cap)
    return;
  uint32_t cap = b->cap ? b->cap * 2 : 4096;
  while (cap < b->n + k)
    cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    b->n = 0;
    return;
  }
  b->p = p;
  b->cap = cap;
}

static inline void mc_u8(mcbuf *b, unsigned v)
{
  mc_need(b, 1);
  if (!b->oom)
    b->p[b->n++] = (uint8_t)v;
}

static inline void mc_u32(mcbuf *b, uint32_t v)
{
  mc_need(b, 4);
  if (!b->oom) {
    memcpy(b->p + b->n, &v, 4);
    b->n += 4;
  }
}

static inline void mc_u64(mcbuf *b, uint64_t v)
{
  mc_need(b, 8);
  if (!b->oom) {
    memcpy(b->p + b->n, &v, 8);
    b->n += 8;
  }
}

static inline void mc_put32(mcbuf *b, uint32_t off, uint32_t v)
{
  if (!b->oom)
    memcpy(b->p + off, &v, 4);
}

/* REX prefix: W, reg (modrm.reg), x (sib.index), base (modrm.rm / sib.base). */
static inline void mc_rex(mcbuf *b, int w, int reg, int base, int force)
{
  unsigned r = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((base & 8) ? 1 : 0);
  if (r != 0x40 || force)
    mc_u8(b, r);
}

/* modrm for reg, [base + disp32]. */
static inline void mc_mem(mcbuf *b, int reg, int base, int32_t disp)
{
  if ((base & 7) == RSP) {
    mc_u8(b, 0x80 | ((reg & 7) << 3) | 4);
    mc_u8(b, 0x24);
  } else {
    mc_u8(b, 0x80 | ((reg & 7) << 3) | (base & 7));
  }
  mc_u32(b, (uint32_t)disp);
}

static inline void mc_rr(mcbuf *b, int reg, int rm)
{
  mc_u8(b, 0xc0 | ((reg & 7) << 3) | (rm & 7));
}

/* op r64, r/m64 forms (opcode takes modrm.reg = dst). */
static inline void emit_op_rr(mcbuf *b, unsigned op, int reg, int rm)
{
  mc_rex(b, 1, reg, rm, 0);
  if (op > 0xff)
    mc_u8(b, op >> 8);
  mc_u8(b, op & 0xff);
  mc_rr(b, reg, rm);
}

static inline void emit_op_rm(mcbuf *b, unsigned op, int reg, int base, int32_t disp)
{
  mc_rex(b, 1, reg, base, 0);
  if (op > 0xff)
    mc_u8(b, op >> 8);
  mc_u8(b, op & 0xff);
  mc_mem(b, reg, base, disp);
}

#define XO_MOV_LOAD 0x8b  /* mov r, r/m */
#define XO_MOV_STORE 0x89 /* mov r/m, r */
#define XO_ADD 0x03       /* add r, r/m */
#define XO_SUB 0x2b
#define XO_CMP 0x3b
#define XO_XOR 0x33
#define XO_IMUL 0x0faf

static inline void emit_mov_rr(mcbuf *b, int dst, int src)
{
  if (dst != src)
    emit_op_rr(b, XO_MOV_LOAD, dst, src);
}

static inline void emit_load(mcbuf *b, int dst, int base, int32_t disp)
{
  emit_op_rm(b, XO_MOV_LOAD, dst, base, disp);
}

static inline void emit_store(mcbuf *b, int base, int32_t disp, int src)
{
  emit_op_rm(b, XO_MOV_STORE, src, base, disp);
}

/* mov qword [base+disp], simm32 */
static inline void emit_store_imm(mcbuf *b, int base, int32_t disp, int32_t imm)
{
  mc_rex(b, 1, 0, base, 0);
  mc_u8(b, 0xc7);
  mc_mem(b, 0, base, disp);
  mc_u32(b, (uint32_t)imm);
}

/* mov r, imm64 (movabs); returns the offset of the immediate. */
static inline uint32_t emit_mov_imm64(mcbuf *b, int dst, uint64_t imm)
{
  mc_rex(b, 1, 0, dst, 0);
  mc_u8(b, 0xb8 | (dst & 7));
  uint32_t off = b->n;
  mc_u64(b, imm);
  return off;
}

/* Load any 64-bit constant, short forms when they fit. */
static inline void emit_mov_imm(mcbuf *b, int dst, int64_t imm)
{
  if (imm == 0) {
    mc_rex(b, 0, dst, dst, 0);
    mc_u8(b, 0x31);
    mc_rr(b, dst, dst);
  } else if (imm > 0 && imm <= 0xffffffffll) {
    mc_rex(b, 0, 0, dst, 0);
    mc_u8(b, 0xb8 | (dst & 7));
    mc_u32(b, (uint32_t)imm);
  } else if (imm >= INT32_MIN && imm <= INT32_MAX) {
    mc_rex(b, 1, 0, dst, 0);
    mc_u8(b, 0xc7);
    mc_rr(b, 0, dst);
    mc_u32(b, (uint32_t)imm);
  } else {
    emit_mov_imm64(b, dst, (uint64_t)imm);
  }
}

/* Group-1 ALU with imm32: /ext = 0 add, 5 sub, 7 cmp, 6 xor. */
static inline void emit_alu_imm(mcbuf *b, int ext, int rm, int32_t imm)
{
  mc_rex(b, 1, 0, rm, 0);
  if (imm >= -128 && imm <= 127) {
    mc_u8(b, 0x83);
    mc_rr(b, ext, rm);
    mc_u8(b, (uint8_t)imm);
  } else {
    mc_u8(b, 0x81);
    mc_rr(b, ext, rm);
    mc_u32(b, (uint32_t)imm);
  }
}

/* cmp qword [base+disp], simm32 */
static inline void emit_cmp_mem_imm(mcbuf *b, int base, int32_t disp, int32_t imm)
{
  mc_rex(b, 1, 0, base, 0);
  mc_u8(b, 0x81);
  mc_mem(b, 7, base, disp);
  mc_u32(b, (uint32_t)imm);
}

static inline void emit_imul_imm(mcbuf *b, int dst, int src, int32_t imm)
{
  mc_rex(b, 1, dst, src, 0);
  mc_u8(b, 0x69);
  mc_rr(b, dst, src);
  mc_u32(b, (uint32_t)imm);
}

static inline void emit_neg(mcbuf *b, int r)
{
  mc_rex(b, 1, 0, r, 0);
  mc_u8(b, 0xf7);
  mc_rr(b, 3, r);
}

static inline void emit_shl_imm(mcbuf *b, int r, int sh)
{
  mc_rex(b, 1, 0, r, 0);
  mc_u8(b, 0xc1);
  mc_rr(b, 4, r);
  mc_u8(b, (uint8_t)sh);
}

static inline void emit_push(mcbuf *b, int r)
{
  mc_rex(b, 0, 0, r, 0);
  mc_u8(b, 0x50 | (r & 7));
}

static inline void emit_pop(mcbuf *b, int r)
{
  mc_rex(b, 0, 0, r, 0);
  mc_u8(b, 0x58 | (r & 7));
}

/* jcc rel32 / jmp rel32 / call rel32: return the offset of the rel32 field. */
static inline uint32_t emit_jcc(mcbuf *b, int cc)
{
  mc_u8(b, 0x0f);
  mc_u8(b, 0x80 | cc);
  uint32_t off = b->n;
  mc_u32(b, 0);
  return off;
}

static inline uint32_t emit_jmp(mcbuf *b)
{
  mc_u8(b, 0xe9);
  uint32_t off = b->n;
  mc_u32(b, 0);
  return off;
}

static inline uint32_t emit_call(mcbuf *b)
{
  mc_u8(b, 0xe8);
  uint32_t off = b->n;
  mc_u32(b, 0);
  return off;
}

/* Point the rel32 field at `off` to code offset `target`. */
static inline void mc_link(mcbuf *b, uint32_t field, uint32_t target)
{
  mc_put32(b, field, (uint32_t)((int64_t)target - (int64_t)(field + 4)));
}

/* Multi-byte nops up to n bytes of padding. */
static inline void emit_nops(mcbuf *b, unsigned n)
{
  static const uint8_t nop[9][9] = {
      {0},
      {0x90},
      {0x66, 0x90},
      {0x0f, 0x1f, 0x00},
      {0x0f, 0x1f, 0x40, 0x00},
      {0x0f, 0x1f, 0x44, 0x00, 0x00},
      {0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00},
      {0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00},
      {0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
  };
  while (n) {
    unsigned k = n > 8 ? 8 : n;
    for (unsigned i = 0; i < k; i++)
      mc_u8(b, nop[k][i]);
    n -= k;
  }
}

/* -- SSE2 (scalar double) ------------------------------------------------------- */

/* prefix (0x66/0xf2/0 for none), 0f op, xmm reg, xmm/gpr rm. */
static inline void emit_sse_rr(mcbuf *b, unsigned pfx, int w, unsigned op, int reg, int rm)
{
  if (pfx)
    mc_u8(b, pfx);
  mc_rex(b, w, reg, rm, 0);
  mc_u8(b, 0x0f);
  mc_u8(b, op);
  mc_rr(b, reg, rm);
}

static inline void emit_sse_rm(mcbuf *b, unsigned pfx, unsigned op, int reg, int base, int32_t disp)
{
  if (pfx)
    mc_u8(b, pfx);
  mc_rex(b, 0, reg, base, 0);
  mc_u8(b, 0x0f);
  mc_u8(b, op);
  mc_mem(b, reg, base, disp);
}

#define SSE_MOVSD_LOAD 0x10
#define SSE_MOVSD_STORE 0x11
#define SSE_ADDSD 0x58
#define SSE_MULSD 0x59
#define SSE_SUBSD 0x5c
#define SSE_DIVSD 0x5e
#define SSE_SQRTSD 0x51

static inline void emit_movsd_load(mcbuf *b, int x, int base, int32_t disp)
{
  emit_sse_rm(b, 0xf2, SSE_MOVSD_LOAD, x, base, disp);
}

static inline void emit_movsd_store(mcbuf *b, int base, int32_t disp, int x)
{
  emit_sse_rm(b, 0xf2, SSE_MOVSD_STORE, x, base, disp);
}

static inline void emit_movapd(mcbuf *b, int dst, int src)
{
  if (dst != src)
    emit_sse_rr(b, 0x66, 0, 0x28, dst, src);
}

static inline void emit_sd_op(mcbuf *b, unsigned op, int dst, int src)
{
  emit_sse_rr(b, 0xf2, 0, op, dst, src);
}

static inline void emit_ucomisd(mcbuf *b, int x, int y)
{
  emit_sse_rr(b, 0x66, 0, 0x2e, x, y);
}

static inline void emit_xorpd(mcbuf *b, int dst, int src)
{
  emit_sse_rr(b, 0x66, 0, 0x57, dst, src);
}

/* movq xmm, r64 */
static inline void emit_movq_xr(mcbuf *b, int x, int r)
{
  emit_sse_rr(b, 0x66, 1, 0x6e, x, r);
}

/* movq r64, xmm */
static inline void emit_movq_rx(mcbuf *b, int r, int x)
{
  emit_sse_rr(b, 0x66, 1, 0x7e, x, r);
}

/* cvtsi2sd xmm, r64 */
static inline void emit_cvtsi2sd(mcbuf *b, int x, int r)
{
  emit_sse_rr(b, 0xf2, 1, 0x2a, x, r);
}

#endif
