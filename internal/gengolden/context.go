// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
	"github.com/nfgo/flow/internal/golden"
)

func condCoupling(mask []bool, hidden []int, act flow.Activation, h flow.CouplingFunc, nc int) flow.Layer {
	c, err := flow.NewCoupling(flow.CouplingConfig{Mask: mask, Hidden: hidden, Activation: act, Func: h, ContextDim: nc})
	if err != nil {
		panic(err)
	}
	return c
}

// withContextNames gives the flow of build the context's column names.
func withContextNames(names []string, build func() (*flow.Flow, error)) func() (*flow.Flow, error) {
	return func() (*flow.Flow, error) {
		f, err := build()
		if err != nil {
			return nil, err
		}
		return f, f.SetContextNames(names)
	}
}

// contextCases returns the golden models of conditional flows: coupling
// layers, MAF and IAF with a context, and flows that mix conditional layers
// with layers without a context.
func contextCases() []Case {
	return []Case{
		{Name: "context-coupling", Description: "a conditional flow of coupling layers, D = 3, C = 2: affine, mask [1 0 1], conditioner [x_A ; c] 4→5→2 with tanh, clamp 1.5; additive, mask [0 1 0], conditioner 3→4→2 with ReLU",
			Build: layers(
				condCoupling([]bool{true, false, true}, []int{5}, flow.Tanh, flow.Affine{Clamp: 1.5}, 2),
				condCoupling([]bool{false, true, false}, []int{4}, flow.ReLU, flow.Additive{}, 2),
			)},
		{Name: "context-rqspline", Description: "a conditional flow of rational-quadratic spline couplings, D = 3, C = 2: K = 3 bins on [−2, 2], mask [1 0 1], conditioner [x_A ; c] 4→5→8 with tanh; a permutation; K = 4 on [−2, 2] without a context, mask [0 1 1], conditioner 2→4→11 with ReLU; an inverted conditional one of K = 3 on [−1, 1], mask [1 1 0], conditioner 4→4→8 with tanh. Some inputs in the tails.",
			Build: layers(
				condCoupling([]bool{true, false, true}, []int{5}, flow.Tanh, spline(3, 2), 2),
				perm(1, 2, 0),
				coupling([]bool{false, true, true}, []int{4}, flow.ReLU, spline(4, 2)),
				flow.Invert(condCoupling([]bool{true, true, false}, []int{4}, flow.Tanh, spline(3, 1), 2)),
			),
			Inputs: func(x, z *mat.Dense) {
				x.Set(0, 1, -3)
				x.Set(2, 2, 4.5)
				z.Set(1, 0, 2.5)
				z.Set(4, 2, -2)
			}},
		{Name: "context-maf", Description: "one conditional MAF layer, D = 3, C = 2, random order, random hidden degrees in [0, 2], MADE [x ; c] 5→4→3→6 with tanh, clamp 2",
			Build: layers(maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4, 3}, Activation: flow.Tanh, Order: flow.RandomOrder, Degrees: flow.RandomDegrees, Seed: 13, Clamp: 2, ContextDim: 2}))},
		{Name: "context-maf-linear", Description: "one conditional MAF layer without hidden layers, D = 2, C = 3, reversed order, MADE [x ; c] 5→4",
			Build: layers(maf(flow.AutoregressiveConfig{Dim: 2, Activation: flow.ReLU, Order: flow.ReversedOrder, ContextDim: 3}))},
		{Name: "context-iaf", Description: "one conditional IAF layer, D = 3, C = 1, natural order, MADE [z ; c] 4→4→6 with ReLU, clamp 1",
			Build: layers(iaf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: flow.ReLU, Clamp: 1, ContextDim: 1}))},
		{Name: "context-mixed-maf", Description: "conditional MAF, permutation, affine coupling without a context, conditional affine coupling, inverted conditional IAF and standardisation, D = 3, C = 2, with the names of the data's and the context's columns (maximum likelihood)",
			Build: named([]string{"x", "y", "z"}, withContextNames([]string{"temperature", "load"}, layers(
				maf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{5}, Activation: flow.Tanh, ContextDim: 2}),
				perm(2, 0, 1),
				coupling([]bool{true, false, true}, []int{4}, flow.ReLU, flow.Affine{Clamp: 2}),
				condCoupling([]bool{false, true, false}, []int{4}, flow.Tanh, flow.Affine{}, 2),
				flow.Invert(iaf(flow.AutoregressiveConfig{Dim: 3, Hidden: []int{3}, Activation: flow.ReLU, Order: flow.ReversedOrder, ContextDim: 2})),
				std([]float64{-1, 0, 1}, []float64{2, 3, 0.5}),
			)))},
		{Name: "context-mixed-iaf", Description: "conditional IAF, permutation, additive coupling without a context, inverted conditional MAF and standardisation, D = 4, C = 1 (reverse KL)",
			Build: layers(
				iaf(flow.AutoregressiveConfig{Dim: 4, Hidden: []int{5}, Activation: flow.Tanh, Clamp: 3, ContextDim: 1}),
				perm(3, 1, 0, 2),
				coupling([]bool{true, false, true, false}, []int{4}, flow.Tanh, flow.Additive{}),
				flow.Invert(maf(flow.AutoregressiveConfig{Dim: 4, Hidden: []int{4}, Activation: flow.Tanh, Order: flow.RandomOrder, Degrees: flow.RandomDegrees, Seed: 7, ContextDim: 1})),
				std([]float64{0.5, -0.5, 1, 0}, []float64{1.5, 0.5, 2, 1}),
			)},
	}
}

// generateGiven fills g for the conditional flow f with the data x, the
// base draws z and their contexts c (row i of c goes with row i of x and of
// z): the passes and log-densities given c, the NLL with its gradients with
// respect to the parameters and to the contexts, and the reverse KL to the
// conditional target "banana-shift".
func generateGiven(g *golden.File, f *flow.Flow, x, z, c *mat.Dense) error {
	n, _ := x.Dims()
	g.Context = toRows(c)
	var zi, xf mat.Dense
	g.InverseLogDet = make([]float64, n)
	f.InverseGiven(&zi, x, c, g.InverseLogDet)
	g.Z = toRows(&zi)
	g.LogProb = f.LogProbGiven(nil, x, c)
	g.ForwardLogDet = make([]float64, n)
	f.ForwardGiven(&xf, z, c, g.ForwardLogDet)
	g.Forward = toRows(&xf)

	grad := make([]float64, f.NumParams())
	var err error
	if canInverse(f) {
		nll := flow.NewMaxLikelihood(f, 1, 0).LossGradGiven(grad, x, c)
		g.NLL = &nll
		if g.NLLGrad, err = gradDoc(f, grad); err != nil {
			return err
		}
		var dx, dc mat.Dense
		f.GradLogProb(&dx, &dc, nil, x, c)
		g.NLLContextGrad = toRows(&dc)
		for _, r := range g.NLLContextGrad {
			for k := range r {
				r[k] = -r[k] / float64(n)
			}
		}
	}
	if canForward(f) {
		kl := flow.NewReverseKLGiven(f, golden.BananaShift, 1, 0).LossGradGiven(grad, z, c)
		g.KLTarget = "banana-shift"
		g.ReverseKL = &kl
		if g.ReverseKLGrad, err = gradDoc(f, grad); err != nil {
			return err
		}
	}
	return nil
}
