// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"testing"
	"time"
)

// TestPeakLoop checks that the peak loops do the arithmetic they count:
// after n iterations every chain holds n·a·b exactly, so the sum of the
// chains is (flops/2)·a·b, on the assembly and the plain-Go path.
func TestPeakLoop(t *testing.T) {
	saved := kernUseAsm
	defer func() { kernUseAsm = saved }()
	for _, asm := range []bool{false, saved} {
		kernUseAsm = asm
		for _, n := range []int{0, 1, 2, 3, 1000} {
			flops, sum := peakLoop(n)
			// a·b per fused multiply-add: 2⁻²³ for amd64's assembly and
			// the Go loop, 0.5 for arm64's.
			ab := 1.0 / (1 << 23)
			if asm && peakIterFlops == 64 {
				ab = 0.5
			}
			if want := flops / 2 * ab; sum != want {
				t.Errorf("asm %v, n %d: sum %v, want %v (%v flops)", asm, n, sum, want, flops)
			}
		}
	}
	if f, _ := peakLoopGo(10); f != 160 {
		t.Errorf("the Go loop counts %v flops for 10 iterations, want 160", f)
	}
}

// TestMeasurePeak: the measured peak is a plausible number of flops per
// second for any machine this runs on, emulators included.
func TestMeasurePeak(t *testing.T) {
	one := measurePeak(1, 5*time.Millisecond)
	if !(one > 1e6 && one < 1e13) {
		t.Errorf("peak on one core %v flops/s", one)
	}
}
