// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// The spline has the float32 row methods of a coupling function.
var _ couplingFuncT[float32] = rqsplineOf[float32]{}

// spline32Splines are the splines of the float32 tests: one bin, a few and
// many, bounds that leave most standard normal inputs in the tails (0.6),
// some (1.3) and few (2.2, 3), none of them but 3 a float32 value, and
// unequal minimum bin widths, heights and derivatives.
//
// The float32 spline is the float64 spline up to the rounding of its
// results (TestRQSpline32Wide, steep logits included): its scratch holds
// the knots and probabilities above float32 precision. What is left is the
// rounding of the float32 values it is given and gives: the inverse's
// output z, at which InverseBackward evaluates, and in a layer the
// conditioner's output θ. A spline's gradients are sensitive to both, the
// more the steeper it is (rounding the float64 inverse's z to float32
// moves its gradients by up to 4e-5 in the mixed measure for logits of
// standard deviation 0.5, 2e-3 for 2), so the layer tests use moderate
// logits (conditioners perturbed by ±0.3).
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

// TestRQSpline32Wide checks that the float32 row methods of RQSpline are
// the float64 ones up to the rounding of their results to float32: the
// spline's scratch (the softmaxes' exponentials, the probabilities and the
// knots) is held above float32 precision and its per-point arithmetic is
// float64's. Over the splines of spline32Splines with moderate and steep
// logits (standard deviations 0.5 and 2), ForwardBackward's gradients
// agree with float64's on the same inputs, and InverseBackward's with
// float64's at the float32 Inverse's output (the point the float32
// backward is given), to 1e-6 in the mixed measure (6e-8 measured, the
// rounding of the gradients; with the knots and probabilities stored as
// float32 values, 1.2e-4), and the outputs and log-dets to 1e-6·(|v| + 1).
// The inputs include ±B rounded to the nearest float32, which is a tail in
// both precisions where it lies outside [−B, B].
// Against the float64 Inverse's own output the float32 InverseBackward is
// as far off as the float64 one at the rounded output (up to 2e-3 for the
// steep logits): that limit is the output's float32 rounding, not the
// spline's (TestRQSpline32Rows).
func TestRQSpline32Wide(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 104))
	var worst [2]float64
	for _, s := range spline32Splines {
		h32 := couplingFuncOf[float32](s)
		for _, sd := range []float64{0.5, 2} {
			for _, nb := range []int{1, 3, 6} {
				name := fmt.Sprintf("%s,nb=%d,sd=%v", spline32Name(s), nb, sd)
				tmp64, tmp32 := make([]float64, s.tmpLen(nb)), make([]float32, s.tmpLen(nb))
				var got, want [2][]float64
				var out32, out64 [2][]float64
				for rep := 0; rep < 30; rep++ {
					theta := make([]float64, s.ParamsPerDim()*nb)
					for i := range theta {
						theta[i] = sd * rnd.NormFloat64()
					}
					round32(theta)
					in := make([]float64, nb)
					for i := range in {
						in[i] = 1.2 * s.Bound * rnd.NormFloat64()
					}
					round32(in)
					if rep < 2 {
						// ±B rounded to the nearest float32: outside
						// [−B, B] (a tail) in both precisions where it
						// rounds away from 0 (B = 0.6, 2.2).
						in[0] = float64(float32(s.Bound)) * float64(1-2*rep)
					}
					g := randRows(1, nb, rnd)
					dld := float64(float32(rnd.NormFloat64()))
					th32, in32, g32 := to32(theta), to32(in), to32(g)
					for k := range got {
						o64, o32 := make([]float64, nb), make([]float32, nb)
						d64, dth64 := make([]float64, nb), make([]float64, len(theta))
						d32, dth32 := make([]float32, nb), make([]float32, len(theta))
						var ld64 float64
						var ld32 float32
						if k == 0 {
							ld64 = s.Forward(o64, in, theta, tmp64)
							ld32 = h32.Forward(o32, in32, th32, tmp32)
							s.ForwardBackward(d64, dth64, g, dld, in, o64, theta, tmp64)
							h32.ForwardBackward(d32, dth32, g32, float32(dld), in32, o32, th32, tmp32)
						} else {
							ld64 = s.Inverse(o64, in, theta, tmp64)
							ld32 = h32.Inverse(o32, in32, th32, tmp32)
							s.InverseBackward(d64, dth64, g, dld, in, to64(o32), theta, tmp64)
							h32.InverseBackward(d32, dth32, g32, float32(dld), in32, o32, th32, tmp32)
						}
						got[k], want[k] = append(append(got[k], to64(d32)...), to64(dth32)...), append(append(want[k], d64...), dth64...)
						out32[k], out64[k] = append(append(out32[k], to64(o32)...), float64(ld32)), append(append(out64[k], o64...), ld64)
					}
				}
				for k, dir := range []string{"Forward", "Inverse"} {
					worst[k] = max(worst[k], mixedErr(got[k], want[k]))
					if i := mixedBad(got[k], want[k], 1e-6); i >= 0 {
						t.Errorf("%s: %sBackward: gradient %d: float32 %v, float64 %v (mixed error %.2e)", name, dir, i, got[k][i], want[k][i], mixedErr(got[k], want[k]))
					}
					if i := logpBad(out32[k], out64[k], 1e-6); i >= 0 {
						t.Errorf("%s: %s: output or log-det %d: float32 %v, float64 %v", name, dir, i, out32[k][i], out64[k][i])
					}
				}
			}
		}
	}
	t.Logf("largest float32 gradient errors (mixed measure): ForwardBackward %.2e, InverseBackward %.2e", worst[0], worst[1])
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
				// Its gradients over 37 rows are as accurate as its
				// conditioner's float32 output allows, not always to
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

// TestSplineMAF32Knots measures the float32 gradient error of the one
// layer of TestSplineMAF32 that does not hold to 1e-3 for every draw: the
// residual MADE with a context on the 8-bin spline on [−3, 3], over 37
// rows, 100 draws. Its conditioner's logits are moderate (root mean square
// about 0.4): the spline is not steep.
//
// The spline's own scratch is not the limit: the softmaxes' exponentials,
// the probabilities and the knots are held above float32 precision (pairs
// of float32, rqKnots), and the float32 layer agrees with a float64
// reference fed with the float32 pass's conditioner output θ and layer
// output z (splineMAFRef: the float64 spline pass and MADE backward at the
// point the float32 pass computed) to 1.6e-4 at most, the float32 MADE's
// backward; with the knots and probabilities stored as float32 values it
// was 6.6e-4, the bound below, 4e-4, is between.
//
// The limit is the conditioner's output itself, a float32 value: against
// the float64 layer the worst draw is 2.3e-3 off (an entry near the floor
// of the mixed measure, 1e-3 of the largest gradient, about 24), as much as
// the float64 layer's gradient moves when it is fed the float32 MADE's θ
// (2.3e-3; θ is within 3 float32 ulps of the largest |θ|, 1.9, of the
// float64 MADE's), and rounding the float64 MADE's θ to float32 alone
// moves it by 8.5e-4, the float32 z read by the backward by 5.7e-4. No
// float32 storage of θ and z gets this layer under 1e-3 with a margin;
// spline32KnotsBound is about twice the largest.
func TestSplineMAF32Knots(t *testing.T) {
	s := spline32Splines[spline32Coarse]
	cfg := AutoregressiveConfig{Dim: 5, Hidden: []int{20}, Activation: Tanh, ResidualBlocks: 1, ContextDim: 3, Spline: &s}
	l, p32 := newMAF32(t, cfg, 400+10*spline32Coarse+5)
	const n, draws = 37, 100
	worst, worstRef := 0.0, 0.0
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
		ref := splineMAFRef(l, w32, x, ctx, dz, dld)
		dx64, dc64, g64 := make([]float64, n*cfg.Dim), make([]float64, n*cfg.ContextDim), make([]float64, l.NumParams())
		dx32, dc32, g32 := make([]float32, n*cfg.Dim), make([]float32, n*cfg.ContextDim), make([]float32, l.NumParams())
		l.InverseBackward(dx64, dc64, dz, dld, x, z64, ctx, w64, g64)
		l.inverseBackward32(p32, dx32, dc32, to32(dz), to32(dld), to32(x), z32, to32(ctx), w32, g32)
		worst = max(worst, mixedErr(to64(g32), g64))
		worstRef = max(worstRef, mixedErr(to64(g32), ref))
	}
	t.Logf("largest float32 error of ∂L/∂θ over %d draws of %d rows: %.2e against the float64 layer, %.2e against it at the float32 θ and z (mixed measure)", draws, n, worst, worstRef)
	if worst > spline32KnotsBound {
		t.Errorf("float32 error of ∂L/∂θ %.2e, documented bound %.0e", worst, spline32KnotsBound)
	}
	if worstRef > spline32RefBound {
		t.Errorf("float32 error of ∂L/∂θ at the float32 conditioner's output %.2e, want at most %.0e", worstRef, spline32RefBound)
	}
}

// splineMAFRef returns the float64 gradient ∂L/∂θ of the spline MAF layer
// l's InverseBackward at the point its float32 Inverse computed, whose
// work is w32: the float64 MADE's pass on the rows x and ctx, its output θ
// replaced by the float32 pass's (widened), the spline pass in float64 on
// it and its output replaced by the float32 pass's, then the float64
// spline backward and MADE backward.
func splineMAFRef(l *MAF, w32 []float32, x, ctx, dz, dld []float64) []float64 {
	a, n := &l.arLayer, len(dld)
	work := make([]float64, l.WorkLen(n))
	l.Inverse(make([]float64, len(x)), x, ctx, make([]float64, n), work)
	w, v := arSplit(a, work, n), arSplit(a, w32, n)
	o := madeOutput(a.made, w.mw, n)
	copy(o, to64(madeOutput(a.made, v.mw, n)))
	arSplinePass(a, w, o, make([]float64, n), false)
	copy(w.out, to64(v.out))
	arSplinePassBackward(a, w, o, make([]float64, len(x)), dz, dld, false)
	g := make([]float64, l.NumParams())
	madeBackward(a.made, a.made.params, w.in, n, w.mw, w.dout, g, w.din, dropout{})
	return g
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

// spline32KnotsBound and spline32RefBound are TestSplineMAF32Knots's
// bounds: against the float64 layer, and against it at the float32 pass's
// conditioner output and layer output.
const (
	spline32KnotsBound = 5e-3
	spline32RefBound   = 4e-4
)

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

// TestSplineFlow32Workers checks, for spline flows, what TestFlow32Workers
// checks for affine ones: the float32 objective's loss and gradient are
// bit-identical for 1, 2, 3 and 8 goroutines, and a training step and
// LogProb allocate nothing once warm. The spline's float64 exponentials
// (expPairs) run on a buffer on the stack.
func TestSplineFlow32Workers(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 105))
	nsf, err := NewNSF(NSFConfig{Dim: 5, Layers: 2, Hidden: []int{24}, Activation: ReLU, ContextDim: 2, ResidualBlocks: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := RQSpline{Bins: 8, Bound: 3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	maf, err := NewMAFFlow(AutoregressiveFlowConfig{Dim: 5, Layers: 2, Hidden: []int{24}, Activation: Tanh, ContextDim: 2, ResidualBlocks: 1, Spline: &s, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]*Flow{"nsf": nsf, "nsf-ar": maf} {
		perturb(f.Params(), 0.3, rnd)
		g, err := f.Float32()
		if err != nil {
			t.Fatal(err)
		}
		n := 1000 // 8 shards of 128, the last partial
		x := mat.NewDense(n, 5, randRows(n, 5, rnd))
		c := mat.NewDense(n, 2, randRows(n, 2, rnd))
		var wantLoss float64
		var want []float32
		for _, w := range []int{1, 2, 3, 8} {
			grad := make([]float32, g.NumParams())
			loss := NewMaxLikelihood32(g, w, 0).LossGradGiven(grad, x, c)
			if want == nil {
				wantLoss, want = loss, grad
				continue
			}
			if loss != wantLoss {
				t.Errorf("%s: workers %d: loss %v, with 1 worker %v", name, w, loss, wantLoss)
			}
			for i := range grad {
				if math.Float32bits(grad[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s: workers %d: gradient %d is %v, with 1 worker %v", name, w, i, grad[i], want[i])
				}
			}
		}
		obj := NewMaxLikelihood32(g, 0, 0)
		lp := make([]float64, n)
		checkAllocs32(t, name, g, func(grad []float32) { obj.LossGradGiven(grad, x, c) }, func() { g.LogProbGiven(lp, x, c) })
	}
}
