// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// The IAF has the float32 passes of layer32 and the backward pass through
// Forward, and, as in float64, none through Inverse.
var (
	_ layer32         = (*IAF)(nil)
	_ forwardGrader32 = (*IAF)(nil)
)

// newIAF32 returns the IAF layer of cfg with every parameter moved by up to
// ±0.3 and rounded to float32 (as newMAF32).
func newIAF32(t *testing.T, cfg AutoregressiveConfig, seed uint64) *IAF {
	t.Helper()
	cfg.Seed = seed
	l, err := NewIAF(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(seed, 32))
	p := l.Params()
	for i := range p {
		p[i] += 0.3 * (2*rnd.Float64() - 1)
	}
	round32(p)
	if why := l.why32(); why != "" {
		t.Fatalf("%s: why32 %q, want \"\"", maf32Name(cfg), why)
	}
	return l
}

// TestIAF32 compares the float32 passes of IAF layers with the float64
// ones on the same float32 parameters and inputs (checkLayer32): Forward
// (one pass) and Inverse (sequential) within 10⁻⁴ in the log-density
// measure, ForwardBackward's ∂L/∂z, ∂L/∂c and ∂L/∂θ within 10⁻³ in the
// mixed measure; and the MADE passes each direction counts, the same in
// both precisions (one for Forward, D for Inverse).
func TestIAF32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 201))
	for ci, cfg := range maf32Configs {
		l := newIAF32(t, cfg, uint64(500+ci))
		if _, ok := any(l).(inverseGrader32); ok {
			t.Fatal("an IAF layer is an inverseGrader32")
		}
		for _, n := range maf32Rows {
			checkLayer32(t, fmt.Sprintf("iaf %s,n=%d", maf32Name(cfg), n), l, n, rnd)
		}
		checkIAF32Passes(t, maf32Name(cfg), l, rnd)
	}
}

// checkIAF32Passes checks the MADE passes the float32 directions of l take:
// one for Forward, D for Inverse.
func checkIAF32Passes(t *testing.T, name string, l *IAF, rnd *rand.Rand) {
	t.Helper()
	const n = 5
	d, c := l.Dim(), l.ContextDim()
	p32 := to32(l.Params())
	z, ctx := to32(randRows(n, d, rnd)), to32(randRows(n, c, rnd))
	for _, dir := range []string{"Forward", "Inverse"} {
		before := l.madePasses()
		out, ld, work := make([]float32, n*d), make([]float32, n), make([]float32, l.WorkLen(n))
		want := int64(1)
		if dir == "Forward" {
			l.forward32(p32, out, z, ctx, ld, work)
		} else {
			l.inverse32(p32, out, z, ctx, ld, work)
			want = int64(d)
		}
		if got := l.madePasses() - before; got != want {
			t.Errorf("%s: float32 %s counted %d MADE passes, want %d", name, dir, got, want)
		}
	}
}

// TestSplineIAF32 is TestIAF32 for spline IAF layers: the splines of
// spline32Splines over plain and residual MADEs, with and without a
// context, on the configurations of TestSplineMAF32.
func TestSplineIAF32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 202))
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
			name := fmt.Sprintf("iaf %s/%s", spline32Name(s), maf32Name(cfg))
			l := newIAF32(t, cfg, uint64(600+10*si+ci))
			for _, n := range []int{1, 7, 37} {
				checkLayer32(t, fmt.Sprintf("%s/n=%d", name, n), l, n, rnd)
			}
			checkIAF32Passes(t, name, l, rnd)
		}
	}
}

// TestIAFFlow32 checks IAF flows in float32 against float64: log p, the
// round trip and the conversion back (checkFlow32 without the
// maximum-likelihood gradient, which an IAF has in neither precision), and
// sampling from the float64 flow's draws.
func TestIAFFlow32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 203))
	spl := RQSpline{Bins: 5, Bound: 2, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	for _, cfg := range []AutoregressiveFlowConfig{
		{Dim: 5, Layers: 3, Hidden: []int{32, 32}, Activation: ReLU, Seed: 1},
		{Dim: 4, Layers: 2, Hidden: []int{24}, Activation: Tanh, Clamp: 2, ContextDim: 3, RandomOrders: true, Seed: 2},
		{Dim: 3, Layers: 2, Hidden: []int{16}, Activation: ReLU, ResidualBlocks: 1, Seed: 3},
		{Dim: 4, Layers: 2, Hidden: []int{16}, Activation: Tanh, Spline: &spl, ContextDim: 2, Seed: 4},
	} {
		f, err := NewIAFFlow(cfg)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("iaf D=%d/%v/C=%d/R=%d/spline %v", cfg.Dim, cfg.Activation, cfg.ContextDim, cfg.ResidualBlocks, cfg.Spline != nil)
		perturb(f.Params(), 0.3, rnd)
		g, err := f.Float32()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		D, C := f.Dim(), f.ContextDim()
		n := 300
		x := mat.NewDense(n, D, randRows(n, D, rnd))
		var c mat.Matrix
		if C > 0 {
			c = mat.NewDense(n, C, randRows(n, C, rnd))
		}
		lp64, lp32 := f.LogProbGiven(nil, x, c), g.LogProbGiven(nil, x, c)
		if i := logpBad(lp32, lp64, 1e-4); i >= 0 {
			t.Errorf("%s: log p row %d: float32 %v, float64 %v", name, i, lp32[i], lp64[i])
		}
		var xf, zb mat.Dense
		ldf, ldi := make([]float64, n), make([]float64, n)
		z := mat.NewDense(n, D, randRows(n, D, rnd))
		g.Forward(&xf, z, c, ldf)
		g.Inverse(&zb, &xf, c, ldi)
		if i := logpBad(zb.RawMatrix().Data, z.RawMatrix().Data, 1e-5); i >= 0 {
			t.Errorf("%s: round trip value %d: %v, want %v", name, i, zb.RawMatrix().Data[i], z.RawMatrix().Data[i])
		}
		for i := range ldi {
			ldi[i] = -ldi[i]
		}
		if i := logpBad(ldi, ldf, 1e-5); i >= 0 {
			t.Errorf("%s: round trip log-det row %d: −inverse %v, forward %v", name, i, ldi[i], ldf[i])
		}
		s64, s32 := mat.NewDense(n, D, nil), mat.NewDense(n, D, nil)
		lq64, lq32 := make([]float64, n), make([]float64, n)
		f.SampleGiven(s64, lq64, c, rand.New(rand.NewPCG(5, 5)))
		g.SampleGiven(s32, lq32, c, rand.New(rand.NewPCG(5, 5)))
		if i := logpBad(s32.RawMatrix().Data, s64.RawMatrix().Data, 1e-4); i >= 0 {
			t.Errorf("%s: sample value %d: float32 %v, float64 %v", name, i, s32.RawMatrix().Data[i], s64.RawMatrix().Data[i])
		}
		if i := logpBad(lq32, lq64, 1e-4); i >= 0 {
			t.Errorf("%s: log q row %d: float32 %v, float64 %v", name, i, lq32[i], lq64[i])
		}
		h, err := g.Float64()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range h.Params() {
			if v != f.Params()[i] {
				t.Fatalf("%s: Float64 parameter %d is %v, want %v", name, i, v, f.Params()[i])
			}
		}
	}
}

// TestIAF32Refuses: an IAF has no backward pass through Inverse in either
// precision, so maximum likelihood in float32 refuses a flow with one:
// NewMaxLikelihood32 panics naming the layer, and Fit in float32 returns
// that as an error and hands the flow back as it came. Reverse KL, which
// needs the backward pass through Forward, refuses a MAF flow the same way.
func TestIAF32Refuses(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 204))
	iaf, err := NewIAFFlow(AutoregressiveFlowConfig{Dim: 2, Layers: 2, Hidden: []int{8}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	maf, err := NewMAFFlow(AutoregressiveFlowConfig{Dim: 2, Layers: 2, Hidden: []int{8}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*Flow{iaf, maf} {
		perturb(f.Params(), 0.3, rnd)
		f.Params()[0] = 0.1 // not a float32 value: a refused run must not round it
	}
	g, err := iaf.Float32()
	if err != nil {
		t.Fatal(err)
	}
	const wantIAF = "layer 0 (*flow.IAF) cannot backpropagate through Inverse"
	if msg := panicMessage(func() { NewMaxLikelihood32(g, 0, 0) }); !strings.Contains(msg, "flow: NewMaxLikelihood32: "+wantIAF) {
		t.Errorf("NewMaxLikelihood32 of an IAF flow: panic %q", msg)
	}
	p0 := append([]float64(nil), iaf.Params()...)
	data := TwoMoons(200, 0.1, rnd)
	if _, err := Fit(iaf, data, TrainConfig{Epochs: 1, Precision: Float32}); err == nil || !strings.Contains(err.Error(), "flow: Fit: precision f32: "+wantIAF) {
		t.Errorf("Fit in float32 of an IAF flow: error %v", err)
	}
	checkUnchanged(t, "Fit of an IAF flow", iaf, p0)

	g, err = maf.Float32()
	if err != nil {
		t.Fatal(err)
	}
	const wantMAF = "layer 0 (*flow.MAF) cannot backpropagate through Forward"
	if msg := panicMessage(func() { NewReverseKL32(g, banana, 0, 0) }); !strings.Contains(msg, "flow: NewReverseKL32: "+wantMAF) {
		t.Errorf("NewReverseKL32 of a MAF flow: panic %q", msg)
	}
	p0 = append([]float64(nil), maf.Params()...)
	if _, err := FitReverseKL(context.Background(), maf, banana, TrainConfig{Epochs: 1, StepsPerEpoch: 2, Precision: Float32}); err == nil || !strings.Contains(err.Error(), "flow: FitReverseKL: precision f32: "+wantMAF) {
		t.Errorf("FitReverseKL in float32 of a MAF flow: error %v", err)
	}
	checkUnchanged(t, "FitReverseKL of a MAF flow", maf, p0)
}

// checkUnchanged fails unless f's parameters are p0, bit for bit.
func checkUnchanged(t *testing.T, name string, f *Flow, p0 []float64) {
	t.Helper()
	for i, v := range f.Params() {
		if v != p0[i] {
			t.Fatalf("%s: parameter %d is %v after the refusal, was %v", name, i, v, p0[i])
		}
	}
}

// TestInverted32 checks inverted layers' float32 passes against their
// float64 ones (checkLayer32): an inverted IAF backpropagates through
// Inverse (its IAF's Forward) and an inverted MAF through Forward, in both
// precisions; inverted couplings, ActNorm and LULinear through both. A
// flow of inverted IAF layers then trains by maximum likelihood in float32
// (checkFlow32, and Fit), and Float32 refuses an inverted layer without a
// float32 path, or an inverted ActNorm not initialised, naming it.
func TestInverted32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 205))
	spl := RQSpline{Bins: 4, Bound: 2, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	var layers []Layer
	for ci, cfg := range []AutoregressiveConfig{maf32Configs[1], maf32Configs[4], maf32Configs[8], {Dim: 3, Hidden: []int{16}, Activation: ReLU, Spline: &spl, ContextDim: 1}} {
		layers = append(layers, newIAF32(t, cfg, uint64(700+ci)))
		m, _ := newMAF32(t, cfg, uint64(710+ci))
		layers = append(layers, m)
	}
	a := ftActNorm(t, 4)
	if _, err := InitActNorm(ftFlow(t, a), mat.NewDense(50, 4, randRows(50, 4, rnd)), nil); err != nil {
		t.Fatal(err)
	}
	lu := ftLU(t, luConfig(5, 3))
	perturb(lu.Params(), 0.3, rnd)
	cp := ftCoupling(t, CouplingConfig{Mask: HalfMask(5, false), Hidden: []int{16}, Activation: Tanh, ContextDim: 2})
	perturb(cp.Params(), 0.3, rnd)
	layers = append(layers, a, lu, cp)
	for _, l := range layers {
		v := Invert(l)
		if why := v.why32(); why != "" {
			t.Fatalf("Invert(%T): why32 %q", l, why)
		}
		for _, n := range []int{1, 7, 37} {
			checkLayer32(t, fmt.Sprintf("inverted %T D=%d C=%d n=%d", l, l.Dim(), l.ContextDim(), n), v, n, rnd)
		}
	}
	_, isIAF := any(layers[0]).(*IAF)
	if !isIAF || !hasBackward(Invert(layers[0]), false, true) || hasBackward(Invert(layers[0]), true, true) ||
		!hasBackward(Invert(layers[1]), true, true) || hasBackward(Invert(layers[1]), false, true) {
		t.Error("hasBackward: an inverted IAF must backpropagate through Inverse alone, an inverted MAF through Forward alone")
	}

	// Flows of inverted IAF layers, trained by maximum likelihood.
	for _, cfg := range []AutoregressiveFlowConfig{
		{Dim: 4, Layers: 3, Hidden: []int{24}, Activation: ReLU, Seed: 1},
		{Dim: 3, Layers: 2, Hidden: []int{16}, Activation: Tanh, Clamp: 2, ContextDim: 2, ResidualBlocks: 1, Seed: 2},
	} {
		iaf, err := NewIAFFlow(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var inv []Layer
		for _, l := range iaf.Layers() {
			inv = append(inv, Invert(l))
		}
		checkFlow32(t, fmt.Sprintf("inverted iaf D=%d C=%d", cfg.Dim, cfg.ContextDim), ftFlow(t, inv...), rnd)
	}
	iaf, err := NewIAFFlow(AutoregressiveFlowConfig{Dim: 2, Layers: 2, Hidden: []int{16}, Activation: Tanh, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	f := ftFlow(t, Invert(iaf.Layers()[0]), Invert(iaf.Layers()[1]))
	if _, err := Fit(f, TwoMoons(300, 0.1, rnd), TrainConfig{Epochs: 2, BatchSize: 64, Precision: Float32}); err != nil {
		t.Errorf("Fit in float32 of inverted IAF layers: %v", err)
	}

	for _, tc := range []struct {
		l    Layer
		want string
	}{
		{Invert(&trapScale{d: 3, p: []float64{0}, limit: 10}), "flow: Flow.Float32: layer 1: the inverted layer *flow.trapScale has no float32 path"},
		{Invert(ftActNorm(t, 3)), "flow: Flow.Float32: layer 1: the inverted layer: ActNorm is not initialised"},
	} {
		if _, err := ftFlow(t, ftLU(t, luConfig(3, 1)), tc.l).Float32(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Float32: error %v, want %q", err, tc.want)
		}
	}
}
