// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego && amd64

package flow

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkKernelMicro runs each micro-kernel alone on operands that stay in
// cache (a run of row tiles of A, row-major, and one panel slice of B): the
// speed the blocked products can at most reach, to compare with
// BenchmarkKernelPeak.
func BenchmarkKernelMicro(b *testing.B) {
	if !kernUseAsm {
		b.Log("no AVX2+FMA: the micro-kernels do not run on this machine")
		return
	}
	rnd := rand.New(rand.NewPCG(41, 42))
	for _, kind := range []gemmKind{gemmWide, gemmNarrow} {
		for _, k := range []int{64, 128, 256} {
			mr, nr := kind.mr(), kind.nr()
			tiles := 48 / mr
			a := kernRandSlice(rnd, tiles*mr*k)
			bp := kernRandSlice(rnd, k*nr)
			c := make([]float64, tiles*mr*nr)
			b.Run(fmt.Sprintf("%dx%d/k=%d", mr, nr, k), func(b *testing.B) {
				g := gemmJob[float64]{kind: kind}
				for i := 0; i < b.N; i++ {
					g.kern(&c[0], nr, &a[0], k, 1, 0, &bp[0], k, tiles, nil)
				}
				kernReportGFLOPS(b, 2*float64(tiles*mr*nr*k))
			})
		}
	}
}
