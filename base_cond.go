// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// ConditionalGaussianBaseConfig configures a ConditionalGaussianBase.
type ConditionalGaussianBaseConfig struct {
	// Dim is D ≥ 1 and ContextDim C ≥ 1.
	Dim, ContextDim int
	// Hidden are the network's hidden widths; none makes μ(c) and s(c)
	// affine functions of c.
	Hidden []int
	// Activation is the hidden layers' nonlinearity.
	Activation Activation
	// Seed seeds the hidden layers' initial weights.
	Seed uint64
}

// ConditionalGaussianBase is a diagonal Gaussian on R^D whose mean and log
// standard deviations are functions of the context c ∈ R^C, computed by a
// dense network (the coupling conditioner's, docs/design.md §1.4) from C
// inputs to 2D outputs [μ(c) ; s(c)]:
//
//	log p(z | c) = −(D/2)·log 2π − Σ_j s_j(c) − ½ Σ_j u_j²,   u_j = (z_j − μ_j(c))·exp(−s_j(c)).
//
// Its parameters are the network's, layer by layer, W then b. The network
// starts as the conditioner does (§1.10): hidden weights drawn, biases and
// the whole last layer zero, so μ = 0 and s = 0 for every c and the base
// starts as the standard normal. A draw is z = μ(c) + exp(s(c)) ⊙ ε with
// ε ~ N(0, I), differentiable in the parameters and in c. A flow with this
// base is conditional, of context dimension C, even if no layer reads the
// context.
type ConditionalGaussianBase struct {
	d, c int
	net  mlp
	p    []float64
}

// NewConditionalGaussianBase returns a conditional diagonal Gaussian base
// that starts as the standard normal for every context. It returns an
// error unless 1 ≤ D, C ≤ 2^24, the hidden widths are positive (at most
// 64 of them), the activation is known, and the parameters and workspace
// are within the limits of New.
func NewConditionalGaussianBase(cfg ConditionalGaussianBaseConfig) (*ConditionalGaussianBase, error) {
	const method = "flow: NewConditionalGaussianBase"
	if err := checkDim(cfg.Dim, 1); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	if cfg.ContextDim < 1 || cfg.ContextDim > maxDim {
		return nil, fmt.Errorf("%s: context dimension %d, want 1 to %d (a base without a context is a DiagGaussianBase)", method, cfg.ContextDim, maxDim)
	}
	if len(cfg.Hidden) > 64 {
		return nil, fmt.Errorf("%s: %d hidden layers, at most 64", method, len(cfg.Hidden))
	}
	for i, h := range cfg.Hidden {
		if h < 1 || h > maxDim {
			return nil, fmt.Errorf("%s: hidden layer %d has width %d, want 1 to %d", method, i, h, maxDim)
		}
	}
	if !cfg.Activation.valid() {
		return nil, errors.New(method + ": unknown activation " + cfg.Activation.String())
	}
	if err := checkSize("the base", condGaussianSize(cfg.Dim, cfg.ContextDim, cfg.Hidden)); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	sizes := append([]int{cfg.ContextDim}, cfg.Hidden...)
	sizes = append(sizes, 2*cfg.Dim)
	b := &ConditionalGaussianBase{d: cfg.Dim, c: cfg.ContextDim, net: newMLP(sizes, cfg.Activation)}
	b.p = make([]float64, b.net.numParams())
	b.net.init(b.p, rand.New(rand.NewPCG(cfg.Seed, 0x636f6e6462617365)))
	return b, nil
}

// condGaussianSize returns the parameters and the workspace for evalShard
// rows of a conditional Gaussian base (see ConditionalGaussianBase.workLen).
func condGaussianSize(d, c int, hidden []int) footprint {
	params, w := mlpSize(c, hidden, 2*float64(d))
	return footprint{params, evalShard * (w + 2*float64(d) + float64(c))}
}

// Dim returns D.
func (b *ConditionalGaussianBase) Dim() int { return b.d }

// ContextDim returns C.
func (b *ConditionalGaussianBase) ContextDim() int { return b.c }

// NumParams returns the number of the network's weights and biases.
func (b *ConditionalGaussianBase) NumParams() int { return len(b.p) }

// Params returns the network's parameters, the base's storage.
func (b *ConditionalGaussianBase) Params() []float64 { return b.p }

// Hidden returns the network's hidden widths.
func (b *ConditionalGaussianBase) Hidden() []int {
	return append([]int(nil), b.net.sizes[1:len(b.net.sizes)-1]...)
}

// Activation returns the network's hidden activation.
func (b *ConditionalGaussianBase) Activation() Activation { return b.net.act }

func (b *ConditionalGaussianBase) bindParams(p []float64) {
	copy(p, b.p)
	b.p = p
}

// workLen: the network's pass over n rows, then ∂L/∂[μ ; s] (n×2D) and the
// network's ∂L/∂c (n×C).
func (b *ConditionalGaussianBase) workLen(n int) int {
	return b.net.workLen(n) + n*(2*b.d+b.c)
}

// condSplit returns the network's ∂L/∂out and ∂L/∂c buffers for n rows,
// for either element type.
func condSplit[T kernElem](b *ConditionalGaussianBase, work []T, n int) (dout, dcs []T) {
	o := b.net.workLen(n)
	dout = work[o : o+n*2*b.d]
	dcs = work[o+n*2*b.d : o+n*(2*b.d+b.c)]
	return dout, dcs
}

// condBackward backpropagates dout = ∂L/∂[μ ; s] through the network,
// with its parameters p, adding their gradient into grad and, when dc is
// not nil, ∂L/∂c into dc, for either element type.
func condBackward[T kernElem](b *ConditionalGaussianBase, p, dc, c, work, dout, dcs, grad []T, n int) {
	if dc == nil {
		mlpBackward(&b.net, p, c, n, work, dout, grad, nil, dropout{})
		return
	}
	mlpBackward(&b.net, p, c, n, work, dout, grad, dcs, dropout{})
	for i, v := range dcs {
		dc[i] += v
	}
}

func (b *ConditionalGaussianBase) logProbRows(dst, z, c, logdet, work []float64) {
	condLogProbRows(b, b.p, dst, z, c, logdet, work)
}

func (b *ConditionalGaussianBase) logProbRows32(p []float32, dst []float64, z, c, logdet, work []float32) {
	condLogProbRows(b, p, dst, z, c, logdet, work)
}

// condLogProbRows is logProbRows for either element type, with the
// network's parameters p: the network in T, each row's u_j and sums in
// float64 from the T values of z, μ(c) and s(c).
func condLogProbRows[T kernElem](b *ConditionalGaussianBase, p []T, dst []float64, z, c, logdet, work []T) {
	d := b.d
	n := len(dst)
	out := mlpForward(&b.net, p, c, n, work, dropout{})
	half := 0.5 * float64(d) * log2Pi
	for i := 0; i < n; i++ {
		mu, s := out[i*2*d:i*2*d+d], out[i*2*d+d:(i+1)*2*d]
		acc, q := -half, 0.0
		for j, v := range z[i*d : i*d+d] {
			u := (float64(v) - float64(mu[j])) * math.Exp(-float64(s[j]))
			acc -= float64(s[j])
			q += u * u
		}
		dst[i] = acc - 0.5*q + float64(logdet[i])
	}
}

// nllGrad of ℓ = (D/2)·log 2π + Σ_j s_j + ½ Σ_j u_j², u_j = (z_j − μ_j)·e^{−s_j},
// with μ = μ(c), s = s(c) the network's output:
//
//	∂ℓ/∂z_j = u_j·e^{−s_j},   ∂ℓ/∂μ_j = −u_j·e^{−s_j},   ∂ℓ/∂s_j = 1 − u_j²,
//
// and the network's backward pass turns ∂ℓ/∂[μ ; s] into the gradients of
// its parameters and of c.
func (b *ConditionalGaussianBase) nllGrad(dz, dc, z, c, work, grad []float64) {
	condNLLGrad(b, b.p, dz, dc, z, c, work, grad)
}

func (b *ConditionalGaussianBase) nllGrad32(p, dz, dc, z, c, work, grad []float32) {
	condNLLGrad(b, p, dz, dc, z, c, work, grad)
}

// condNLLGrad is nllGrad for either element type, with the network's
// parameters p, computed in T (e^{−s} rounded once to T).
func condNLLGrad[T kernElem](b *ConditionalGaussianBase, p, dz, dc, z, c, work, grad []T) {
	d := b.d
	n := checkBaseRows("ConditionalGaussianBase.nllGrad", z, d)
	out := mlpOutput(&b.net, work, n)
	dout, dcs := condSplit(b, work, n)
	for i := 0; i < n; i++ {
		mu, s := out[i*2*d:i*2*d+d], out[i*2*d+d:(i+1)*2*d]
		dmu, ds := dout[i*2*d:i*2*d+d], dout[i*2*d+d:(i+1)*2*d]
		for j := 0; j < d; j++ {
			e := T(math.Exp(-float64(s[j])))
			u := (z[i*d+j] - mu[j]) * e
			g := u * e
			dz[i*d+j] = g
			dmu[j] = -g
			ds[j] = 1 - u*u
		}
	}
	condBackward(b, p, dc, c, work, dout, dcs, grad, n)
}

func (b *ConditionalGaussianBase) draw(dst []float64, rnd *rand.Rand) { stdNormalFill(dst, rnd) }

func (b *ConditionalGaussianBase) draw32(_ []float32, dst []float64, rnd *rand.Rand) {
	stdNormalFill(dst, rnd)
}

// fromDraws: z = μ(c) + e^{s(c)} ⊙ ε, in place; the network's pass stays in
// work.
func (b *ConditionalGaussianBase) fromDraws(z, c, work []float64) { condFromDraws(b, b.p, z, c, work) }

func (b *ConditionalGaussianBase) fromDraws32(p, z, c, work []float32) {
	condFromDraws(b, p, z, c, work)
}

// condFromDraws is fromDraws for either element type, with the network's
// parameters p, computed in T (e^{s} rounded once to T).
func condFromDraws[T kernElem](b *ConditionalGaussianBase, p, z, c, work []T) {
	d := b.d
	n := checkBaseRows("ConditionalGaussianBase.fromDraws", z, d)
	out := mlpForward(&b.net, p, c, n, work, dropout{})
	for i := 0; i < n; i++ {
		mu, s := out[i*2*d:i*2*d+d], out[i*2*d+d:(i+1)*2*d]
		for j := 0; j < d; j++ {
			z[i*d+j] = mu[j] + T(math.Exp(float64(s[j])))*z[i*d+j]
		}
	}
}

func (b *ConditionalGaussianBase) reparamErr() error { return nil }

// drawLogProb: for z = μ(c) + e^{s(c)} ⊙ ε, u = ε, so log p(z | c) =
// log N(ε; 0, I) − Σ_j s_j(c).
func (b *ConditionalGaussianBase) drawLogProb(dst, eps, _, work []float64) {
	condDrawLogProb(b, dst, eps, work)
}

func (b *ConditionalGaussianBase) drawLogProb32(_ []float32, dst []float64, eps, _, work []float32) {
	condDrawLogProb(b, dst, eps, work)
}

// condDrawLogProb is drawLogProb for either element type: each row's
// Σ_j s_j(c) and log N(ε; 0, I) in float64 from the T values of the
// network's output (left in work by fromDraws) and of ε.
func condDrawLogProb[T kernElem](b *ConditionalGaussianBase, dst []float64, eps, work []T) {
	d := b.d
	out := mlpOutput(&b.net, work, len(dst))
	for i := range dst {
		ss := 0.0
		for _, v := range out[i*2*d+d : (i+1)*2*d] {
			ss += float64(v)
		}
		dst[i] = stdNormalLogProb(eps[i*d:i*d+d]) - ss
	}
}

// klGrad: with z_j = μ_j(c) + e^{s_j(c)}·ε_j and log p(z(ε) | c) =
// log N(ε) − Σ_j s_j(c), the total derivatives of log p(z(ε) | c) + L with
// respect to the network's outputs are
//
//	∂/∂μ_j = ∂L/∂z_j,   ∂/∂s_j = −1 + ∂L/∂z_j·e^{s_j}·ε_j,
//
// which the network's backward pass turns into the gradients of its
// parameters and of c.
func (b *ConditionalGaussianBase) klGrad(dc, dz, eps, c, work, grad []float64) {
	condKLGrad(b, b.p, dc, dz, eps, c, work, grad)
}

func (b *ConditionalGaussianBase) klGrad32(p, dc, dz, eps, c, work, grad []float32) {
	condKLGrad(b, p, dc, dz, eps, c, work, grad)
}

// condKLGrad is klGrad for either element type, with the network's
// parameters p, computed in T (e^{s} rounded once to T, as fromDraws
// does).
func condKLGrad[T kernElem](b *ConditionalGaussianBase, p, dc, dz, eps, c, work, grad []T) {
	d := b.d
	n := checkBaseRows("ConditionalGaussianBase.klGrad", dz, d)
	out := mlpOutput(&b.net, work, n)
	dout, dcs := condSplit(b, work, n)
	for i := 0; i < n; i++ {
		s := out[i*2*d+d : (i+1)*2*d]
		dmu, ds := dout[i*2*d:i*2*d+d], dout[i*2*d+d:(i+1)*2*d]
		for j := 0; j < d; j++ {
			g := dz[i*d+j]
			dmu[j] = g
			ds[j] = g*T(math.Exp(float64(s[j])))*eps[i*d+j] - 1
		}
	}
	condBackward(b, p, dc, c, work, dout, dcs, grad, n)
}
