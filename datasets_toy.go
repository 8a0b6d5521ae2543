// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// The generated two-dimensional toy densities of the built-in data sets
// (datasets.go): TwoMoons as scikit-learn's make_moons, the others after
// the test problems of the FFJORD and neural spline flow papers.

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

// EightGaussians returns n points of a mixture of eight isotropic
// Gaussians of standard deviation 0.5/√2 whose means lie evenly on the
// circle of radius 4/√2 ≈ 2.83, starting at (2.83, 0).
func EightGaussians(n int, rnd *rand.Rand) *mat.Dense {
	x := mat.NewDense(n, 2, nil)
	for i := 0; i < n; i++ {
		a := float64(rnd.IntN(8)) * math.Pi / 4
		cx, cy := 4*math.Cos(a), 4*math.Sin(a)
		x.Set(i, 0, (cx+0.5*rnd.NormFloat64())/math.Sqrt2)
		x.Set(i, 1, (cy+0.5*rnd.NormFloat64())/math.Sqrt2)
	}
	return x
}

// Checkerboard returns n points drawn uniformly from the black squares of a
// 4×4 checkerboard of side 8 centred at the origin.
func Checkerboard(n int, rnd *rand.Rand) *mat.Dense {
	x := mat.NewDense(n, 2, nil)
	for i := 0; i < n; i++ {
		a := 4*rnd.Float64() - 2
		b := rnd.Float64() - 2*float64(rnd.IntN(2))
		b += math.Mod(math.Floor(a)+4, 2)
		x.Set(i, 0, 2*a)
		x.Set(i, 1, 2*b)
	}
	return x
}

// Pinwheel returns n points of a pinwheel of five arms: in arm k, a point
// (r, t) with r ~ N(1, 0.3²), t ~ N(0, 0.1²) is rotated by the angle
// 2πk/5 + exp(r)/4 and scaled by 2.
func Pinwheel(n int, rnd *rand.Rand) *mat.Dense {
	const arms, radial, tangential, rate = 5, 0.3, 0.1, 0.25
	x := mat.NewDense(n, 2, nil)
	for i := 0; i < n; i++ {
		r := 1 + radial*rnd.NormFloat64()
		t := tangential * rnd.NormFloat64()
		a := 2*math.Pi*float64(i%arms)/arms + rate*math.Exp(r)
		s, c := math.Sincos(a)
		x.Set(i, 0, 2*(r*c-t*s))
		x.Set(i, 1, 2*(r*s+t*c))
	}
	return x
}

// TwoSpirals returns n points of two interleaved spirals: along each, the
// angle is u = 3π√U with U uniform, the point ±(−u cos u, u sin u) plus
// uniform jitter in [0, 0.5)², divided by 3, plus Gaussian noise of standard
// deviation 0.1.
func TwoSpirals(n int, rnd *rand.Rand) *mat.Dense {
	x := mat.NewDense(n, 2, nil)
	for i := 0; i < n; i++ {
		u := math.Sqrt(rnd.Float64()) * 3 * math.Pi
		a := -math.Cos(u)*u + 0.5*rnd.Float64()
		b := math.Sin(u)*u + 0.5*rnd.Float64()
		if i%2 == 1 {
			a, b = -a, -b
		}
		x.Set(i, 0, a/3+0.1*rnd.NormFloat64())
		x.Set(i, 1, b/3+0.1*rnd.NormFloat64())
	}
	return x
}
