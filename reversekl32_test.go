// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow/internal/golden"
)

// The layers with a float64 ForwardBackward and a float32 path have the
// float32 ForwardBackward too.
var (
	_ forwardGrader32 = (*Coupling)(nil)
	_ forwardGrader32 = (*Permutation)(nil)
	_ forwardGrader32 = (*ActNorm)(nil)
	_ forwardGrader32 = (*LULinear)(nil)
	_ forwardGrader32 = (*Standardize)(nil)
)

// checkForwardBackward32 compares a layer's float32 ForwardBackward with
// its float64 one after the same Forward on the same (float32) parameters
// and inputs, for n rows, random ∂L/∂x and random ∂L/∂logdet: ∂L/∂z, ∂L/∂c
// and ∂L/∂θ to 1e-3 in the mixed measure. A layer must have both passes
// or neither. (checkLayer32 calls it.)
func checkForwardBackward32(t *testing.T, name string, l layer32, n int, rnd *rand.Rand) {
	t.Helper()
	ok, ok32 := hasBackward(l, true, false), hasBackward(l, true, true)
	if ok != ok32 {
		t.Errorf("%s: backward through Forward in float64 %v, in float32 %v", name, ok, ok32)
	}
	if !ok || !ok32 {
		return
	}
	fg, fg32 := l.(ForwardGrader), l.(forwardGrader32)
	d, c, np := l.Dim(), l.ContextDim(), l.NumParams()
	p32 := to32(l.Params())
	z := randRows(n, d, rnd)
	var ctx64, dc64 []float64
	var ctx32, dc32 []float32
	if c > 0 {
		ctx64 = randRows(n, c, rnd)
		ctx32 = to32(ctx64)
		dc64, dc32 = make([]float64, n*c), make([]float32, n*c)
	}
	w64, w32 := make([]float64, l.WorkLen(n)), make([]float32, l.WorkLen(n))
	x64, x32 := make([]float64, n*d), make([]float32, n*d)
	l.Forward(x64, z, ctx64, make([]float64, n), w64)
	l.forward32(p32, x32, to32(z), ctx32, make([]float32, n), w32)
	dx, dld := randRows(n, d, rnd), randRows(n, 1, rnd)
	dz64, g64 := make([]float64, n*d), make([]float64, np)
	dz32, g32 := make([]float32, n*d), make([]float32, np)
	fg.ForwardBackward(dz64, dc64, dx, dld, z, x64, ctx64, w64, g64)
	fg32.forwardBackward32(p32, dz32, dc32, to32(dx), to32(dld), to32(z), x32, ctx32, w32, g32)
	if i := mixedBad(to64(dz32), dz64, 1e-3); i >= 0 {
		t.Errorf("%s: ForwardBackward ∂L/∂z %d: float32 %v, float64 %v", name, i, dz32[i], dz64[i])
	}
	if i := mixedBad(to64(g32), g64, 1e-3); i >= 0 {
		t.Errorf("%s: ForwardBackward ∂L/∂θ %d of %d: float32 %v, float64 %v", name, i, np, g32[i], g64[i])
	}
	if c > 0 {
		if i := mixedBad(to64(dc32), dc64, 1e-3); i >= 0 {
			t.Errorf("%s: ForwardBackward ∂L/∂c %d: float32 %v, float64 %v", name, i, dc32[i], dc64[i])
		}
	}
}

// kl32Flows returns the flows of the reverse-KL comparisons, their
// parameters perturbed and rounded to float32: affine, additive and spline
// couplings with permutations, Standardize and a Glow step (ActNorm,
// LULinear), affine and spline IAF flows, and a conditional IAF, a
// conditional coupling flow and a conditional flow of inverted MAF layers
// (with contexts, C > 0); and over the trainable bases: a coupling flow and
// an IAF flow over a DiagGaussianBase, and flows over a
// ConditionalGaussianBase under conditional coupling layers and under
// unconditional ones (baseFlow32's "cond" and "cond-only").
func kl32Flows(t *testing.T, rnd *rand.Rand) map[string]*Flow {
	t.Helper()
	must := func(f *Flow, err error) *Flow {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	spl := RQSpline{Bins: 5, Bound: 2, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	flows := map[string]*Flow{
		"realnvp":      must(NewRealNVP(RealNVPConfig{Dim: 5, Layers: 4, Hidden: []int{32, 32}, Activation: ReLU, Clamp: 2, Seed: 1})),
		"nice":         must(NewRealNVP(RealNVPConfig{Dim: 4, Layers: 3, Hidden: []int{16}, Activation: Tanh, Additive: true, ResidualBlocks: 1, Seed: 2})),
		"nsf":          must(NewNSF(NSFConfig{Dim: 4, Layers: 2, Hidden: []int{16}, Activation: ReLU, Bins: 4, Bound: 2, Seed: 3})),
		"iaf":          must(NewIAFFlow(AutoregressiveFlowConfig{Dim: 5, Layers: 3, Hidden: []int{32}, Activation: ReLU, Clamp: 2, Seed: 4})),
		"iaf-residual": must(NewIAFFlow(AutoregressiveFlowConfig{Dim: 4, Layers: 2, Hidden: []int{24}, Activation: Tanh, ResidualBlocks: 2, RandomOrders: true, Seed: 5})),
		"iaf-spline":   must(NewIAFFlow(AutoregressiveFlowConfig{Dim: 3, Layers: 2, Hidden: []int{16}, Activation: ReLU, Spline: &spl, Seed: 6})),
		"iaf-context":  must(NewIAFFlow(AutoregressiveFlowConfig{Dim: 4, Layers: 2, Hidden: []int{24}, Activation: Tanh, ContextDim: 2, Seed: 7})),
		"nvp-context":  must(NewRealNVP(RealNVPConfig{Dim: 4, Layers: 2, Hidden: []int{16}, Activation: ReLU, ContextDim: 3, Seed: 8})),
	}
	maf := must(NewMAFFlow(AutoregressiveFlowConfig{Dim: 4, Layers: 2, Hidden: []int{24}, Activation: ReLU, ContextDim: 1, Seed: 10}))
	var inv []Layer
	for _, l := range maf.Layers() {
		inv = append(inv, Invert(l))
	}
	flows["inverted-maf-context"] = ftFlow(t, inv...)
	flows["diag"] = baseFlow32(t, "diag")
	flows["cond"] = baseFlow32(t, "cond")
	flows["cond-only"] = baseFlow32(t, "cond-only")
	flows["iaf-diag"] = iafOver(t, func() (Base, error) { return NewDiagGaussianBase(4) },
		AutoregressiveFlowConfig{Dim: 4, Layers: 2, Hidden: []int{24}, Activation: Tanh, Seed: 11})
	for _, f := range flows {
		perturb(f.Params(), 0.3, rnd)
	}
	// A Glow step and a standardisation: ActNorm, LULinear, an affine
	// coupling, a permutation and Standardize, the ActNorm initialised on
	// the standardised data's scale (normal rows).
	a := ftActNorm(t, 4)
	lu := ftLU(t, luConfig(4, 9))
	cp := ftCoupling(t, CouplingConfig{Mask: HalfMask(4, false), Hidden: []int{16}, Activation: ReLU, Seed: 9})
	rev, err := NewReverse(4)
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewStandardize([]float64{2, -1, 0.5, 3}, []float64{1.5, 0.25, 2, 0.75})
	if err != nil {
		t.Fatal(err)
	}
	glow := ftFlow(t, a, lu, cp, rev, st)
	perturb(glow.Params(), 0.3, rnd)
	if _, err := InitActNorm(glow, mat.NewDense(300, 4, randRows(300, 4, rnd)), nil); err != nil {
		t.Fatal(err)
	}
	round32(glow.Params())
	flows["glow"] = glow
	return flows
}

// iafOver returns the IAF flow of cfg over the base that mk makes.
func iafOver(t *testing.T, mk func() (Base, error), cfg AutoregressiveFlowConfig) *Flow {
	t.Helper()
	b, err := mk()
	if err != nil {
		t.Fatal(err)
	}
	iaf, err := NewIAFFlow(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewWithBase(b, iaf.Layers()...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// bananaShift is the conditional target of the golden vectors.
var bananaShift ConditionalTarget = golden.BananaShift

// TestReverseKL32 checks ReverseKL32 against ReverseKL on the same
// parameters and the same draws (float32 values): the loss to
// 1e-4·(|loss| + 1) and each layer's gradient to 1e-3 in the mixed
// measure, for every layer type with a float32 ForwardBackward, and each
// parameter array of a trainable base (baseArrays), with the banana target
// and, for the conditional flows, the shifted banana given the contexts.
func TestReverseKL32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 301))
	for name, f := range kl32Flows(t, rnd) {
		g, err := f.Float32()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		D, C := f.Dim(), f.ContextDim()
		n := 300 // three shards of 128, the last partial
		z := mat.NewDense(n, D, randRows(n, D, rnd))
		var c mat.Matrix
		var k64 *ReverseKL
		var k32 *ReverseKL32
		if C > 0 {
			c = mat.NewDense(n, C, randRows(n, C, rnd))
			k64, k32 = NewReverseKLGiven(f, bananaShift, 0, 0), NewReverseKLGiven32(g, bananaShift, 0, 0)
		} else {
			k64, k32 = NewReverseKL(f, banana, 0, 0), NewReverseKL32(g, banana, 0, 0)
		}
		grad64, grad32 := make([]float64, f.NumParams()), make([]float32, g.NumParams())
		loss64 := k64.LossGradGiven(grad64, z, c)
		loss32 := k32.LossGradGiven(grad32, z, c)
		if logpBad([]float64{loss32}, []float64{loss64}, 1e-4) >= 0 {
			t.Errorf("%s: loss: float32 %v, float64 %v", name, loss32, loss64)
		}
		worst := 0.0
		for l := range f.Layers() {
			lo, hi := f.ParamRange(l)
			if i := mixedBad(to64(grad32[lo:hi]), grad64[lo:hi], 1e-3); i >= 0 {
				t.Errorf("%s: layer %d gradient %d: float32 %v, float64 %v", name, l, i, grad32[lo+i], grad64[lo+i])
			}
			if hi > lo {
				worst = max(worst, mixedErr(to64(grad32[lo:hi]), grad64[lo:hi]))
			}
		}
		for _, a := range baseArrays(f) {
			if i := mixedBad(to64(grad32[a.lo:a.hi]), grad64[a.lo:a.hi], 1e-3); i >= 0 {
				t.Errorf("%s: base %s gradient %d: float32 %v, float64 %v", name, a.name, i, grad32[a.lo+i], grad64[a.lo+i])
			}
			if allZero32(grad32[a.lo:a.hi]) {
				t.Errorf("%s: base %s gradient is zero in float32", name, a.name)
			}
			worst = max(worst, mixedErr(to64(grad32[a.lo:a.hi]), grad64[a.lo:a.hi]))
		}
		t.Logf("%s: loss float32 %.6f, float64 %.6f; largest gradient error %.2e (mixed measure)", name, loss32, loss64, worst)
	}
}

// TestReverseKL32Workers checks that ReverseKL32's loss and gradient are
// bit-identical for 1, 2, 3 and 8 goroutines and on a second call, and that
// a step of it and of Adam32, and LogProb (sequential for the IAF),
// allocate nothing, for a coupling flow, a conditional IAF flow, an IAF
// flow over a DiagGaussianBase and a coupling flow over a
// ConditionalGaussianBase (whose base gradient must not be zero).
func TestReverseKL32Workers(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 302))
	rnvp, err := NewRealNVP(RealNVPConfig{Dim: 6, Layers: 4, Hidden: []int{48, 48}, Activation: ReLU})
	if err != nil {
		t.Fatal(err)
	}
	iaf, err := NewIAFFlow(AutoregressiveFlowConfig{Dim: 6, Layers: 2, Hidden: []int{48}, Activation: Tanh, ContextDim: 2})
	if err != nil {
		t.Fatal(err)
	}
	iafDiag := iafOver(t, func() (Base, error) { return NewDiagGaussianBase(6) },
		AutoregressiveFlowConfig{Dim: 6, Layers: 2, Hidden: []int{48}, Activation: ReLU, Seed: 3})
	nvp, err := NewRealNVP(RealNVPConfig{Dim: 6, Layers: 2, Hidden: []int{32}, Activation: Tanh, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := NewConditionalGaussianBase(ConditionalGaussianBaseConfig{Dim: 6, ContextDim: 2, Hidden: []int{16}, Activation: Tanh, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	nvpCond, err := NewWithBase(cb, nvp.Layers()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*Flow{rnvp, iaf, iafDiag, nvpCond} {
		perturb(f.Params(), 0.3, rnd)
		g, err := f.Float32()
		if err != nil {
			t.Fatal(err)
		}
		n := 1000 // 8 shards of 128, the last partial
		z := mat.NewDense(n, 6, randRows(n, 6, rnd))
		var c mat.Matrix
		obj := func(w int) *ReverseKL32 { return NewReverseKL32(g, banana, w, 0) }
		if f.ContextDim() > 0 {
			c = mat.NewDense(n, 2, randRows(n, 2, rnd))
			obj = func(w int) *ReverseKL32 { return NewReverseKLGiven32(g, bananaShift, w, 0) }
		}
		var wantLoss float64
		var want []float32
		for _, w := range []int{1, 2, 3, 8} {
			grad := make([]float32, g.NumParams())
			k := obj(w)
			loss := k.LossGradGiven(grad, z, c)
			first := append([]float32(nil), grad...)
			if loss2 := k.LossGradGiven(grad, z, c); loss2 != loss {
				t.Fatalf("workers %d: a second call's loss %v, the first's %v", w, loss2, loss)
			}
			for i := range grad {
				if math.Float32bits(grad[i]) != math.Float32bits(first[i]) {
					t.Fatalf("workers %d: a second call's gradient %d is %v, the first's %v", w, i, grad[i], first[i])
				}
			}
			if lo, hi := f.BaseParamRange(); hi > lo && allZero32(grad[lo:hi]) {
				t.Fatalf("workers %d: the base's gradient is zero", w)
			}
			if want == nil {
				wantLoss, want = loss, grad
				continue
			}
			if loss != wantLoss {
				t.Errorf("workers %d: loss %v, with 1 worker %v", w, loss, wantLoss)
			}
			for i := range grad {
				if math.Float32bits(grad[i]) != math.Float32bits(want[i]) {
					t.Fatalf("workers %d: gradient %d is %v, with 1 worker %v", w, i, grad[i], want[i])
				}
			}
		}
		k := obj(0)
		lp := make([]float64, n)
		checkAllocs32(t, "reverse KL", g, func(grad []float32) { k.LossGradGiven(grad, z, c) }, func() { g.LogProbGiven(lp, z, c) })
	}
}

// TestFitReverseKL32 trains the same flows to the banana target (an IAF
// flow, a Glow-like coupling flow with ActNorm layers not yet initialised,
// an IAF flow over a DiagGaussianBase) and, amortised, to the shifted
// banana (a conditional IAF flow, an IAF flow over a
// ConditionalGaussianBase) in both precisions, and checks that the reverse
// KL at the end, estimated on the same 4000 draws for both (klOnDraws),
// agrees within noise: twice the difference a change of seed makes to the
// float64 run, or 0.02 nats. Both must have learned, the float32 run's flow
// must hold float32 values, a trainable base must have moved from the
// standard normal, and the ActNorm layers be marked initialised.
func TestFitReverseKL32(t *testing.T) {
	builds := map[string]func() *Flow{
		"iaf": func() *Flow {
			f, err := NewIAFFlow(AutoregressiveFlowConfig{Dim: 2, Layers: 4, Hidden: []int{32}, Activation: Tanh, Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			return f
		},
		"glow": func() *Flow {
			var layers []Layer
			for k := 0; k < 3; k++ {
				layers = append(layers, ftActNorm(t, 2), ftLU(t, luConfig(2, uint64(k))),
					ftCoupling(t, CouplingConfig{Mask: HalfMask(2, k%2 == 1), Hidden: []int{32}, Activation: ReLU, Seed: uint64(k)}))
			}
			return ftFlow(t, layers...)
		},
		"iaf-context": func() *Flow {
			f, err := NewIAFFlow(AutoregressiveFlowConfig{Dim: 2, Layers: 3, Hidden: []int{32}, Activation: Tanh, ContextDim: 1, Seed: 8})
			if err != nil {
				t.Fatal(err)
			}
			return f
		},
		"iaf-diag": func() *Flow {
			return iafOver(t, func() (Base, error) { return NewDiagGaussianBase(2) },
				AutoregressiveFlowConfig{Dim: 2, Layers: 3, Hidden: []int{32}, Activation: Tanh, Seed: 9})
		},
		"iaf-condbase": func() *Flow {
			return iafOver(t, func() (Base, error) {
				return NewConditionalGaussianBase(ConditionalGaussianBaseConfig{Dim: 2, ContextDim: 1, Hidden: []int{16}, Activation: Tanh, Seed: 10})
			}, AutoregressiveFlowConfig{Dim: 2, Layers: 2, Hidden: []int{32}, Activation: Tanh, Seed: 10})
		},
	}
	for _, name := range []string{"iaf", "glow", "iaf-context", "iaf-diag", "iaf-condbase"} {
		steps := 30
		if testing.Short() {
			steps = 15
		}
		run := func(p Precision, seed uint64) (float64, *Flow) {
			f := builds[name]()
			cfg := TrainConfig{Epochs: 10, StepsPerEpoch: steps, BatchSize: 128, LearningRate: 1e-2, Seed: seed, Precision: p}
			var err error
			if f.ContextDim() > 0 {
				_, err = FitReverseKLGiven(context.Background(), f, bananaShift, drawContexts, cfg)
			} else {
				_, err = FitReverseKL(context.Background(), f, banana, cfg)
			}
			if err != nil {
				t.Fatalf("%s, %v: %v", name, p, err)
			}
			return klOnDraws(f), f
		}
		k0 := klOnDraws(builds[name]())
		k64, _ := run(Float64, 1)
		k64b, _ := run(Float64, 2)
		k32, f32 := run(Float32, 1)
		noise := max(2*math.Abs(k64-k64b), 0.02)
		if math.Abs(k32-k64) > noise {
			t.Errorf("%s: reverse KL float32 %.4f, float64 %.4f (another seed %.4f): differ by more than %.4f", name, k32, k64, k64b, noise)
		}
		if !(k64 < k0-0.1 && k32 < k0-0.1) {
			t.Errorf("%s: reverse KL untrained %.4f, float64 %.4f, float32 %.4f: training did not learn", name, k0, k64, k32)
		}
		for i, v := range f32.Params() {
			if v != float64(float32(v)) {
				t.Fatalf("%s: after float32 training parameter %d is %v, not a float32 value", name, i, v)
			}
		}
		if lo, hi := f32.BaseParamRange(); hi > lo && allZero32(to32(f32.Params()[lo:hi])) {
			t.Errorf("%s: float32 training left the base's parameters at zero", name)
		}
		for l, ly := range f32.Layers() {
			if a, ok := ly.(*ActNorm); ok && !a.Initialized() {
				t.Errorf("%s: layer %d, an ActNorm, is not marked initialised after float32 training", name, l)
			}
		}
		t.Logf("%s: reverse KL untrained %.4f; trained float32 %.4f, float64 %.4f, float64 with another seed %.4f", name, k0, k32, k64, k64b)
	}
}

// drawContexts draws a context of uniform values in [−1, 1).
func drawContexts(c []float64, rnd *rand.Rand) {
	for i := range c {
		c[i] = 2*rnd.Float64() - 1
	}
}

// klOnDraws returns the reverse KL (up to log Z) of a flow of D = 2 to the
// banana, or for a conditional one (C = 1) to the shifted banana, in
// float64 on 4000 fixed draws and contexts.
func klOnDraws(f *Flow) float64 {
	const m = 4000
	r := rand.New(rand.NewPCG(99, 99))
	z := mat.NewDense(m, 2, randRows(m, 2, r))
	grad := make([]float64, f.NumParams())
	if f.ContextDim() == 0 {
		return NewReverseKL(f, banana, 0, 0).LossGrad(grad, z)
	}
	c := mat.NewDense(m, 1, nil)
	for i := 0; i < m; i++ {
		drawContexts(c.RawRowView(i), r)
	}
	return NewReverseKLGiven(f, bananaShift, 0, 0).LossGradGiven(grad, z, c)
}

// TestReverseKL32Mixture checks that reverse KL in float32 refuses an IAF
// flow over a MixtureBase, which has a float32 path for everything else,
// as float64 does, with the float64 reason: the float32 constructors
// panic, and FitReverseKL and FitReverseKLGiven with Precision Float32
// return an error naming the mixture and leave the flow as it was.
func TestReverseKL32Mixture(t *testing.T) {
	f := iafOver(t, func() (Base, error) { return NewMixtureBase(2, 3, 1) },
		AutoregressiveFlowConfig{Dim: 2, Layers: 2, Hidden: []int{16}, Activation: Tanh, Seed: 1})
	perturb(f.Params(), 0.3, rand.New(rand.NewPCG(32, 303)))
	p0 := append([]float64(nil), f.Params()...)
	g, err := f.Float32()
	if err != nil {
		t.Fatal(err)
	}
	const want = "a mixture base (3 components) draws its component discretely, which has no reparameterisation gradient"
	if err := g.reverseKLErr(); err == nil || err.Error() != f.Base().reparamErr().Error() {
		t.Errorf("reverseKLErr over a mixture base: %v, want the float64 reason %q", err, f.Base().reparamErr())
	}
	for method, mk := range map[string]func(){
		"NewReverseKL32":      func() { NewReverseKL32(g, banana, 1, 0) },
		"NewReverseKLGiven32": func() { NewReverseKLGiven32(g, bananaShift, 1, 0) },
	} {
		if msg := panicMessage(mk); !strings.Contains(msg, "flow: "+method+": "+want) {
			t.Errorf("%s over a mixture base: panic %q", method, msg)
		}
	}
	cfg := TrainConfig{Epochs: 1, StepsPerEpoch: 2, Precision: Float32}
	res, err := FitReverseKL(context.Background(), f, banana, cfg)
	if err == nil || res != nil || !strings.Contains(err.Error(), "flow: FitReverseKL: "+want) {
		t.Errorf("FitReverseKL in float32 over a mixture base: result %v, error %v", res, err)
	}
	checkUnchanged(t, "FitReverseKL over a mixture base", f, p0)
	_, err = FitReverseKLGiven(context.Background(), f, bananaShift, func([]float64, *rand.Rand) {}, cfg)
	if err == nil || !strings.Contains(err.Error(), "flow: FitReverseKLGiven: "+want) {
		t.Errorf("FitReverseKLGiven in float32 over a mixture base: error %v", err)
	}
	checkUnchanged(t, "FitReverseKLGiven over a mixture base", f, p0)
}
