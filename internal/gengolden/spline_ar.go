// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// knotSpline is the spline of the knot cases: K = 4 bins on [−2, 2] with
// minimum width and height 1/1024, so that with zero width and height
// logits every bin is 1 wide and high, with no rounding, and the knots are
// exactly −2, −1, 0, 1, 2 in x and y on every machine.
var knotSpline = flow.RQSpline{Bins: 4, Bound: 2, MinWidth: 1.0 / 1024, MinHeight: 1.0 / 1024, MinDerivative: 1e-3}

// uniformARKnots zeroes the width and height logits that the MADE of the
// autoregressive spline layer i of f outputs, its weights and biases both,
// so that every bin of every dimension has the width and height 2B/K
// whatever the MADE's input. In the export layout row j·(3K−1)+k of the
// output layer is parameter k of dimension j, the widths and heights being
// k < 2K. The derivative logits are left as they are.
func uniformARKnots(i int) func(f *flow.Flow) {
	return func(f *flow.Flow) {
		var (
			m *flow.MADE
			s *flow.RQSpline
		)
		switch l := f.Layers()[i].(type) {
		case *flow.MAF:
			m, s = l.MADE(), l.Spline()
		case *flow.IAF:
			m, s = l.MADE(), l.Spline()
		}
		last := m.NumLayers() - 1
		w := mat.DenseCopyOf(m.Weights(last))
		b := append([]float64(nil), m.Biases(last)...)
		p := 3*s.Bins - 1
		rows, cols := w.Dims()
		for r := 0; r < rows; r++ {
			if r%p >= 2*s.Bins {
				continue
			}
			for c := 0; c < cols; c++ {
				w.Set(r, c, 0)
			}
			b[r] = 0
		}
		if err := m.SetLayer(last, w, b); err != nil {
			panic(err)
		}
	}
}

// splineARCases returns the golden models of autoregressive spline layers:
// MAF-style and IAF-style with inputs on the knots and in the tails, and a
// conditional flow of both.
func splineARCases() []Case {
	s3 := spline(3, 2)
	s4 := spline(4, 2)
	return []Case{
		{Name: "maf-rqspline-knots",
			Description: "one MAF layer with a rational-quadratic spline transform, D = 3, natural order, K = 4 bins on [−2, 2], minimum bin width and height 1/1024, minimum derivative 1e-3, MADE 3→5→33 with tanh (output row j·11 + k is spline parameter k of dimension j); the width and height logits are zero (weights and biases), so the knots are at −2, −1, 0, 1, 2 in x and y, exactly in binary, and the derivative logits come from the MADE. The inputs lie on every knot (dimension 0, the MADE's input for the others), at ±2, just inside and outside, inside bins and in the near and far tails (±1e6 in dimension 2, the last in the order), in the one-pass inverse and the sequential forward.",
			Build:       layers(maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{5}, Activation: flow.Tanh, Spline: ptr(knotSpline)})),
			Prepare:     uniformARKnots(0),
			Inputs: func(x, z *mat.Dense) {
				setCol(x, 0, -2, -1, 0, 1, 2)
				setCol(x, 1, 1, -2.5, 0.3, 2+1e-9, -1.75)
				setCol(x, 2, 1e6, -1, 2-1e-9, -1e6, 0)
				setCol(z, 0, 2, 1, 0, -1, -2)
				setCol(z, 1, -2-1e-9, 0, 1.5, -1, 3)
				setCol(z, 2, -1e6, 1, -0.6, 1e6, 2)
			}},
		{Name: "iaf-rqspline-knots",
			Description: "one IAF layer with a rational-quadratic spline transform, D = 3, reversed order, K = 4 bins on [−2, 2], minimum bin width and height 1/1024, minimum derivative 1e-3, MADE 3→4→4→33 with ReLU (output row j·11 + k is spline parameter k of dimension j); the width and height logits are zero, so the knots are at −2, −1, 0, 1, 2 in x and y, exactly in binary. The inputs lie on every knot (dimension 2, first in the order), at ±2, just inside and outside, inside bins and in the near and far tails (±1e6 in dimension 0, the last in the order), in the one-pass forward and the sequential inverse.",
			Build:       layers(iaf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4, 4}, Activation: flow.ReLU, Order: flow.ReversedOrder, Spline: ptr(knotSpline)})),
			Prepare:     uniformARKnots(0),
			Inputs: func(x, z *mat.Dense) {
				setCol(z, 2, -2, -1, 0, 1, 2)
				setCol(z, 1, -2.5, 1, 2+1e-9, 0.3, -2)
				setCol(z, 0, 1e6, 2-1e-9, -1e6, -0.4, 1)
				setCol(x, 2, 2, 1, 0, -1, -2)
				setCol(x, 1, 0, -2-1e-9, 3, 1.25, -1)
				setCol(x, 0, -1e6, 1e6, 2, -2+1e-9, 0.7)
			}},
		{Name: "mixed-rqspline-ar",
			Description: "a MAF layer with a spline transform (K = 3 on [−2, 2], MADE 3→6→24 with tanh), a permutation, an affine MAF layer and an inverted IAF layer with a spline transform (K = 4 on [−2, 2], reversed order, MADE 3→5→33 with ReLU), D = 3; random inputs, some in the tails (maximum likelihood)",
			Build: layers(
				maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{6}, Activation: flow.Tanh, Spline: ptr(s3)}),
				perm(2, 0, 1),
				maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: flow.Tanh, Order: flow.ReversedOrder, Clamp: 2}),
				flow.Invert(iaf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{5}, Activation: flow.ReLU, Order: flow.ReversedOrder, Spline: ptr(s4)})),
			),
			Inputs: func(x, z *mat.Dense) {
				x.Set(0, 1, -3)
				x.Set(3, 2, 2.5)
				z.Set(1, 0, 4)
				z.Set(2, 2, -2.25)
			}},
		{Name: "context-rqspline-ar",
			Description: "a conditional flow of autoregressive spline layers, D = 3, C = 2: a MAF layer with a spline transform (K = 3 on [−2, 2], random order, random hidden degrees in [0, 2], MADE [x ; c] 5→4→3→24 with tanh), a permutation, and an inverted conditional IAF layer with a spline transform (K = 4 on [−1.5, 1.5], MADE [z ; c] 5→4→33 with ReLU). Some inputs in the tails (maximum likelihood).",
			Build: layers(
				maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4, 3}, Activation: flow.Tanh, Order: flow.RandomOrder, Degrees: flow.RandomDegrees, Seed: 17, ContextDim: 2, Spline: ptr(s3)}),
				perm(1, 2, 0),
				flow.Invert(iaf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: flow.ReLU, ContextDim: 2, Spline: ptr(spline(4, 1.5))})),
			),
			Inputs: func(x, z *mat.Dense) {
				x.Set(0, 0, 2.75)
				x.Set(2, 2, -4)
				z.Set(1, 1, -2.5)
				z.Set(4, 0, 3)
			}},
		{Name: "context-iaf-rqspline",
			Description: "one conditional IAF layer with a spline transform, D = 3, C = 1, natural order, K = 3 on [−2, 2], MADE [z ; c] 4→4→24 with tanh; some inputs in the tails (reverse KL)",
			Build:       layers(iaf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: flow.Tanh, ContextDim: 1, Spline: ptr(s3)})),
			Inputs: func(x, z *mat.Dense) {
				x.Set(1, 2, -2.5)
				z.Set(0, 1, 2.25)
				z.Set(3, 2, -5)
			}},
	}
}

// ptr returns a pointer to a copy of s.
func ptr(s flow.RQSpline) *flow.RQSpline { return &s }
