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

// The spline has the float32 row methods of a coupling function.
var _ couplingFuncT[float32] = rqsplineOf[float32]{}

// spline32Splines are the splines of the float32 tests: one bin, a few and
// many, bounds that leave most standard normal inputs in the tails (0.6),
// some (1.3) and few (2.2, 3), none of them but 3 a float32 value, and
// unequal minimum bin widths, heights and derivatives.
//
// The float32 gradients hold to 1e-3 for splines of moderate logits (a
// standard deviation of about 0.5, or conditioners perturbed by ±0.3), not
// for steep ones: the knots are positions in [−B, B] rounded to float32, so
// a bin's width, the difference of two knots, is off by up to an ulp of B,
// a relative error of ulp(B)/w_k, which the gradients of narrow bins
// amplify. Moving the knots of the float64 spline by ±ulp(B) changes its
// gradients as much as float32 does (1e-3 to 4e-2 for logits of standard
// deviation 2 and 8 bins).
var spline32Splines = []RQSpline{
	{Bins: 1, Bound: 1.3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3},
	{Bins: 3, Bound: 2.2, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3},
	{Bins: 4, Bound: 0.6, MinWidth: 2e-2, MinHeight: 1e-3, MinDerivative: 1e-2},
	{Bins: 8, Bound: 3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3},
	{Bins: 6, Bound: 1.3, MinWidth: 1e-3, MinHeight: 5e-3, MinDerivative: 1e-3},
}

func spline32Name(s RQSpline) string {
	return fmt.Sprintf("K=%d,B=%v,mw=%v,mh=%v,md=%v", s.Bins, s.Bound, s.MinWidth, s.MinHeight, s.MinDerivative)
}

// TestRQSpline32Rows compares the float32 row methods of RQSpline
// (couplingFuncOf[float32]) with the float64 ones on the same float32
// parameters and inputs: outputs and log-dets to 1e-4·(|v| + 1), the
// gradients of ForwardBackward and InverseBackward, over all the rows of a
// spline, to 1e-3 in the mixed measure. The inputs are normal draws scaled
// to the bound, so that a part lies in the tails, and ±B (B rounded
// towards 0 to float32, a point inside the spline in both precisions); the
// logits are normal with a standard deviation of 0.5.
func TestRQSpline32Rows(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 100))
	for _, s := range spline32Splines {
		h32 := couplingFuncOf[float32](s)
		if h32 == nil {
			t.Fatalf("%s: no float32 row methods", spline32Name(s))
		}
		b32 := float32(s.Bound)
		if float64(b32) > s.Bound {
			b32 = math.Nextafter32(b32, 0)
		}
		for _, nb := range []int{1, 3, 6} {
			name := fmt.Sprintf("%s,nb=%d", spline32Name(s), nb)
			tmp64, tmp32 := make([]float64, s.tmpLen(nb)), make([]float32, s.tmpLen(nb))
			var got, want [2][]float64 // the gradients of the rows, ForwardBackward's and InverseBackward's
			for rep := 0; rep < 30; rep++ {
				theta := make([]float64, s.ParamsPerDim()*nb)
				for i := range theta {
					theta[i] = 0.5 * rnd.NormFloat64()
				}
				round32(theta)
				in := make([]float64, nb)
				for i := range in {
					in[i] = 1.2 * s.Bound * rnd.NormFloat64()
				}
				round32(in)
				if rep < 2 {
					in[0] = float64(b32) * float64(1-2*rep)
				}
				g := randRows(1, nb, rnd)
				dld := float64(float32(rnd.NormFloat64()))
				for k, dir := range []string{"Forward", "Inverse"} {
					g32, g64 := checkRQRow32(t, name, dir, s, h32, theta, in, g, dld, tmp64, tmp32)
					got[k], want[k] = append(got[k], g32...), append(want[k], g64...)
				}
			}
			for k, dir := range []string{"Forward", "Inverse"} {
				if i := mixedBad(got[k], want[k], 1e-3); i >= 0 {
					t.Errorf("%s: %sBackward: gradient %d of the rows': float32 %v, float64 %v", name, dir, i, got[k][i], want[k][i])
				}
			}
		}
	}
}

// checkRQRow32 compares a row method, Forward or Inverse, and its backward
// in the two precisions and returns their gradients, ∂L/∂(input) and
// ∂L/∂θ, in float32 and float64. An input in a tail must come back as it
// is and its gradient must be dx = dz, in float32.
func checkRQRow32(t *testing.T, name, dir string, s RQSpline, h32 couplingFuncT[float32], theta, in, g []float64, dld float64, tmp64 []float64, tmp32 []float32) (got, want []float64) {
	t.Helper()
	nb := len(in)
	th32, in32, g32 := to32(theta), to32(in), to32(g)
	out64, out32 := make([]float64, nb), make([]float32, nb)
	d64, d32 := make([]float64, nb), make([]float32, nb)
	dth64, dth32 := make([]float64, len(theta)), make([]float32, len(theta))
	var ld64 float64
	var ld32 float32
	if dir == "Forward" {
		ld64 = s.Forward(out64, in, theta, tmp64)
		ld32 = h32.Forward(out32, in32, th32, tmp32)
		s.ForwardBackward(d64, dth64, g, dld, in, out64, theta, tmp64)
		h32.ForwardBackward(d32, dth32, g32, float32(dld), in32, out32, th32, tmp32)
	} else {
		ld64 = s.Inverse(out64, in, theta, tmp64)
		ld32 = h32.Inverse(out32, in32, th32, tmp32)
		s.InverseBackward(d64, dth64, g, dld, in, out64, theta, tmp64)
		h32.InverseBackward(d32, dth32, g32, float32(dld), in32, out32, th32, tmp32)
	}
	if i := logpBad(to64(out32), out64, 1e-4); i >= 0 {
		t.Errorf("%s: %s: output %d (input %v): float32 %v, float64 %v", name, dir, i, in[i], out32[i], out64[i])
	}
	if logpBad([]float64{float64(ld32)}, []float64{ld64}, 1e-4) >= 0 {
		t.Errorf("%s: %s: log-det: float32 %v, float64 %v (input %v)", name, dir, ld32, ld64, in)
	}
	for i, v := range in {
		if !(math.Abs(v) <= s.Bound) && (out32[i] != in32[i] || d32[i] != g32[i]) {
			t.Errorf("%s: %s: input %v in a tail: output %v, gradient %v (dz %v), want the identity", name, dir, v, out32[i], d32[i], g32[i])
		}
	}
	return append(to64(d32), to64(dth32)...), append(d64, dth64...)
}

// TestSplineCoupling32 checks spline coupling layers' float32 passes
// against their float64 ones (checkLayer32): the splines of
// spline32Splines, both activations, a context, a residual conditioner,
// and conditioners perturbed by ±0.3 and ±1, on row counts below, at and
// across the products' tiles.
func TestSplineCoupling32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 101))
	for si, s := range spline32Splines {
		for _, tc := range []struct {
			name  string
			cfg   CouplingConfig
			scale float64
		}{
			{"relu", CouplingConfig{Mask: HalfMask(5, false), Hidden: []int{16, 16}, Activation: ReLU}, 0.3},
			{"tanh", CouplingConfig{Mask: EvenOddMask(6, true), Hidden: []int{24}, Activation: Tanh}, 0.3},
			{"context", CouplingConfig{Mask: HalfMask(4, true), Hidden: []int{16}, Activation: ReLU, ContextDim: 3}, 0.3},
			{"residual", CouplingConfig{Mask: HalfMask(7, false), Hidden: []int{20}, Activation: Tanh, ResidualBlocks: 2, ContextDim: 2}, 0.3},
		} {
			if testing.Short() && si%2 == 1 && tc.name != "context" {
				continue
			}
			cfg := tc.cfg
			cfg.Func = s
			cfg.Seed = uint64(si)
			l, err := NewCoupling(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if why := l.why32(); why != "" {
				t.Fatalf("%s/%s: why32 %q, want \"\"", spline32Name(s), tc.name, why)
			}
			perturb(l.Params(), tc.scale, rnd)
			for _, n := range []int{1, 7, 37} {
				checkLayer32(t, fmt.Sprintf("%s/%s/n=%d", spline32Name(s), tc.name, n), l, n, rnd)
			}
		}
	}
}

// TestSplineMAF32 checks spline MAF layers' float32 Inverse (one pass),
// Forward (sequential, with as many MADE passes as float64's) and
// InverseBackward against the float64 ones (checkLayer32): plain and
// residual MADEs, with and without a context, natural, reversed and random
// orders, none, one and two hidden layers.
func TestSplineMAF32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 102))
	cfgs := []AutoregressiveConfig{
		{Dim: 3, Hidden: []int{16, 16}, Activation: ReLU},
		{Dim: 4, Hidden: []int{16}, Activation: Tanh, ContextDim: 2, Order: ReversedOrder},
		{Dim: 1, Hidden: []int{8}, Activation: Tanh, ContextDim: 2},
		{Dim: 5, Activation: ReLU, ContextDim: 1},
		{Dim: 6, Hidden: []int{24}, Activation: ReLU, ResidualBlocks: 2, Order: RandomOrder, Degrees: RandomDegrees},
		{Dim: 5, Hidden: []int{20}, Activation: Tanh, ResidualBlocks: 1, ContextDim: 3},
	}
	for si, s := range spline32Splines {
		for ci, cfg := range cfgs {
			if testing.Short() && (si+ci)%2 == 1 {
				continue
			}
			cfg.Spline = &s
			name := fmt.Sprintf("%s/%s", spline32Name(s), maf32Name(cfg))
			l, _ := newMAF32(t, cfg, uint64(400+10*si+ci))
			ns := []int{1, 7, 37}
			if si == spline32Coarse && ci == len(cfgs)-1 {
				// Its gradients over 37 rows are as accurate as the
				// float32 knots and probabilities allow, not always to
				// 1e-3 (TestSplineMAF32Knots).
				ns = ns[:2]
			}
			for _, n := range ns {
				checkLayer32(t, fmt.Sprintf("%s/n=%d", name, n), l, n, rnd)
			}
			// The sequential direction's MADE passes, one per position.
			const n = 5
			x, ctx := randRows(n, cfg.Dim, rnd), randRows(n, cfg.ContextDim, rnd)
			before := l.madePasses()
			l.forward32(to32(l.Params()), make([]float32, n*cfg.Dim), to32(x), to32(ctx), make([]float32, n), make([]float32, l.WorkLen(n)))
			if got := l.madePasses() - before; got != int64(cfg.Dim) {
				t.Errorf("%s: float32 Forward counted %d MADE passes, want %d", name, got, cfg.Dim)
			}
		}
	}
}

// spline32Coarse is the index in spline32Splines of the 8-bin spline on
// [−3, 3], whose knots are the coarsest at float32 resolution: an ulp of
// B = 3 is 2.4e-7.
const spline32Coarse = 3

// TestSplineMAF32Knots documents the float32 gradient error of the one
// layer of TestSplineMAF32 that does not hold to 1e-3 for every draw: the
// residual MADE with a context on the 8-bin spline on [−3, 3], over 37
// rows. Its conditioner's logits are moderate (root mean square about
// 0.4): the spline is not steep, the error is that of the float32 scratch.
// The softmax probabilities and the knots are float32 values (each
// computed in float64 and rounded once), a knot off by up to half an ulp
// of B (2.4e-7 for B = 3) and a probability by half an ulp of itself, and
// an element of ∂L/∂θ, a sum over rows and positions of terms up to the
// largest gradient (about 24), moves by some tens of float32 ulps of the
// largest, more than the 1e-3 of the mixed measure allows an element near
// its floor (1e-3 of the largest). Rounding only the probabilities, or
// only the knots, of the float64 spline to float32 moves the float64
// gradient as much (1.1e-3 in a draw where float32 is off by 2e-3); the
// per-point arithmetic, float64 in both precisions, adds nothing
// measurable. Over these 100 draws the largest error is 2.7e-3, most draws
// are below 1e-3 (another stream of draws: 9.6e-4 at most); the bound is
// about twice the largest.
func TestSplineMAF32Knots(t *testing.T) {
	s := spline32Splines[spline32Coarse]
	cfg := AutoregressiveConfig{Dim: 5, Hidden: []int{20}, Activation: Tanh, ResidualBlocks: 1, ContextDim: 3, Spline: &s}
	l, p32 := newMAF32(t, cfg, 400+10*spline32Coarse+5)
	const n, draws = 37, 100
	worst := 0.0
	for rep := 0; rep < draws; rep++ {
		rnd := rand.New(rand.NewPCG(uint64(rep), 9))
		x, ctx, dz := randRows(n, cfg.Dim, rnd), randRows(n, cfg.ContextDim, rnd), randRows(n, cfg.Dim, rnd)
		dld := make([]float64, n)
		for i := range dld {
			dld[i] = -1
		}
		w64, w32 := make([]float64, l.WorkLen(n)), make([]float32, l.WorkLen(n))
		z64, ld64 := make([]float64, n*cfg.Dim), make([]float64, n)
		z32, ld32 := make([]float32, n*cfg.Dim), make([]float32, n)
		l.Inverse(z64, x, ctx, ld64, w64)
		l.inverse32(p32, z32, to32(x), to32(ctx), ld32, w32)
		dx64, dc64, g64 := make([]float64, n*cfg.Dim), make([]float64, n*cfg.ContextDim), make([]float64, l.NumParams())
		dx32, dc32, g32 := make([]float32, n*cfg.Dim), make([]float32, n*cfg.ContextDim), make([]float32, l.NumParams())
		l.InverseBackward(dx64, dc64, dz, dld, x, z64, ctx, w64, g64)
		l.inverseBackward32(p32, dx32, dc32, to32(dz), to32(dld), to32(x), z32, to32(ctx), w32, g32)
		worst = max(worst, mixedErr(to64(g32), g64))
	}
	t.Logf("largest float32 error of ∂L/∂θ over %d draws of %d rows: %.2e (mixed measure)", draws, n, worst)
	if worst > spline32KnotsBound {
		t.Errorf("float32 error of ∂L/∂θ %.2e, documented bound %.0e", worst, spline32KnotsBound)
	}
}

// mixedErr returns the largest error of got in mixedBad's measure: the
// smallest tol for which mixedBad(got, want, tol) < 0.
func mixedErr(got, want []float64) float64 {
	top := 0.0
	for _, w := range want {
		top = max(top, math.Abs(w))
	}
	e := 0.0
	for i, w := range want {
		e = max(e, math.Abs(got[i]-w)/max(math.Abs(w), 1e-3*top))
	}
	return e
}

const spline32KnotsBound = 5e-3

// TestSplineFlow32 checks whole spline flows in float32 against float64
// (checkFlow32: log p, the maximum-likelihood loss and gradient, the round
// trip and the conversion back): neural spline flows with coupling layers
// and with MAF layers, with a context and residual conditioners.
func TestSplineFlow32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 103))
	for _, cfg := range []NSFConfig{
		{Dim: 5, Layers: 3, Hidden: []int{24, 24}, Activation: ReLU, Seed: 1},
		{Dim: 4, Layers: 2, Hidden: []int{16}, Activation: Tanh, Bins: 5, Bound: 2, ContextDim: 2, Seed: 2},
		{Dim: 6, Layers: 2, Hidden: []int{16}, Activation: ReLU, Bins: 3, Bound: 1.5, ResidualBlocks: 1, Seed: 3},
	} {
		f, err := NewNSF(cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkFlow32(t, fmt.Sprintf("nsf D=%d/K=%d/C=%d/R=%d", cfg.Dim, cfg.Bins, cfg.ContextDim, cfg.ResidualBlocks), f, rnd)
	}
	for _, s := range []RQSpline{
		{Bins: 8, Bound: 3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3},
		{Bins: 4, Bound: 1.5, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3},
	} {
		for _, cfg := range []AutoregressiveFlowConfig{
			{Dim: 5, Layers: 3, Hidden: []int{24, 24}, Activation: ReLU, Seed: 1},
			{Dim: 4, Layers: 2, Hidden: []int{16}, Activation: Tanh, ContextDim: 3, RandomOrders: true, Seed: 2},
			{Dim: 3, Layers: 2, Hidden: []int{16}, Activation: ReLU, ResidualBlocks: 1, Seed: 3},
		} {
			cfg.Spline = &s
			f, err := NewMAFFlow(cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkFlow32(t, fmt.Sprintf("nsf-ar %s D=%d/C=%d/R=%d", spline32Name(s), cfg.Dim, cfg.ContextDim, cfg.ResidualBlocks), f, rnd)
		}
	}
}
