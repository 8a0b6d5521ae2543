// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego

package flow

import "golang.org/x/sys/cpu"

// kernUseAsm selects the AVX2+FMA kernels of asm_amd64.s; without both
// features every kernel is its plain-Go reference. golang.org/x/sys/cpu
// reads GODEBUG at start-up, so GODEBUG=cpu.avx2=off (or cpu.fma=off)
// reaches the fallback. Tests flip kernUseAsm to exercise both paths.
var kernUseAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// The two micro-kernels: gemmKernel computes tiles of gemmMR×gemmNR
// (4×12, three YMM words a row), gemmKernelNarrow tiles of
// gemmNarrowMR×gemmNarrowNR (6×8, two YMM words a row). Both hold 48 sums in
// registers and reach the same speed on long sums; the narrow one skips the
// zeros of a staircase mask at a finer grain and wastes less on widths
// that are not multiples of 12.
const (
	gemmMR       = 4
	gemmNR       = 12
	gemmNarrowMR = 6
	gemmNarrowNR = 8
	gemmMaxMR    = 6 // the larger of the two row counts
)

// kernVecWidth is the number of float64 lanes of one vector register.
const kernVecWidth = 4

//go:noescape
func gemmKernel(c *float64, ldc int, a *float64, rs, ps, ts int, b *float64, k, tiles int, init *float64)

//go:noescape
func gemmKernelNarrow(c *float64, ldc int, a *float64, rs, ps, ts int, b *float64, k, tiles int, init *float64)

// gemmKernelPanels runs gemmKernel's tile across whole panels for one tile
// of rows (short sums); kernHasPanels reports that it exists.
//
//go:noescape
func gemmKernelPanels(c *float64, ldc int, a *float64, rs int, b *float64, pstride int, rng *int, panels int, init *float64)

const kernHasPanels = true

// gemmKernel32 is the float32 micro-kernel (gemmKernel32Ref); kernHasF32
// reports that it exists. Its tile is 4 rows of C and 24 columns, three
// 8-lane registers a row: the float64 kernel's register plan with twice
// the lanes. A panel of B is 24 columns wide.
const (
	gemm32MR = 4
	gemm32NR = 24
)

//
//go:noescape
func gemmKernel32(c *float32, ldc int, a *float32, rs, ps, ts int, b *float32, k, tiles int, init *float32)

const kernHasF32 = true

// cvt32to64Kernel and cvt64to32Kernel convert n values (a multiple of 4)
// between float32 and float64 as Go's conversions do; kernHasCvt reports
// that they exist.
//
//go:noescape
func cvt32to64Kernel(dst *float64, src *float32, n int)

//go:noescape
func cvt64to32Kernel(dst *float32, src *float64, n int)

const kernHasCvt = true

// gemmKernel2 is gemmKernel on tiles of 2 rows (the edges of a staircase);
// kernHasHalf reports that it exists.
//
//go:noescape
func gemmKernel2(c *float64, ldc int, a *float64, rs, ps, ts int, b *float64, k, tiles int, init *float64)

const kernHasHalf = true

// dotRowsKernel adds to each of rows entries of y (incy apart) the dot
// product of a row of A (lda apart) with x, of length k: the products whose
// C has one or two columns (kernDotForward, kernDotBackwardX); kernHasDot
// reports that it exists.
//
//go:noescape
func dotRowsKernel(y *float64, incy int, a *float64, lda int, x *float64, k, rows int)

const kernHasDot = true

// dotRowsKernel32 is dotRowsKernel over float32 (the same products, eight
// lanes a vector).
//
//go:noescape
func dotRowsKernel32(y *float32, incy int, a *float32, lda int, x *float32, k, rows int)

// expKernel32 sets dst[i] = exp(src[i]) for i < n, in float32
// arithmetic (expVec32).
//
//go:noescape
func expKernel32(dst, src *float32, n int)

// kernHasExp32 reports that expKernel32 exists.
const kernHasExp32 = true

// affineInverseKernel32 and affineForwardKernel32 are the affine steps
// over float32 (affineInverseT, affineForwardT) for any n, with
// expKernel32's exponential.
//
//go:noescape
func affineInverseKernel32(z, e, x, mu, alpha *float32, n int) float32

//go:noescape
func affineForwardKernel32(x, e, z, mu, alpha *float32, n int) float32

// axpyRowsKernel32 is axpyRowsKernel over float32.
//
//go:noescape
func axpyRowsKernel32(y *float32, n int, a *float32, lda int, v *float32, incv, rows int)

// axpyRowsKernel adds to y[p], p < n, the sum over rows i of
// v[i*incv]·a[i*lda+p]: the weight gradients of a layer with one or two
// inputs or outputs (kernDotBackwardW).
//
//go:noescape
func axpyRowsKernel(y *float64, n int, a *float64, lda int, v *float64, incv, rows int)

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

// kernFastAux reports whether the packing and scanning kernels below are
// written in assembly for this architecture.
const kernFastAux = true

//go:noescape
func packTrans4Kernel(dst, src *float64, lds, k, ldd int)

//go:noescape
func packRowsKernel(dst, db, src *float64, lds, k, vecs, panels, ldp int)

//go:noescape
func packTailKernel(dst, db, src *float64, lds, k, vecs int, mask *int64)

//go:noescape
func addTransKernel(dst, src *float64, ldd, lds, n int)

//go:noescape
func nonFiniteKernel(s *float64, n int) bool

//go:noescape
func reluRowsKernel(c *float64, ldc, rows, vecs int)

//go:noescape
func reluBackRowsKernel(c, h *float64, ldc, rows, vecs int)

// The float32 versions of the activation row kernels and the row packing
// (kernels_pack.go), from the same assembly macros as the float64 ones,
// with vectors of 8 float32.
//
//go:noescape
func reluRowsKernel32(c *float32, ldc, rows, vecs int)

//go:noescape
func reluBackRowsKernel32(c, h *float32, ldc, rows, vecs int)

//go:noescape
func packRowsKernel32(dst, db, src *float32, lds, k, vecs, panels, ldp int)

//go:noescape
func packTailKernel32(dst, db, src *float32, lds, k, vecs int, mask *int32)

//go:noescape
func packTrans4Kernel32(dst, src *float32, lds, k, ldd int)

//go:noescape
func nonFiniteKernel32(s *float32, n int) bool

//go:noescape
func packRows4Kernel32(dst, db, src *float32, lds, k, panels int)

//go:noescape
func adamKernel32(p, m, v, grad *float32, n int, c *[8]float32)

//go:noescape
func addKernel32(dst, src *float32, n int)
