// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego

package flow

import "unsafe"

// kernUseAsm selects the NEON kernels of asm_arm64.s (NEON is part of every
// arm64 CPU). Tests flip it to exercise the plain-Go references too.
var kernUseAsm = true

// gemmNR is the number of columns of the micro-kernel gemmKernel and of a
// packed panel: four 2-lane NEON registers; gemmMR its number of rows.
// The narrow kernel of amd64 has no counterpart here: its shape is the one
// kernel's, and gemmKernelNarrow calls it.
const (
	gemmMR       = 4
	gemmNR       = 8
	gemmNarrowMR = gemmMR
	gemmNarrowNR = gemmNR
	gemmMaxMR    = gemmMR
)

// kernHasPanels is false: gemmKernelPanels exists on amd64 only, and short
// sums go through gemmBlocked's loops here.
const kernHasPanels = false

func gemmKernelPanels(c *float64, ldc int, a *float64, rs int, b *float64, pstride int, rng *int, panels int, init *float64) {
	panic("flow: no gemmKernelPanels on arm64")
}

// gemmKernel32 is the float32 micro-kernel (gemmKernel32Ref); kernHasF32
// reports that it exists. Its tile is 4 rows of C and 16 columns, four
// 4-lane registers a row: gemmKernel's register plan with twice the
// lanes. A panel of B is 16 columns wide.
const (
	gemm32MR = 4
	gemm32NR = 16
)

//go:noescape
func gemmKernel32(c *float32, ldc int, a *float32, rs, ps, ts int, b *float32, k, tiles int, init *float32)

const kernHasF32 = true

// kernHasCvt is false: the conversions run in Go on arm64 (cvt32to64).
const kernHasCvt = false

func cvt32to64Kernel(dst *float64, src *float32, n int) {
	panic("flow: no cvt32to64Kernel on arm64")
}

func cvt64to32Kernel(dst *float32, src *float64, n int) {
	panic("flow: no cvt64to32Kernel on arm64")
}

// kernHasHalf is false: gemmKernel2 exists on amd64 only, and the edges
// of a staircase run whole tiles here.
const kernHasHalf = false

func gemmKernel2(c *float64, ldc int, a *float64, rs, ps, ts int, b *float64, k, tiles int, init *float64) {
	panic("flow: no gemmKernel2 on arm64")
}

// kernHasDot is false: dotRowsKernel exists on amd64 only, and products
// with one or two columns of C go through gemmBlocked here.
const kernHasDot = false

func dotRowsKernel(y *float64, incy int, a *float64, lda int, x *float64, k, rows int) {
	panic("flow: no dotRowsKernel on arm64")
}

func axpyRowsKernel(y *float64, n int, a *float64, lda int, v *float64, incv, rows int) {
	panic("flow: no axpyRowsKernel on arm64")
}

func dotRowsKernel32(y *float32, incy int, a *float32, lda int, x *float32, k, rows int) {
	panic("flow: no dotRowsKernel32 on arm64")
}

func axpyRowsKernel32(y *float32, n int, a *float32, lda int, v *float32, incv, rows int) {
	panic("flow: no axpyRowsKernel32 on arm64")
}

func gemmKernelNarrow(c *float64, ldc int, a *float64, rs, ps, ts int, b *float64, k, tiles int, init *float64) {
	gemmKernel(c, ldc, a, rs, ps, ts, b, k, tiles, init)
}

// kernVecWidth is the number of float64 lanes of one vector register.
const kernVecWidth = 2

//go:noescape
func gemmKernel(c *float64, ldc int, a *float64, rs, ps, ts int, b *float64, k, tiles int, init *float64)

//go:noescape
func expKernel(dst, src *float64, n int)

//go:noescape
func affineInverseKernel(z, e, x, mu, alpha *float64, n int) float64

//go:noescape
func affineForwardKernel(x, e, z, mu, alpha *float64, n int) float64

//go:noescape
func reluKernel(h *float64, n int)

//go:noescape
func reluBackwardKernel(dh, h *float64, n int)

//go:noescape
func tanhBackwardKernel(dh, h *float64, n int)

//go:noescape
func tanhKernel(h *float64, n int)

//go:noescape
func addKernel(dst, src *float64, n int)

// adamKernel is adamStep on n elements, n a multiple of the vector width.
//
//go:noescape
func adamKernel(p, m, v, grad *float64, n int, c *adamConsts)

// kernFastAux reports whether the packing and scanning kernels are written
// in assembly for this architecture: not on arm64, where their plain-Go
// loops run instead and the functions below are never called.
const kernFastAux = false

func packTrans4Kernel(dst, src *float64, lds, k, ldd int) {
	panic("flow: no packTrans4Kernel on arm64")
}
func packRowsKernel(dst, db, src *float64, lds, k, vecs, panels, ldp int) {
	panic("flow: no packRowsKernel on arm64")
}
func packTailKernel(dst, db, src *float64, lds, k, vecs int, mask *int64) {
	panic("flow: no packTailKernel on arm64")
}
func nonFiniteKernel(s *float64, n int) bool            { panic("flow: no nonFiniteKernel on arm64") }
func addTransKernel(dst, src *float64, ldd, lds, n int) { panic("flow: no addTransKernel on arm64") }
func reluRowsKernel(c *float64, ldc, rows, vecs int)    { panic("flow: no reluRowsKernel on arm64") }
func reluBackRowsKernel(c, h *float64, ldc, rows, vecs int) {
	panic("flow: no reluBackRowsKernel on arm64")
}

func reluRowsKernel32(c *float32, ldc, rows, vecs int) { panic("flow: no reluRowsKernel32 on arm64") }
func reluBackRowsKernel32(c, h *float32, ldc, rows, vecs int) {
	panic("flow: no reluBackRowsKernel32 on arm64")
}
func packRowsKernel32(dst, db, src *float32, lds, k, vecs, panels, ldp int) {
	panic("flow: no packRowsKernel32 on arm64")
}
func packTailKernel32(dst, db, src *float32, lds, k, vecs int, mask *int32) {
	panic("flow: no packTailKernel32 on arm64")
}
func packTrans4Kernel32(dst, src *float32, lds, k, ldd int) {
	panic("flow: no packTrans4Kernel32 on arm64")
}
func nonFiniteKernel32(s *float32, n int) bool { panic("flow: no nonFiniteKernel32 on arm64") }
func packRows4Kernel32(dst, db, src *float32, lds, k, panels int) {
	panic("flow: no packRows4Kernel32 on arm64")
}
func adamKernel32(p, m, v, grad *float32, n int, c *[8]float32) {
	panic("flow: no adamKernel32 on arm64")
}

func addKernel32(dst, src *float32, n int) { panic("flow: no addKernel32 on arm64") }

// expKernel32NEON is expKernel32's operations (asm_amd64.s) on four
// lanes, for n values, a multiple of 4.
//
//go:noescape
func expKernel32NEON(dst, src *float32, n int)

// expKernel32 sets dst[i] = exp(src[i]) for i < n: expKernel32NEON on the
// whole vectors and on the last partial one padded, so that every element
// gets the same arithmetic. kernHasExp32 reports that it exists.
func expKernel32(dst, src *float32, n int) {
	m := n &^ 3
	if m > 0 {
		expKernel32NEON(dst, src, m)
	}
	if m < n {
		d, s := unsafe.Slice(dst, n), unsafe.Slice(src, n)
		var buf [4]float32
		copy(buf[:], s[m:])
		expKernel32NEON(&buf[0], &buf[0], 4)
		copy(d[m:], buf[:n-m])
	}
}

const kernHasExp32 = true

func affineInverseKernel32(z, e, x, mu, alpha *float32, n int) float32 {
	panic("flow: no affineInverseKernel32 on arm64")
}

func affineForwardKernel32(x, e, z, mu, alpha *float32, n int) float32 {
	panic("flow: no affineForwardKernel32 on arm64")
}
