// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// resCoupling returns a coupling layer whose conditioner is a residual
// network of blocks blocks of width h.
func resCoupling(mask []bool, h, blocks int, act flow.Activation, fn flow.CouplingFunc) flow.Layer {
	c, err := flow.NewCoupling(flow.CouplingConfig{Mask: mask, Hidden: []int{h}, Activation: act, Func: fn, ResidualBlocks: blocks})
	if err != nil {
		panic(err)
	}
	return c
}

// residualCases returns the golden models of coupling layers with residual
// conditioners and of autoregressive layers with residual MADEs.
func residualCases() []Case {
	return []Case{
		{Name: "residual-coupling",
			Description: "coupling layers with residual conditioners (FORMAT.md §3.1), D = 3: a rational-quadratic spline coupling, mask [1 0 1], K = 3 bins on [−2, 2], conditioner 2→5, 2 residual blocks of width 5, →16 with tanh; a permutation; an affine coupling, mask [0 1 0], clamp 2, conditioner 1→4, 1 residual block of width 4, →4 with ReLU",
			Build: layers(
				resCoupling([]bool{true, false, true}, 5, 2, flow.Tanh, spline(3, 2)),
				perm(2, 0, 1),
				resCoupling([]bool{false, true, false}, 4, 1, flow.ReLU, flow.Affine{Clamp: 2}),
			)},
		{Name: "residual-maf",
			Description: "autoregressive layers with residual MADEs (FORMAT.md §3.3, residual_blocks), D = 3: an affine MAF layer, random order, random hidden degrees, MADE 3→5, 2 residual blocks of width 5, →6 with tanh, clamp 2; a permutation; an inverted affine IAF layer, reversed order, MADE 3→4, 1 residual block of width 4, →6 with ReLU",
			Build: layers(
				maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{5}, ResidualBlocks: 2, Activation: flow.Tanh, Order: flow.RandomOrder, Degrees: flow.RandomDegrees, Seed: 5, Clamp: 2}),
				perm(1, 2, 0),
				flow.Invert(iaf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4}, ResidualBlocks: 1, Activation: flow.ReLU, Order: flow.ReversedOrder})),
			)},
		{Name: "context-residual-rqspline-ar",
			Description: "a conditional flow with a residual MADE, D = 3, C = 2: a MAF layer with a rational-quadratic spline transform (K = 3 on [−2, 2]), random hidden degrees in [0, 2], MADE [x ; c] 5→4, 2 residual blocks of width 4, →24 with tanh; some inputs in the tails (maximum likelihood)",
			Build: layers(
				maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4}, ResidualBlocks: 2, Activation: flow.Tanh, Degrees: flow.RandomDegrees, Seed: 9, ContextDim: 2, Spline: ptr(spline(3, 2))}),
			),
			Inputs: func(x, z *mat.Dense) {
				x.Set(0, 1, 2.5)
				x.Set(3, 0, -3)
				z.Set(2, 2, 2.75)
			}},
	}
}
