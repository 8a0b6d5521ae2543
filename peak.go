// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math"
	"sync"
	"time"
)

// The machine's peak, the yardstick of the benchmarks (docs/design.md §3):
// the float64 flops per second of independent fused multiply-add chains,
// which no real computation beats, on one core and on several at once.
// Absolute speeds differ between machines; fractions of this peak travel.

// peakLoopGo is the plain-Go peak loop: n iterations of 8 independent
// chains c ← c·1 + 2⁻²³ (math.FMA, one fused instruction where the CPU has
// one), 16 flops an iteration. It returns the flops and a sum of the
// chains.
func peakLoopGo(n int) (flops, sum float64) {
	const a, b = 1.0, 1.0 / (1 << 23)
	var c0, c1, c2, c3, c4, c5, c6, c7 float64
	for i := 0; i < n; i++ {
		c0 = math.FMA(c0, a, b)
		c1 = math.FMA(c1, a, b)
		c2 = math.FMA(c2, a, b)
		c3 = math.FMA(c3, a, b)
		c4 = math.FMA(c4, a, b)
		c5 = math.FMA(c5, a, b)
		c6 = math.FMA(c6, a, b)
		c7 = math.FMA(c7, a, b)
	}
	return 16 * float64(n), ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7))
}

// measurePeak returns the flops per second of the peak loop run on procs
// goroutines at once, each for about d: the best of three tries.
func measurePeak(procs int, d time.Duration) float64 {
	// Calibrate the iterations of a run of d on one goroutine.
	n := 1 << 16
	for {
		t := time.Now()
		peakLoop(n)
		if el := time.Since(t); el > d/8 || n > 1<<40 {
			n = int(float64(n) * float64(d) / float64(max(el, 1)))
			break
		}
		n *= 4
	}
	best := 0.0
	for try := 0; try < 3; try++ {
		var wg sync.WaitGroup
		flops := make([]float64, procs)
		t := time.Now()
		for p := 0; p < procs; p++ {
			wg.Add(1)
			go func(p int) {
				defer wg.Done()
				flops[p], _ = peakLoop(n)
			}(p)
		}
		wg.Wait()
		el := time.Since(t).Seconds()
		total := 0.0
		for _, f := range flops {
			total += f
		}
		best = math.Max(best, total/el)
	}
	return best
}
