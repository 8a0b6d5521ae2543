// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego

#include "textflag.h"

// func peakKernel(n int) float64
//
// The machine's float64 FMA peak on one core: n iterations of 16
// independent chains c_k ← c_k + a·b on NEON words (2 lanes), 64 flops an
// iteration, enough chains to cover the FMA units' latency. It returns a
// sum of the chains so that none is dead.
TEXT ·peakKernel(SB), NOSPLIT, $0-16
	MOVD n+0(FP), R0
	FMOVD $1.0, F20
	VDUP  V20.D[0], V20.D2
	FMOVD $0.5, F21
	VDUP  V21.D[0], V21.D2
	VEOR  V0.B16, V0.B16, V0.B16
	VEOR  V1.B16, V1.B16, V1.B16
	VEOR  V2.B16, V2.B16, V2.B16
	VEOR  V3.B16, V3.B16, V3.B16
	VEOR  V4.B16, V4.B16, V4.B16
	VEOR  V5.B16, V5.B16, V5.B16
	VEOR  V6.B16, V6.B16, V6.B16
	VEOR  V7.B16, V7.B16, V7.B16
	VEOR  V8.B16, V8.B16, V8.B16
	VEOR  V9.B16, V9.B16, V9.B16
	VEOR  V10.B16, V10.B16, V10.B16
	VEOR  V11.B16, V11.B16, V11.B16
	VEOR  V12.B16, V12.B16, V12.B16
	VEOR  V13.B16, V13.B16, V13.B16
	VEOR  V14.B16, V14.B16, V14.B16
	VEOR  V15.B16, V15.B16, V15.B16
	CMP   $0, R0
	BLE   done

loop:
	VFMLA V20.D2, V21.D2, V0.D2
	VFMLA V20.D2, V21.D2, V1.D2
	VFMLA V20.D2, V21.D2, V2.D2
	VFMLA V20.D2, V21.D2, V3.D2
	VFMLA V20.D2, V21.D2, V4.D2
	VFMLA V20.D2, V21.D2, V5.D2
	VFMLA V20.D2, V21.D2, V6.D2
	VFMLA V20.D2, V21.D2, V7.D2
	VFMLA V20.D2, V21.D2, V8.D2
	VFMLA V20.D2, V21.D2, V9.D2
	VFMLA V20.D2, V21.D2, V10.D2
	VFMLA V20.D2, V21.D2, V11.D2
	VFMLA V20.D2, V21.D2, V12.D2
	VFMLA V20.D2, V21.D2, V13.D2
	VFMLA V20.D2, V21.D2, V14.D2
	VFMLA V20.D2, V21.D2, V15.D2
	SUBS  $1, R0, R0
	BNE   loop

done:
	WORD $0x4e61d400 // FADD V0.2D, V0.2D, V1.2D
	WORD $0x4e63d442 // FADD V2.2D, V2.2D, V3.2D
	WORD $0x4e65d484 // FADD V4.2D, V4.2D, V5.2D
	WORD $0x4e67d4c6 // FADD V6.2D, V6.2D, V7.2D
	WORD $0x4e69d508 // FADD V8.2D, V8.2D, V9.2D
	WORD $0x4e6bd54a // FADD V10.2D, V10.2D, V11.2D
	WORD $0x4e6dd58c // FADD V12.2D, V12.2D, V13.2D
	WORD $0x4e6fd5ce // FADD V14.2D, V14.2D, V15.2D
	WORD $0x4e62d400 // FADD V0.2D, V0.2D, V2.2D
	WORD $0x4e66d484 // FADD V4.2D, V4.2D, V6.2D
	WORD $0x4e6ad508 // FADD V8.2D, V8.2D, V10.2D
	WORD $0x4e6ed58c // FADD V12.2D, V12.2D, V14.2D
	WORD $0x4e64d400 // FADD V0.2D, V0.2D, V4.2D
	WORD $0x4e6cd508 // FADD V8.2D, V8.2D, V12.2D
	WORD $0x4e68d400 // FADD V0.2D, V0.2D, V8.2D
	WORD $0x7e70d800 // FADDP D0, V0.2D
	FMOVD F0, ret+8(FP)
	RET
