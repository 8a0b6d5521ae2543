// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// The generated conditional toy densities of the built-in data sets: each
// row is a two-dimensional point followed by its context, so that a
// conditional flow learns p(x | c) from the first two columns given the
// last (Dataset.Context says how many columns are context).

// TwoMoonsGiven returns n rows (x₁, x₂, m) of TwoMoons with the moon m that
// each point lies on, 0 for the upper (cos t, sin t) and 1 for the lower
// (1 − cos t, ½ − sin t): p(x | m) is one half circle, and p(x) the two
// moons. The noise is isotropic Gaussian of standard deviation noise.
func TwoMoonsGiven(n int, noise float64, rnd *rand.Rand) *mat.Dense {
	x := mat.NewDense(n, 3, nil)
	for i := 0; i < n; i++ {
		t := math.Pi * rnd.Float64()
		a, b := math.Cos(t), math.Sin(t)
		m := rnd.IntN(2)
		if m == 1 {
			a, b = 1-a, 0.5-b
		}
		x.Set(i, 0, a+noise*rnd.NormFloat64())
		x.Set(i, 1, b+noise*rnd.NormFloat64())
		x.Set(i, 2, float64(m))
	}
	return x
}

// RingGiven returns n rows (x₁, x₂, r) of points on the circle of radius r,
// r uniform on [0.5, 2], the angle uniform, plus isotropic Gaussian noise of
// standard deviation 0.05·r: p(x | r) is a ring whose radius is the
// context, and p(x) a disc thinning towards its centre.
func RingGiven(n int, rnd *rand.Rand) *mat.Dense {
	x := mat.NewDense(n, 3, nil)
	for i := 0; i < n; i++ {
		r := 0.5 + 1.5*rnd.Float64()
		t := 2 * math.Pi * rnd.Float64()
		x.Set(i, 0, r*math.Cos(t)+0.05*r*rnd.NormFloat64())
		x.Set(i, 1, r*math.Sin(t)+0.05*r*rnd.NormFloat64())
		x.Set(i, 2, r)
	}
	return x
}
