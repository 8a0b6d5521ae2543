// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import "fmt"

// IAF is an inverse autoregressive flow layer (Kingma et al. 2016): the
// generative map x = f(z) is
//
//	x_d = z_d·exp(α_d) + μ_d,   (μ_d, α_d) = MADE(z)_d, a function of z_{<d},
//
// z_{<d} being the dimensions before d in the MADE's order. Forward, the
// sampling direction, takes one MADE pass: (μ, α) = MADE(z),
// x = z ⊙ exp(α) + μ, log-det Σ α. Inverse, the density direction, is
// sequential: D MADE evaluations, one per position of the order,
// z_d = (x_d − μ_d(z_{<d}))·exp(−α_d), log-det −Σ α (together they cost
// about one full pass; see MAF). Gradients flow through Forward (reverse KL,
// variational inference).
//
// Its parameters are its MADE's, in the MADE's stored layout. It starts as
// the identity (the MADE's output layer is zero).
//
// With a context (AutoregressiveConfig.ContextDim = C > 0), (μ, α) =
// MADE(z, c) in both directions, every output depending on c, and the map of
// each row, its log-det and its inverse are those of z with c held fixed.
// ForwardBackward then also gives ∂L/∂c.
type IAF struct {
	arLayer
}

// NewIAF returns an IAF layer, or an error saying what is wrong with the
// configuration.
func NewIAF(cfg AutoregressiveConfig) (*IAF, error) {
	m, err := newARMADE("NewIAF", cfg)
	if err != nil {
		return nil, err
	}
	return &IAF{arLayer{made: m, clamp: cfg.Clamp, spline: copySpline(cfg.Spline)}}, nil
}

// Forward computes x = z ⊙ exp(α(z)) + μ(z) in one MADE pass and adds Σ α
// to logdet.
func (l *IAF) Forward(x, z, c, logdet, work []float64) {
	checkRows("IAF.Forward", l.made.d, logdet, x, z)
	l.checkContext("IAF.Forward", c, logdet)
	l.onePass(x, z, c, logdet, work, true, dropout{})
}

// Inverse computes z = g(x) in D sequential MADE evaluations and adds −Σ α
// to logdet.
func (l *IAF) Inverse(z, x, c, logdet, work []float64) {
	checkRows("IAF.Inverse", l.made.d, logdet, x, z)
	l.checkContext("IAF.Inverse", c, logdet)
	l.sequential(z, x, c, logdet, work, false)
}

// ForwardBackward backpropagates through Forward (see onePassBackward),
// adding ∂L/∂c into dc when the layer has a context and dc is not nil.
func (l *IAF) ForwardBackward(dz, dc, dx, dld, z, x, c, work, grad []float64) {
	l.onePassBackward(dz, dc, dx, dld, work, grad, true, dropout{})
}

// forwardDrop is Forward with the dropout dr in a residual MADE's blocks
// (an Inverted IAF trained by maximum likelihood; dropout.go).
func (l *IAF) forwardDrop(x, z, c, logdet, work []float64, dr dropout) {
	checkRows("IAF.Forward", l.made.d, logdet, x, z)
	l.checkContext("IAF.Forward", c, logdet)
	l.onePass(x, z, c, logdet, work, true, dr)
}

// forwardBackwardDrop is ForwardBackward after forwardDrop with the same
// dropout.
func (l *IAF) forwardBackwardDrop(dz, dc, dx, dld, z, x, c, work, grad []float64, dr dropout) {
	l.onePassBackward(dz, dc, dx, dld, work, grad, true, dr)
}

// NewIAFFlow returns a flow of Layers IAF layers whose orders alternate
// between natural and reversed (or are random, one per layer).
func NewIAFFlow(cfg AutoregressiveFlowConfig) (*Flow, error) {
	cfgs, err := cfg.layerConfigs("NewIAFFlow")
	if err != nil {
		return nil, err
	}
	layers := make([]Layer, len(cfgs))
	for l, c := range cfgs {
		m, err := newARMADE(fmt.Sprintf("NewIAFFlow: layer %d", l), c)
		if err != nil {
			return nil, err
		}
		layers[l] = &IAF{arLayer{made: m, clamp: c.Clamp, spline: copySpline(c.Spline)}}
	}
	return New(layers...)
}

// why32 returns why the layer has no float32 path, or "" when it has one:
// every IAF layer has, affine or spline, with a plain or a residual MADE.
func (l *IAF) why32() string { return "" }

// forward32, inverse32 and forwardBackward32 are Forward, Inverse and
// ForwardBackward in float32 with the parameters p (the layer's window of
// a float32 vector, in the MADE's stored layout), from the same source as
// MAF's float32 passes (arOnePass, arSequential, arOnePassBackward), with
// the directions swapped, affine and spline layers alike. Like the float64
// layer, an IAF has no backward pass through Inverse (it is not an
// inverseGrader32): its gradients flow through Forward.

func (l *IAF) forward32(p, x, z, ctx, logdet, work []float32) {
	checkRows("IAF.Forward", l.made.d, logdet, x, z)
	arCheckContext(&l.arLayer, "IAF.Forward", ctx, logdet)
	arOnePass(&l.arLayer, p, x, z, ctx, logdet, work, true, dropout{})
}

func (l *IAF) inverse32(p, z, x, ctx, logdet, work []float32) {
	checkRows("IAF.Inverse", l.made.d, logdet, x, z)
	arCheckContext(&l.arLayer, "IAF.Inverse", ctx, logdet)
	arSequential(&l.arLayer, p, z, x, ctx, logdet, work, false)
}

func (l *IAF) forwardBackward32(p, dz, dc, dx, dld, z, x, ctx, work, grad []float32) {
	arOnePassBackward(&l.arLayer, p, dz, dc, dx, dld, work, grad, true, dropout{})
}
