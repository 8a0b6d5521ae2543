// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import "math"

// round32 rounds every value of v to the nearest float32, in place, so
// that a float64 flow and its float32 copy hold the same parameters.
func round32(v []float64) {
	for i, x := range v {
		v[i] = float64(float32(x))
	}
}

// to32 and to64 convert vectors between the precisions.
func to32(v []float64) []float32 {
	w := make([]float32, len(v))
	for i, x := range v {
		w[i] = float32(x)
	}
	return w
}

func to64(v []float32) []float64 {
	w := make([]float64, len(v))
	for i, x := range v {
		w[i] = float64(x)
	}
	return w
}

// mixedBad returns the first index i at which got is not within tol of
// want in the mixed measure of FORMAT.md §7,
// |got_i − want_i| ≤ tol·max(|want_i|, 10⁻³·max_j |want_j|), or −1 when
// none is (a NaN anywhere is a violation).
func mixedBad(got, want []float64, tol float64) int {
	if len(got) != len(want) {
		return 0
	}
	top := 0.0
	for _, w := range want {
		top = max(top, math.Abs(w))
	}
	for i, w := range want {
		if !(math.Abs(got[i]-w) <= tol*max(math.Abs(w), 1e-3*top)) {
			return i
		}
	}
	return -1
}

// logpBad returns the first index i at which got is not within tol of want
// in the measure of the float32 path's log-densities and outputs,
// |got_i − want_i| ≤ tol·(|want_i| + 1), or −1 when none is.
func logpBad(got, want []float64, tol float64) int {
	if len(got) != len(want) {
		return 0
	}
	for i, w := range want {
		if !(math.Abs(got[i]-w) <= tol*(math.Abs(w)+1)) {
			return i
		}
	}
	return -1
}
