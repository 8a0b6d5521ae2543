// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// condAffine is a conditional layer for the tests of the flow-level API:
//
//	x = z ⊙ exp(s) + t,  s = A·c + a,  t = B·c + b,
//
// per row, with A and B D×C and a and b of length D. Its parameters are A,
// a, B, b in that order, row-major; it starts as the identity.
type condAffine struct {
	d, c int
	p    []float64
}

func newCondAffine(d, c int) *condAffine {
	return &condAffine{d: d, c: c, p: make([]float64, 2*d*(c+1))}
}

func (l *condAffine) Dim() int               { return l.d }
func (l *condAffine) ContextDim() int        { return l.c }
func (l *condAffine) NumParams() int         { return len(l.p) }
func (l *condAffine) Params() []float64      { return l.p }
func (l *condAffine) BindParams(p []float64) { copy(p, l.p); l.p = p }
func (l *condAffine) WorkLen(int) int        { return 0 }

// Offsets of A, a, B and b in the parameters.
func (l *condAffine) offA() int { return 0 }
func (l *condAffine) offa() int { return l.d * l.c }
func (l *condAffine) offB() int { return l.d*l.c + l.d }
func (l *condAffine) offb() int { return 2*l.d*l.c + l.d }

// st returns s_k and t_k for the context row ci.
func (l *condAffine) st(k int, ci []float64) (s, t float64) {
	c := l.c
	s, t = l.p[l.offa()+k], l.p[l.offb()+k]
	for j, v := range ci {
		s += l.p[l.offA()+k*c+j] * v
		t += l.p[l.offB()+k*c+j] * v
	}
	return s, t
}

func (l *condAffine) check(method string, c, logdet []float64, bufs ...[]float64) {
	checkRows(method, l.d, logdet, bufs...)
	checkRows(method, l.c, logdet, c)
}

func (l *condAffine) Forward(x, z, c, logdet, _ []float64) {
	l.check("condAffine.Forward", c, logdet, x, z)
	d, C := l.d, l.c
	for i := range logdet {
		ci := c[i*C : i*C+C]
		for k := 0; k < d; k++ {
			s, t := l.st(k, ci)
			x[i*d+k] = z[i*d+k]*math.Exp(s) + t
			logdet[i] += s
		}
	}
}

func (l *condAffine) Inverse(z, x, c, logdet, _ []float64) {
	l.check("condAffine.Inverse", c, logdet, x, z)
	d, C := l.d, l.c
	for i := range logdet {
		ci := c[i*C : i*C+C]
		for k := 0; k < d; k++ {
			s, t := l.st(k, ci)
			z[i*d+k] = (x[i*d+k] - t) * math.Exp(-s)
			logdet[i] -= s
		}
	}
}

// addGrads adds ∂L/∂s_k = gs and ∂L/∂t_k = gt of the row with context ci
// into the parameters' gradient (∂s_k/∂A_kj = c_j, ∂s_k/∂a_k = 1, and
// likewise for t) and, if dci is not nil, into the context's:
// ∂L/∂c_j += gs·A_kj + gt·B_kj.
func (l *condAffine) addGrads(grad, dci, ci []float64, k int, gs, gt float64) {
	c := l.c
	grad[l.offa()+k] += gs
	grad[l.offb()+k] += gt
	for j, v := range ci {
		grad[l.offA()+k*c+j] += gs * v
		grad[l.offB()+k*c+j] += gt * v
		if dci != nil {
			dci[j] += gs*l.p[l.offA()+k*c+j] + gt*l.p[l.offB()+k*c+j]
		}
	}
}

// InverseBackward: z_k = (x_k − t_k)·e^{−s_k} and ld = −Σ s_k, so
// ∂L/∂x_k = dz_k·e^{−s_k}, ∂L/∂t_k = −dz_k·e^{−s_k} and
// ∂L/∂s_k = −dz_k·z_k − dld.
func (l *condAffine) InverseBackward(dx, dc, dz, dld, x, z, c, _, grad []float64) {
	d, C := l.d, l.c
	for i := range dld {
		ci := c[i*C : i*C+C]
		var dci []float64
		if dc != nil {
			dci = dc[i*C : i*C+C]
		}
		for k := 0; k < d; k++ {
			s, _ := l.st(k, ci)
			e := math.Exp(-s)
			dx[i*d+k] = dz[i*d+k] * e
			l.addGrads(grad, dci, ci, k, -dz[i*d+k]*z[i*d+k]-dld[i], -dz[i*d+k]*e)
		}
	}
}

// ForwardBackward: x_k = z_k·e^{s_k} + t_k and ld = Σ s_k, so
// ∂L/∂z_k = dx_k·e^{s_k}, ∂L/∂t_k = dx_k and ∂L/∂s_k = dx_k·z_k·e^{s_k} + dld.
func (l *condAffine) ForwardBackward(dz, dc, dx, dld, z, x, c, _, grad []float64) {
	d, C := l.d, l.c
	for i := range dld {
		ci := c[i*C : i*C+C]
		var dci []float64
		if dc != nil {
			dci = dc[i*C : i*C+C]
		}
		for k := 0; k < d; k++ {
			s, _ := l.st(k, ci)
			e := math.Exp(s)
			dz[i*d+k] = dx[i*d+k] * e
			l.addGrads(grad, dci, ci, k, dx[i*d+k]*z[i*d+k]*e+dld[i], dx[i*d+k])
		}
	}
}

// condMixed returns a conditional flow of dimension 3 with context
// dimension 2 that mixes condAffine layers, one of them inverted, with
// unconditional layers that must pass the context on: a coupling, a
// permutation and a standardisation. Its parameters are random.
func condMixed(t *testing.T) *Flow {
	t.Helper()
	const d, c = 3, 2
	coup, err := NewCoupling(CouplingConfig{Mask: EvenOddMask(d, false), Hidden: []int{5}, Activation: Tanh, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := NewReverse(d)
	if err != nil {
		t.Fatal(err)
	}
	std, err := NewStandardize([]float64{0.5, -1, 2}, []float64{1.5, 0.7, 2})
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(newCondAffine(d, c), coup, rev, Invert(newCondAffine(d, c)), std)
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.3, 5)
	return f
}

// condMAF returns a conditional flow of dimension 3 with context dimension
// 2 around an unconditional MAF layer, for maximum likelihood only.
func condMAF(t *testing.T) *Flow {
	t.Helper()
	const d, c = 3, 2
	maf, err := NewMAF(AutoregressiveConfig{Dim: d, Hidden: []int{6}, Activation: Tanh, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(newCondAffine(d, c), maf, newCondAffine(d, c))
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.3, 6)
	return f
}

// condTarget is a conditional target for reverse KL, of any D and C ≥ 2:
//
//	log π(x | c) = −½·τ·Σ_k (x_k − m_k)² − 0.05·Σ_k x_k⁴,
//
// m_k = 0.5·c_0 − 0.3·k·c_1 and τ = exp(0.2·c_1).
func condTarget(grad, x, c []float64) float64 {
	tau := math.Exp(0.2 * c[1])
	lp := 0.0
	for k, v := range x {
		u := v - (0.5*c[0] - 0.3*float64(k)*c[1])
		lp -= 0.5*tau*u*u + 0.05*v*v*v*v
		grad[k] = -tau*u - 0.2*v*v*v
	}
	return lp
}

// The passes of training with contexts, on one workspace over all n rows.

func nllAndGradGiven(f *Flow, x, c []float64, n int) (float64, []float64) {
	ws := f.newWorkspace(n)
	grad := make([]float64, f.NumParams())
	f.inversePass(ws, x, c, n)
	return f.nllBackward(ws, n, grad, nil), grad
}

func nllOnlyGiven(f *Flow, x, c []float64, n int) float64 {
	return -sumOf(f.LogProbGiven(nil, mat.NewDense(n, f.Dim(), x), mat.NewDense(n, f.ContextDim(), c)))
}

func klAndGradGiven(f *Flow, z, c []float64, n int, target ConditionalTarget) (float64, []float64) {
	ws := f.newWorkspace(n)
	grad := make([]float64, f.NumParams())
	f.drawPass(ws, z, c, n)
	return f.klBackwardGiven(ws, n, target, grad, nil), grad
}

func klOnlyGiven(f *Flow, z, c []float64, n int, target ConditionalTarget) float64 {
	d, C := f.Dim(), f.ContextDim()
	x := mat.NewDense(n, d, nil)
	ld := make([]float64, n)
	f.ForwardGiven(x, mat.NewDense(n, d, z), mat.NewDense(n, C, c), ld)
	g := make([]float64, d)
	s := 0.0
	for i := 0; i < n; i++ {
		s += StdNormalLogProb(z[i*d:i*d+d]) - ld[i] - target(g, x.RawRowView(i), c[i*C:i*C+C])
	}
	return s
}

func sumOf(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

// TestContextParamGrads checks the parameters' gradients of both
// objectives with contexts by central finite differences, on flows that mix
// conditional layers with unconditional ones.
func TestContextParamGrads(t *testing.T) {
	const n = 6
	for _, c := range []struct {
		name string
		f    *Flow
		kl   bool
	}{
		{"mixed", condMixed(t), true},
		{"maf", condMAF(t), false},
	} {
		f := c.f
		x := randomRows(n, f.Dim(), 21)
		ctx := randomRows(n, f.ContextDim(), 22)
		_, g := nllAndGradGiven(f, x, ctx, n)
		checkGrad(t, c.name+"/ml", f, func() float64 { return nllOnlyGiven(f, x, ctx, n) }, g)
		if c.kl {
			_, g := klAndGradGiven(f, x, ctx, n, condTarget)
			checkGrad(t, c.name+"/kl", f, func() float64 { return klOnlyGiven(f, x, ctx, n, condTarget) }, g)
		}
		// The contexts matter: changing one changes the log-density of
		// its row.
		lp := f.LogProbGiven(nil, mat.NewDense(n, f.Dim(), x), mat.NewDense(n, f.ContextDim(), ctx))
		ctx2 := append([]float64(nil), ctx...)
		ctx2[1] += 0.5
		lp2 := f.LogProbGiven(nil, mat.NewDense(n, f.Dim(), x), mat.NewDense(n, f.ContextDim(), ctx2))
		if lp2[0] == lp[0] || lp2[1] != lp[1] {
			t.Errorf("%s: changing row 0's context moved log p of row 0 from %v to %v and of row 1 from %v to %v", c.name, lp[0], lp2[0], lp[1], lp2[1])
		}
	}
}

// TestContextLossGradGiven checks the sharded objectives with contexts
// against the serial passes.
func TestContextLossGradGiven(t *testing.T) {
	f := condMixed(t)
	const n = 70
	x := randomRows(n, 3, 31)
	c := randomRows(n, 2, 32)
	for _, kl := range []bool{false, true} {
		var loss float64
		var grad []float64
		g := make([]float64, f.NumParams())
		var got float64
		if kl {
			loss, grad = klAndGradGiven(f, x, c, n, condTarget)
			got = NewReverseKLGiven(f, condTarget, 3, 16).LossGradGiven(g, mat.NewDense(n, 3, x), mat.NewDense(n, 2, c))
		} else {
			loss, grad = nllAndGradGiven(f, x, c, n)
			got = NewMaxLikelihood(f, 3, 16).LossGradGiven(g, mat.NewDense(n, 3, x), mat.NewDense(n, 2, c))
		}
		if math.Abs(got-loss/n) > 1e-12*math.Abs(loss/n) {
			t.Errorf("kl=%v: sharded loss %v, serial %v", kl, got, loss/n)
		}
		for i := range g {
			if math.Abs(g[i]-grad[i]/n) > 1e-12*(1+math.Abs(grad[i]/n)) {
				t.Fatalf("kl=%v: gradient %d: sharded %v, serial %v", kl, i, g[i], grad[i]/n)
			}
		}
	}
}

// fdCheck compares an analytic derivative with a central finite difference
// of fn in one coordinate, with checkGrad's measure of error.
func fdCheck(t *testing.T, name string, analytic float64, v *float64, fn func() float64, scale float64) {
	t.Helper()
	const h = 1e-5
	v0 := *v
	*v = v0 + h
	up := fn()
	*v = v0 - h
	down := fn()
	*v = v0
	num := (up - down) / (2 * h)
	if e := math.Abs(analytic-num) / math.Max(math.Abs(num), 1e-3*scale); !(e <= fdTol) {
		t.Errorf("%s: analytic %.12g, finite difference %.12g: relative error %.3g > %g", name, analytic, num, e, fdTol)
	}
}

// TestGradLogProb checks ∂ log p(x | c)/∂x and ∂/∂c by central finite
// differences of LogProbGiven, row by row, and the log-densities it
// reports against LogProbGiven's.
func TestGradLogProb(t *testing.T) {
	for _, f := range []*Flow{condMixed(t), condMAF(t)} {
		const n = 5
		d, C := f.Dim(), f.ContextDim()
		x := mat.NewDense(n, d, randomRows(n, d, 41))
		c := mat.NewDense(n, C, randomRows(n, C, 42))
		var dx, dc mat.Dense
		logp := make([]float64, n)
		f.GradLogProb(&dx, &dc, logp, x, c)
		want := f.LogProbGiven(nil, x, c)
		for i := range want {
			if math.Float64bits(logp[i]) != math.Float64bits(want[i]) {
				t.Errorf("row %d: GradLogProb's log p %v, LogProbGiven %v", i, logp[i], want[i])
			}
		}
		scale := math.Max(mat.Norm(&dx, math.Inf(1)), mat.Norm(&dc, math.Inf(1)))
		if scale == 0 {
			t.Fatal("all gradients are zero: the test checks nothing")
		}
		lp := make([]float64, n)
		for i := 0; i < n; i++ {
			row := func() float64 { return f.LogProbGiven(lp, x, c)[i] }
			for k := 0; k < d; k++ {
				fdCheck(t, "∂/∂x", dx.At(i, k), &x.RawRowView(i)[k], row, scale)
			}
			for k := 0; k < C; k++ {
				fdCheck(t, "∂/∂c", dc.At(i, k), &c.RawRowView(i)[k], row, scale)
			}
		}
		// Without dc, dx is the same, bit for bit.
		var dx2 mat.Dense
		f.GradLogProb(&dx2, nil, nil, x, c)
		if !mat.Equal(&dx, &dx2) {
			t.Error("GradLogProb without dc gives another dx")
		}
	}
	// An unconditional flow: dx by finite differences of LogProb.
	f, err := NewRealNVP(RealNVPConfig{Dim: 3, Layers: 3, Hidden: []int{5}, Activation: Tanh, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.3, 7)
	x := mat.NewDense(4, 3, randomRows(4, 3, 43))
	var dx mat.Dense
	f.GradLogProb(&dx, nil, nil, x, nil)
	lp := make([]float64, 4)
	for i := 0; i < 4; i++ {
		for k := 0; k < 3; k++ {
			fdCheck(t, "unconditional ∂/∂x", dx.At(i, k), &x.RawRowView(i)[k], func() float64 { return f.LogProb(lp, x)[i] }, mat.Norm(&dx, math.Inf(1)))
		}
	}
}

// TestSampleGivenEach: SampleEach is SampleGiven on the contexts each
// repeated k times, bit for bit, over shards that cut through a context's
// samples; SampleGiven's log q is LogProbGiven of the samples.
func TestSampleGivenEach(t *testing.T) {
	f := condMixed(t)
	const m, k = 45, 7 // 315 rows: shards of 128 split the samples of contexts 18 and 36
	c := mat.NewDense(m, 2, randomRows(m, 2, 51))
	rep := mat.NewDense(m*k, 2, nil)
	for i := 0; i < m*k; i++ {
		rep.SetRow(i, c.RawRowView(i/k))
	}
	var xe, xg mat.Dense
	qe := make([]float64, m*k)
	qg := make([]float64, m*k)
	f.SampleEach(&xe, qe, c, k, rand.New(rand.NewPCG(1, 2)))
	f.SampleGiven(&xg, qg, rep, rand.New(rand.NewPCG(1, 2)))
	if r, cols := xe.Dims(); r != m*k || cols != 3 {
		t.Fatalf("SampleEach gave %d×%d, want %d×3", r, cols, m*k)
	}
	for i := 0; i < m*k; i++ {
		for j := 0; j < 3; j++ {
			if math.Float64bits(xe.At(i, j)) != math.Float64bits(xg.At(i, j)) {
				t.Fatalf("row %d, column %d: SampleEach %v, SampleGiven %v", i, j, xe.At(i, j), xg.At(i, j))
			}
		}
		if math.Float64bits(qe[i]) != math.Float64bits(qg[i]) {
			t.Fatalf("row %d: SampleEach log q %v, SampleGiven %v", i, qe[i], qg[i])
		}
	}
	lp := f.LogProbGiven(nil, &xg, rep)
	for i := range lp {
		if math.Abs(lp[i]-qg[i]) > 1e-10*math.Max(1, math.Abs(lp[i])) {
			t.Errorf("row %d: log q %v, LogProbGiven of the sample %v", i, qg[i], lp[i])
		}
	}
	// The samples of one context are distinct draws.
	if xe.At(0, 0) == xe.At(1, 0) || xe.At(0, 0) == xe.At(k, 0) {
		t.Error("samples repeat")
	}
	// For an unconditional flow, nil c is one context.
	g, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{3}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(g, 0.3, 8)
	var a mat.Dense
	g.SampleEach(&a, nil, nil, 5, rand.New(rand.NewPCG(3, 4)))
	b := mat.NewDense(5, 2, nil)
	g.Sample(b, nil, rand.New(rand.NewPCG(3, 4)))
	if !mat.Equal(&a, b) {
		t.Errorf("SampleEach of an unconditional flow with k = 5:\n%v\nSample of 5 rows:\n%v", mat.Formatted(&a), mat.Formatted(b))
	}
}

// TestContextForwardInverse: InverseGiven undoes ForwardGiven and their
// log-determinants are opposite; LogProbGiven is log N(InverseGiven) plus
// its log-determinant.
func TestContextForwardInverse(t *testing.T) {
	f := condMixed(t)
	const n = 200
	z := mat.NewDense(n, 3, randomRows(n, 3, 61))
	c := mat.NewDense(n, 2, randomRows(n, 2, 62))
	var x, z2 mat.Dense
	ldf := make([]float64, n)
	ldi := make([]float64, n)
	f.ForwardGiven(&x, z, c, ldf)
	f.InverseGiven(&z2, &x, c, ldi)
	if e := maxAbsDiff(z.RawMatrix().Data, z2.RawMatrix().Data); e > 1e-12 {
		t.Errorf("InverseGiven(ForwardGiven(z)) differs from z by %g", e)
	}
	lp := f.LogProbGiven(nil, &x, c)
	for i := 0; i < n; i++ {
		if math.Abs(ldf[i]+ldi[i]) > 1e-12 {
			t.Errorf("row %d: log-dets %v and %v are not opposite", i, ldf[i], ldi[i])
		}
		if want := StdNormalLogProb(z2.RawRowView(i)) + ldi[i]; math.Abs(lp[i]-want) > 1e-12*math.Max(1, math.Abs(want)) {
			t.Errorf("row %d: LogProbGiven %v, log N(z) + log-det %v", i, lp[i], want)
		}
	}
}

// TestContextUnconditionalSame: on an unconditional flow the Given methods
// with nil contexts are the plain ones, bit for bit.
func TestContextUnconditionalSame(t *testing.T) {
	f, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 3, Hidden: []int{4}, Activation: Tanh, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.3, 9)
	x := mat.NewDense(150, 2, randomRows(150, 2, 71))
	if !equalBits(f.LogProb(nil, x), f.LogProbGiven(nil, x, nil)) {
		t.Error("LogProbGiven(x, nil) differs from LogProb(x)")
	}
	var a, b mat.Dense
	f.Forward(&a, x, nil)
	f.ForwardGiven(&b, x, nil, nil)
	if !mat.Equal(&a, &b) {
		t.Error("ForwardGiven(x, nil) differs from Forward(x)")
	}
	a.Reset()
	b.Reset()
	f.Inverse(&a, x, nil)
	f.InverseGiven(&b, x, nil, nil)
	if !mat.Equal(&a, &b) {
		t.Error("InverseGiven(x, nil) differs from Inverse(x)")
	}
	s1, s2 := mat.NewDense(150, 2, nil), mat.NewDense(150, 2, nil)
	f.Sample(s1, nil, rand.New(rand.NewPCG(5, 5)))
	f.SampleGiven(s2, nil, nil, rand.New(rand.NewPCG(5, 5)))
	if !mat.Equal(s1, s2) {
		t.Error("SampleGiven(nil contexts) differs from Sample")
	}
	g1, g2 := make([]float64, f.NumParams()), make([]float64, f.NumParams())
	ml := NewMaxLikelihood(f, 2, 32)
	l1, l2 := ml.LossGrad(g1, x), ml.LossGradGiven(g2, x, nil)
	if l1 != l2 || !equalBits(g1, g2) {
		t.Error("MaxLikelihood.LossGradGiven(x, nil) differs from LossGrad(x)")
	}
}

func equalBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// trainStepsGiven is trainSteps with contexts: Adam steps on f with the
// given objective and worker count on a fixed sequence of minibatches and
// contexts.
func trainStepsGiven(f *Flow, workers int, kl bool) []float64 {
	p0 := append([]float64(nil), f.Params()...)
	defer f.SetParams(p0)
	rnd := rand.New(rand.NewPCG(1, 2))
	ml := NewMaxLikelihood(f, workers, 16)
	rk := NewReverseKLGiven(f, condTarget, workers, 16)
	opt := NewAdam(1e-2)
	grad := make([]float64, f.NumParams())
	for s := 0; s < 5; s++ {
		x := mat.NewDense(101, f.Dim(), randomRows(101, f.Dim(), rnd.Uint64()))
		c := mat.NewDense(101, f.ContextDim(), randomRows(101, f.ContextDim(), rnd.Uint64()))
		if kl {
			rk.LossGradGiven(grad, x, c)
		} else {
			ml.LossGradGiven(grad, x, c)
		}
		opt.Step(f.Params(), grad)
	}
	return append([]float64(nil), f.Params()...)
}

// TestContextDeterminism: training with contexts, GradLogProb, SampleEach
// and LogProbGiven give bit-identical results for 1, 2, 3 and 8
// goroutines.
func TestContextDeterminism(t *testing.T) {
	f := condMixed(t)
	for _, kl := range []bool{false, true} {
		want := trainStepsGiven(f, 1, kl)
		for _, w := range []int{2, 3, 8} {
			if got := trainStepsGiven(f, w, kl); !equalBits(got, want) {
				t.Errorf("kl=%v: %d workers train to other parameters than 1", kl, w)
			}
		}
		if maxAbsDiff(want, f.Params()) == 0 {
			t.Errorf("kl=%v: training did not move the parameters", kl)
		}
	}

	const n = 333
	x := mat.NewDense(n, 3, randomRows(n, 3, 81))
	c := mat.NewDense(n, 2, randomRows(n, 2, 82))
	eval := func() []float64 {
		var dx, dc, s mat.Dense
		lp := make([]float64, n)
		f.GradLogProb(&dx, &dc, lp, x, c)
		out := append(append(lp, dx.RawMatrix().Data...), dc.RawMatrix().Data...)
		q := make([]float64, 3*n)
		f.SampleEach(&s, q, c, 3, rand.New(rand.NewPCG(9, 9)))
		out = append(append(out, s.RawMatrix().Data...), q...)
		return append(out, f.LogProbGiven(nil, x, c)...)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	want := eval()
	for _, p := range []int{2, 3, 8} {
		runtime.GOMAXPROCS(p)
		if !equalBits(eval(), want) {
			t.Errorf("GOMAXPROCS %d: evaluation differs from GOMAXPROCS 1", p)
		}
	}
}

// TestFitContextLearns: on x = c + 0.1·ε, a conditional flow fitted with
// its contexts reaches a held-out negative log-likelihood far below the
// best any unconditional density can reach, the entropy of x's marginal
// N(0, 1.01·I).
func TestFitContextLearns(t *testing.T) {
	const d, n = 2, 3000
	rnd := rand.New(rand.NewPCG(11, 11))
	gen := func(n int) (x, c *mat.Dense) {
		x, c = mat.NewDense(n, d, nil), mat.NewDense(n, d, nil)
		for i := 0; i < n; i++ {
			for k := 0; k < d; k++ {
				v := rnd.NormFloat64()
				c.Set(i, k, v)
				x.Set(i, k, v+0.1*rnd.NormFloat64())
			}
		}
		return x, c
	}
	x, c := gen(n)
	xt, ct := gen(1000)
	coup, err := NewCoupling(CouplingConfig{Mask: HalfMask(d, false), Hidden: []int{8}, Activation: Tanh, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	rev, _ := NewReverse(d)
	f, err := New(coup, rev, newCondAffine(d, d))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Fit(f, x, TrainConfig{Epochs: 30, BatchSize: 128, LearningRate: 1e-2, ValidationFraction: 0.1, Context: c, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	nll := -meanOf(f.LogProbGiven(nil, xt, ct))
	uncond := 0.5 * d * math.Log(2*math.Pi*math.E*1.01)
	exact := 0.5 * d * math.Log(2*math.Pi*math.E*0.01)
	t.Logf("held-out NLL %.4f (validation %.4f, epoch %d); unconditional best %.4f, true conditional %.4f", nll, res.BestLoss, res.BestEpoch, uncond, exact)
	if !(nll < uncond-4) || !(res.BestLoss < uncond-4) {
		t.Errorf("held-out NLL %.4f, validation NLL %.4f: want both below the unconditional best %.4f by 4 nats", nll, res.BestLoss, uncond)
	}

	// An explicit validation set with its contexts: the flow's best
	// validation loss is that of the parameters it holds.
	f.SetParams(make([]float64, f.NumParams()))
	res, err = Fit(f, x, TrainConfig{Epochs: 3, BatchSize: 128, LearningRate: 1e-2, Context: c, Validation: xt, ValidationContext: ct, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := -meanOf(f.LogProbGiven(nil, xt, ct)); got != res.BestLoss || res.BestEpoch == 0 {
		t.Errorf("validation NLL of the flow %v, Result.BestLoss %v (epoch %d)", got, res.BestLoss, res.BestEpoch)
	}
}

// TestFitReverseKLGiven: amortised reverse KL to π(x | c) = N(x; W·c, σ²I)
// with a conditional affine layer, whose optimum is t = W·c and s = log σ,
// learns those parameters, and the run is the same for 1 and 3 workers.
func TestFitReverseKLGiven(t *testing.T) {
	const d, C, sigma = 2, 2, 0.5
	w := []float64{1, -0.5, 0.3, 2}
	target := func(grad, x, c []float64) float64 {
		lp := 0.0
		for k := range x {
			u := (x[k] - w[k*C]*c[0] - w[k*C+1]*c[1]) / sigma
			lp -= 0.5 * u * u
			grad[k] = -u / sigma
		}
		return lp
	}
	draw := func(c []float64, rnd *rand.Rand) {
		for j := range c {
			c[j] = rnd.NormFloat64()
		}
	}
	run := func(workers int) *Flow {
		l := newCondAffine(d, C)
		f, err := New(l)
		if err != nil {
			t.Fatal(err)
		}
		_, err = FitReverseKLGiven(context.Background(), f, target, draw, TrainConfig{Epochs: 20, StepsPerEpoch: 100, BatchSize: 64, LearningRate: 2e-2, CosineDecay: true, Seed: 3, Workers: workers, ShardSize: 16})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := run(1)
	if g := run(3); !equalBits(f.Params(), g.Params()) {
		t.Error("FitReverseKLGiven with 3 workers trains to other parameters than with 1")
	}
	l := f.Layers()[0].(*condAffine)
	for k := 0; k < d; k++ {
		if a := l.p[l.offa()+k]; math.Abs(a-math.Log(sigma)) > 0.02 {
			t.Errorf("a_%d = %v, want log σ = %v", k, a, math.Log(sigma))
		}
		for j := 0; j < C; j++ {
			if b := l.p[l.offB()+k*C+j]; math.Abs(b-w[k*C+j]) > 0.02 {
				t.Errorf("B_%d%d = %v, want %v", k, j, b, w[k*C+j])
			}
			if a := l.p[l.offA()+k*C+j]; math.Abs(a) > 0.02 {
				t.Errorf("A_%d%d = %v, want 0", k, j, a)
			}
		}
	}
}

// TestContextErrors: training refuses missing, superfluous, misshapen and
// non-finite contexts with errors that say so.
func TestContextErrors(t *testing.T) {
	cf := condMixed(t)
	uf, err := NewRealNVP(RealNVPConfig{Dim: 3, Layers: 2, Hidden: []int{3}})
	if err != nil {
		t.Fatal(err)
	}
	x := mat.NewDense(10, 3, randomRows(10, 3, 91))
	c := mat.NewDense(10, 2, randomRows(10, 2, 92))
	bad := mat.DenseCopyOf(c)
	bad.Set(3, 1, math.NaN())
	inf := mat.DenseCopyOf(c)
	inf.Set(0, 1, math.Inf(1))
	cfg := TrainConfig{Epochs: 1}
	with := func(f func(*TrainConfig)) TrainConfig { c := cfg; f(&c); return c }
	draw := func(c []float64, _ *rand.Rand) {
		for j := range c {
			c[j] = 0
		}
	}
	nanDraw := func(c []float64, rnd *rand.Rand) {
		draw(c, rnd)
		if rnd.IntN(50) == 0 {
			c[1] = math.NaN()
		}
	}
	bg := context.Background()
	for _, e := range []struct {
		name string
		err  func() error
		want string
	}{
		{"no context", func() error { _, err := Fit(cf, x, cfg); return err },
			"flow: Fit: the flow is conditional (C = 2), but TrainConfig.Context is nil"},
		{"context of an unconditional flow", func() error {
			_, err := Fit(uf, x, with(func(c2 *TrainConfig) { c2.Context = c }))
			return err
		}, "flow: Fit: TrainConfig.Context is set, but the flow has no context (C = 0)"},
		{"context too wide", func() error {
			_, err := Fit(cf, x, with(func(c2 *TrainConfig) { c2.Context = x }))
			return err
		}, "flow: Fit: TrainConfig.Context has 3 columns, the flow's context dimension C is 2"},
		{"context too short", func() error {
			_, err := Fit(cf, x, with(func(c2 *TrainConfig) { c2.Context = c.Slice(0, 9, 0, 2) }))
			return err
		}, "flow: Fit: TrainConfig.Context has 9 rows, the data 10"},
		{"NaN context", func() error {
			_, err := Fit(cf, x, with(func(c2 *TrainConfig) { c2.Context = bad }))
			return err
		}, "flow: Fit: context row 3, column 1 is NaN"},
		{"Inf context", func() error {
			_, err := Fit(cf, x, with(func(c2 *TrainConfig) { c2.Context = inf }))
			return err
		}, "flow: Fit: context row 0, column 1 is +Inf"},
		{"validation without context", func() error {
			_, err := Fit(cf, x, with(func(c2 *TrainConfig) { c2.Context, c2.Validation = c, x }))
			return err
		}, "flow: Fit: the flow is conditional (C = 2), but TrainConfig.ValidationContext is nil"},
		{"validation context without validation", func() error {
			_, err := Fit(cf, x, with(func(c2 *TrainConfig) { c2.Context, c2.ValidationContext = c, c }))
			return err
		}, "flow: Fit: TrainConfig.ValidationContext is set without Validation"},
		{"validation context short", func() error {
			_, err := Fit(cf, x, with(func(c2 *TrainConfig) { c2.Context, c2.Validation, c2.ValidationContext = c, x, c.Slice(0, 4, 0, 2) }))
			return err
		}, "flow: Fit: TrainConfig.ValidationContext has 4 rows, the validation data 10"},
		{"Inf validation context", func() error {
			_, err := Fit(cf, x, with(func(c2 *TrainConfig) { c2.Context, c2.Validation, c2.ValidationContext = c, x, inf }))
			return err
		}, "flow: Fit: validation context row 0, column 1 is +Inf"},
		{"FitReverseKL of a conditional flow", func() error { _, err := FitReverseKL(bg, cf, banana, cfg); return err },
			"flow: FitReverseKL: the flow is conditional (C = 2): use FitReverseKLGiven"},
		{"FitReverseKLGiven nil draw", func() error { _, err := FitReverseKLGiven(bg, cf, condTarget, nil, cfg); return err },
			"flow: FitReverseKLGiven: nil draw"},
		{"FitReverseKLGiven nil target", func() error { _, err := FitReverseKLGiven(bg, cf, nil, draw, cfg); return err },
			"flow: FitReverseKLGiven: nil target"},
		{"FitReverseKLGiven with Context", func() error {
			_, err := FitReverseKLGiven(bg, cf, condTarget, draw, with(func(c2 *TrainConfig) { c2.Context = c }))
			return err
		}, "flow: FitReverseKLGiven: TrainConfig.Context or ValidationContext is set"},
		{"FitReverseKLGiven NaN draw", func() error { _, err := FitReverseKLGiven(bg, cf, condTarget, nanDraw, cfg); return err },
			"flow: FitReverseKLGiven: draw gave a context with NaN in row "},
	} {
		p0 := append([]float64(nil), cf.Params()...)
		err := e.err()
		if err == nil || !strings.Contains(err.Error(), e.want) {
			t.Errorf("%s: error %v, want one containing %q", e.name, err, e.want)
		}
		if !equalBits(p0, cf.Params()) {
			t.Errorf("%s: the parameters changed", e.name)
		}
	}
}

// TestContextPanics: the caller's mistakes with contexts panic with
// messages naming the method and the shapes.
func TestContextPanics(t *testing.T) {
	cf := condMixed(t)
	uf, err := NewRealNVP(RealNVPConfig{Dim: 3, Layers: 2, Hidden: []int{3}})
	if err != nil {
		t.Fatal(err)
	}
	x := mat.NewDense(4, 3, randomRows(4, 3, 93))
	c := mat.NewDense(4, 2, randomRows(4, 2, 94))
	rnd := rand.New(rand.NewPCG(1, 1))
	grad := make([]float64, cf.NumParams())
	for _, p := range []struct {
		name string
		call func()
		want string
	}{
		{"LogProb", func() { cf.LogProb(nil, x) }, "flow: Flow.LogProb: the flow is conditional (C = 2): use LogProbGiven"},
		{"Forward", func() { cf.Forward(&mat.Dense{}, x, nil) }, "flow: Flow.Forward: the flow is conditional (C = 2): use ForwardGiven"},
		{"Inverse", func() { cf.Inverse(&mat.Dense{}, x, nil) }, "flow: Flow.Inverse: the flow is conditional (C = 2): use InverseGiven"},
		{"Sample", func() { cf.Sample(mat.NewDense(4, 3, nil), nil, rnd) }, "flow: Flow.Sample: the flow is conditional (C = 2): use SampleGiven or SampleEach"},
		{"MaxLikelihood.LossGrad", func() { NewMaxLikelihood(cf, 1, 0).LossGrad(grad, x) }, "flow: MaxLikelihood.LossGrad: the flow is conditional (C = 2): use LossGradGiven"},
		{"ReverseKL.LossGrad", func() { NewReverseKLGiven(cf, condTarget, 1, 0).LossGrad(grad, x) }, "flow: ReverseKL.LossGrad: the flow is conditional (C = 2): use LossGradGiven"},
		{"LogProbGiven nil c", func() { cf.LogProbGiven(nil, x, nil) }, "flow: Flow.LogProbGiven: c is nil; the flow is conditional and needs a context of 2 columns per row"},
		{"LogProbGiven wide c", func() { cf.LogProbGiven(nil, x, x) }, "flow: Flow.LogProbGiven: c is 4×3, want 4×2"},
		{"LogProbGiven short c", func() { cf.LogProbGiven(nil, x, c.Slice(0, 3, 0, 2)) }, "flow: Flow.LogProbGiven: c has 3 rows, x has 4"},
		{"LogProbGiven c of an unconditional flow", func() { uf.LogProbGiven(nil, x, c) }, "flow: Flow.LogProbGiven: c is 4×2, but the flow has no context (C = 0): want nil"},
		{"ForwardGiven short c", func() { cf.ForwardGiven(&mat.Dense{}, x, c.Slice(0, 3, 0, 2), nil) }, "flow: Flow.ForwardGiven: c has 3 rows, z has 4"},
		{"InverseGiven wide c", func() { cf.InverseGiven(&mat.Dense{}, x, x, nil) }, "flow: Flow.InverseGiven: c is 4×3, want 4×2"},
		{"SampleGiven dst", func() { cf.SampleGiven(mat.NewDense(3, 3, nil), nil, c, rnd) }, "flow: Flow.SampleGiven: dst is 3×3, want 4×3"},
		{"SampleGiven nil rnd", func() { cf.SampleGiven(&mat.Dense{}, nil, c, nil) }, "flow: Flow.SampleGiven: rnd is nil"},
		{"SampleGiven empty dst, nil c", func() { uf.SampleGiven(&mat.Dense{}, nil, nil, rnd) }, "flow: Flow.SampleGiven: dst is empty and c is nil"},
		{"SampleEach k = 0", func() { cf.SampleEach(&mat.Dense{}, nil, c, 0, rnd) }, "flow: Flow.SampleEach: k is 0, want at least 1"},
		{"SampleEach dst", func() { cf.SampleEach(mat.NewDense(4, 3, nil), nil, c, 2, rnd) }, "flow: Flow.SampleEach: dst is 4×3, want 8×3"},
		{"SampleEach logq", func() { cf.SampleEach(&mat.Dense{}, make([]float64, 4), c, 2, rnd) }, "flow: Flow.SampleEach: logq has length 4, want 8"},
		{"GradLogProb dc shape", func() { cf.GradLogProb(&mat.Dense{}, mat.NewDense(4, 3, nil), nil, x, c) }, "flow: Flow.GradLogProb: dc is 4×3, want 4×2"},
		{"GradLogProb nil dx", func() { cf.GradLogProb(nil, nil, nil, x, c) }, "flow: Flow.GradLogProb: dx is nil"},
		{"GradLogProb dc of an unconditional flow", func() { uf.GradLogProb(&mat.Dense{}, &mat.Dense{}, nil, x, nil) }, "flow: Flow.GradLogProb: dc is not nil, but the flow has no context (C = 0)"},
		{"LossGradGiven short c", func() { NewMaxLikelihood(cf, 1, 0).LossGradGiven(grad, x, c.Slice(0, 3, 0, 2)) }, "flow: MaxLikelihood.LossGradGiven: c has 3 rows, x has 4"},
		{"ReverseKL.LossGradGiven nil c", func() { NewReverseKLGiven(cf, condTarget, 1, 0).LossGradGiven(grad, x, nil) }, "flow: ReverseKL.LossGradGiven: c is nil"},
		{"NewReverseKLGiven nil target", func() { NewReverseKLGiven(cf, nil, 1, 0) }, "flow: NewReverseKLGiven: nil target"},
	} {
		if msg := catchPanic(p.call); !strings.Contains(msg, p.want) {
			t.Errorf("%s: panic %q, want one containing %q", p.name, msg, p.want)
		}
	}
}

// TestContextAllocs: once warmed up, the context paths allocate nothing.
func TestContextAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Log("allocation counts are not meaningful under -race or -cover")
		return
	}
	f := condMixed(t)
	const n = 300
	x := mat.NewDense(n, 3, randomRows(n, 3, 95))
	c := mat.NewDense(n, 2, randomRows(n, 2, 96))
	grad := make([]float64, f.NumParams())
	ml := NewMaxLikelihood(f, 2, 64)
	kl := NewReverseKLGiven(f, condTarget, 2, 64)
	opt := NewAdam(1e-3)
	lp := make([]float64, n)
	lq := make([]float64, 3*n)
	s := mat.NewDense(3*n, 3, nil)
	dx, dc := mat.NewDense(n, 3, nil), mat.NewDense(n, 2, nil)
	rnd := rand.New(rand.NewPCG(1, 1))
	for _, e := range []struct {
		name string
		fn   func()
	}{
		{"MaxLikelihood step", func() { ml.LossGradGiven(grad, x, c); opt.Step(f.Params(), grad) }},
		{"ReverseKL step", func() { kl.LossGradGiven(grad, x, c); opt.Step(f.Params(), grad) }},
		{"LogProbGiven", func() { f.LogProbGiven(lp, x, c) }},
		{"SampleGiven", func() { f.SampleGiven(x, lp, c, rnd) }},
		{"SampleEach", func() { f.SampleEach(s, lq, c, 3, rnd) }},
		{"GradLogProb", func() { f.GradLogProb(dx, dc, lp, x, c) }},
	} {
		e.fn()
		if a := testing.AllocsPerRun(50, e.fn); a > 0 {
			t.Errorf("%s: %v allocations per call in steady state", e.name, a)
		}
	}
}

// TestContextNames: the context's column names are kept, validated, and
// kept apart from the data's.
func TestContextNames(t *testing.T) {
	f, err := NewRealNVP(RealNVPConfig{Dim: 2, ContextDim: 2, Layers: 2, Hidden: []int{4}, Activation: Tanh})
	if err != nil {
		t.Fatal(err)
	}
	if f.ContextNames() != nil {
		t.Fatalf("context names %q before any were set", f.ContextNames())
	}
	if err := f.SetNames([]string{"x", "y"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"a"}, {"a", "a"}, {"a", ""}, {"a", "y"}, {"a", "b\n"}} {
		if err := f.SetContextNames(bad); err == nil {
			t.Errorf("SetContextNames(%q) accepted", bad)
		}
	}
	names := []string{"age", "dose"}
	if err := f.SetContextNames(names); err != nil {
		t.Fatal(err)
	}
	names[0] = "changed"
	if got := f.ContextNames(); got[0] != "age" || got[1] != "dose" {
		t.Errorf("context names %q, want [age dose]", got)
	}
	if err := f.SetNames([]string{"dose", "y"}); err == nil {
		t.Error("SetNames accepted a name of a context column")
	}
	if err := f.SetContextNames(nil); err != nil || f.ContextNames() != nil {
		t.Errorf("SetContextNames(nil): %v, names %q", err, f.ContextNames())
	}
	g, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{4}, Activation: Tanh})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetContextNames([]string{"a"}); err == nil {
		t.Error("an unconditional flow took a context name")
	}
}
