// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package golden

import (
	"math"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		got, want []float64
		err       string
	}{
		{[]float64{1, 2}, []float64{1, 2}, ""},
		{[]float64{1 + 1e-13, 2}, []float64{1, 2}, ""},
		{[]float64{1 + 1e-11, 2}, []float64{1, 2}, "[0]: "},
		// An entry near zero is held to 1e-3 of the array's scale.
		{[]float64{1e-16, 1000}, []float64{0, 1000}, ""},
		{[]float64{1e-8, 1000}, []float64{0, 1000}, "[0]: 1e-08, want 0"},
		{[]float64{math.NaN()}, []float64{1}, "[0]: NaN"},
		{[]float64{1}, []float64{1, 2}, "1 values, want 2"},
	} {
		err := Compare(c.got, c.want)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("Compare(%v, %v): %v", c.got, c.want, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("Compare(%v, %v): %v, want an error containing %q", c.got, c.want, err, c.err)
		}
	}
}

func TestBanana(t *testing.T) {
	x := []float64{0.3, -1.2, 0.7}
	g := make([]float64, 3)
	lp := Banana(g, x)
	u := -1.2 - 0.09/4
	want := -0.09/8 - u*u/2 - 0.49/2
	if math.Abs(lp-want) > 1e-15 {
		t.Errorf("log π = %v, want %v", lp, want)
	}
	// The gradient against central differences.
	for i := range x {
		const h = 1e-6
		xp := append([]float64(nil), x...)
		xm := append([]float64(nil), x...)
		xp[i] += h
		xm[i] -= h
		tmp := make([]float64, 3)
		fd := (Banana(tmp, xp) - Banana(tmp, xm)) / (2 * h)
		if math.Abs(fd-g[i]) > 1e-8 {
			t.Errorf("∂/∂x[%d] = %v, finite difference %v", i, g[i], fd)
		}
	}
}
