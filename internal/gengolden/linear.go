// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

func luLinear(cfg flow.LUConfig) flow.Layer {
	l, err := flow.NewLULinear(cfg)
	if err != nil {
		panic(err)
	}
	return l
}

func actNorm(d int) flow.Layer {
	a, err := flow.NewActNorm(d)
	if err != nil {
		panic(err)
	}
	return a
}

// initActNorm initialises the ActNorm layers of the flow (flow.InitActNorm)
// on 16 fixed rows of N(1, 2²) draws, with 16 rows of standard normal
// contexts for a conditional flow, after its parameters were drawn, and
// rounds their parameters to float32 values.
func initActNorm(f *flow.Flow) {
	rnd := rand.New(rand.NewPCG(0xac7, 0x0a))
	x := rows(16, f.Dim(), 2, rnd)
	for i := range x.RawMatrix().Data {
		x.RawMatrix().Data[i]++
	}
	var c mat.Matrix
	if f.ContextDim() > 0 {
		c = rows(16, f.ContextDim(), 1, rnd)
	}
	if _, err := flow.InitActNorm(f, x, c); err != nil {
		panic(err)
	}
	// A later ActNorm is initialised on rows that passed through other
	// layers, whose kernels differ in the last bits between builds
	// (assembly, purego, arm64); rounded to float32 values its parameters
	// are the same on every build, so that the file's model is.
	for _, l := range f.Layers() {
		if a, ok := l.(*flow.ActNorm); ok {
			p := a.Params()
			for i, v := range p {
				p[i] = float64(float32(v))
			}
		}
	}
}

func batchNorm(d int, eps float64) flow.Layer {
	b, err := flow.NewBatchNorm(d, eps)
	if err != nil {
		panic(err)
	}
	return b
}

// setBatchNormStats sets the stored statistics of the BatchNorm layers of
// the flow (flow.SetBatchNormStats) on 16 fixed rows of N(1, 2²) draws,
// after its parameters were drawn, and rounds them to float32 values, so
// that the model is the same on every build, as initActNorm does.
func setBatchNormStats(f *flow.Flow) {
	rnd := rand.New(rand.NewPCG(0xb7, 0x0b))
	x := rows(16, f.Dim(), 2, rnd)
	for i := range x.RawMatrix().Data {
		x.RawMatrix().Data[i]++
	}
	if _, err := flow.SetBatchNormStats(f, x, nil); err != nil {
		panic(err)
	}
	for _, l := range f.Layers() {
		if b, ok := l.(*flow.BatchNorm); ok {
			m, v := b.Mean(), b.Variance()
			for i := range m {
				m[i], v[i] = float64(float32(m[i])), float64(float32(v[i]))
			}
			if err := b.SetStats(m, v); err != nil {
				panic(err)
			}
		}
	}
}

// linearCases returns the golden models of the LU-factored linear layer
// and of ActNorm, alone and mixed with other layers.
func linearCases() []Case {
	return []Case{
		{Name: "lu-linear", Description: "one LU-factored linear layer, D = 4: z = W·x + b, W = P·L·U with perm [2 0 3 1] and signs [1 −1 1 −1]",
			Build: layers(luLinear(flow.LUConfig{Dim: 4, Perm: []int{2, 0, 3, 1}, Signs: []int{1, -1, 1, -1}}))},
		{Name: "lu-linear-dim1", Description: "one LU-factored linear layer, D = 1, sign −1 (no lower or upper entries): z = −exp(ℓ)·x + b",
			Build: layers(luLinear(flow.LUConfig{Dim: 1, Signs: []int{-1}}))},
		{Name: "actnorm", Description: "one ActNorm layer, D = 3, initialised on 16 rows of N(1, 2²) draws: x = z ⊙ exp(s) + b",
			Build: layers(actNorm(3)), Prepare: initActNorm},
		{Name: "glow-mixed", Description: "ActNorm, LU-factored linear layer and affine coupling twice (Glow's step), an inverted LU layer, an additive coupling, a permutation and a standardisation, D = 3; the ActNorm layers initialised on 16 rows of N(1, 2²) draws",
			Build: layers(
				actNorm(3),
				luLinear(flow.LUConfig{Dim: 3}),
				coupling([]bool{true, false, true}, []int{4}, flow.Tanh, flow.Affine{Clamp: 2}),
				actNorm(3),
				luLinear(flow.LUConfig{Dim: 3, Perm: []int{1, 2, 0}, Signs: []int{-1, 1, 1}}),
				coupling([]bool{false, true, false}, []int{5}, flow.ReLU, flow.Affine{}),
				flow.Invert(luLinear(flow.LUConfig{Dim: 3, Signs: []int{1, 1, -1}})),
				coupling([]bool{false, false, true}, []int{3}, flow.Tanh, flow.Additive{}),
				perm(2, 0, 1),
				std([]float64{0.5, -1, 2}, []float64{1.5, 0.75, 2.5}),
			),
			Prepare: initActNorm},
		{Name: "mixed-lu-maf", Description: "LU-factored linear layers and ActNorm between MAF layers, D = 3, the ActNorm layer not initialised (maximum likelihood)",
			Build: layers(
				luLinear(flow.LUConfig{Dim: 3, Perm: []int{2, 1, 0}}),
				maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: flow.Tanh, Clamp: 2}),
				actNorm(3),
				luLinear(flow.LUConfig{Dim: 3, Signs: []int{1, -1, -1}}),
				maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{5}, Activation: flow.ReLU, Order: flow.ReversedOrder}),
			)},
		{Name: "context-glow", Description: "ActNorm, LU-factored linear layer and a conditional affine coupling twice, D = 2, C = 2: the layers without a context pass it on; the ActNorm layers initialised on 16 rows of N(1, 2²) draws with standard normal contexts",
			Build: layers(
				actNorm(2),
				luLinear(flow.LUConfig{Dim: 2, Perm: []int{1, 0}}),
				condCoupling([]bool{true, false}, []int{4}, flow.Tanh, flow.Affine{Clamp: 2}, 2),
				actNorm(2),
				luLinear(flow.LUConfig{Dim: 2, Signs: []int{-1, 1}}),
				condCoupling([]bool{false, true}, []int{3}, flow.ReLU, flow.Affine{}, 2),
			),
			Prepare: initActNorm},
		{Name: "batch-norm", Description: "one BatchNorm layer, D = 3, ε = 0.01, its statistics set on 16 rows of N(1, 2²) draws: z = (x − m) ⊙ exp(γ)/√(v + ε) + β; nll and its gradient in training mode (the statistics of the 5 rows of x)",
			Build: layers(batchNorm(3, 0.01)), Prepare: setBatchNormStats},
		{Name: "mixed-batch-norm", Description: "BatchNorm layers between an affine coupling and MAF layers, and an inverted BatchNorm, D = 3, default ε; the statistics set on 16 rows of N(1, 2²) draws; nll and its gradient in training mode (the BatchNorm layers, not the inverted one, normalise by the statistics of their inputs over the 5 rows of x)",
			Build: layers(
				batchNorm(3, 0),
				coupling([]bool{true, false, true}, []int{4}, flow.ReLU, flow.Affine{Clamp: 2}),
				batchNorm(3, 0),
				maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: flow.Tanh}),
				flow.Invert(batchNorm(3, 0.1)),
				maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{5}, Activation: flow.ReLU, Order: flow.ReversedOrder}),
				batchNorm(3, 0),
			),
			Prepare: setBatchNormStats},
	}
}
