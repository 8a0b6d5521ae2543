// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"sync/atomic"
)

// AutoregressiveConfig configures a MAF or IAF layer: its MADE conditioner
// and the scale clamp.
type AutoregressiveConfig struct {
	// Dim is D ≥ 1.
	Dim int
	// Hidden lists the widths of the MADE's hidden layers, each at least
	// D−1 (see MADEConfig).
	Hidden []int
	// Activation follows every hidden layer.
	Activation Activation
	// Order, Perm, Degrees and HiddenDegrees configure the MADE's order
	// and hidden degrees (see MADEConfig).
	Order         OrderKind
	Perm          []int
	Degrees       DegreeKind
	HiddenDegrees [][]int
	// Clamp soft-clamps the log-scales: with Clamp = c > 0,
	// α = c·tanh(α_raw/c), which keeps |α| < c; with 0, α = α_raw.
	Clamp float64
	// Seed seeds the MADE (see MADEConfig).
	Seed uint64
}

func (c *AutoregressiveConfig) made() MADEConfig {
	return MADEConfig{Dim: c.Dim, Hidden: c.Hidden, Activation: c.Activation, Order: c.Order, Perm: c.Perm, Degrees: c.Degrees, HiddenDegrees: c.HiddenDegrees, Seed: c.Seed}
}

// arLayer is what MAF and IAF share: the affine autoregressive map
//
//	x_d = z_d·exp(α_d) + μ_d,   z_d = (x_d − μ_d)·exp(−α_d),
//
// with (μ, α) a MADE of x (MAF) or of z (IAF). One direction conditions on
// its own input and takes one MADE pass (onePass); the other conditions on
// its own output and takes D MADE evaluations, one per position of the
// order (sequential).
type arLayer struct {
	made  *MADE
	clamp float64
	// passes counts MADE evaluations over a batch: one per onePass, one
	// per position in sequential. Tests read it.
	passes atomic.Int64
}

// newARMADE validates cfg and returns the layer's MADE.
func newARMADE(caller string, cfg AutoregressiveConfig) (*MADE, error) {
	if math.IsNaN(cfg.Clamp) || math.IsInf(cfg.Clamp, 0) || cfg.Clamp < 0 {
		return nil, fmt.Errorf("flow: %s: clamp %v is not a finite non-negative number", caller, cfg.Clamp)
	}
	return newMADE(caller, cfg.made(), true)
}

// MADE returns the layer's conditioner. Its parameters are the layer's.
func (a *arLayer) MADE() *MADE { return a.made }

// Clamp returns the scale clamp c (0: none).
func (a *arLayer) Clamp() float64 { return a.clamp }

func (a *arLayer) Dim() int               { return a.made.d }
func (a *arLayer) NumParams() int         { return len(a.made.params) }
func (a *arLayer) Params() []float64      { return a.made.params }
func (a *arLayer) BindParams(p []float64) { a.made.BindParams(p) }
func (a *arLayer) ContextDim() int        { return 0 }

// denseCost is the MADE's (see MADE.denseCost): the cost of the one-pass
// direction, and about that of the sequential one (see sequential).
func (a *arLayer) denseCost() int { return a.made.denseCost() }

// madePasses returns the number of MADE passes over a batch so far.
func (a *arLayer) madePasses() int64 { return a.passes.Load() }

// arWork is the layout of the workspace over n rows. In onePass, in holds
// the input gathered into the order (the MADE's input) and out the output in
// the order; in sequential, out is the MADE's input, built position by
// position.
type arWork struct {
	in, out, e []float64 // n×D each; e holds exp(±α)
	mw         []float64 // the MADE's workspace
	dout       []float64 // n×2D: ∂L/∂[μ ; α_raw]
	din        []float64 // n×D: ∂L/∂(MADE input)
	row        []float64 // D: one row of clamped α
}

func (a *arLayer) WorkLen(n int) int {
	d := a.made.d
	return 6*n*d + a.made.workLen(n) + d
}

func (a *arLayer) split(work []float64, n int) arWork {
	d := a.made.d
	take := func(m int) []float64 {
		s := work[:m:m]
		work = work[m:]
		return s
	}
	var w arWork
	w.in = take(n * d)
	w.out = take(n * d)
	w.e = take(n * d)
	w.mw = take(a.made.workLen(n))
	w.dout = take(2 * n * d)
	w.din = take(n * d)
	w.row = take(d)
	return w
}

// scale returns the clamped α of a row, α = c·tanh(α_raw/c), in tmp, or
// α_raw itself without a clamp.
func (a *arLayer) scale(raw, tmp []float64) []float64 {
	if a.clamp <= 0 {
		return raw
	}
	c := a.clamp
	for i, v := range raw {
		tmp[i] = c * math.Tanh(v/c)
	}
	return tmp[:len(raw)]
}

func (a *arLayer) scale1(raw float64) float64 {
	if a.clamp <= 0 {
		return raw
	}
	return a.clamp * math.Tanh(raw/a.clamp)
}

// onePass applies the direction that conditions on its own input, in one
// MADE pass: (μ, α) = MADE(in), then
//
//	fwd:  out = in ⊙ exp(α) + μ,     logdet += Σ α   (IAF Forward)
//	!fwd: out = (in − μ) ⊙ exp(−α),  logdet −= Σ α   (MAF Inverse)
//
// The work keeps the gathered input, the output (in the order), exp(±α) and
// the MADE's pass for backward.
func (a *arLayer) onePass(out, in, logdet, work []float64, fwd bool) {
	n, d := len(logdet), a.made.d
	w := a.split(work, n)
	m := a.made
	gatherRows(w.in, in, m.order)
	o := m.forward(w.in, n, w.mw)
	a.passes.Add(1)
	for r := 0; r < n; r++ {
		or := o[r*2*d : (r+1)*2*d]
		mu, alpha := or[:d], a.scale(or[d:], w.row)
		ir, outr, er := w.in[r*d:(r+1)*d], w.out[r*d:(r+1)*d], w.e[r*d:(r+1)*d]
		if fwd {
			logdet[r] += affineForward(outr, er, ir, mu, alpha)
		} else {
			logdet[r] -= affineInverse(outr, er, ir, mu, alpha)
		}
	}
	// out[r, order[p]] = w.out[r, p].
	gatherRows(out, w.out, m.pos)
}

// onePassBackward follows onePass with the same in, out and work. Given
// dOut = ∂L/∂out and dld[r] = ∂L/∂logdet[r], it writes dIn = ∂L/∂in and
// adds ∂L/∂θ into grad. Per row, in the order (p is a position, g_p the
// gradient of the output at p, e_p the stored exp(±α_p)):
//
// fwd, out_p = in_p·e_p + μ_p with e_p = exp(α_p), ld = Σ α:
//
//	∂L/∂μ_p = g_p
//	∂L/∂α_p = g_p·in_p·e_p + dld
//	∂L/∂in_p (direct) = g_p·e_p
//
// !fwd, out_p = (in_p − μ_p)·e_p with e_p = exp(−α_p), ld = −Σ α:
//
//	∂L/∂μ_p = −g_p·e_p
//	∂L/∂α_p = −g_p·(in_p − μ_p)·e_p − dld = −g_p·out_p − dld
//	∂L/∂in_p (direct) = g_p·e_p
//
// With the clamp α = c·tanh(α_raw/c), ∂α/∂α_raw = 1 − tanh²(α_raw/c) =
// 1 − (α/c)². Then ∂L/∂[μ ; α_raw] is backpropagated through the MADE,
// whose input is in, so ∂L/∂in = direct + MADE's ∂L/∂x.
func (a *arLayer) onePassBackward(dIn, dOut, dld, in, out, work, grad []float64, fwd bool) {
	n, d := len(dld), a.made.d
	w := a.split(work, n)
	m := a.made
	o := m.output(w.mw, n)
	c := a.clamp
	for r := 0; r < n; r++ {
		alpha := a.scale(o[r*2*d+d:(r+1)*2*d], w.row)
		ir, outr, er := w.in[r*d:(r+1)*d], w.out[r*d:(r+1)*d], w.e[r*d:(r+1)*d]
		gr, dinr := dOut[r*d:(r+1)*d], dIn[r*d:(r+1)*d]
		dmu, dal := w.dout[r*2*d:r*2*d+d], w.dout[r*2*d+d:(r+1)*2*d]
		for p, i := range m.order {
			g := gr[i]
			ge := g * er[p]
			if fwd {
				dmu[p] = g
				dal[p] = ge*ir[p] + dld[r]
			} else {
				dmu[p] = -ge
				dal[p] = -g*outr[p] - dld[r]
			}
			if c > 0 {
				t := alpha[p] / c
				dal[p] *= 1 - t*t
			}
			dinr[i] = ge
		}
	}
	m.backward(w.in, n, w.mw, w.dout, grad, w.din)
	for r := 0; r < n; r++ {
		dinr, dm := dIn[r*d:(r+1)*d], w.din[r*d:(r+1)*d]
		for p, i := range m.order {
			dinr[i] += dm[p]
		}
	}
}

// sequential applies the direction that conditions on its own output, one
// position of the order at a time: for p = 0, …, D−1, (μ_p, α_p) come from
// the MADE applied to the outputs at positions < p, already computed, and
//
//	fwd:  out_p = in_p·exp(α_p) + μ_p,    logdet += α_p   (MAF Forward)
//	!fwd: out_p = (in_p − μ_p)·exp(−α_p), logdet −= α_p   (IAF Inverse)
//
// Each position is one MADE evaluation over the batch (MADE.positionPass),
// and a cheap one: a hidden unit of degree k depends only on the positions
// < k, so it is final once position k−1 is known, and μ_p, α_p read only
// units of degree ≤ p. Position p therefore computes, in each hidden layer,
// just the units of degree p (a contiguous block, the units being sorted),
// then the two output rows of p; the D evaluations together compute each
// hidden unit once, about the cost of one full pass, and give bit for bit
// what D full passes would (sequentialNaive, which the tests compare).
func (a *arLayer) sequential(out, in, logdet, work []float64, fwd bool) {
	n, d := len(logdet), a.made.d
	w := a.split(work, n)
	m := a.made
	gatherRows(w.in, in, m.order)
	clear(w.out)
	mu, araw := w.dout[:n], w.dout[n:2*n]
	for p := 0; p < d; p++ {
		m.positionPass(w.out, p, n, w.mw, mu, araw)
		a.passes.Add(1)
		a.affineStep(w.out, w.in, logdet, mu, araw, p, fwd)
	}
	gatherRows(out, w.out, m.pos)
}

// affineStep sets position p of every row of out (n×D, in the order) from
// the same position of in and the columns mu, araw (α_raw) of that position.
func (a *arLayer) affineStep(out, in, logdet, mu, araw []float64, p int, fwd bool) {
	d := a.made.d
	for r := range logdet {
		al := a.scale1(araw[r])
		if fwd {
			out[r*d+p] = in[r*d+p]*math.Exp(al) + mu[r]
			logdet[r] += al
		} else {
			out[r*d+p] = (in[r*d+p] - mu[r]) * math.Exp(-al)
			logdet[r] -= al
		}
	}
}

// sequentialNaive is sequential with a full pass of the hidden layers at
// every position: D times the work, the same result. It is the reference
// the tests and benchmarks compare sequential with.
func (a *arLayer) sequentialNaive(out, in, logdet, work []float64, fwd bool) {
	n, d := len(logdet), a.made.d
	w := a.split(work, n)
	m := a.made
	gatherRows(w.in, in, m.order)
	clear(w.out)
	mu, araw := w.dout[:n], w.dout[n:2*n]
	for p := 0; p < d; p++ {
		h := m.hiddenForward(w.out, n, w.mw)
		m.outputRow(mu, h, p, n)
		m.outputRow(araw, h, d+p, n)
		a.affineStep(w.out, w.in, logdet, mu, araw, p, fwd)
	}
	gatherRows(out, w.out, m.pos)
}

// MAF is a masked autoregressive flow layer (Papamakarios et al. 2017):
// the generative map x = f(z) is
//
//	x_d = z_d·exp(α_d) + μ_d,   (μ_d, α_d) = MADE(x)_d, a function of x_{<d},
//
// x_{<d} being the dimensions before d in the MADE's order. Inverse, the
// density direction, takes one MADE pass: (μ, α) = MADE(x),
// z = (x − μ) ⊙ exp(−α), log-det −Σ α. Forward, the sampling direction, is
// sequential: D MADE evaluations, one per position of the order, each
// needing the ones before it; its log-det is Σ α. Each evaluation computes
// only the hidden units that become final at its position, so the D of them
// together cost about one full pass, but they cannot run side by side.
// Gradients flow through Inverse (maximum likelihood).
//
// Its parameters are its MADE's, in the MADE's stored layout. It starts as
// the identity (the MADE's output layer is zero).
type MAF struct {
	arLayer
}

// NewMAF returns a MAF layer, or an error saying what is wrong with the
// configuration.
func NewMAF(cfg AutoregressiveConfig) (*MAF, error) {
	m, err := newARMADE("NewMAF", cfg)
	if err != nil {
		return nil, err
	}
	return &MAF{arLayer{made: m, clamp: cfg.Clamp}}, nil
}

// Forward computes x = f(z) in D sequential MADE evaluations (see
// sequential) and adds Σ α to logdet.
func (l *MAF) Forward(x, z, c, logdet, work []float64) {
	checkRows("MAF.Forward", l.made.d, logdet, x, z)
	l.sequential(x, z, logdet, work, true)
}

// Inverse computes z = (x − μ(x)) ⊙ exp(−α(x)) in one MADE pass and adds
// −Σ α to logdet.
func (l *MAF) Inverse(z, x, c, logdet, work []float64) {
	checkRows("MAF.Inverse", l.made.d, logdet, x, z)
	l.onePass(z, x, logdet, work, false)
}

// InverseBackward backpropagates through Inverse (see onePassBackward).
func (l *MAF) InverseBackward(dx, dc, dz, dld, x, z, c, work, grad []float64) {
	l.onePassBackward(dx, dz, dld, x, z, work, grad, false)
}

// AutoregressiveFlowConfig configures NewMAFFlow and NewIAFFlow.
type AutoregressiveFlowConfig struct {
	// Dim is D ≥ 1.
	Dim int
	// Layers is the number of MAF or IAF layers.
	Layers int
	// Hidden, Activation and Degrees configure every MADE.
	Hidden     []int
	Activation Activation
	Degrees    DegreeKind
	// RandomOrders gives each layer a random order drawn from its seed;
	// otherwise the orders alternate natural, reversed, natural, …
	RandomOrders bool
	// Clamp soft-clamps the log-scales (0: no clamp).
	Clamp float64
	// Seed seeds every layer (each layer gets its own stream).
	Seed uint64
}

// layerConfigs returns the configuration of each layer.
func (c *AutoregressiveFlowConfig) layerConfigs(caller string) ([]AutoregressiveConfig, error) {
	if c.Layers < 1 {
		return nil, fmt.Errorf("flow: %s: %d layers", caller, c.Layers)
	}
	// The sizes of the whole flow, before anything is allocated.
	if err := checkMADEShape(caller+": layer 0", c.Dim, c.Hidden, true); err != nil {
		return nil, err
	}
	L := float64(c.Layers)
	total := madeSize(c.Dim, c.Hidden, true).times(L).add(flowWork(c.Dim, L))
	if err := checkSize(fmt.Sprintf("%d layers", c.Layers), total); err != nil {
		return nil, fmt.Errorf("flow: %s: %w", caller, err)
	}
	cfgs := make([]AutoregressiveConfig, c.Layers)
	for l := range cfgs {
		order := NaturalOrder
		switch {
		case c.RandomOrders:
			order = RandomOrder
		case l%2 == 1:
			order = ReversedOrder
		}
		cfgs[l] = AutoregressiveConfig{
			Dim: c.Dim, Hidden: c.Hidden, Activation: c.Activation,
			Order: order, Degrees: c.Degrees, Clamp: c.Clamp,
			Seed: c.Seed + uint64(l)*0x9e3779b97f4a7c15,
		}
	}
	return cfgs, nil
}

// NewMAFFlow returns a flow of Layers MAF layers whose orders alternate
// between natural and reversed (or are random, one per layer), so that
// every dimension is conditioned on every other across the flow.
func NewMAFFlow(cfg AutoregressiveFlowConfig) (*Flow, error) {
	cfgs, err := cfg.layerConfigs("NewMAFFlow")
	if err != nil {
		return nil, err
	}
	layers := make([]Layer, len(cfgs))
	for l, c := range cfgs {
		m, err := newARMADE(fmt.Sprintf("NewMAFFlow: layer %d", l), c)
		if err != nil {
			return nil, err
		}
		layers[l] = &MAF{arLayer{made: m, clamp: c.Clamp}}
	}
	return New(layers...)
}
