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

// gemmNR is the number of columns of the micro-kernel gemmKernel and of a
// packed panel: three YMM words.
const gemmNR = 12

// kernVecWidth is the number of float64 lanes of one vector register.
const kernVecWidth = 4

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

// kernFastPackTrans reports whether packTransKernel is written for this
// architecture.
const kernFastPackTrans = true

//go:noescape
func packTransKernel(dst, src *float64, lds, k int)
