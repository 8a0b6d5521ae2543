// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// spline returns the rational-quadratic spline of k bins on [−b, b] with
// the default minimums.
func spline(k int, b float64) flow.RQSpline {
	s, err := flow.NewRQSpline(k, b)
	if err != nil {
		panic(err)
	}
	return s
}

// uniformKnots zeroes the width and height logits that the last dense layer
// of the spline coupling layer i of f outputs, its weights and biases both,
// so that every bin has the width and height 2B/K whatever the
// conditioner's input: the knots are then at −B + 2B·k/K in x and in y,
// where an input can be put. The derivative logits are left as they are.
func uniformKnots(i int) func(f *flow.Flow) {
	return func(f *flow.Flow) {
		c := f.Layers()[i].(*flow.Coupling)
		s := c.Func().(flow.RQSpline)
		nb := 0
		for _, m := range c.Mask() {
			if !m {
				nb++
			}
		}
		sizes := append([]int{c.Dim() - nb + c.ContextDim()}, c.Hidden()...)
		in, out := sizes[len(sizes)-1], s.ParamsPerDim()*nb
		p := c.Params()
		w := p[len(p)-out*in-out : len(p)-out] // W, out×in, then b
		b := p[len(p)-out:]
		// θ[k·|B| + j]: the width logits are rows 0…K·|B|−1, the height
		// logits the next K·|B|.
		for r := 0; r < 2*s.Bins*nb; r++ {
			for k := range in {
				w[r*in+k] = 0
			}
			b[r] = 0
		}
	}
}

// setCol writes v down column j of m.
func setCol(m *mat.Dense, j int, v ...float64) {
	for i, x := range v {
		m.Set(i, j, x)
	}
}

// splineCases returns the golden models of spline coupling layers without a
// context.
func splineCases() []Case {
	return []Case{
		{Name: "rqspline-knots",
			Description: "one rational-quadratic spline coupling layer, D = 4, mask [1 0 1 0], K = 4 bins on [−2, 2], minimum bin width and height 1/1024, minimum derivative 1e-3, conditioner 2→5→22 with tanh; the width and height logits are zero (weights and biases), so the knots are at −2, −1, 0, 1, 2 in x and y, exactly in binary, and the derivative logits come from the conditioner. The transformed inputs lie on every knot, at ±2, just inside and outside, inside bins and in the near and far tails, in both directions.",
			// Minimum width and height 1/1024 make every knot exact: the
			// widths are 2B(m + (1 − K·m)/K) = 1 with no rounding, so
			// that an input on a knot falls in the same bin on every
			// machine, fused multiply-adds or not.
			Build: layers(coupling([]bool{true, false, true, false}, []int{5}, flow.Tanh,
				flow.RQSpline{Bins: 4, Bound: 2, MinWidth: 1.0 / 1024, MinHeight: 1.0 / 1024, MinDerivative: 1e-3})),
			Prepare: uniformKnots(0),
			Inputs: func(x, z *mat.Dense) {
				setCol(x, 1, -2, -1, 0, 1, 2)
				setCol(x, 3, -2.5, 1e6, 0.3, -1.75, 2+1e-9)
				setCol(z, 1, 2, 1, 0, -1, -2)
				setCol(z, 3, -1e6, 2-1e-9, -0.6, 1.2, 3)
			}},
		{Name: "rqspline-relu",
			Description: "one rational-quadratic spline coupling layer, D = 3, mask [1 0 0], K = 3 bins on [−2, 2], conditioner 1→6→6→16 with ReLU; random inputs, some in the tails",
			Build:       layers(coupling([]bool{true, false, false}, []int{6, 6}, flow.ReLU, spline(3, 2))),
			Inputs: func(x, z *mat.Dense) {
				x.Set(0, 1, -7)
				x.Set(4, 2, 2.5)
				z.Set(1, 2, -3)
				z.Set(3, 1, 40)
			}},
		{Name: "rqspline-mixed",
			Description: "spline couplings (K = 4 on [−2, 2] with tanh, K = 3 on [−1.5, 1.5] with tanh, an inverted one of K = 4 on [−2, 2]), permutations and an affine coupling, D = 3",
			Build: layers(
				coupling([]bool{true, false, true}, []int{5}, flow.Tanh, spline(4, 2)),
				perm(2, 0, 1),
				coupling([]bool{false, true, true}, []int{4}, flow.Tanh, spline(3, 1.5)),
				coupling([]bool{true, true, false}, []int{4}, flow.Tanh, flow.Affine{Clamp: 2}),
				flow.Invert(coupling([]bool{false, false, true}, []int{3}, flow.Tanh, spline(4, 2))),
			)},
	}
}
