// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The tests of the rational-quadratic spline coupling function (RQSpline),
// first as a map of one row, then inside coupling layers and flows.

func mustSpline(t *testing.T, bins int, bound float64) RQSpline {
	t.Helper()
	s, err := NewRQSpline(bins, bound)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// splineTheta returns the parameters of nb transformed dimensions drawn
// from N(0, scale²).
func splineTheta(s RQSpline, nb int, scale float64, seed uint64) []float64 {
	rnd := rand.New(rand.NewPCG(seed, 5))
	th := make([]float64, s.ParamsPerDim()*nb)
	for i := range th {
		th[i] = scale * rnd.NormFloat64()
	}
	return th
}

// splineLoss runs one direction of s on the row in and returns
// L = Σ w ⊙ out + v·logdet.
func splineLoss(s RQSpline, forward bool, in, theta, w []float64, v float64) float64 {
	out := make([]float64, len(in))
	tmp := make([]float64, s.tmpLen(len(in)))
	var ld float64
	if forward {
		ld = s.Forward(out, in, theta, tmp)
	} else {
		ld = s.Inverse(out, in, theta, tmp)
	}
	l := v * ld
	for i, o := range out {
		l += w[i] * o
	}
	return l
}

// splineGrads runs one direction of s and its backward pass for
// L = Σ w ⊙ out + v·logdet and returns out, the log-det, ∂L/∂in and ∂L/∂θ.
// The gradient buffers start filled with NaN, so that the test also holds
// the backward pass to writing every component.
func splineGrads(s RQSpline, forward bool, in, theta, w []float64, v float64) (out []float64, ld float64, din, dtheta []float64) {
	nb := len(in)
	out = make([]float64, nb)
	tmp := make([]float64, s.tmpLen(nb))
	din = make([]float64, nb)
	dtheta = make([]float64, len(theta))
	for i := range din {
		din[i] = math.NaN()
	}
	for i := range dtheta {
		dtheta[i] = math.NaN()
	}
	if forward {
		ld = s.Forward(out, in, theta, tmp)
		s.ForwardBackward(din, dtheta, w, v, in, out, theta, tmp)
	} else {
		ld = s.Inverse(out, in, theta, tmp)
		s.InverseBackward(din, dtheta, w, v, in, out, theta, tmp)
	}
	return out, ld, din, dtheta
}

// Sides of a finite difference: central, by the fourth-order five-point
// formula (f(x−2h) − 8f(x−h) + 8f(x+h) − f(x+2h))/(12h) (the pieces of
// narrow bins curve sharply, and the three-point formula's h² error would
// exceed fdTol there), or one-sided, by the second-order formulas
// (−3f(x) + 4f(x ± h) − f(x ± 2h))/(±2h).
const (
	fdCentral = 0
	fdRight   = 1
	fdLeft    = -1
)

// numDeriv returns the finite-difference derivative of f at x with step h.
func numDeriv(f func(float64) float64, x, h float64, side int) float64 {
	if side == fdCentral {
		return (f(x-2*h) - 8*f(x-h) + 8*f(x+h) - f(x+2*h)) / (12 * h)
	}
	sh := float64(side) * h
	return (-3*f(x) + 4*f(x+sh) - f(x+2*sh)) / (2 * sh)
}

// compareGrad holds grad to num with checkGrad's error measure.
func compareGrad(t *testing.T, name string, num, grad []float64) {
	t.Helper()
	inf := 0.0
	for _, v := range num {
		inf = math.Max(inf, math.Abs(v))
	}
	if inf == 0 {
		t.Fatalf("%s: the finite-difference gradient is zero: the test checks nothing", name)
	}
	worst, at := 0.0, -1
	for i := range num {
		e := math.Abs(grad[i]-num[i]) / math.Max(math.Abs(num[i]), 1e-3*inf)
		if e > worst || math.IsNaN(e) {
			worst, at = e, i
		}
	}
	if !(worst <= fdTol) {
		t.Errorf("%s: gradient component %d: analytic %.12g, finite difference %.12g: relative error %.3g > %g",
			name, at, grad[at], num[at], worst, fdTol)
	}
}

// splineFD describes how the finite differences of one check are taken:
// the side and step of each input component (a zero step: 1e-5·max(1, |in_i|))
// and whether the θ-gradient is checked.
type splineFD struct {
	side    []int
	step    []float64
	noTheta bool
}

// checkSplineGrads compares the backward pass of one direction of s at the
// row in with finite differences of L = Σ w ⊙ out + v·logdet with
// respect to in and θ, and checks that everything is finite.
func checkSplineGrads(t *testing.T, name string, s RQSpline, forward bool, in, theta []float64, v float64, how splineFD) {
	t.Helper()
	nb := len(in)
	w := randomRows(1, nb, 41)
	out, ld, din, dth := splineGrads(s, forward, in, theta, w, v)
	checkFinite(t, name, out, []float64{ld}, din, dth)
	num := make([]float64, nb)
	for i := range in {
		side, h := fdCentral, 1e-5*math.Max(1, math.Abs(in[i]))
		if how.side != nil {
			side = how.side[i]
		}
		if how.step != nil && how.step[i] != 0 {
			h = how.step[i]
		}
		u := append([]float64(nil), in...)
		num[i] = numDeriv(func(x float64) float64 {
			u[i] = x
			return splineLoss(s, forward, u, theta, w, v)
		}, in[i], h, side)
	}
	compareGrad(t, name+"/∂in", num, din)
	if how.noTheta {
		for j, g := range dth {
			if g != 0 {
				t.Errorf("%s: ∂L/∂θ_%d = %v, want 0", name, j, g)
			}
		}
		return
	}
	num = make([]float64, len(theta))
	p := append([]float64(nil), theta...)
	for j := range p {
		num[j] = numDeriv(func(x float64) float64 {
			p[j] = x
			defer func() { p[j] = theta[j] }()
			return splineLoss(s, forward, in, p, w, v)
		}, theta[j], 1e-5, fdCentral)
	}
	compareGrad(t, name+"/∂θ", num, dth)
}

// checkFinite fails unless every value given is finite.
func checkFinite(t *testing.T, name string, vs ...[]float64) {
	t.Helper()
	for k, v := range vs {
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				t.Errorf("%s: value %d of output %d is %v", name, i, k, x)
				return
			}
		}
	}
}

// splineKnots returns the knots x and y of dimension i.
func splineKnots(s RQSpline, theta []float64, nb, i int) (xs, ys []float64) {
	q := s.knots(theta, nb, i, make([]float64, s.tmpLen(nb)))
	return append([]float64(nil), q.xs...), append([]float64(nil), q.ys...)
}

// insideBins returns, for each of the nb dimensions, a point of a random bin
// at a random fraction in [0.1, 0.9] of its width, on the x axis (forward)
// or the y axis (inverse), so that central differences stay in one bin.
func insideBins(s RQSpline, theta []float64, nb int, forward bool, seed uint64) []float64 {
	rnd := rand.New(rand.NewPCG(seed, 6))
	in := make([]float64, nb)
	for i := range in {
		xs, ys := splineKnots(s, theta, nb, i)
		if !forward {
			xs = ys
		}
		k := rnd.IntN(s.Bins)
		in[i] = xs[k] + (0.1+0.8*rnd.Float64())*(xs[k+1]-xs[k])
	}
	return in
}

// minBinWidth returns the narrowest bin of the row on either axis.
func minBinWidth(s RQSpline, theta []float64, nb int) float64 {
	m := math.Inf(1)
	for i := 0; i < nb; i++ {
		xs, ys := splineKnots(s, theta, nb, i)
		for k := 0; k < s.Bins; k++ {
			m = math.Min(m, math.Min(xs[k+1]-xs[k], ys[k+1]-ys[k]))
		}
	}
	return m
}

// TestSplineGradients checks both directions' gradients with respect to the
// input and every width, height and derivative logit by finite differences
// at random points inside random bins, for several K and B and logits
// drawn from N(0, 0.5²) and N(0, 2²) (bins down to a few times the minimum
// width). Larger logits are checked at the hard places. The input step is a thousandth of the
// narrowest bin (at most 1e-5), so that central differences of a piece whose
// curvature grows as its bin narrows stay accurate.
func TestSplineGradients(t *testing.T) {
	for _, bins := range []int{1, 2, 3, 8} {
		for _, bound := range []float64{1, 3} {
			s := mustSpline(t, bins, bound)
			for _, scale := range []float64{0.5, 2} {
				for seed := uint64(0); seed < 4; seed++ {
					const nb = 3
					theta := splineTheta(s, nb, scale, seed+10*uint64(bins))
					h := math.Min(1e-5, 1e-3*minBinWidth(s, theta, nb))
					step := []float64{h, h, h}
					for _, forward := range []bool{true, false} {
						in := insideBins(s, theta, nb, forward, seed)
						name := fmt.Sprintf("K=%d/B=%v/scale=%v/seed=%d/forward=%v", bins, bound, scale, seed, forward)
						// One bin of width and height 2B is the
						// identity whatever θ: nothing to compare.
						checkSplineGrads(t, name, s, forward, in, theta, 0.7, splineFD{step: step, noTheta: bins == 1})
					}
				}
			}
		}
	}
}

// TestSplineRoundTrip: at points spread over and beyond [−B, B], the
// inverse is accurate to its conditioning: with J = dy/dx at z and u the
// ulp of max(|z|, B) (the knots' magnitude, which the arithmetic carries),
//
//	|Inverse(Forward(z)) − z| ≤ 8·(u + u/J)
//	|Forward(Inverse(x)) − x| ≤ 8·(u + J·u),
//
// the bounds of a correctly rounded evaluation up to a small factor, and
// the log-dets of the two directions cancel at the point the inverse
// returns. For parameters at the scale of a trained model (logits ~ N(0,
// 0.5²)) that is a round trip to 1e-12; with larger logits J falls to 1e-20
// in places, where no inverse recovers z from x to better than ulp(x)/J.
func TestSplineRoundTrip(t *testing.T) {
	for _, bins := range []int{1, 2, 5, 8, 16} {
		s := mustSpline(t, bins, 3)
		for _, scale := range []float64{0.5, 3, 50} {
			const nb = 4
			theta := splineTheta(s, nb, scale, uint64(bins))
			rnd := rand.New(rand.NewPCG(uint64(bins), 9))
			tmp := make([]float64, s.tmpLen(nb))
			for r := 0; r < 200; r++ {
				z := make([]float64, nb)
				for i := range z {
					z[i] = 4 * (2*rnd.Float64() - 1)
				}
				checkSplineRoundTrip(t, fmt.Sprintf("K=%d/scale=%v", bins, scale), s, z, theta, tmp, scale == 0.5)
			}
		}
	}
}

// checkSplineRoundTrip runs the round trips of TestSplineRoundTrip at the
// row z; strict also holds Inverse(Forward(z)) to z within 1e-12·max(1, |z|)
// and the two log-dets to cancel to 1e-12.
func checkSplineRoundTrip(t *testing.T, name string, s RQSpline, z, theta, tmp []float64, strict bool) {
	t.Helper()
	nb := len(z)
	x, back, again := make([]float64, nb), make([]float64, nb), make([]float64, nb)
	ldf := s.Forward(x, z, theta, tmp)
	ldi := s.Inverse(back, x, theta, tmp)
	ldb := s.Forward(again, back, theta, tmp)
	checkFinite(t, name, x, back, again, []float64{ldf, ldi, ldb})
	for i := range z {
		j := splineSlope(s, theta, nb, i, z[i])
		u := ulp(math.Max(math.Abs(z[i]), s.Bound))
		if e := math.Abs(back[i] - z[i]); !(e <= 8*(u+u/j)) || strict && !(e <= 1e-12*math.Max(1, math.Abs(z[i]))) {
			t.Errorf("%s: z %v → x %v → %v: error %g (dy/dx %g)", name, z[i], x[i], back[i], e, j)
		}
		if e := math.Abs(again[i] - x[i]); !(e <= 8*(u+j*u)) {
			t.Errorf("%s: x %v → z %v → %v: error %g (dy/dx %g)", name, x[i], back[i], again[i], e, j)
		}
	}
	if e := ldb + ldi; !(math.Abs(e) <= 1e-12*math.Max(1, math.Abs(ldb))) {
		t.Errorf("%s: log-dets %v at Inverse(x) and %v of the inverse do not cancel", name, ldb, ldi)
	}
	if e := ldf + ldi; strict && !(math.Abs(e) <= 1e-12*math.Max(1, math.Abs(ldf))) {
		t.Errorf("%s: log-dets %v and %v do not cancel", name, ldf, ldi)
	}
}

// splineSlope returns dy/dx of dimension i at z: 1 in the tails.
func splineSlope(s RQSpline, theta []float64, nb, i int, z float64) float64 {
	if !(math.Abs(z) <= s.Bound) {
		return 1
	}
	q := s.knots(theta, nb, i, make([]float64, s.tmpLen(nb)))
	b := s.binAt(q, theta, nb, i, bin(q.xs, z), s.shift())
	return b.piece((z - b.xk) / b.w).j
}

// ulp returns the spacing of float64 values at v.
func ulp(v float64) float64 {
	v = math.Abs(v)
	return math.Nextafter(v, math.Inf(1)) - v
}

// TestSplineZeroIsIdentity: zero logits give exactly x = z and log-det 0,
// in both directions, inside, on the knots, at ±B and in the tails.
func TestSplineZeroIsIdentity(t *testing.T) {
	for _, bins := range []int{1, 3, 8, 10} {
		for _, bound := range []float64{0.5, 3, 7} {
			s := mustSpline(t, bins, bound)
			const nb = 5
			theta := make([]float64, s.ParamsPerDim()*nb)
			rnd := rand.New(rand.NewPCG(uint64(bins), 1))
			tmp := make([]float64, s.tmpLen(nb))
			xs, _ := splineKnots(s, theta, nb, 0)
			pts := append([]float64{-bound, bound, 1e300, -1e6}, xs...)
			for r := 0; r < 100; r++ {
				pts = append(pts, 2*bound*(2*rnd.Float64()-1))
			}
			for i := 0; i+nb <= len(pts); i++ {
				z := pts[i : i+nb]
				x := make([]float64, nb)
				if ld := s.Forward(x, z, theta, tmp); ld != 0 {
					t.Errorf("K=%d B=%v: zero logits: forward log-det %v", bins, bound, ld)
				}
				back := make([]float64, nb)
				if ld := s.Inverse(back, z, theta, tmp); ld != 0 {
					t.Errorf("K=%d B=%v: zero logits: inverse log-det %v", bins, bound, ld)
				}
				for j := range z {
					if x[j] != z[j] || back[j] != z[j] {
						t.Errorf("K=%d B=%v: zero logits: %v ↦ %v forward, %v inverse", bins, bound, z[j], x[j], back[j])
					}
				}
			}
		}
	}
}
