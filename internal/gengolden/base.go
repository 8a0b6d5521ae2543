// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"github.com/nfgo/flow"
)

// withBase returns the flow of the layers ls over the base b.
func withBase(b func() (flow.Base, error), ls ...flow.Layer) func() (*flow.Flow, error) {
	return func() (*flow.Flow, error) {
		base, err := b()
		if err != nil {
			return nil, err
		}
		return flow.NewWithBase(base, ls...)
	}
}

func diagBase(d int) func() (flow.Base, error) {
	return func() (flow.Base, error) { return flow.NewDiagGaussianBase(d) }
}

func mixtureBase(d, k int) func() (flow.Base, error) {
	return func() (flow.Base, error) { return flow.NewMixtureBase(d, k, 1) }
}

func condBase(cfg flow.ConditionalGaussianBaseConfig) func() (flow.Base, error) {
	return func() (flow.Base, error) { return flow.NewConditionalGaussianBase(cfg) }
}

// baseCases returns the golden models over trainable bases (FORMAT.md
// §2.1): a diagonal Gaussian, mixtures (maximum likelihood only: the
// mixture's component draw has no reparameterisation gradient) and
// conditional Gaussians.
func baseCases() []Case {
	return []Case{
		{Name: "base-diag", Description: "a diagonal Gaussian base under an affine coupling layer (mask [1 0 1], conditioner 2→4→2 with tanh, clamp 2) and a permutation, D = 3",
			Build: withBase(diagBase(3),
				coupling([]bool{true, false, true}, []int{4}, flow.Tanh, flow.Affine{Clamp: 2}),
				perm(2, 0, 1),
			)},
		{Name: "base-mixture", Description: "a mixture of 3 diagonal Gaussians under a MAF layer (natural order, MADE 2→3→4 with ReLU) and a standardisation, D = 2 (maximum likelihood only)",
			Build: withBase(mixtureBase(2, 3),
				maf(flow.AutoregressiveConfig{Dim: 2, Hidden: []int{3}, Activation: flow.ReLU}),
				std([]float64{0.5, -1}, []float64{2, 0.75}),
			)},
		{Name: "base-mixture-coupling", Description: "a mixture of 4 diagonal Gaussians under an additive coupling (mask [0 1 1], conditioner 1→3→2 with tanh) and an inverted affine one (mask [1 1 0], conditioner 2→3→2 with ReLU), D = 3 (maximum likelihood only, though both layers differentiate forward too)",
			Build: withBase(mixtureBase(3, 4),
				coupling([]bool{false, true, true}, []int{3}, flow.Tanh, flow.Additive{}),
				flow.Invert(coupling([]bool{true, true, false}, []int{3}, flow.ReLU, flow.Affine{})),
			)},
		{Name: "context-base", Description: "a conditional diagonal Gaussian base (network c 2→4→6 with tanh) under a conditional affine coupling (mask [0 1 0], conditioner [x_A ; c] 4→4→4 with tanh, clamp 1.5) and a permutation, D = 3, C = 2",
			Build: withBase(condBase(flow.ConditionalGaussianBaseConfig{Dim: 3, ContextDim: 2, Hidden: []int{4}, Activation: flow.Tanh, Seed: 3}),
				condCoupling([]bool{false, true, false}, []int{4}, flow.Tanh, flow.Affine{Clamp: 1.5}, 2),
				perm(1, 2, 0),
			)},
		{Name: "context-base-linear", Description: "a conditional diagonal Gaussian base whose mean and log-std are affine in the context (network 1→4) under an affine coupling without a context (mask [1 0], conditioner 1→3→2 with ReLU), D = 2, C = 1: the flow is conditional through its base alone",
			Build: withBase(condBase(flow.ConditionalGaussianBaseConfig{Dim: 2, ContextDim: 1}),
				coupling([]bool{true, false}, []int{3}, flow.ReLU, flow.Affine{}),
			)},
	}
}
