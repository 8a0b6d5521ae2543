// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"strings"
)

// RQSpline is the monotonic rational-quadratic spline coupling function of
// the neural spline flows of Durkan, Bekasov, Murray and Papamakarios (2019),
// after Gregory and Delbourgo (1982): on [−Bound, Bound] each transformed
// dimension is mapped by a spline of Bins rational-quadratic pieces whose
// bin widths, bin heights and interior knot derivatives come from the
// conditioner; outside it the map is the identity (linear tails, boundary
// derivatives 1). ParamsPerDim is 3·Bins − 1: Bins width logits, Bins height
// logits and Bins − 1 derivative logits, so that a zero conditioner output
// is exactly the identity map. See docs/design.md §1.5.
type RQSpline struct {
	// Bins is the number of bins K ≥ 1 and Bound the half-width B > 0 of
	// the interval [−B, B] the spline covers.
	Bins  int
	Bound float64
	// MinWidth and MinHeight are the smallest bin width and height, as
	// fractions of the interval's width 2B, at least 1e-6, with
	// Bins·MinWidth < 1 and Bins·MinHeight < 1; MinDerivative is the
	// smallest knot derivative, in [1e-9, 1). Bound is in [1e-100, 1e100].
	MinWidth, MinHeight, MinDerivative float64
}

// NewRQSpline returns the spline of K bins on [−B, B] with the minimum bin
// width, height and derivative of Durkan et al. (2019), 1e-3, or an error
// if K < 1 or B is not a positive finite number.
func NewRQSpline(bins int, bound float64) (RQSpline, error) {
	s := RQSpline{Bins: bins, Bound: bound, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	return s, s.validate()
}

// The limits of the spline's constants. Within them every value and
// gradient is finite for finite inputs and parameters, and the round trips
// are as accurate as the map's conditioning allows (TestSplineConstants).
// Outside them the arithmetic breaks down: bins narrower than about 1e-12
// of the interval are lost to the rounding of the knots (zero-width bins
// and NaN); a bound near the ends of the float64 range overflows the
// gradients, which grow as B/MinWidth², or their reciprocals (1/w_k).
const (
	splineMinBound, splineMaxBound = 1e-100, 1e100
	splineMinBin                   = 1e-6
	splineMinDeriv                 = 1e-9
)

// validate returns an error unless the spline's constants are usable.
func (s RQSpline) validate() error {
	switch {
	case s.Bins < 1 || s.Bins > 1<<16:
		return fmt.Errorf("flow: RQSpline: %d bins, want 1 to %d", s.Bins, 1<<16)
	case !(s.Bound >= splineMinBound && s.Bound <= splineMaxBound):
		return fmt.Errorf("flow: RQSpline: bound %v, want it in [%g, %g]", s.Bound, splineMinBound, splineMaxBound)
	case !(s.MinWidth >= splineMinBin && float64(s.Bins)*s.MinWidth < 1):
		return fmt.Errorf("flow: RQSpline: minimum bin width %v, want it in [%g, 1/%d)", s.MinWidth, splineMinBin, s.Bins)
	case !(s.MinHeight >= splineMinBin && float64(s.Bins)*s.MinHeight < 1):
		return fmt.Errorf("flow: RQSpline: minimum bin height %v, want it in [%g, 1/%d)", s.MinHeight, splineMinBin, s.Bins)
	case !(s.MinDerivative >= splineMinDeriv && s.MinDerivative < 1):
		return fmt.Errorf("flow: RQSpline: minimum derivative %v, want it in [%g, 1)", s.MinDerivative, splineMinDeriv)
	}
	return nil
}

// ParamsPerDim returns 3·Bins − 1.
func (s RQSpline) ParamsPerDim() int { return 3*s.Bins - 1 }

// splineMaxDerivLogit caps the derivative logits: a knot derivative is at
// most MinDerivative + softplus(splineMaxDerivLogit + shift) ≈ 1000. Beyond
// it the derivative saturates (its gradient is 0). The cap keeps the slope
// inside a bin, which falls to about s³/d² for bin slope s and knot
// derivative d, far from underflow, so that the inverse's 1/(dy/dx) and its
// gradients stay finite for every finite parameter.
const splineMaxDerivLogit = 1000

// tmpLen returns the scratch the spline needs for nb transformed
// dimensions, 2·(4·Bins + 2)·nb values: the softmax of the width and height
// logits and the K + 1 knots of each axis, for every dimension at once,
// (4·Bins + 2)·nb values, and as many again for their low parts in float32
// (rqKnots; float64 leaves the second half unused).
func (s RQSpline) tmpLen(nb int) int { return 2 * (4*s.Bins + 2) * nb }

// rqLayout says where the parameters of each dimension lie in θ (and
// their gradients in ∂L/∂θ): parameter j of dimension i at θ[j·sj + i·si].
// A coupling layer's conditioner output is parameter-major (sj = nb,
// si = 1; CouplingFunc's layout), an autoregressive layer's row of MADE
// outputs dimension-major (sj = 1, si = 3K − 1).
type rqLayout struct{ sj, si int }

func (l rqLayout) at(j, i int) int { return j*l.sj + i*l.si }

// paramMajor is CouplingFunc's layout for nb dimensions.
func paramMajor(nb int) rqLayout { return rqLayout{sj: nb, si: 1} }

// rqKnots is the spline of each of nb dimensions: the softmax probabilities
// of the width and height logits and the knots x_0 = −B < … < x_K = B and
// y_0 = −B < … < y_K = B, all held in the scratch, and the parameters θ in
// their layout. The scratch follows θ's layout: for parameter-major θ
// (couplings) value j of dimension i lies at j·nb + i, for
// dimension-major θ (autoregressive layers) each dimension's values are
// contiguous, probability j at i·K + j and knot j at i·(K + 1) + j, so
// that a dimension's work reads and writes neighbouring values. T is the
// element type of the pass (rqsplineOf).
type rqKnots[T kernElem] struct {
	pw, ph, xs, ys []T
	// pwl, phl, xsl and ysl are the low parts of the probabilities and
	// knots in float32 (nil in float64): value v is held as the pair
	// hi = T(v), lo = T(v − hi), whose float64 sum hi + lo is v to about
	// 2⁻⁴⁸ of itself (see pair).
	pwl, phl, xsl, ysl []T
	nb, k              int
	pj, pi, kj, ki     int // probability j of dimension i at j·pj + i·pi, knot j at j·kj + i·ki
	theta              []T
	lay                rqLayout
}

// x and y return the knots x_j and y_j of dimension i, in float64.
func (q *rqKnots[T]) x(j, i int) float64 { return pair(q.xs, q.xsl, j*q.kj+i*q.ki) }
func (q *rqKnots[T]) y(j, i int) float64 { return pair(q.ys, q.ysl, j*q.kj+i*q.ki) }

// pair returns value j of a scratch array with high parts hi and low parts
// lo: hi[j] + lo[j] in float64, or hi[j] in float64 (T float64, where lo
// is nil; isF32 is a constant, so the float64 instantiation has no
// branch).
func pair[T kernElem](hi, lo []T, j int) float64 {
	if !isF32[T]() {
		return float64(hi[j])
	}
	return float64(hi[j]) + float64(lo[j])
}

// setPair stores v as value j of a scratch array: hi[j] = T(v) and, where
// there is a low part (float32), lo[j] = T(v − hi[j]). The difference
// v − hi[j] is exact in float64, and the pair holds v to the 24 bits of the
// low part below the 24 of the high one.
func setPair[T kernElem](hi, lo []T, j int, v float64) {
	h := T(v)
	hi[j] = h
	if isF32[T]() {
		lo[j] = T(v - float64(h))
	}
}

// rqsplineOf is RQSpline over elements of type T: its row methods
// (couplingFuncT) and the layout-aware passes the autoregressive layers
// call, one source for both element types. RQSpline's methods are those
// of rqsplineOf[float64], bit for bit the float64 spline's. The arithmetic
// is float64 whatever T: the exponentials of the softmaxes (expPairs), their
// sums and the knots (axis), the knot derivatives (deriv), and all the
// per-point arithmetic, on a bin in float64 (rqBin: piece, partials,
// invert, refine, and the softmax backward, scatter), each result rounded
// once to T. The scratch holds the exponentials, the probabilities and
// the knots above float32 precision in float32, each value a pair of
// float32 (setPair, pair), because the gradients are sensitive to them: a
// knot rounded to float32 is off by up to half an ulp of B, a relative
// error of ulp(B)/w_k in the width of a bin, which the log-det's partials
// amplify (TestRQSpline32Wide: the float32 gradients are float64's to
// their own rounding, 6e-8, against 1.2e-4 with float32 knots and
// probabilities). The bins kept for the backward pass hold their knot
// derivatives rounded to T. Widening float32 to float64 is exact, and for
// T = float64 every conversion is the identity and no value has a low
// part.
//
// An explicit conversion, to T or to float64, blocks the fusion of a
// product into a sum (the Go spec), in the float64 instantiation too.
// Where a sum adds two products, one is converted so that arm64 fuses the
// other, the one it fused in the float64 spline before it was generic
// (axis, forwardBackward, inverseBackward).
type rqsplineOf[T kernElem] struct{ s RQSpline }

// knots, binAt and deriv are rqsplineOf[float64]'s.
func (s RQSpline) knots(theta []float64, lay rqLayout, nb int, tmp []float64) rqKnots[float64] {
	return rqsplineOf[float64]{s}.knots(theta, lay, nb, tmp)
}

func (s RQSpline) binAt(q *rqKnots[float64], i, k int, shift float64) rqBin {
	return rqsplineOf[float64]{s}.binAt(q, i, k, shift)
}

func (s RQSpline) deriv(q *rqKnots[float64], i, j int, shift float64) (d, dd float64) {
	return rqsplineOf[float64]{s}.deriv(q, i, j, shift)
}

// knots computes the splines of all nb dimensions from θ into tmp:
//
//	w_j = 2B·(m_w + (1 − K·m_w)·softmax(a)_j),   x_0 = −B, x_{j+1} = x_j + w_j
//
// and likewise the heights h_j and knots y_j from the height logits. The
// last knot is set to B exactly, so that ±B are knots and the tails join
// the spline continuously; the bins' widths and heights are then taken as
// the differences of consecutive knots. For zero logits and
// MinWidth = MinHeight the two axes are bitwise equal. The dimensions are
// computed together, so that the 2K·nb exponentials of the softmaxes are
// one call of the vector exp (in float32, float64's, a block at a time).
func (h rqsplineOf[T]) knots(theta []T, lay rqLayout, nb int, tmp []T) rqKnots[T] {
	s := h.s
	k := s.Bins
	if len(tmp) < s.tmpLen(nb) {
		panic(fmt.Sprintf("flow: RQSpline: scratch of length %d, want %d", len(tmp), s.tmpLen(nb)))
	}
	q := rqKnots[T]{pw: tmp[:k*nb], ph: tmp[k*nb : 2*k*nb], xs: tmp[2*k*nb : (3*k+1)*nb], ys: tmp[(3*k+1)*nb : (4*k+2)*nb], nb: nb, k: k, theta: theta, lay: lay}
	if isF32[T]() {
		lo := tmp[(4*k+2)*nb:]
		q.pwl, q.phl, q.xsl, q.ysl = lo[:k*nb], lo[k*nb:2*k*nb], lo[2*k*nb:(3*k+1)*nb], lo[(3*k+1)*nb:(4*k+2)*nb]
	}
	if lay.sj == 1 {
		q.pj, q.pi, q.kj, q.ki = 1, k, 1, k+1
	} else {
		q.pj, q.pi, q.kj, q.ki = nb, 1, nb, 1
	}
	h.shifted(q, q.pw, q.pwl, q.xs, 0)
	h.shifted(q, q.ph, q.phl, q.ys, k)
	var el []T // the low parts of the exponentials, pwl and phl (float32)
	if q.pwl != nil {
		el = q.pwl[: 2*k*nb : 2*k*nb]
	}
	expPairs(tmp[:2*k*nb], el)
	h.axis(q, q.pw, q.pwl, q.xs, q.xsl, s.MinWidth)
	h.axis(q, q.ph, q.phl, q.ys, q.ysl, s.MinHeight)
	return q
}

// shifted writes a_j − max_l a_l into p, for the K logits
// a_j = θ[lay.at(off + j, i)] of each dimension i; knots[:nb] is scratch.
func (h rqsplineOf[T]) shifted(q rqKnots[T], p, pl, knots []T, off int) {
	s := h.s
	k, nb, theta, lay := s.Bins, q.nb, q.theta, q.lay
	if lay.sj == 1 {
		// Dimension-major: each dimension's logits are contiguous, and so
		// are its probabilities.
		for i := 0; i < nb; i++ {
			a := theta[lay.at(off, i) : lay.at(off, i)+k]
			mx := a[0]
			for _, v := range a[1:] {
				mx = max(mx, v)
			}
			for j, v := range a {
				shiftTo(p, pl, i*k+j, v, mx)
			}
		}
		return
	}
	mx := knots[:nb]
	for i := range mx {
		mx[i] = theta[lay.at(off, i)]
	}
	for j := 1; j < s.Bins; j++ {
		for i := range mx {
			mx[i] = max(mx[i], theta[lay.at(off+j, i)])
		}
	}
	for j := 0; j < s.Bins; j++ {
		for i := 0; i < nb; i++ {
			shiftTo(p, pl, j*nb+i, theta[lay.at(off+j, i)], mx[i])
		}
	}
}

// shiftTo stores the logit v shifted by the largest mx as value j of the
// scratch array (p, pl): v − mx in float64; in float32 the float64
// difference (exact), as a pair (setPair), floored at −1000 so that the
// pair holds it (e^{−1000} is 0 in float64, as the exponential of any
// lower difference).
func shiftTo[T kernElem](p, pl []T, j int, v, mx T) {
	if !isF32[T]() {
		p[j] = v - mx
		return
	}
	setPair(p, pl, j, max(float64(v)-float64(mx), -1000))
}

// expPairs replaces the values of the scratch array (e, el) by their
// exponentials: with the vector exp of T in float64 (el nil, expVecT); in
// float32 with float64's, expVec, on the float64 values of the pairs, a
// block at a time, each result stored as a pair. The exponentials of the
// softmax are then as accurate in float32 as in float64.
func expPairs[T kernElem](e, el []T) {
	if !isF32[T]() {
		expVecT(e, e)
		return
	}
	var buf [64]float64
	for len(e) > 0 {
		m := min(len(e), len(buf))
		for j := range m {
			buf[j] = pair(e, el, j)
		}
		expVec(buf[:m], buf[:m])
		for j := range m {
			setPair(e, el, j, buf[j])
		}
		e, el = e[m:], el[m:]
	}
}

// axis turns the exponentials e_j in p into the softmax p_j = e_j/Σ_l e_l
// of each dimension and writes the knots of the axis with minimum bin
// fraction m. The sum runs over l = 0, 1, …, K − 1 in order in both
// layouts. The sums, the quotients and the running knot are float64, each
// probability and knot stored with setPair (p and pl, knots and kl): as
// it is in float64, as a pair of float32 values in float32.
func (h rqsplineOf[T]) axis(q rqKnots[T], p, pl, knots, kl []T, m float64) {
	s := h.s
	k, nb := s.Bins, q.nb
	b := s.Bound
	a0, a1 := 2*b*m, 2*b*(1-float64(k)*m)
	for i := 0; i < nb; i++ {
		// Probability j of dimension i at p[pb + j·ps], knot j at
		// knots[kb + j·ks].
		pb, ps, kb, ks := i*q.pi, q.pj, i*q.ki, q.kj
		sm := pair(p, pl, pb)
		for j := 1; j < k; j++ {
			sm += pair(p, pl, pb+j*ps)
		}
		c := -b
		setPair(knots, kl, kb, c)
		for j := 0; j < k; j++ {
			v := pair(p, pl, pb+j*ps) / sm
			setPair(p, pl, pb+j*ps, v)
			if j+1 < k {
				// a0 = 2B·m is the product arm64 fuses.
				c += a0 + float64(a1*v)
				setPair(knots, kl, kb+(j+1)*ks, c)
			}
		}
		setPair(knots, kl, kb+k*ks, b)
	}
}

// shift returns log(e^{1−m_d} − 1), the offset that makes a zero derivative
// logit give the knot derivative m_d + softplus(shift) = 1.
func (s RQSpline) shift() float64 { return math.Log(math.Expm1(1 - s.MinDerivative)) }

// deriv returns the knot derivative d_j and ∂d_j/∂(logit) of knot j of
// dimension i: 1 and 0 at the boundary knots j = 0 and j = K, else
//
//	d = m_d + softplus(u + shift),   ∂d/∂u = sigmoid(u + shift),
//
// with u parameter 2K + j − 1 of the dimension, capped at
// splineMaxDerivLogit. A zero logit gives exactly 1 (the formula agrees to
// rounding), so that zero logits are exactly the identity. Whatever T, d
// and ∂d/∂u are computed in float64 from the logit's float64 value, and
// kept in float64 (rqBin).
func (h rqsplineOf[T]) deriv(q *rqKnots[T], i, j int, shift float64) (d, dd float64) {
	s := h.s
	if j == 0 || j == s.Bins {
		return 1, 0
	}
	u := float64(q.theta[q.lay.at(2*s.Bins+j-1, i)])
	if u > splineMaxDerivLogit {
		return s.MinDerivative + softplus(splineMaxDerivLogit+shift), 0
	}
	// softplus(v) = max(v, 0) + log(1 + e) and sigmoid(v) = 1/(1 + e)
	// (v ≥ 0) or e/(1 + e) (v < 0) share e = exp(−|v|), without overflow.
	v := u + shift
	e := math.Exp(-math.Abs(v))
	sp := log1p01(e)
	if v > 0 {
		sp = v + sp
	}
	d64 := s.MinDerivative + sp
	if u == 0 {
		d64 = 1
	}
	if v >= 0 {
		return d64, 1 / (1 + e)
	}
	return d64, e / (1 + e)
}

// log1p01 returns log(1 + e) for e in [0, 1] by the formula of Kahan (see
// Goldberg 1991, Theorem 4): with u = 1 + e rounded, log(u)·e/(u − 1), or e
// where u rounds to 1, within a few ulp of the exact value given a
// logarithm within half an ulp. It is math.Log1p's accuracy at a fraction
// of its cost: the spline computes two of these per point and pass.
func log1p01(e float64) float64 {
	u := 1 + e
	if u == 1 {
		return e
	}
	return math.Log(u) * (e / (u - 1))
}

// softplus returns log(1 + e^v) without overflow.
func softplus(v float64) float64 {
	if v > 0 {
		return v + math.Log1p(math.Exp(-v))
	}
	return math.Log1p(math.Exp(v))
}

// bin returns the largest k ≤ K−1 with knot k of dimension i of knots
// (q.xs or q.ys, with their low parts kl, q.xsl or q.ysl) ≤ v, by binary
// search, for v in [knot 0, knot K]: a point on an interior knot x_k
// belongs to bin k, and B to bin K−1.
func (q *rqKnots[T]) bin(knots, kl []T, i int, v float64) int {
	lo, hi := 0, q.k-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if pair(knots, kl, mid*q.kj+i*q.ki) <= v {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// rqBin is bin k of a spline: its left knot (x_k, y_k), width w_k, height
// h_k and knot derivatives d_k, d_{k+1} with their derivatives with
// respect to their logits, in float64 (wide): the point's arithmetic is
// float64 in both precisions.
type rqBin struct {
	k                int
	xk, w, yk, h     float64
	dk, dk1, gk, gk1 float64
}

func (h rqsplineOf[T]) binAt(q *rqKnots[T], i, k int, shift float64) rqBin {
	dk, gk := h.deriv(q, i, k, shift)
	dk1, gk1 := h.deriv(q, i, k+1, shift)
	return q.wide(i, k, [4]float64{dk, dk1, gk, gk1})
}

// wide returns bin k of dimension i, with the knot derivatives and their
// derivatives d = (d_k, d_{k+1}, ∂d_k/∂u, ∂d_{k+1}/∂u), in float64: the
// knots (x and y) and their differences w_k and h_k.
func (q *rqKnots[T]) wide(i, k int, d [4]float64) rqBin {
	x0, x1, y0, y1 := q.x(k, i), q.x(k+1, i), q.y(k, i), q.y(k+1, i)
	return rqBin{k: k, xk: x0, w: x1 - x0, yk: y0, h: y1 - y0,
		dk: d[0], dk1: d[1], gk: d[2], gk1: d[3]}
}

// identity reports whether the bin's piece is exactly y = x: equal knots,
// width and height and unit knot derivatives make s = 1 and the
// rational-quadratic reduce to y = y_k + h_k·θ = x.
func (b rqBin) identity() bool {
	return b.xk == b.yk && b.w == b.h && b.dk == 1 && b.dk1 == 1
}

// rqPiece is the rational-quadratic piece of Durkan et al. (2019), eqs. 4–6,
// after Gregory and Delbourgo (1982), at θ = (x − x_k)/w_k in [0, 1]:
//
//	s = h_k/w_k,  t = θ(1 − θ),  δ = d_k + d_{k+1} − 2s
//	N = sθ² + d_k·t,  D = s + δ·t,  r = N/D,  y = y_k + h_k·r
//	dy/dx = J = s²·Q/D²,  Q = d_{k+1}θ² + 2st + d_k(1 − θ)²
//
// D is formed as s(1 − 2t) + (d_k + d_{k+1})t, a sum of non-negative terms
// without the cancellation of s + δt; D ≥ s/2 > 0 since t ≤ 1/4, and Q > 0,
// so J > 0: the piece increases.
// J is formed as s·(s/D)·(Q/D), each factor bounded, so that it neither
// overflows nor underflows where J itself is representable.
type rqPiece struct {
	s, th, t, delta, n, d, q, r, j float64
}

func (b rqBin) piece(th float64) rqPiece {
	var p rqPiece
	p.s = b.h / b.w
	p.th = th
	p.t = th * (1 - th)
	p.delta = b.dk + b.dk1 - 2*p.s
	p.n = p.s*th*th + b.dk*p.t
	p.d = p.s*(1-2*p.t) + (b.dk+b.dk1)*p.t
	p.q = b.dk1*th*th + 2*p.s*p.t + b.dk*(1-th)*(1-th)
	p.r = p.n / p.d
	p.j = p.s * (p.s / p.d) * (p.q / p.d)
	return p
}

// partials returns ∂(log J)/∂x and the partial derivatives of y and of
// L = log J with respect to φ = (x_k, w_k, y_k, h_k, d_k, d_{k+1}). From
// θ = (x − x_k)/w_k and s = h_k/w_k:
//
//	∂θ/∂x = 1/w_k, ∂θ/∂x_k = −1/w_k, ∂θ/∂w_k = −θ/w_k, ∂s/∂h_k = 1/w_k, ∂s/∂w_k = −s/w_k
//
// and r = N/D with ∂N/∂s = θ², ∂D/∂s = 1 − 2t, ∂N/∂d_k = ∂D/∂d_k = t,
// ∂D/∂d_{k+1} = t:
//
//	r_θ = s·Q/D² (so that J = s·r_θ),  r_s = (θ² − r(1 − 2t))/D
//	r_{d_k} = t(1 − r)/D,  r_{d_{k+1}} = −t·r/D
//
// so, with y = y_k + h_k·r:
//
//	∂y/∂x_k = −J, ∂y/∂w_k = −θJ − s²·r_s, ∂y/∂y_k = 1, ∂y/∂h_k = r + s·r_s,
//	∂y/∂d_k = h_k·r_{d_k}, ∂y/∂d_{k+1} = h_k·r_{d_{k+1}}.
//
// For L = 2 log s + log Q − 2 log D, with ∂Q/∂θ = 2d_{k+1}θ + 2s(1 − 2θ) −
// 2d_k(1 − θ), ∂D/∂θ = δ(1 − 2θ), ∂Q/∂s = 2t:
//
//	L_θ = Q_θ/Q − 2D_θ/D,  L_s = 2/s + 2t/Q − 2(1 − 2t)/D
//	∂L/∂x = L_θ/w_k, ∂L/∂x_k = −L_θ/w_k, ∂L/∂w_k = −(θ·L_θ + s·L_s)/w_k,
//	∂L/∂y_k = 0, ∂L/∂h_k = L_s/w_k,
//	∂L/∂d_k = (1 − θ)²/Q − 2t/D, ∂L/∂d_{k+1} = θ²/Q − 2t/D.
func (b rqBin) partials(p rqPiece) (lx float64, fy, fl [6]float64) {
	s, th, t, d, q, r, j := p.s, p.th, p.t, p.d, p.q, p.r, p.j
	rs := (th*th - r*(1-2*t)) / d
	fy = [6]float64{-j, -th*j - s*s*rs, 1, r + s*rs, b.h * (t * (1 - r) / d), b.h * (-t * r / d)}
	qth := 2*b.dk1*th + 2*s*(1-2*th) - 2*b.dk*(1-th)
	lth := qth/q - 2*p.delta*(1-2*th)/d
	ls := 2/s + 2*t/q - 2*(1-2*t)/d
	lx = lth / b.w
	fl = [6]float64{-lx, -(th*lth + s*ls) / b.w, 0, ls / b.w, (1-th)*(1-th)/q - 2*t/d, th*th/q - 2*t/d}
	return lx, fy, fl
}

// scatter writes ∂L/∂θ for dimension i of nb given g = ∂L/∂φ for bin k,
// φ = (x_k, w_k, y_k, h_k, d_k, d_{k+1}). The knot x_k = −B + Σ_{l<k} w_l
// and the width w_k depend on the nominal widths w_l = 2B(m_w + (1 −
// K·m_w)·p_l), p = softmax(a), so with c_w = 2B(1 − K·m_w)
//
//	∂L/∂p_l = c_w·(g_x·[l < k] + g_w·[l = k])
//	∂L/∂a_j = p_j·(∂L/∂p_j − Σ_l p_l·∂L/∂p_l)
//	        = c_w·p_j·(g_x·[j < k] + g_w·[j = k] − g_x·Σ_{l<k} p_l − g_w·p_k),
//
// likewise for the heights; the derivative logits get g_d·∂d/∂u. Setting
// x_K = B does not change these derivatives: Σ_l w_l = 2B for every a, so
// B − x_{K−1} and w_{K−1} are the same function of the logits.
func (h rqsplineOf[T]) scatter(dtheta []T, i int, q *rqKnots[T], b rqBin, g [6]float64) {
	s := h.s
	k, lay := s.Bins, q.lay
	h.scatterAxis(dtheta, q, i, 0, q.pw, q.pwl, b.k, g[0], g[1], 2*s.Bound*(1-float64(k)*s.MinWidth))
	h.scatterAxis(dtheta, q, i, k, q.ph, q.phl, b.k, g[2], g[3], 2*s.Bound*(1-float64(k)*s.MinHeight))
	for j := 1; j < k; j++ {
		dtheta[lay.at(2*k+j-1, i)] = 0
	}
	if b.k > 0 {
		dtheta[lay.at(2*k+b.k-1, i)] = T(g[4] * b.gk)
	}
	if b.k+1 < k {
		dtheta[lay.at(2*k+b.k, i)] = T(g[5] * b.gk1)
	}
}

func (h rqsplineOf[T]) scatterAxis(dtheta []T, q *rqKnots[T], i, off int, p, pl []T, k int, gx, gw, cw float64) {
	// Probability j of dimension i at p[pb + j·ps], its logit's gradient
	// at dtheta[db + j·ds].
	pb, ps := i*q.pi, q.pj
	db, ds := q.lay.at(off, i), q.lay.sj
	var below float64
	for j := 0; j < k; j++ {
		below += pair(p, pl, pb+j*ps)
	}
	mean := gx*below + gw*pair(p, pl, pb+k*ps)
	for j := 0; j < k; j++ {
		dtheta[db+j*ds] = T(cw * pair(p, pl, pb+j*ps) * (gx - mean))
	}
	dtheta[db+k*ds] = T(cw * pair(p, pl, pb+k*ps) * (gw - mean))
	for j := k + 1; j < h.s.Bins; j++ {
		dtheta[db+j*ds] = T(cw * pair(p, pl, pb+j*ps) * (0 - mean))
	}
}

// zero writes zero gradients for the parameters of dimension i (a point in
// a tail, where the map is the identity whatever θ).
func (h rqsplineOf[T]) zero(dtheta []T, lay rqLayout, i int) {
	for k := 0; k < h.s.ParamsPerDim(); k++ {
		dtheta[lay.at(k, i)] = 0
	}
}

// Forward writes x = h(z, θ) dimension by dimension and returns
// log|det ∂x/∂z| = Σ log J; outside [−B, B], x = z and log J = 0.
func (s RQSpline) Forward(x, z, theta, tmp []float64) float64 {
	return rqsplineOf[float64]{s}.Forward(x, z, theta, tmp)
}

// Forward is RQSpline.Forward over T.
func (h rqsplineOf[T]) Forward(x, z, theta, tmp []T) T {
	return h.forward(x, z, theta, paramMajor(len(z)), tmp, nil)
}

// binLen is the length of a bin cache: the bin of each point of a pass, for
// the backward pass to read instead of searching for it and recomputing
// its knot derivatives (see keep).
const binLen = 5

// keepBin stores bin b of point i into cache (binLen values per point): its
// index k and the knot derivatives d_k, d_{k+1} with their derivatives
// with respect to their logits, the two exponentials and two logarithms
// of binAt. A nil cache stores nothing.
func keepBin[T kernElem](b rqBin, cache []T, i int) {
	if cache == nil {
		return
	}
	c := cache[binLen*i : binLen*i+binLen]
	c[0], c[1], c[2], c[3], c[4] = T(b.k), T(b.dk), T(b.dk1), T(b.gk), T(b.gk1)
}

// kept returns the bin of point i that keepBin stored, with the knots of
// q: the same values binAt computed.
func (q *rqKnots[T]) kept(cache []T, i int) rqBin {
	c := cache[binLen*i : binLen*i+binLen]
	return q.wide(i, int(c[0]), [4]float64{float64(c[1]), float64(c[2]), float64(c[3]), float64(c[4])})
}

// forward is Forward for parameters in the layout lay. With a cache of
// binLen·len(z) values it keeps the bin of every point inside [−B, B] for
// forwardBackward. A point is in a tail unless −B ≤ v ≤ B, B the bound
// in T: NaN is in a tail.
func (h rqsplineOf[T]) forward(x, z, theta []T, lay rqLayout, tmp, cache []T) T {
	q := h.knots(theta, lay, len(z), tmp)
	shift, bound := h.s.shift(), h.s.Bound
	var ld float64
	for i, v := range z {
		if !(-bound <= float64(v) && float64(v) <= bound) {
			x[i] = v
			continue
		}
		b := h.binAt(&q, i, q.bin(q.xs, q.xsl, i, float64(v)), shift)
		keepBin(b, cache, i)
		if b.identity() {
			x[i] = v
			continue
		}
		p := b.piece((float64(v) - b.xk) / b.w)
		x[i] = T(b.yk + b.h*p.r)
		ld += math.Log(p.j)
	}
	return T(ld)
}

// invert returns θ in [0, 1] with y_k + h_k·r(θ) = y, the root of the
// quadratic of Durkan et al. (2019), eqs. 6–8, divided through by h_k: with
// ξ = (y − y_k)/h_k,
//
//	a θ² + b θ + c = 0,  a = s − d_k + ξδ,  b = d_k − ξδ,  c = −sξ,
//
// solved as θ = 2c/(−b − √(b² − 4ac)), the root in [0, 1] without
// cancellation, the discriminant clamped at 0. Dividing by h_k keeps the
// coefficients of the order of s and the d's for any B.
func (b rqBin) invert(y float64) float64 {
	s := b.h / b.w
	xi := (y - b.yk) / b.h
	delta := b.dk + b.dk1 - 2*s
	qa := s - b.dk + xi*delta
	qb := b.dk - xi*delta
	qc := -s * xi
	disc := max(qb*qb-4*qa*qc, 0)
	den := -qb - math.Sqrt(disc)
	th := 0.0
	if den != 0 {
		th = 2 * qc / den
	}
	return min(max(th, 0), 1)
}

// refine takes one Newton step on the forward map from the root th of
// invert: θ ← θ − (y_k + h_k·r(θ) − y)/(h_k·∂r/∂θ), with h_k·∂r/∂θ = w_k·J,
// clamped to [0, 1]. The quadratic's coefficients lose digits to
// cancellation when the knot derivatives are large; one step brings the
// root to the accuracy of the forward map, so that a round trip is limited
// by the conditioning of the map alone.
func (b rqBin) refine(th, y float64) float64 {
	p := b.piece(th)
	th -= (b.yk + b.h*p.r - y) / (b.w * p.j)
	return min(max(th, 0), 1)
}

// Inverse writes z = h⁻¹(x, θ) and returns log|det ∂z/∂x| = −Σ log J at z.
func (s RQSpline) Inverse(z, x, theta, tmp []float64) float64 {
	return rqsplineOf[float64]{s}.Inverse(z, x, theta, tmp)
}

// Inverse is RQSpline.Inverse over T.
func (h rqsplineOf[T]) Inverse(z, x, theta, tmp []T) T {
	return h.inverse(z, x, theta, paramMajor(len(x)), tmp, nil)
}

// inverse is Inverse for parameters in the layout lay, keeping the bins in
// cache as forward does, for inverseBackward.
func (h rqsplineOf[T]) inverse(z, x, theta []T, lay rqLayout, tmp, cache []T) T {
	q := h.knots(theta, lay, len(x), tmp)
	shift, bound := h.s.shift(), h.s.Bound
	var ld float64
	for i, v := range x {
		if !(-bound <= float64(v) && float64(v) <= bound) {
			z[i] = v
			continue
		}
		b := h.binAt(&q, i, q.bin(q.ys, q.ysl, i, float64(v)), shift)
		keepBin(b, cache, i)
		if b.identity() {
			z[i] = v
			continue
		}
		y := float64(v)
		th := b.refine(b.invert(y), y)
		z[i] = T(min(b.xk+th*b.w, q.x(b.k+1, i)))
		if y == q.y(b.k+1, i) {
			// The bin's upper knot (B for the last bin) maps back to its
			// knot exactly; the root and its Newton step can miss it by
			// a few ulp where the arithmetic is fused (arm64).
			th, z[i] = 1, T(q.x(b.k+1, i))
		}
		ld -= math.Log(b.piece(th).j)
	}
	return T(ld)
}

// ForwardBackward follows Forward. Per dimension inside [−B, B], with J and
// ∂(log J)/∂z from partials:
//
//	∂L/∂z = dx·J + dld·∂(log J)/∂z,   ∂L/∂φ = dx·∂x/∂φ + dld·∂(log J)/∂φ,
//
// then through the softmax and softplus (scatter). In the tails x = z:
// ∂L/∂z = dx and the parameters get 0.
func (s RQSpline) ForwardBackward(dz, dtheta, dx []float64, dld float64, z, x, theta, tmp []float64) {
	rqsplineOf[float64]{s}.ForwardBackward(dz, dtheta, dx, dld, z, x, theta, tmp)
}

// ForwardBackward is RQSpline.ForwardBackward over T.
func (h rqsplineOf[T]) ForwardBackward(dz, dtheta, dx []T, dld T, z, x, theta, tmp []T) {
	h.forwardBackward(dz, dtheta, dx, dld, z, x, theta, paramMajor(len(z)), tmp, nil)
}

// forwardBackward is ForwardBackward for parameters (and their gradients)
// in the layout lay; with a cache, the one forward filled, it reads the
// bins from it.
func (h rqsplineOf[T]) forwardBackward(dz, dtheta, dx []T, dld T, z, x, theta []T, lay rqLayout, tmp, cache []T) {
	nb := len(z)
	q := h.knots(theta, lay, nb, tmp)
	shift, bound, dld64 := h.s.shift(), h.s.Bound, float64(dld)
	for i, v := range z {
		if !(-bound <= float64(v) && float64(v) <= bound) {
			dz[i] = dx[i]
			h.zero(dtheta, lay, i)
			continue
		}
		var b rqBin
		if cache != nil {
			b = q.kept(cache, i)
		} else {
			b = h.binAt(&q, i, q.bin(q.xs, q.xsl, i, float64(v)), shift)
		}
		p := b.piece((float64(v) - b.xk) / b.w)
		lx, fy, fl := b.partials(p)
		// The conversions fix which product a fused multiply-add takes
		// (arm64), as in the float64 spline before it was generic.
		dxi := float64(dx[i])
		dz[i] = T(dxi*p.j + float64(dld64*lx))
		var g [6]float64
		for k := range g {
			g[k] = dxi*fy[k] + float64(dld64*fl[k])
		}
		h.scatter(dtheta, i, &q, b, g)
	}
}

// InverseBackward follows Inverse. For z = h⁻¹(x) of the forward map
// x = f(z, φ) with slope J = ∂f/∂z and log-det −L(z, φ), L = log J, the
// implicit-function rule gives ∂z/∂x = 1/J and ∂z/∂φ = −(∂f/∂φ)/J, so
//
//	∂L/∂x = (dz − dld·∂L/∂z)/J =: γ
//	∂L/∂φ = dz·∂z/∂φ − dld·(∂L/∂φ + ∂L/∂z·∂z/∂φ) = −γ·∂f/∂φ − dld·∂L/∂φ,
//
// evaluated at z; the bin is the one Inverse found from x. In the tails
// z = x: ∂L/∂x = dz and the parameters get 0.
func (s RQSpline) InverseBackward(dx, dtheta, dz []float64, dld float64, x, z, theta, tmp []float64) {
	rqsplineOf[float64]{s}.InverseBackward(dx, dtheta, dz, dld, x, z, theta, tmp)
}

// InverseBackward is RQSpline.InverseBackward over T.
func (h rqsplineOf[T]) InverseBackward(dx, dtheta, dz []T, dld T, x, z, theta, tmp []T) {
	h.inverseBackward(dx, dtheta, dz, dld, x, z, theta, paramMajor(len(x)), tmp, nil)
}

// inverseBackward is InverseBackward for parameters (and their gradients)
// in the layout lay; with a cache, the one inverse filled, it reads the
// bins from it.
func (h rqsplineOf[T]) inverseBackward(dx, dtheta, dz []T, dld T, x, z, theta []T, lay rqLayout, tmp, cache []T) {
	nb := len(x)
	q := h.knots(theta, lay, nb, tmp)
	shift, bound, dld64 := h.s.shift(), h.s.Bound, float64(dld)
	for i, v := range x {
		if !(-bound <= float64(v) && float64(v) <= bound) {
			dx[i] = dz[i]
			h.zero(dtheta, lay, i)
			continue
		}
		var b rqBin
		if cache != nil {
			b = q.kept(cache, i)
		} else {
			b = h.binAt(&q, i, q.bin(q.ys, q.ysl, i, float64(v)), shift)
		}
		th := min(max((float64(z[i])-b.xk)/b.w, 0), 1)
		p := b.piece(th)
		lx, fy, fl := b.partials(p)
		gamma := (float64(dz[i]) - dld64*lx) / p.j
		dx[i] = T(gamma)
		var g [6]float64
		for k := range g {
			g[k] = float64(-gamma*fy[k]) - dld64*fl[k]
		}
		h.scatter(dtheta, i, &q, b, g)
	}
}

// NSFConfig configures NewNSF.
type NSFConfig struct {
	// Dim is D ≥ 2.
	Dim int
	// Layers is the number of spline coupling layers, each preceded by a
	// fixed random permutation.
	Layers int
	// Hidden and Activation configure every conditioner.
	Hidden     []int
	Activation Activation
	// Bins is the number of spline bins K (0: 8) and Bound the half-width
	// B of the interval the splines cover (0: 3); the minimum bin width,
	// height and derivative are NewRQSpline's.
	Bins  int
	Bound float64
	// ContextDim is the width C ≥ 0 of the context every coupling layer
	// conditions on (see CouplingConfig.ContextDim).
	ContextDim int
	// ResidualBlocks gives every conditioner R residual blocks of the one
	// width Hidden[0] (see CouplingConfig.ResidualBlocks), as the neural
	// spline flows of Durkan et al. (2019) use; 0, the default, makes plain
	// networks.
	ResidualBlocks int
	// Seed seeds the permutations and the conditioners.
	Seed uint64
}

// NewNSF returns the rational-quadratic neural spline flow with coupling
// layers, RQ-NSF (C), of Durkan et al. (2019): Layers times a fixed random
// permutation of the D dimensions followed by a coupling layer whose
// coupling function is an RQSpline of Bins bins on [−Bound, Bound]. The
// coupling masks alternate as NewRealNVP's halves (HalfMask, negated in odd
// layers). Permutation l is NewRandomPermutation(D, Seed + l·0x2545f4914f6cdd1d)
// and conditioner l is seeded with Seed + l·0x9e3779b97f4a7c15. Every layer
// starts as the identity.
func NewNSF(cfg NSFConfig) (*Flow, error) {
	if !cfg.Activation.valid() {
		return nil, fmt.Errorf("flow: NewNSF: unknown activation %d", int(cfg.Activation))
	}
	bins, bound := cfg.Bins, cfg.Bound
	if bins == 0 {
		bins = 8
	}
	if bound == 0 {
		bound = 3
	}
	h, err := NewRQSpline(bins, bound)
	if err != nil {
		return nil, fmt.Errorf("flow: NewNSF: %s", strings.TrimPrefix(err.Error(), "flow: "))
	}
	// A permutation adds no parameters or workspace but one more batch
	// boundary in the flow's workspace.
	if err := checkCouplingFlow("NewNSF", cfg.Dim, cfg.Layers, cfg.Hidden, cfg.ResidualBlocks, cfg.ContextDim, h, 2*float64(cfg.Layers)); err != nil {
		return nil, err
	}
	layers := make([]Layer, 0, 2*cfg.Layers)
	for l := 0; l < cfg.Layers; l++ {
		p, err := NewRandomPermutation(cfg.Dim, cfg.Seed+uint64(l)*0x2545f4914f6cdd1d)
		if err != nil {
			return nil, fmt.Errorf("flow: NewNSF: layer %d: %w", l, err)
		}
		c, err := NewCoupling(CouplingConfig{
			Mask:           HalfMask(cfg.Dim, l%2 == 1),
			Hidden:         cfg.Hidden,
			Activation:     cfg.Activation,
			Func:           h,
			Seed:           cfg.Seed + uint64(l)*0x9e3779b97f4a7c15,
			ContextDim:     cfg.ContextDim,
			ResidualBlocks: cfg.ResidualBlocks,
		})
		if err != nil {
			return nil, fmt.Errorf("flow: NewNSF: layer %d: %w", l, err)
		}
		layers = append(layers, p, c)
	}
	return New(layers...)
}
