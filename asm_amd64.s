// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego

#include "textflag.h"

// AVX2+FMA kernels. The Go side (kernels_simd.go, kernels_amd64.go) calls
// them only when the CPU has AVX2 and FMA, and only with lengths that are
// multiples of 4 for the vector loops.

// func gemmKernel(c *float64, ldc int, a *float64, lda int, b *float64, k int)
//
// For i < 4, j < 12: c[i*ldc+j] += Σ_{p<k} a[i*lda+p]·b[p*12+j].
// The 4×12 block of sums lives in Y0–Y11; each step loads one row of the
// packed panel (Y12–Y14) and broadcasts one element of each row of a (Y15).
#define GEMM_STEP(boff, aoff) \
	VMOVUPD boff(BX), Y12 \
	VMOVUPD boff+32(BX), Y13 \
	VMOVUPD boff+64(BX), Y14 \
	VBROADCASTSD aoff(SI), Y15 \
	VFMADD231PD Y12, Y15, Y0 \
	VFMADD231PD Y13, Y15, Y1 \
	VFMADD231PD Y14, Y15, Y2 \
	VBROADCASTSD aoff(SI)(R8*1), Y15 \
	VFMADD231PD Y12, Y15, Y3 \
	VFMADD231PD Y13, Y15, Y4 \
	VFMADD231PD Y14, Y15, Y5 \
	VBROADCASTSD aoff(SI)(R8*2), Y15 \
	VFMADD231PD Y12, Y15, Y6 \
	VFMADD231PD Y13, Y15, Y7 \
	VFMADD231PD Y14, Y15, Y8 \
	VBROADCASTSD aoff(SI)(R9*1), Y15 \
	VFMADD231PD Y12, Y15, Y9 \
	VFMADD231PD Y13, Y15, Y10 \
	VFMADD231PD Y14, Y15, Y11

#define GEMM_STORE(row, a0, a1, a2) \
	VADDPD (row), a0, a0 \
	VADDPD 32(row), a1, a1 \
	VADDPD 64(row), a2, a2 \
	VMOVUPD a0, (row) \
	VMOVUPD a1, 32(row) \
	VMOVUPD a2, 64(row)

TEXT ·gemmKernel(SB), NOSPLIT, $0-48
	MOVQ k+40(FP), CX
	TESTQ CX, CX
	JLE  gemm_ret
	MOVQ c+0(FP), DI
	MOVQ ldc+8(FP), R10
	MOVQ a+16(FP), SI
	MOVQ lda+24(FP), R8
	MOVQ b+32(FP), BX
	SHLQ $3, R10
	SHLQ $3, R8
	LEAQ (R8)(R8*2), R9
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11
	CMPQ CX, $4
	JLT  gemm_tail

gemm_loop4:
	GEMM_STEP(0, 0)
	GEMM_STEP(96, 8)
	GEMM_STEP(192, 16)
	GEMM_STEP(288, 24)
	ADDQ $384, BX
	ADDQ $32, SI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  gemm_loop4
	TESTQ CX, CX
	JE   gemm_store

gemm_tail:
	GEMM_STEP(0, 0)
	ADDQ $96, BX
	ADDQ $8, SI
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
	VZEROUPPER

gemm_ret:
	RET
