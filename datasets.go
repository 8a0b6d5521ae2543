// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// TwoMoons returns n points of the two interleaving half circles of
// scikit-learn's make_moons: the upper moon (cos t, sin t) and the lower one
// (1 − cos t, ½ − sin t) for t uniform on [0, π], each point on either with
// probability ½, plus isotropic Gaussian noise of standard deviation noise.
func TwoMoons(n int, noise float64, rnd *rand.Rand) *mat.Dense {
	x := mat.NewDense(n, 2, nil)
	for i := 0; i < n; i++ {
		t := math.Pi * rnd.Float64()
		a, b := math.Cos(t), math.Sin(t)
		if rnd.IntN(2) == 1 {
			a, b = 1-a, 0.5-b
		}
		x.Set(i, 0, a+noise*rnd.NormFloat64())
		x.Set(i, 1, b+noise*rnd.NormFloat64())
	}
	return x
}
