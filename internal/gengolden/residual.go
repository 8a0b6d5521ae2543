// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import "github.com/nfgo/flow"

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
// conditioners.
func residualCases() []Case {
	return []Case{
		{Name: "residual-coupling",
			Description: "coupling layers with residual conditioners (FORMAT.md §3.1), D = 3: a rational-quadratic spline coupling, mask [1 0 1], K = 3 bins on [−2, 2], conditioner 2→5, 2 residual blocks of width 5, →16 with tanh; a permutation; an affine coupling, mask [0 1 0], clamp 2, conditioner 1→4, 1 residual block of width 4, →4 with ReLU",
			Build: layers(
				resCoupling([]bool{true, false, true}, 5, 2, flow.Tanh, spline(3, 2)),
				perm(2, 0, 1),
				resCoupling([]bool{false, true, false}, 4, 1, flow.ReLU, flow.Affine{Clamp: 2}),
			)},
	}
}
