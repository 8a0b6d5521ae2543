// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego

package flow

// kernUseAsm selects the NEON kernels of asm_arm64.s (NEON is part of every
// arm64 CPU). Tests flip it to exercise the plain-Go references too.
var kernUseAsm = true

// gemmNR is the number of columns of the micro-kernel gemmKernel and of a
// packed panel: four 2-lane NEON registers.
const gemmNR = 8

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

// kernFastPackTrans reports whether packTransKernel is written for this
// architecture: not on arm64, where kernPackTrans is plain Go.
const kernFastPackTrans = false

func packTransKernel(dst, src *float64, lds, k int) { panic("flow: no packTransKernel on arm64") }
