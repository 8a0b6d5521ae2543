// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// round32 rounds every value of v to the nearest float32, in place, so
// that a float64 flow and its float32 copy hold the same parameters.
func round32(v []float64) {
	for i, x := range v {
		v[i] = float64(float32(x))
	}
}

// to32 and to64 convert vectors between the precisions.
func to32(v []float64) []float32 {
	w := make([]float32, len(v))
	for i, x := range v {
		w[i] = float32(x)
	}
	return w
}

func to64(v []float32) []float64 {
	w := make([]float64, len(v))
	for i, x := range v {
		w[i] = float64(x)
	}
	return w
}

// mixedBad returns the first index i at which got is not within tol of
// want in the mixed measure of FORMAT.md §7,
// |got_i − want_i| ≤ tol·max(|want_i|, 10⁻³·max_j |want_j|), or −1 when
// none is (a NaN anywhere is a violation).
func mixedBad(got, want []float64, tol float64) int {
	if len(got) != len(want) {
		return 0
	}
	top := 0.0
	for _, w := range want {
		top = max(top, math.Abs(w))
	}
	for i, w := range want {
		if !(math.Abs(got[i]-w) <= tol*max(math.Abs(w), 1e-3*top)) {
			return i
		}
	}
	return -1
}

// logpBad returns the first index i at which got is not within tol of want
// in the measure of the float32 path's log-densities and outputs,
// |got_i − want_i| ≤ tol·(|want_i| + 1), or −1 when none is.
func logpBad(got, want []float64, tol float64) int {
	if len(got) != len(want) {
		return 0
	}
	for i, w := range want {
		if !(math.Abs(got[i]-w) <= tol*(math.Abs(w)+1)) {
			return i
		}
	}
	return -1
}

// perturb sets every parameter to a uniform value in ±a, so that no layer
// starts as the identity, and then rounds them to float32.
func perturb(p []float64, a float64, rnd *rand.Rand) {
	for i := range p {
		p[i] = a * (2*rnd.Float64() - 1)
	}
	round32(p)
}

// randRows returns n×w standard normal values rounded to float32.
func randRows(n, w int, rnd *rand.Rand) []float64 {
	v := make([]float64, n*w)
	for i := range v {
		v[i] = rnd.NormFloat64()
	}
	round32(v)
	return v
}

// checkLayer32 compares a layer's float32 passes with its float64 methods
// on the same (float32) parameters and inputs, for n rows: outputs and
// log-determinants to 1e-4·(|v| + 1), the gradients of InverseBackward
// and ForwardBackward (input, context, parameters; checkForwardBackward32)
// to 1e-3 in the mixed measure.
func checkLayer32(t *testing.T, name string, l layer32, n int, rnd *rand.Rand) {
	t.Helper()
	d, c := l.Dim(), l.ContextDim()
	p64 := l.Params()
	p32 := to32(p64)
	x := randRows(n, d, rnd)
	var ctx64 []float64
	var ctx32 []float32
	if c > 0 {
		ctx64 = randRows(n, c, rnd)
		ctx32 = to32(ctx64)
	}
	w64 := make([]float64, l.WorkLen(n))
	w32 := make([]float32, l.WorkLen(n))
	for _, dir := range []string{"Inverse", "Forward"} {
		out64, ld64 := make([]float64, n*d), make([]float64, n)
		out32, ld32 := make([]float32, n*d), make([]float32, n)
		if dir == "Inverse" {
			l.Inverse(out64, x, ctx64, ld64, w64)
			l.inverse32(p32, out32, to32(x), ctx32, ld32, w32)
		} else {
			l.Forward(out64, x, ctx64, ld64, w64)
			l.forward32(p32, out32, to32(x), ctx32, ld32, w32)
		}
		if i := logpBad(to64(out32), out64, 1e-4); i >= 0 {
			t.Errorf("%s: %s: output %d: float32 %v, float64 %v", name, dir, i, out32[i], out64[i])
		}
		if i := logpBad(to64(ld32), ld64, 1e-4); i >= 0 {
			t.Errorf("%s: %s: log-det %d: float32 %v, float64 %v", name, dir, i, ld32[i], ld64[i])
		}
	}
	checkForwardBackward32(t, name, l, n, rand.New(rand.NewPCG(uint64(n), 33)))
	ok, ok32 := hasBackward(l, false, false), hasBackward(l, false, true)
	if ok != ok32 {
		t.Errorf("%s: backward through Inverse in float64 %v, in float32 %v", name, ok, ok32)
	}
	if !ok || !ok32 {
		return
	}
	ig, ig32 := l.(InverseGrader), l.(inverseGrader32)
	z64, ld64 := make([]float64, n*d), make([]float64, n)
	z32, ld32 := make([]float32, n*d), make([]float32, n)
	ig.Inverse(z64, x, ctx64, ld64, w64)
	l.inverse32(p32, z32, to32(x), ctx32, ld32, w32)
	dz := randRows(n, d, rnd)
	dld := make([]float64, n)
	for i := range dld {
		dld[i] = -1
	}
	dx64, g64 := make([]float64, n*d), make([]float64, len(p64))
	dx32, g32 := make([]float32, n*d), make([]float32, len(p64))
	var dc64 []float64
	var dc32 []float32
	if c > 0 {
		dc64, dc32 = make([]float64, n*c), make([]float32, n*c)
	}
	ig.InverseBackward(dx64, dc64, dz, dld, x, z64, ctx64, w64, g64)
	ig32.inverseBackward32(p32, dx32, dc32, to32(dz), to32(dld), to32(x), z32, ctx32, w32, g32)
	if i := mixedBad(to64(dx32), dx64, 1e-3); i >= 0 {
		t.Errorf("%s: ∂L/∂x %d: float32 %v, float64 %v", name, i, dx32[i], dx64[i])
	}
	if i := mixedBad(to64(g32), g64, 1e-3); i >= 0 {
		t.Errorf("%s: ∂L/∂θ %d of %d: float32 %v, float64 %v", name, i, len(g64), g32[i], g64[i])
	}
	if c > 0 {
		if i := mixedBad(to64(dc32), dc64, 1e-3); i >= 0 {
			t.Errorf("%s: ∂L/∂c %d: float32 %v, float64 %v", name, i, dc32[i], dc64[i])
		}
	}
}

// TestCoupling32 checks the coupling layers' float32 passes against their
// float64 ones on the same parameters: every coupling function with a
// float32 path, both activations, a clamp, a context and a residual
// conditioner, on row counts below, at and across the products' tiles.
func TestCoupling32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 1))
	cases := []struct {
		name string
		cfg  CouplingConfig
	}{
		{"affine-relu", CouplingConfig{Mask: HalfMask(5, false), Hidden: []int{16, 16}, Activation: ReLU}},
		{"affine-tanh-clamp", CouplingConfig{Mask: EvenOddMask(6, true), Hidden: []int{40}, Activation: Tanh, Func: Affine{Clamp: 2}}},
		{"additive", CouplingConfig{Mask: HalfMask(4, true), Hidden: []int{24, 8}, Activation: ReLU, Func: Additive{}}},
		{"affine-context", CouplingConfig{Mask: HalfMask(7, false), Hidden: []int{32, 32}, Activation: ReLU, ContextDim: 3}},
		{"affine-residual", CouplingConfig{Mask: HalfMask(6, false), Hidden: []int{20}, Activation: Tanh, ResidualBlocks: 2, ContextDim: 2}},
		{"affine-wide", CouplingConfig{Mask: HalfMask(43, false), Hidden: []int{64, 64}, Activation: ReLU}},
	}
	for _, tc := range cases {
		l, err := NewCoupling(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		perturb(l.Params(), 0.3, rnd)
		for _, n := range []int{1, 7, 37} {
			checkLayer32(t, fmt.Sprintf("%s/n=%d", tc.name, n), l, n, rnd)
		}
	}
	p, err := NewPermutation([]int{2, 0, 3, 1})
	if err != nil {
		t.Fatal(err)
	}
	checkLayer32(t, "permutation", p, 5, rnd)
	s, err := NewStandardize([]float64{70.9, -1.5, 0.25}, []float64{13.6, 0.5, 2e-3})
	if err != nil {
		t.Fatal(err)
	}
	checkLayer32(t, "standardize", s, 6, rnd)
}

// flow32Pair returns a float64 flow with perturbed float32-representable
// parameters and its float32 copy.
func flow32Pair(t *testing.T, cfg RealNVPConfig, rnd *rand.Rand) (*Flow, *Flow32) {
	t.Helper()
	f, err := NewRealNVP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	perturb(f.Params(), 0.3, rnd)
	g, err := f.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return f, g
}

// TestFlow32 checks a float32 flow against the float64 flow of the same
// parameters: log p to 1e-4·(|log p| + 1), the maximum-likelihood loss the
// same way and its gradient to 1e-3 in the mixed measure, the round trip
// Inverse(Forward(z)) to 1e-5·(|z| + 1), and the conversion back to float64
// exact.
func TestFlow32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 2))
	for _, cfg := range []RealNVPConfig{
		{Dim: 5, Layers: 4, Hidden: []int{32, 32}, Activation: ReLU, Seed: 1},
		{Dim: 6, Layers: 3, Hidden: []int{24}, Activation: Tanh, Clamp: 3, EvenOdd: true, Seed: 2},
		{Dim: 4, Layers: 2, Hidden: []int{16}, Activation: ReLU, ContextDim: 2, Seed: 3},
		{Dim: 4, Layers: 2, Hidden: []int{16}, Activation: Tanh, ResidualBlocks: 1, Additive: true, Seed: 4},
	} {
		f, err := NewRealNVP(cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkFlow32(t, fmt.Sprintf("realnvp D=%d/%v/C=%d/R=%d", cfg.Dim, cfg.Activation, cfg.ContextDim, cfg.ResidualBlocks), f, rnd)
	}
	for _, cfg := range []AutoregressiveFlowConfig{
		{Dim: 5, Layers: 3, Hidden: []int{32, 32}, Activation: ReLU, Seed: 1},
		{Dim: 4, Layers: 2, Hidden: []int{24}, Activation: Tanh, Clamp: 2, ContextDim: 3, RandomOrders: true, Seed: 2},
		{Dim: 3, Layers: 2, Hidden: []int{16}, Activation: ReLU, ResidualBlocks: 1, Seed: 3},
	} {
		f, err := NewMAFFlow(cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkFlow32(t, fmt.Sprintf("maf D=%d/%v/C=%d/R=%d", cfg.Dim, cfg.Activation, cfg.ContextDim, cfg.ResidualBlocks), f, rnd)
	}
}

// checkFlow32 perturbs f's parameters (to float32 values) and checks its
// float32 copy against it.
func checkFlow32(t *testing.T, name string, f *Flow, rnd *rand.Rand) {
	t.Helper()
	perturb(f.Params(), 0.3, rnd)
	compareFlow32(t, name, f, rnd)
}

// compareFlow32 checks the float32 copy of f, whose parameters must be
// float32 values, against f: log p, the loss and its gradient (each
// layer's window, and each of the base's parameter arrays, baseArrays),
// the round trip and the conversion back.
func compareFlow32(t *testing.T, name string, f *Flow, rnd *rand.Rand) {
	t.Helper()
	g, err := f.Float32()
	if err != nil {
		t.Fatal(err)
	}
	D, C := f.Dim(), f.ContextDim()
	n := 300 // three evaluation shards, the last partial
	x := mat.NewDense(n, D, randRows(n, D, rnd))
	var c mat.Matrix
	if C > 0 {
		c = mat.NewDense(n, C, randRows(n, C, rnd))
	}
	lp64 := f.LogProbGiven(nil, x, c)
	lp32 := g.LogProbGiven(nil, x, c)
	if i := logpBad(lp32, lp64, 1e-4); i >= 0 {
		t.Errorf("%s: log p row %d: float32 %v, float64 %v", name, i, lp32[i], lp64[i])
	}

	grad64 := make([]float64, f.NumParams())
	grad32 := make([]float32, g.NumParams())
	loss64 := NewMaxLikelihood(f, 0, 0).LossGradGiven(grad64, x, c)
	loss32 := NewMaxLikelihood32(g, 0, 0).LossGradGiven(grad32, x, c)
	if logpBad([]float64{loss32}, []float64{loss64}, 1e-4) >= 0 {
		t.Errorf("%s: loss: float32 %v, float64 %v", name, loss32, loss64)
	}
	for l := range f.Layers() {
		lo, hi := f.ParamRange(l)
		if i := mixedBad(to64(grad32[lo:hi]), grad64[lo:hi], 1e-3); i >= 0 {
			t.Errorf("%s: layer %d gradient %d: float32 %v, float64 %v", name, l, i, grad32[lo+i], grad64[lo+i])
		}
	}
	for _, a := range baseArrays(f) {
		if i := mixedBad(to64(grad32[a.lo:a.hi]), grad64[a.lo:a.hi], 1e-3); i >= 0 {
			t.Errorf("%s: base %s gradient %d: float32 %v, float64 %v", name, a.name, i, grad32[a.lo+i], grad64[a.lo+i])
		}
	}

	// The round trip, and the log-dets of the two directions.
	z := mat.NewDense(n, D, randRows(n, D, rnd))
	var xf, zb mat.Dense
	ldf, ldi := make([]float64, n), make([]float64, n)
	g.Forward(&xf, z, c, ldf)
	g.Inverse(&zb, &xf, c, ldi)
	if i := logpBad(zb.RawMatrix().Data, z.RawMatrix().Data, 1e-5); i >= 0 {
		t.Errorf("%s: round trip value %d: %v, want %v", name, i, zb.RawMatrix().Data[i], z.RawMatrix().Data[i])
	}
	for i := range ldf {
		ldi[i] = -ldi[i]
	}
	if i := logpBad(ldi, ldf, 1e-5); i >= 0 {
		t.Errorf("%s: round trip log-det row %d: −inverse %v, forward %v", name, i, ldi[i], ldf[i])
	}

	// Back to float64: the same values exactly, so the same log p bit for
	// bit as f, whose parameters are float32 values.
	h, err := g.Float64()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range h.Params() {
		if v != f.Params()[i] {
			t.Fatalf("%s: Float64 parameter %d is %v, want %v", name, i, v, f.Params()[i])
		}
	}
	lph := h.LogProbGiven(nil, x, c)
	for i := range lph {
		if lph[i] != lp64[i] {
			t.Fatalf("%s: Float64's log p row %d is %v, the flow's %v", name, i, lph[i], lp64[i])
		}
	}
}

// TestFlow32Sample checks that the float32 flow draws from the same base
// draws as the float64 one, and that log q is the float32 log p of the
// sample.
func TestFlow32Sample(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 3))
	f, g := flow32Pair(t, RealNVPConfig{Dim: 3, Layers: 4, Hidden: []int{16}, Activation: ReLU}, rnd)
	n := 200
	s64, s32 := mat.NewDense(n, 3, nil), mat.NewDense(n, 3, nil)
	lq64, lq32 := make([]float64, n), make([]float64, n)
	f.Sample(s64, lq64, rand.New(rand.NewPCG(5, 5)))
	g.SampleGiven(s32, lq32, nil, rand.New(rand.NewPCG(5, 5)))
	if i := logpBad(s32.RawMatrix().Data, s64.RawMatrix().Data, 1e-4); i >= 0 {
		t.Errorf("sample value %d: float32 %v, float64 %v", i, s32.RawMatrix().Data[i], s64.RawMatrix().Data[i])
	}
	if i := logpBad(lq32, lq64, 1e-4); i >= 0 {
		t.Errorf("log q row %d: float32 %v, float64 %v", i, lq32[i], lq64[i])
	}
	lp := g.LogProb(nil, s32)
	if i := logpBad(lp, lq32, 1e-4); i >= 0 {
		t.Errorf("log p of the sample row %d: %v, log q %v", i, lp[i], lq32[i])
	}
	// Sample is SampleGiven without a context, bit for bit.
	u, lu := mat.NewDense(n, 3, nil), make([]float64, n)
	g.Sample(u, lu, rand.New(rand.NewPCG(5, 5)))
	if !mat.Equal(u, s32) || maxAbsDiff(lu, lq32) != 0 {
		t.Error("Flow32.Sample differs from SampleGiven with no context")
	}
	_, cg := flow32Pair(t, RealNVPConfig{Dim: 3, Layers: 2, Hidden: []int{8}, ContextDim: 2}, rnd)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "Flow32.Sample") {
			t.Errorf("Flow32.Sample of a conditional flow: panic %v", r)
		}
	}()
	cg.Sample(u, nil, rand.New(rand.NewPCG(5, 5)))
}

// TestFlow32Refuses checks the errors of Float32: a layer without a
// float32 path (a layer of the user's own) and a parameter beyond
// float32's range (a layer's or a base's), and that no base, no BatchNorm
// layer and no IAF layer is refused.
func TestFlow32Refuses(t *testing.T) {
	bn, err := NewBatchNorm(4, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(bn, &trapScale{d: 4, p: []float64{0}, limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Float32(); err == nil || !strings.Contains(err.Error(), "layer 1 (*flow.trapScale) has no float32 path") {
		t.Errorf("a layer of the user's own: error %v", err)
	}
	if f, err = New(bn); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Float32(); err != nil {
		t.Errorf("a BatchNorm layer: error %v", err)
	}
	iaf, err := NewIAFFlow(AutoregressiveFlowConfig{Dim: 3, Layers: 2, Hidden: []int{4}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iaf.Float32(); err != nil {
		t.Errorf("an IAF flow: error %v", err)
	}
	a, err := NewCoupling(CouplingConfig{Mask: HalfMask(4, false), Hidden: []int{8}})
	if err != nil {
		t.Fatal(err)
	}
	// Every base has a float32 path; a base parameter beyond float32's
	// range is refused as a layer's is.
	for _, kind := range baseKinds32 {
		f := baseFlow32(t, kind)
		if _, err := f.Float32(); err != nil {
			t.Errorf("a flow over a %T: error %v", f.Base(), err)
		}
		lo, hi := f.BaseParamRange()
		f.Params()[hi-1] = -1e39
		want := fmt.Sprintf("parameter %d (-1e+39) overflows float32", hi-1)
		if _, err := f.Float32(); err == nil || !strings.Contains(err.Error(), want) || lo == hi {
			t.Errorf("a %T parameter of -1e39: error %v", f.Base(), err)
		}
	}
	f, err = New(a)
	if err != nil {
		t.Fatal(err)
	}
	f.Params()[3] = 1e39
	if _, err := f.Float32(); err == nil || !strings.Contains(err.Error(), "parameter 3 (1e+39) overflows float32") {
		t.Errorf("a parameter of 1e39: error %v", err)
	}
	if p, err := ParsePrecision("f32"); err != nil || p != Float32 || p.String() != "f32" {
		t.Errorf(`ParsePrecision("f32") = %v, %v`, p, err)
	}
	if _, err := ParsePrecision("f16"); err == nil {
		t.Error(`ParsePrecision("f16") gave no error`)
	}
}

// TestFlow32Workers checks that the float32 objective's loss and gradient
// are bit-identical for 1, 2, 3 and 8 goroutines, and that a step of it and
// of Adam32 allocates nothing.
func TestFlow32Workers(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 4))
	rnvp, err := NewRealNVP(RealNVPConfig{Dim: 6, Layers: 4, Hidden: []int{48, 48}, Activation: ReLU})
	if err != nil {
		t.Fatal(err)
	}
	maf, err := NewMAFFlow(AutoregressiveFlowConfig{Dim: 6, Layers: 2, Hidden: []int{48}, Activation: Tanh, ContextDim: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*Flow{rnvp, maf} {
		perturb(f.Params(), 0.3, rnd)
		g, err := f.Float32()
		if err != nil {
			t.Fatal(err)
		}
		n := 1000 // 8 shards of 128, the last partial
		x := mat.NewDense(n, 6, randRows(n, 6, rnd))
		var c mat.Matrix
		if f.ContextDim() > 0 {
			c = mat.NewDense(n, 2, randRows(n, 2, rnd))
		}
		var wantLoss float64
		var want []float32
		for _, w := range []int{1, 2, 3, 8} {
			grad := make([]float32, g.NumParams())
			obj := NewMaxLikelihood32(g, w, 0)
			loss := obj.LossGradGiven(grad, x, c)
			loss2 := obj.LossGradGiven(grad, x, c) // reusing the buffers
			if loss2 != loss {
				t.Fatalf("workers %d: a second call's loss %v, the first's %v", w, loss2, loss)
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
		obj := NewMaxLikelihood32(g, 0, 0)
		lp := make([]float64, n)
		checkAllocs32(t, "flow", g, func(grad []float32) { obj.LossGradGiven(grad, x, c) }, func() { g.LogProbGiven(lp, x, c) })
	}
}

// TestAdam32 checks Adam32's steps bit for bit against adam32Ref on the
// whole vector (adamKernel32 on the vectors of 8, the reference on the
// rest), and against Adam's steps on the float64 values of the same
// parameters and gradients: after three steps from the same values, each
// parameter within a few float32 ulps of the step it takes (the update is
// rounded at each operation, not once).
func TestAdam32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 5))
	n := 40003 // more than two chunks of the pool, and a last partial vector
	p64 := randRows(n, 1, rnd)
	p32, pref := to32(p64), to32(p64)
	a64, a32 := NewAdam(1e-2), NewAdam32(1e-2)
	a64.WeightDecay, a32.WeightDecay = 0.1, 0.1
	mref, vref := make([]float32, n), make([]float32, n)
	for step := 1; step <= 3; step++ {
		g := randRows(n, 1, rnd)
		if step == 2 {
			g[5], g[n-1] = 1e-20, -3e4 // a gradient below v's range, and a large one
		}
		start := append([]float64(nil), p64...)
		a64.Step(p64, g)
		a32.Step(p32, to32(g))
		c1 := 1 - math.Pow(0.9, float64(step))
		c2 := 1 - math.Pow(0.999, float64(step))
		c := adamConsts{0.9, 1 - 0.9, 0.999, 1 - 0.999, 1e-2 / c1, 1 / math.Sqrt(c2), 1e-8, 1e-2 * 0.1}
		var c32 [8]float32
		for i, x := range c {
			c32[i] = float32(x)
		}
		adam32Ref(pref, mref, vref, to32(g), &c32)
		for i := range p32 {
			if math.Float32bits(p32[i]) != math.Float32bits(pref[i]) || math.Float32bits(a32.m[i]) != math.Float32bits(mref[i]) || math.Float32bits(a32.v[i]) != math.Float32bits(vref[i]) {
				t.Fatalf("step %d, parameter %d: %v (m %v, v %v), the reference %v (m %v, v %v)", step, i, p32[i], a32.m[i], a32.v[i], pref[i], mref[i], vref[i])
			}
			// Against float64: the step taken, to 1e-5 of it or a few ulps
			// of the parameter.
			want, got := p64[i]-start[i], float64(p32[i])-start[i]
			if math.Abs(got-want) > 1e-5*math.Abs(want)+4*math.Abs(start[i])*0x1p-24 {
				t.Fatalf("step %d, parameter %d: float32 step %v, float64 step %v", step, i, got, want)
			}
		}
		// The next step starts from the same float32 values.
		copy(p64, to64(p32))
		copy(a64.m, to64(a32.m))
		copy(a64.v, to64(a32.v))
	}
}

// TestFit32 trains the same flow on the same data in both precisions (two
// moons, the standardised Old Faithful data, the checkerboard) and checks
// that the held-out negative log-likelihoods end within noise of each
// other: within twice the difference that a change of the shuffling seed
// makes to the float64 run, or 0.02 nats. The float32 run's flow must hold
// float32 values.
func TestFit32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 6))
	faithful := OldFaithful()
	for _, ds := range []struct {
		name         string
		train, valid *mat.Dense
	}{
		{"two-moons", TwoMoons(1500, 0.05, rnd), TwoMoons(1000, 0.05, rnd)},
		{"old-faithful", faithful, nil},
		{"checkerboard", Checkerboard(1500, rnd), Checkerboard(1000, rnd)},
	} {
		std, err := StandardizeData(ds.train)
		if err != nil {
			t.Fatal(err)
		}
		epochs := 40
		if testing.Short() {
			epochs = 15
		}
		run := func(p Precision, seed uint64) (float64, *Flow) {
			f, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 6, Hidden: []int{32, 32}, Activation: ReLU, Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			f, err = New(append(f.Layers(), std)...)
			if err != nil {
				t.Fatal(err)
			}
			cfg := TrainConfig{Epochs: epochs, BatchSize: 128, LearningRate: 3e-3, Seed: seed, Precision: p}
			if ds.valid != nil {
				cfg.Validation = ds.valid
			} else {
				cfg.ValidationFraction = 0.25
			}
			res, err := Fit(f, ds.train, cfg)
			if err != nil {
				t.Fatalf("%s, %v: %v", ds.name, p, err)
			}
			if !(res.BestLoss < res.InitialLoss-0.1) {
				t.Errorf("%s, %v: validation loss %v → %v: training did not learn", ds.name, p, res.InitialLoss, res.BestLoss)
			}
			return res.BestLoss, f
		}
		l64, _ := run(Float64, 1)
		l64b, _ := run(Float64, 2)
		l32, f32 := run(Float32, 1)
		noise := max(2*math.Abs(l64-l64b), 0.02)
		if math.Abs(l32-l64) > noise {
			t.Errorf("%s: held-out NLL float32 %.4f, float64 %.4f (another seed %.4f): differ by more than %.4f", ds.name, l32, l64, l64b, noise)
		}
		for i, v := range f32.Params() {
			if v != float64(float32(v)) {
				t.Fatalf("%s: after float32 training parameter %d is %v, not a float32 value", ds.name, i, v)
			}
		}
		t.Logf("%s: held-out NLL float32 %.4f, float64 %.4f, float64 with another seed %.4f", ds.name, l32, l64, l64b)
	}
}

// TestPrepack32 checks that packing the conditioners' weights once per
// float32 training step (prepack32Job) leaves the loss and gradient bit
// for bit as the shards' own packing gives them, for coupling and MAF
// flows, on one runner (which always prepacks) and on several.
func TestPrepack32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 7))
	rnvp, err := NewRealNVP(RealNVPConfig{Dim: 6, Layers: 3, Hidden: []int{40, 40}, Activation: ReLU})
	if err != nil {
		t.Fatal(err)
	}
	maf, err := NewMAFFlow(AutoregressiveFlowConfig{Dim: 5, Layers: 2, Hidden: []int{48, 48}, Activation: ReLU, ContextDim: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer func(v bool, m int) { prepackOff, prepackMin = v, m }(prepackOff, prepackMin)
	prepackMin = 0
	for _, f := range []*Flow{rnvp, maf} {
		perturb(f.Params(), 0.3, rnd)
		g, err := f.Float32()
		if err != nil {
			t.Fatal(err)
		}
		n := 300
		x := mat.NewDense(n, f.Dim(), randRows(n, f.Dim(), rnd))
		var c mat.Matrix
		if f.ContextDim() > 0 {
			c = mat.NewDense(n, f.ContextDim(), randRows(n, f.ContextDim(), rnd))
		}
		for _, w := range []int{1, 2} {
			var losses [2]float64
			var grads [2][]float32
			for i, off := range []bool{true, false} {
				prepackOff = off
				grads[i] = make([]float32, g.NumParams())
				obj := NewMaxLikelihood32(g, w, 100)
				losses[i] = obj.LossGradGiven(grads[i], x, c)
			}
			if losses[0] != losses[1] {
				t.Errorf("%d workers: loss %v prepacked, %v without", w, losses[1], losses[0])
			}
			for i := range grads[0] {
				if math.Float32bits(grads[0][i]) != math.Float32bits(grads[1][i]) {
					t.Fatalf("%d workers: gradient %d is %v prepacked, %v without", w, i, grads[1][i], grads[0][i])
				}
			}
		}
	}
}

// TestFit32Refuses checks that Fit, FitReverseKL and FitReverseKLGiven in
// float32 of a flow with a layer that has no float32 path (a layer of the
// user's own) return an error naming it and hand the flow back as it
// came: its parameters, its ActNorm layers (initialised on the first
// minibatch, or marked initialised, before the float32 copy is made) and
// its BatchNorm layer's statistics (set on the training rows before it) as
// they were.
func TestFit32Refuses(t *testing.T) {
	a, err := NewActNorm(2)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCoupling(CouplingConfig{Mask: HalfMask(2, false), Hidden: []int{8}})
	if err != nil {
		t.Fatal(err)
	}
	bn, err := NewBatchNorm(2, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(a, c, bn, &trapScale{d: 2, p: []float64{0}, limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	perturb(f.Params(), 0.3, rand.New(rand.NewPCG(32, 8)))
	p0 := append([]float64(nil), f.Params()...)
	m0, v0 := []float64{0.5, -1}, []float64{2, 0.25}
	if err := bn.SetStats(m0, v0); err != nil {
		t.Fatal(err)
	}
	data := TwoMoons(200, 0.1, rand.New(rand.NewPCG(32, 9)))
	_, err = Fit(f, data, TrainConfig{Epochs: 1, Precision: Float32})
	if err == nil || !strings.Contains(err.Error(), "layer 3 (*flow.trapScale) has no float32 path") {
		t.Fatalf("Fit in float32 with a layer of the user's own: error %v", err)
	}
	if maxAbsDiff(bn.Mean(), m0) != 0 || maxAbsDiff(bn.Variance(), v0) != 0 {
		t.Errorf("the BatchNorm layer's statistics are %v, %v after the refusal, were %v, %v", bn.Mean(), bn.Variance(), m0, v0)
	}
	for i, v := range f.Params() {
		if v != p0[i] {
			t.Fatalf("parameter %d is %v after the refusal, was %v", i, v, p0[i])
		}
	}
	if a.initialized {
		t.Error("the ActNorm layer was left initialised")
	}
	// Reverse KL in float32 refuses it the same way, its ActNorm layers
	// (marked initialised before the float32 copy is made) put back.
	rkl := TrainConfig{Epochs: 1, StepsPerEpoch: 2, Precision: Float32}
	for method, fit := range map[string]func() error{
		"FitReverseKL": func() error { _, err := FitReverseKL(context.Background(), f, banana, rkl); return err },
		"FitReverseKLGiven": func() error {
			_, err := FitReverseKLGiven(context.Background(), f, bananaShift, func([]float64, *rand.Rand) {}, rkl)
			return err
		},
	} {
		err := fit()
		if err == nil || !strings.Contains(err.Error(), "flow: "+method+": precision f32: Flow.Float32: layer 3 (*flow.trapScale) has no float32 path") {
			t.Errorf("%s in float32 with a layer of the user's own: error %v", method, err)
		}
		checkUnchanged(t, method, f, p0)
		if a.initialized {
			t.Errorf("%s: the ActNorm layer was left initialised", method)
		}
	}
}

// checkAllocs32 checks that a float32 training step (step into a gradient,
// then Adam32's update of g's parameters) and an evaluation (eval, a
// LogProb) allocate nothing once warm: each runs once before it is
// counted.
func checkAllocs32(t *testing.T, name string, g *Flow32, step func(grad []float32), eval func()) {
	t.Helper()
	opt := NewAdam32(1e-4)
	grad := make([]float32, g.NumParams())
	run := func() {
		step(grad)
		opt.Step(g.Params(), grad)
	}
	run()
	if a := testing.AllocsPerRun(5, run); a != 0 {
		t.Errorf("%s: a float32 training step allocates %v times", name, a)
	}
	eval()
	if a := testing.AllocsPerRun(5, eval); a != 0 {
		t.Errorf("%s: float32 LogProb allocates %v times", name, a)
	}
}
