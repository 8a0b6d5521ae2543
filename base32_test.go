// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// paramArray is a named window [lo, hi) of a flow's parameter vector.
type paramArray struct {
	name   string
	lo, hi int
}

// baseArrays returns the parameter arrays of f's base, as windows of f's
// vector: μ and s of a diagonal Gaussian, the logits, means and log
// standard deviations of a mixture, W and b of each layer of a
// conditional Gaussian's network; none for the standard normal.
func baseArrays(f *Flow) []paramArray {
	lo, _ := f.BaseParamRange()
	switch b := f.Base().(type) {
	case *DiagGaussianBase:
		d := b.d
		return []paramArray{{"μ", lo, lo + d}, {"s", lo + d, lo + 2*d}}
	case *MixtureBase:
		k, kd := b.k, b.k*b.d
		return []paramArray{{"logits", lo, lo + k}, {"means", lo + k, lo + k + kd}, {"log-stds", lo + k + kd, lo + k + 2*kd}}
	case *ConditionalGaussianBase:
		var a []paramArray
		for l := 1; l <= b.net.numLayers(); l++ {
			w, bb, off := b.net.layer(b.p, l)
			o := lo + off
			a = append(a, paramArray{fmt.Sprintf("W_%d", l), o, o + len(w)}, paramArray{fmt.Sprintf("b_%d", l), o + len(w), o + len(w) + len(bb)})
		}
		return a
	}
	return nil
}

// baseFlow32 returns a flow for the float32 tests of the trainable bases,
// with float64 parameters not yet perturbed: kind "diag", "mixture",
// "cond" (a conditional Gaussian under conditional coupling layers) or
// "cond-only" (a conditional Gaussian, ReLU network, the only conditional
// part of the flow).
func baseFlow32(t *testing.T, kind string) *Flow {
	t.Helper()
	var base Base
	var layers []Layer
	var err error
	switch kind {
	case "diag":
		base, err = NewDiagGaussianBase(4)
		if err == nil {
			var f *Flow
			f, err = NewRealNVP(RealNVPConfig{Dim: 4, Layers: 3, Hidden: []int{24, 24}, Activation: ReLU, Seed: 1})
			if err == nil {
				layers = f.Layers()
			}
		}
	case "mixture":
		base, err = NewMixtureBase(3, 5, 2)
		if err == nil {
			var f *Flow
			f, err = NewMAFFlow(AutoregressiveFlowConfig{Dim: 3, Layers: 2, Hidden: []int{24}, Activation: Tanh, Seed: 2})
			if err == nil {
				layers = f.Layers()
			}
		}
	case "cond":
		base, err = NewConditionalGaussianBase(ConditionalGaussianBaseConfig{Dim: 3, ContextDim: 2, Hidden: []int{16}, Activation: Tanh, Seed: 3})
		if err == nil {
			var f *Flow
			f, err = NewRealNVP(RealNVPConfig{Dim: 3, Layers: 2, Hidden: []int{16}, Activation: ReLU, ContextDim: 2, Seed: 3})
			if err == nil {
				layers = f.Layers()
			}
		}
	case "cond-only":
		base, err = NewConditionalGaussianBase(ConditionalGaussianBaseConfig{Dim: 4, ContextDim: 3, Hidden: []int{12, 12}, Activation: ReLU, Seed: 4})
		if err == nil {
			var f *Flow
			f, err = NewRealNVP(RealNVPConfig{Dim: 4, Layers: 2, Hidden: []int{16}, Activation: Tanh, Seed: 4})
			if err == nil {
				layers = f.Layers()
			}
		}
	default:
		t.Fatalf("unknown kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewWithBase(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var baseKinds32 = []string{"diag", "mixture", "cond", "cond-only"}

// TestBase32 checks the float32 flows over the trainable bases against the
// float64 flows of the same parameters (compareFlow32: log p, the loss, its
// gradient per layer and per array of the base, the round trip), with the
// parameters perturbed by ±0.3, and for the mixture also with means spread
// over ±2 and log standard deviations over ±1, where the responsibilities
// are far from equal.
func TestBase32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 20))
	for _, kind := range baseKinds32 {
		checkFlow32(t, kind, baseFlow32(t, kind), rnd)
	}
	f := baseFlow32(t, "mixture")
	perturb(f.Params(), 0.3, rnd)
	b := f.Base().(*MixtureBase)
	for i := range b.means() {
		b.means()[i] = 2 * rnd.NormFloat64()
	}
	for i := range b.logStds() {
		b.logStds()[i] = 2*rnd.Float64() - 1
	}
	copy(b.logits(), []float64{1.5, -1, 0, 0.5, -2})
	round32(f.Params())
	compareFlow32(t, "mixture-spread", f, rnd)
}

// TestBase32Rows checks each base's float32 methods alone against its
// float64 ones on the same (float32) parameters and rows: the
// log-densities to 1e-4·(|v| + 1), ∂ℓ/∂z and the parameters' gradient to
// 1e-3 in the mixed measure, the points of fromDraws to 1e-4·(|v| + 1),
// and draw32 bit for bit as draw.
func TestBase32Rows(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 21))
	for _, kind := range baseKinds32 {
		f := baseFlow32(t, kind)
		perturb(f.Params(), 0.5, rnd)
		b := f.Base().(base32)
		d, c := b.Dim(), b.ContextDim()
		lo, hi := f.BaseParamRange()
		p64 := f.Params()[lo:hi]
		p32 := to32(p64)
		for _, n := range []int{1, 5, 130} {
			name := fmt.Sprintf("%s/n=%d", kind, n)
			z64 := randRows(n, d, rnd)
			for i := range z64 {
				z64[i] *= 2
			}
			ld64 := randRows(n, 1, rnd)
			var c64 []float64
			var c32 []float32
			if c > 0 {
				c64 = randRows(n, c, rnd)
				c32 = to32(c64)
			}
			w64, w32 := make([]float64, b.workLen(n)), make([]float32, b.workLen(n))
			lp64, lp32 := make([]float64, n), make([]float64, n)
			b.logProbRows(lp64, z64, c64, ld64, w64)
			b.logProbRows32(p32, lp32, to32(z64), c32, to32(ld64), w32)
			if i := logpBad(lp32, lp64, 1e-4); i >= 0 {
				t.Errorf("%s: log p row %d: float32 %v, float64 %v", name, i, lp32[i], lp64[i])
			}
			dz64, dz32 := make([]float64, n*d), make([]float32, n*d)
			g64, g32 := make([]float64, len(p64)), make([]float32, len(p64))
			b.nllGrad(dz64, nil, z64, c64, w64, g64)
			b.nllGrad32(p32, dz32, nil, to32(z64), c32, w32, g32)
			if i := mixedBad(to64(dz32), dz64, 1e-3); i >= 0 {
				t.Errorf("%s: ∂ℓ/∂z %d: float32 %v, float64 %v", name, i, dz32[i], dz64[i])
			}
			if i := mixedBad(to64(g32), g64, 1e-3); i >= 0 {
				t.Errorf("%s: ∂ℓ/∂θ %d: float32 %v, float64 %v", name, i, g32[i], g64[i])
			}
			e64 := make([]float64, n*d)
			e32 := make([]float64, n*d)
			b.draw(e64, rand.New(rand.NewPCG(uint64(n), 1)))
			b.draw32(p32, e32, rand.New(rand.NewPCG(uint64(n), 1)))
			for i := range e64 {
				if math.Float64bits(e32[i]) != math.Float64bits(e64[i]) {
					t.Fatalf("%s: draw %d: draw32 %v, draw %v", name, i, e32[i], e64[i])
				}
			}
			pts32 := to32(e64)
			eps64 := append([]float64(nil), e64...)
			b.fromDraws(e64, c64, w64)
			b.fromDraws32(p32, pts32, c32, w32)
			if i := logpBad(to64(pts32), e64, 1e-4); i >= 0 {
				t.Errorf("%s: point %d: float32 %v, float64 %v", name, i, pts32[i], e64[i])
			}
			if b.reparamErr() == nil {
				checkBaseKL32(t, name, b, p32, eps64, c64, w64, w32, rnd)
			}
		}
	}
}

// checkBaseKL32 compares the reverse-KL methods of a reparameterised base
// in float32 (drawLogProb32, klGrad32) with its float64 ones after
// fromDraws and fromDraws32 of the draws eps (float32 values) have left
// w64 and w32: the rows' log-densities to 1e-4·(|v| + 1), and for a
// random ∂L/∂z the parameters' gradient and ∂L/∂c to 1e-3 in the mixed
// measure.
func checkBaseKL32(t *testing.T, name string, b base32, p32 []float32, eps, c64, w64 []float64, w32 []float32, rnd *rand.Rand) {
	t.Helper()
	d, c := b.Dim(), b.ContextDim()
	n := len(eps) / d
	var c32 []float32
	if c > 0 {
		c32 = to32(c64)
	}
	eps32 := to32(eps)
	lb64, lb32 := make([]float64, n), make([]float64, n)
	b.drawLogProb(lb64, eps, c64, w64)
	b.drawLogProb32(p32, lb32, eps32, c32, w32)
	if i := logpBad(lb32, lb64, 1e-4); i >= 0 {
		t.Errorf("%s: drawLogProb row %d: float32 %v, float64 %v", name, i, lb32[i], lb64[i])
	}
	dz := randRows(n, d, rnd)
	g64, g32 := make([]float64, len(p32)), make([]float32, len(p32))
	var dc64 []float64
	var dc32 []float32
	if c > 0 {
		dc64, dc32 = make([]float64, n*c), make([]float32, n*c)
	}
	b.klGrad(dc64, dz, eps, c64, w64, g64)
	b.klGrad32(p32, dc32, to32(dz), eps32, c32, w32, g32)
	if i := mixedBad(to64(g32), g64, 1e-3); i >= 0 {
		t.Errorf("%s: klGrad ∂/∂θ %d: float32 %v, float64 %v", name, i, g32[i], g64[i])
	}
	if allZero32(g32) {
		t.Errorf("%s: klGrad32 left the parameters' gradient zero", name)
	}
	if c > 0 {
		if i := mixedBad(to64(dc32), dc64, 1e-3); i >= 0 {
			t.Errorf("%s: klGrad ∂/∂c %d: float32 %v, float64 %v", name, i, dc32[i], dc64[i])
		}
	}
}

// TestBase32Sample checks that a float32 flow over each trainable base
// samples from the base draws of the float64 flow's SampleGiven for the
// same generator (the mixture's component choices included): the samples
// and log q within 1e-4·(|v| + 1), and log q the float32 log p of the
// sample.
func TestBase32Sample(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 22))
	for _, kind := range baseKinds32 {
		f := baseFlow32(t, kind)
		perturb(f.Params(), 0.3, rnd)
		if b, ok := f.Base().(*MixtureBase); ok {
			// Components far apart, so that a different choice would
			// show.
			for i := range b.means() {
				b.means()[i] = 3 * rnd.NormFloat64()
			}
			round32(f.Params())
		}
		g, err := f.Float32()
		if err != nil {
			t.Fatal(err)
		}
		D, C := f.Dim(), f.ContextDim()
		n := 300
		var c mat.Matrix
		if C > 0 {
			c = mat.NewDense(n, C, randRows(n, C, rnd))
		}
		s64, s32 := mat.NewDense(n, D, nil), mat.NewDense(n, D, nil)
		lq64, lq32 := make([]float64, n), make([]float64, n)
		f.SampleGiven(s64, lq64, c, rand.New(rand.NewPCG(5, 5)))
		g.SampleGiven(s32, lq32, c, rand.New(rand.NewPCG(5, 5)))
		if i := logpBad(s32.RawMatrix().Data, s64.RawMatrix().Data, 1e-4); i >= 0 {
			t.Errorf("%s: sample value %d: float32 %v, float64 %v", kind, i, s32.RawMatrix().Data[i], s64.RawMatrix().Data[i])
		}
		if i := logpBad(lq32, lq64, 1e-4); i >= 0 {
			t.Errorf("%s: log q row %d: float32 %v, float64 %v", kind, i, lq32[i], lq64[i])
		}
		lp := g.LogProbGiven(nil, s32, c)
		if i := logpBad(lp, lq32, 1e-4); i >= 0 {
			t.Errorf("%s: log p of the sample row %d: %v, log q %v", kind, i, lp[i], lq32[i])
		}
	}
}

// TestBase32Workers checks, for flows over each trainable base, that the
// float32 objective's loss and gradient (the base's window included) are
// bit-identical for 1, 2, 3 and 8 goroutines, that log p is too, and that
// a training step (MaxLikelihood32 and Adam32) and LogProb allocate
// nothing.
func TestBase32Workers(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 23))
	for _, kind := range baseKinds32 {
		f := baseFlow32(t, kind)
		perturb(f.Params(), 0.3, rnd)
		g, err := f.Float32()
		if err != nil {
			t.Fatal(err)
		}
		D, C := f.Dim(), f.ContextDim()
		n := 1000 // 8 shards of 128, the last partial
		x := mat.NewDense(n, D, randRows(n, D, rnd))
		var c mat.Matrix
		if C > 0 {
			c = mat.NewDense(n, C, randRows(n, C, rnd))
		}
		var wantLoss float64
		var want []float32
		var wantLP []float64
		for _, w := range []int{1, 2, 3, 8} {
			grad := make([]float32, g.NumParams())
			obj := NewMaxLikelihood32(g, w, 0)
			loss := obj.LossGradGiven(grad, x, c)
			loss2 := obj.LossGradGiven(grad, x, c) // reusing the buffers
			if loss2 != loss {
				t.Fatalf("%s: workers %d: a second call's loss %v, the first's %v", kind, w, loss2, loss)
			}
			lo, _ := f.BaseParamRange()
			if allZero32(grad[lo:]) {
				t.Fatalf("%s: workers %d: the base's gradient is zero", kind, w)
			}
			old := runtime.GOMAXPROCS(w)
			lp := g.LogProbGiven(nil, x, c)
			runtime.GOMAXPROCS(old)
			if want == nil {
				wantLoss, want, wantLP = loss, grad, lp
				continue
			}
			if loss != wantLoss {
				t.Errorf("%s: workers %d: loss %v, with 1 worker %v", kind, w, loss, wantLoss)
			}
			for i := range grad {
				if math.Float32bits(grad[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s: workers %d: gradient %d is %v, with 1 worker %v", kind, w, i, grad[i], want[i])
				}
			}
			for i := range lp {
				if math.Float64bits(lp[i]) != math.Float64bits(wantLP[i]) {
					t.Fatalf("%s: GOMAXPROCS %d: log p row %d is %v, with 1 %v", kind, w, i, lp[i], wantLP[i])
				}
			}
		}
		obj := NewMaxLikelihood32(g, 0, 0)
		lp := make([]float64, n)
		checkAllocs32(t, kind, g, func(grad []float32) { obj.LossGradGiven(grad, x, c) }, func() { g.LogProbGiven(lp, x, c) })
	}
}

func allZero32(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// TestFit32Bases trains flows over a diagonal Gaussian and a mixture base
// (two moons) and over a conditional Gaussian base (two moons given the
// moon) in both precisions, and checks that the held-out
// negative log-likelihoods end within noise of each other, as TestFit32
// does, and that the float32 run moved the base's parameters and left
// them float32 values.
func TestFit32Bases(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 24))
	moons, moonsValid := TwoMoons(1000, 0.05, rnd), TwoMoons(500, 0.05, rnd)
	// split returns the points and the contexts (the last column) of a
	// conditional data set.
	split := func(m *mat.Dense) (x, c *mat.Dense) {
		n, _ := m.Dims()
		return mat.DenseCopyOf(m.Slice(0, n, 0, 2)), mat.DenseCopyOf(m.Slice(0, n, 2, 3))
	}
	cmoons, cmoonsC := split(TwoMoonsGiven(1000, 0.05, rnd))
	cmoonsValid, cmoonsValidC := split(TwoMoonsGiven(500, 0.05, rnd))
	// Twenty epochs: longer, the runs of either precision meet the
	// instabilities of training at lr 3e-3 (a validation loss jumping by
	// 0.1 to 0.5 for an epoch or a few) at different epochs, and the best
	// losses of seeds and precisions spread by 0.03 to 0.1.
	const epochs = 20
	for _, kind := range []string{"diag", "mixture", "cond"} {
		train, valid := moons, moonsValid
		var c, cValid mat.Matrix
		C := 0
		if kind == "cond" {
			train, valid, c, cValid, C = cmoons, cmoonsValid, cmoonsC, cmoonsValidC, 1
		}
		std, err := StandardizeData(train)
		if err != nil {
			t.Fatal(err)
		}
		run := func(p Precision, seed uint64) (float64, *Flow, []float64) {
			nf, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 4, Hidden: []int{24, 24}, Activation: ReLU, ContextDim: C, Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			var base Base
			switch kind {
			case "diag":
				base, err = NewDiagGaussianBase(2)
			case "mixture":
				base, err = NewMixtureBase(2, 4, 9)
			default:
				base, err = NewConditionalGaussianBase(ConditionalGaussianBaseConfig{Dim: 2, ContextDim: 1, Hidden: []int{8}, Activation: Tanh, Seed: 9})
			}
			if err != nil {
				t.Fatal(err)
			}
			f, err := NewWithBase(base, append(nf.Layers(), std)...)
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := f.BaseParamRange()
			start := append([]float64(nil), f.Params()[lo:hi]...)
			round32(start)
			cfg := TrainConfig{Epochs: epochs, BatchSize: 128, LearningRate: 3e-3, Seed: seed, Precision: p,
				Context: c, Validation: valid, ValidationContext: cValid}
			res, err := Fit(f, train, cfg)
			if err != nil {
				t.Fatalf("%s, %v: %v", kind, p, err)
			}
			if !(res.BestLoss < res.InitialLoss-0.1) {
				t.Errorf("%s, %v: validation loss %v → %v: training did not learn", kind, p, res.InitialLoss, res.BestLoss)
			}
			return res.BestLoss, f, start
		}
		l64, _, _ := run(Float64, 1)
		l64b, _, _ := run(Float64, 2)
		l32, f32, start := run(Float32, 1)
		noise := max(2*math.Abs(l64-l64b), 0.02)
		if math.Abs(l32-l64) > noise {
			t.Errorf("%s: held-out NLL float32 %.4f, float64 %.4f (another seed %.4f): differ by more than %.4f", kind, l32, l64, l64b, noise)
		}
		lo, hi := f32.BaseParamRange()
		moved := false
		for i, v := range f32.Params()[lo:hi] {
			moved = moved || v != start[i]
		}
		if !moved {
			t.Errorf("%s: float32 training left the base's parameters where they started", kind)
		}
		for i, v := range f32.Params() {
			if v != float64(float32(v)) {
				t.Fatalf("%s: after float32 training parameter %d is %v, not a float32 value", kind, i, v)
			}
		}
		t.Logf("%s: held-out NLL float32 %.4f, float64 %.4f, float64 with another seed %.4f", kind, l32, l64, l64b)
	}
}
