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
)

// mustBase returns b, and panics on err: for bases whose construction the
// test does not doubt.
func mustBase[B Base](b B, err error) B {
	if err != nil {
		panic(err)
	}
	return b
}

// withBase returns the flow of layers over base.
func withBase(t testing.TB, base Base, layers ...Layer) *Flow {
	t.Helper()
	f, err := NewWithBase(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// idLayer returns the identity permutation of R^d: a layer that leaves
// the flow's density the base's.
func idLayer(t testing.TB, d int) Layer {
	t.Helper()
	p := make([]int, d)
	for i := range p {
		p[i] = i
	}
	l, err := NewPermutation(p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// realNVPLayers returns the layers of a Real NVP of dimension d.
func realNVPLayers(t testing.TB, d, nc int, seed uint64) []Layer {
	t.Helper()
	f, err := NewRealNVP(RealNVPConfig{Dim: d, Layers: 3, Hidden: []int{5}, Activation: Tanh, Clamp: 2, Seed: seed, ContextDim: nc})
	if err != nil {
		t.Fatal(err)
	}
	return f.Layers()
}

// mafLayers returns the layers of a MAF (iaf false) or IAF of dimension d.
func mafLayers(t testing.TB, iaf bool, d, nc int, seed uint64) []Layer {
	t.Helper()
	cfg := AutoregressiveFlowConfig{Dim: d, Layers: 2, Hidden: []int{6}, Activation: Tanh, Seed: seed, ContextDim: nc}
	build := NewMAFFlow
	if iaf {
		build = NewIAFFlow
	}
	f, err := build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f.Layers()
}

func condBase(t testing.TB, d, c int, hidden []int, act Activation) *ConditionalGaussianBase {
	t.Helper()
	return mustBase(NewConditionalGaussianBase(ConditionalGaussianBaseConfig{Dim: d, ContextDim: c, Hidden: hidden, Activation: act, Seed: 9}))
}

// TestBaseGrads checks the gradients of both objectives with respect to
// every parameter, the base's included, by central finite differences, at
// random parameters, for every unconditional base under several flows.
func TestBaseGrads(t *testing.T) {
	for _, tc := range []struct {
		name    string
		build   func() *Flow
		ml, kl  bool
		nonzero bool // the base's gradient must be non-zero
	}{
		{"diag/id/D=1", func() *Flow {
			return withBase(t, mustBase(NewDiagGaussianBase(1)), idLayer(t, 1))
		}, true, true, true},
		{"diag/realnvp", func() *Flow {
			return withBase(t, mustBase(NewDiagGaussianBase(3)), realNVPLayers(t, 3, 0, 1)...)
		}, true, true, true},
		{"diag/maf", func() *Flow {
			return withBase(t, mustBase(NewDiagGaussianBase(3)), mafLayers(t, false, 3, 0, 2)...)
		}, true, false, true},
		{"diag/iaf", func() *Flow {
			return withBase(t, mustBase(NewDiagGaussianBase(4)), mafLayers(t, true, 4, 0, 3)...)
		}, false, true, true},
		{"mixture/id/D=1/K=1", func() *Flow {
			return withBase(t, mustBase(NewMixtureBase(1, 1, 1)), idLayer(t, 1))
		}, true, false, true},
		{"mixture/id/D=2/K=4", func() *Flow {
			return withBase(t, mustBase(NewMixtureBase(2, 4, 2)), idLayer(t, 2))
		}, true, false, true},
		{"mixture/realnvp", func() *Flow {
			return withBase(t, mustBase(NewMixtureBase(3, 3, 3)), realNVPLayers(t, 3, 0, 4)...)
		}, true, false, true},
		{"mixture/maf", func() *Flow {
			return withBase(t, mustBase(NewMixtureBase(3, 5, 4)), mafLayers(t, false, 3, 0, 5)...)
		}, true, false, true},
	} {
		f := tc.build()
		randomizeParams(f, 0.5, 7)
		checkFlowGrads(t, tc.name, f, tc.ml, tc.kl)
		if tc.ml {
			x := randomRows(5, f.Dim(), 11)
			_, g := nllAndGrad(f, x, 5)
			lo, hi := f.BaseParamRange()
			if hi == lo || maxAbsDiff(g[lo:hi], make([]float64, hi-lo)) == 0 {
				t.Errorf("%s: the base's maximum-likelihood gradient is empty or zero", tc.name)
			}
		}
	}
}

// TestBaseGradLogProb checks ∂ log p/∂x through each base by central
// differences of LogProb, which holds the base's ∂/∂z to them.
func TestBaseGradLogProb(t *testing.T) {
	for _, f := range []*Flow{
		withBase(t, mustBase(NewDiagGaussianBase(3)), idLayer(t, 3)),
		withBase(t, mustBase(NewDiagGaussianBase(3)), realNVPLayers(t, 3, 0, 1)...),
		withBase(t, mustBase(NewMixtureBase(3, 4, 1)), idLayer(t, 3)),
		withBase(t, mustBase(NewMixtureBase(3, 4, 2)), mafLayers(t, false, 3, 0, 3)...),
	} {
		randomizeParams(f, 0.5, 8)
		const n = 4
		d := f.Dim()
		x := mat.NewDense(n, d, randomRows(n, d, 43))
		var dx mat.Dense
		f.GradLogProb(&dx, nil, nil, x, nil)
		lp := make([]float64, n)
		scale := mat.Norm(&dx, math.Inf(1))
		if scale == 0 {
			t.Fatal("∂ log p/∂x is zero: the test checks nothing")
		}
		for i := 0; i < n; i++ {
			for k := 0; k < d; k++ {
				fdCheck(t, "∂/∂x", dx.At(i, k), &x.RawRowView(i)[k], func() float64 { return f.LogProb(lp, x)[i] }, scale)
			}
		}
	}
}

// klOnlyBaseGiven returns the summed reverse-KL loss of the draws z with
// their contexts c, evaluating the base's density at its points directly.
func klOnlyBaseGiven(f *Flow, z, c []float64, n int, target ConditionalTarget) float64 {
	ws := f.newWorkspace(n)
	f.drawPass(ws, z, c, n)
	d, C := f.d, f.c
	lb := make([]float64, n)
	f.base.logProbRows(lb, ws.bufs[0][:n*d], c, make([]float64, n), ws.bwork)
	g := make([]float64, d)
	s := 0.0
	for i := 0; i < n; i++ {
		s += lb[i] - ws.logdet[i] - target(g, ws.bufs[len(f.layers)][i*d:i*d+d], c[i*C:i*C+C])
	}
	return s
}

// klGivenDC returns the reverse-KL loss of the draws z with contexts c,
// its parameter gradient and its gradient with respect to c.
func klGivenDC(f *Flow, z, c []float64, n int, target ConditionalTarget) (float64, []float64, []float64) {
	ws := f.newWorkspace(n)
	grad := make([]float64, f.NumParams())
	dc := make([]float64, n*f.c)
	f.drawPass(ws, z, c, n)
	loss := f.klBackwardGiven(ws, n, target, grad, dc)
	return loss, grad, dc
}

// TestConditionalBaseGrads checks, for a conditional base under
// conditional and unconditional layers and alone, the gradients of both
// objectives with respect to every parameter and to the contexts by
// central finite differences.
func TestConditionalBaseGrads(t *testing.T) {
	const d, C, n = 3, 2, 5
	for _, tc := range []struct {
		name   string
		build  func() *Flow
		ml, kl bool
	}{
		{"linear/id", func() *Flow { return withBase(t, condBase(t, d, C, nil, Tanh), idLayer(t, d)) }, true, true},
		{"tanh/id", func() *Flow { return withBase(t, condBase(t, d, C, []int{4}, Tanh), idLayer(t, d)) }, true, true},
		{"relu/realnvp", func() *Flow {
			return withBase(t, condBase(t, d, C, []int{6, 5}, ReLU), realNVPLayers(t, d, 0, 1)...)
		}, true, true},
		{"tanh/realnvp-ctx", func() *Flow {
			return withBase(t, condBase(t, d, C, []int{4}, Tanh), realNVPLayers(t, d, C, 2)...)
		}, true, true},
		{"tanh/maf-ctx", func() *Flow {
			return withBase(t, condBase(t, d, C, []int{4}, Tanh), mafLayers(t, false, d, C, 3)...)
		}, true, false},
		{"tanh/iaf-ctx", func() *Flow {
			return withBase(t, condBase(t, d, C, []int{4}, Tanh), mafLayers(t, true, d, C, 4)...)
		}, false, true},
	} {
		f := tc.build()
		if f.ContextDim() != C {
			t.Fatalf("%s: context dimension %d, want %d", tc.name, f.ContextDim(), C)
		}
		randomizeParams(f, 0.4, 5)
		x, c := randomRows(n, d, 21), randomRows(n, C, 22)
		lo, hi := f.BaseParamRange()
		if tc.ml {
			_, g := nllAndGradGiven(f, x, c, n)
			checkGrad(t, tc.name+"/ml", f, func() float64 { return nllOnlyGiven(f, x, c, n) }, g)
			if maxAbsDiff(g[lo:hi], make([]float64, hi-lo)) == 0 {
				t.Errorf("%s: the base's gradient is zero", tc.name)
			}
			// ∂ log p/∂c and ∂ log p/∂x, through GradLogProb.
			xm, cm := mat.NewDense(n, d, x), mat.NewDense(n, C, c)
			var dx, dc mat.Dense
			f.GradLogProb(&dx, &dc, nil, xm, cm)
			scale := math.Max(mat.Norm(&dx, math.Inf(1)), mat.Norm(&dc, math.Inf(1)))
			lp := make([]float64, n)
			for i := 0; i < n; i++ {
				row := func() float64 { return f.LogProbGiven(lp, xm, cm)[i] }
				for k := 0; k < d; k++ {
					fdCheck(t, tc.name+"/ml ∂/∂x", dx.At(i, k), &xm.RawRowView(i)[k], row, scale)
				}
				for k := 0; k < C; k++ {
					fdCheck(t, tc.name+"/ml ∂/∂c", dc.At(i, k), &cm.RawRowView(i)[k], row, scale)
				}
			}
		}
		if tc.kl {
			_, g, dc := klGivenDC(f, x, c, n, condTarget)
			checkGrad(t, tc.name+"/kl", f, func() float64 { return klOnlyBaseGiven(f, x, c, n, condTarget) }, g)
			if maxAbsDiff(g[lo:hi], make([]float64, hi-lo)) == 0 {
				t.Errorf("%s: the base's reverse-KL gradient is zero", tc.name)
			}
			// ∂/∂c with the target's own dependence on c held out: the
			// loss whose derivative dc is, Σ [log q(x_i | c_i)] −
			// log π(x_i | c̄_i) with c̄ the fixed contexts.
			cfix := append([]float64(nil), c...)
			scale := 0.0
			for _, v := range dc {
				scale = math.Max(scale, math.Abs(v))
			}
			if scale == 0 {
				t.Errorf("%s: ∂/∂c of reverse KL is zero", tc.name)
			}
			for i := 0; i < n; i++ {
				row := func() float64 {
					// The target of row i sees its original context.
					tgt := func(grad, x, ci []float64) float64 { return condTarget(grad, x, cfix[i*C:i*C+C]) }
					return klOnlyBaseGiven(f, x[i*d:i*d+d], c[i*C:i*C+C], 1, tgt)
				}
				for k := 0; k < C; k++ {
					fdCheck(t, tc.name+"/kl ∂/∂c", dc[i*C+k], &c[i*C+k], row, scale)
				}
			}
		}
	}
}

// integrate1 returns the trapezoidal integral of exp(logp) over [a, b] in
// m steps.
func integrate1(logp func(z []float64) float64, a, b float64, m int) float64 {
	h := (b - a) / float64(m)
	s := 0.0
	z := []float64{0}
	for i := 0; i <= m; i++ {
		z[0] = a + float64(i)*h
		w := 1.0
		if i == 0 || i == m {
			w = 0.5
		}
		s += w * math.Exp(logp(z))
	}
	return s * h
}

// integrate2 returns the trapezoidal integral of exp(logp) over [a, b]² in
// m steps along each axis.
func integrate2(logp func(z []float64) float64, a, b float64, m int) float64 {
	h := (b - a) / float64(m)
	s := 0.0
	z := []float64{0, 0}
	for i := 0; i <= m; i++ {
		for j := 0; j <= m; j++ {
			z[0], z[1] = a+float64(i)*h, a+float64(j)*h
			w := 1.0
			if i == 0 || i == m {
				w *= 0.5
			}
			if j == 0 || j == m {
				w *= 0.5
			}
			s += w * math.Exp(logp(z))
		}
	}
	return s * h * h
}

// baseLogProb returns log p_base(z | c) of one point through the base's
// own evaluation.
func baseLogProb(b Base, c []float64) func(z []float64) float64 {
	work := make([]float64, b.workLen(1))
	dst, ld := make([]float64, 1), make([]float64, 1)
	return func(z []float64) float64 {
		b.logProbRows(dst, z, c, ld, work)
		return dst[0]
	}
}

// TestBaseIntegrates: in one and two dimensions, the density of every base
// at non-trivial parameters integrates to 1: trapezoidal quadrature over
// [−16, 16]^D, which holds all but about 1e-10 of the mass (every
// |μ| ≤ 2.5 and σ ≤ 2.1), in steps of at most a tenth of the smallest σ
// (0.6), where the rule's error on a Gaussian is far below 1e-12.
func TestBaseIntegrates(t *testing.T) {
	for _, d := range []int{1, 2} {
		diag := mustBase(NewDiagGaussianBase(d))
		copy(diag.p, []float64{0.7, -0.4, 0.3, -0.2}[:d])
		copy(diag.p[d:], []float64{0.3, -0.4}[:d])
		mix := mustBase(NewMixtureBase(d, 3, 5))
		copy(mix.logits(), []float64{0.5, -1, 0.2})
		for i := range mix.logStds() {
			mix.logStds()[i] = 0.5 * math.Sin(float64(3*i+1))
		}
		cond := condBase(t, d, 2, []int{3}, Tanh)
		rnd := rand.New(rand.NewPCG(3, 3))
		for i := range cond.p {
			cond.p[i] = 0.25 * rnd.NormFloat64()
		}
		ctx := []float64{0.8, -1.3}
		for _, tc := range []struct {
			name string
			b    Base
			c    []float64
		}{
			{"std", mustBase(NewStdNormalBase(d)), nil},
			{"diag", diag, nil},
			{"mixture", mix, nil},
			{"conditional", cond, ctx},
		} {
			lp := baseLogProb(tc.b, tc.c)
			var got float64
			if d == 1 {
				got = integrate1(lp, -16, 16, 3200)
			} else {
				got = integrate2(lp, -16, 16, 640)
			}
			if math.Abs(got-1) > 1e-9 {
				t.Errorf("%s, D = %d: the density integrates to %.15g, want 1", tc.name, d, got)
			}
		}
	}
}

// moments returns the column means and variances of x.
func moments(x *mat.Dense) (mean, vari []float64) {
	n, d := x.Dims()
	mean, vari = make([]float64, d), make([]float64, d)
	for j := 0; j < d; j++ {
		for i := 0; i < n; i++ {
			mean[j] += x.At(i, j)
		}
		mean[j] /= float64(n)
		for i := 0; i < n; i++ {
			u := x.At(i, j) - mean[j]
			vari[j] += u * u
		}
		vari[j] /= float64(n - 1)
	}
	return mean, vari
}

// checkMoments holds the sample's column means and variances to the
// distribution's within 5 standard errors, the variance's standard error
// taken from the distribution's fourth central moment m4.
func checkMoments(t *testing.T, name string, x *mat.Dense, mean, vari, m4 []float64) {
	t.Helper()
	n, _ := x.Dims()
	gm, gv := moments(x)
	for j := range mean {
		if se := math.Sqrt(vari[j] / float64(n)); math.Abs(gm[j]-mean[j]) > 5*se {
			t.Errorf("%s: column %d: sample mean %.5g, want %.5g ± %.2g", name, j, gm[j], mean[j], se)
		}
		if se := math.Sqrt((m4[j] - vari[j]*vari[j]) / float64(n)); math.Abs(gv[j]-vari[j]) > 5*se {
			t.Errorf("%s: column %d: sample variance %.5g, want %.5g ± %.2g", name, j, gv[j], vari[j], se)
		}
	}
}

// TestBaseSampleMoments: samples of a flow of the identity over each base
// have the base's means and variances, and Sample's log q is the flow's
// log-density of the sample.
func TestBaseSampleMoments(t *testing.T) {
	const n, d = 40000, 2
	diag := mustBase(NewDiagGaussianBase(d))
	copy(diag.p, []float64{1.5, -0.5, 0.4, -0.7})
	mix := mustBase(NewMixtureBase(d, 3, 4))
	copy(mix.logits(), []float64{0.3, -0.8, 0.6})
	copy(mix.means(), []float64{-2, 1, 0.5, -1.5, 2.5, 2})
	copy(mix.logStds(), []float64{-0.5, 0.2, 0, -0.3, 0.4, -1})
	rnd := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name string
		b    Base
		// The distribution's column means, variances and fourth central
		// moments.
		mean, vari, m4 []float64
	}{
		{"diag", diag, []float64{1.5, -0.5}, []float64{math.Exp(0.8), math.Exp(-1.4)}, []float64{3 * math.Exp(1.6), 3 * math.Exp(-2.8)}},
		{"mixture", mix, nil, nil, nil},
	} {
		if tc.name == "mixture" {
			w := mix.Weights()
			tc.mean, tc.vari, tc.m4 = make([]float64, d), make([]float64, d), make([]float64, d)
			for j := 0; j < d; j++ {
				for k, wk := range w {
					tc.mean[j] += wk * mix.Mean(k)[j]
				}
				for k, wk := range w {
					u, s2 := mix.Mean(k)[j]-tc.mean[j], math.Exp(2*mix.LogStd(k)[j])
					tc.vari[j] += wk * (u*u + s2)
					// E(u + σε)⁴ = u⁴ + 6u²σ² + 3σ⁴.
					tc.m4[j] += wk * (u*u*u*u + 6*u*u*s2 + 3*s2*s2)
				}
			}
		}
		f := withBase(t, tc.b, idLayer(t, d))
		x := mat.NewDense(n, d, nil)
		logq := make([]float64, n)
		f.Sample(x, logq, rnd)
		checkMoments(t, tc.name, x, tc.mean, tc.vari, tc.m4)
		lp := f.LogProb(nil, x)
		for i := range lp {
			if math.Abs(lp[i]-logq[i]) > 1e-12*math.Max(1, math.Abs(lp[i])) {
				t.Fatalf("%s: row %d: Sample's log q %v, LogProb %v", tc.name, i, logq[i], lp[i])
			}
		}
	}
	// A conditional base: k samples of each context have mean μ(c) and
	// variance exp(2 s(c)), from the network's output.
	cond := condBase(t, d, 2, []int{3}, Tanh)
	crnd := rand.New(rand.NewPCG(7, 7))
	for i := range cond.p {
		cond.p[i] = 0.5 * crnd.NormFloat64()
	}
	f := withBase(t, cond, idLayer(t, d))
	c := mat.NewDense(2, 2, []float64{0.5, -1, -1.5, 2})
	var x mat.Dense
	logq := make([]float64, 2*n)
	f.SampleEach(&x, logq, c, n, rnd)
	for r := 0; r < 2; r++ {
		work := make([]float64, cond.workLen(1))
		out := cond.net.forward(cond.p, c.RawRowView(r), 1, work)
		mean := out[:d]
		vari := []float64{math.Exp(2 * out[d]), math.Exp(2 * out[d+1])}
		m4 := []float64{3 * vari[0] * vari[0], 3 * vari[1] * vari[1]}
		checkMoments(t, "conditional", x.Slice(r*n, (r+1)*n, 0, d).(*mat.Dense), mean, vari, m4)
	}
	rep := mat.NewDense(2*n, 2, nil)
	for i := 0; i < 2*n; i++ {
		rep.SetRow(i, c.RawRowView(i/n))
	}
	lp := f.LogProbGiven(nil, &x, rep)
	for i := range lp {
		if math.Abs(lp[i]-logq[i]) > 1e-12*math.Max(1, math.Abs(lp[i])) {
			t.Fatalf("conditional: row %d: SampleEach's log q %v, LogProbGiven %v", i, logq[i], lp[i])
		}
	}
}

// TestBaseDrawOrder: the draws come from the caller's generator in the
// documented order, row by row: D normals ε and z = μ + exp(s) ⊙ ε for a
// diagonal Gaussian; for a mixture one uniform choosing the component by
// the cumulative weights, then D normals. Sampling over several shards
// gives exactly these points, and SampleEach with k samples of a context
// is SampleGiven on the context repeated.
func TestBaseDrawOrder(t *testing.T) {
	const n, d = 300, 3 // three shards of evalShard rows
	diag := mustBase(NewDiagGaussianBase(d))
	copy(diag.p, []float64{0.5, -1, 2, 0.1, -0.3, 0.7})
	mix := mustBase(NewMixtureBase(d, 4, 2))
	copy(mix.logits(), []float64{0.3, -0.2, 1, -1})
	for i := range mix.logStds() {
		mix.logStds()[i] = 0.2 * float64(i%5-2)
	}
	for _, b := range []Base{diag, mix} {
		f := withBase(t, b, idLayer(t, d))
		x := mat.NewDense(n, d, nil)
		f.Sample(x, nil, rand.New(rand.NewPCG(8, 9)))
		rnd := rand.New(rand.NewPCG(8, 9))
		want := make([]float64, n*d)
		counts := make([]int, 4)
		for i := 0; i < n; i++ {
			mu, s := diag.Mean(), diag.LogStd()
			if b == Base(mix) {
				w := mix.Weights()
				u := rnd.Float64()
				k, acc := 0, 0.0
				for ; k < len(w)-1; k++ {
					acc += w[k]
					if u < acc {
						break
					}
				}
				counts[k]++
				mu, s = mix.Mean(k), mix.LogStd(k)
			}
			for j := 0; j < d; j++ {
				want[i*d+j] = mu[j] + math.Exp(s[j])*rnd.NormFloat64()
			}
		}
		if e := maxAbsDiff(x.RawMatrix().Data, want); e > 1e-14 {
			t.Errorf("%T: the samples differ from the documented draw order by %g", b, e)
		}
		if b == Base(mix) {
			for k, c := range counts {
				if c == 0 {
					t.Errorf("component %d was never drawn in %d samples (weights %v)", k, n, mix.Weights())
				}
			}
		}
	}
	// A conditional base: SampleEach is SampleGiven on repeated contexts.
	f := withBase(t, condBase(t, d, 2, []int{4}, Tanh), idLayer(t, d))
	randomizeParams(f, 0.5, 3)
	const m, k = 45, 7
	c := mat.NewDense(m, 2, randomRows(m, 2, 51))
	rep := mat.NewDense(m*k, 2, nil)
	for i := 0; i < m*k; i++ {
		rep.SetRow(i, c.RawRowView(i/k))
	}
	var xe, xg mat.Dense
	qe, qg := make([]float64, m*k), make([]float64, m*k)
	f.SampleEach(&xe, qe, c, k, rand.New(rand.NewPCG(1, 2)))
	f.SampleGiven(&xg, qg, rep, rand.New(rand.NewPCG(1, 2)))
	if !equalBits(xe.RawMatrix().Data, xg.RawMatrix().Data) || !equalBits(qe, qg) {
		t.Error("conditional base: SampleEach differs from SampleGiven on the repeated contexts")
	}
}

// TestBaseIdentityStart: a new diagonal or conditional Gaussian base is the
// standard normal, and a flow over it computes what the flow over the
// standard normal does, bit for bit: log-densities, samples and their log
// q, the layers' maximum-likelihood and reverse-KL gradients and losses.
func TestBaseIdentityStart(t *testing.T) {
	const d, n = 3, 150
	for _, nc := range []int{0, 2} {
		std := withBase(t, mustBase(NewStdNormalBase(d)), realNVPLayers(t, d, nc, 1)...)
		var b Base = mustBase(NewDiagGaussianBase(d))
		if nc > 0 {
			b = condBase(t, d, nc, []int{4}, Tanh)
		}
		g := withBase(t, b, realNVPLayers(t, d, nc, 1)...)
		randomizeParams(std, 0.3, 2)
		lo, _ := g.BaseParamRange()
		copy(g.Params()[:lo], std.Params())
		x := mat.NewDense(n, d, randomRows(n, d, 3))
		var c mat.Matrix
		if nc > 0 {
			c = mat.NewDense(n, nc, randomRows(n, nc, 4))
		}
		name := map[bool]string{false: "diag", true: "conditional"}[nc > 0]
		if !equalBits(std.LogProbGiven(nil, x, c), g.LogProbGiven(nil, x, c)) {
			t.Errorf("%s: LogProb differs from the standard normal flow's", name)
		}
		var xs, xg mat.Dense
		qs, qg := make([]float64, n), make([]float64, n)
		if nc > 0 {
			std.SampleGiven(&xs, qs, c, rand.New(rand.NewPCG(1, 1)))
			g.SampleGiven(&xg, qg, c, rand.New(rand.NewPCG(1, 1)))
		} else {
			xs.ReuseAs(n, d)
			xg.ReuseAs(n, d)
			std.Sample(&xs, qs, rand.New(rand.NewPCG(1, 1)))
			g.Sample(&xg, qg, rand.New(rand.NewPCG(1, 1)))
		}
		if !equalBits(xs.RawMatrix().Data, xg.RawMatrix().Data) || !equalBits(qs, qg) {
			t.Errorf("%s: Sample differs from the standard normal flow's", name)
		}
		for _, kl := range []bool{false, true} {
			gs, gg := make([]float64, std.NumParams()), make([]float64, g.NumParams())
			var ls, lg float64
			if kl {
				tgt := func(grad, x, _ []float64) float64 { return banana(grad, x) }
				ls = NewReverseKLGiven(std, tgt, 2, 0).LossGradGiven(gs, x, c)
				lg = NewReverseKLGiven(g, tgt, 2, 0).LossGradGiven(gg, x, c)
			} else {
				ls = NewMaxLikelihood(std, 2, 0).LossGradGiven(gs, x, c)
				lg = NewMaxLikelihood(g, 2, 0).LossGradGiven(gg, x, c)
			}
			if math.Float64bits(ls) != math.Float64bits(lg) || !equalBits(gs, gg[:lo]) {
				t.Errorf("%s, kl %v: loss %v and the layers' gradient differ from the standard normal flow's (%v)", name, kl, lg, ls)
			}
		}
	}
	// The standard normal base of New.
	f, err := New(idLayer(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Base().(*StdNormalBase); !ok || f.Base().Dim() != 2 || f.Base().NumParams() != 0 {
		t.Errorf("New's base is %T of dimension %d with %d parameters, want the standard normal of dimension 2", f.Base(), f.Base().Dim(), f.Base().NumParams())
	}
}

// TestMixtureStart: a new mixture has equal weights, unit standard
// deviations and distinct means, the (i·D + j)-th draw of its seed's
// generator being mean j of component i; the same seed gives the same
// means, another seed others.
func TestMixtureStart(t *testing.T) {
	const d, k = 3, 5
	b := mustBase(NewMixtureBase(d, k, 11))
	if b.Components() != k || b.NumParams() != k+2*k*d || len(b.Params()) != b.NumParams() {
		t.Fatalf("%d components, %d parameters (%d stored), want %d and %d", b.Components(), b.NumParams(), len(b.Params()), k, k+2*k*d)
	}
	for i, w := range b.Weights() {
		if math.Abs(w-1.0/k) > 1e-15 {
			t.Errorf("weight %d is %v, want 1/%d", i, w, k)
		}
	}
	seen := map[float64]bool{}
	for i := 0; i < k; i++ {
		for _, s := range b.LogStd(i) {
			if s != 0 {
				t.Errorf("component %d: log σ %v, want 0", i, s)
			}
		}
		for _, m := range b.Mean(i) {
			if seen[m] {
				t.Errorf("component %d: mean %v repeats", i, m)
			}
			seen[m] = true
		}
	}
	b2 := mustBase(NewMixtureBase(d, k, 11))
	b3 := mustBase(NewMixtureBase(d, k, 12))
	if !equalBits(b.Params(), b2.Params()) {
		t.Error("the same seed gives other means")
	}
	if maxAbsDiff(b.means(), b3.means()) == 0 {
		t.Error("another seed gives the same means")
	}
	if m, e := meanAbs(b.means()), 0.8; math.Abs(m-e) > 0.5 {
		t.Errorf("the means' mean magnitude is %v, want about √(2/π) ≈ %v for draws of N(0, 1)", m, e)
	}
}

func meanAbs(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += math.Abs(x)
	}
	return s / float64(len(v))
}

// TestBaseParams: the base's parameters follow the layers' in the flat
// vector; the layers' windows are New's; the base's window is its storage.
func TestBaseParams(t *testing.T) {
	layers := realNVPLayers(t, 3, 0, 1)
	plain := ftFlow(t, realNVPLayers(t, 3, 0, 1)...)
	b := mustBase(NewMixtureBase(3, 2, 1))
	before := append([]float64(nil), b.Params()...)
	f := withBase(t, b, layers...)
	lo, hi := f.BaseParamRange()
	if lo != plain.NumParams() || hi != f.NumParams() || hi-lo != b.NumParams() {
		t.Fatalf("base window [%d, %d) of %d parameters; want [%d, %d)", lo, hi, f.NumParams(), plain.NumParams(), plain.NumParams()+b.NumParams())
	}
	for l := range layers {
		a0, a1 := f.ParamRange(l)
		b0, b1 := plain.ParamRange(l)
		if a0 != b0 || a1 != b1 {
			t.Errorf("layer %d: window [%d, %d), New gives [%d, %d)", l, a0, a1, b0, b1)
		}
	}
	if !equalBits(f.Params()[lo:hi], before) {
		t.Error("binding changed the base's parameters")
	}
	f.Params()[lo] = 3.25
	if b.Params()[0] != 3.25 || b.logits()[0] != 3.25 {
		t.Error("writing the flow's parameters does not change the base")
	}
	p := append([]float64(nil), f.Params()...)
	p[hi-1] = -0.75
	f.SetParams(p)
	if b.LogStd(1)[2] != -0.75 {
		t.Error("SetParams does not reach the base")
	}
	if lo, hi := plain.BaseParamRange(); lo != hi || hi != plain.NumParams() {
		t.Errorf("the standard normal's window is [%d, %d), want empty at %d", lo, hi, plain.NumParams())
	}
	// Standardized keeps the base and its window.
	s, err := Standardized(f, mat.NewDense(4, 3, randomRows(4, 3, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Base() != Base(b) {
		t.Error("Standardized drops the base")
	}
	if l, h := s.BaseParamRange(); l != lo || h != hi {
		t.Errorf("Standardized moves the base's window to [%d, %d)", l, h)
	}
	cf := withBase(t, condBase(t, 3, 2, nil, Tanh), realNVPLayers(t, 3, 0, 1)...)
	cs, err := Standardized(cf, mat.NewDense(4, 3, randomRows(4, 3, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if cs.ContextDim() != 2 {
		t.Errorf("Standardized of a flow with a conditional base has context dimension %d, want 2", cs.ContextDim())
	}
}

// TestBaseDeterminism: training with each base gives bit-identical
// parameters for 1, 2, 3 and 8 goroutines.
func TestBaseDeterminism(t *testing.T) {
	diag := withBase(t, mustBase(NewDiagGaussianBase(3)), realNVPLayers(t, 3, 0, 1)...)
	randomizeParams(diag, 0.2, 3)
	checkDeterminism(t, "diag/ml", diag, false, 1, 2, 3, 8)
	checkDeterminism(t, "diag/kl", diag, true, 1, 2, 3, 8)
	mix := withBase(t, mustBase(NewMixtureBase(3, 4, 1)), realNVPLayers(t, 3, 0, 2)...)
	randomizeParams(mix, 0.2, 4)
	checkDeterminism(t, "mixture/ml", mix, false, 1, 2, 3, 8)
	cond := withBase(t, condBase(t, 3, 2, []int{5}, Tanh), realNVPLayers(t, 3, 2, 3)...)
	randomizeParams(cond, 0.2, 5)
	for _, kl := range []bool{false, true} {
		want := trainStepsGiven(cond, 1, kl)
		for _, w := range []int{2, 3, 8} {
			if !equalBits(trainStepsGiven(cond, w, kl), want) {
				t.Errorf("conditional, kl %v: %d workers differ from 1", kl, w)
			}
		}
		if maxAbsDiff(want, cond.Params()) == 0 {
			t.Errorf("conditional, kl %v: training did not move the parameters", kl)
		}
		lo, hi := cond.BaseParamRange()
		if maxAbsDiff(want[lo:hi], cond.Params()[lo:hi]) == 0 {
			t.Errorf("conditional, kl %v: training did not move the base", kl)
		}
	}
}

// TestBaseAllocs: with each base, steady-state training, LogProb and
// Sample allocate nothing.
func TestBaseAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Log("allocation counts are not meaningful under -race or -cover")
		return
	}
	const n, d = 300, 3
	x := mat.NewDense(n, d, randomRows(n, d, 1))
	c := mat.NewDense(n, 2, randomRows(n, 2, 2))
	lp := make([]float64, n)
	rnd := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name string
		b    Base
		nc   int
	}{
		{"diag", mustBase(NewDiagGaussianBase(d)), 0},
		{"mixture", mustBase(NewMixtureBase(d, 4, 1)), 0},
		{"conditional", condBase(t, d, 2, []int{6}, Tanh), 2},
	} {
		f := withBase(t, tc.b, realNVPLayers(t, d, 0, 1)...)
		randomizeParams(f, 0.1, 1)
		var cm mat.Matrix
		if tc.nc > 0 {
			cm = c
		}
		grad := make([]float64, f.NumParams())
		ml := NewMaxLikelihood(f, 2, 64)
		opt := NewAdam(1e-3)
		var dx, dc mat.Dense
		var dcm *mat.Dense
		if tc.nc > 0 {
			dcm = &dc
		}
		fns := map[string]func(){
			"MaxLikelihood": func() { ml.LossGradGiven(grad, x, cm); opt.Step(f.Params(), grad) },
			"LogProb":       func() { f.LogProbGiven(lp, x, cm) },
			"Sample":        func() { f.SampleGiven(x, lp, cm, rnd) },
			"GradLogProb":   func() { f.GradLogProb(&dx, dcm, lp, x, cm) },
		}
		if tc.name != "mixture" {
			tgt := condTarget
			if tc.nc == 0 {
				tgt = func(grad, x, _ []float64) float64 { return banana(grad, x) }
			}
			kl := NewReverseKLGiven(f, tgt, 2, 64)
			fns["ReverseKL"] = func() { kl.LossGradGiven(grad, x, cm) }
		}
		for name, fn := range fns {
			fn()
			if a := testing.AllocsPerRun(20, fn); a > 0 {
				t.Errorf("%s: %s: %v allocations per call in steady state", tc.name, name, a)
			}
		}
	}
}

// TestMixtureReverseKL: reverse KL refuses a mixture base: the objectives'
// constructors panic and FitReverseKL and FitReverseKLGiven return an
// error, leaving the parameters as they were.
func TestMixtureReverseKL(t *testing.T) {
	f := withBase(t, mustBase(NewMixtureBase(2, 3, 1)), realNVPLayers(t, 2, 0, 1)...)
	p0 := append([]float64(nil), f.Params()...)
	for name, fn := range map[string]func(){
		"NewReverseKL":      func() { NewReverseKL(f, banana, 1, 0) },
		"NewReverseKLGiven": func() { NewReverseKLGiven(f, condTarget, 1, 0) },
	} {
		msg := panicMessage(fn)
		if !strings.Contains(msg, "flow: "+name+": a mixture base") || !strings.Contains(msg, "reparameterisation") {
			t.Errorf("%s: panic %q, want one naming the mixture base and the reparameterisation gradient", name, msg)
		}
	}
	res, err := FitReverseKL(context.Background(), f, banana, TrainConfig{Epochs: 1, StepsPerEpoch: 2})
	if err == nil || res != nil || !strings.Contains(err.Error(), "flow: FitReverseKL: a mixture base (3 components)") {
		t.Errorf("FitReverseKL: result %v, error %v; want an error naming the mixture base", res, err)
	}
	cf := withBase(t, mustBase(NewMixtureBase(2, 2, 1)), realNVPLayers(t, 2, 1, 1)...)
	draw := func(c []float64, rnd *rand.Rand) { c[0] = rnd.NormFloat64() }
	tgt := func(grad, x, _ []float64) float64 { return banana(grad, x) }
	if _, err := FitReverseKLGiven(context.Background(), cf, tgt, draw, TrainConfig{Epochs: 1, StepsPerEpoch: 2}); err == nil || !strings.Contains(err.Error(), "flow: FitReverseKLGiven: a mixture base") {
		t.Errorf("FitReverseKLGiven: error %v, want one naming the mixture base", err)
	}
	if !equalBits(p0, f.Params()) {
		t.Error("the refused fit changed the parameters")
	}
	// Sampling and the ELBO, which need no gradient, work.
	if e, _ := ELBO(f, banana, 100, rand.New(rand.NewPCG(1, 1))); math.IsNaN(e) || math.IsInf(e, 0) {
		t.Errorf("ELBO of a flow with a mixture base: %v", e)
	}
}

// panicMessage returns the message fn panics with, or "" if it does not.
func panicMessage(fn func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg, _ = r.(string)
			if msg == "" {
				if e, ok := r.(error); ok {
					msg = e.Error()
				}
			}
		}
	}()
	fn()
	return ""
}

// TestBaseErrors: the constructors and NewWithBase refuse bad
// configurations with an error that says what is wrong.
func TestBaseErrors(t *testing.T) {
	layers := realNVPLayers(t, 3, 0, 1)
	condLayers := realNVPLayers(t, 3, 2, 1)
	for _, tc := range []struct {
		name string
		fn   func() error
		want string
	}{
		{"std d=0", func() error { _, err := NewStdNormalBase(0); return err }, "NewStdNormalBase: dimension 0 < 1"},
		{"diag d=0", func() error { _, err := NewDiagGaussianBase(0); return err }, "NewDiagGaussianBase: dimension 0 < 1"},
		{"diag d too large", func() error { _, err := NewDiagGaussianBase(1<<24 + 1); return err }, "more than the limit"},
		{"mixture k=0", func() error { _, err := NewMixtureBase(2, 0, 1); return err }, "NewMixtureBase: 0 components, want 1 to 16777216"},
		{"mixture k<0", func() error { _, err := NewMixtureBase(2, -3, 1); return err }, "-3 components"},
		{"mixture too large", func() error { _, err := NewMixtureBase(1<<20, 1<<10, 1); return err }, "NewMixtureBase: the base would need"},
		{"mixture d=0", func() error { _, err := NewMixtureBase(0, 2, 1); return err }, "NewMixtureBase: dimension 0"},
		{"conditional C=0", func() error {
			_, err := NewConditionalGaussianBase(ConditionalGaussianBaseConfig{Dim: 2})
			return err
		}, "context dimension 0, want 1 to 16777216 (a base without a context is a DiagGaussianBase)"},
		{"conditional d=0", func() error {
			_, err := NewConditionalGaussianBase(ConditionalGaussianBaseConfig{ContextDim: 2})
			return err
		}, "NewConditionalGaussianBase: dimension 0"},
		{"conditional hidden", func() error {
			_, err := NewConditionalGaussianBase(ConditionalGaussianBaseConfig{Dim: 2, ContextDim: 1, Hidden: []int{3, 0}})
			return err
		}, "hidden layer 1 has width 0"},
		{"conditional activation", func() error {
			_, err := NewConditionalGaussianBase(ConditionalGaussianBaseConfig{Dim: 2, ContextDim: 1, Activation: 7})
			return err
		}, "unknown activation Activation(7)"},
		{"conditional too large", func() error {
			_, err := NewConditionalGaussianBase(ConditionalGaussianBaseConfig{Dim: 2, ContextDim: 1, Hidden: []int{1 << 15, 1 << 15}})
			return err
		}, "the base would need"},
		{"nil base", func() error { _, err := NewWithBase(nil, layers...); return err }, "NewWithBase: base is nil"},
		{"typed nil base", func() error { _, err := NewWithBase((*DiagGaussianBase)(nil), layers...); return err }, "NewWithBase: base is nil"},
		{"no layers", func() error { _, err := NewWithBase(mustBase(NewDiagGaussianBase(3))); return err }, "NewWithBase: no layers"},
		{"dimension", func() error { _, err := NewWithBase(mustBase(NewDiagGaussianBase(2)), layers...); return err },
			"NewWithBase: the base (*flow.DiagGaussianBase) has dimension 2, the layers 3"},
		{"context", func() error { _, err := NewWithBase(condBase(t, 3, 3, nil, Tanh), condLayers...); return err },
			"NewWithBase: the base (*flow.ConditionalGaussianBase) has context dimension 3, layer 0 has 2"},
	} {
		err := tc.fn()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	// A conditional base makes a flow of unconditional layers
	// conditional; with conditional layers of the same C it is accepted.
	f := withBase(t, condBase(t, 3, 2, nil, Tanh), realNVPLayers(t, 3, 0, 2)...)
	if f.ContextDim() != 2 {
		t.Errorf("a conditional base over unconditional layers: context dimension %d, want 2", f.ContextDim())
	}
	if msg := panicMessage(func() { f.LogProb(nil, mat.NewDense(1, 3, nil)) }); !strings.Contains(msg, "use LogProbGiven") {
		t.Errorf("LogProb of a flow conditional through its base: panic %q", msg)
	}
	g := withBase(t, condBase(t, 3, 2, nil, Tanh), realNVPLayers(t, 3, 2, 3)...)
	if g.ContextDim() != 2 {
		t.Errorf("context dimension %d, want 2", g.ContextDim())
	}
	for name, fn := range map[string]func(){
		"Mean":   func() { mustBase(NewMixtureBase(2, 2, 1)).Mean(2) },
		"LogStd": func() { mustBase(NewMixtureBase(2, 2, 1)).LogStd(-1) },
	} {
		if msg := panicMessage(fn); !strings.Contains(msg, "MixtureBase."+name+": component") {
			t.Errorf("%s out of range: panic %q", name, msg)
		}
	}
}

// TestMixtureBaseHelps: on eight well-separated Gaussians a shallow MAF
// over a mixture base of 8 components reaches a held-out negative
// log-likelihood far below the same MAF over the standard normal, which a
// single affine autoregressive layer cannot split into modes.
func TestMixtureBaseHelps(t *testing.T) {
	rnd := rand.New(rand.NewPCG(21, 22))
	train := EightGaussians(2000, rnd)
	test := EightGaussians(2000, rnd)
	std, err := StandardizeData(train)
	if err != nil {
		t.Fatal(err)
	}
	nll := map[string]float64{}
	for _, name := range []string{"normal", "mixture"} {
		maf, err := NewMAF(AutoregressiveConfig{Dim: 2, Hidden: []int{16, 16}, Activation: Tanh, Clamp: 3, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		var b Base = mustBase(NewStdNormalBase(2))
		if name == "mixture" {
			b = mustBase(NewMixtureBase(2, 8, 1))
		}
		f := withBase(t, b, maf, std)
		if _, err := Fit(f, train, TrainConfig{Epochs: 40, BatchSize: 128, LearningRate: 1e-2, ValidationFraction: 0.1, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		nll[name] = -meanOf(f.LogProb(nil, test))
	}
	t.Logf("held-out NLL: standard normal base %.4f, mixture base %.4f", nll["normal"], nll["mixture"])
	if !(nll["mixture"] <= nll["normal"]-0.5) {
		t.Errorf("held-out NLL: mixture base %.4f, standard normal base %.4f: want the mixture at least 0.5 nats lower", nll["mixture"], nll["normal"])
	}
}

// TestConditionalBaseLearns: alone under the identity, a conditional base
// affine in the context fits data whose mean and log standard deviation
// are affine in the context, to a held-out negative log-likelihood within
// 0.02 nats of the true conditional density's.
func TestConditionalBaseLearns(t *testing.T) {
	rnd := rand.New(rand.NewPCG(31, 32))
	// x = (1.5c + 0.5, −c) + (e^{0.3c}, 0.5) ⊙ ε, c ~ N(0, 1).
	gen := func(n int) (x, c *mat.Dense, nll float64) {
		x, c = mat.NewDense(n, 2, nil), mat.NewDense(n, 1, nil)
		for i := 0; i < n; i++ {
			ci := rnd.NormFloat64()
			e0, e1 := rnd.NormFloat64(), rnd.NormFloat64()
			c.Set(i, 0, ci)
			x.Set(i, 0, 1.5*ci+0.5+math.Exp(0.3*ci)*e0)
			x.Set(i, 1, -ci+0.5*e1)
			nll += log2Pi + 0.3*ci + math.Log(0.5) + 0.5*(e0*e0+e1*e1)
		}
		return x, c, nll / float64(n)
	}
	train, trainC, _ := gen(4000)
	test, testC, trueNLL := gen(4000)
	f := withBase(t, condBase(t, 2, 1, nil, Tanh), idLayer(t, 2))
	if _, err := Fit(f, train, TrainConfig{Epochs: 30, BatchSize: 200, LearningRate: 2e-2, Context: trainC, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	got := -meanOf(f.LogProbGiven(nil, test, testC))
	t.Logf("held-out NLL %.4f, the true density's %.4f", got, trueNLL)
	if !(got <= trueNLL+0.02) {
		t.Errorf("held-out NLL %.4f, the true density's %.4f: want it within 0.02 nats", got, trueNLL)
	}
}

// TestGaussianBasesReverseKL: trained by reverse KL alone under the
// identity, a diagonal Gaussian base reaches a diagonal Gaussian target
// (its mean and standard deviations within 1 %, the ELBO within 1e-3 of
// log Z), and a conditional base affine in the context reaches a target
// whose mean and scale are affine in it (mean training loss below 1e-3
// nats, the reverse KL being 0 at the optimum).
func TestGaussianBasesReverseKL(t *testing.T) {
	m, sd := []float64{1, -2}, []float64{0.5, 2}
	target := func(grad, x []float64) float64 {
		lp := 0.0
		for j, v := range x {
			u := (v - m[j]) / sd[j]
			lp -= 0.5 * u * u
			grad[j] = -u / sd[j]
		}
		return lp
	}
	logZ := 0.0
	for _, s := range sd {
		logZ += 0.5*log2Pi + math.Log(s)
	}
	b := mustBase(NewDiagGaussianBase(2))
	f := withBase(t, b, idLayer(t, 2))
	if _, err := FitReverseKL(context.Background(), f, target, TrainConfig{Epochs: 40, StepsPerEpoch: 100, BatchSize: 64, LearningRate: 2e-2, CosineDecay: true, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	for j := range m {
		if mu, s := b.Mean()[j], math.Exp(b.LogStd()[j]); math.Abs(mu-m[j]) > 0.01*math.Max(1, math.Abs(m[j])) || math.Abs(s-sd[j]) > 0.01*sd[j] {
			t.Errorf("dimension %d: μ %.4f, σ %.4f; the target's %v, %v", j, mu, s, m[j], sd[j])
		}
	}
	t.Logf("diagonal base: μ %.4f, σ %.4f", b.Mean(), []float64{math.Exp(b.LogStd()[0]), math.Exp(b.LogStd()[1])})
	if elbo, se := ELBO(f, target, 4000, rand.New(rand.NewPCG(2, 2))); math.Abs(elbo-logZ) > 1e-3 {
		t.Errorf("ELBO %.5f ± %.2g, log Z %.5f", elbo, se, logZ)
	}

	// π(x | c) = N(x; (c, 1 − c), diag(e^{2·0.4c}, 0.25)), normalised.
	ctarget := func(grad, x, c []float64) float64 {
		mu := []float64{c[0], 1 - c[0]}
		s := []float64{0.4 * c[0], math.Log(0.5)}
		lp := 0.0
		for j, v := range x {
			u := (v - mu[j]) * math.Exp(-s[j])
			lp -= 0.5*log2Pi + s[j] + 0.5*u*u
			grad[j] = -u * math.Exp(-s[j])
		}
		return lp
	}
	g := withBase(t, condBase(t, 2, 1, nil, Tanh), idLayer(t, 2))
	draw := func(c []float64, rnd *rand.Rand) { c[0] = rnd.NormFloat64() }
	res, err := FitReverseKLGiven(context.Background(), g, ctarget, draw, TrainConfig{Epochs: 40, StepsPerEpoch: 100, BatchSize: 64, LearningRate: 2e-2, CosineDecay: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	last := res.History[len(res.History)-1].TrainLoss
	t.Logf("conditional base: reverse KL %.2g in the last epoch", last)
	if !(math.Abs(last) < 1e-3) {
		t.Errorf("conditional base: reverse KL %.4g in the last epoch, want below 1e-3", last)
	}
}
