// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Base is the base distribution of a Flow: a density on R^D, conditional on
// a context of C values when ContextDim is C > 0, whose parameters are part
// of the flow's flat parameter vector and are trained with the layers'.
//
// The bases are StdNormalBase (the default of New, with no parameters),
// DiagGaussianBase, MixtureBase and ConditionalGaussianBase; NewWithBase
// attaches one to a flow. The set is closed (the interface has unexported
// methods) because a base's draw order, gradients and model-file section
// are part of the flow's contract (docs/design.md §1.9, FORMAT.md §2.1).
type Base interface {
	// Dim returns D.
	Dim() int
	// ContextDim returns C, 0 for a base that does not depend on a
	// context.
	ContextDim() int
	// NumParams returns the number of trainable parameters.
	NumParams() int
	// Params returns the parameters, laid out as the type documents. Once
	// the base belongs to a flow they are the flow's storage, the window
	// [Flow.BaseParamRange) of Flow.Params.
	Params() []float64

	// bindParams copies the parameters into p and uses p as their
	// storage from then on.
	bindParams(p []float64)
	// workLen returns the scratch a pass over n rows needs.
	workLen(n int) int
	// logProbRows writes, for each of the n = len(dst) rows of z (n×D)
	// with its context (row i of c, n×C, nil when C = 0), log p(z_i | c_i)
	// + logdet[i] into dst[i], and leaves in work what nllGrad reads.
	logProbRows(dst, z, c, logdet, work []float64)
	// nllGrad follows logProbRows on the same rows: with ℓ_i =
	// −log p(z_i | c_i) it writes ∂ℓ_i/∂z_i into dz (n×D, overwritten),
	// adds ∂ℓ_i/∂c_i into dc (n×C) unless dc is nil, and adds Σ_i ∂ℓ_i/∂θ
	// into grad (the base's window).
	nllGrad(dz, dc, z, c, work, grad []float64)
	// draw fills the rows of dst (n×D) with the base's draws from rnd, in
	// row order: standard normal ε for a base that fromDraws maps to its
	// points (StdNormalBase, DiagGaussianBase, ConditionalGaussianBase),
	// the points z themselves for MixtureBase.
	draw(dst []float64, rnd *rand.Rand)
	// fromDraws maps the draws of draw in the rows of z (n×D), in place,
	// to the base's points given their contexts c, and leaves in work
	// what drawLogProb and klGrad read.
	fromDraws(z, c, work []float64)
	// reparamErr returns nil if the base's points are a differentiable
	// function z = T_θ(ε | c) of standard normal draws ε, so that reverse
	// KL has a reparameterisation gradient, and an error saying why not
	// otherwise.
	reparamErr() error
	// drawLogProb follows fromDraws: dst[i] = log p(T(ε_i | c_i) | c_i)
	// for the draws ε_i in the rows of eps (n = len(dst)).
	drawLogProb(dst, eps, c, work []float64)
	// klGrad follows drawLogProb: given dz = ∂L/∂z (n×D) of a loss L that
	// depends on z = T_θ(ε | c) through the layers and the target, it adds
	// the total derivative with respect to θ of Σ_i [log p_θ(T_θ(ε_i | c_i)
	// | c_i)] + L into grad, and that with respect to c into dc unless dc
	// is nil.
	klGrad(dc, dz, eps, c, work, grad []float64)
}

// base32 is a base that also computes in float32 (docs/design.md §4): the
// maximum-likelihood and sampling methods of Base over float32 rows, with
// the parameters p, the base's window of a Flow32's float32 vector. Each is
// the same source as the float64 method of its name, instantiated for
// float32; the work it takes is workLen(n) float32 values. The
// log-densities are written in float64: every base sums a row's terms in
// float64, from its float32 values, as the standard normal does.
type base32 interface {
	Base
	logProbRows32(p []float32, dst []float64, z, c, logdet, work []float32)
	nllGrad32(p, dz, dc, z, c, work, grad []float32)
	// draw32 is draw with the float32 parameters p: in float64, from
	// their float64 values, so that it draws what the float64 flow of
	// the same parameters draws.
	draw32(p []float32, dst []float64, rnd *rand.Rand)
	fromDraws32(p, z, c, work []float32)
	// drawLogProb32 and klGrad32 are drawLogProb and klGrad with the
	// parameters p, over the float32 draws eps (ReverseKL32): each row's
	// log-density in float64 from the float32 values, the gradients in
	// float32. A base whose reparamErr is not nil has neither.
	drawLogProb32(p []float32, dst []float64, eps, c, work []float32)
	klGrad32(p, dc, dz, eps, c, work, grad []float32)
}

// checkBaseRows panics unless z holds whole rows of d values.
func checkBaseRows[T kernElem](method string, z []T, d int) int {
	if len(z)%d != 0 {
		panic(fmt.Sprintf("flow: %s: buffer of length %d is not rows of %d", method, len(z), d))
	}
	return len(z) / d
}

// StdNormalBase is the standard normal N(0, I) on R^D, the base of a flow
// made by New. It has no parameters:
//
//	log N(z; 0, I) = −½‖z‖² − (D/2)·log 2π.
type StdNormalBase struct {
	d int
}

// NewStdNormalBase returns the standard normal base on R^d. It returns an
// error unless 1 ≤ d ≤ 2^24.
func NewStdNormalBase(d int) (*StdNormalBase, error) {
	if err := checkDim(d, 1); err != nil {
		return nil, fmt.Errorf("flow: NewStdNormalBase: %w", err)
	}
	return &StdNormalBase{d: d}, nil
}

// Dim returns D.
func (b *StdNormalBase) Dim() int { return b.d }

// ContextDim returns 0.
func (b *StdNormalBase) ContextDim() int { return 0 }

// NumParams returns 0.
func (b *StdNormalBase) NumParams() int { return 0 }

// Params returns an empty slice.
func (b *StdNormalBase) Params() []float64 { return nil }

func (b *StdNormalBase) bindParams([]float64) {}
func (b *StdNormalBase) workLen(int) int      { return 0 }

func (b *StdNormalBase) logProbRows(dst, z, _, logdet, _ []float64) {
	stdNormalRows(dst, z, logdet, b.d)
}

// nllGrad: ℓ = ½‖z‖² + (D/2)·log 2π, so ∂ℓ/∂z = z.
func (b *StdNormalBase) nllGrad(dz, _, z, _, _, _ []float64) { copy(dz, z) }

func (b *StdNormalBase) draw(dst []float64, rnd *rand.Rand) { stdNormalFill(dst, rnd) }

// fromDraws: z = ε.
func (b *StdNormalBase) fromDraws(_, _, _ []float64) {}

func (b *StdNormalBase) reparamErr() error { return nil }

func (b *StdNormalBase) drawLogProb(dst, eps, _, _ []float64) { stdNormalDrawLogProb(b.d, dst, eps) }

func (b *StdNormalBase) drawLogProb32(_ []float32, dst []float64, eps, _, _ []float32) {
	stdNormalDrawLogProb(b.d, dst, eps)
}

// stdNormalDrawLogProb is drawLogProb for either element type: each row's
// log N(ε; 0, I) in float64 from the T values.
func stdNormalDrawLogProb[T kernElem](d int, dst []float64, eps []T) {
	for i := range dst {
		dst[i] = stdNormalLogProb(eps[i*d : i*d+d])
	}
}

// klGrad: z = ε does not depend on a parameter.
func (b *StdNormalBase) klGrad(_, _, _, _, _, _ []float64) {}

func (b *StdNormalBase) klGrad32(_, _, _, _, _, _, _ []float32) {}

func (b *StdNormalBase) logProbRows32(_ []float32, dst []float64, z, _, logdet, _ []float32) {
	stdNormalRows(dst, z, logdet, b.d)
}

func (b *StdNormalBase) nllGrad32(_, dz, _, z, _, _, _ []float32) { copy(dz, z) }

func (b *StdNormalBase) draw32(_ []float32, dst []float64, rnd *rand.Rand) { stdNormalFill(dst, rnd) }

func (b *StdNormalBase) fromDraws32(_, _, _, _ []float32) {}

// DiagGaussianBase is a trainable diagonal Gaussian on R^D, mean μ and
// standard deviations σ = exp(s):
//
//	log p(z) = −(D/2)·log 2π − Σ_j s_j − ½ Σ_j u_j²,   u_j = (z_j − μ_j)·exp(−s_j).
//
// Its 2D parameters are laid out [μ_0 … μ_{D−1} ; s_0 … s_{D−1}]. It starts
// as the standard normal (μ = 0, s = 0), so that a flow of identity layers
// over it is exactly N(0, I). A draw is z = μ + exp(s) ⊙ ε with ε ~ N(0, I),
// differentiable in μ and s (the reparameterisation reverse KL uses).
type DiagGaussianBase struct {
	d int
	p []float64
}

// NewDiagGaussianBase returns a diagonal Gaussian base on R^d that starts as
// the standard normal. It returns an error unless 1 ≤ d ≤ 2^24.
func NewDiagGaussianBase(d int) (*DiagGaussianBase, error) {
	if err := checkDim(d, 1); err != nil {
		return nil, fmt.Errorf("flow: NewDiagGaussianBase: %w", err)
	}
	return &DiagGaussianBase{d: d, p: make([]float64, 2*d)}, nil
}

// Dim returns D.
func (b *DiagGaussianBase) Dim() int { return b.d }

// ContextDim returns 0.
func (b *DiagGaussianBase) ContextDim() int { return 0 }

// NumParams returns 2D.
func (b *DiagGaussianBase) NumParams() int { return 2 * b.d }

// Params returns [μ ; s], the base's storage.
func (b *DiagGaussianBase) Params() []float64 { return b.p }

// Mean returns a copy of μ.
func (b *DiagGaussianBase) Mean() []float64 { return append([]float64(nil), b.p[:b.d]...) }

// LogStd returns a copy of s = log σ.
func (b *DiagGaussianBase) LogStd() []float64 { return append([]float64(nil), b.p[b.d:]...) }

func (b *DiagGaussianBase) bindParams(p []float64) {
	copy(p, b.p)
	b.p = p
}

// workLen: exp(−s) and exp(s), D values each, whatever n.
func (b *DiagGaussianBase) workLen(int) int { return 2 * b.d }

func (b *DiagGaussianBase) logProbRows(dst, z, _, logdet, work []float64) {
	diagLogProbRows(b.d, b.p, dst, z, logdet, work)
}

func (b *DiagGaussianBase) logProbRows32(p []float32, dst []float64, z, _, logdet, work []float32) {
	diagLogProbRows(b.d, p, dst, z, logdet, work)
}

// diagLogProbRows is logProbRows for either element type, with the
// parameters p = [μ ; s]: exp(−s) is kept in T (in work, for nllGrad), and
// each row's u_j and sums are computed in float64 from the T values.
func diagLogProbRows[T kernElem](d int, p []T, dst []float64, z, logdet, work []T) {
	mu, s := p[:d], p[d:2*d]
	inv := work[:d]
	c := -0.5 * float64(d) * log2Pi
	for j, v := range s {
		inv[j] = T(math.Exp(-float64(v)))
		c -= float64(v)
	}
	for i := range dst {
		zi := z[i*d : i*d+d]
		q := 0.0
		for j, v := range zi {
			u := (float64(v) - float64(mu[j])) * float64(inv[j])
			q += u * u
		}
		dst[i] = c - 0.5*q + float64(logdet[i])
	}
}

// nllGrad of ℓ = (D/2)·log 2π + Σ_j s_j + ½ Σ_j u_j², u_j = (z_j − μ_j)·e^{−s_j}:
//
//	∂ℓ/∂z_j = u_j·e^{−s_j}
//	∂ℓ/∂μ_j = −u_j·e^{−s_j}
//	∂ℓ/∂s_j = 1 + u_j·∂u_j/∂s_j = 1 − u_j²
//
// summed over the rows for the parameters; e^{−s} is in work from
// logProbRows.
func (b *DiagGaussianBase) nllGrad(dz, _, z, _, work, grad []float64) {
	diagNLLGrad(b.d, b.p, dz, z, work, grad)
}

func (b *DiagGaussianBase) nllGrad32(p, dz, _, z, _, work, grad []float32) {
	diagNLLGrad(b.d, p, dz, z, work, grad)
}

// diagNLLGrad is nllGrad for either element type, with the parameters p,
// computed in T.
func diagNLLGrad[T kernElem](d int, p, dz, z, work, grad []T) {
	n := checkBaseRows("DiagGaussianBase.nllGrad", z, d)
	mu := p[:d]
	inv := work[:d]
	gm, gs := grad[:d], grad[d:2*d]
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			u := (z[i*d+j] - mu[j]) * inv[j]
			g := u * inv[j]
			dz[i*d+j] = g
			gm[j] -= g
			gs[j] += 1 - u*u
		}
	}
}

func (b *DiagGaussianBase) draw(dst []float64, rnd *rand.Rand) { stdNormalFill(dst, rnd) }

func (b *DiagGaussianBase) draw32(_ []float32, dst []float64, rnd *rand.Rand) {
	stdNormalFill(dst, rnd)
}

// fromDraws: z = μ + e^{s} ⊙ ε, in place; e^{s} is kept in work.
func (b *DiagGaussianBase) fromDraws(z, _, work []float64) { diagFromDraws(b.d, b.p, z, work) }

func (b *DiagGaussianBase) fromDraws32(p, z, _, work []float32) { diagFromDraws(b.d, p, z, work) }

// diagFromDraws is fromDraws for either element type, with the parameters
// p, computed in T.
func diagFromDraws[T kernElem](d int, p, z, work []T) {
	n := checkBaseRows("DiagGaussianBase.fromDraws", z, d)
	mu, s := p[:d], p[d:2*d]
	sig := work[d : 2*d]
	for j, v := range s {
		sig[j] = T(math.Exp(float64(v)))
	}
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			z[i*d+j] = mu[j] + sig[j]*z[i*d+j]
		}
	}
}

func (b *DiagGaussianBase) reparamErr() error { return nil }

// drawLogProb: for z = μ + e^{s} ⊙ ε, u = ε, so log p(z) = log N(ε; 0, I) −
// Σ_j s_j.
func (b *DiagGaussianBase) drawLogProb(dst, eps, _, _ []float64) {
	diagDrawLogProb(b.d, b.p, dst, eps)
}

func (b *DiagGaussianBase) drawLogProb32(p []float32, dst []float64, eps, _, _ []float32) {
	diagDrawLogProb(b.d, p, dst, eps)
}

// diagDrawLogProb is drawLogProb for either element type, with the
// parameters p = [μ ; s]: Σ_j s_j and each row's log N(ε; 0, I) in float64
// from the T values.
func diagDrawLogProb[T kernElem](d int, p []T, dst []float64, eps []T) {
	ss := 0.0
	for _, v := range p[d : 2*d] {
		ss += float64(v)
	}
	for i := range dst {
		dst[i] = stdNormalLogProb(eps[i*d:i*d+d]) - ss
	}
}

// klGrad: with z_j = μ_j + e^{s_j}·ε_j and log p_θ(z(ε)) = log N(ε) − Σ_j s_j,
// the total derivatives of log p(z(ε)) + L are
//
//	∂/∂μ_j = ∂L/∂z_j
//	∂/∂s_j = −1 + ∂L/∂z_j·e^{s_j}·ε_j
//
// summed over the rows; e^{s} is in work from fromDraws.
func (b *DiagGaussianBase) klGrad(_, dz, eps, _, work, grad []float64) {
	diagKLGrad(b.d, dz, eps, work, grad)
}

func (b *DiagGaussianBase) klGrad32(_, _, dz, eps, _, work, grad []float32) {
	diagKLGrad(b.d, dz, eps, work, grad)
}

// diagKLGrad is klGrad for either element type, computed in T from the
// e^{s} that fromDraws left in work.
func diagKLGrad[T kernElem](d int, dz, eps, work, grad []T) {
	n := checkBaseRows("DiagGaussianBase.klGrad", dz, d)
	sig := work[d : 2*d]
	gm, gs := grad[:d], grad[d:2*d]
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			g := dz[i*d+j]
			gm[j] += g
			gs[j] += g*sig[j]*eps[i*d+j] - 1
		}
	}
}

// maxComponents bounds the number of components of a MixtureBase, as the
// model format bounds every size.
const maxComponents = maxFormatSize

// MixtureBase is a mixture of K diagonal Gaussians on R^D, the base of
// MAF's "MoG" variant (Papamakarios et al. 2017), with weights
// π = softmax(a) of K logits a, component means m_k and standard deviations
// exp(s_k):
//
//	log p(z) = log Σ_k π_k·N(z; m_k, diag(exp(2 s_k)))
//	         = LSE_k ℓ_k,   ℓ_k = log π_k − (D/2)·log 2π − Σ_j s_kj − ½ Σ_j u_kj²,
//	u_kj = (z_j − m_kj)·exp(−s_kj),   LSE_k ℓ_k = M + log Σ_k exp(ℓ_k − M),  M = max_k ℓ_k.
//
// Its K + 2KD parameters are laid out [a_0 … a_{K−1} ; m_0 ; … ; m_{K−1} ;
// s_0 ; … ; s_{K−1}], each m_k and s_k D values, component by component.
//
// It starts with equal weights (a = 0), unit standard deviations (s = 0)
// and means drawn from N(0, I) with the constructor's seed. A mixture can
// be N(0, I) only when its components coincide, and coinciding components
// stay coincident under gradient descent (their responsibilities and so
// their gradients are equal), so the start breaks the symmetry instead:
// drawn means, spread on the scale of the standard normal that the other
// layers and standardised data live on.
//
// A draw takes, for each row, a component k with probability π_k, then
// z = m_k + exp(s_k) ⊙ ε with ε ~ N(0, I). The choice of k is discrete, so
// the draw has no reparameterisation gradient: reverse-KL training refuses
// a flow with this base (FitReverseKL returns an error).
type MixtureBase struct {
	d, k int
	p    []float64
}

// NewMixtureBase returns a mixture of k diagonal Gaussians on R^d with
// equal weights, unit standard deviations and means drawn from N(0, I) by
// a generator seeded with seed: mean j of component i is the (i·d + j)-th
// draw. It returns an error unless 1 ≤ d ≤ 2^24, 1 ≤ k ≤ 2^24 and the
// parameters and workspace are within the limits of New.
func NewMixtureBase(d, k int, seed uint64) (*MixtureBase, error) {
	if err := checkDim(d, 1); err != nil {
		return nil, fmt.Errorf("flow: NewMixtureBase: %w", err)
	}
	if k < 1 || k > maxComponents {
		return nil, fmt.Errorf("flow: NewMixtureBase: %d components, want 1 to %d", k, maxComponents)
	}
	if err := checkSize("the base", mixtureSize(d, k)); err != nil {
		return nil, fmt.Errorf("flow: NewMixtureBase: %w", err)
	}
	b := &MixtureBase{d: d, k: k, p: make([]float64, k+2*k*d)}
	rnd := rand.New(rand.NewPCG(seed, 0x6d69787475726521))
	for i := range b.means() {
		b.means()[i] = rnd.NormFloat64()
	}
	return b, nil
}

// mixtureSize returns the parameters and the workspace for evalShard rows
// of a mixture of k components on R^d (see MixtureBase.workLen).
func mixtureSize(d, k int) footprint {
	fd, fk := float64(d), float64(k)
	return footprint{fk + 2*fk*fd, fk*fd + 2*fk + evalShard*fk}
}

func (b *MixtureBase) logits() []float64  { return b.p[:b.k] }
func (b *MixtureBase) means() []float64   { return b.p[b.k : b.k+b.k*b.d] }
func (b *MixtureBase) logStds() []float64 { return b.p[b.k+b.k*b.d:] }

// mixtureParams splits the parameters p of a mixture of b's shape, of
// either element type, into the logits a, the means m and the log
// standard deviations s.
func mixtureParams[T kernElem](b *MixtureBase, p []T) (a, m, s []T) {
	k, kd := b.k, b.k*b.d
	return p[:k], p[k : k+kd], p[k+kd : k+2*kd]
}

// Dim returns D.
func (b *MixtureBase) Dim() int { return b.d }

// ContextDim returns 0.
func (b *MixtureBase) ContextDim() int { return 0 }

// NumParams returns K + 2KD.
func (b *MixtureBase) NumParams() int { return len(b.p) }

// Params returns [a ; m ; s], the base's storage.
func (b *MixtureBase) Params() []float64 { return b.p }

// Components returns K.
func (b *MixtureBase) Components() int { return b.k }

// Weights returns the mixture weights π = softmax(a).
func (b *MixtureBase) Weights() []float64 {
	w := make([]float64, b.k)
	lse := logSumExp(b.logits())
	for i, a := range b.logits() {
		w[i] = math.Exp(a - lse)
	}
	return w
}

// Mean returns a copy of the mean of component i. It panics unless
// 0 ≤ i < K.
func (b *MixtureBase) Mean(i int) []float64 {
	b.checkComponent("MixtureBase.Mean", i)
	return append([]float64(nil), b.means()[i*b.d:(i+1)*b.d]...)
}

// LogStd returns a copy of the log standard deviations of component i. It
// panics unless 0 ≤ i < K.
func (b *MixtureBase) LogStd(i int) []float64 {
	b.checkComponent("MixtureBase.LogStd", i)
	return append([]float64(nil), b.logStds()[i*b.d:(i+1)*b.d]...)
}

func (b *MixtureBase) checkComponent(method string, i int) {
	if i < 0 || i >= b.k {
		panic(fmt.Sprintf("flow: %s: component %d out of range [0, %d)", method, i, b.k))
	}
}

func (b *MixtureBase) bindParams(p []float64) {
	copy(p, b.p)
	b.p = p
}

// workLen: exp(−s) (K·D), π and the constants c_k (K each), and per row
// the K responsibilities (see mixtureWork).
func (b *MixtureBase) workLen(n int) int { return b.k*b.d + 2*b.k + n*b.k }

// logSumExp returns log Σ_i exp(v_i), computed in float64 as
// M + log Σ_i exp(v_i − M) with M = max_i v_i so that no term overflows;
// −Inf when every v_i is −Inf (or v is empty), NaN when one is NaN.
func logSumExp[T kernElem](v []T) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		if x := float64(x); x > m || x != x {
			m = x
		}
	}
	if math.IsInf(m, 0) || m != m {
		return m
	}
	s := 0.0
	for _, x := range v {
		s += math.Exp(float64(x) - m)
	}
	return m + math.Log(s)
}

// mixtureWork splits the mixture's work over n rows, of either element
// type: exp(−s) (K·D), the weights π and the components' constants c_k
// (K each), and the rows' responsibilities (n·K).
func mixtureWork[T kernElem](b *MixtureBase, work []T, n int) (inv, w, cst, r []T) {
	kd := b.k * b.d
	inv = work[:kd]
	w = work[kd : kd+b.k]
	cst = work[kd+b.k : kd+2*b.k]
	r = work[kd+2*b.k : kd+2*b.k+n*b.k]
	return inv, w, cst, r
}

// logProbRows computes log p(z) = LSE_k ℓ_k as the type documents, and
// leaves the responsibilities r_k = exp(ℓ_k − log p(z)), the posterior
// probabilities of the components given z, in work for nllGrad. Per call
// it computes exp(−s), π_k = exp(log π_k) with log π_k = a_k − LSE(a), and
// the constants c_k = log π_k − (D/2)·log 2π − Σ_j s_kj, so that
// ℓ_k = c_k − ½ Σ_j u_kj².
func (b *MixtureBase) logProbRows(dst, z, _, logdet, work []float64) {
	mixtureLogProbRows(b, b.p, dst, z, logdet, work)
}

func (b *MixtureBase) logProbRows32(p []float32, dst []float64, z, _, logdet, work []float32) {
	mixtureLogProbRows(b, p, dst, z, logdet, work)
}

// mixtureLogProbRows is logProbRows for either element type, with the
// parameters p. What it leaves in work (exp(−s), π, c_k, and ℓ_k and then
// r_k per row) is kept in T; each row's u_kj, its sums, the log-sum-exps
// and the exponentials are computed in float64 from the T values.
func mixtureLogProbRows[T kernElem](b *MixtureBase, p []T, dst []float64, z, logdet, work []T) {
	d, k := b.d, b.k
	n := len(dst)
	inv, w, cst, r := mixtureWork(b, work, n)
	a, m, s := mixtureParams(b, p)
	lse := logSumExp(a)
	half := 0.5 * float64(d) * log2Pi
	for c := 0; c < k; c++ {
		lw := float64(a[c]) - lse
		w[c] = T(math.Exp(lw))
		cc := lw - half
		for j := 0; j < d; j++ {
			inv[c*d+j] = T(math.Exp(-float64(s[c*d+j])))
			cc -= float64(s[c*d+j])
		}
		cst[c] = T(cc)
	}
	for i := 0; i < n; i++ {
		zi := z[i*d : i*d+d]
		ri := r[i*k : i*k+k]
		for c := 0; c < k; c++ {
			mc, ic := m[c*d:c*d+d], inv[c*d:c*d+d]
			q := 0.0
			for j, v := range zi {
				u := (float64(v) - float64(mc[j])) * float64(ic[j])
				q += u * u
			}
			ri[c] = T(float64(cst[c]) - 0.5*q)
		}
		lp := logSumExp(ri)
		for c := range ri {
			ri[c] = T(math.Exp(float64(ri[c]) - lp))
		}
		dst[i] = lp + float64(logdet[i])
	}
}

// nllGrad of ℓ = −log p(z) = −LSE_k ℓ_k. With the responsibilities
// r_k = exp(ℓ_k − log p), ∂ LSE/∂ℓ_k = r_k, so ∂ℓ/∂θ = −Σ_k r_k·∂ℓ_k/∂θ, and
// from ℓ_k = log π_k − (D/2)·log 2π − Σ_j s_kj − ½ Σ_j u_kj²,
// u_kj = (z_j − m_kj)·e^{−s_kj}:
//
//	∂ℓ_k/∂z_j    = −u_kj·e^{−s_kj}         so  ∂ℓ/∂z_j  =  Σ_k r_k·u_kj·e^{−s_kj}
//	∂ℓ_k/∂m_kj   =  u_kj·e^{−s_kj}         so  ∂ℓ/∂m_kj = −r_k·u_kj·e^{−s_kj}
//	∂ℓ_k/∂s_kj   = −1 + u_kj²              so  ∂ℓ/∂s_kj =  r_k·(1 − u_kj²)
//	∂log π_k/∂a_l = δ_kl − π_l             so  ∂ℓ/∂a_l  = −Σ_k r_k·(δ_kl − π_l) = π_l − r_l
//
// (Σ_k r_k = 1), summed over the rows for the parameters.
func (b *MixtureBase) nllGrad(dz, _, z, _, work, grad []float64) {
	mixtureNLLGrad(b, b.p, dz, z, work, grad)
}

func (b *MixtureBase) nllGrad32(p, dz, _, z, _, work, grad []float32) {
	mixtureNLLGrad(b, p, dz, z, work, grad)
}

// mixtureNLLGrad is nllGrad for either element type, with the parameters
// p, computed in T.
func mixtureNLLGrad[T kernElem](b *MixtureBase, p, dz, z, work, grad []T) {
	d, k := b.d, b.k
	n := checkBaseRows("MixtureBase.nllGrad", z, d)
	inv, w, _, r := mixtureWork(b, work, n)
	_, m, _ := mixtureParams(b, p)
	ga := grad[:k]
	gm := grad[k : k+k*d]
	gs := grad[k+k*d : k+2*k*d]
	for i := 0; i < n; i++ {
		zi := z[i*d : i*d+d]
		dzi := dz[i*d : i*d+d]
		clear(dzi)
		ri := r[i*k : i*k+k]
		for c := 0; c < k; c++ {
			rc := ri[c]
			ga[c] += w[c] - rc
			mc, ic := m[c*d:c*d+d], inv[c*d:c*d+d]
			gmc, gsc := gm[c*d:c*d+d], gs[c*d:c*d+d]
			for j, v := range zi {
				u := (v - mc[j]) * ic[j]
				g := rc * u * ic[j]
				dzi[j] += g
				gmc[j] -= g
				gsc[j] += rc * (1 - u*u)
			}
		}
	}
}

// draw: for each row in turn, one rnd.Float64() u chooses the component,
// the first k with u < π_0 + … + π_k (the last if rounding leaves u above
// the sum), then D rnd.NormFloat64() draws ε give z = m_k + exp(s_k) ⊙ ε.
func (b *MixtureBase) draw(dst []float64, rnd *rand.Rand) { mixtureDraw(b, b.p, dst, rnd) }

func (b *MixtureBase) draw32(p []float32, dst []float64, rnd *rand.Rand) {
	mixtureDraw(b, p, dst, rnd)
}

// mixtureDraw is draw with the parameters p of either element type,
// computed in float64 from their values, so that float32 parameters give
// the draws of the float64 mixture of the same values, bit for bit.
func mixtureDraw[T kernElem](b *MixtureBase, p []T, dst []float64, rnd *rand.Rand) {
	d, k := b.d, b.k
	n := checkBaseRows("MixtureBase.draw", dst, d)
	a, m, s := mixtureParams(b, p)
	lse := logSumExp(a)
	for i := 0; i < n; i++ {
		u := rnd.Float64()
		c, acc := 0, 0.0
		for ; c < k-1; c++ {
			acc += math.Exp(float64(a[c]) - lse)
			if u < acc {
				break
			}
		}
		zi := dst[i*d : i*d+d]
		for j := range zi {
			zi[j] = float64(m[c*d+j]) + math.Exp(float64(s[c*d+j]))*rnd.NormFloat64()
		}
	}
}

// fromDraws: draw has written the points themselves.
func (b *MixtureBase) fromDraws(_, _, _ []float64) {}

func (b *MixtureBase) fromDraws32(_, _, _, _ []float32) {}

func (b *MixtureBase) reparamErr() error {
	return fmt.Errorf("a mixture base (%d components) draws its component discretely, which has no reparameterisation gradient: reverse-KL training needs a StdNormalBase, DiagGaussianBase or ConditionalGaussianBase", b.k)
}

func (b *MixtureBase) drawLogProb(_, _, _, _ []float64) {
	panic("flow: MixtureBase: no reparameterised draw (reverse KL refuses a mixture base)")
}

func (b *MixtureBase) klGrad(_, _, _, _, _, _ []float64) {
	panic("flow: MixtureBase: no reparameterised draw (reverse KL refuses a mixture base)")
}

func (b *MixtureBase) drawLogProb32(_ []float32, _ []float64, _, _, _ []float32) {
	panic("flow: MixtureBase: no reparameterised draw (reverse KL refuses a mixture base)")
}

func (b *MixtureBase) klGrad32(_, _, _, _, _, _, _ []float32) {
	panic("flow: MixtureBase: no reparameterised draw (reverse KL refuses a mixture base)")
}
