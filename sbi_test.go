// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// linearGaussian is a simulation-based inference problem with an exact
// answer: θ ~ N(0, I_P), x = A·θ + ε with ε ~ N(0, σ²·I_Q) for a fixed A.
// Its posterior p(θ | x) is Gaussian with covariance Σ = (I + AᵀA/σ²)⁻¹ and
// mean μ = Σ·Aᵀx/σ² (the conjugate normal model, e.g. Bishop 2006 §2.3.3).
type linearGaussian struct {
	p, q  int
	a     *mat.Dense // Q×P
	sigma float64
	sig   *mat.Dense   // the posterior covariance Σ
	chol  mat.Cholesky // Σ = L·Lᵀ
	logZ  float64      // ½·log|Σ| + (P/2)·log 2π
}

func newLinearGaussian(p, q int, sigma float64, rnd *rand.Rand) *linearGaussian {
	g := &linearGaussian{p: p, q: q, sigma: sigma, a: mat.NewDense(q, p, nil)}
	for i := 0; i < q; i++ {
		for j := 0; j < p; j++ {
			// Entries of variance 1/P keep each x_i of variance about
			// 1 + σ², so that the context needs no standardising.
			g.a.Set(i, j, rnd.NormFloat64()/math.Sqrt(float64(p)))
		}
	}
	prec := mat.NewSymDense(p, nil)
	var ata mat.Dense
	ata.Mul(g.a.T(), g.a)
	for i := 0; i < p; i++ {
		for j := 0; j <= i; j++ {
			v := ata.At(i, j) / (sigma * sigma)
			if i == j {
				v++
			}
			prec.SetSym(i, j, v)
		}
	}
	var pc mat.Cholesky
	if !pc.Factorize(prec) {
		panic("the posterior precision is not positive definite")
	}
	var cov mat.SymDense
	if err := pc.InverseTo(&cov); err != nil {
		panic(err)
	}
	g.sig = mat.DenseCopyOf(&cov)
	if !g.chol.Factorize(&cov) {
		panic("the posterior covariance is not positive definite")
	}
	g.logZ = 0.5*g.chol.LogDet() + 0.5*float64(p)*math.Log(2*math.Pi)
	return g
}

// simulate draws n pairs (θ, x) from the joint.
func (g *linearGaussian) simulate(n int, rnd *rand.Rand) (theta, x *mat.Dense) {
	theta, x = mat.NewDense(n, g.p, nil), mat.NewDense(n, g.q, nil)
	for r := 0; r < n; r++ {
		th := theta.RawRowView(r)
		for j := range th {
			th[j] = rnd.NormFloat64()
		}
		xr := x.RawRowView(r)
		for i := range xr {
			xr[i] = mat.Dot(g.a.RowView(i), mat.NewVecDense(g.p, th)) + g.sigma*rnd.NormFloat64()
		}
	}
	return theta, x
}

// posteriorKL estimates KL(p(θ | x) ‖ q(θ | x)) of the conditional flow f at
// the observation x by m draws from the exact posterior:
// E_p[log p(θ | x) − log q(θ | x)], with its standard error.
func (g *linearGaussian) posteriorKL(f *Flow, x []float64, m int, rnd *rand.Rand) (kl, se float64) {
	var ax mat.VecDense
	ax.MulVec(g.a.T(), mat.NewVecDense(g.q, x))
	var mu mat.VecDense
	mu.MulVec(g.sig, &ax)
	mu.ScaleVec(1/(g.sigma*g.sigma), &mu)
	var l mat.TriDense
	g.chol.LTo(&l)
	theta := mat.NewDense(m, g.p, nil)
	ctx := mat.NewDense(m, g.q, nil)
	logp := make([]float64, m)
	u := mat.NewVecDense(g.p, nil)
	var lu mat.VecDense
	for r := 0; r < m; r++ {
		ss := 0.0
		for j := 0; j < g.p; j++ {
			v := rnd.NormFloat64()
			u.SetVec(j, v)
			ss += v * v
		}
		lu.MulVec(&l, u)
		for j := 0; j < g.p; j++ {
			theta.Set(r, j, mu.AtVec(j)+lu.AtVec(j))
		}
		ctx.SetRow(r, x)
		logp[r] = -0.5*ss - g.logZ
	}
	logq := f.LogProbGiven(nil, theta, ctx)
	d := make([]float64, m)
	for r := range d {
		d[r] = logp[r] - logq[r]
	}
	kl = meanOf(d)
	v := 0.0
	for _, e := range d {
		v += (e - kl) * (e - kl)
	}
	return kl, math.Sqrt(v / float64(m-1) / float64(m))
}

// TestPosteriorLinearGaussian: a conditional MAF trained on 20,000
// simulations (θ, x) of the linear-Gaussian problem with P = 5 parameters
// and Q = 10 observations learns the posterior p(θ | x): its mean
// KL(true posterior ‖ flow) over 20 held-out observations is at most 0.05
// nats.
func TestPosteriorLinearGaussian(t *testing.T) {
	rnd := rand.New(rand.NewPCG(11, 12))
	g := newLinearGaussian(5, 10, 0.5, rnd)
	theta, x := g.simulate(20000, rnd)
	f, err := NewMAFFlow(AutoregressiveFlowConfig{Dim: 5, ContextDim: 10, Layers: 5, Hidden: []int{64, 64},
		Activation: Tanh, Clamp: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Fit(f, theta, TrainConfig{Epochs: 30, BatchSize: 256, LearningRate: 1e-3, CosineDecay: true,
		ValidationFraction: 0.05, Patience: 10, Context: x, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, xo := g.simulate(20, rnd)
	sum := 0.0
	for i := 0; i < 20; i++ {
		kl, se := g.posteriorKL(f, xo.RawRowView(i), 4000, rnd)
		t.Logf("observation %2d: KL %.4f ± %.4f", i, kl, se)
		sum += kl
	}
	mean := sum / 20
	t.Logf("mean KL(posterior ‖ flow) over 20 observations: %.4f nats (best epoch %d of %d, validation NLL %.4f)",
		mean, res.BestEpoch, res.Epochs, res.BestLoss)
	if !(mean <= 0.05) {
		t.Errorf("mean KL(posterior ‖ flow) %.4f nats, want ≤ 0.05", mean)
	}
}

// TestUninformativeContext: a context independent of the data costs little:
// a conditional Real NVP given pure noise (two standard normal columns)
// reaches the held-out NLL of the same flow without a context to within 0.1
// nats. It does not reach it to within noise: each row's noise is a key the
// conditioner can fit, and on 18,000 training rows of two moons that costs
// 0.03–0.1 nats (0.041 ± 0.010 with these seeds; 0.032 and 0.095 with layer
// seeds 2 and 3; 0.030 and 0.073 after 60 epochs with a cosine schedule;
// 0.031 ± 0.006 on 100,000 rows; weight decay of 1e-3 or 1e-2 changes
// nothing).
func TestUninformativeContext(t *testing.T) {
	rnd := rand.New(rand.NewPCG(13, 14))
	train, test := TwoMoons(20000, 0.1, rnd), TwoMoons(5000, 0.1, rnd)
	noise := func(n int) *mat.Dense {
		c := mat.NewDense(n, 2, nil)
		for i := range c.RawMatrix().Data {
			c.RawMatrix().Data[i] = rnd.NormFloat64()
		}
		return c
	}
	cTrain, cTest := noise(20000), noise(5000)
	cfg := RealNVPConfig{Dim: 2, Layers: 8, Hidden: []int{32, 32}, Activation: Tanh, Clamp: 3, Seed: 1}
	plain, err := NewRealNVP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ContextDim = 2
	cond, err := NewRealNVP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tc := TrainConfig{Epochs: 20, BatchSize: 256, LearningRate: 3e-3, ValidationFraction: 0.1, Patience: 5, Seed: 1}
	if _, err := Fit(plain, train, tc); err != nil {
		t.Fatal(err)
	}
	tc.Context = cTrain
	if _, err := Fit(cond, train, tc); err != nil {
		t.Fatal(err)
	}
	lpa, lpb := plain.LogProb(nil, test), cond.LogProbGiven(nil, test, cTest)
	a, b := -meanOf(lpa), -meanOf(lpb)
	diff := make([]float64, len(lpa))
	for i := range diff {
		diff[i] = lpa[i] - lpb[i]
	}
	md := meanOf(diff)
	v := 0.0
	for _, e := range diff {
		v += (e - md) * (e - md)
	}
	se := math.Sqrt(v / float64(len(diff)-1) / float64(len(diff)))
	t.Logf("held-out NLL: without context %.4f, given noise %.4f (paired difference %.4f ± %.4f)", a, b, md, se)
	if math.Abs(a-b) > 0.1 {
		t.Errorf("held-out NLL: without context %.4f, given noise %.4f: want them within 0.1 nats", a, b)
	}
}
