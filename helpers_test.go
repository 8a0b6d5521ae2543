// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow/internal/golden"
)

// fdTol is the relative error allowed between a hand-derived gradient and
// its central finite difference.
const fdTol = 1e-6

// randomizeParams sets every parameter of f to a draw from N(0, scale²),
// so that no layer sits at its identity start and every path carries
// gradient.
func randomizeParams(f *Flow, scale float64, seed uint64) {
	rnd := rand.New(rand.NewPCG(seed, 1))
	for i := range f.Params() {
		f.Params()[i] = scale * rnd.NormFloat64()
	}
}

func randomRows(n, d int, seed uint64) []float64 {
	rnd := rand.New(rand.NewPCG(seed, 2))
	x := make([]float64, n*d)
	for i := range x {
		x[i] = rnd.NormFloat64()
	}
	return x
}

// banana is the banana target of the golden vectors (golden.Banana):
// log π(x) = −x₁²/8 − (x₂ − x₁²/4)²/2, summed over consecutive pairs when
// D > 2, plus −x²/2 for a last odd dimension, with its gradient. Its
// normalising constant is (4π)^{D/2} for even D.
var banana = golden.Banana

// checkGrad compares a hand-derived gradient to the central finite
// difference of loss over the flow's parameters. The error of component i is
// measured relative to max(|fd_i|, 1e-3·‖fd‖∞), so that components many
// orders below the largest are held to an absolute bound instead.
func checkGrad(t *testing.T, name string, f *Flow, loss func() float64, grad []float64) {
	t.Helper()
	p := f.Params()
	p0 := append([]float64(nil), p...)
	num := fd.Gradient(nil, func(q []float64) float64 {
		copy(p, q)
		return loss()
	}, p0, &fd.Settings{Formula: fd.Central, Step: 1e-5})
	copy(p, p0)
	compareGrad(t, name, num, grad)
}

// nllAndGrad returns the summed negative log-likelihood of the n rows of x
// and its gradient, through the same passes training uses.
func nllAndGrad(f *Flow, x []float64, n int) (float64, []float64) {
	ws := f.newWorkspace(n)
	grad := make([]float64, f.NumParams())
	f.inversePass(ws, x, nil, n)
	return f.nllBackward(ws, n, grad, nil), grad
}

func nllOnly(f *Flow, x []float64, n int) float64 {
	ws := f.newWorkspace(n)
	f.inversePass(ws, x, nil, n)
	out := make([]float64, n)
	f.base.logProbRows(out, ws.bufs[0][:n*f.d], nil, ws.logdet[:n], ws.bwork)
	s := 0.0
	for _, v := range out {
		s -= v
	}
	return s
}

// klAndGrad returns the summed reverse-KL loss of the base's standard
// normal draws z (the ε of ReverseKL) and its gradient.
func klAndGrad(f *Flow, z []float64, n int, target Target) (float64, []float64) {
	ws := f.newWorkspace(n)
	grad := make([]float64, f.NumParams())
	f.drawPass(ws, z, nil, n)
	return f.klBackward(ws, n, target, grad, nil), grad
}

// klOnly returns the summed reverse-KL loss of the draws z without the
// backward pass: the base maps them to its points, whose log-density it
// evaluates directly (not through drawLogProb).
func klOnly(f *Flow, z []float64, n int, target Target) float64 {
	ws := f.newWorkspace(n)
	f.drawPass(ws, z, nil, n)
	d := f.d
	lb := make([]float64, n)
	f.base.logProbRows(lb, ws.bufs[0][:n*d], nil, make([]float64, n), ws.bwork)
	g := make([]float64, d)
	s := 0.0
	for i := 0; i < n; i++ {
		x := ws.bufs[len(f.layers)][i*d : i*d+d]
		s += lb[i] - ws.logdet[i] - target(g, x)
	}
	return s
}

// checkFlowGrads runs the finite-difference checks of both objectives on f.
func checkFlowGrads(t *testing.T, name string, f *Flow, ml, kl bool) {
	t.Helper()
	const n = 5
	x := randomRows(n, f.Dim(), 11)
	if ml {
		_, g := nllAndGrad(f, x, n)
		checkGrad(t, name+"/ml", f, func() float64 { return nllOnly(f, x, n) }, g)
	}
	if kl {
		_, g := klAndGrad(f, x, n, banana)
		checkGrad(t, name+"/kl", f, func() float64 { return klOnly(f, x, n, banana) }, g)
	}
}

// numLogDet returns log|det| of the Jacobian of the map row ↦ apply(row),
// computed by central finite differences and an LU factorisation.
func numLogDet(d int, apply func(dst, src []float64), at []float64) float64 {
	jac := mat.NewDense(d, d, nil)
	fd.Jacobian(jac, func(y, x []float64) { apply(y, x) }, at, &fd.JacobianSettings{Formula: fd.Central})
	var lu mat.LU
	lu.Factorize(jac)
	ld, _ := lu.LogDet()
	return ld
}

// checkLayerLogDets compares both directions' reported log-determinants of
// layer l with numerical ones, row by row.
func checkLayerLogDets(t *testing.T, name string, l Layer, rows []float64, tol float64) {
	t.Helper()
	d := l.Dim()
	n := len(rows) / d
	work := make([]float64, l.WorkLen(1))
	for dir := 0; dir < 2; dir++ {
		apply := func(dst, src []float64) {
			ld := []float64{0}
			if dir == 0 {
				l.Forward(dst, src, nil, ld, work)
			} else {
				l.Inverse(dst, src, nil, ld, work)
			}
		}
		for r := 0; r < n; r++ {
			at := rows[r*d : r*d+d]
			ld := []float64{0}
			out := make([]float64, d)
			if dir == 0 {
				l.Forward(out, at, nil, ld, work)
			} else {
				l.Inverse(out, at, nil, ld, work)
			}
			want := numLogDet(d, apply, at)
			if math.Abs(ld[0]-want) > tol*math.Max(1, math.Abs(want)) {
				t.Errorf("%s: direction %d row %d: log|det| %.12g, numerical %.12g", name, dir, r, ld[0], want)
			}
		}
	}
}

// maxAbsDiff returns max_i |a_i − b_i|.
func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// checkBeatsGaussian fits f by maximum likelihood to two moons (noise 0.1)
// and requires its held-out negative log-likelihood to be at least 0.6 nats
// below the best full-covariance Gaussian's, fitted to the same data.
func checkBeatsGaussian(t *testing.T, name string, f *Flow) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(7, 7))
	train := TwoMoons(3000, 0.1, rnd)
	test := TwoMoons(2000, 0.1, rnd)
	res, err := Fit(f, train, TrainConfig{Epochs: 60, BatchSize: 128, LearningRate: 3e-3, ValidationFraction: 0.1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	g, err := FitGaussian(train)
	if err != nil {
		t.Fatal(err)
	}
	flowNLL := -meanOf(f.LogProb(nil, test))
	gaussNLL := -meanOf(g.LogProb(nil, test))
	t.Logf("held-out NLL: %s %.4f, Gaussian %.4f (best epoch %d of %d)", name, flowNLL, gaussNLL, res.BestEpoch, res.Epochs)
	if !(flowNLL <= gaussNLL-0.6) {
		t.Errorf("held-out NLL: %s %.4f, Gaussian %.4f: want the flow at least 0.6 nats lower", name, flowNLL, gaussNLL)
	}
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
