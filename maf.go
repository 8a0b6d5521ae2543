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
	// ContextDim is the width C ≥ 0 of the context c the layer conditions
	// on: (μ, α) are a MADE of the layer's input and of c, every output
	// depending on all of c (see MADEConfig and MADE). With C > 0 every
	// hidden layer needs at least D units. 0: no context.
	ContextDim int
	// Spline, when not nil, makes the layer's element-wise map the
	// rational-quadratic spline (a copy of it is kept) in place of the
	// affine map: the MADE then has P = Spline.ParamsPerDim() = 3K−1
	// outputs per dimension, the spline parameters of that dimension (see
	// arLayer). Clamp must be 0. nil: the affine layer.
	Spline *RQSpline
	// ResidualBlocks R > 0 makes the conditioner a residual MADE of R
	// blocks of width Hidden[0] (see MADEConfig.ResidualBlocks); Hidden
	// must then hold one width. 0: the plain MADE.
	ResidualBlocks int
}

func (c *AutoregressiveConfig) made() MADEConfig {
	return MADEConfig{Dim: c.Dim, Hidden: c.Hidden, Activation: c.Activation, Order: c.Order, Perm: c.Perm, Degrees: c.Degrees, HiddenDegrees: c.HiddenDegrees, Seed: c.Seed, ContextDim: c.ContextDim, ResidualBlocks: c.ResidualBlocks}
}

// arLayer is what MAF and IAF share: the affine autoregressive map
//
//	x_d = z_d·exp(α_d) + μ_d,   z_d = (x_d − μ_d)·exp(−α_d),
//
// with (μ, α) a MADE of x (MAF) or of z (IAF), and of the row's context c
// when the layer has one (C > 0), or, with a spline, the spline map
//
//	x_d = RQS(z_d; θ_d),   z_d = RQS⁻¹(x_d; θ_d),
//
// θ_d the P = 3K−1 spline parameters of dimension d (RQSpline's order: K
// width logits, K height logits, K−1 derivative logits), a MADE of x or z
// likewise. The spline's MADE is dimension-major: its stored output row
// p·P + k is parameter k of the dimension at position p, so all the outputs
// of one degree are adjacent and the output mask is one staircase. One direction conditions on its own input
// and takes one MADE pass (onePass); the other conditions on its own output
// and takes D MADE evaluations, one per position of the order (sequential).
// The context is fixed in both: it enters the MADE's input as its first C
// columns, [c ; v in the order], v being the input (onePass) or the output
// (sequential).
type arLayer struct {
	made  *MADE
	clamp float64
	// spline is the element-wise map's spline, nil for the affine map.
	spline *RQSpline
	// passes counts MADE evaluations over a batch: one per onePass, one
	// per position in sequential. Tests read it.
	passes atomic.Int64
}

// newARMADE validates cfg and returns the layer's MADE.
func newARMADE(caller string, cfg AutoregressiveConfig) (*MADE, error) {
	if math.IsNaN(cfg.Clamp) || math.IsInf(cfg.Clamp, 0) || cfg.Clamp < 0 {
		return nil, fmt.Errorf("flow: %s: clamp %v is not a finite non-negative number", caller, cfg.Clamp)
	}
	if err := checkARSpline(caller, cfg.Spline, cfg.Clamp); err != nil {
		return nil, err
	}
	return newMADE(caller, cfg.made(), true, cfg.Spline)
}

// checkARSpline returns an error unless sp is nil or a valid spline with no
// scale clamp beside it.
func checkARSpline(caller string, sp *RQSpline, clamp float64) error {
	if sp == nil {
		return nil
	}
	if err := sp.validate(); err != nil {
		return fmt.Errorf("flow: %s: %w", caller, err)
	}
	if clamp != 0 {
		return fmt.Errorf("flow: %s: clamp %v with a spline: the clamp applies to the affine map's log-scales only, want 0", caller, clamp)
	}
	return nil
}

// copySpline returns a copy of *sp, or nil.
func copySpline(sp *RQSpline) *RQSpline {
	if sp == nil {
		return nil
	}
	c := *sp
	return &c
}

// Spline returns a copy of the layer's spline, or nil for the affine map.
func (a *arLayer) Spline() *RQSpline { return copySpline(a.spline) }

// MADE returns the layer's conditioner. Its parameters are the layer's.
func (a *arLayer) MADE() *MADE { return a.made }

// prepack and unpack make MAF and IAF layers prepackers: their MADE's
// weights packed once for a training step's shards of n rows.
func (a *arLayer) prepack(n int) { a.made.prepack(n) }
func (a *arLayer) unpack()       { a.made.unpack() }

// Clamp returns the scale clamp c (0: none).
func (a *arLayer) Clamp() float64 { return a.clamp }

func (a *arLayer) Dim() int               { return a.made.d }
func (a *arLayer) NumParams() int         { return len(a.made.params) }
func (a *arLayer) Params() []float64      { return a.made.params }
func (a *arLayer) BindParams(p []float64) { a.made.BindParams(p) }
func (a *arLayer) ContextDim() int        { return a.made.c }

// denseCost is the MADE's (see MADE.denseCost): the cost of the one-pass
// direction, and about that of the sequential one (see sequential).
func (a *arLayer) denseCost() int  { return a.made.denseCost() }
func (a *arLayer) maskedCost() int { return a.made.maskedCost() }

// madePasses returns the number of MADE passes over a batch so far.
func (a *arLayer) madePasses() int64 { return a.passes.Load() }

// arWork is the layout of the workspace over n rows. in is the MADE's
// input, n×(C+D), row r being [c_r ; v_r in the order]: in onePass v is the
// layer's input, in sequential the output, built position by position. out
// (n×D) holds, in onePass, the output in the order and, in sequential, the
// input gathered into the order. With a spline, e is unused, dout holds
// ∂L/∂θ (n×P·D, the MADE's stored output layout; in sequential its first
// n×P values hold the θ of the position at hand) and row is the spline's
// scratch. T is the element type of the pass (float64, or float32 for the
// float32 path).
type arWork[T kernElem] struct {
	in     []T // n×(C+D): the MADE's input
	out, e []T // n×D each; e holds exp(±α)
	mw     []T // the MADE's workspace
	dout   []T // n×2D: ∂L/∂[μ ; α_raw] (n×P·D with a spline)
	din    []T // n×(C+D): ∂L/∂(MADE input)
	row    []T // D: one row of clamped α (the spline's scratch)
	bins   []T // n×binLen·D: a spline layer's bins, kept for backward
	stride int // C+D, the width of a row of in and din
	off    int // C, the column of position 0 in a row of in
}

func (a *arLayer) WorkLen(n int) int {
	d, s := a.made.d, a.made.d+a.made.c
	return 2*n*d + n*a.made.nout() + 2*n*s + a.made.workLen(n) + a.rowLen() + a.binsLen(n)
}

// binsLen is the length of arWork.bins: binLen·n·D for a spline layer, else 0.
func (a *arLayer) binsLen(n int) int {
	if a.spline != nil {
		return binLen * n * a.made.d
	}
	return 0
}

// rowLen is the length of arWork.row: D, or for a spline layer the
// spline's scratch for a row of D dimensions and two more rows of D.
func (a *arLayer) rowLen() int {
	if a.spline != nil {
		return a.spline.tmpLen(a.made.d) + 2*a.made.d
	}
	return a.made.d
}

func (a *arLayer) split(work []float64, n int) arWork[float64] { return arSplit(a, work, n) }

// arSplit is split for either element type.
func arSplit[T kernElem](a *arLayer, work []T, n int) arWork[T] {
	d, c := a.made.d, a.made.c
	take := func(m int) []T {
		s := work[:m:m]
		work = work[m:]
		return s
	}
	w := arWork[T]{stride: c + d, off: c}
	w.in = take(n * (c + d))
	w.out = take(n * d)
	w.e = take(n * d)
	w.mw = take(a.made.workLen(n))
	w.dout = take(n * a.made.nout())
	w.din = take(n * (c + d))
	w.row = take(a.rowLen())
	w.bins = take(a.binsLen(n))
	return w
}

// checkContext panics unless c holds the n = len(logdet) rows of the
// layer's context (any c is ignored when the layer has none).
func (a *arLayer) checkContext(method string, c, logdet []float64) {
	arCheckContext(a, method, c, logdet)
}

// arCheckContext is checkContext for either element type.
func arCheckContext[T kernElem](a *arLayer, method string, c, logdet []T) {
	if nc := a.made.c; nc > 0 && len(c) != len(logdet)*nc {
		panic(fmt.Sprintf("flow: %s: context of length %d, want %d rows × %d columns = %d", method, len(c), len(logdet), nc, len(logdet)*nc))
	}
}

// arLoadInput sets the MADE's input w.in to [c ; v in the order], row by
// row, for the n rows of v (n×D, dimension order) and c (n×C).
func arLoadInput[T kernElem](a *arLayer, w arWork[T], v, c []T, n int) {
	m := a.made
	if m.c == 0 {
		gatherRows(w.in, v, m.order)
		return
	}
	d, nc, s := m.d, m.c, w.stride
	for r := 0; r < n; r++ {
		row := w.in[r*s : (r+1)*s]
		copy(row[:nc], c[r*nc:(r+1)*nc])
		vr := v[r*d : (r+1)*d]
		for p, i := range m.order {
			row[nc+p] = vr[i]
		}
	}
}

// storeOutput sets dst[r, Order()[p]] = src[r, off+p] for the rows of dst
// (n×D), src having rows of width stride.
func (a *arLayer) storeOutput(dst, src []float64, stride, off int) {
	arStoreOutput(a, dst, src, stride, off)
}

// arStoreOutput is storeOutput for either element type.
func arStoreOutput[T kernElem](a *arLayer, dst, src []T, stride, off int) {
	m := a.made
	if stride == m.d {
		gatherRows(dst, src, m.pos)
		return
	}
	d := m.d
	for r := 0; r*d < len(dst); r++ {
		dr, sr := dst[r*d:(r+1)*d], src[r*stride+off:r*stride+off+d]
		for i, p := range m.pos {
			dr[i] = sr[p]
		}
	}
}

// scale returns the clamped α of a row, α = c·tanh(α_raw/c), in tmp, or
// α_raw itself without a clamp.
func (a *arLayer) scale(raw, tmp []float64) []float64 { return arScale(a, raw, tmp) }

// arScale is scale for either element type: in float32, each tanh is
// math.Tanh of the widened value, rounded once (as affineOf's).
func arScale[T kernElem](a *arLayer, raw, tmp []T) []T {
	if a.clamp <= 0 {
		return raw
	}
	c := T(a.clamp)
	for i, v := range raw {
		tmp[i] = c * T(math.Tanh(float64(v/c)))
	}
	return tmp[:len(raw)]
}

func (a *arLayer) scale1(raw float64) float64 { return arScale1(a, raw) }

// arScale1 is scale1 for either element type.
func arScale1[T kernElem](a *arLayer, raw T) T {
	if a.clamp <= 0 {
		return raw
	}
	c := T(a.clamp)
	return c * T(math.Tanh(float64(raw/c)))
}

// onePass applies the direction that conditions on its own input, in one
// MADE pass: (μ, α) = MADE(in, c), then
//
//	fwd:  out = in ⊙ exp(α) + μ,     logdet += Σ α   (IAF Forward)
//	!fwd: out = (in − μ) ⊙ exp(−α),  logdet −= Σ α   (MAF Inverse)
//
// The work keeps the gathered input, the output (in the order), exp(±α) and
// the MADE's pass for backward.
func (a *arLayer) onePass(out, in, c, logdet, work []float64, fwd bool, dr dropout) {
	arOnePass(a, a.made.params, out, in, c, logdet, work, fwd, dr)
}

// arOnePass is onePass for either element type, with the parameters p (the
// MADE's stored layout).
func arOnePass[T kernElem](a *arLayer, p, out, in, c, logdet, work []T, fwd bool, dr dropout) {
	n, d := len(logdet), a.made.d
	w := arSplit(a, work, n)
	m := a.made
	arLoadInput(a, w, in, c, n)
	o := madeForward(m, p, w.in, n, w.mw, dr)
	a.passes.Add(1)
	s, off := w.stride, w.off
	if a.spline != nil {
		arSplinePass(a, w, o, logdet, fwd)
		gatherRows(out, w.out, m.pos)
		return
	}
	for r := 0; r < n; r++ {
		or := o[r*2*d : (r+1)*2*d]
		mu, alpha := or[:d], arScale(a, or[d:], w.row)
		ir, outr, er := w.in[r*s+off:r*s+off+d], w.out[r*d:(r+1)*d], w.e[r*d:(r+1)*d]
		if fwd {
			logdet[r] += affineForwardT(outr, er, ir, mu, alpha)
		} else {
			logdet[r] -= affineInverseT(outr, er, ir, mu, alpha)
		}
	}
	// out[r, order[p]] = w.out[r, p].
	gatherRows(out, w.out, m.pos)
}

// onePassBackward follows onePass with the same in, out, c and work. Given
// dOut = ∂L/∂out and dld[r] = ∂L/∂logdet[r], it writes dIn = ∂L/∂in, adds
// ∂L/∂θ into grad and, when dc is not nil and the layer has a context, adds
// ∂L/∂c into dc. Per row, in the order (p is a position, g_p the
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
// whose input is [c ; in], so ∂L/∂in = direct + the MADE's ∂L/∂x, and
// ∂L/∂c is the MADE's ∂L/∂c alone (the affine step does not read c).
func (a *arLayer) onePassBackward(dIn, dc, dOut, dld, work, grad []float64, fwd bool, dr dropout) {
	arOnePassBackward(a, a.made.params, dIn, dc, dOut, dld, work, grad, fwd, dr)
}

// arOnePassBackward is onePassBackward for either element type, with the
// parameters p that arOnePass ran with.
func arOnePassBackward[T kernElem](a *arLayer, p, dIn, dc, dOut, dld, work, grad []T, fwd bool, dr dropout) {
	n, d := len(dld), a.made.d
	w := arSplit(a, work, n)
	m := a.made
	o := madeOutput(m, w.mw, n)
	c := T(a.clamp)
	s, off := w.stride, w.off
	if a.spline != nil {
		arSplinePassBackward(a, w, o, dIn, dOut, dld, fwd)
	}
	for r := 0; r < n && a.spline == nil; r++ {
		alpha := arScale(a, o[r*2*d+d:(r+1)*2*d], w.row)
		ir, outr, er := w.in[r*s+off:r*s+off+d], w.out[r*d:(r+1)*d], w.e[r*d:(r+1)*d]
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
	madeBackward(m, p, w.in, n, w.mw, w.dout, grad, w.din, dr)
	nc := m.c
	for r := 0; r < n; r++ {
		dinr, dm := dIn[r*d:(r+1)*d], w.din[r*s+off:r*s+off+d]
		for p, i := range m.order {
			dinr[i] += dm[p]
		}
		if nc > 0 && dc != nil {
			dcr, dm := dc[r*nc:(r+1)*nc], w.din[r*s:r*s+nc]
			for j, v := range dm {
				dcr[j] += v
			}
		}
	}
}

// sequential applies the direction that conditions on its own output, one
// position of the order at a time: for p = 0, …, D−1, (μ_p, α_p) come from
// the MADE applied to the context and the outputs at positions < p, already
// computed, and
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
// what D full passes would (sequentialNaive, which the tests compare). The
// context is written into the MADE's input once, before position 0; the
// hidden units that read it are computed once each, like every unit.
func (a *arLayer) sequential(out, in, c, logdet, work []float64, fwd bool) {
	arSequential(a, a.made.params, out, in, c, logdet, work, fwd)
}

// arSequential is sequential for either element type, with the parameters
// prm (the MADE's stored layout).
func arSequential[T kernElem](a *arLayer, prm, out, in, c, logdet, work []T, fwd bool) {
	n, d := len(logdet), a.made.d
	w := arSplit(a, work, n)
	m := a.made
	arStartSequential(a, w, in, c, n)
	if a.spline != nil {
		theta := w.dout[:n*m.per]
		for p := 0; p < d; p++ {
			madePositionSplinePass(m, prm, w.in, p, n, w.mw, theta)
			a.passes.Add(1)
			arSplineStep(a, w, logdet, theta, p, fwd)
		}
		arStoreOutput(a, out, w.in, w.stride, w.off)
		return
	}
	mu, araw := w.dout[:n], w.dout[n:2*n]
	for p := 0; p < d; p++ {
		madePositionPass(m, prm, w.in, p, n, w.mw, mu, araw)
		a.passes.Add(1)
		arAffineStep(a, w, logdet, mu, araw, p, fwd)
	}
	arStoreOutput(a, out, w.in, w.stride, w.off)
}

// arStartSequential gathers the layer's input into the order in w.out and
// sets the MADE's input w.in to [c ; 0], its positions to be filled one by
// one.
func arStartSequential[T kernElem](a *arLayer, w arWork[T], in, c []T, n int) {
	m := a.made
	gatherRows(w.out, in, m.order)
	clear(w.in)
	if nc, s := m.c, w.stride; nc > 0 {
		for r := 0; r < n; r++ {
			copy(w.in[r*s:r*s+nc], c[r*nc:(r+1)*nc])
		}
	}
}

// arAffineStep sets position p of every row of the MADE's input w.in from
// the same position of the gathered input w.out and the columns mu, araw
// (α_raw) of that position. In float32, each exp is math.Exp of the
// widened value, rounded once.
func arAffineStep[T kernElem](a *arLayer, w arWork[T], logdet, mu, araw []T, p int, fwd bool) {
	d, s, q := a.made.d, w.stride, w.off+p
	for r := range logdet {
		al := arScale1(a, araw[r])
		if fwd {
			w.in[r*s+q] = w.out[r*d+p]*T(math.Exp(float64(al))) + mu[r]
			logdet[r] += al
		} else {
			w.in[r*s+q] = (w.out[r*d+p] - mu[r]) * T(math.Exp(float64(-al)))
			logdet[r] -= al
		}
	}
}

// splinePass is onePass's element-wise map for a spline layer: with o the
// MADE's output (n×P·D, row r holding the P parameters θ_p of each
// position p, contiguous), for each row and position p, in the order,
//
//	fwd:  out_p = RQS(in_p; θ_p),    logdet += log RQS'(in_p; θ_p)     (IAF Forward)
//	!fwd: out_p = RQS⁻¹(in_p; θ_p),  logdet −= log RQS'(out_p; θ_p)   (MAF Inverse)
//
// the spline called on the D positions of a row at once, with its
// parameters in the MADE's dimension-major layout, into w.out (in the
// order).
func (a *arLayer) splinePass(w arWork[float64], o, logdet []float64, fwd bool) {
	arSplinePass(a, w, o, logdet, fwd)
}

// arSplinePass is splinePass for either element type.
func arSplinePass[T kernElem](a *arLayer, w arWork[T], o, logdet []T, fwd bool) {
	m, sp := a.made, rqsplineOf[T]{*a.spline}
	d, P, no := m.d, m.per, m.nout()
	s, off := w.stride, w.off
	lay := rqLayout{sj: 1, si: P}
	for r := range logdet {
		ir, outr := w.in[r*s+off:r*s+off+d], w.out[r*d:(r+1)*d]
		th := o[r*no : r*no+d*P]
		bins := w.bins[r*binLen*d : (r+1)*binLen*d]
		if fwd {
			logdet[r] += sp.forward(outr, ir, th, lay, w.row, bins)
		} else {
			logdet[r] += sp.inverse(outr, ir, th, lay, w.row, bins)
		}
	}
}

// splinePassBackward is onePassBackward's element-wise part for a spline
// layer, after splinePass: for each row and position p (dimension i =
// Order()[p], g_i = dOut[r, i]) the spline's backward for one dimension
// gives the direct ∂L/∂in_p, written to dIn[r, i], and ∂L/∂θ_p, written to
// w.dout at the MADE's stored output rows p·P, …, (p+1)·P − 1:
//
//	fwd:  RQSpline.ForwardBackward (out_p = RQS(in_p; θ_p), ld = log RQS')
//	!fwd: RQSpline.InverseBackward (out_p = RQS⁻¹(in_p; θ_p), ld = −log RQS'(out_p)),
//
// each with the row's dld. onePassBackward then backpropagates w.dout
// through the MADE, adding its ∂L/∂in to dIn and giving ∂L/∂c, as for the
// affine map.
func (a *arLayer) splinePassBackward(w arWork[float64], o, dIn, dOut, dld []float64, fwd bool) {
	arSplinePassBackward(a, w, o, dIn, dOut, dld, fwd)
}

// arSplinePassBackward is splinePassBackward for either element type.
func arSplinePassBackward[T kernElem](a *arLayer, w arWork[T], o, dIn, dOut, dld []T, fwd bool) {
	m, sp := a.made, rqsplineOf[T]{*a.spline}
	d, P, no := m.d, m.per, m.nout()
	s, off := w.stride, w.off
	lay := rqLayout{sj: 1, si: P}
	// g and di hold a row's ∂L/∂out and direct ∂L/∂in in the order.
	tl := sp.s.tmpLen(d)
	tmp, g, di := w.row[:tl], w.row[tl:tl+d], w.row[tl+d:tl+2*d]
	for r := range dld {
		ir, outr := w.in[r*s+off:r*s+off+d], w.out[r*d:(r+1)*d]
		gr, dinr := dOut[r*d:(r+1)*d], dIn[r*d:(r+1)*d]
		for p, i := range m.order {
			g[p] = gr[i]
		}
		th, dth := o[r*no:r*no+d*P], w.dout[r*no:r*no+d*P]
		bins := w.bins[r*binLen*d : (r+1)*binLen*d]
		if fwd {
			sp.forwardBackward(di, dth, g, dld[r], ir, outr, th, lay, tmp, bins)
		} else {
			sp.inverseBackward(di, dth, g, dld[r], ir, outr, th, lay, tmp, bins)
		}
		for p, i := range m.order {
			dinr[i] = di[p]
		}
	}
}

// arSplineStep is arAffineStep for a spline layer: it sets position p of every
// row of the MADE's input w.in from the same position of the gathered input
// w.out and theta (n×P, the parameters of position p of each row),
//
//	fwd:  in_p = RQS(out_p; θ_p),    logdet += log RQS'   (MAF Forward)
//	!fwd: in_p = RQS⁻¹(out_p; θ_p),  logdet −= log RQS'   (IAF Inverse)
func arSplineStep[T kernElem](a *arLayer, w arWork[T], logdet, theta []T, p int, fwd bool) {
	sp := rqsplineOf[T]{*a.spline}
	d, P, s, q := a.made.d, a.made.per, w.stride, w.off+p
	for r := range logdet {
		dst, src := w.in[r*s+q:r*s+q+1], w.out[r*d+p:r*d+p+1]
		th := theta[r*P : (r+1)*P]
		if fwd {
			logdet[r] += sp.Forward(dst, src, th, w.row)
		} else {
			logdet[r] += sp.Inverse(dst, src, th, w.row)
		}
	}
}

// sequentialNaive is sequential with a full pass of the hidden layers at
// every position: D times the work, the same result. It is the reference
// the tests and benchmarks compare sequential with.
func (a *arLayer) sequentialNaive(out, in, c, logdet, work []float64, fwd bool) {
	n, d := len(logdet), a.made.d
	w := a.split(work, n)
	m := a.made
	arStartSequential(a, w, in, c, n)
	if a.spline != nil {
		theta := w.dout[:n*m.per]
		for p := 0; p < d; p++ {
			h := m.hiddenForward(w.in, n, w.mw)
			m.outputBlock(theta, h, p, n)
			arSplineStep(a, w, logdet, theta, p, fwd)
		}
		a.storeOutput(out, w.in, w.stride, w.off)
		return
	}
	mu, araw := w.dout[:n], w.dout[n:2*n]
	for p := 0; p < d; p++ {
		h := m.hiddenForward(w.in, n, w.mw)
		m.outputRow(mu, h, p, n)
		m.outputRow(araw, h, d+p, n)
		arAffineStep(a, w, logdet, mu, araw, p, fwd)
	}
	a.storeOutput(out, w.in, w.stride, w.off)
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
//
// With a context (AutoregressiveConfig.ContextDim = C > 0), (μ, α) =
// MADE(x, c) in both directions, every output depending on c, and the map of
// each row, its log-det and its inverse are those of x with c held fixed.
// InverseBackward then also gives ∂L/∂c.
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
	return &MAF{arLayer{made: m, clamp: cfg.Clamp, spline: copySpline(cfg.Spline)}}, nil
}

// Forward computes x = f(z) in D sequential MADE evaluations (see
// sequential) and adds Σ α to logdet.
func (l *MAF) Forward(x, z, c, logdet, work []float64) {
	checkRows("MAF.Forward", l.made.d, logdet, x, z)
	l.checkContext("MAF.Forward", c, logdet)
	l.sequential(x, z, c, logdet, work, true)
}

// Inverse computes z = (x − μ(x)) ⊙ exp(−α(x)) in one MADE pass and adds
// −Σ α to logdet.
func (l *MAF) Inverse(z, x, c, logdet, work []float64) {
	checkRows("MAF.Inverse", l.made.d, logdet, x, z)
	l.checkContext("MAF.Inverse", c, logdet)
	l.onePass(z, x, c, logdet, work, false, dropout{})
}

// inverseDrop is Inverse with the dropout dr in a residual MADE's blocks
// (training by maximum likelihood; dropout.go).
func (l *MAF) inverseDrop(z, x, c, logdet, work []float64, dr dropout) {
	checkRows("MAF.Inverse", l.made.d, logdet, x, z)
	l.checkContext("MAF.Inverse", c, logdet)
	l.onePass(z, x, c, logdet, work, false, dr)
}

// inverseBackwardDrop is InverseBackward after inverseDrop with the same
// dropout.
func (l *MAF) inverseBackwardDrop(dx, dc, dz, dld, x, z, c, work, grad []float64, dr dropout) {
	l.onePassBackward(dx, dc, dz, dld, work, grad, false, dr)
}

// InverseBackward backpropagates through Inverse (see onePassBackward),
// adding ∂L/∂c into dc when the layer has a context and dc is not nil.
func (l *MAF) InverseBackward(dx, dc, dz, dld, x, z, c, work, grad []float64) {
	l.onePassBackward(dx, dc, dz, dld, work, grad, false, dropout{})
}

// why32 returns why the layer has no float32 path, or "" when it has one:
// every MAF layer has, affine or spline, with a plain or a residual MADE.
func (l *MAF) why32() string { return "" }

// forward32, inverse32 and inverseBackward32 are Forward, Inverse and
// InverseBackward in float32 with the parameters p (the layer's window of
// a float32 vector, in the MADE's stored layout), from the same source
// (arSequential, arOnePass, arOnePassBackward), affine and spline layers
// alike.

func (l *MAF) forward32(p, x, z, ctx, logdet, work []float32) {
	checkRows("MAF.Forward", l.made.d, logdet, x, z)
	arCheckContext(&l.arLayer, "MAF.Forward", ctx, logdet)
	arSequential(&l.arLayer, p, x, z, ctx, logdet, work, true)
}

func (l *MAF) inverse32(p, z, x, ctx, logdet, work []float32) {
	checkRows("MAF.Inverse", l.made.d, logdet, x, z)
	arCheckContext(&l.arLayer, "MAF.Inverse", ctx, logdet)
	arOnePass(&l.arLayer, p, z, x, ctx, logdet, work, false, dropout{})
}

func (l *MAF) inverseBackward32(p, dx, dc, dz, dld, x, z, ctx, work, grad []float32) {
	arOnePassBackward(&l.arLayer, p, dx, dc, dz, dld, work, grad, false, dropout{})
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
	// ContextDim is the width C ≥ 0 of the context every layer conditions
	// on (see AutoregressiveConfig). 0: none.
	ContextDim int
	// Spline, when not nil, makes every layer a spline autoregressive layer
	// (see AutoregressiveConfig.Spline); Clamp must then be 0.
	Spline *RQSpline
	// ResidualBlocks R > 0 makes every MADE a residual MADE of R blocks of
	// width Hidden[0] (see MADEConfig.ResidualBlocks). 0: plain MADEs.
	ResidualBlocks int
}

// layerConfigs returns the configuration of each layer.
func (c *AutoregressiveFlowConfig) layerConfigs(caller string) ([]AutoregressiveConfig, error) {
	if c.Layers < 1 {
		return nil, fmt.Errorf("flow: %s: %d layers", caller, c.Layers)
	}
	// The sizes of the whole flow, before anything is allocated.
	if err := checkARSpline(caller, c.Spline, c.Clamp); err != nil {
		return nil, err
	}
	if err := checkMADEShapeSpline(caller+": layer 0", c.Dim, c.ContextDim, c.Hidden, c.ResidualBlocks, true, c.Spline); err != nil {
		return nil, err
	}
	L := float64(c.Layers)
	total := arLayerSize(c.Dim, c.ContextDim, c.Hidden, c.ResidualBlocks, c.Spline).times(L).add(flowWork(c.Dim, L))
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
			Seed: c.Seed + uint64(l)*0x9e3779b97f4a7c15, ContextDim: c.ContextDim,
			Spline: c.Spline, ResidualBlocks: c.ResidualBlocks,
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
		layers[l] = &MAF{arLayer{made: m, clamp: c.Clamp, spline: copySpline(c.Spline)}}
	}
	return New(layers...)
}
