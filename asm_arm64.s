// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego

#include "textflag.h"

// NEON kernels. The Go side (kernels_arm64.go; kernels_gemm.go and the
// files it lists) calls the vector loops only with lengths that are
// multiples of 2.

// func gemmKernel(c *float64, ldc int, a *float64, rs, ps, ts int, b *float64, k, tiles int, init *float64)
//
// For each of tiles tiles t, i < 4, j < 8:
//
//	c[(4t+i)*ldc+j] = s + Σ_{p<k} a[t*ts+i*rs+p*ps]·b[p*8+j]
//
// the sum over p running in increasing p on top of s, which is init[j] if
// init is not nil (c is then only written) and c[(4t+i)*ldc+j] otherwise; see
// gemmKernel in asm_amd64.s for the three layouts of A this allows.
// The 4×8 block lives in V16–V31 (row i, columns 2g, 2g+1 in V(16+4i+g));
// each step loads one row of the packed panel (V0–V3) and replicates one
// element of each row of a (V4–V7, from R2–R5, each advanced by ps).
#define GEMM_STEP GEMM_STEPT(D2)

// GEMM_STEPT is the step on lanes of arrangement ARR: D2 for float64
// (GEMM_STEP), S4 for float32 (GEMM32_STEP).
#define GEMM_STEPT(ARR) \
	VLD1.P  64(R1), [V0.ARR, V1.ARR, V2.ARR, V3.ARR] \
	VLD1R.P (R2)(R19), [V4.ARR] \
	VLD1R.P (R3)(R19), [V5.ARR] \
	VLD1R.P (R4)(R19), [V6.ARR] \
	VLD1R.P (R5)(R19), [V7.ARR] \
	VFMLA   V0.ARR, V4.ARR, V16.ARR \
	VFMLA   V1.ARR, V4.ARR, V17.ARR \
	VFMLA   V2.ARR, V4.ARR, V18.ARR \
	VFMLA   V3.ARR, V4.ARR, V19.ARR \
	VFMLA   V0.ARR, V5.ARR, V20.ARR \
	VFMLA   V1.ARR, V5.ARR, V21.ARR \
	VFMLA   V2.ARR, V5.ARR, V22.ARR \
	VFMLA   V3.ARR, V5.ARR, V23.ARR \
	VFMLA   V0.ARR, V6.ARR, V24.ARR \
	VFMLA   V1.ARR, V6.ARR, V25.ARR \
	VFMLA   V2.ARR, V6.ARR, V26.ARR \
	VFMLA   V3.ARR, V6.ARR, V27.ARR \
	VFMLA   V0.ARR, V7.ARR, V28.ARR \
	VFMLA   V1.ARR, V7.ARR, V29.ARR \
	VFMLA   V2.ARR, V7.ARR, V30.ARR \
	VFMLA   V3.ARR, V7.ARR, V31.ARR

// GEMM_KERNEL is the body of gemmKernel and gemmKernel32: lanes of
// arrangement ARR, elements of 1<<SH bytes, the step STEP, and the labels
// of the kernel that expands it.
#define GEMM_KERNEL(ARR, SH, STEP, tile, loadc, steps, loop2, tail, store, ret) \
	MOVD k+56(FP), R13 \
	CMP  $1, R13 \
	BLT  ret \
	MOVD tiles+64(FP), R14 \
	CMP  $1, R14 \
	BLT  ret \
	MOVD c+0(FP), R0 \
	MOVD ldc+8(FP), R8 \
	MOVD a+16(FP), R15 \
	MOVD rs+24(FP), R9 \
	MOVD ps+32(FP), R19 \
	MOVD ts+40(FP), R20 \
	MOVD b+48(FP), R6 \
	MOVD init+72(FP), R21 \
	LSL  SH, R8 \
	LSL  SH, R9 \
	LSL  SH, R19 \
	LSL  SH, R20 \
tile: \
	MOVD R15, R2 \
	MOVD R6, R1 \
	MOVD R13, R7 \
	ADD  R9, R2, R3 \
	ADD  R9, R3, R4 \
	ADD  R9, R4, R5 \
	ADD  R8, R0, R10 \
	ADD  R8, R10, R11 \
	ADD  R8, R11, R12 \
	CBZ  R21, loadc \
	VLD1 (R21), [V16.ARR, V17.ARR, V18.ARR, V19.ARR] \
	VMOV V16.B16, V20.B16 \
	VMOV V17.B16, V21.B16 \
	VMOV V18.B16, V22.B16 \
	VMOV V19.B16, V23.B16 \
	VMOV V16.B16, V24.B16 \
	VMOV V17.B16, V25.B16 \
	VMOV V18.B16, V26.B16 \
	VMOV V19.B16, V27.B16 \
	VMOV V16.B16, V28.B16 \
	VMOV V17.B16, V29.B16 \
	VMOV V18.B16, V30.B16 \
	VMOV V19.B16, V31.B16 \
	B    steps \
loadc: \
	VLD1 (R0), [V16.ARR, V17.ARR, V18.ARR, V19.ARR] \
	VLD1 (R10), [V20.ARR, V21.ARR, V22.ARR, V23.ARR] \
	VLD1 (R11), [V24.ARR, V25.ARR, V26.ARR, V27.ARR] \
	VLD1 (R12), [V28.ARR, V29.ARR, V30.ARR, V31.ARR] \
steps: \
	CMP  $2, R7 \
	BLT  tail \
loop2: \
	STEP \
	STEP \
	SUB  $2, R7 \
	CMP  $2, R7 \
	BGE  loop2 \
	CBZ  R7, store \
tail: \
	STEP \
store: \
	VST1 [V16.ARR, V17.ARR, V18.ARR, V19.ARR], (R0) \
	VST1 [V20.ARR, V21.ARR, V22.ARR, V23.ARR], (R10) \
	VST1 [V24.ARR, V25.ARR, V26.ARR, V27.ARR], (R11) \
	VST1 [V28.ARR, V29.ARR, V30.ARR, V31.ARR], (R12) \
	ADD  R8, R12, R0 \
	ADD  R20, R15, R15 \
	SUBS $1, R14, R14 \
	BNE  tile \
ret: \
	RET

TEXT ·gemmKernel(SB), NOSPLIT, $0-80
	GEMM_KERNEL(D2, $3, GEMM_STEP, gemm_tile, gemm_loadc, gemm_steps, gemm_loop2, gemm_tail, gemm_store, gemm_ret)

// func gemmKernel32(c *float32, ldc int, a *float32, rs, ps, ts int, b *float32, k, tiles int, init *float32)
//
// gemmKernel in float32 (kernels_f32.go, gemmKernel32Ref): tiles of 4 rows
// and 16 columns, in the same registers with 4 lanes each (row i, columns
// 4g to 4g+3 in V(16+4i+g)). A panel row of 16 float32 is 64 bytes, as the
// float64 kernel's row of 8 is; the strides are scaled by 4 bytes.
#define GEMM32_STEP GEMM_STEPT(S4)

TEXT ·gemmKernel32(SB), NOSPLIT, $0-80
	GEMM_KERNEL(S4, $2, GEMM32_STEP, gemm32_tile, gemm32_loadc, gemm32_steps, gemm32_loop2, gemm32_tail, gemm32_store, gemm32_ret)

// Elementwise kernels. NEON instructions that the Go assembler lacks
// (floating-point arithmetic, comparisons and rounding on .2D vectors) are
// written as WORD $0x… with the instruction in the comment beside it;
// TestNEONEncodings re-encodes every such comment and compares.

// Constants of the vector exp, two lanes each, loaded into V8–V28 by
// EXP_CONSTS: V8 −746 and V9 710 (the clamps of the argument), V10 log2(e),
// V11 C1 and V12 C2 (ln 2 = C1 + C2, C1 the nearest float64), V13–V22 the
// coefficients g9…g0 of the polynomial g (see EXP4 in asm_amd64.s), V23 1,
// V24 ½, V25 2⁵²·1.5 + 1023 (to build 2ⁿ from n), V26 and V27 the overflow
// and underflow thresholds of math.Exp, V28 +Inf.
DATA expc<>+0(SB)/8, $0xc087500000000000
DATA expc<>+8(SB)/8, $0xc087500000000000
DATA expc<>+16(SB)/8, $0x4086300000000000
DATA expc<>+24(SB)/8, $0x4086300000000000
DATA expc<>+32(SB)/8, $0x3ff71547652b82fe
DATA expc<>+40(SB)/8, $0x3ff71547652b82fe
DATA expc<>+48(SB)/8, $0x3fe62e42fefa39ef
DATA expc<>+56(SB)/8, $0x3fe62e42fefa39ef
DATA expc<>+64(SB)/8, $0x3c7abc9e3b39803f
DATA expc<>+72(SB)/8, $0x3c7abc9e3b39803f
DATA expc<>+80(SB)/8, $0x3e5af389ecfc4bf0
DATA expc<>+88(SB)/8, $0x3e5af389ecfc4bf0
DATA expc<>+96(SB)/8, $0x3e928917c89a43eb
DATA expc<>+104(SB)/8, $0x3e928917c89a43eb
DATA expc<>+112(SB)/8, $0x3ec71de0db2f6b19
DATA expc<>+120(SB)/8, $0x3ec71de0db2f6b19
DATA expc<>+128(SB)/8, $0x3efa019b9149a41c
DATA expc<>+136(SB)/8, $0x3efa019b9149a41c
DATA expc<>+144(SB)/8, $0x3f2a01a01a7c2efe
DATA expc<>+152(SB)/8, $0x3f2a01a01a7c2efe
DATA expc<>+160(SB)/8, $0x3f56c16c17889ef1
DATA expc<>+168(SB)/8, $0x3f56c16c17889ef1
DATA expc<>+176(SB)/8, $0x3f811111111109b5
DATA expc<>+184(SB)/8, $0x3f811111111109b5
DATA expc<>+192(SB)/8, $0x3fa5555555553d68
DATA expc<>+200(SB)/8, $0x3fa5555555553d68
DATA expc<>+208(SB)/8, $0x3fc5555555555556
DATA expc<>+216(SB)/8, $0x3fc5555555555556
DATA expc<>+224(SB)/8, $0x3fe0000000000001
DATA expc<>+232(SB)/8, $0x3fe0000000000001
DATA expc<>+240(SB)/8, $0x3ff0000000000000
DATA expc<>+248(SB)/8, $0x3ff0000000000000
DATA expc<>+256(SB)/8, $0x3fe0000000000000
DATA expc<>+264(SB)/8, $0x3fe0000000000000
DATA expc<>+272(SB)/8, $0x43380000000003ff
DATA expc<>+280(SB)/8, $0x43380000000003ff
DATA expc<>+288(SB)/8, $0x40862e42fefa39ef
DATA expc<>+296(SB)/8, $0x40862e42fefa39ef
DATA expc<>+304(SB)/8, $0xc0874910d52d3051
DATA expc<>+312(SB)/8, $0xc0874910d52d3051
DATA expc<>+320(SB)/8, $0x7ff0000000000000
DATA expc<>+328(SB)/8, $0x7ff0000000000000
GLOBL expc<>(SB), RODATA|NOPTR, $336

#define EXP_CONSTS \
	MOVD $expc<>(SB), R9 \
	VLD1.P 64(R9), [V8.D2, V9.D2, V10.D2, V11.D2] \
	VLD1.P 64(R9), [V12.D2, V13.D2, V14.D2, V15.D2] \
	VLD1.P 64(R9), [V16.D2, V17.D2, V18.D2, V19.D2] \
	VLD1.P 64(R9), [V20.D2, V21.D2, V22.D2, V23.D2] \
	VLD1.P 64(R9), [V24.D2, V25.D2, V26.D2, V27.D2] \
	VLD1 (R9), [V28.D2]

// func expKernel(dst, src *float64, n int)
//
// dst[i] = exp(src[i]) for i < n; n is a multiple of 2. The method is that
// of EXP4 in asm_amd64.s, with the same constants and the same roundings
// (amd64 takes a shorter path, EXP4FAST, where |x| ≤ 708, whose k may
// differ from EXP4's where x·log2 e is within a rounding of a half-integer;
// both are within the bound).
TEXT ·expKernel(SB), NOSPLIT, $0-24
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	MOVD n+16(FP), R2
	LSR  $1, R2
	CBZ  R2, exp_ret
	EXP_CONSTS

exp_loop:
	VLD1.P 16(R1), [V0.D2]
	// V7 = exp(V0): clamp, k = round(x·log2 e), r = x − k·C1 − k·C2.
	WORD $0x4e68f401 // fmax v1.2d, v0.2d, v8.2d
	WORD $0x4ee9f421 // fmin v1.2d, v1.2d, v9.2d
	WORD $0x6e6adc22 // fmul v2.2d, v1.2d, v10.2d
	WORD $0x4e618842 // frintn v2.2d, v2.2d
	VMOV   V1.B16, V3.B16
	VFMLS  V11.D2, V2.D2, V3.D2
	VFMLS  V12.D2, V2.D2, V3.D2
	// g(r) by Horner from g9 down to g0, alternating V4 and V5.
	VMOV   V13.B16, V4.B16
	VMOV   V14.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V15.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V16.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V17.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V18.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V19.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V20.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V21.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V22.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	// s = r + r²·g.
	WORD $0x6e63dc66 // fmul v6.2d, v3.2d, v3.2d
	VMOV   V3.B16, V7.B16
	VFMLA  V5.D2, V6.D2, V7.D2
	// Scale 1 + s by 2^⌊k/2⌋ (one FMA: s·2^⌊k/2⌋ + 2^⌊k/2⌋) and 2^(k−⌊k/2⌋).
	WORD $0x6e78dc46 // fmul v6.2d, v2.2d, v24.2d
	WORD $0x4e6198c6 // frintm v6.2d, v6.2d
	WORD $0x4ee6d442 // fsub v2.2d, v2.2d, v6.2d
	WORD $0x4e79d4c6 // fadd v6.2d, v6.2d, v25.2d
	WORD $0x4e79d442 // fadd v2.2d, v2.2d, v25.2d
	VSHL   $52, V6.D2, V6.D2
	VSHL   $52, V2.D2, V2.D2
	VFMLA  V7.D2, V6.D2, V6.D2
	WORD $0x6e62dcc7 // fmul v7.2d, v6.2d, v2.2d
	// +Inf above the overflow threshold, 0 below the underflow one, x if NaN.
	WORD $0x6efae406 // fcmgt v6.2d, v0.2d, v26.2d
	VBIT   V6.B16, V28.B16, V7.B16
	WORD $0x6ee0e766 // fcmgt v6.2d, v27.2d, v0.2d
	VEOR   V4.B16, V4.B16, V4.B16
	VBIT   V6.B16, V4.B16, V7.B16
	WORD $0x4e60e406 // fcmeq v6.2d, v0.2d, v0.2d
	VBIF   V6.B16, V0.B16, V7.B16
	VST1.P [V7.D2], 16(R0)
	SUB    $1, R2
	CBNZ   R2, exp_loop

exp_ret:
	RET

// func affineInverseKernel(z, e, x, mu, alpha *float64, n int) float64
//
// For d < n: e[d] = exp(−alpha[d]); z[d] = (x[d] − mu[d])·e[d]. Returns
// Σ alpha[d], summed in 2 lanes (V31). n is a multiple of 2.
TEXT ·affineInverseKernel(SB), NOSPLIT, $0-56
	MOVD z+0(FP), R0
	MOVD e+8(FP), R1
	MOVD x+16(FP), R2
	MOVD mu+24(FP), R3
	MOVD alpha+32(FP), R4
	MOVD n+40(FP), R5
	VEOR V31.B16, V31.B16, V31.B16
	LSR  $1, R5
	CBZ  R5, affinv_sum
	EXP_CONSTS

affinv_loop:
	VLD1.P 16(R4), [V0.D2]
	WORD $0x4e60d7ff // fadd v31.2d, v31.2d, v0.2d
	WORD $0x6ee0f800 // fneg v0.2d, v0.2d
	// V7 = exp(V0): clamp, k = round(x·log2 e), r = x − k·C1 − k·C2.
	WORD $0x4e68f401 // fmax v1.2d, v0.2d, v8.2d
	WORD $0x4ee9f421 // fmin v1.2d, v1.2d, v9.2d
	WORD $0x6e6adc22 // fmul v2.2d, v1.2d, v10.2d
	WORD $0x4e618842 // frintn v2.2d, v2.2d
	VMOV   V1.B16, V3.B16
	VFMLS  V11.D2, V2.D2, V3.D2
	VFMLS  V12.D2, V2.D2, V3.D2
	// g(r) by Horner from g9 down to g0, alternating V4 and V5.
	VMOV   V13.B16, V4.B16
	VMOV   V14.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V15.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V16.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V17.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V18.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V19.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V20.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V21.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V22.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	// s = r + r²·g.
	WORD $0x6e63dc66 // fmul v6.2d, v3.2d, v3.2d
	VMOV   V3.B16, V7.B16
	VFMLA  V5.D2, V6.D2, V7.D2
	// Scale 1 + s by 2^⌊k/2⌋ (one FMA: s·2^⌊k/2⌋ + 2^⌊k/2⌋) and 2^(k−⌊k/2⌋).
	WORD $0x6e78dc46 // fmul v6.2d, v2.2d, v24.2d
	WORD $0x4e6198c6 // frintm v6.2d, v6.2d
	WORD $0x4ee6d442 // fsub v2.2d, v2.2d, v6.2d
	WORD $0x4e79d4c6 // fadd v6.2d, v6.2d, v25.2d
	WORD $0x4e79d442 // fadd v2.2d, v2.2d, v25.2d
	VSHL   $52, V6.D2, V6.D2
	VSHL   $52, V2.D2, V2.D2
	VFMLA  V7.D2, V6.D2, V6.D2
	WORD $0x6e62dcc7 // fmul v7.2d, v6.2d, v2.2d
	// +Inf above the overflow threshold, 0 below the underflow one, x if NaN.
	WORD $0x6efae406 // fcmgt v6.2d, v0.2d, v26.2d
	VBIT   V6.B16, V28.B16, V7.B16
	WORD $0x6ee0e766 // fcmgt v6.2d, v27.2d, v0.2d
	VEOR   V4.B16, V4.B16, V4.B16
	VBIT   V6.B16, V4.B16, V7.B16
	WORD $0x4e60e406 // fcmeq v6.2d, v0.2d, v0.2d
	VBIF   V6.B16, V0.B16, V7.B16
	VLD1.P 16(R2), [V1.D2]
	VLD1.P 16(R3), [V2.D2]
	WORD $0x4ee2d421 // fsub v1.2d, v1.2d, v2.2d
	WORD $0x6e67dc21 // fmul v1.2d, v1.2d, v7.2d
	VST1.P [V7.D2], 16(R1)
	VST1.P [V1.D2], 16(R0)
	SUB    $1, R5
	CBNZ   R5, affinv_loop

affinv_sum:
	WORD $0x7e70dbff // faddp d31, v31.2d
	FMOVD F31, ret+48(FP)
	RET

// func affineForwardKernel(x, e, z, mu, alpha *float64, n int) float64
//
// For d < n: e[d] = exp(alpha[d]); x[d] = z[d]·e[d] + mu[d] with one
// rounding (a fused multiply-add, as the reference compiles on arm64).
// Returns Σ alpha[d], summed in 2 lanes (V31). n is a multiple of 2.
TEXT ·affineForwardKernel(SB), NOSPLIT, $0-56
	MOVD x+0(FP), R0
	MOVD e+8(FP), R1
	MOVD z+16(FP), R2
	MOVD mu+24(FP), R3
	MOVD alpha+32(FP), R4
	MOVD n+40(FP), R5
	VEOR V31.B16, V31.B16, V31.B16
	LSR  $1, R5
	CBZ  R5, afffwd_sum
	EXP_CONSTS

afffwd_loop:
	VLD1.P 16(R4), [V0.D2]
	WORD $0x4e60d7ff // fadd v31.2d, v31.2d, v0.2d
	// V7 = exp(V0): clamp, k = round(x·log2 e), r = x − k·C1 − k·C2.
	WORD $0x4e68f401 // fmax v1.2d, v0.2d, v8.2d
	WORD $0x4ee9f421 // fmin v1.2d, v1.2d, v9.2d
	WORD $0x6e6adc22 // fmul v2.2d, v1.2d, v10.2d
	WORD $0x4e618842 // frintn v2.2d, v2.2d
	VMOV   V1.B16, V3.B16
	VFMLS  V11.D2, V2.D2, V3.D2
	VFMLS  V12.D2, V2.D2, V3.D2
	// g(r) by Horner from g9 down to g0, alternating V4 and V5.
	VMOV   V13.B16, V4.B16
	VMOV   V14.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V15.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V16.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V17.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V18.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V19.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V20.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V21.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V22.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	// s = r + r²·g.
	WORD $0x6e63dc66 // fmul v6.2d, v3.2d, v3.2d
	VMOV   V3.B16, V7.B16
	VFMLA  V5.D2, V6.D2, V7.D2
	// Scale 1 + s by 2^⌊k/2⌋ (one FMA: s·2^⌊k/2⌋ + 2^⌊k/2⌋) and 2^(k−⌊k/2⌋).
	WORD $0x6e78dc46 // fmul v6.2d, v2.2d, v24.2d
	WORD $0x4e6198c6 // frintm v6.2d, v6.2d
	WORD $0x4ee6d442 // fsub v2.2d, v2.2d, v6.2d
	WORD $0x4e79d4c6 // fadd v6.2d, v6.2d, v25.2d
	WORD $0x4e79d442 // fadd v2.2d, v2.2d, v25.2d
	VSHL   $52, V6.D2, V6.D2
	VSHL   $52, V2.D2, V2.D2
	VFMLA  V7.D2, V6.D2, V6.D2
	WORD $0x6e62dcc7 // fmul v7.2d, v6.2d, v2.2d
	// +Inf above the overflow threshold, 0 below the underflow one, x if NaN.
	WORD $0x6efae406 // fcmgt v6.2d, v0.2d, v26.2d
	VBIT   V6.B16, V28.B16, V7.B16
	WORD $0x6ee0e766 // fcmgt v6.2d, v27.2d, v0.2d
	VEOR   V4.B16, V4.B16, V4.B16
	VBIT   V6.B16, V4.B16, V7.B16
	WORD $0x4e60e406 // fcmeq v6.2d, v0.2d, v0.2d
	VBIF   V6.B16, V0.B16, V7.B16
	VLD1.P 16(R2), [V1.D2]
	VLD1.P 16(R3), [V2.D2]
	VFMLA  V7.D2, V1.D2, V2.D2
	VST1.P [V7.D2], 16(R1)
	VST1.P [V2.D2], 16(R0)
	SUB    $1, R5
	CBNZ   R5, afffwd_loop

afffwd_sum:
	WORD $0x7e70dbff // faddp d31, v31.2d
	FMOVD F31, ret+48(FP)
	RET

// func reluKernel(h *float64, n int)
//
// h[i] = 0 where h[i] < 0 (NaN and −0 are kept); n is a multiple of 2.
TEXT ·reluKernel(SB), NOSPLIT, $0-16
	MOVD h+0(FP), R0
	MOVD n+8(FP), R2
	LSR  $1, R2
	CBZ  R2, relu_ret
	VEOR V2.B16, V2.B16, V2.B16

relu_loop:
	VLD1   (R0), [V0.D2]
	WORD $0x4ee0e801 // fcmlt v1.2d, v0.2d, #0.0
	VBIT   V1.B16, V2.B16, V0.B16
	VST1.P [V0.D2], 16(R0)
	SUB    $1, R2
	CBNZ   R2, relu_loop

relu_ret:
	RET

// func reluBackwardKernel(dh, h *float64, n int)
//
// dh[i] = 0 where h[i] ≤ 0 (NaN keeps dh); n is a multiple of 2.
TEXT ·reluBackwardKernel(SB), NOSPLIT, $0-24
	MOVD dh+0(FP), R0
	MOVD h+8(FP), R1
	MOVD n+16(FP), R2
	LSR  $1, R2
	CBZ  R2, relub_ret
	VEOR V2.B16, V2.B16, V2.B16

relub_loop:
	VLD1.P 16(R1), [V0.D2]
	VLD1   (R0), [V3.D2]
	WORD $0x6ee0d801 // fcmle v1.2d, v0.2d, #0.0
	VBIT   V1.B16, V2.B16, V3.B16
	VST1.P [V3.D2], 16(R0)
	SUB    $1, R2
	CBNZ   R2, relub_loop

relub_ret:
	RET

// func tanhBackwardKernel(dh, h *float64, n int)
//
// dh[i] *= 1 − h[i]², 1 − h² with one rounding (a fused multiply-subtract,
// as the reference compiles on arm64); n is a multiple of 2.
TEXT ·tanhBackwardKernel(SB), NOSPLIT, $0-24
	MOVD dh+0(FP), R0
	MOVD h+8(FP), R1
	MOVD n+16(FP), R2
	LSR  $1, R2
	CBZ  R2, tanhb_ret
	FMOVD $1.0, F4
	VDUP  V4.D[0], V4.D2

tanhb_loop:
	VLD1.P 16(R1), [V0.D2]
	VLD1   (R0), [V3.D2]
	VMOV   V4.B16, V1.B16
	VFMLS  V0.D2, V0.D2, V1.D2
	WORD $0x6e61dc63 // fmul v3.2d, v3.2d, v1.2d
	VST1.P [V3.D2], 16(R0)
	SUB    $1, R2
	CBNZ   R2, tanhb_loop

tanhb_ret:
	RET

// Constants of tanh in the order tanhKernel loads them (each replicated by
// VLD1R.P): math.Tanh's P0–P2 and Q0–Q2, 44.5, 1, 2, 1, 0.625.
DATA tanhc<>+0(SB)/8, $0xbfeedc5baafd6f4b
DATA tanhc<>+8(SB)/8, $0xc058d26a0e26682d
DATA tanhc<>+16(SB)/8, $0xc0993ac030580563
DATA tanhc<>+24(SB)/8, $0x405c33f28a581b86
DATA tanhc<>+32(SB)/8, $0x40a176fa0e5535fa
DATA tanhc<>+40(SB)/8, $0x40b2ec102442040c
DATA tanhc<>+48(SB)/8, $0x4046400000000000
DATA tanhc<>+56(SB)/8, $0x3ff0000000000000
DATA tanhc<>+64(SB)/8, $0x4000000000000000
DATA tanhc<>+72(SB)/8, $0x3ff0000000000000
DATA tanhc<>+80(SB)/8, $0x3fe4000000000000
GLOBL tanhc<>(SB), RODATA|NOPTR, $88

// func tanhKernel(h *float64, n int)
//
// h[i] = tanh(h[i]) by the method of math.Tanh (Cephes), as tanhKernel in
// asm_amd64.s: below |x| = 0.625 x + x·s·P(s)/Q(s), s = x², with the
// multiply-adds of P and Q fused as the Go compiler fuses them in math.Tanh
// on arm64; above, 1 − 2/(exp(2·min(|x|, 44.5)) + 1) with the sign of x.
// ±0 and NaN are kept (NaN quieted). n is a multiple of 2.
TEXT ·tanhKernel(SB), NOSPLIT, $0-16
	MOVD h+0(FP), R0
	MOVD n+8(FP), R2
	LSR  $1, R2
	CBZ  R2, tanh_ret
	EXP_CONSTS

tanh_loop:
	VLD1   (R0), [V0.D2]
	VMOV   V0.B16, V30.B16
	MOVD   $tanhc<>(SB), R9
	// Small: V29 = x + x·s·P/Q.
	WORD $0x6e60dc01 // fmul v1.2d, v0.2d, v0.2d
	VLD1R.P 8(R9), [V2.D2]
	VLD1R.P 8(R9), [V3.D2]
	VFMLA  V1.D2, V2.D2, V3.D2
	VLD1R.P 8(R9), [V4.D2]
	VFMLA  V1.D2, V3.D2, V4.D2
	VLD1R.P 8(R9), [V2.D2]
	WORD $0x4e62d425 // fadd v5.2d, v1.2d, v2.2d
	VLD1R.P 8(R9), [V6.D2]
	VFMLA  V1.D2, V5.D2, V6.D2
	VLD1R.P 8(R9), [V5.D2]
	VFMLA  V1.D2, V6.D2, V5.D2
	WORD $0x6e61dc06 // fmul v6.2d, v0.2d, v1.2d
	WORD $0x6e64dcc6 // fmul v6.2d, v6.2d, v4.2d
	WORD $0x6e65fcc6 // fdiv v6.2d, v6.2d, v5.2d
	WORD $0x4e66d41d // fadd v29.2d, v0.2d, v6.2d
	// Large: V3 = ±(1 − 2/(exp(2·min(|x|, 44.5)) + 1)).
	WORD $0x4ee0f801 // fabs v1.2d, v0.2d
	VLD1R.P 8(R9), [V2.D2]
	WORD $0x4ee2f420 // fmin v0.2d, v1.2d, v2.2d
	WORD $0x4e60d400 // fadd v0.2d, v0.2d, v0.2d
	// V7 = exp(V0): clamp, k = round(x·log2 e), r = x − k·C1 − k·C2.
	WORD $0x4e68f401 // fmax v1.2d, v0.2d, v8.2d
	WORD $0x4ee9f421 // fmin v1.2d, v1.2d, v9.2d
	WORD $0x6e6adc22 // fmul v2.2d, v1.2d, v10.2d
	WORD $0x4e618842 // frintn v2.2d, v2.2d
	VMOV   V1.B16, V3.B16
	VFMLS  V11.D2, V2.D2, V3.D2
	VFMLS  V12.D2, V2.D2, V3.D2
	// g(r) by Horner from g9 down to g0, alternating V4 and V5.
	VMOV   V13.B16, V4.B16
	VMOV   V14.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V15.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V16.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V17.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V18.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V19.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V20.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	VMOV   V21.B16, V4.B16
	VFMLA  V3.D2, V5.D2, V4.D2
	VMOV   V22.B16, V5.B16
	VFMLA  V3.D2, V4.D2, V5.D2
	// s = r + r²·g.
	WORD $0x6e63dc66 // fmul v6.2d, v3.2d, v3.2d
	VMOV   V3.B16, V7.B16
	VFMLA  V5.D2, V6.D2, V7.D2
	// Scale 1 + s by 2^⌊k/2⌋ (one FMA: s·2^⌊k/2⌋ + 2^⌊k/2⌋) and 2^(k−⌊k/2⌋).
	WORD $0x6e78dc46 // fmul v6.2d, v2.2d, v24.2d
	WORD $0x4e6198c6 // frintm v6.2d, v6.2d
	WORD $0x4ee6d442 // fsub v2.2d, v2.2d, v6.2d
	WORD $0x4e79d4c6 // fadd v6.2d, v6.2d, v25.2d
	WORD $0x4e79d442 // fadd v2.2d, v2.2d, v25.2d
	VSHL   $52, V6.D2, V6.D2
	VSHL   $52, V2.D2, V2.D2
	VFMLA  V7.D2, V6.D2, V6.D2
	WORD $0x6e62dcc7 // fmul v7.2d, v6.2d, v2.2d
	// +Inf above the overflow threshold, 0 below the underflow one, x if NaN.
	WORD $0x6efae406 // fcmgt v6.2d, v0.2d, v26.2d
	VBIT   V6.B16, V28.B16, V7.B16
	WORD $0x6ee0e766 // fcmgt v6.2d, v27.2d, v0.2d
	VEOR   V4.B16, V4.B16, V4.B16
	VBIT   V6.B16, V4.B16, V7.B16
	WORD $0x4e60e406 // fcmeq v6.2d, v0.2d, v0.2d
	VBIF   V6.B16, V0.B16, V7.B16
	VLD1R.P 8(R9), [V2.D2]
	WORD $0x4e62d4e7 // fadd v7.2d, v7.2d, v2.2d
	VLD1R.P 8(R9), [V2.D2]
	WORD $0x6e67fc42 // fdiv v2.2d, v2.2d, v7.2d
	VLD1R.P 8(R9), [V3.D2]
	WORD $0x4ee2d463 // fsub v3.2d, v3.2d, v2.2d
	WORD $0x4ee0ebc4 // fcmlt v4.2d, v30.2d, #0.0
	WORD $0x6ee0f865 // fneg v5.2d, v3.2d
	VBIT   V4.B16, V5.B16, V3.B16
	// Choose: large where |x| ≥ 0.625, x where x = 0, x + x where NaN.
	WORD $0x4ee0fbc1 // fabs v1.2d, v30.2d
	VLD1R.P 8(R9), [V2.D2]
	WORD $0x6e62e424 // fcmge v4.2d, v1.2d, v2.2d
	VBIT   V4.B16, V3.B16, V29.B16
	WORD $0x4ee0dbc4 // fcmeq v4.2d, v30.2d, #0.0
	VBIT   V4.B16, V30.B16, V29.B16
	WORD $0x4e7ee7c4 // fcmeq v4.2d, v30.2d, v30.2d
	WORD $0x4e7ed7c5 // fadd v5.2d, v30.2d, v30.2d
	VBIF   V4.B16, V5.B16, V29.B16
	VST1.P [V29.D2], 16(R0)
	SUB    $1, R2
	CBNZ   R2, tanh_loop

tanh_ret:
	RET

// func addKernel(dst, src *float64, n int)
//
// dst[i] += src[i] for i < n; n is a multiple of 2.
TEXT ·addKernel(SB), NOSPLIT, $0-24
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	MOVD n+16(FP), R2
	LSR  $1, R2
	CBZ  R2, add_ret

add_loop:
	VLD1   (R0), [V0.D2]
	VLD1.P 16(R1), [V1.D2]
	WORD $0x4e61d400 // fadd v0.2d, v0.2d, v1.2d
	VST1.P [V0.D2], 16(R0)
	SUB    $1, R2
	CBNZ   R2, add_loop

add_ret:
	RET

// func adamKernel(p, m, v, grad *float64, n int, c *adamConsts)
//
// One Adam step on n elements (a multiple of 2), the operations of adamRef
// in its order, none fused: m = b1·m + c1·g, v = b2·v + (c2·g)·g,
// p = p − ((step·m)/(√v·isc2 + eps) + lrwd·p), with c = [b1, c1, b2, c2,
// step, isc2, eps, lrwd] in V16–V23.
TEXT ·adamKernel(SB), NOSPLIT, $0-48
	MOVD p+0(FP), R0
	MOVD m+8(FP), R1
	MOVD v+16(FP), R2
	MOVD grad+24(FP), R3
	MOVD n+32(FP), R4
	MOVD c+40(FP), R5
	LSR  $1, R4
	CBZ  R4, adam_ret
	FMOVD 0(R5), F16
	FMOVD 8(R5), F17
	FMOVD 16(R5), F18
	FMOVD 24(R5), F19
	FMOVD 32(R5), F20
	FMOVD 40(R5), F21
	FMOVD 48(R5), F22
	FMOVD 56(R5), F23
	VDUP V16.D[0], V16.D2
	VDUP V17.D[0], V17.D2
	VDUP V18.D[0], V18.D2
	VDUP V19.D[0], V19.D2
	VDUP V20.D[0], V20.D2
	VDUP V21.D[0], V21.D2
	VDUP V22.D[0], V22.D2
	VDUP V23.D[0], V23.D2

adam_loop:
	VLD1   (R0), [V0.D2]
	VLD1   (R1), [V1.D2]
	VLD1   (R2), [V2.D2]
	VLD1.P 16(R3), [V3.D2]
	WORD $0x6e61de04 // fmul v4.2d, v16.2d, v1.2d
	WORD $0x6e63de25 // fmul v5.2d, v17.2d, v3.2d
	WORD $0x4e65d481 // fadd v1.2d, v4.2d, v5.2d
	WORD $0x6e63de64 // fmul v4.2d, v19.2d, v3.2d
	WORD $0x6e63dc84 // fmul v4.2d, v4.2d, v3.2d
	WORD $0x6e62de45 // fmul v5.2d, v18.2d, v2.2d
	WORD $0x4e64d4a2 // fadd v2.2d, v5.2d, v4.2d
	VST1.P [V1.D2], 16(R1)
	VST1.P [V2.D2], 16(R2)
	WORD $0x6ee1f845 // fsqrt v5.2d, v2.2d
	WORD $0x6e75dca5 // fmul v5.2d, v5.2d, v21.2d
	WORD $0x4e76d4a5 // fadd v5.2d, v5.2d, v22.2d
	WORD $0x6e61de84 // fmul v4.2d, v20.2d, v1.2d
	WORD $0x6e65fc84 // fdiv v4.2d, v4.2d, v5.2d
	WORD $0x6e60dee6 // fmul v6.2d, v23.2d, v0.2d
	WORD $0x4e66d484 // fadd v4.2d, v4.2d, v6.2d
	WORD $0x4ee4d400 // fsub v0.2d, v0.2d, v4.2d
	VST1.P [V0.D2], 16(R0)
	SUB    $1, R4
	CBNZ   R4, adam_loop

adam_ret:
	RET

// The constants of expKernel32NEON, each in the 4 lanes of a vector (those
// of expKernel32 in asm_amd64.s): V8 −104 and V9 89 (the clamps of x), V10
// log₂e, V11 C1 and V12 C2 (ln 2 = C1 + C2, C1 with 9 significant bits),
// V13–V18 g's Taylor coefficients 1/7! … 1/2!, V19 ½, V20 1.5·2²³ + 127.
DATA exp32c<>+0(SB)/4, $0xc2d00000
DATA exp32c<>+4(SB)/4, $0xc2d00000
DATA exp32c<>+8(SB)/4, $0xc2d00000
DATA exp32c<>+12(SB)/4, $0xc2d00000
DATA exp32c<>+16(SB)/4, $0x42b20000
DATA exp32c<>+20(SB)/4, $0x42b20000
DATA exp32c<>+24(SB)/4, $0x42b20000
DATA exp32c<>+28(SB)/4, $0x42b20000
DATA exp32c<>+32(SB)/4, $0x3fb8aa3b
DATA exp32c<>+36(SB)/4, $0x3fb8aa3b
DATA exp32c<>+40(SB)/4, $0x3fb8aa3b
DATA exp32c<>+44(SB)/4, $0x3fb8aa3b
DATA exp32c<>+48(SB)/4, $0x3f318000
DATA exp32c<>+52(SB)/4, $0x3f318000
DATA exp32c<>+56(SB)/4, $0x3f318000
DATA exp32c<>+60(SB)/4, $0x3f318000
DATA exp32c<>+64(SB)/4, $0xb95e8083
DATA exp32c<>+68(SB)/4, $0xb95e8083
DATA exp32c<>+72(SB)/4, $0xb95e8083
DATA exp32c<>+76(SB)/4, $0xb95e8083
DATA exp32c<>+80(SB)/4, $0x39500d01
DATA exp32c<>+84(SB)/4, $0x39500d01
DATA exp32c<>+88(SB)/4, $0x39500d01
DATA exp32c<>+92(SB)/4, $0x39500d01
DATA exp32c<>+96(SB)/4, $0x3ab60b61
DATA exp32c<>+100(SB)/4, $0x3ab60b61
DATA exp32c<>+104(SB)/4, $0x3ab60b61
DATA exp32c<>+108(SB)/4, $0x3ab60b61
DATA exp32c<>+112(SB)/4, $0x3c088889
DATA exp32c<>+116(SB)/4, $0x3c088889
DATA exp32c<>+120(SB)/4, $0x3c088889
DATA exp32c<>+124(SB)/4, $0x3c088889
DATA exp32c<>+128(SB)/4, $0x3d2aaaab
DATA exp32c<>+132(SB)/4, $0x3d2aaaab
DATA exp32c<>+136(SB)/4, $0x3d2aaaab
DATA exp32c<>+140(SB)/4, $0x3d2aaaab
DATA exp32c<>+144(SB)/4, $0x3e2aaaab
DATA exp32c<>+148(SB)/4, $0x3e2aaaab
DATA exp32c<>+152(SB)/4, $0x3e2aaaab
DATA exp32c<>+156(SB)/4, $0x3e2aaaab
DATA exp32c<>+160(SB)/4, $0x3f000000
DATA exp32c<>+164(SB)/4, $0x3f000000
DATA exp32c<>+168(SB)/4, $0x3f000000
DATA exp32c<>+172(SB)/4, $0x3f000000
DATA exp32c<>+176(SB)/4, $0x3f000000
DATA exp32c<>+180(SB)/4, $0x3f000000
DATA exp32c<>+184(SB)/4, $0x3f000000
DATA exp32c<>+188(SB)/4, $0x3f000000
DATA exp32c<>+192(SB)/4, $0x4b40007f
DATA exp32c<>+196(SB)/4, $0x4b40007f
DATA exp32c<>+200(SB)/4, $0x4b40007f
DATA exp32c<>+204(SB)/4, $0x4b40007f
GLOBL exp32c<>(SB), RODATA|NOPTR, $208

// func expKernel32NEON(dst, src *float32, n int)
//
// dst[i] = exp(src[i]) for i < n, a multiple of 4: expKernel32's
// operations (asm_amd64.s; exp32Model in the tests) on four lanes. FMAX
// keeps a NaN where VMAXPS takes the clamp, and the NaN lanes are x at the
// end either way.
TEXT ·expKernel32NEON(SB), NOSPLIT, $0-24
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	MOVD n+16(FP), R2
	LSR  $2, R2
	CBZ  R2, exp32_ret
	MOVD $exp32c<>(SB), R9
	VLD1.P 64(R9), [V8.S4, V9.S4, V10.S4, V11.S4]
	VLD1.P 64(R9), [V12.S4, V13.S4, V14.S4, V15.S4]
	VLD1.P 64(R9), [V16.S4, V17.S4, V18.S4, V19.S4]
	VLD1   (R9), [V20.S4]

exp32_loop:
	VLD1.P 16(R1), [V0.S4]
	// k = round(c·log₂e), c the clamped x; r = (c − k·C1) − k·C2 in V1.
	WORD  $0x4e28f401 // fmax v1.4s, v0.4s, v8.4s
	WORD  $0x4ea9f421 // fmin v1.4s, v1.4s, v9.4s
	WORD  $0x6e2adc22 // fmul v2.4s, v1.4s, v10.4s
	WORD  $0x4e218842 // frintn v2.4s, v2.4s
	VFMLS V11.S4, V2.S4, V1.S4
	VFMLS V12.S4, V2.S4, V1.S4
	// g(r) by Horner from 1/7! down to ½, alternating V3 and V4.
	VMOV  V13.B16, V3.B16
	VMOV  V14.B16, V4.B16
	VFMLA V1.S4, V3.S4, V4.S4
	VMOV  V15.B16, V3.B16
	VFMLA V1.S4, V4.S4, V3.S4
	VMOV  V16.B16, V4.B16
	VFMLA V1.S4, V3.S4, V4.S4
	VMOV  V17.B16, V3.B16
	VFMLA V1.S4, V4.S4, V3.S4
	VMOV  V18.B16, V4.B16
	VFMLA V1.S4, V3.S4, V4.S4
	// s = r + r²·g in V3.
	WORD  $0x6e21dc26 // fmul v6.4s, v1.4s, v1.4s
	VMOV  V1.B16, V3.B16
	VFMLA V4.S4, V6.S4, V3.S4
	// (s·2ᵗ + 2ᵗ)·2^(k−t), t = ⌊k/2⌋, the powers from their exponents.
	WORD  $0x6e33dc46 // fmul v6.4s, v2.4s, v19.4s
	WORD  $0x4e2198c6 // frintm v6.4s, v6.4s
	WORD  $0x4ea6d442 // fsub v2.4s, v2.4s, v6.4s
	WORD  $0x4e34d4c6 // fadd v6.4s, v6.4s, v20.4s
	WORD  $0x4e34d442 // fadd v2.4s, v2.4s, v20.4s
	VSHL  $23, V6.S4, V6.S4
	VSHL  $23, V2.S4, V2.S4
	VFMLA V3.S4, V6.S4, V6.S4
	WORD  $0x6e22dcc7 // fmul v7.4s, v6.4s, v2.4s
	// x where x is NaN.
	WORD  $0x4e20e405 // fcmeq v5.4s, v0.4s, v0.4s
	VBIF  V5.B16, V0.B16, V7.B16
	VST1.P [V7.S4], 16(R0)
	SUB   $1, R2
	CBNZ  R2, exp32_loop

exp32_ret:
	RET
