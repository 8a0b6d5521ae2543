// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import "github.com/nfgo/flow"

func maf(cfg flow.AutoregressiveConfig) flow.Layer {
	l, err := flow.NewMAF(cfg)
	if err != nil {
		panic(err)
	}
	return l
}

func iaf(cfg flow.AutoregressiveConfig) flow.Layer {
	l, err := flow.NewIAF(cfg)
	if err != nil {
		panic(err)
	}
	return l
}

// moreCases returns the golden models of the autoregressive layers: MAF
// and IAF with each order kind, both degree assignments and each
// activation.
func moreCases() []Case {
	return []Case{
		{Name: "maf-natural-relu", Description: "one MAF layer, D = 3, natural order, MADE 3→5→5→6 with ReLU, sequential degrees",
			Build: layers(maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{5, 5}, Activation: flow.ReLU}))},
		{Name: "maf-reversed-tanh-clamp", Description: "one MAF layer, D = 4, reversed order, MADE 4→6→8 with tanh, clamp 2",
			Build: layers(maf(flow.AutoregressiveConfig{Dim: 4, Hidden: []int{6}, Activation: flow.Tanh, Order: flow.ReversedOrder, Clamp: 2}))},
		{Name: "maf-random", Description: "one MAF layer, D = 4, random order, random hidden degrees, MADE 4→7→5→8 with tanh",
			Build: layers(maf(flow.AutoregressiveConfig{Dim: 4, Hidden: []int{7, 5}, Activation: flow.Tanh, Order: flow.RandomOrder, Degrees: flow.RandomDegrees, Seed: 11}))},
		{Name: "maf-explicit", Description: "one MAF layer, D = 3, explicit order [2 0 1], MADE 3→4→6 with ReLU",
			Build: layers(maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: flow.ReLU, Order: flow.ExplicitOrder, Perm: []int{2, 0, 1}}))},
		{Name: "maf-dim1", Description: "one MAF layer, D = 1 (μ and α are the output biases), MADE 1→2→2 with tanh",
			Build: layers(maf(flow.AutoregressiveConfig{Dim: 1, Hidden: []int{2}, Activation: flow.Tanh}))},
		{Name: "iaf-natural-tanh", Description: "one IAF layer, D = 3, natural order, MADE 3→4→4→6 with tanh, clamp 1",
			Build: layers(iaf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4, 4}, Activation: flow.Tanh, Clamp: 1}))},
		{Name: "iaf-random-relu", Description: "one IAF layer, D = 4, random order, random hidden degrees, MADE 4→6→8 with ReLU",
			Build: layers(iaf(flow.AutoregressiveConfig{Dim: 4, Hidden: []int{6}, Activation: flow.ReLU, Order: flow.RandomOrder, Degrees: flow.RandomDegrees, Seed: 5}))},
		{Name: "inverse-maf", Description: "a MAF layer with its directions swapped (inverse), D = 3, reversed order, MADE 3→4→6 with tanh",
			Build: layers(flow.Invert(maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: flow.Tanh, Order: flow.ReversedOrder})))},
		{Name: "mixed-maf", Description: "MAF, permutation, affine coupling, inverted IAF and standardisation, D = 3 (maximum likelihood)",
			Build: layers(
				maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{6}, Activation: flow.Tanh}),
				perm(2, 0, 1),
				coupling([]bool{true, false, true}, []int{4}, flow.ReLU, flow.Affine{Clamp: 2}),
				flow.Invert(iaf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{5}, Activation: flow.ReLU, Order: flow.ReversedOrder})),
				std([]float64{-1, 0, 1}, []float64{2, 3, 0.5}),
			)},
		{Name: "mixed-names", Description: "MAF without hidden layers (no degrees), permutation, additive coupling and inverted IAF, D = 3, with column names that need escaping in JSON",
			Build: named([]string{"x₁ (m/s)", "\"quoted\"", "back\\slash [1]"}, layers(
				maf(flow.AutoregressiveConfig{Dim: 3, Activation: flow.Tanh, Order: flow.ReversedOrder, Clamp: 2}),
				perm(1, 2, 0),
				coupling([]bool{true, true, false}, []int{3}, flow.ReLU, flow.Additive{}),
				flow.Invert(iaf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: flow.Tanh, Order: flow.RandomOrder, Degrees: flow.RandomDegrees, Seed: 3})),
			))},
		{Name: "mixed-iaf", Description: "IAF, permutation, additive coupling, inverted MAF, D = 3 (reverse KL)",
			Build: layers(
				iaf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{6}, Activation: flow.Tanh, Clamp: 3}),
				perm(1, 2, 0),
				coupling([]bool{false, true, false}, []int{4}, flow.Tanh, flow.Additive{}),
				flow.Invert(maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: flow.Tanh, Order: flow.RandomOrder, Degrees: flow.RandomDegrees, Seed: 7})),
			)},
	}
}

// zeroMasked sets the masked weights of every MADE of f to zero, as a
// model file holds them.
func zeroMasked(f *flow.Flow) error {
	var visit func(l flow.Layer) error
	visit = func(l flow.Layer) error {
		var m *flow.MADE
		switch l := l.(type) {
		case *flow.MAF:
			m = l.MADE()
		case *flow.IAF:
			m = l.MADE()
		case *flow.Inverted:
			return visit(l.L)
		default:
			return nil
		}
		for k := 0; k < m.NumLayers(); k++ {
			if err := m.SetLayer(k, m.Weights(k), m.Biases(k)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, l := range f.Layers() {
		if err := visit(l); err != nil {
			return err
		}
	}
	return nil
}
