// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
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

// splineFD describes how the finite differences of one check are taken:
// the side and step of each input component (a zero step: 1e-5·max(1, |in_i|))
// and whether the θ-gradient is checked.
type splineFD struct {
	side      []int
	step      []float64
	noTheta   bool // ∂L/∂θ must be exactly 0
	skipTheta bool // ∂L/∂θ is not compared (only checked finite)
	// conditioned compares only the well-conditioned differences (see
	// compareGradWhere).
	conditioned bool
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
	// The differences are of L − Σ w ⊙ in, whose input derivative is
	// ∂L/∂in − w: the same derivative, without the cancellation a far-tail
	// point (in = out = 1e300) would bring into the other components.
	tmp := make([]float64, s.tmpLen(nb))
	o := make([]float64, nb)
	loss := func(u, p []float64) float64 {
		var l float64
		if forward {
			l = v * s.Forward(o, u, p, tmp)
		} else {
			l = v * s.Inverse(o, u, p, tmp)
		}
		for i, x := range u {
			l += w[i] * (o[i] - x)
		}
		return l
	}
	num := make([]float64, nb)
	num2 := make([]float64, nb)
	for i := range in {
		side, h := fdCentral, 1e-5*math.Max(1, math.Abs(in[i]))
		if how.side != nil {
			side = how.side[i]
		}
		if how.step != nil && how.step[i] != 0 {
			h = how.step[i]
		}
		u := append([]float64(nil), in...)
		f := func(x float64) float64 {
			u[i] = x
			return loss(u, theta)
		}
		num[i] = numDeriv(f, in[i], h, side) + w[i]
		num2[i] = numDeriv(f, in[i], h/2, side) + w[i]
	}
	compareGradWhere(t, name+"/∂in", num, num2, din, how.conditioned)
	if how.skipTheta {
		return
	}
	if how.noTheta {
		for j, g := range dth {
			if g != 0 {
				t.Errorf("%s: ∂L/∂θ_%d = %v, want 0", name, j, g)
			}
		}
		return
	}
	num = make([]float64, len(theta))
	num2 = make([]float64, len(theta))
	p := append([]float64(nil), theta...)
	for j := range p {
		f := func(x float64) float64 {
			p[j] = x
			defer func() { p[j] = theta[j] }()
			return loss(in, p)
		}
		num[j] = numDeriv(f, theta[j], 1e-5, fdCentral)
		num2[j] = numDeriv(f, theta[j], 5e-6, fdCentral)
	}
	compareGradWhere(t, name+"/∂θ", num, num2, dth, how.conditioned)
}

// compareGradWhere is compareGrad on all components, or, when conditioned
// is set, on the components whose finite differences are well conditioned:
// those whose differences at steps h and h/2 agree to fdTol/10 of the
// error measure's scale. Logits of ±50 make pieces so steep or so flat that
// no double-precision difference resolves some components; the others are
// compared, and at least half of them must be.
func compareGradWhere(t *testing.T, name string, num, num2, grad []float64, conditioned bool) {
	t.Helper()
	if !conditioned {
		compareGrad(t, name, num, grad)
		return
	}
	inf := 0.0
	for _, v := range num {
		inf = math.Max(inf, math.Abs(v))
	}
	var n, g []float64
	for i := range num {
		if math.Abs(num[i]-num2[i]) <= fdTol/10*math.Max(math.Abs(num[i]), 1e-3*inf) {
			n = append(n, num[i])
			g = append(g, grad[i])
		}
	}
	if 2*len(n) < len(num) {
		t.Errorf("%s: only %d of %d finite differences are well conditioned", name, len(n), len(num))
		return
	}
	compareGrad(t, name, n, g)
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
	q := s.knots(theta, paramMajor(nb), nb, make([]float64, s.tmpLen(nb)))
	for j := 0; j <= s.Bins; j++ {
		xs, ys = append(xs, q.x(j, i)), append(ys, q.y(j, i))
	}
	return xs, ys
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
	q := s.knots(theta, paramMajor(nb), nb, make([]float64, s.tmpLen(nb)))
	b := s.binAt(&q, i, q.bin(q.xs, q.xsl, i, z), s.shift())
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

// hardThetas returns parameter sets of nb dimensions for the hard places:
// moderate random logits, and logits of ±50 that put bins at the minimum
// width and height and knot derivatives near MinDerivative and 50.
func hardThetas(s RQSpline, nb int) map[string][]float64 {
	ext := make([]float64, s.ParamsPerDim()*nb)
	rnd := rand.New(rand.NewPCG(3, 3))
	for j := range ext {
		ext[j] = 50
		if rnd.IntN(2) == 0 {
			ext[j] = -50
		}
	}
	return map[string][]float64{"moderate": splineTheta(s, nb, 0.5, 4), "±50": ext}
}

// TestSplineHardPlaces checks the gradients of both directions by finite
// differences at the hard places, in dimension 0 of a row whose other two
// dimensions sit inside bins (so that ∂L/∂θ is not all zero):
//
//   - exactly on an interior knot: y is C¹ there but not C², so a central
//     difference is only first-order accurate, and log J is not even
//     differentiable (its one-sided derivatives in x differ): the input
//     derivative is compared with the right-sided difference (a point on
//     x_k belongs to bin k), and ∂L/∂θ, for which no difference is
//     one-sided (a moved knot switches the bin), is checked finite only;
//     TestSplineKnots checks continuity and the analytic slope there;
//   - at −B and B exactly, just inside and just outside (1e-12·B), with
//     one-sided differences from the side the point belongs to (the log-det's
//     input derivative jumps at ±B);
//   - far in the tails, ±1e6 and ±1e300, with a step relative to the point.
//
// With logits of ±50 only the well-conditioned differences are compared
// (compareGradWhere).
func TestSplineHardPlaces(t *testing.T) {
	const nb = 3
	s := mustSpline(t, 8, 3)
	b := s.Bound
	for tname, theta := range hardThetas(s, nb) {
		h := math.Min(1e-5, 1e-3*minBinWidth(s, theta, nb))
		for _, forward := range []bool{true, false} {
			in := insideBins(s, theta, nb, forward, 7)
			xs, ys := splineKnots(s, theta, nb, 0)
			if !forward {
				xs = ys
			}
			type place struct {
				name string
				at   float64
				side int
				v    float64
				skip bool
			}
			var places []place
			for k := 1; k < s.Bins; k++ {
				places = append(places,
					place{fmt.Sprintf("knot %d/value", k), xs[k], fdRight, 0, true},
					place{fmt.Sprintf("knot %d/log-det", k), xs[k], fdRight, 0.7, true})
			}
			eps := 1e-12 * b
			places = append(places,
				place{"-B", -b, fdRight, 0.7, false},
				place{"B", b, fdLeft, 0.7, false},
				place{"inside -B", -b + eps, fdRight, 0.7, false},
				place{"inside B", b - eps, fdLeft, 0.7, false},
				place{"outside -B", -b - eps, fdLeft, 0.7, false},
				place{"outside B", b + eps, fdRight, 0.7, false},
				place{"1e6", 1e6, fdCentral, 0.7, false},
				place{"-1e6", -1e6, fdCentral, 0.7, false},
				place{"1e300", 1e300, fdCentral, 0.7, false},
				place{"-1e300", -1e300, fdCentral, 0.7, false},
			)
			for _, pl := range places {
				row := append([]float64{pl.at}, in[1:]...)
				step := []float64{h * math.Max(1, math.Abs(pl.at)), h, h}
				name := fmt.Sprintf("%s/forward=%v/%s", tname, forward, pl.name)
				checkSplineGrads(t, name, s, forward, row, theta, pl.v,
					splineFD{side: []int{pl.side, fdCentral, fdCentral}, step: step, skipTheta: pl.skip, conditioned: tname != "moderate"})
				checkSplineRoundTrip(t, name, s, row, theta, make([]float64, s.tmpLen(nb)), tname == "moderate")
			}
		}
	}
}

// TestSplineKnots: at every knot the value from the bin to its left (θ = 1)
// equals the value Forward returns (from the bin to its right, θ = 0) to
// 2 ulp, and so do the inverse's; the slope there is the knot derivative,
// exp(log-det) = d_k, and ±B map to ±B exactly.
func TestSplineKnots(t *testing.T) {
	for _, bins := range []int{2, 8, 13} {
		s := mustSpline(t, bins, 3)
		for tname, theta := range hardThetas(s, 1) {
			xs, ys := splineKnots(s, theta, 1, 0)
			tmp := make([]float64, s.tmpLen(1))
			q := s.knots(theta, paramMajor(1), 1, tmp)
			for k := 0; k <= bins; k++ {
				x, z := make([]float64, 1), make([]float64, 1)
				ld := s.Forward(x, xs[k:k+1], theta, tmp)
				s.Inverse(z, ys[k:k+1], theta, tmp)
				name := fmt.Sprintf("K=%d/%s/knot %d", bins, tname, k)
				if e := math.Abs(x[0] - ys[k]); !(e <= 2*ulp(ys[k])) {
					t.Errorf("%s: Forward(x_k) = %v, y_k = %v", name, x[0], ys[k])
				}
				if e := math.Abs(z[0] - xs[k]); !(e <= 2*ulp(xs[k])) {
					t.Errorf("%s: Inverse(y_k) = %v, x_k = %v", name, z[0], xs[k])
				}
				if k > 0 {
					left := s.binAt(&q, 0, k-1, s.shift())
					if y := left.yk + left.h*left.piece(1).r; !(math.Abs(y-x[0]) <= 2*ulp(x[0])) {
						t.Errorf("%s: from the left %v, from the right %v", name, y, x[0])
					}
				}
				d, _ := s.deriv(&q, 0, k, s.shift())
				if e := math.Abs(math.Exp(ld) - d); !(e <= 1e-12*d) {
					t.Errorf("%s: slope exp(log-det) = %v, knot derivative %v", name, math.Exp(ld), d)
				}
			}
			if xs[0] != -3 || xs[bins] != 3 || ys[0] != -3 || ys[bins] != 3 {
				t.Errorf("K=%d/%s: end knots %v %v %v %v, want ±B exactly", bins, tname, xs[0], xs[bins], ys[0], ys[bins])
			}
		}
	}
}

// TestSplineMonotoneLogDet: along a fine grid over [−1.2B, 1.2B] both
// directions increase, and exp(log-det) matches the five-point numerical
// derivative of the map to 1e-6 away from the knots, wherever that
// difference is well conditioned: its rounding error, about
// ε·max(|y|, B)/h, must be under fdTol/10 of the slope (with logits of ±50
// the slope falls to 1e-6 in places, where no double-precision difference
// resolves it; the round trips and the gradient tests cover those points).
func TestSplineMonotoneLogDet(t *testing.T) {
	s := mustSpline(t, 8, 3)
	for tname, theta := range hardThetas(s, 1) {
		tmp := make([]float64, s.tmpLen(1))
		xs, ys := splineKnots(s, theta, 1, 0)
		h := math.Min(1e-5, 1e-3*minBinWidth(s, theta, 1))
		for _, forward := range []bool{true, false} {
			knots := xs
			if !forward {
				knots = ys
			}
			apply := func(v float64) (float64, float64) {
				out := make([]float64, 1)
				if forward {
					return out[0], s.Forward(out, []float64{v}, theta, tmp) + 0*out[0]
				}
				return out[0], s.Inverse(out, []float64{v}, theta, tmp)
			}
			f := func(v float64) float64 {
				out := make([]float64, 1)
				if forward {
					s.Forward(out, []float64{v}, theta, tmp)
				} else {
					s.Inverse(out, []float64{v}, theta, tmp)
				}
				return out[0]
			}
			prev := math.Inf(-1)
			checked := 0
			for i := 0; i <= 4000; i++ {
				v := -3.6 + 7.2*float64(i)/4000
				y := f(v)
				if !(y >= prev) {
					t.Errorf("%s/forward=%v: not monotone at %v: %v after %v", tname, forward, v, y, prev)
				}
				prev = y
				near := false
				for _, k := range knots {
					near = near || math.Abs(v-k) < 3*h
				}
				if near {
					continue
				}
				_, ld := apply(v)
				if 2.3e-16*math.Max(math.Abs(y), 3)/h > fdTol/10*math.Exp(ld) {
					continue
				}
				checked++
				num := numDeriv(f, v, h, fdCentral)
				if e := math.Abs(math.Exp(ld)-num) / num; !(e <= fdTol) {
					t.Errorf("%s/forward=%v: at %v exp(log-det) %v, numerical derivative %v", tname, forward, v, math.Exp(ld), num)
				}
			}
			if checked < 1000 {
				t.Errorf("%s/forward=%v: only %d of 4001 points compared", tname, forward, checked)
			}
		}
	}
}

// TestSplineFinite: for random finite parameters of every magnitude up to
// 1e300 and inputs of every magnitude, both directions' values, log-dets and
// gradients are finite.
func TestSplineFinite(t *testing.T) {
	rnd := rand.New(rand.NewPCG(8, 8))
	for _, bins := range []int{1, 3, 8} {
		for _, bound := range []float64{1e-3, 3, 1e6} {
			s := mustSpline(t, bins, bound)
			const nb = 4
			for r := 0; r < 300; r++ {
				theta := make([]float64, s.ParamsPerDim()*nb)
				for j := range theta {
					theta[j] = rnd.NormFloat64() * math.Pow(10, float64(rnd.IntN(301)))
				}
				in := make([]float64, nb)
				for i := range in {
					switch rnd.IntN(3) {
					case 0:
						in[i] = bound * (2*rnd.Float64() - 1)
					case 1:
						in[i] = rnd.NormFloat64() * math.Pow(10, float64(rnd.IntN(601)-300))
					default:
						in[i] = []float64{-bound, bound, math.Nextafter(bound, 0), math.Nextafter(bound, 4*bound), -math.MaxFloat64}[rnd.IntN(5)]
					}
				}
				w := randomRows(1, nb, uint64(r))
				for _, forward := range []bool{true, false} {
					out, ld, din, dth := splineGrads(s, forward, in, theta, w, 0.7)
					checkFinite(t, fmt.Sprintf("K=%d/B=%v/row %d/forward=%v", bins, bound, r, forward), out, []float64{ld}, din, dth)
				}
			}
		}
	}
}

// nsfSpline is the spline of the layer-level tests: four bins on [−2, 2], so
// that rows of N(0, 1) draws fall in the bins and in both tails.
var nsfSpline = RQSpline{Bins: 4, Bound: 2, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}

// TestSplineCouplingGradients: flows of two spline coupling layers pass the
// coupling tests' finite-difference checks of every parameter, for maximum
// likelihood and reverse KL, and their layers' log-dets match numerical
// Jacobians.
func TestSplineCouplingGradients(t *testing.T) {
	for _, hidden := range [][]int{{7}, {6, 5}} {
		for _, act := range []Activation{ReLU, Tanh} {
			name := fmt.Sprintf("spline/%v/%v", hidden, act)
			f := couplingFlow(t, 5, hidden, act, nsfSpline, 3)
			checkFlowGrads(t, name, f, true, true)
		}
	}
	for _, d := range []int{2, 3, 6} {
		f := couplingFlow(t, d, []int{8}, Tanh, nsfSpline, 5)
		for i, l := range f.Layers() {
			checkLayerLogDets5(t, fmt.Sprintf("spline/D=%d/layer %d", d, i), l, randomRows(3, d, 9), nil)
		}
	}
}

// TestSplineCouplingContext: conditional spline couplings: the gradients of
// maximum likelihood with respect to every parameter, the contexts and x,
// and of reverse KL with respect to every parameter and the contexts, by
// finite differences; log-dets against numerical Jacobians.
func TestSplineCouplingContext(t *testing.T) {
	const d, n = 5, 5
	for _, nc := range []int{1, 3} {
		name := fmt.Sprintf("spline/C=%d", nc)
		f := condCouplingFlow(t, d, nc, []int{6}, Tanh, nsfSpline, 3)
		x := randomRows(n, d, 11)
		ctx := randomRows(n, nc, 13)
		grad := make([]float64, f.NumParams())
		dc := make([]float64, n*nc)
		dx := make([]float64, n*d)
		couplingNLLGiven(f, x, ctx, n, grad, dc, dx)
		checkGrad(t, name+"/ml", f, func() float64 { return couplingNLLGiven(f, x, ctx, n, nil, nil, nil) }, grad)
		checkVecGrad(t, name+"/ml/∂c", ctx, func(v []float64) float64 { return couplingNLLGiven(f, x, v, n, nil, nil, nil) }, dc)
		checkVecGrad(t, name+"/ml/∂x", x, func(v []float64) float64 { return couplingNLLGiven(f, v, ctx, n, nil, nil, nil) }, dx)
		grad = make([]float64, f.NumParams())
		dc = make([]float64, n*nc)
		couplingKLGiven(f, x, ctx, n, grad, dc)
		checkGrad(t, name+"/kl", f, func() float64 { return couplingKLGiven(f, x, ctx, n, nil, nil) }, grad)
		checkVecGrad(t, name+"/kl/∂c", ctx, func(v []float64) float64 { return couplingKLGiven(f, x, v, n, nil, nil) }, dc)
		for i, l := range f.Layers() {
			checkLayerLogDets5(t, fmt.Sprintf("%s/layer %d", name, i), l, randomRows(3, d, 9), randomRows(3, nc, 10))
		}
		roundTripGiven(t, name, f, 40, 1e-10)
	}
}

// TestSplineCouplingRoundTrip: Inverse(Forward(z)) = z to 1e-10, the
// issue's bound (the slopes of random spline layers compound the
// conditioning of the inverse that TestSplineRoundTrip measures), through
// spline coupling flows and NSFs of several dimensions.
func TestSplineCouplingRoundTrip(t *testing.T) {
	for d := 2; d <= 7; d++ {
		f := couplingFlow(t, d, []int{16, 16}, ReLU, nsfSpline, uint64(d))
		roundTrip(t, fmt.Sprintf("spline/D=%d", d), f, 70, 1e-10)
		g, err := NewNSF(NSFConfig{Dim: d, Layers: 6, Hidden: []int{16}, Activation: Tanh, Seed: uint64(d)})
		if err != nil {
			t.Fatal(err)
		}
		randomizeParams(g, 0.2, uint64(d))
		roundTrip(t, fmt.Sprintf("nsf6/D=%d", d), g, 70, 1e-10)
	}
}

// TestNSFDeterminism: training steps of an NSF, unconditional and
// conditional, are bit-identical for 1, 2, 3 and 8 workers.
func TestNSFDeterminism(t *testing.T) {
	f, err := NewNSF(NSFConfig{Dim: 3, Layers: 4, Hidden: []int{16, 16}, Activation: Tanh, Bins: 5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.2, 3)
	checkDeterminism(t, "nsf/ml", f, false, 1, 2, 3, 8)
	checkDeterminism(t, "nsf/kl", f, true, 1, 2, 3, 8)
}

// TestNSFAllocs: once warmed up, a training step, LogProb, Sample and
// Forward of an NSF allocate nothing.
func TestNSFAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Log("allocation counts are not meaningful under -race or -cover")
		return
	}
	f, err := NewNSF(NSFConfig{Dim: 5, Layers: 4, Hidden: []int{16}, Activation: ReLU})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.1, 1)
	x := mat.NewDense(300, 5, randomRows(300, 5, 1))
	grad := make([]float64, f.NumParams())
	ml := NewMaxLikelihood(f, 2, 64)
	kl := NewReverseKL(f, banana, 2, 64)
	opt := NewAdam(1e-3)
	lp := make([]float64, 300)
	rnd := rand.New(rand.NewPCG(1, 1))
	for name, fn := range map[string]func(){
		"MaxLikelihood": func() { ml.LossGrad(grad, x); opt.Step(f.Params(), grad) },
		"ReverseKL":     func() { kl.LossGrad(grad, x) },
		"LogProb":       func() { f.LogProb(lp, x) },
		"Sample":        func() { f.Sample(x, lp, rnd) },
		"Forward":       func() { f.Forward(x, x, lp) },
	} {
		fn()
		if a := testing.AllocsPerRun(50, fn); a > 0 {
			t.Errorf("%s: %v allocations per call in steady state", name, a)
		}
	}
}

// TestNSFConstruction: the layout NewNSF builds (a permutation before each
// spline coupling, alternating halves, the default K = 8 and B = 3), its
// identity start, and the errors of bad configurations.
func TestNSFConstruction(t *testing.T) {
	f, err := NewNSF(NSFConfig{Dim: 5, Layers: 3, Hidden: []int{8}, ContextDim: 2, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Layers()) != 6 || f.ContextDim() != 2 {
		t.Fatalf("%d layers, context dimension %d: want 6 and 2", len(f.Layers()), f.ContextDim())
	}
	var perms [][]int
	for i, l := range f.Layers() {
		if i%2 == 0 {
			p, ok := l.(*Permutation)
			if !ok {
				t.Fatalf("layer %d is %T, want a permutation", i, l)
			}
			perms = append(perms, p.Perm())
			continue
		}
		c, ok := l.(*Coupling)
		if !ok {
			t.Fatalf("layer %d is %T, want a coupling layer", i, l)
		}
		if h, ok := c.Func().(RQSpline); !ok || h.Bins != 8 || h.Bound != 3 {
			t.Errorf("layer %d: coupling function %#v, want an RQSpline of 8 bins on [−3, 3]", i, c.Func())
		}
		if want := HalfMask(5, i/2%2 == 1); fmt.Sprint(c.Mask()) != fmt.Sprint(want) {
			t.Errorf("layer %d: mask %v, want %v", i, c.Mask(), want)
		}
		// A new spline coupling is exactly the identity, whatever the
		// context.
		z := randomRows(4, 5, uint64(i))
		z[0], z[1] = 3, -3
		x := make([]float64, len(z))
		ld := make([]float64, 4)
		c.Forward(x, z, randomRows(4, 2, 1), ld, make([]float64, c.WorkLen(4)))
		for j := range z {
			if x[j] != z[j] {
				t.Fatalf("layer %d: a new spline coupling maps %v to %v", i, z[j], x[j])
			}
		}
		for _, v := range ld {
			if v != 0 {
				t.Fatalf("layer %d: a new spline coupling has log-det %v", i, v)
			}
		}
	}
	if fmt.Sprint(perms[0]) == fmt.Sprint(perms[1]) && fmt.Sprint(perms[1]) == fmt.Sprint(perms[2]) {
		t.Errorf("every permutation is %v", perms[0])
	}
	for _, c := range []struct {
		cfg  NSFConfig
		want string
	}{
		{NSFConfig{Dim: 1, Layers: 2}, "D ≥ 2"},
		{NSFConfig{Dim: 3, Layers: 0}, "0 layers"},
		{NSFConfig{Dim: 3, Layers: 1, Hidden: []int{4, 0}}, "hidden layer 1 has width 0"},
		{NSFConfig{Dim: 3, Layers: 1, Activation: Activation(9)}, "activation"},
		{NSFConfig{Dim: 3, Layers: 1, Bins: -1}, "bins"},
		{NSFConfig{Dim: 3, Layers: 1, Bound: -1}, "bound"},
		{NSFConfig{Dim: 3, Layers: 1, Bound: math.NaN()}, "bound"},
		{NSFConfig{Dim: 3, Layers: 1, ContextDim: -1}, "context dimension"},
		{NSFConfig{Dim: 3, Layers: 1, Hidden: []int{1 << 27}}, "limit"},
	} {
		if _, err := NewNSF(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewNSF(%+v): error %v, want one containing %q", c.cfg, err, c.want)
		}
	}
	if _, err := NewCoupling(CouplingConfig{Mask: []bool{true, false}, Func: RQSpline{Bins: 4}}); err == nil || !strings.Contains(err.Error(), "bound") {
		t.Errorf("NewCoupling with an RQSpline of bound 0: error %v", err)
	}
}

// checkLayerLogDets5 compares both directions' log-dets of the layer l with
// the log-determinants of Jacobians by five-point differences (step 1e-4),
// row by row, to 1e-7: the three-point differences of numLogDet carry an
// error of order h²·y‴, which the sharp pieces of a random spline make
// larger than that. ctx holds the rows' contexts (nil without).
func checkLayerLogDets5(t *testing.T, name string, l Layer, rows, ctx []float64) {
	t.Helper()
	d, nc := l.Dim(), l.ContextDim()
	n := len(rows) / d
	work := make([]float64, l.WorkLen(1))
	for dir := 0; dir < 2; dir++ {
		for r := 0; r < n; r++ {
			var cr []float64
			if nc > 0 {
				cr = ctx[r*nc : r*nc+nc]
			}
			pass := func(dst, src []float64) float64 {
				ld := []float64{0}
				if dir == 0 {
					l.Forward(dst, src, cr, ld, work)
				} else {
					l.Inverse(dst, src, cr, ld, work)
				}
				return ld[0]
			}
			at := append([]float64(nil), rows[r*d:r*d+d]...)
			got := pass(make([]float64, d), at)
			jac := mat.NewDense(d, d, nil)
			out := make([]float64, d)
			for j := 0; j < d; j++ {
				x0 := at[j]
				col := make([]float64, d)
				for k, c := range []float64{1, -8, 8, -1} {
					at[j] = x0 + []float64{-2, -1, 1, 2}[k]*1e-4
					pass(out, at)
					for i := range col {
						col[i] += c * out[i] / (12 * 1e-4)
					}
				}
				at[j] = x0
				jac.SetCol(j, col)
			}
			var lu mat.LU
			lu.Factorize(jac)
			want, _ := lu.LogDet()
			if math.Abs(got-want) > 1e-7*math.Max(1, math.Abs(want)) {
				t.Errorf("%s: direction %d row %d: log|det| %.12g, numerical %.12g", name, dir, r, got, want)
			}
		}
	}
}

// TestSplineConstants holds the spline to its promises at the limits of its
// constants (the bound at 1e-100 and 1e100, bins of the minimum 1e-6 of the
// interval, knot derivatives down to 1e-9 and up to nearly 1): for logits
// of every scale, values and gradients in both directions are finite and
// the round trips are as accurate as the map's conditioning allows, and for
// logits at a trained model's scale the gradients agree with finite
// differences (input steps of a thousandth of the narrowest bin, so of the
// bound's scale). Just beyond these limits the knots of the narrowest bins
// merge in rounding, or the gradients overflow.
func TestSplineConstants(t *testing.T) {
	for _, bound := range []float64{1e-100, 1, 1e100} {
		for _, m := range []float64{1e-6, 1e-3} {
			for _, md := range []float64{1e-9, 1e-3, 0.999} {
				s := RQSpline{Bins: 8, Bound: bound, MinWidth: m, MinHeight: m, MinDerivative: md}
				if err := s.validate(); err != nil {
					t.Fatalf("%+v: %v", s, err)
				}
				for _, scale := range []float64{0.5, 3, 50} {
					const nb = 4
					name := fmt.Sprintf("B=%g/m=%g/md=%g/scale=%v", bound, m, md, scale)
					theta := splineTheta(s, nb, scale, 3)
					rnd := rand.New(rand.NewPCG(1, 9))
					tmp := make([]float64, s.tmpLen(nb))
					for r := 0; r < 50; r++ {
						z := make([]float64, nb)
						for i := range z {
							z[i] = 1.3 * bound * (2*rnd.Float64() - 1)
						}
						checkSplineRoundTrip(t, name, s, z, theta, tmp, false)
						for _, forward := range []bool{true, false} {
							_, _, din, dth := splineGrads(s, forward, z, theta, randomRows(1, nb, 41), 0.7)
							checkFinite(t, name, din, dth)
						}
					}
					if scale != 0.5 {
						continue
					}
					h := 1e-3 * minBinWidth(s, theta, nb)
					for _, forward := range []bool{true, false} {
						in := insideBins(s, theta, nb, forward, 5)
						checkSplineGrads(t, fmt.Sprintf("%s/forward=%v", name, forward), s, forward, in, theta, 0.7, splineFD{step: []float64{h, h, h, h}})
					}
				}
			}
		}
	}
}

// TestLog1p01 holds log1p01 to within 4 ulp of math.Log1p over [0, 1]: at
// the ends, near the powers of two and at random points, dense near 0 where
// 1 + e rounds.
func TestLog1p01(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	vals := []float64{0, 5e-324, 1e-300, 1e-17, 1.1e-16, 2.2e-16, 4.4e-16, 1e-8, 0.5, math.Nextafter(1, 0), 1}
	for k := -60; k <= 0; k++ {
		p := math.Ldexp(1, k)
		vals = append(vals, p, math.Nextafter(p, 0), math.Nextafter(p, 2))
	}
	for i := 0; i < 100000; i++ {
		vals = append(vals, rnd.Float64(), math.Ldexp(rnd.Float64(), -rnd.IntN(60)))
	}
	for _, e := range vals {
		got, want := log1p01(e), math.Log1p(e)
		if d := math.Abs(got - want); !(d <= 4*ulp(want)) {
			t.Errorf("log1p01(%v) = %v, math.Log1p %v: %g ulp", e, got, want, d/ulp(want))
		}
	}
}
