// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego

#include "textflag.h"

// AVX2+FMA kernels. The Go side (kernels_amd64.go; kernels_gemm.go and the
// files it lists) calls them only when the CPU has AVX2 and FMA, and only
// with lengths that are multiples of 4 for the vector loops.

// func gemmKernel(c *float64, ldc int, a *float64, rs, ps, ts int, b *float64, k, tiles int, init *float64)
//
// For each of tiles tiles t, i < 4, j < 12:
//
//	c[(4t+i)*ldc+j] = s + Σ_{p<k} a[t*ts+i*rs+p*ps]·b[p*12+j]
//
// the sum over p running in increasing p on top of s, which is init[j] if
// init is not nil (c is then only written) and c[(4t+i)*ldc+j] otherwise.
// so that A may be row-major (rs = lda, ps = 1, ts = 4·lda), a transposed
// row-major matrix read in place (rs = 1, ps = its leading dimension,
// ts = 4) or packed in slivers of 4 rows (rs = 1, ps = 4, ts = 4·k).
// The 4×12 block of sums lives in Y0–Y11; each step loads one row of the
// packed panel (Y12–Y14) and broadcasts one element of each row of a (Y15),
// then moves a on by inc bytes (the register AX holding ps, or $8).
#define GEMM_STEP(boff, inc) GEMM_STEPT(boff, inc, VMOVUPD, VBROADCASTSD, VFMADD231PD)

// GEMM_STEPT is the step with the element type's instructions: the
// float64 ones (GEMM_STEP) or the float32 ones (GEMM32_STEP), whose
// registers hold 8 lanes where the float64 ones hold 4.
#define GEMM_STEPT(boff, inc, LOAD, BCAST, FMA) \
	LOAD boff(BX), Y12 \
	LOAD boff+32(BX), Y13 \
	LOAD boff+64(BX), Y14 \
	BCAST (SI), Y15 \
	FMA Y12, Y15, Y0 \
	FMA Y13, Y15, Y1 \
	FMA Y14, Y15, Y2 \
	BCAST (SI)(R8*1), Y15 \
	FMA Y12, Y15, Y3 \
	FMA Y13, Y15, Y4 \
	FMA Y14, Y15, Y5 \
	BCAST (SI)(R8*2), Y15 \
	FMA Y12, Y15, Y6 \
	FMA Y13, Y15, Y7 \
	FMA Y14, Y15, Y8 \
	BCAST (SI)(R9*1), Y15 \
	FMA Y12, Y15, Y9 \
	FMA Y13, Y15, Y10 \
	FMA Y14, Y15, Y11 \
	ADDQ inc, SI

#define GEMM_LOAD(row, a0, a1, a2) \
	VMOVUPD (row), a0 \
	VMOVUPD 32(row), a1 \
	VMOVUPD 64(row), a2

#define GEMM_STORE(row, a0, a1, a2) \
	VMOVUPD a0, (row) \
	VMOVUPD a1, 32(row) \
	VMOVUPD a2, 64(row)

// GEMM_INIT starts the 4×12 sums from the row of 12 at ptr, in every row.
#define GEMM_INIT(ptr) \
	VMOVUPD (ptr), Y0 \
	VMOVUPD 32(ptr), Y1 \
	VMOVUPD 64(ptr), Y2 \
	VMOVAPD Y0, Y3 \
	VMOVAPD Y1, Y4 \
	VMOVAPD Y2, Y5 \
	VMOVAPD Y0, Y6 \
	VMOVAPD Y1, Y7 \
	VMOVAPD Y2, Y8 \
	VMOVAPD Y0, Y9 \
	VMOVAPD Y1, Y10 \
	VMOVAPD Y2, Y11

// GEMM_LOADC and GEMM_STOREC load and store the 4×12 sums from and to the
// tile of C at DI (rows R10 bytes apart), through the register tmp.
#define GEMM_LOADC(tmp) \
	MOVQ DI, tmp \
	GEMM_LOAD(tmp, Y0, Y1, Y2) \
	ADDQ R10, tmp \
	GEMM_LOAD(tmp, Y3, Y4, Y5) \
	ADDQ R10, tmp \
	GEMM_LOAD(tmp, Y6, Y7, Y8) \
	ADDQ R10, tmp \
	GEMM_LOAD(tmp, Y9, Y10, Y11)

#define GEMM_STOREC(tmp) \
	MOVQ DI, tmp \
	GEMM_STORE(tmp, Y0, Y1, Y2) \
	ADDQ R10, tmp \
	GEMM_STORE(tmp, Y3, Y4, Y5) \
	ADDQ R10, tmp \
	GEMM_STORE(tmp, Y6, Y7, Y8) \
	ADDQ R10, tmp \
	GEMM_STORE(tmp, Y9, Y10, Y11)


// GEMM_PREFETCHC asks for the next tile's rows of C (the 4 rows after the
// one at row, R10 bytes apart) while this tile's steps run: when the sums
// start from C and C is not in cache (a weight gradient larger than L2),
// the tile's first multiply-adds wait for its loads, and without the
// prefetch no step of the tile could start until they came. The 96 bytes
// of a row span at most three lines, at +0, +64 and +95. Prefetches do not
// fault, so the last tile's reach past C is harmless.
#define GEMM_PREFETCHC(row) \
	PREFETCH_NEXT3(row) \
	PREFETCH_NEXT3(row) \
	PREFETCH_NEXT3(row) \
	PREFETCH_NEXT3(row)

// PREFETCH_NEXT3 moves row on to the next row of C (R10 bytes on) and
// prefetches its 96 bytes; PREFETCH_NEXT2, its 64.
#define PREFETCH_NEXT3(row) \
	ADDQ       R10, row \
	PREFETCHT0 (row) \
	PREFETCHT0 64(row) \
	PREFETCHT0 95(row)

#define PREFETCH_NEXT2(row) \
	ADDQ       R10, row \
	PREFETCHT0 (row) \
	PREFETCHT0 63(row)

// GEMM_ARGS loads the arguments shared by gemmKernel, gemmKernel2 and
// gemmKernelNarrow (k in R11, tiles in R12, c in DI, a in R13, b in DX;
// ldc, rs and ps in bytes in R10, R8 and AX), going to ret when k or
// tiles is not positive.
#define GEMM_ARGS(ret) GEMM_ARGST(ret, $3)

// GEMM_ARGST is GEMM_ARGS for elements of 1<<shift bytes.
#define GEMM_ARGST(ret, shift) \
	MOVQ  k+56(FP), R11 \
	TESTQ R11, R11 \
	JLE   ret \
	MOVQ  tiles+64(FP), R12 \
	TESTQ R12, R12 \
	JLE   ret \
	MOVQ  c+0(FP), DI \
	MOVQ  ldc+8(FP), R10 \
	MOVQ  a+16(FP), R13 \
	MOVQ  rs+24(FP), R8 \
	MOVQ  ps+32(FP), AX \
	MOVQ  b+48(FP), DX \
	SHLQ  shift, R10 \
	SHLQ  shift, R8 \
	SHLQ  shift, AX

// ADAM_BODY is the body of adamKernel and adamKernel32: the constants
// broadcast from c (csz bytes each), then whole vectors of 1<<lanes
// elements stepped by the operations of adamRef in its order, none fused.
#define ADAM_BODY(lanes, BCAST, csz, MOV, MUL, ADD, SUB, SQRT, DIV) \
	MOVQ  p+0(FP), DI \
	MOVQ  m+8(FP), SI \
	MOVQ  v+16(FP), DX \
	MOVQ  grad+24(FP), BX \
	MOVQ  n+32(FP), CX \
	MOVQ  c+40(FP), AX \
	SHRQ  lanes, CX \
	JE    adam_ret \
	BCAST (0*csz)(AX), Y8 \
	BCAST (1*csz)(AX), Y9 \
	BCAST (2*csz)(AX), Y10 \
	BCAST (3*csz)(AX), Y11 \
	BCAST (4*csz)(AX), Y12 \
	BCAST (5*csz)(AX), Y13 \
	BCAST (6*csz)(AX), Y14 \
	BCAST (7*csz)(AX), Y15 \
adam_loop: \
	MOV  (BX), Y3 \
	MUL  (SI), Y8, Y1 \
	MUL  Y3, Y9, Y4 \
	ADD  Y4, Y1, Y1 \
	MOV  Y1, (SI) \
	MUL  Y3, Y11, Y4 \
	MUL  Y3, Y4, Y4 \
	MUL  (DX), Y10, Y2 \
	ADD  Y4, Y2, Y2 \
	MOV  Y2, (DX) \
	SQRT Y2, Y5 \
	MUL  Y13, Y5, Y5 \
	ADD  Y14, Y5, Y5 \
	MUL  Y1, Y12, Y4 \
	DIV  Y5, Y4, Y4 \
	MOV  (DI), Y0 \
	MUL  Y0, Y15, Y6 \
	ADD  Y6, Y4, Y4 \
	SUB  Y4, Y0, Y0 \
	MOV  Y0, (DI) \
	ADDQ $32, DI \
	ADDQ $32, SI \
	ADDQ $32, DX \
	ADDQ $32, BX \
	DECQ CX \
	JNE  adam_loop \
	VZEROUPPER \
adam_ret: \
	RET

// ADD_BODY is the body of addKernel and addKernel32: dst += src on whole
// vectors of 1<<lanes elements, with the addition of the element type.
#define ADD_BODY(lanes, VADD) \
	MOVQ dst+0(FP), DI \
	MOVQ src+8(FP), SI \
	MOVQ n+16(FP), CX \
	SHRQ lanes, CX \
	JE   add_ret \
add_loop: \
	VMOVUPD (DI), Y0 \
	VADD    (SI), Y0, Y0 \
	VMOVUPD Y0, (DI) \
	ADDQ    $32, SI \
	ADDQ    $32, DI \
	DECQ    CX \
	JNE     add_loop \
	VZEROUPPER \
add_ret: \
	RET

// DOT_HEAD and DOT_TAIL are the body of dotRowsKernel and dotRowsKernel32
// around their reductions: for each row, four vector sums Y0–Y3 over
// blocks of four vectors (wide elements, 128 bytes), then of one vector
// (lanes elements) into Y0, by FMA; the kernel then reduces Y0–Y3 to X0;
// DOT_TAIL fuses the last terms one at a time (SFMA) onto it, adds it to
// the row's y (SADD) and goes on to the next row.
#define DOT_HEAD(shift, wide, lanes, XOR, VMOV, FMA) \
	MOVQ  rows+48(FP), R11 \
	TESTQ R11, R11 \
	JLE   dot_ret \
	MOVQ  y+0(FP), DI \
	MOVQ  incy+8(FP), R8 \
	SHLQ  shift, R8 \
	MOVQ  a+16(FP), SI \
	MOVQ  lda+24(FP), R9 \
	SHLQ  shift, R9 \
	MOVQ  x+32(FP), DX \
	MOVQ  k+40(FP), R10 \
dot_row: \
	XOR  Y0, Y0, Y0 \
	XOR  Y1, Y1, Y1 \
	XOR  Y2, Y2, Y2 \
	XOR  Y3, Y3, Y3 \
	MOVQ SI, AX \
	MOVQ DX, BX \
	MOVQ R10, CX \
	CMPQ CX, wide \
	JLT  dot_vec \
dot_wide: \
	VMOV (AX), Y4 \
	VMOV 32(AX), Y5 \
	VMOV 64(AX), Y6 \
	VMOV 96(AX), Y7 \
	FMA  (BX), Y4, Y0 \
	FMA  32(BX), Y5, Y1 \
	FMA  64(BX), Y6, Y2 \
	FMA  96(BX), Y7, Y3 \
	ADDQ $128, AX \
	ADDQ $128, BX \
	SUBQ wide, CX \
	CMPQ CX, wide \
	JGE  dot_wide \
dot_vec: \
	CMPQ CX, lanes \
	JLT  dot_sum \
	VMOV (AX), Y4 \
	FMA  (BX), Y4, Y0 \
	ADDQ $32, AX \
	ADDQ $32, BX \
	SUBQ lanes, CX \
	JMP  dot_vec \
dot_sum:

#define DOT_TAIL(esz, SMOV, SFMA, SADD) \
	TESTQ CX, CX \
	JE    dot_store \
dot_one: \
	SMOV (AX), X4 \
	SFMA (BX), X4, X0 \
	ADDQ esz, AX \
	ADDQ esz, BX \
	DECQ CX \
	JNE  dot_one \
dot_store: \
	SADD (DI), X0, X0 \
	SMOV X0, (DI) \
	ADDQ R8, DI \
	ADDQ R9, SI \
	DECQ R11 \
	JNE  dot_row \
	VZEROUPPER \
dot_ret: \
	RET

// HSUM8 leaves in the low element of X the sum of the eight float32
// lanes of Y (X its low half; T a scratch register): u_l = v_l + v_{l+4},
// then (u0 + u2) + (u1 + u3).
#define HSUM8(Y, X, T) \
	VEXTRACTF128 $1, Y, T \
	VADDPS       T, X, X \
	VMOVHLPS     X, X, T \
	VADDPS       T, X, X \
	VMOVSHDUP    X, T \
	VADDSS       T, X, X

// AXPY_BODY is the body of axpyRowsKernel and axpyRowsKernel32: for each
// p < n, y[p] += Σ_i v[i*incv]·a[i*lda+p] over the rows in increasing i,
// each step fused (FMA, SFMA), in blocks of eight vectors (wide elements,
// 256 bytes), then of one vector (lanes elements), then one by one;
// shift is log₂ of the element size, esz the element size, BCAST
// broadcasts an element, VMOV and SMOV move vectors and elements.
#define AXPY_BODY(shift, esz, wide, lanes, BCAST, VMOV, SMOV, FMA, SFMA) \
	MOVQ  rows+48(FP), R11 \
	TESTQ R11, R11 \
	JLE   axpy_ret \
	MOVQ  y+0(FP), DI \
	MOVQ  n+8(FP), R10 \
	MOVQ  a+16(FP), SI \
	MOVQ  lda+24(FP), R9 \
	SHLQ  shift, R9 \
	MOVQ  v+32(FP), DX \
	MOVQ  incv+40(FP), R8 \
	SHLQ  shift, R8 \
axpy_wide: \
	CMPQ R10, wide \
	JLT  axpy_vec \
	VMOV (DI), Y0 \
	VMOV 32(DI), Y1 \
	VMOV 64(DI), Y2 \
	VMOV 96(DI), Y3 \
	VMOV 128(DI), Y4 \
	VMOV 160(DI), Y5 \
	VMOV 192(DI), Y6 \
	VMOV 224(DI), Y7 \
	MOVQ SI, AX \
	MOVQ DX, BX \
	MOVQ R11, CX \
axpy_wide_row: \
	BCAST (BX), Y15 \
	FMA   (AX), Y15, Y0 \
	FMA   32(AX), Y15, Y1 \
	FMA   64(AX), Y15, Y2 \
	FMA   96(AX), Y15, Y3 \
	FMA   128(AX), Y15, Y4 \
	FMA   160(AX), Y15, Y5 \
	FMA   192(AX), Y15, Y6 \
	FMA   224(AX), Y15, Y7 \
	ADDQ  R9, AX \
	ADDQ  R8, BX \
	DECQ  CX \
	JNE   axpy_wide_row \
	VMOV  Y0, (DI) \
	VMOV  Y1, 32(DI) \
	VMOV  Y2, 64(DI) \
	VMOV  Y3, 96(DI) \
	VMOV  Y4, 128(DI) \
	VMOV  Y5, 160(DI) \
	VMOV  Y6, 192(DI) \
	VMOV  Y7, 224(DI) \
	ADDQ  $256, DI \
	ADDQ  $256, SI \
	SUBQ  wide, R10 \
	JMP   axpy_wide \
axpy_vec: \
	CMPQ R10, lanes \
	JLT  axpy_one \
	VMOV (DI), Y0 \
	MOVQ SI, AX \
	MOVQ DX, BX \
	MOVQ R11, CX \
axpy_vec_row: \
	BCAST (BX), Y15 \
	FMA   (AX), Y15, Y0 \
	ADDQ  R9, AX \
	ADDQ  R8, BX \
	DECQ  CX \
	JNE   axpy_vec_row \
	VMOV  Y0, (DI) \
	ADDQ  $32, DI \
	ADDQ  $32, SI \
	SUBQ  lanes, R10 \
	JMP   axpy_vec \
axpy_one: \
	TESTQ R10, R10 \
	JE    axpy_done \
	SMOV  (DI), X0 \
	MOVQ  SI, AX \
	MOVQ  DX, BX \
	MOVQ  R11, CX \
axpy_one_row: \
	SMOV  (BX), X15 \
	SFMA  (AX), X15, X0 \
	ADDQ  R9, AX \
	ADDQ  R8, BX \
	DECQ  CX \
	JNE   axpy_one_row \
	SMOV  X0, (DI) \
	ADDQ  esz, DI \
	ADDQ  esz, SI \
	DECQ  R10 \
	JMP   axpy_one \
axpy_done: \
	VZEROUPPER \
axpy_ret: \
	RET

// NONFINITE is the body of nonFiniteKernel and nonFiniteKernel32: the
// exponent mask broadcast by BCAST, each vector of 1<<lanes elements and'd
// with it and compared for equality, the comparisons or'ed together.
#define NONFINITE(mask, BCAST, AND, CMPEQ, lanes) \
	MOVQ  s+0(FP), SI \
	MOVQ  n+8(FP), CX \
	MOVQ  mask, AX \
	MOVQ  AX, X7 \
	BCAST X7, Y7 \
	VPXOR Y6, Y6, Y6 \
	SHRQ  lanes, CX \
	JE    nf_done \
nf_loop: \
	AND   (SI), Y7, Y0 \
	CMPEQ Y7, Y0, Y0 \
	VPOR  Y0, Y6, Y6 \
	ADDQ  $32, SI \
	DECQ  CX \
	JNE   nf_loop \
nf_done: \
	VPTEST     Y6, Y6 \
	SETNE      ret+16(FP) \
	VZEROUPPER \
	RET

// RELU_ROWS is the body of reluRowsKernel and reluRowsKernel32 for elements
// of 1<<shift bytes, with the compare and and-not of their type.
#define RELU_ROWS(shift, CMP, ANDN) \
	MOVQ   c+0(FP), DI \
	MOVQ   ldc+8(FP), R8 \
	MOVQ   rows+16(FP), CX \
	MOVQ   vecs+24(FP), DX \
	SHLQ   shift, R8 \
	TESTQ  CX, CX \
	JLE    rr_ret \
	TESTQ  DX, DX \
	JLE    rr_ret \
	VXORPD Y1, Y1, Y1 \
rr_row: \
	MOVQ DI, SI \
	MOVQ DX, BX \
rr_vec: \
	VMOVUPD (SI), Y0 \
	CMP  $0x11, Y1, Y0, Y2 \
	ANDN Y0, Y2, Y0 \
	VMOVUPD Y0, (SI) \
	ADDQ    $32, SI \
	DECQ    BX \
	JNE     rr_vec \
	ADDQ    R8, DI \
	DECQ    CX \
	JNE     rr_row \
	VZEROUPPER \
rr_ret: \
	RET

// RELU_BACK_ROWS is the body of reluBackRowsKernel and reluBackRowsKernel32.
#define RELU_BACK_ROWS(shift, CMP, ANDN) \
	MOVQ   c+0(FP), DI \
	MOVQ   h+8(FP), R9 \
	MOVQ   ldc+16(FP), R8 \
	MOVQ   rows+24(FP), CX \
	MOVQ   vecs+32(FP), DX \
	SHLQ   shift, R8 \
	TESTQ  CX, CX \
	JLE    rb_ret \
	TESTQ  DX, DX \
	JLE    rb_ret \
	VXORPD Y1, Y1, Y1 \
rb_row: \
	MOVQ DI, SI \
	MOVQ R9, R10 \
	MOVQ DX, BX \
rb_vec: \
	VMOVUPD (R10), Y0 \
	CMP  $0x12, Y1, Y0, Y2 \
	ANDN (SI), Y2, Y0 \
	VMOVUPD Y0, (SI) \
	ADDQ    $32, SI \
	ADDQ    $32, R10 \
	DECQ    BX \
	JNE     rb_vec \
	ADDQ    R8, DI \
	ADDQ    R8, R9 \
	DECQ    CX \
	JNE     rb_row \
	VZEROUPPER \
rb_ret: \
	RET

// PACK_ROWS is the body of packRowsKernel and packRowsKernel32 for elements
// of 1<<shift bytes, with the vector addition of their type for the sums.
#define PACK_ROWS(shift, VADD) \
	MOVQ  dst+0(FP), DI \
	MOVQ  src+16(FP), SI \
	MOVQ  lds+24(FP), R8 \
	MOVQ  k+32(FP), CX \
	MOVQ  vecs+40(FP), DX \
	MOVQ  panels+48(FP), R9 \
	MOVQ  ldp+56(FP), R10 \
	MOVQ  db+8(FP), R11 \
	SHLQ  shift, R8 \
	SHLQ  shift, R10 \
	TESTQ CX, CX \
	JLE   pr_ret \
	TESTQ R9, R9 \
	JLE   pr_ret \
	TESTQ R11, R11 \
	JNE   pr_db \
	CMPQ  DX, $3 \
	JEQ   pr3_block \
	CMPQ  DX, $2 \
	JEQ   pr2_block \
	JMP   pr1_block \
pr_db: \
	CMPQ  DX, $3 \
	JEQ   pr3d_block \
	CMPQ  DX, $2 \
	JEQ   pr2d_block \
	JMP   pr1d_block \
pr1_block: \
	MOVQ    $16, R12 \
	CMPQ    CX, R12 \
	CMOVQLT CX, R12 \
	MOVQ    SI, BX \
	MOVQ    DI, R13 \
	MOVQ    R9, AX \
pr1_panel: \
	MOVQ    BX, R14 \
	MOVQ    R13, R15 \
	MOVQ    R12, DX \
pr1_row: \
	VMOVUPD (R14), Y0 \
	VMOVUPD Y0, (R15) \
	ADDQ    R8, R14 \
	ADDQ    $32, R15 \
	DECQ    DX \
	JNE     pr1_row \
	ADDQ    $32, BX \
	ADDQ    R10, R13 \
	DECQ    AX \
	JNE     pr1_panel \
	MOVQ    R8, R14 \
	SHLQ    $4, R14 \
	ADDQ    R14, SI \
	ADDQ    $512, DI \
	SUBQ    $16, CX \
	JG      pr1_block \
	VZEROUPPER \
	RET \
pr1d_block: \
	MOVQ    $16, R12 \
	CMPQ    CX, R12 \
	CMOVQLT CX, R12 \
	MOVQ    SI, BX \
	MOVQ    DI, R13 \
	MOVQ    R9, AX \
	MOVQ    db+8(FP), R11 \
pr1d_panel: \
	MOVQ    BX, R14 \
	MOVQ    R13, R15 \
	MOVQ    R12, DX \
	VMOVUPD (R11), Y3 \
pr1d_row: \
	VMOVUPD (R14), Y0 \
	VMOVUPD Y0, (R15) \
	VADD  Y0, Y3, Y3 \
	ADDQ    R8, R14 \
	ADDQ    $32, R15 \
	DECQ    DX \
	JNE     pr1d_row \
	VMOVUPD Y3, (R11) \
	ADDQ    $32, R11 \
	ADDQ    $32, BX \
	ADDQ    R10, R13 \
	DECQ    AX \
	JNE     pr1d_panel \
	MOVQ    R8, R14 \
	SHLQ    $4, R14 \
	ADDQ    R14, SI \
	ADDQ    $512, DI \
	SUBQ    $16, CX \
	JG      pr1d_block \
	VZEROUPPER \
	RET \
pr2_block: \
	MOVQ    $8, R12 \
	CMPQ    CX, R12 \
	CMOVQLT CX, R12 \
	MOVQ    SI, BX \
	MOVQ    DI, R13 \
	MOVQ    R9, AX \
pr2_panel: \
	MOVQ    BX, R14 \
	MOVQ    R13, R15 \
	MOVQ    R12, DX \
pr2_row: \
	VMOVUPD (R14), Y0 \
	VMOVUPD 32(R14), Y1 \
	VMOVUPD Y0, (R15) \
	VMOVUPD Y1, 32(R15) \
	ADDQ    R8, R14 \
	ADDQ    $64, R15 \
	DECQ    DX \
	JNE     pr2_row \
	ADDQ    $64, BX \
	ADDQ    R10, R13 \
	DECQ    AX \
	JNE     pr2_panel \
	LEAQ    (SI)(R8*8), SI \
	ADDQ    $512, DI \
	SUBQ    $8, CX \
	JG      pr2_block \
	VZEROUPPER \
	RET \
pr2d_block: \
	MOVQ    $8, R12 \
	CMPQ    CX, R12 \
	CMOVQLT CX, R12 \
	MOVQ    SI, BX \
	MOVQ    DI, R13 \
	MOVQ    R9, AX \
	MOVQ    db+8(FP), R11 \
pr2d_panel: \
	MOVQ    BX, R14 \
	MOVQ    R13, R15 \
	MOVQ    R12, DX \
	VMOVUPD (R11), Y3 \
	VMOVUPD 32(R11), Y4 \
pr2d_row: \
	VMOVUPD (R14), Y0 \
	VMOVUPD 32(R14), Y1 \
	VMOVUPD Y0, (R15) \
	VMOVUPD Y1, 32(R15) \
	VADD  Y0, Y3, Y3 \
	VADD  Y1, Y4, Y4 \
	ADDQ    R8, R14 \
	ADDQ    $64, R15 \
	DECQ    DX \
	JNE     pr2d_row \
	VMOVUPD Y3, (R11) \
	VMOVUPD Y4, 32(R11) \
	ADDQ    $64, R11 \
	ADDQ    $64, BX \
	ADDQ    R10, R13 \
	DECQ    AX \
	JNE     pr2d_panel \
	LEAQ    (SI)(R8*8), SI \
	ADDQ    $512, DI \
	SUBQ    $8, CX \
	JG      pr2d_block \
	VZEROUPPER \
	RET \
pr3_block: \
	MOVQ    $4, R12 \
	CMPQ    CX, R12 \
	CMOVQLT CX, R12 \
	MOVQ    SI, BX \
	MOVQ    DI, R13 \
	MOVQ    R9, AX \
pr3_panel: \
	MOVQ    BX, R14 \
	MOVQ    R13, R15 \
	MOVQ    R12, DX \
pr3_row: \
	VMOVUPD (R14), Y0 \
	VMOVUPD 32(R14), Y1 \
	VMOVUPD 64(R14), Y2 \
	VMOVUPD Y0, (R15) \
	VMOVUPD Y1, 32(R15) \
	VMOVUPD Y2, 64(R15) \
	ADDQ    R8, R14 \
	ADDQ    $96, R15 \
	DECQ    DX \
	JNE     pr3_row \
	ADDQ    $96, BX \
	ADDQ    R10, R13 \
	DECQ    AX \
	JNE     pr3_panel \
	LEAQ    (SI)(R8*4), SI \
	ADDQ    $384, DI \
	SUBQ    $4, CX \
	JG      pr3_block \
	VZEROUPPER \
	RET \
pr3d_block: \
	MOVQ    $4, R12 \
	CMPQ    CX, R12 \
	CMOVQLT CX, R12 \
	MOVQ    SI, BX \
	MOVQ    DI, R13 \
	MOVQ    R9, AX \
	MOVQ    db+8(FP), R11 \
pr3d_panel: \
	MOVQ    BX, R14 \
	MOVQ    R13, R15 \
	MOVQ    R12, DX \
	VMOVUPD (R11), Y3 \
	VMOVUPD 32(R11), Y4 \
	VMOVUPD 64(R11), Y5 \
pr3d_row: \
	VMOVUPD (R14), Y0 \
	VMOVUPD 32(R14), Y1 \
	VMOVUPD 64(R14), Y2 \
	VMOVUPD Y0, (R15) \
	VMOVUPD Y1, 32(R15) \
	VMOVUPD Y2, 64(R15) \
	VADD  Y0, Y3, Y3 \
	VADD  Y1, Y4, Y4 \
	VADD  Y2, Y5, Y5 \
	ADDQ    R8, R14 \
	ADDQ    $96, R15 \
	DECQ    DX \
	JNE     pr3d_row \
	VMOVUPD Y3, (R11) \
	VMOVUPD Y4, 32(R11) \
	VMOVUPD Y5, 64(R11) \
	ADDQ    $96, R11 \
	ADDQ    $96, BX \
	ADDQ    R10, R13 \
	DECQ    AX \
	JNE     pr3d_panel \
	LEAQ    (SI)(R8*4), SI \
	ADDQ    $384, DI \
	SUBQ    $4, CX \
	JG      pr3d_block \
	VZEROUPPER \
	RET \
pr_ret: \
	RET

// PACK_TAIL is the body of packTailKernel and packTailKernel32, with the
// masked move and the addition of the element type.
#define PACK_TAIL(shift, VMASKMOV, VADD) \
	MOVQ    dst+0(FP), DI \
	MOVQ    db+8(FP), R11 \
	MOVQ    src+16(FP), SI \
	MOVQ    lds+24(FP), R8 \
	MOVQ    k+32(FP), CX \
	MOVQ    vecs+40(FP), DX \
	MOVQ    mask+48(FP), R9 \
	SHLQ    shift, R8 \
	TESTQ   CX, CX \
	JLE     pt_ret \
	VMOVDQU (R9), Y4 \
	VMOVDQU 32(R9), Y5 \
	VMOVDQU 64(R9), Y6 \
	VXORPD  Y7, Y7, Y7 \
	VXORPD  Y8, Y8, Y8 \
	VXORPD  Y9, Y9, Y9 \
	TESTQ   R11, R11 \
	JE      pt_rows \
	VMASKMOV (R11), Y4, Y7 \
	VMASKMOV 32(R11), Y5, Y8 \
	VMASKMOV 64(R11), Y6, Y9 \
pt_rows: \
	CMPQ DX, $3 \
	JEQ  pt3 \
	CMPQ DX, $2 \
	JEQ  pt2 \
pt1: \
	VMASKMOV (SI), Y4, Y0 \
	VMOVUPD    Y0, (DI) \
	VADD     Y0, Y7, Y7 \
	ADDQ       R8, SI \
	ADDQ       $32, DI \
	DECQ       CX \
	JNE        pt1 \
	JMP        pt_db \
pt2: \
	VMASKMOV (SI), Y4, Y0 \
	VMASKMOV 32(SI), Y5, Y1 \
	VMOVUPD    Y0, (DI) \
	VMOVUPD    Y1, 32(DI) \
	VADD     Y0, Y7, Y7 \
	VADD     Y1, Y8, Y8 \
	ADDQ       R8, SI \
	ADDQ       $64, DI \
	DECQ       CX \
	JNE        pt2 \
	JMP        pt_db \
pt3: \
	VMASKMOV (SI), Y4, Y0 \
	VMASKMOV 32(SI), Y5, Y1 \
	VMASKMOV 64(SI), Y6, Y2 \
	VMOVUPD    Y0, (DI) \
	VMOVUPD    Y1, 32(DI) \
	VMOVUPD    Y2, 64(DI) \
	VADD     Y0, Y7, Y7 \
	VADD     Y1, Y8, Y8 \
	VADD     Y2, Y9, Y9 \
	ADDQ       R8, SI \
	ADDQ       $96, DI \
	DECQ       CX \
	JNE        pt3 \
pt_db: \
	TESTQ      R11, R11 \
	JE         pt_done \
	VMASKMOV Y7, Y4, (R11) \
	VMASKMOV Y8, Y5, 32(R11) \
	VMASKMOV Y9, Y6, 64(R11) \
pt_done: \
	VZEROUPPER \
pt_ret: \
	RET

TEXT ·gemmKernel(SB), NOSPLIT, $0-80
	GEMM_ARGS(gemm_ret)
	LEAQ  (R8)(R8*2), R9

gemm_tile:
	MOVQ  R13, SI
	MOVQ  DX, BX
	MOVQ  R11, CX
	MOVQ  init+72(FP), R14
	TESTQ R14, R14
	JE    gemm_loadc
	GEMM_INIT(R14)
	JMP     gemm_steps

gemm_loadc:
	GEMM_LOADC(R14)
	GEMM_PREFETCHC(R14)

gemm_steps:
	CMPQ CX, $4
	JLT  gemm_tail

gemm_loop4:
	GEMM_STEP(0, AX)
	GEMM_STEP(96, AX)
	GEMM_STEP(192, AX)
	GEMM_STEP(288, AX)
	ADDQ  $384, BX
	SUBQ  $4, CX
	CMPQ  CX, $4
	JGE   gemm_loop4
	TESTQ CX, CX
	JE    gemm_store

gemm_tail:
	GEMM_STEP(0, AX)
	ADDQ $96, BX
	DECQ CX
	JNE  gemm_tail

gemm_store:
	GEMM_STORE(DI, Y0, Y1, Y2)
	ADDQ R10, DI
	GEMM_STORE(DI, Y3, Y4, Y5)
	ADDQ R10, DI
	GEMM_STORE(DI, Y6, Y7, Y8)
	ADDQ R10, DI
	GEMM_STORE(DI, Y9, Y10, Y11)
	ADDQ R10, DI
	MOVQ ts+40(FP), CX
	LEAQ (R13)(CX*8), R13
	DECQ R12
	JNE  gemm_tile
	VZEROUPPER

gemm_ret:
	RET

// GEMM2_STEP is one step of gemmKernel2 into the sums s0–s5 (rows 0 and 1,
// three words each).
#define GEMM2_STEP(boff, s0, s1, s2, s3, s4, s5) \
	VMOVUPD      boff(BX), Y12 \
	VMOVUPD      boff+32(BX), Y13 \
	VMOVUPD      boff+64(BX), Y14 \
	VBROADCASTSD (SI), Y15 \
	VFMADD231PD  Y12, Y15, s0 \
	VFMADD231PD  Y13, Y15, s1 \
	VFMADD231PD  Y14, Y15, s2 \
	VBROADCASTSD (SI)(R8*1), Y15 \
	VFMADD231PD  Y12, Y15, s3 \
	VFMADD231PD  Y13, Y15, s4 \
	VFMADD231PD  Y14, Y15, s5 \
	ADDQ         AX, SI

// func gemmKernel2(c *float64, ldc int, a *float64, rs, ps, ts int, b *float64, k, tiles int, init *float64)
//
// gemmKernel on tiles of 2×12 (rows 2t and 2t+1 of c, from a[t*ts+i*rs+p*ps]
// for i < 2), for the edges of a staircase where only two rows of a 4×12
// tile are wanted. Six sums are too few to cover the latency of the
// multiply-adds, so the sums of even p (Y0–Y5, starting from s) and of odd
// p (Y6–Y11, from 0) are kept apart and added at the end:
//
//	c[(2t+i)*ldc+j] = (s + Σ_{p even} …) + Σ_{p odd} …
TEXT ·gemmKernel2(SB), NOSPLIT, $0-80
	GEMM_ARGS(gemm2_ret)

gemm2_tile:
	MOVQ    R13, SI
	MOVQ    DX, BX
	MOVQ    R11, CX
	MOVQ    init+72(FP), R14
	TESTQ   R14, R14
	JE      gemm2_loadc
	VMOVUPD (R14), Y0
	VMOVUPD 32(R14), Y1
	VMOVUPD 64(R14), Y2
	VMOVAPD Y0, Y3
	VMOVAPD Y1, Y4
	VMOVAPD Y2, Y5
	JMP     gemm2_odd

gemm2_loadc:
	MOVQ DI, R14
	GEMM_LOAD(R14, Y0, Y1, Y2)
	ADDQ R10, R14
	GEMM_LOAD(R14, Y3, Y4, Y5)

gemm2_odd:
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11
	CMPQ   CX, $2
	JLT    gemm2_last

gemm2_loop2:
	GEMM2_STEP(0, Y0, Y1, Y2, Y3, Y4, Y5)
	GEMM2_STEP(96, Y6, Y7, Y8, Y9, Y10, Y11)
	ADDQ  $192, BX
	SUBQ  $2, CX
	CMPQ  CX, $2
	JGE   gemm2_loop2
	TESTQ CX, CX
	JE    gemm2_sum

gemm2_last:
	GEMM2_STEP(0, Y0, Y1, Y2, Y3, Y4, Y5)

gemm2_sum:
	VADDPD Y6, Y0, Y0
	VADDPD Y7, Y1, Y1
	VADDPD Y8, Y2, Y2
	VADDPD Y9, Y3, Y3
	VADDPD Y10, Y4, Y4
	VADDPD Y11, Y5, Y5
	GEMM_STORE(DI, Y0, Y1, Y2)
	ADDQ   R10, DI
	GEMM_STORE(DI, Y3, Y4, Y5)
	ADDQ   R10, DI
	MOVQ   ts+40(FP), CX
	LEAQ   (R13)(CX*8), R13
	DECQ   R12
	JNE    gemm2_tile
	VZEROUPPER

gemm2_ret:
	RET

// Constants of the vector exp, each repeated in the 4 lanes of a YMM word:
// the clamps of the argument, log2(e), ln(2) = C1 + C2 (C1 the nearest
// float64), the coefficients g9…g0 of the polynomial g (see EXP4), 1, ½,
// 2⁵²·1.5 + 1023 (to build 2ⁿ from n), the overflow and underflow
// thresholds of math.Exp, +Inf, the sign bit, the mask of the magnitude
// and 708 (the bound of the fast path); then the constants of tanh: the
// coefficients P0–P2 and Q0–Q2 of math.Tanh's rational function, 0.625,
// 44.5 and 2.
#define EXPC_LO 0
#define EXPC_HI 32
#define EXPC_LOG2E 64
#define EXPC_C1 96
#define EXPC_C2 128
#define EXPC_G9 160
#define EXPC_G8 192
#define EXPC_G7 224
#define EXPC_G6 256
#define EXPC_G5 288
#define EXPC_G4 320
#define EXPC_G3 352
#define EXPC_G2 384
#define EXPC_G1 416
#define EXPC_G0 448
#define EXPC_ONE 480
#define EXPC_HALF 512
#define EXPC_BIAS 544
#define EXPC_OF 576
#define EXPC_UF 608
#define EXPC_INF 640
#define EXPC_SIGN 672
#define EXPC_ABS 704
#define EXPC_FAST 736
#define EXPC_TP0 768
#define EXPC_TP1 800
#define EXPC_TP2 832
#define EXPC_TQ0 864
#define EXPC_TQ1 896
#define EXPC_TQ2 928
#define EXPC_TBIG 960
#define EXPC_TCLAMP 992
#define EXPC_TWO 1024
DATA expc<>+0(SB)/8, $0xc087500000000000
DATA expc<>+8(SB)/8, $0xc087500000000000
DATA expc<>+16(SB)/8, $0xc087500000000000
DATA expc<>+24(SB)/8, $0xc087500000000000
DATA expc<>+32(SB)/8, $0x4086300000000000
DATA expc<>+40(SB)/8, $0x4086300000000000
DATA expc<>+48(SB)/8, $0x4086300000000000
DATA expc<>+56(SB)/8, $0x4086300000000000
DATA expc<>+64(SB)/8, $0x3ff71547652b82fe
DATA expc<>+72(SB)/8, $0x3ff71547652b82fe
DATA expc<>+80(SB)/8, $0x3ff71547652b82fe
DATA expc<>+88(SB)/8, $0x3ff71547652b82fe
DATA expc<>+96(SB)/8, $0x3fe62e42fefa39ef
DATA expc<>+104(SB)/8, $0x3fe62e42fefa39ef
DATA expc<>+112(SB)/8, $0x3fe62e42fefa39ef
DATA expc<>+120(SB)/8, $0x3fe62e42fefa39ef
DATA expc<>+128(SB)/8, $0x3c7abc9e3b39803f
DATA expc<>+136(SB)/8, $0x3c7abc9e3b39803f
DATA expc<>+144(SB)/8, $0x3c7abc9e3b39803f
DATA expc<>+152(SB)/8, $0x3c7abc9e3b39803f
DATA expc<>+160(SB)/8, $0x3e5af389ecfc4bf0
DATA expc<>+168(SB)/8, $0x3e5af389ecfc4bf0
DATA expc<>+176(SB)/8, $0x3e5af389ecfc4bf0
DATA expc<>+184(SB)/8, $0x3e5af389ecfc4bf0
DATA expc<>+192(SB)/8, $0x3e928917c89a43eb
DATA expc<>+200(SB)/8, $0x3e928917c89a43eb
DATA expc<>+208(SB)/8, $0x3e928917c89a43eb
DATA expc<>+216(SB)/8, $0x3e928917c89a43eb
DATA expc<>+224(SB)/8, $0x3ec71de0db2f6b19
DATA expc<>+232(SB)/8, $0x3ec71de0db2f6b19
DATA expc<>+240(SB)/8, $0x3ec71de0db2f6b19
DATA expc<>+248(SB)/8, $0x3ec71de0db2f6b19
DATA expc<>+256(SB)/8, $0x3efa019b9149a41c
DATA expc<>+264(SB)/8, $0x3efa019b9149a41c
DATA expc<>+272(SB)/8, $0x3efa019b9149a41c
DATA expc<>+280(SB)/8, $0x3efa019b9149a41c
DATA expc<>+288(SB)/8, $0x3f2a01a01a7c2efe
DATA expc<>+296(SB)/8, $0x3f2a01a01a7c2efe
DATA expc<>+304(SB)/8, $0x3f2a01a01a7c2efe
DATA expc<>+312(SB)/8, $0x3f2a01a01a7c2efe
DATA expc<>+320(SB)/8, $0x3f56c16c17889ef1
DATA expc<>+328(SB)/8, $0x3f56c16c17889ef1
DATA expc<>+336(SB)/8, $0x3f56c16c17889ef1
DATA expc<>+344(SB)/8, $0x3f56c16c17889ef1
DATA expc<>+352(SB)/8, $0x3f811111111109b5
DATA expc<>+360(SB)/8, $0x3f811111111109b5
DATA expc<>+368(SB)/8, $0x3f811111111109b5
DATA expc<>+376(SB)/8, $0x3f811111111109b5
DATA expc<>+384(SB)/8, $0x3fa5555555553d68
DATA expc<>+392(SB)/8, $0x3fa5555555553d68
DATA expc<>+400(SB)/8, $0x3fa5555555553d68
DATA expc<>+408(SB)/8, $0x3fa5555555553d68
DATA expc<>+416(SB)/8, $0x3fc5555555555556
DATA expc<>+424(SB)/8, $0x3fc5555555555556
DATA expc<>+432(SB)/8, $0x3fc5555555555556
DATA expc<>+440(SB)/8, $0x3fc5555555555556
DATA expc<>+448(SB)/8, $0x3fe0000000000001
DATA expc<>+456(SB)/8, $0x3fe0000000000001
DATA expc<>+464(SB)/8, $0x3fe0000000000001
DATA expc<>+472(SB)/8, $0x3fe0000000000001
DATA expc<>+480(SB)/8, $0x3ff0000000000000
DATA expc<>+488(SB)/8, $0x3ff0000000000000
DATA expc<>+496(SB)/8, $0x3ff0000000000000
DATA expc<>+504(SB)/8, $0x3ff0000000000000
DATA expc<>+512(SB)/8, $0x3fe0000000000000
DATA expc<>+520(SB)/8, $0x3fe0000000000000
DATA expc<>+528(SB)/8, $0x3fe0000000000000
DATA expc<>+536(SB)/8, $0x3fe0000000000000
DATA expc<>+544(SB)/8, $0x43380000000003ff
DATA expc<>+552(SB)/8, $0x43380000000003ff
DATA expc<>+560(SB)/8, $0x43380000000003ff
DATA expc<>+568(SB)/8, $0x43380000000003ff
DATA expc<>+576(SB)/8, $0x40862e42fefa39ef
DATA expc<>+584(SB)/8, $0x40862e42fefa39ef
DATA expc<>+592(SB)/8, $0x40862e42fefa39ef
DATA expc<>+600(SB)/8, $0x40862e42fefa39ef
DATA expc<>+608(SB)/8, $0xc0874910d52d3051
DATA expc<>+616(SB)/8, $0xc0874910d52d3051
DATA expc<>+624(SB)/8, $0xc0874910d52d3051
DATA expc<>+632(SB)/8, $0xc0874910d52d3051
DATA expc<>+640(SB)/8, $0x7ff0000000000000
DATA expc<>+648(SB)/8, $0x7ff0000000000000
DATA expc<>+656(SB)/8, $0x7ff0000000000000
DATA expc<>+664(SB)/8, $0x7ff0000000000000
DATA expc<>+672(SB)/8, $0x8000000000000000
DATA expc<>+680(SB)/8, $0x8000000000000000
DATA expc<>+688(SB)/8, $0x8000000000000000
DATA expc<>+696(SB)/8, $0x8000000000000000
DATA expc<>+704(SB)/8, $0x7fffffffffffffff
DATA expc<>+712(SB)/8, $0x7fffffffffffffff
DATA expc<>+720(SB)/8, $0x7fffffffffffffff
DATA expc<>+728(SB)/8, $0x7fffffffffffffff
DATA expc<>+736(SB)/8, $0x4086200000000000
DATA expc<>+744(SB)/8, $0x4086200000000000
DATA expc<>+752(SB)/8, $0x4086200000000000
DATA expc<>+760(SB)/8, $0x4086200000000000
DATA expc<>+768(SB)/8, $0xbfeedc5baafd6f4b
DATA expc<>+776(SB)/8, $0xbfeedc5baafd6f4b
DATA expc<>+784(SB)/8, $0xbfeedc5baafd6f4b
DATA expc<>+792(SB)/8, $0xbfeedc5baafd6f4b
DATA expc<>+800(SB)/8, $0xc058d26a0e26682d
DATA expc<>+808(SB)/8, $0xc058d26a0e26682d
DATA expc<>+816(SB)/8, $0xc058d26a0e26682d
DATA expc<>+824(SB)/8, $0xc058d26a0e26682d
DATA expc<>+832(SB)/8, $0xc0993ac030580563
DATA expc<>+840(SB)/8, $0xc0993ac030580563
DATA expc<>+848(SB)/8, $0xc0993ac030580563
DATA expc<>+856(SB)/8, $0xc0993ac030580563
DATA expc<>+864(SB)/8, $0x405c33f28a581b86
DATA expc<>+872(SB)/8, $0x405c33f28a581b86
DATA expc<>+880(SB)/8, $0x405c33f28a581b86
DATA expc<>+888(SB)/8, $0x405c33f28a581b86
DATA expc<>+896(SB)/8, $0x40a176fa0e5535fa
DATA expc<>+904(SB)/8, $0x40a176fa0e5535fa
DATA expc<>+912(SB)/8, $0x40a176fa0e5535fa
DATA expc<>+920(SB)/8, $0x40a176fa0e5535fa
DATA expc<>+928(SB)/8, $0x40b2ec102442040c
DATA expc<>+936(SB)/8, $0x40b2ec102442040c
DATA expc<>+944(SB)/8, $0x40b2ec102442040c
DATA expc<>+952(SB)/8, $0x40b2ec102442040c
DATA expc<>+960(SB)/8, $0x3fe4000000000000
DATA expc<>+968(SB)/8, $0x3fe4000000000000
DATA expc<>+976(SB)/8, $0x3fe4000000000000
DATA expc<>+984(SB)/8, $0x3fe4000000000000
DATA expc<>+992(SB)/8, $0x4046400000000000
DATA expc<>+1000(SB)/8, $0x4046400000000000
DATA expc<>+1008(SB)/8, $0x4046400000000000
DATA expc<>+1016(SB)/8, $0x4046400000000000
DATA expc<>+1024(SB)/8, $0x4000000000000000
DATA expc<>+1032(SB)/8, $0x4000000000000000
DATA expc<>+1040(SB)/8, $0x4000000000000000
DATA expc<>+1048(SB)/8, $0x4000000000000000
GLOBL expc<>(SB), RODATA|NOPTR, $1056

// EXP4 sets P to exp(X) lane by lane, with math.Exp's results for overflow,
// underflow, NaN and ±Inf; X is kept, C, K, R and T are clobbered.
//
// With x clamped to [−746, 710], k = round(x·log2 e) and r = x − k·ln2
// (k·C1 subtracted exactly by one FMA, then k·C2), |r| ≤ ln2/2 + 2⁻⁴⁰ and
// exp(x) = 2ᵏ·exp(r). exp(r) = 1 + s, s = r + r²·g(r), with g the polynomial of
// degree 9 that interpolates (exp(r) − 1 − r)/r² at the 10 Chebyshev nodes
// of [−ln2/2, ln2/2]: with its coefficients rounded to float64,
// |1 + r + r²·g(r) − exp(r)| < 1.6e-17·exp(r) on the interval (0.07 ulp). 2ᵏ is
// applied as 2^⌊k/2⌋·2^(k−⌊k/2⌋), each factor a normal float64, so that the
// product overflows or goes subnormal with a single rounding at the end;
// the first factor by one FMA, s·2^⌊k/2⌋ + 2^⌊k/2⌋, which rounds (1 + s)·2^⌊k/2⌋
// once.
#define EXP4(X, C, K, R, P, T) \
	VMAXPD       expc<>+EXPC_LO(SB), X, C \
	VMINPD       expc<>+EXPC_HI(SB), C, C \
	VMULPD       expc<>+EXPC_LOG2E(SB), C, K \
	VROUNDPD     $0, K, K \
	VMOVAPD      C, R \
	VFNMADD231PD expc<>+EXPC_C1(SB), K, R \
	VFNMADD231PD expc<>+EXPC_C2(SB), K, R \
	VMOVUPD      expc<>+EXPC_G9(SB), P \
	VFMADD213PD  expc<>+EXPC_G8(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G7(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G6(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G5(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G4(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G3(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G2(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G1(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G0(SB), R, P \
	VMULPD       R, R, T \
	VFMADD213PD  R, T, P \
	VMULPD       expc<>+EXPC_HALF(SB), K, T \
	VROUNDPD     $1, T, T \
	VSUBPD       T, K, K \
	VADDPD       expc<>+EXPC_BIAS(SB), T, T \
	VADDPD       expc<>+EXPC_BIAS(SB), K, K \
	VPSLLQ       $52, T, T \
	VPSLLQ       $52, K, K \
	VFMADD213PD  T, T, P \
	VMULPD       K, P, P \
	VCMPPD       $0x1e, expc<>+EXPC_OF(SB), X, T \
	VBLENDVPD    T, expc<>+EXPC_INF(SB), P, P \
	VCMPPD       $0x11, expc<>+EXPC_UF(SB), X, T \
	VANDNPD      P, T, P \
	VCMPPD       $3, X, X, T \
	VBLENDVPD    T, X, P, P

// EXP4FAST sets P to exp(X) lane by lane where every lane has |x| ≤ 708
// (so that 2ᵏ and the result are normal): the method of EXP4 without the
// clamps, the special cases and the split scaling. k comes from one FMA,
// x·log2e + (1.5·2⁵² + 1023), which rounds x·log2 e to the nearest integer
// k and leaves k + 1023 in the low bits, so that a shift by 52 makes 2ᵏ,
// and the result is one FMA, s·2ᵏ + 2ᵏ. X, K and R are clobbered.
#define EXP4FAST(X, K, R, P) \
	VMOVUPD      expc<>+EXPC_BIAS(SB), K \
	VFMADD231PD  expc<>+EXPC_LOG2E(SB), X, K \
	VMOVAPD      X, R \
	VSUBPD       expc<>+EXPC_BIAS(SB), K, X \
	VFNMADD231PD expc<>+EXPC_C1(SB), X, R \
	VFNMADD231PD expc<>+EXPC_C2(SB), X, R \
	VMOVUPD      expc<>+EXPC_G9(SB), P \
	VFMADD213PD  expc<>+EXPC_G8(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G7(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G6(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G5(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G4(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G3(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G2(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G1(SB), R, P \
	VFMADD213PD  expc<>+EXPC_G0(SB), R, P \
	VMULPD       R, R, X \
	VFMADD213PD  R, X, P \
	VPSLLQ       $52, K, K \
	VFMADD213PD  K, K, P

// EXP4CHECK jumps to slow unless every lane of X has |x| ≤ 708 (NaN
// included in the slow path). T is clobbered, and AX.
#define EXP4CHECK(X, T, slow) \
	VANDPD    expc<>+EXPC_ABS(SB), X, T \
	VCMPPD    $0x06, expc<>+EXPC_FAST(SB), T, T \
	VMOVMSKPD T, AX \
	TESTL     AX, AX \
	JNZ       slow

// func expKernel(dst, src *float64, n int)
//
// dst[i] = exp(src[i]) for i < n; n is a multiple of 4.
TEXT ·expKernel(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $2, CX
	JE   exp_ret
	CMPQ CX, $4
	JLT  exp_loop

	// Four vectors a step, interleaved instruction by instruction (EXP4FAST
	// on Y0–Y3, Y4–Y7, Y8–Y11, Y12–Y15), one check for all four.
exp_loop4:
	VMOVUPD   0(SI), Y0
	VMOVUPD   32(SI), Y4
	VMOVUPD   64(SI), Y8
	VMOVUPD   96(SI), Y12
	VANDPD    expc<>+EXPC_ABS(SB), Y0, Y1
	VANDPD    expc<>+EXPC_ABS(SB), Y4, Y5
	VANDPD    expc<>+EXPC_ABS(SB), Y8, Y9
	VANDPD    expc<>+EXPC_ABS(SB), Y12, Y13
	VCMPPD    $0x06, expc<>+EXPC_FAST(SB), Y1, Y1
	VCMPPD    $0x06, expc<>+EXPC_FAST(SB), Y5, Y5
	VCMPPD    $0x06, expc<>+EXPC_FAST(SB), Y9, Y9
	VCMPPD    $0x06, expc<>+EXPC_FAST(SB), Y13, Y13
	VORPD     Y5, Y1, Y1
	VORPD     Y13, Y9, Y9
	VORPD     Y9, Y1, Y1
	VMOVMSKPD Y1, AX
	TESTL     AX, AX
	JNZ       exp_slow4
	VMOVUPD      expc<>+EXPC_BIAS(SB), Y1
	VMOVUPD      expc<>+EXPC_BIAS(SB), Y5
	VMOVUPD      expc<>+EXPC_BIAS(SB), Y9
	VMOVUPD      expc<>+EXPC_BIAS(SB), Y13
	VFMADD231PD  expc<>+EXPC_LOG2E(SB), Y0, Y1
	VFMADD231PD  expc<>+EXPC_LOG2E(SB), Y4, Y5
	VFMADD231PD  expc<>+EXPC_LOG2E(SB), Y8, Y9
	VFMADD231PD  expc<>+EXPC_LOG2E(SB), Y12, Y13
	VMOVAPD      Y0, Y2
	VMOVAPD      Y4, Y6
	VMOVAPD      Y8, Y10
	VMOVAPD      Y12, Y14
	VSUBPD       expc<>+EXPC_BIAS(SB), Y1, Y0
	VSUBPD       expc<>+EXPC_BIAS(SB), Y5, Y4
	VSUBPD       expc<>+EXPC_BIAS(SB), Y9, Y8
	VSUBPD       expc<>+EXPC_BIAS(SB), Y13, Y12
	VFNMADD231PD expc<>+EXPC_C1(SB), Y0, Y2
	VFNMADD231PD expc<>+EXPC_C1(SB), Y4, Y6
	VFNMADD231PD expc<>+EXPC_C1(SB), Y8, Y10
	VFNMADD231PD expc<>+EXPC_C1(SB), Y12, Y14
	VFNMADD231PD expc<>+EXPC_C2(SB), Y0, Y2
	VFNMADD231PD expc<>+EXPC_C2(SB), Y4, Y6
	VFNMADD231PD expc<>+EXPC_C2(SB), Y8, Y10
	VFNMADD231PD expc<>+EXPC_C2(SB), Y12, Y14
	VMOVUPD      expc<>+EXPC_G9(SB), Y3
	VMOVUPD      expc<>+EXPC_G9(SB), Y7
	VMOVUPD      expc<>+EXPC_G9(SB), Y11
	VMOVUPD      expc<>+EXPC_G9(SB), Y15
	VFMADD213PD  expc<>+EXPC_G8(SB), Y2, Y3
	VFMADD213PD  expc<>+EXPC_G8(SB), Y6, Y7
	VFMADD213PD  expc<>+EXPC_G8(SB), Y10, Y11
	VFMADD213PD  expc<>+EXPC_G8(SB), Y14, Y15
	VFMADD213PD  expc<>+EXPC_G7(SB), Y2, Y3
	VFMADD213PD  expc<>+EXPC_G7(SB), Y6, Y7
	VFMADD213PD  expc<>+EXPC_G7(SB), Y10, Y11
	VFMADD213PD  expc<>+EXPC_G7(SB), Y14, Y15
	VFMADD213PD  expc<>+EXPC_G6(SB), Y2, Y3
	VFMADD213PD  expc<>+EXPC_G6(SB), Y6, Y7
	VFMADD213PD  expc<>+EXPC_G6(SB), Y10, Y11
	VFMADD213PD  expc<>+EXPC_G6(SB), Y14, Y15
	VFMADD213PD  expc<>+EXPC_G5(SB), Y2, Y3
	VFMADD213PD  expc<>+EXPC_G5(SB), Y6, Y7
	VFMADD213PD  expc<>+EXPC_G5(SB), Y10, Y11
	VFMADD213PD  expc<>+EXPC_G5(SB), Y14, Y15
	VFMADD213PD  expc<>+EXPC_G4(SB), Y2, Y3
	VFMADD213PD  expc<>+EXPC_G4(SB), Y6, Y7
	VFMADD213PD  expc<>+EXPC_G4(SB), Y10, Y11
	VFMADD213PD  expc<>+EXPC_G4(SB), Y14, Y15
	VFMADD213PD  expc<>+EXPC_G3(SB), Y2, Y3
	VFMADD213PD  expc<>+EXPC_G3(SB), Y6, Y7
	VFMADD213PD  expc<>+EXPC_G3(SB), Y10, Y11
	VFMADD213PD  expc<>+EXPC_G3(SB), Y14, Y15
	VFMADD213PD  expc<>+EXPC_G2(SB), Y2, Y3
	VFMADD213PD  expc<>+EXPC_G2(SB), Y6, Y7
	VFMADD213PD  expc<>+EXPC_G2(SB), Y10, Y11
	VFMADD213PD  expc<>+EXPC_G2(SB), Y14, Y15
	VFMADD213PD  expc<>+EXPC_G1(SB), Y2, Y3
	VFMADD213PD  expc<>+EXPC_G1(SB), Y6, Y7
	VFMADD213PD  expc<>+EXPC_G1(SB), Y10, Y11
	VFMADD213PD  expc<>+EXPC_G1(SB), Y14, Y15
	VFMADD213PD  expc<>+EXPC_G0(SB), Y2, Y3
	VFMADD213PD  expc<>+EXPC_G0(SB), Y6, Y7
	VFMADD213PD  expc<>+EXPC_G0(SB), Y10, Y11
	VFMADD213PD  expc<>+EXPC_G0(SB), Y14, Y15
	VMULPD       Y2, Y2, Y0
	VMULPD       Y6, Y6, Y4
	VMULPD       Y10, Y10, Y8
	VMULPD       Y14, Y14, Y12
	VFMADD213PD  Y2, Y0, Y3
	VFMADD213PD  Y6, Y4, Y7
	VFMADD213PD  Y10, Y8, Y11
	VFMADD213PD  Y14, Y12, Y15
	VPSLLQ       $52, Y1, Y1
	VPSLLQ       $52, Y5, Y5
	VPSLLQ       $52, Y9, Y9
	VPSLLQ       $52, Y13, Y13
	VFMADD213PD  Y1, Y1, Y3
	VFMADD213PD  Y5, Y5, Y7
	VFMADD213PD  Y9, Y9, Y11
	VFMADD213PD  Y13, Y13, Y15
	VMOVUPD   Y3, 0(DI)
	VMOVUPD   Y7, 32(DI)
	VMOVUPD   Y11, 64(DI)
	VMOVUPD   Y15, 96(DI)

exp_next4:
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  exp_loop4
	TESTQ CX, CX
	JE   exp_done

exp_loop:
	VMOVUPD (SI), Y0
	EXP4CHECK(Y0, Y1, exp_slow)
	EXP4FAST(Y0, Y2, Y3, Y4)

exp_store:
	VMOVUPD Y4, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNE     exp_loop

exp_done:
	VZEROUPPER

exp_ret:
	RET

exp_slow:
	EXP4(Y0, Y1, Y2, Y3, Y4, Y5)
	JMP exp_store

	// One vector after the other, each loaded just before it is computed
	// and stored, so that dst may be src.
exp_slow4:
	VMOVUPD 0(SI), Y0
	EXP4(Y0, Y1, Y2, Y3, Y4, Y5)
	VMOVUPD Y4, 0(DI)
	VMOVUPD 32(SI), Y0
	EXP4(Y0, Y1, Y2, Y3, Y4, Y5)
	VMOVUPD Y4, 32(DI)
	VMOVUPD 64(SI), Y0
	EXP4(Y0, Y1, Y2, Y3, Y4, Y5)
	VMOVUPD Y4, 64(DI)
	VMOVUPD 96(SI), Y0
	EXP4(Y0, Y1, Y2, Y3, Y4, Y5)
	VMOVUPD Y4, 96(DI)
	JMP exp_next4

// func affineInverseKernel(z, e, x, mu, alpha *float64, n int) float64
//
// For d < n: e[d] = exp(−alpha[d]); z[d] = (x[d] − mu[d])·e[d]. Returns
// Σ alpha[d], summed in 4 lanes. n is a multiple of 4.
TEXT ·affineInverseKernel(SB), NOSPLIT, $0-56
	MOVQ   z+0(FP), DI
	MOVQ   e+8(FP), DX
	MOVQ   x+16(FP), SI
	MOVQ   mu+24(FP), R8
	MOVQ   alpha+32(FP), R9
	MOVQ   n+40(FP), CX
	VXORPD Y8, Y8, Y8
	SHRQ   $2, CX
	JE     affinv_sum

affinv_loop:
	VMOVUPD (R9), Y6
	VADDPD  Y6, Y8, Y8
	VXORPD  expc<>+EXPC_SIGN(SB), Y6, Y0
	EXP4CHECK(Y0, Y1, affinv_slow)
	EXP4FAST(Y0, Y2, Y3, Y4)

affinv_exp:
	VMOVUPD (SI), Y7
	VSUBPD  (R8), Y7, Y7
	VMULPD  Y4, Y7, Y7
	VMOVUPD Y4, (DX)
	VMOVUPD Y7, (DI)
	ADDQ    $32, R9
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNE     affinv_loop

affinv_sum:
	VEXTRACTF128 $1, Y8, X9
	VADDPD       X9, X8, X8
	VUNPCKHPD    X8, X8, X9
	VADDSD       X9, X8, X8
	VZEROUPPER
	MOVSD        X8, ret+48(FP)
	RET

affinv_slow:
	EXP4(Y0, Y1, Y2, Y3, Y4, Y5)
	JMP affinv_exp

// func affineForwardKernel(x, e, z, mu, alpha *float64, n int) float64
//
// For d < n: e[d] = exp(alpha[d]); x[d] = z[d]·e[d] + mu[d] (a product and
// a sum, each rounded, as the reference compiles on amd64). Returns
// Σ alpha[d], summed in 4 lanes. n is a multiple of 4.
TEXT ·affineForwardKernel(SB), NOSPLIT, $0-56
	MOVQ   x+0(FP), DI
	MOVQ   e+8(FP), DX
	MOVQ   z+16(FP), SI
	MOVQ   mu+24(FP), R8
	MOVQ   alpha+32(FP), R9
	MOVQ   n+40(FP), CX
	VXORPD Y8, Y8, Y8
	SHRQ   $2, CX
	JE     afffwd_sum

afffwd_loop:
	VMOVUPD (R9), Y0
	VADDPD  Y0, Y8, Y8
	EXP4CHECK(Y0, Y1, afffwd_slow)
	EXP4FAST(Y0, Y2, Y3, Y4)

afffwd_exp:
	VMOVUPD (SI), Y7
	VMULPD  Y4, Y7, Y7
	VADDPD  (R8), Y7, Y7
	VMOVUPD Y4, (DX)
	VMOVUPD Y7, (DI)
	ADDQ    $32, R9
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNE     afffwd_loop

afffwd_sum:
	VEXTRACTF128 $1, Y8, X9
	VADDPD       X9, X8, X8
	VUNPCKHPD    X8, X8, X9
	VADDSD       X9, X8, X8
	VZEROUPPER
	MOVSD        X8, ret+48(FP)
	RET

afffwd_slow:
	EXP4(Y0, Y1, Y2, Y3, Y4, Y5)
	JMP afffwd_exp

// func reluKernel(h *float64, n int)
//
// h[i] = 0 where h[i] < 0 (ordered: NaN and −0 are kept); n is a multiple
// of 4.
TEXT ·reluKernel(SB), NOSPLIT, $0-16
	MOVQ   h+0(FP), DI
	MOVQ   n+8(FP), CX
	SHRQ   $2, CX
	JE     relu_ret
	VXORPD Y1, Y1, Y1

relu_loop:
	VMOVUPD (DI), Y0
	VCMPPD  $0x11, Y1, Y0, Y2
	VANDNPD Y0, Y2, Y0
	VMOVUPD Y0, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNE     relu_loop
	VZEROUPPER

relu_ret:
	RET

// func reluRowsKernel(c *float64, ldc, rows, vecs int)
//
// reluKernel on rows rows of 4·vecs values, ldc values apart: for r < rows,
// j < 4·vecs, c[r*ldc+j] = 0 where c[r*ldc+j] < 0 (ordered: NaN and −0
// kept). It activates a run of tiles of a product's output in one call
// (gemmJob.activate).
TEXT ·reluRowsKernel(SB), NOSPLIT, $0-32
	RELU_ROWS($3, VCMPPD, VANDNPD)

// func reluBackRowsKernel(c, h *float64, ldc, rows, vecs int)
//
// reluBackwardKernel on rows rows of 4·vecs values, ldc values apart in
// both c and h: for r < rows, j < 4·vecs, c[r*ldc+j] = 0 where
// h[r*ldc+j] ≤ 0 (ordered: NaN keeps c). It applies a ReLU's derivative to
// a run of tiles of the product that computes the gradient
// (gemmJob.activate).
TEXT ·reluBackRowsKernel(SB), NOSPLIT, $0-40
	RELU_BACK_ROWS($3, VCMPPD, VANDNPD)

// func reluBackwardKernel(dh, h *float64, n int)
//
// dh[i] = 0 where h[i] ≤ 0 (ordered: NaN keeps dh); n is a multiple of 4.
TEXT ·reluBackwardKernel(SB), NOSPLIT, $0-24
	MOVQ   dh+0(FP), DI
	MOVQ   h+8(FP), SI
	MOVQ   n+16(FP), CX
	SHRQ   $2, CX
	JE     relub_ret
	VXORPD Y1, Y1, Y1

relub_loop:
	VMOVUPD (SI), Y0
	VCMPPD  $0x12, Y1, Y0, Y2
	VANDNPD (DI), Y2, Y0
	VMOVUPD Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNE     relub_loop
	VZEROUPPER

relub_ret:
	RET

// func tanhBackwardKernel(dh, h *float64, n int)
//
// dh[i] *= 1 − h[i]², each operation rounded as in the reference on amd64;
// n is a multiple of 4.
TEXT ·tanhBackwardKernel(SB), NOSPLIT, $0-24
	MOVQ dh+0(FP), DI
	MOVQ h+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $2, CX
	JE   tanhb_ret

tanhb_loop:
	VMOVUPD (SI), Y0
	VMULPD  Y0, Y0, Y0
	VMOVUPD expc<>+EXPC_ONE(SB), Y1
	VSUBPD  Y0, Y1, Y1
	VMULPD  (DI), Y1, Y1
	VMOVUPD Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNE     tanhb_loop
	VZEROUPPER

tanhb_ret:
	RET

// func tanhKernel(h *float64, n int)
//
// h[i] = tanh(h[i]) by the method of math.Tanh (Cephes): for |x| < 0.625
// x + x·s·P(s)/Q(s) with s = x², evaluated with the same operations in the
// same order (no FMA), so that the result is math.Tanh's bit for bit; for
// |x| ≥ 0.625 1 − 2/(exp(2|x|) + 1) with the sign of x, exp from EXP4FAST
// with |x| clamped to 44.5 (beyond 44.01 the result rounds to ±1, which is
// what math.Tanh returns there). ±0 and NaN are kept (NaN quieted).
// n is a multiple of 4.
TEXT ·tanhKernel(SB), NOSPLIT, $0-16
	MOVQ h+0(FP), DI
	MOVQ n+8(FP), CX
	SHRQ $2, CX
	JE   tanh_ret

tanh_loop:
	VMOVUPD (DI), Y0
	// Large: Y6 = ±(1 − 2/(exp(2·min(|x|, 44.5)) + 1)).
	VANDPD  expc<>+EXPC_ABS(SB), Y0, Y1
	VMINPD  expc<>+EXPC_TCLAMP(SB), Y1, Y2
	VADDPD  Y2, Y2, Y2
	EXP4FAST(Y2, Y3, Y4, Y5)
	VADDPD  expc<>+EXPC_ONE(SB), Y5, Y5
	VMOVUPD expc<>+EXPC_TWO(SB), Y2
	VDIVPD  Y5, Y2, Y2
	VMOVUPD expc<>+EXPC_ONE(SB), Y6
	VSUBPD  Y2, Y6, Y6
	VANDPD  expc<>+EXPC_SIGN(SB), Y0, Y2
	VXORPD  Y2, Y6, Y6
	// Small: Y7 = x + x·s·((P0·s + P1)·s + P2)/(((s + Q0)·s + Q1)·s + Q2).
	VMULPD  Y0, Y0, Y2
	VMULPD  expc<>+EXPC_TP0(SB), Y2, Y3
	VADDPD  expc<>+EXPC_TP1(SB), Y3, Y3
	VMULPD  Y2, Y3, Y3
	VADDPD  expc<>+EXPC_TP2(SB), Y3, Y3
	VADDPD  expc<>+EXPC_TQ0(SB), Y2, Y4
	VMULPD  Y2, Y4, Y4
	VADDPD  expc<>+EXPC_TQ1(SB), Y4, Y4
	VMULPD  Y2, Y4, Y4
	VADDPD  expc<>+EXPC_TQ2(SB), Y4, Y4
	VMULPD  Y2, Y0, Y7
	VMULPD  Y3, Y7, Y7
	VDIVPD  Y4, Y7, Y7
	VADDPD  Y0, Y7, Y7
	// Choose: large where |x| ≥ 0.625, x where x = 0, x + x where NaN.
	VCMPPD    $0x1d, expc<>+EXPC_TBIG(SB), Y1, Y3
	VBLENDVPD Y3, Y6, Y7, Y7
	VXORPD    Y4, Y4, Y4
	VCMPPD    $0x00, Y4, Y0, Y3
	VBLENDVPD Y3, Y0, Y7, Y7
	VCMPPD    $0x03, Y0, Y0, Y3
	VADDPD    Y0, Y0, Y4
	VBLENDVPD Y3, Y4, Y7, Y7
	VMOVUPD   Y7, (DI)
	ADDQ      $32, DI
	DECQ      CX
	JNE       tanh_loop
	VZEROUPPER

tanh_ret:
	RET

// func addKernel(dst, src *float64, n int)
//
// dst[i] += src[i] for i < n; n is a multiple of 4.
TEXT ·addKernel(SB), NOSPLIT, $0-24
	ADD_BODY($2, VADDPD)

// func gemmKernelNarrow(c *float64, ldc int, a *float64, rs, ps, ts int, b *float64, k, tiles int, init *float64)
//
// gemmKernel for tiles of 6 rows and 8 columns: for each of tiles tiles t,
// i < 6, j < 8:
//
//	c[(6t+i)*ldc+j] = s + Σ_{p<k} a[t*ts+i*rs+p*ps]·b[p*8+j]
//
// with s as in gemmKernel. Its panels are 8 columns wide, so that the
// masked products skip the zeros of a staircase at a finer grain; its
// 6×8 block of sums lives in Y0–Y11 (row i in Y(2i), Y(2i+1)), each step
// loading one row of the panel (Y12, Y13) and broadcasting one element of
// each row of a (Y14, Y15 in turn). Rows 0–2 of a are read from SI, rows
// 3–5 from R15 = SI + 3·rs.
#define GEMMN_STEP(boff) \
	VMOVUPD boff(BX), Y12 \
	VMOVUPD boff+32(BX), Y13 \
	VBROADCASTSD (SI), Y14 \
	VFMADD231PD Y12, Y14, Y0 \
	VFMADD231PD Y13, Y14, Y1 \
	VBROADCASTSD (SI)(R8*1), Y15 \
	VFMADD231PD Y12, Y15, Y2 \
	VFMADD231PD Y13, Y15, Y3 \
	VBROADCASTSD (SI)(R8*2), Y14 \
	VFMADD231PD Y12, Y14, Y4 \
	VFMADD231PD Y13, Y14, Y5 \
	VBROADCASTSD (R15), Y15 \
	VFMADD231PD Y12, Y15, Y6 \
	VFMADD231PD Y13, Y15, Y7 \
	VBROADCASTSD (R15)(R8*1), Y14 \
	VFMADD231PD Y12, Y14, Y8 \
	VFMADD231PD Y13, Y14, Y9 \
	VBROADCASTSD (R15)(R8*2), Y15 \
	VFMADD231PD Y12, Y15, Y10 \
	VFMADD231PD Y13, Y15, Y11 \
	ADDQ AX, SI \
	ADDQ AX, R15

#define GEMMN_LOAD(row, a0, a1) \
	VMOVUPD (row), a0 \
	VMOVUPD 32(row), a1

#define GEMMN_STORE(row, a0, a1) \
	VMOVUPD a0, (row) \
	VMOVUPD a1, 32(row)

// GEMMN_PREFETCHC is GEMM_PREFETCHC for the 6 rows of 64 bytes of the
// next 6×8 tile (at most two lines each, at +0 and +63).
#define GEMMN_PREFETCHC(row) \
	PREFETCH_NEXT2(row) \
	PREFETCH_NEXT2(row) \
	PREFETCH_NEXT2(row) \
	PREFETCH_NEXT2(row) \
	PREFETCH_NEXT2(row) \
	PREFETCH_NEXT2(row)

TEXT ·gemmKernelNarrow(SB), NOSPLIT, $0-80
	GEMM_ARGS(gemmn_ret)
	LEAQ  (R8)(R8*2), R9

gemmn_tile:
	MOVQ  R13, SI
	LEAQ  (R13)(R9*1), R15
	MOVQ  DX, BX
	MOVQ  R11, CX
	MOVQ  init+72(FP), R14
	TESTQ R14, R14
	JE    gemmn_loadc
	VMOVUPD (R14), Y0
	VMOVUPD 32(R14), Y1
	VMOVAPD Y0, Y2
	VMOVAPD Y1, Y3
	VMOVAPD Y0, Y4
	VMOVAPD Y1, Y5
	VMOVAPD Y0, Y6
	VMOVAPD Y1, Y7
	VMOVAPD Y0, Y8
	VMOVAPD Y1, Y9
	VMOVAPD Y0, Y10
	VMOVAPD Y1, Y11
	JMP     gemmn_steps

gemmn_loadc:
	MOVQ DI, R14
	GEMMN_LOAD(R14, Y0, Y1)
	ADDQ R10, R14
	GEMMN_LOAD(R14, Y2, Y3)
	ADDQ R10, R14
	GEMMN_LOAD(R14, Y4, Y5)
	ADDQ R10, R14
	GEMMN_LOAD(R14, Y6, Y7)
	ADDQ R10, R14
	GEMMN_LOAD(R14, Y8, Y9)
	ADDQ R10, R14
	GEMMN_LOAD(R14, Y10, Y11)
	GEMMN_PREFETCHC(R14)

gemmn_steps:
	CMPQ CX, $4
	JLT  gemmn_tail

gemmn_loop4:
	GEMMN_STEP(0)
	GEMMN_STEP(64)
	GEMMN_STEP(128)
	GEMMN_STEP(192)
	ADDQ  $256, BX
	SUBQ  $4, CX
	CMPQ  CX, $4
	JGE   gemmn_loop4
	TESTQ CX, CX
	JE    gemmn_store

gemmn_tail:
	GEMMN_STEP(0)
	ADDQ $64, BX
	DECQ CX
	JNE  gemmn_tail

gemmn_store:
	GEMMN_STORE(DI, Y0, Y1)
	ADDQ R10, DI
	GEMMN_STORE(DI, Y2, Y3)
	ADDQ R10, DI
	GEMMN_STORE(DI, Y4, Y5)
	ADDQ R10, DI
	GEMMN_STORE(DI, Y6, Y7)
	ADDQ R10, DI
	GEMMN_STORE(DI, Y8, Y9)
	ADDQ R10, DI
	GEMMN_STORE(DI, Y10, Y11)
	ADDQ R10, DI
	MOVQ ts+40(FP), CX
	LEAQ (R13)(CX*8), R13
	DECQ R12
	JNE  gemmn_tile
	VZEROUPPER

gemmn_ret:
	RET

// TRANSPOSE4 loads four rows of four values from SI (rows ld bytes apart,
// ld3 = 3·ld) and transposes them into Y0–Y3 (Y0 the first column), with
// unpacks and 128-bit permutes through Y4–Y7.
#define TRANSPOSE4(ld, ld3) \
	VMOVUPD    (SI), Y0 \
	VMOVUPD    (SI)(ld*1), Y1 \
	VMOVUPD    (SI)(ld*2), Y2 \
	VMOVUPD    (SI)(ld3*1), Y3 \
	VUNPCKLPD  Y1, Y0, Y4 \
	VUNPCKHPD  Y1, Y0, Y5 \
	VUNPCKLPD  Y3, Y2, Y6 \
	VUNPCKHPD  Y3, Y2, Y7 \
	VPERM2F128 $0x20, Y6, Y4, Y0 \
	VPERM2F128 $0x20, Y7, Y5, Y1 \
	VPERM2F128 $0x31, Y6, Y4, Y2 \
	VPERM2F128 $0x31, Y7, Y5, Y3

// func packTrans4Kernel(dst, src *float64, lds, k, ldd int)
//
// Transposes 4 rows of src into 4 columns of dst, k (a multiple of 4)
// values at a time:
//
//	dst[p*ldd+r] = src[r*lds+p]   for r < 4, p < k
//
// by 4×4 blocks: four rows of four values are loaded, transposed with
// unpacks and 128-bit permutes, and stored as four rows of dst.
TEXT ·packTrans4Kernel(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R8
	MOVQ k+24(FP), CX
	MOVQ ldd+32(FP), DX
	SHLQ $3, R8
	SHLQ $3, DX
	LEAQ (R8)(R8*2), R9
	LEAQ (DX)(DX*2), R10
	SHRQ $2, CX
	JE   pt4_ret

pt4_loop:
	TRANSPOSE4(R8, R9)
	VMOVUPD    Y0, (DI)
	VMOVUPD    Y1, (DI)(DX*1)
	VMOVUPD    Y2, (DI)(DX*2)
	VMOVUPD    Y3, (DI)(R10*1)
	ADDQ       $32, SI
	LEAQ       (DI)(DX*4), DI
	DECQ       CX
	JNE        pt4_loop
	VZEROUPPER

pt4_ret:
	RET

// func packRowsKernel(dst, db, src *float64, lds, k, vecs, panels, ldp int)
//
// Packs panels of 4·vecs columns (vecs is 1, 2 or 3) of the k×n row-major
// matrix src (leading dimension lds):
//
//	dst[q*ldp+p*4*vecs+j] = src[p*lds+q*4*vecs+j]   for q < panels, p < k, j < 4·vecs
//
// and, if db is not nil, adds the column sums of those columns to db, each
// column in increasing p (the sums of a panel stay in Y3–Y5 over a block).
// It goes by blocks of rows, each block across all the panels: the rows
// are read in increasing addresses, which the prefetchers follow, where a
// panel at a time would read one short strip of every row (the stride of a
// 512-wide matrix is a 4 KiB page). A block is 16, 8 or 4 rows for 1, 2 or
// 3 vectors a row, so that each panel gets about 512 bytes at a time:
// measured on 512×512, fewer rows a block write too many short streams
// (4 rows of slivers take 3.5 times as long) and more rows lose the reads
// from L1.
TEXT ·packRowsKernel(SB), NOSPLIT, $0-64
	PACK_ROWS($3, VADDPD)

// func packTailKernel(dst, db, src *float64, lds, k, vecs int, mask *int64)
//
// The partial last panel of packRowsKernel: rows p < k of vecs words,
// dst[p*4*vecs+j] = src[p*lds+j] where mask[j] is all ones and 0 where it
// is 0 (mask holds 12 words, ones then zeros), the columns read and added
// to db (if not nil) only under the mask. Masked lanes are never touched
// in memory, so that src and db may end where the mask does.
TEXT ·packTailKernel(SB), NOSPLIT, $0-56
	PACK_TAIL($3, VMASKMOVPD, VADDPD)

// func nonFiniteKernel(s *float64, n int) bool
//
// Reports whether any of s[0:n] (n a multiple of 4) is ±Inf or NaN: whether
// the exponent field of any element is all ones.
TEXT ·nonFiniteKernel(SB), NOSPLIT, $0-17
	NONFINITE($0x7ff0000000000000, VPBROADCASTQ, VANDPD, VPCMPEQQ, $2)

// func addTransKernel(dst, src *float64, ldd, lds, n int)
//
// Adds the transpose of 4 columns of src to 4 rows of dst, n (a multiple
// of 4) values each:
//
//	dst[r*ldd+j] += src[j*lds+r]   for r < 4, j < n
//
// by 4×4 blocks transposed as in packTrans4Kernel.
TEXT ·addTransKernel(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ldd+16(FP), R8
	MOVQ lds+24(FP), R9
	MOVQ n+32(FP), CX
	SHLQ $3, R8
	SHLQ $3, R9
	LEAQ (R8)(R8*2), R10
	LEAQ (R9)(R9*2), R11
	SHRQ $2, CX
	JE   at_ret

at_loop:
	TRANSPOSE4(R9, R11)
	VADDPD     (DI), Y0, Y0
	VADDPD     (DI)(R8*1), Y1, Y1
	VADDPD     (DI)(R8*2), Y2, Y2
	VADDPD     (DI)(R10*1), Y3, Y3
	VMOVUPD    Y0, (DI)
	VMOVUPD    Y1, (DI)(R8*1)
	VMOVUPD    Y2, (DI)(R8*2)
	VMOVUPD    Y3, (DI)(R10*1)
	ADDQ       $32, DI
	LEAQ       (SI)(R9*4), SI
	DECQ       CX
	JNE        at_loop
	VZEROUPPER

at_ret:
	RET

// func gemmKernelPanels(c *float64, ldc int, a *float64, rs int, b *float64, pstride int, rng *int, panels int, init *float64)
//
// gemmKernel's 4×12 tile for one tile of rows across panels whole panels,
// A row-major (element (i, p) at a[i*rs+p]): for q < panels, i < 4, j < 12,
// with [p0, p1) = [rng[2q], rng[2q+1]),
//
//	c[i*ldc+q*12+j] = s + Σ_{p0≤p<p1} a[i*rs+p]·b[q*pstride+p*12+j]
//
// s being init[q*12+j] if init is not nil and c[i*ldc+q*12+j] otherwise. It
// serves short sums, where a call per panel and row block would cost as
// much as the steps: the tile's rows of C are finished one after the other,
// and the panels (a few hundred KiB) stream from L2.
TEXT ·gemmKernelPanels(SB), NOSPLIT, $0-72
	MOVQ  panels+56(FP), R12
	TESTQ R12, R12
	JLE   gp_ret
	MOVQ  c+0(FP), DI
	MOVQ  ldc+8(FP), R10
	MOVQ  a+16(FP), R13
	MOVQ  rs+24(FP), R8
	MOVQ  b+32(FP), DX
	MOVQ  pstride+40(FP), R11
	MOVQ  rng+48(FP), R15
	MOVQ  init+64(FP), R14
	SHLQ  $3, R10
	SHLQ  $3, R8
	SHLQ  $3, R11
	LEAQ  (R8)(R8*2), R9

gp_panel:
	MOVQ  (R15), SI
	MOVQ  8(R15), CX
	SUBQ  SI, CX
	MOVQ  SI, BX
	IMULQ $96, BX
	ADDQ  DX, BX
	LEAQ  (R13)(SI*8), SI
	TESTQ R14, R14
	JE    gp_loadc
	GEMM_INIT(R14)
	JMP     gp_steps

gp_loadc:
	GEMM_LOADC(AX)

gp_steps:
	CMPQ CX, $4
	JLT  gp_tail

gp_loop4:
	GEMM_STEP(0, $8)
	GEMM_STEP(96, $8)
	GEMM_STEP(192, $8)
	GEMM_STEP(288, $8)
	ADDQ $384, BX
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  gp_loop4

gp_tail:
	TESTQ CX, CX
	JLE   gp_store
	GEMM_STEP(0, $8)
	ADDQ  $96, BX
	DECQ  CX
	JMP   gp_tail

gp_store:
	GEMM_STOREC(AX)
	ADDQ  $96, DI
	ADDQ  R11, DX
	ADDQ  $16, R15
	TESTQ R14, R14
	JE    gp_next
	ADDQ  $96, R14

gp_next:
	DECQ R12
	JNE  gp_panel
	VZEROUPPER

gp_ret:
	RET

// func adamKernel(p, m, v, grad *float64, n int, c *adamConsts)
//
// One Adam step on n elements (a multiple of 4), the operations of adamRef
// in its order, none fused: m = b1·m + c1·g, v = b2·v + (c2·g)·g,
// p = p − ((step·m)/(√v·isc2 + eps) + lrwd·p), with c = [b1, c1, b2, c2,
// step, isc2, eps, lrwd].
TEXT ·adamKernel(SB), NOSPLIT, $0-48
	ADAM_BODY($2, VBROADCASTSD, 8, VMOVUPD, VMULPD, VADDPD, VSUBPD, VSQRTPD, VDIVPD)

// func dotRowsKernel(y *float64, incy int, a *float64, lda int, x *float64, k, rows int)
//
// For each i < rows: y[i*incy] += Σ_{p<k} a[i*lda+p]·x[p] (C with one or two
// columns: a matrix times a vector). The sum runs in four vector sums
// s0–s3 over blocks of 16 terms (s_r lane l taking the terms 16b+4r+l),
// then blocks of 4 into s0; then ((s0+s1)+(s2+s3)) lane by lane, its lanes
// as (l0+l2)+(l1+l3); then the last k mod 4 terms one at a time, each
// fused onto the sum; the sum is added to y last (dotRowsModel in the
// tests writes the same order out in Go).
TEXT ·dotRowsKernel(SB), NOSPLIT, $0-56
	DOT_HEAD($3, $16, $4, VXORPD, VMOVUPD, VFMADD231PD)
	VADDPD       Y1, Y0, Y0
	VADDPD       Y3, Y2, Y2
	VADDPD       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VPERMILPD    $1, X0, X1
	VADDSD       X1, X0, X0
	DOT_TAIL($8, VMOVSD, VFMADD231SD, VADDSD)

// func axpyRowsKernel(y *float64, n int, a *float64, lda int, v *float64, incv, rows int)
//
// For each p < n: y[p] = (…((y[p] + v[0]·a[p]) + v[incv]·a[lda+p]) + …),
// each step fused, over the rows i < rows in increasing i (v[i*incv] times
// a[i*lda+p]): A's transpose times a vector, added to y. The columns go in
// blocks of 32 (eight sums, one per word), then of 4, then one by one.
TEXT ·axpyRowsKernel(SB), NOSPLIT, $0-56
	AXPY_BODY($3, $8, $32, $4, VBROADCASTSD, VMOVUPD, VMOVSD, VFMADD231PD, VFMADD231SD)

// func gemmKernel32(c *float32, ldc int, a *float32, rs, ps, ts int, b *float32, k, tiles int, init *float32)
//
// gemmKernel in float32 (kernels_f32.go, gemmKernel32Ref): tiles of 4 rows
// and 24 columns, three 8-lane registers a row, in the same registers
// (sums in Y0–Y11, a row of the panel in Y12–Y14, a broadcast element of A
// in Y15). A panel row of 24 float32 is 96 bytes, as the float64 kernel's
// row of 12 is, so the panel offsets are the same; the strides are scaled
// by 4 bytes instead of 8.
#define GEMM32_STEP(boff, inc) GEMM_STEPT(boff, inc, VMOVUPS, VBROADCASTSS, VFMADD231PS)

TEXT ·gemmKernel32(SB), NOSPLIT, $0-80
	GEMM_ARGST(gemm32_ret, $2)
	LEAQ  (R8)(R8*2), R9

gemm32_tile:
	MOVQ  R13, SI
	MOVQ  DX, BX
	MOVQ  R11, CX
	MOVQ  init+72(FP), R14
	TESTQ R14, R14
	JE    gemm32_loadc
	GEMM_INIT(R14)
	JMP   gemm32_steps

gemm32_loadc:
	GEMM_LOADC(R14)

gemm32_steps:
	CMPQ CX, $4
	JLT  gemm32_tail

gemm32_loop4:
	GEMM32_STEP(0, AX)
	GEMM32_STEP(96, AX)
	GEMM32_STEP(192, AX)
	GEMM32_STEP(288, AX)
	ADDQ  $384, BX
	SUBQ  $4, CX
	CMPQ  CX, $4
	JGE   gemm32_loop4
	TESTQ CX, CX
	JE    gemm32_store

gemm32_tail:
	GEMM32_STEP(0, AX)
	ADDQ $96, BX
	DECQ CX
	JNE  gemm32_tail

gemm32_store:
	GEMM_STOREC(R14)
	LEAQ (R10)(R10*2), CX
	LEAQ (DI)(CX*1), DI
	ADDQ R10, DI
	MOVQ ts+40(FP), CX
	LEAQ (R13)(CX*4), R13
	DECQ R12
	JNE  gemm32_tile
	VZEROUPPER

gemm32_ret:
	RET

// func cvt32to64Kernel(dst *float64, src *float32, n int)
//
// dst[i] = float64(src[i]) for i < n (exact); n is a multiple of 4.
TEXT ·cvt32to64Kernel(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $2, CX
	JE   cvt64_ret

cvt64_loop:
	VCVTPS2PD (SI), Y0
	VMOVUPD   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	DECQ      CX
	JNE       cvt64_loop
	VZEROUPPER

cvt64_ret:
	RET

// func cvt64to32Kernel(dst *float32, src *float64, n int)
//
// dst[i] = float32(src[i]) for i < n, rounded to nearest even as Go's
// conversion rounds; n is a multiple of 4.
TEXT ·cvt64to32Kernel(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $2, CX
	JE   cvt32_ret

cvt32_loop:
	VCVTPD2PSY (SI), X0
	VMOVUPS    X0, (DI)
	ADDQ       $32, SI
	ADDQ       $16, DI
	DECQ       CX
	JNE        cvt32_loop
	VZEROUPPER

cvt32_ret:
	RET

// func reluRowsKernel32(c *float32, ldc, rows, vecs int)
//
// reluRowsKernel over float32: rows of 8·vecs values.
TEXT ·reluRowsKernel32(SB), NOSPLIT, $0-32
	RELU_ROWS($2, VCMPPS, VANDNPS)

// func reluBackRowsKernel32(c, h *float32, ldc, rows, vecs int)
//
// reluBackRowsKernel over float32: rows of 8·vecs values.
TEXT ·reluBackRowsKernel32(SB), NOSPLIT, $0-40
	RELU_BACK_ROWS($2, VCMPPS, VANDNPS)

// func packRowsKernel32(dst, db, src *float32, lds, k, vecs, panels, ldp int)
//
// packRowsKernel over float32: panels of 8·vecs columns, the column sums
// added to db in float32 (VADDPS), each column in increasing p. A panel
// row of 3 vectors is 96 bytes in both precisions, so the blocks of rows
// are the same.
TEXT ·packRowsKernel32(SB), NOSPLIT, $0-64
	PACK_ROWS($2, VADDPS)

// func packTailKernel32(dst, db, src *float32, lds, k, vecs int, mask *int32)
//
// packTailKernel over float32: mask holds 24 int32, ones then zeros.
TEXT ·packTailKernel32(SB), NOSPLIT, $0-56
	PACK_TAIL($2, VMASKMOVPS, VADDPS)

// func packTrans4Kernel32(dst, src *float32, lds, k, ldd int)
//
// packTrans4Kernel over float32, k (a multiple of 8) values at a time:
//
//	dst[p*ldd+r] = src[r*lds+p]   for r < 4, p < k
//
// Four rows of eight values are loaded; the in-lane unpacks and shuffles
// transpose the two 4×4 blocks of the 128-bit lanes at once (p = 0…3 in
// the low lanes, 4…7 in the high ones), and each block's four rows of dst
// are stored from the lanes.
TEXT ·packTrans4Kernel32(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R8
	MOVQ k+24(FP), CX
	MOVQ ldd+32(FP), DX
	SHLQ $2, R8
	SHLQ $2, DX
	LEAQ (R8)(R8*2), R9
	LEAQ (DX)(DX*2), R10
	SHRQ $3, CX
	JE   ptf_ret

ptf_loop:
	VMOVUPS      (SI), Y0
	VMOVUPS      (SI)(R8*1), Y1
	VMOVUPS      (SI)(R8*2), Y2
	VMOVUPS      (SI)(R9*1), Y3
	VUNPCKLPS    Y1, Y0, Y4
	VUNPCKHPS    Y1, Y0, Y5
	VUNPCKLPS    Y3, Y2, Y6
	VUNPCKHPS    Y3, Y2, Y7
	VSHUFPS      $0x44, Y6, Y4, Y0
	VSHUFPS      $0xEE, Y6, Y4, Y1
	VSHUFPS      $0x44, Y7, Y5, Y2
	VSHUFPS      $0xEE, Y7, Y5, Y3
	VMOVUPS      X0, (DI)
	VMOVUPS      X1, (DI)(DX*1)
	VMOVUPS      X2, (DI)(DX*2)
	VMOVUPS      X3, (DI)(R10*1)
	LEAQ         (DI)(DX*4), DI
	VEXTRACTF128 $1, Y0, (DI)
	VEXTRACTF128 $1, Y1, (DI)(DX*1)
	VEXTRACTF128 $1, Y2, (DI)(DX*2)
	VEXTRACTF128 $1, Y3, (DI)(R10*1)
	LEAQ         (DI)(DX*4), DI
	ADDQ         $32, SI
	DECQ         CX
	JNE          ptf_loop
	VZEROUPPER

ptf_ret:
	RET

// func nonFiniteKernel32(s *float32, n int) bool
//
// nonFiniteKernel over float32 (n a multiple of 8).
TEXT ·nonFiniteKernel32(SB), NOSPLIT, $0-17
	NONFINITE($0x7f800000, VPBROADCASTD, VANDPS, VPCMPEQD, $3)

// func packRows4Kernel32(dst, db, src *float32, lds, k, panels int)
//
// packRowsKernel32 for panels of 4 columns (the slivers of A, gemm32MR
// wide), one 16-byte row each:
//
//	dst[q*4*k+p*4+j] = src[p*lds+q*4+j]   for q < panels, p < k, j < 4
//
// and, if db is not nil, the column sums added to db, each column in
// increasing p. As packRowsKernel, by blocks of rows (32, so that each
// panel gets 512 bytes at a time) across all the panels.
TEXT ·packRows4Kernel32(SB), NOSPLIT, $0-48
	MOVQ  dst+0(FP), DI
	MOVQ  src+16(FP), SI
	MOVQ  lds+24(FP), R8
	MOVQ  k+32(FP), CX
	MOVQ  panels+40(FP), R9
	SHLQ  $2, R8
	MOVQ  CX, R10
	SHLQ  $4, R10
	TESTQ CX, CX
	JLE   p4_ret
	TESTQ R9, R9
	JLE   p4_ret

p4_block:
	MOVQ    $32, R12
	CMPQ    CX, R12
	CMOVQLT CX, R12
	MOVQ    SI, BX
	MOVQ    DI, R13
	MOVQ    R9, AX
	MOVQ    db+8(FP), R11

p4_panel:
	MOVQ  BX, R14
	MOVQ  R13, R15
	MOVQ  R12, DX
	TESTQ R11, R11
	JE    p4_row

	VMOVUPS (R11), X3

p4d_row:
	VMOVUPS (R14), X0
	VMOVUPS X0, (R15)
	VADDPS  X0, X3, X3
	ADDQ    R8, R14
	ADDQ    $16, R15
	DECQ    DX
	JNE     p4d_row
	VMOVUPS X3, (R11)
	ADDQ    $16, R11
	JMP     p4_next

p4_row:
	VMOVUPS (R14), X0
	VMOVUPS X0, (R15)
	ADDQ    R8, R14
	ADDQ    $16, R15
	DECQ    DX
	JNE     p4_row

p4_next:
	ADDQ $16, BX
	ADDQ R10, R13
	DECQ AX
	JNE  p4_panel
	MOVQ R8, R14
	SHLQ $5, R14
	ADDQ R14, SI
	ADDQ $512, DI
	SUBQ $32, CX
	JG   p4_block

p4_ret:
	RET

// func adamKernel32(p, m, v, grad *float32, n int, c *[8]float32)
//
// adamKernel in float32 (adam32Ref): the same operations in the same
// order, none fused, on 8 lanes, with the constants rounded to float32;
// VSQRTPS and VDIVPS round correctly, as the reference's conversions do.
// n is a multiple of 8.
TEXT ·adamKernel32(SB), NOSPLIT, $0-48
	ADAM_BODY($3, VBROADCASTSS, 4, VMOVUPS, VMULPS, VADDPS, VSUBPS, VSQRTPS, VDIVPS)

// func addKernel32(dst, src *float32, n int)
//
// addKernel over float32: dst[i] += src[i] for i < n, a multiple of 8.
TEXT ·addKernel32(SB), NOSPLIT, $0-24
	ADD_BODY($3, VADDPS)

// func dotRowsKernel32(y *float32, incy int, a *float32, lda int, x *float32, k, rows int)
//
// dotRowsKernel in float32: for each i < rows, y[i*incy] += Σ_{p<k}
// a[i*lda+p]·x[p]. The sum runs in four vector sums s0–s3 over blocks of
// 32 terms (s_r lane l taking the terms 32b+8r+l), then blocks of 8 into
// s0; then v = (s0+s1)+(s2+s3) lane by lane, u_l = v_l+v_{l+4}, and
// (u0+u2)+(u1+u3); then the last k mod 8 terms one at a time, each fused
// onto the sum; the sum is added to y last (dotRows32Model in the tests
// writes the same order out in Go).
TEXT ·dotRowsKernel32(SB), NOSPLIT, $0-56
	DOT_HEAD($2, $32, $8, VXORPS, VMOVUPS, VFMADD231PS)
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	HSUM8(Y0, X0, X1)
	DOT_TAIL($4, VMOVSS, VFMADD231SS, VADDSS)

// func axpyRowsKernel32(y *float32, n int, a *float32, lda int, v *float32, incv, rows int)
//
// axpyRowsKernel in float32: for each p < n, y[p] = (…((y[p] +
// v[0]·a[p]) + v[incv]·a[lda+p]) + …), each step fused, over the rows
// i < rows in increasing i. The columns go in blocks of 64 (eight sums, one
// per word), then of 8, then one by one.
TEXT ·axpyRowsKernel32(SB), NOSPLIT, $0-56
	AXPY_BODY($2, $4, $64, $8, VBROADCASTSS, VMOVUPS, VMOVSS, VFMADD231PS, VFMADD231SS)

// The constants of expKernel32, each in the 8 lanes of a vector: the
// clamps of x, log₂e, ln 2 in two parts (C1 with 9 significant bits, so
// k·C1 is exact for |k| ≤ 150; C2 = ln 2 − C1 rounded), g's Taylor
// coefficients 1/7! … 1/2!, ½, and 1.5·2²³ + 127 (an integer-valued k
// added to it leaves k + 127 in the low bits).
#define EXP32_LO 0
#define EXP32_HI 32
#define EXP32_LOG2E 64
#define EXP32_C1 96
#define EXP32_C2 128
#define EXP32_G5 160
#define EXP32_G4 192
#define EXP32_G3 224
#define EXP32_G2 256
#define EXP32_G1 288
#define EXP32_G0 320
#define EXP32_HALF 352
#define EXP32_BIAS 384
#define EXP32_SIGN 416

DATA exp32c<>+0(SB)/4, $0xc2d00000
DATA exp32c<>+4(SB)/4, $0xc2d00000
DATA exp32c<>+8(SB)/4, $0xc2d00000
DATA exp32c<>+12(SB)/4, $0xc2d00000
DATA exp32c<>+16(SB)/4, $0xc2d00000
DATA exp32c<>+20(SB)/4, $0xc2d00000
DATA exp32c<>+24(SB)/4, $0xc2d00000
DATA exp32c<>+28(SB)/4, $0xc2d00000
DATA exp32c<>+32(SB)/4, $0x42b20000
DATA exp32c<>+36(SB)/4, $0x42b20000
DATA exp32c<>+40(SB)/4, $0x42b20000
DATA exp32c<>+44(SB)/4, $0x42b20000
DATA exp32c<>+48(SB)/4, $0x42b20000
DATA exp32c<>+52(SB)/4, $0x42b20000
DATA exp32c<>+56(SB)/4, $0x42b20000
DATA exp32c<>+60(SB)/4, $0x42b20000
DATA exp32c<>+64(SB)/4, $0x3fb8aa3b
DATA exp32c<>+68(SB)/4, $0x3fb8aa3b
DATA exp32c<>+72(SB)/4, $0x3fb8aa3b
DATA exp32c<>+76(SB)/4, $0x3fb8aa3b
DATA exp32c<>+80(SB)/4, $0x3fb8aa3b
DATA exp32c<>+84(SB)/4, $0x3fb8aa3b
DATA exp32c<>+88(SB)/4, $0x3fb8aa3b
DATA exp32c<>+92(SB)/4, $0x3fb8aa3b
DATA exp32c<>+96(SB)/4, $0x3f318000
DATA exp32c<>+100(SB)/4, $0x3f318000
DATA exp32c<>+104(SB)/4, $0x3f318000
DATA exp32c<>+108(SB)/4, $0x3f318000
DATA exp32c<>+112(SB)/4, $0x3f318000
DATA exp32c<>+116(SB)/4, $0x3f318000
DATA exp32c<>+120(SB)/4, $0x3f318000
DATA exp32c<>+124(SB)/4, $0x3f318000
DATA exp32c<>+128(SB)/4, $0xb95e8083
DATA exp32c<>+132(SB)/4, $0xb95e8083
DATA exp32c<>+136(SB)/4, $0xb95e8083
DATA exp32c<>+140(SB)/4, $0xb95e8083
DATA exp32c<>+144(SB)/4, $0xb95e8083
DATA exp32c<>+148(SB)/4, $0xb95e8083
DATA exp32c<>+152(SB)/4, $0xb95e8083
DATA exp32c<>+156(SB)/4, $0xb95e8083
DATA exp32c<>+160(SB)/4, $0x39500d01
DATA exp32c<>+164(SB)/4, $0x39500d01
DATA exp32c<>+168(SB)/4, $0x39500d01
DATA exp32c<>+172(SB)/4, $0x39500d01
DATA exp32c<>+176(SB)/4, $0x39500d01
DATA exp32c<>+180(SB)/4, $0x39500d01
DATA exp32c<>+184(SB)/4, $0x39500d01
DATA exp32c<>+188(SB)/4, $0x39500d01
DATA exp32c<>+192(SB)/4, $0x3ab60b61
DATA exp32c<>+196(SB)/4, $0x3ab60b61
DATA exp32c<>+200(SB)/4, $0x3ab60b61
DATA exp32c<>+204(SB)/4, $0x3ab60b61
DATA exp32c<>+208(SB)/4, $0x3ab60b61
DATA exp32c<>+212(SB)/4, $0x3ab60b61
DATA exp32c<>+216(SB)/4, $0x3ab60b61
DATA exp32c<>+220(SB)/4, $0x3ab60b61
DATA exp32c<>+224(SB)/4, $0x3c088889
DATA exp32c<>+228(SB)/4, $0x3c088889
DATA exp32c<>+232(SB)/4, $0x3c088889
DATA exp32c<>+236(SB)/4, $0x3c088889
DATA exp32c<>+240(SB)/4, $0x3c088889
DATA exp32c<>+244(SB)/4, $0x3c088889
DATA exp32c<>+248(SB)/4, $0x3c088889
DATA exp32c<>+252(SB)/4, $0x3c088889
DATA exp32c<>+256(SB)/4, $0x3d2aaaab
DATA exp32c<>+260(SB)/4, $0x3d2aaaab
DATA exp32c<>+264(SB)/4, $0x3d2aaaab
DATA exp32c<>+268(SB)/4, $0x3d2aaaab
DATA exp32c<>+272(SB)/4, $0x3d2aaaab
DATA exp32c<>+276(SB)/4, $0x3d2aaaab
DATA exp32c<>+280(SB)/4, $0x3d2aaaab
DATA exp32c<>+284(SB)/4, $0x3d2aaaab
DATA exp32c<>+288(SB)/4, $0x3e2aaaab
DATA exp32c<>+292(SB)/4, $0x3e2aaaab
DATA exp32c<>+296(SB)/4, $0x3e2aaaab
DATA exp32c<>+300(SB)/4, $0x3e2aaaab
DATA exp32c<>+304(SB)/4, $0x3e2aaaab
DATA exp32c<>+308(SB)/4, $0x3e2aaaab
DATA exp32c<>+312(SB)/4, $0x3e2aaaab
DATA exp32c<>+316(SB)/4, $0x3e2aaaab
DATA exp32c<>+320(SB)/4, $0x3f000000
DATA exp32c<>+324(SB)/4, $0x3f000000
DATA exp32c<>+328(SB)/4, $0x3f000000
DATA exp32c<>+332(SB)/4, $0x3f000000
DATA exp32c<>+336(SB)/4, $0x3f000000
DATA exp32c<>+340(SB)/4, $0x3f000000
DATA exp32c<>+344(SB)/4, $0x3f000000
DATA exp32c<>+348(SB)/4, $0x3f000000
DATA exp32c<>+352(SB)/4, $0x3f000000
DATA exp32c<>+356(SB)/4, $0x3f000000
DATA exp32c<>+360(SB)/4, $0x3f000000
DATA exp32c<>+364(SB)/4, $0x3f000000
DATA exp32c<>+368(SB)/4, $0x3f000000
DATA exp32c<>+372(SB)/4, $0x3f000000
DATA exp32c<>+376(SB)/4, $0x3f000000
DATA exp32c<>+380(SB)/4, $0x3f000000
DATA exp32c<>+384(SB)/4, $0x4b40007f
DATA exp32c<>+388(SB)/4, $0x4b40007f
DATA exp32c<>+392(SB)/4, $0x4b40007f
DATA exp32c<>+396(SB)/4, $0x4b40007f
DATA exp32c<>+400(SB)/4, $0x4b40007f
DATA exp32c<>+404(SB)/4, $0x4b40007f
DATA exp32c<>+408(SB)/4, $0x4b40007f
DATA exp32c<>+412(SB)/4, $0x4b40007f
DATA exp32c<>+416(SB)/4, $0x80000000
DATA exp32c<>+420(SB)/4, $0x80000000
DATA exp32c<>+424(SB)/4, $0x80000000
DATA exp32c<>+428(SB)/4, $0x80000000
DATA exp32c<>+432(SB)/4, $0x80000000
DATA exp32c<>+436(SB)/4, $0x80000000
DATA exp32c<>+440(SB)/4, $0x80000000
DATA exp32c<>+444(SB)/4, $0x80000000
GLOBL exp32c<>(SB), RODATA|NOPTR, $448

// exp32mask is 8 words of ones and 8 of zeros: the 32 bytes from
// 4·(8 − r) are the mask of a vector's first r lanes.
DATA exp32mask<>+0(SB)/4, $0xffffffff
DATA exp32mask<>+4(SB)/4, $0xffffffff
DATA exp32mask<>+8(SB)/4, $0xffffffff
DATA exp32mask<>+12(SB)/4, $0xffffffff
DATA exp32mask<>+16(SB)/4, $0xffffffff
DATA exp32mask<>+20(SB)/4, $0xffffffff
DATA exp32mask<>+24(SB)/4, $0xffffffff
DATA exp32mask<>+28(SB)/4, $0xffffffff
DATA exp32mask<>+32(SB)/4, $0x00000000
DATA exp32mask<>+36(SB)/4, $0x00000000
DATA exp32mask<>+40(SB)/4, $0x00000000
DATA exp32mask<>+44(SB)/4, $0x00000000
DATA exp32mask<>+48(SB)/4, $0x00000000
DATA exp32mask<>+52(SB)/4, $0x00000000
DATA exp32mask<>+56(SB)/4, $0x00000000
DATA exp32mask<>+60(SB)/4, $0x00000000
GLOBL exp32mask<>(SB), RODATA|NOPTR, $64

// EXP8 sets Y3 to exp(Y0) lane by lane, expKernel32's operations; Y1, Y2
// and Y4 are clobbered.
#define EXP8 \
	VMAXPS       exp32c<>+EXP32_LO(SB), Y0, Y1 \
	VMINPS       exp32c<>+EXP32_HI(SB), Y1, Y1 \
	VMULPS       exp32c<>+EXP32_LOG2E(SB), Y1, Y2 \
	VROUNDPS     $0, Y2, Y2 \
	VFNMADD231PS exp32c<>+EXP32_C1(SB), Y2, Y1 \
	VFNMADD231PS exp32c<>+EXP32_C2(SB), Y2, Y1 \
	VMOVUPS      exp32c<>+EXP32_G5(SB), Y3 \
	VFMADD213PS  exp32c<>+EXP32_G4(SB), Y1, Y3 \
	VFMADD213PS  exp32c<>+EXP32_G3(SB), Y1, Y3 \
	VFMADD213PS  exp32c<>+EXP32_G2(SB), Y1, Y3 \
	VFMADD213PS  exp32c<>+EXP32_G1(SB), Y1, Y3 \
	VFMADD213PS  exp32c<>+EXP32_G0(SB), Y1, Y3 \
	VMULPS       Y1, Y1, Y4 \
	VFMADD213PS  Y1, Y4, Y3 \
	VMULPS       exp32c<>+EXP32_HALF(SB), Y2, Y4 \
	VROUNDPS     $1, Y4, Y4 \
	VSUBPS       Y4, Y2, Y2 \
	VADDPS       exp32c<>+EXP32_BIAS(SB), Y4, Y4 \
	VADDPS       exp32c<>+EXP32_BIAS(SB), Y2, Y2 \
	VPSLLD       $23, Y4, Y4 \
	VPSLLD       $23, Y2, Y2 \
	VFMADD213PS  Y4, Y4, Y3 \
	VMULPS       Y2, Y3, Y3 \
	VCMPPS       $3, Y0, Y0, Y4 \
	VBLENDVPS    Y4, Y0, Y3, Y3

// func expKernel32(dst, src *float32, n int)
//
// dst[i] = exp(src[i]) for i < n, in float32 arithmetic (exp32Model in
// the tests writes the same operations out in Go), the last n mod 8 by a
// masked vector (the lanes past n read as 0 and not written): x clamped
// to [−104, 89] (NaN to −104), k = round(x·log₂e), r = (x − k·C1) − k·C2
// by two fused steps, exp(r) = 1 + (r + r²·g(r)) with g(r) = (exp(r) − 1
// − r)/r² ≈ ½ + r/3! + … + r⁵/7! by Horner's rule, fused; the result
// (r + r²·g)·2ᵗ + 2ᵗ, fused, times 2^(k−t), t = ⌊k/2⌋, so that both powers
// are normal down to the subnormal results; exp overflows to +Inf through
// the last product (k = 128 for x > 88.72…), is 0 below about −103.97,
// and NaN stays NaN.
TEXT ·expKernel32(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ CX, DX
	ANDQ $7, DX
	SHRQ $3, CX
	JE   exp32_tail

exp32_loop:
	VMOVUPS (SI), Y0
	EXP8
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNE     exp32_loop

exp32_tail:
	TESTQ      DX, DX
	JE         exp32_done
	NEGQ       DX
	LEAQ       exp32mask<>+32(SB), AX
	VMOVUPS    (AX)(DX*4), Y5
	VMASKMOVPS (SI), Y5, Y0
	EXP8
	VMASKMOVPS Y3, Y5, (DI)

exp32_done:
	VZEROUPPER
	RET

// func affineInverseKernel32(z, e, x, mu, alpha *float32, n int) float32
//
// affineInverseKernel in float32: for d < n, e[d] = exp(−alpha[d]) (EXP8,
// expKernel32's operations) and z[d] = (x[d] − mu[d])·e[d], each
// operation rounded; returns Σ alpha[d], summed in 8 lanes (lane l the
// terms 8b + l in order) and then HSUM8. The last n mod 8 by masked
// loads and stores (affine32Model in the tests writes it out in Go).
TEXT ·affineInverseKernel32(SB), NOSPLIT, $0-52
	MOVQ   z+0(FP), DI
	MOVQ   e+8(FP), DX
	MOVQ   x+16(FP), SI
	MOVQ   mu+24(FP), R8
	MOVQ   alpha+32(FP), R9
	MOVQ   n+40(FP), CX
	VXORPS Y8, Y8, Y8
	MOVQ   CX, R10
	ANDQ   $7, R10
	SHRQ   $3, CX
	JE     affinv32_tail

affinv32_loop:
	VMOVUPS (R9), Y6
	VADDPS  Y6, Y8, Y8
	VXORPS  exp32c<>+EXP32_SIGN(SB), Y6, Y0
	EXP8
	VMOVUPS (SI), Y7
	VSUBPS  (R8), Y7, Y7
	VMULPS  Y3, Y7, Y7
	VMOVUPS Y3, (DX)
	VMOVUPS Y7, (DI)
	ADDQ    $32, R9
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNE     affinv32_loop

affinv32_tail:
	TESTQ      R10, R10
	JE         affinv32_sum
	NEGQ       R10
	LEAQ       exp32mask<>+32(SB), AX
	VMOVUPS    (AX)(R10*4), Y5
	VMASKMOVPS (R9), Y5, Y6
	VADDPS     Y6, Y8, Y8
	VXORPS     exp32c<>+EXP32_SIGN(SB), Y6, Y0
	EXP8
	VMASKMOVPS (SI), Y5, Y7
	VMASKMOVPS (R8), Y5, Y9
	VSUBPS     Y9, Y7, Y7
	VMULPS     Y3, Y7, Y7
	VMASKMOVPS Y3, Y5, (DX)
	VMASKMOVPS Y7, Y5, (DI)

affinv32_sum:
	HSUM8(Y8, X8, X9)
	VZEROUPPER
	MOVSS X8, ret+48(FP)
	RET

// func affineForwardKernel32(x, e, z, mu, alpha *float32, n int) float32
//
// affineForwardKernel in float32: for d < n, e[d] = exp(alpha[d]) and
// x[d] = z[d]·e[d] + mu[d] (a product and a sum, each rounded); returns
// Σ alpha[d] as affineInverseKernel32 does.
TEXT ·affineForwardKernel32(SB), NOSPLIT, $0-52
	MOVQ   x+0(FP), DI
	MOVQ   e+8(FP), DX
	MOVQ   z+16(FP), SI
	MOVQ   mu+24(FP), R8
	MOVQ   alpha+32(FP), R9
	MOVQ   n+40(FP), CX
	VXORPS Y8, Y8, Y8
	MOVQ   CX, R10
	ANDQ   $7, R10
	SHRQ   $3, CX
	JE     afffwd32_tail

afffwd32_loop:
	VMOVUPS (R9), Y0
	VADDPS  Y0, Y8, Y8
	EXP8
	VMOVUPS (SI), Y7
	VMULPS  Y3, Y7, Y7
	VADDPS  (R8), Y7, Y7
	VMOVUPS Y3, (DX)
	VMOVUPS Y7, (DI)
	ADDQ    $32, R9
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNE     afffwd32_loop

afffwd32_tail:
	TESTQ      R10, R10
	JE         afffwd32_sum
	NEGQ       R10
	LEAQ       exp32mask<>+32(SB), AX
	VMOVUPS    (AX)(R10*4), Y5
	VMASKMOVPS (R9), Y5, Y0
	VADDPS     Y0, Y8, Y8
	EXP8
	VMASKMOVPS (SI), Y5, Y7
	VMASKMOVPS (R8), Y5, Y9
	VMULPS     Y3, Y7, Y7
	VADDPS     Y9, Y7, Y7
	VMASKMOVPS Y3, Y5, (DX)
	VMASKMOVPS Y7, Y5, (DI)

afffwd32_sum:
	HSUM8(Y8, X8, X9)
	VZEROUPPER
	MOVSS X8, ret+48(FP)
	RET
