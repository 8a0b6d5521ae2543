// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego && (amd64 || arm64)

package flow

import "runtime"

// peakKernel runs n iterations of the FMA-peak loop of peak_amd64.s or
// peak_arm64.s.
//
//go:noescape
func peakKernel(n int) float64

// peakIterFlops is the number of flops one iteration of peakKernel does:
// 12 chains of 4-lane FMAs (AVX2) or 16 chains of 2-lane FMAs (NEON).
var peakIterFlops = map[string]float64{"amd64": 96, "arm64": 64}[runtime.GOARCH]

// peakLoop runs the peak loop for n iterations and returns its flops and a
// sum of its chains: the assembly where the kernels use it, else the
// plain-Go loop (so that with GODEBUG=cpu.avx2=off the yardstick is the
// arithmetic the fallback kernels can reach).
func peakLoop(n int) (flops, sum float64) {
	if kernUseAsm {
		return float64(n) * peakIterFlops, peakKernel(n)
	}
	return peakLoopGo(n)
}
