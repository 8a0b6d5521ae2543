// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego

#include "textflag.h"

// NEON kernels. The Go side (kernels_simd.go, kernels_arm64.go) calls the
// vector loops only with lengths that are multiples of 2.

// func gemmKernel(c *float64, ldc int, a *float64, lda int, b *float64, k int)
//
// For i < 4, j < 8: c[i*ldc+j] += Σ_{p<k} a[i*lda+p]·b[p*8+j], the sums over
// p running in increasing p on top of the initial c.
// The 4×8 block lives in V16–V31 (row i, columns 2g, 2g+1 in V(16+4i+g));
// each step loads one row of the packed panel (V0–V3) and replicates one
// element of each row of a (V4–V7).
#define GEMM_STEP \
	VLD1.P  64(R1), [V0.D2, V1.D2, V2.D2, V3.D2] \
	VLD1R.P 8(R2), [V4.D2] \
	VLD1R.P 8(R3), [V5.D2] \
	VLD1R.P 8(R4), [V6.D2] \
	VLD1R.P 8(R5), [V7.D2] \
	VFMLA   V0.D2, V4.D2, V16.D2 \
	VFMLA   V1.D2, V4.D2, V17.D2 \
	VFMLA   V2.D2, V4.D2, V18.D2 \
	VFMLA   V3.D2, V4.D2, V19.D2 \
	VFMLA   V0.D2, V5.D2, V20.D2 \
	VFMLA   V1.D2, V5.D2, V21.D2 \
	VFMLA   V2.D2, V5.D2, V22.D2 \
	VFMLA   V3.D2, V5.D2, V23.D2 \
	VFMLA   V0.D2, V6.D2, V24.D2 \
	VFMLA   V1.D2, V6.D2, V25.D2 \
	VFMLA   V2.D2, V6.D2, V26.D2 \
	VFMLA   V3.D2, V6.D2, V27.D2 \
	VFMLA   V0.D2, V7.D2, V28.D2 \
	VFMLA   V1.D2, V7.D2, V29.D2 \
	VFMLA   V2.D2, V7.D2, V30.D2 \
	VFMLA   V3.D2, V7.D2, V31.D2

TEXT ·gemmKernel(SB), NOSPLIT, $0-48
	MOVD k+40(FP), R7
	CMP  $1, R7
	BLT  gemm_ret
	MOVD c+0(FP), R0
	MOVD ldc+8(FP), R8
	MOVD a+16(FP), R2
	MOVD lda+24(FP), R9
	MOVD b+32(FP), R1
	LSL  $3, R8
	LSL  $3, R9
	ADD  R9, R2, R3
	ADD  R9, R3, R4
	ADD  R9, R4, R5
	ADD  R8, R0, R10
	ADD  R8, R10, R11
	ADD  R8, R11, R12
	VLD1 (R0), [V16.D2, V17.D2, V18.D2, V19.D2]
	VLD1 (R10), [V20.D2, V21.D2, V22.D2, V23.D2]
	VLD1 (R11), [V24.D2, V25.D2, V26.D2, V27.D2]
	VLD1 (R12), [V28.D2, V29.D2, V30.D2, V31.D2]
	CMP  $2, R7
	BLT  gemm_tail

gemm_loop2:
	GEMM_STEP
	GEMM_STEP
	SUB  $2, R7
	CMP  $2, R7
	BGE  gemm_loop2
	CBZ  R7, gemm_store

gemm_tail:
	GEMM_STEP

gemm_store:
	VST1 [V16.D2, V17.D2, V18.D2, V19.D2], (R0)
	VST1 [V20.D2, V21.D2, V22.D2, V23.D2], (R10)
	VST1 [V24.D2, V25.D2, V26.D2, V27.D2], (R11)
	VST1 [V28.D2, V29.D2, V30.D2, V31.D2], (R12)

gemm_ret:
	RET

// func gemmKernelPacked(c *float64, ldc int, a *float64, b *float64, k int)
//
// As gemmKernel, with a packed in a sliver of 4 rows: the element of row i
// at step p is a[p*4+i].
#define GEMMP_STEP \
	VLD1.P  64(R1), [V0.D2, V1.D2, V2.D2, V3.D2] \
	VLD1R.P 8(R2), [V4.D2] \
	VLD1R.P 8(R2), [V5.D2] \
	VLD1R.P 8(R2), [V6.D2] \
	VLD1R.P 8(R2), [V7.D2] \
	VFMLA   V0.D2, V4.D2, V16.D2 \
	VFMLA   V1.D2, V4.D2, V17.D2 \
	VFMLA   V2.D2, V4.D2, V18.D2 \
	VFMLA   V3.D2, V4.D2, V19.D2 \
	VFMLA   V0.D2, V5.D2, V20.D2 \
	VFMLA   V1.D2, V5.D2, V21.D2 \
	VFMLA   V2.D2, V5.D2, V22.D2 \
	VFMLA   V3.D2, V5.D2, V23.D2 \
	VFMLA   V0.D2, V6.D2, V24.D2 \
	VFMLA   V1.D2, V6.D2, V25.D2 \
	VFMLA   V2.D2, V6.D2, V26.D2 \
	VFMLA   V3.D2, V6.D2, V27.D2 \
	VFMLA   V0.D2, V7.D2, V28.D2 \
	VFMLA   V1.D2, V7.D2, V29.D2 \
	VFMLA   V2.D2, V7.D2, V30.D2 \
	VFMLA   V3.D2, V7.D2, V31.D2

TEXT ·gemmKernelPacked(SB), NOSPLIT, $0-40
	MOVD k+32(FP), R7
	CMP  $1, R7
	BLT  gemmp_ret
	MOVD c+0(FP), R0
	MOVD ldc+8(FP), R8
	MOVD a+16(FP), R2
	MOVD b+24(FP), R1
	LSL  $3, R8
	ADD  R8, R0, R10
	ADD  R8, R10, R11
	ADD  R8, R11, R12
	VLD1 (R0), [V16.D2, V17.D2, V18.D2, V19.D2]
	VLD1 (R10), [V20.D2, V21.D2, V22.D2, V23.D2]
	VLD1 (R11), [V24.D2, V25.D2, V26.D2, V27.D2]
	VLD1 (R12), [V28.D2, V29.D2, V30.D2, V31.D2]
	CMP  $2, R7
	BLT  gemmp_tail

gemmp_loop2:
	GEMMP_STEP
	GEMMP_STEP
	SUB  $2, R7
	CMP  $2, R7
	BGE  gemmp_loop2
	CBZ  R7, gemmp_store

gemmp_tail:
	GEMMP_STEP

gemmp_store:
	VST1 [V16.D2, V17.D2, V18.D2, V19.D2], (R0)
	VST1 [V20.D2, V21.D2, V22.D2, V23.D2], (R10)
	VST1 [V24.D2, V25.D2, V26.D2, V27.D2], (R11)
	VST1 [V28.D2, V29.D2, V30.D2, V31.D2], (R12)

gemmp_ret:
	RET
