// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// trainSteps runs steps of Adam on f with the given objective and worker
// count, on a fixed sequence of minibatches, and returns the parameters.
func trainSteps(t *testing.T, f *Flow, workers int, kl bool) []float64 {
	t.Helper()
	p0 := append([]float64(nil), f.Params()...)
	defer f.SetParams(p0)
	rnd := rand.New(rand.NewPCG(1, 2))
	var ml *MaxLikelihood
	var rk *ReverseKL
	if kl {
		rk = NewReverseKL(f, banana, workers, 16)
	} else {
		ml = NewMaxLikelihood(f, workers, 16)
	}
	opt := NewAdam(1e-2)
	grad := make([]float64, f.NumParams())
	for s := 0; s < 5; s++ {
		x := mat.NewDense(101, f.Dim(), randomRows(101, f.Dim(), rnd.Uint64()))
		if kl {
			rk.LossGrad(grad, x)
		} else {
			ml.LossGrad(grad, x)
		}
		opt.Step(f.Params(), grad)
	}
	return append([]float64(nil), f.Params()...)
}

// checkDeterminism trains f with several worker counts and requires
// bit-identical parameters.
func checkDeterminism(t *testing.T, name string, f *Flow, kl bool, workers ...int) {
	t.Helper()
	want := trainSteps(t, f, workers[0], kl)
	for _, w := range workers[1:] {
		got := trainSteps(t, f, w, kl)
		for i := range want {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Errorf("%s: %d workers: parameter %d is %v, with %d workers %v", name, w, i, got[i], workers[0], want[i])
				break
			}
		}
	}
	if maxAbsDiff(want, f.Params()) == 0 {
		t.Errorf("%s: training did not move the parameters", name)
	}
}

func TestParallelDeterminism(t *testing.T) {
	f, err := NewRealNVP(RealNVPConfig{Dim: 3, Layers: 4, Hidden: []int{16, 16}, Activation: Tanh, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.2, 3)
	checkDeterminism(t, "realnvp/ml", f, false, 1, 2, 3, 8)
	checkDeterminism(t, "realnvp/kl", f, true, 1, 2, 3, 8)
}

// TestLossGradMatchesSerial checks the sharded, reduced gradient against one
// serial pass over the whole batch.
func TestLossGradMatchesSerial(t *testing.T) {
	f, err := NewRealNVP(RealNVPConfig{Dim: 4, Layers: 3, Hidden: []int{8}, Activation: ReLU, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.3, 4)
	const n = 70
	x := randomRows(n, 4, 5)
	loss, grad := nllAndGrad(f, x, n)
	g := make([]float64, f.NumParams())
	got := NewMaxLikelihood(f, 3, 16).LossGrad(g, mat.NewDense(n, 4, x))
	if math.Abs(got-loss/n) > 1e-12*math.Abs(loss/n) {
		t.Errorf("sharded loss %v, serial %v", got, loss/n)
	}
	for i := range g {
		if math.Abs(g[i]-grad[i]/n) > 1e-12*(1+math.Abs(grad[i]/n)) {
			t.Fatalf("gradient %d: sharded %v, serial %v", i, g[i], grad[i]/n)
		}
	}
	lp := f.LogProb(nil, mat.NewDense(n, 4, x))
	if math.Abs(-meanOf(lp)-loss/n) > 1e-12*math.Abs(loss/n) {
		t.Errorf("LogProb mean %v, loss %v", -meanOf(lp), loss/n)
	}
}

func TestFitGaussianBaseline(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 3))
	x := TwoMoons(2000, 0.1, rnd)
	g, err := FitGaussian(x)
	if err != nil {
		t.Fatal(err)
	}
	// Compare with gonum's sample statistics (divisor n−1 rescaled to n).
	var cov mat.SymDense
	stat.CovarianceMatrix(&cov, x, nil)
	cov.ScaleSym(1999.0/2000, &cov)
	var dist mat.Dense
	dist.CloneFrom(x.Slice(0, 5, 0, 2))
	lp := g.LogProb(nil, &dist)
	var chol mat.Cholesky
	chol.Factorize(&cov)
	for i, v := range lp {
		u := []float64{x.At(i, 0) - stat.Mean(mat.Col(nil, 0, x), nil), x.At(i, 1) - stat.Mean(mat.Col(nil, 1, x), nil)}
		var sol mat.VecDense
		if err := chol.SolveVecTo(&sol, mat.NewVecDense(2, u)); err != nil {
			t.Fatal(err)
		}
		want := -0.5*mat.Dot(mat.NewVecDense(2, u), &sol) - 0.5*chol.LogDet() - log2Pi
		if math.Abs(v-want) > 1e-10 {
			t.Errorf("row %d: Gaussian log-density %v, want %v", i, v, want)
		}
	}
}

// TestRealNVPTwoMoons: a Real NVP fitted by maximum likelihood beats the best
// full-covariance Gaussian on held-out two-moons data by at least 0.6 nats.
func TestRealNVPTwoMoons(t *testing.T) {
	f, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 8, Hidden: []int{32, 32}, Activation: Tanh, Clamp: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkBeatsGaussian(t, "Real NVP", f)
}

// TestRealNVPBananaELBO: reverse-KL training on the banana, whose
// normalising constant is 4π, reaches an ELBO within 0.05 nats of log Z.
func TestRealNVPBananaELBO(t *testing.T) {
	f, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 6, Hidden: []int{32, 32}, Activation: Tanh, Clamp: 3, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, err = FitReverseKL(context.Background(), f, banana, TrainConfig{Epochs: 20, StepsPerEpoch: 100, BatchSize: 256, LearningRate: 3e-3, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	elbo, se := ELBO(f, banana, 100000, rand.New(rand.NewPCG(4, 4)))
	logZ := math.Log(4 * math.Pi)
	t.Logf("ELBO %.4f ± %.4f, log Z %.4f", elbo, se, logZ)
	if !(elbo >= logZ-0.05) || elbo > logZ+4*se {
		t.Errorf("ELBO %.4f ± %.4f: want within 0.05 nats below log Z = %.4f", elbo, se, logZ)
	}
}

func TestFitRejectsNonFiniteData(t *testing.T) {
	f, _ := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{4}})
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		x := mat.NewDense(10, 2, randomRows(10, 2, 1))
		x.Set(7, 1, bad)
		p0 := append([]float64(nil), f.Params()...)
		_, err := Fit(f, x, TrainConfig{Epochs: 1})
		if err == nil || !strings.Contains(err.Error(), "row 7, column 1") {
			t.Errorf("data with %v: error %v, want one naming row 7, column 1", bad, err)
		}
		if maxAbsDiff(p0, f.Params()) != 0 {
			t.Errorf("data with %v: parameters changed", bad)
		}
	}
}

// TestFitStopsOnNonFiniteLoss: a model pushed to overflow stops with
// ErrNonFinite and keeps its last finite parameters.
func TestFitStopsOnNonFiniteLoss(t *testing.T) {
	f, _ := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{4}, Activation: Tanh})
	x := mat.NewDense(64, 2, randomRows(64, 2, 1))
	// Rows this far out make exp(−s)·(x − b) overflow once the scales are
	// negative; setting them so makes the very first loss infinite.
	x.Set(3, 0, 1e300)
	x.Set(3, 1, 1e300)
	for i := range f.Params() {
		f.Params()[i] = -3
	}
	p0 := append([]float64(nil), f.Params()...)
	_, err := Fit(f, x, TrainConfig{Epochs: 2, BatchSize: 64})
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("error %v, want ErrNonFinite", err)
	}
	if maxAbsDiff(p0, f.Params()) != 0 || !finite(f.Params()) {
		t.Errorf("parameters changed after a non-finite loss")
	}
}

func TestFitEarlyStoppingRestoresBest(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 5))
	x := TwoMoons(400, 0.1, rnd)
	f, _ := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 4, Hidden: []int{16}, Activation: Tanh})
	var last []float64
	res, err := Fit(f, x, TrainConfig{Epochs: 40, BatchSize: 32, LearningRate: 2e-2, ValidationFraction: 0.25, Patience: 3, Seed: 2,
		Progress: func(p Progress) { last = append(last, p.ValidLoss) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.History) != res.Epochs || len(last) != res.Epochs {
		t.Fatalf("%d history entries, %d progress calls, %d epochs", len(res.History), len(last), res.Epochs)
	}
	best := res.History[res.BestEpoch-1].ValidLoss
	for _, p := range res.History {
		if p.ValidLoss < best {
			t.Errorf("epoch %d has validation loss %v below the best epoch's %v", p.Epoch, p.ValidLoss, best)
		}
	}
	if res.Epochs < 40 && res.Epochs-res.BestEpoch != 3 {
		t.Errorf("stopped at epoch %d with best %d and patience 3", res.Epochs, res.BestEpoch)
	}
	// The flow holds the best epoch's parameters: recompute the validation
	// loss on the same split.
	idx := rand.New(rand.NewPCG(2, 0xda3e39cb94b95bdb)).Perm(400)
	valid := mat.NewDense(100, 2, nil)
	for i, k := range idx[:100] {
		valid.SetRow(i, x.RawRowView(k))
	}
	if got := -meanOf(f.LogProb(nil, valid)); math.Abs(got-best) > 1e-12 {
		t.Errorf("validation loss of the restored parameters %v, best epoch's %v", got, best)
	}
}

func TestFitCancelled(t *testing.T) {
	f, _ := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{4}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := FitContext(ctx, f, TwoMoons(100, 0.1, rand.New(rand.NewPCG(1, 1))), TrainConfig{Epochs: 5})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestCosineDecay(t *testing.T) {
	c := TrainConfig{LearningRate: 0.2, CosineDecay: true}
	for _, tc := range []struct {
		t, T int
		want float64
	}{{0, 10, 0.2}, {5, 10, 0.1}, {10, 10, 0}, {3, 12, 0.1 * (1 + math.Sqrt(0.5))}} {
		if got := c.stepLR(tc.t, tc.T); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("step %d of %d: learning rate %v, want %v", tc.t, tc.T, got, tc.want)
		}
	}
	c.CosineDecay = false
	if got := c.stepLR(5, 10); got != 0.2 {
		t.Errorf("without decay: learning rate %v, want 0.2", got)
	}
}

// TestAdamStep checks one step against the update written out, on more
// parameters than one chunk, with weight decay.
func TestAdamStep(t *testing.T) {
	n := 3*sumChunk + 17
	p := randomRows(n, 1, 1)
	g := randomRows(n, 1, 2)
	want := append([]float64(nil), p...)
	a := NewAdam(0.01)
	a.WeightDecay = 0.1
	a.Step(p, g)
	g2 := randomRows(n, 1, 3)
	a.Step(p, g2)
	b1, b2 := 0.9, 0.999
	for i := range want {
		m, v := 0.0, 0.0
		for k, gi := range []float64{g[i], g2[i]} {
			m = b1*m + (1-b1)*gi
			v = b2*v + (1-b2)*gi*gi
			c1 := 1 - math.Pow(b1, float64(k+1))
			c2 := 1 - math.Pow(b2, float64(k+1))
			want[i] -= 0.01 * ((m/c1)/(math.Sqrt(v/c2)+1e-8) + 0.1*want[i])
		}
		// The compiler may fuse a·b + c into one FMA on some
		// architectures (arm64) and in one of the two places only, so
		// the two agree to rounding, not bit for bit.
		if math.Abs(p[i]-want[i]) > 1e-14*math.Abs(want[i]) {
			t.Fatalf("parameter %d: %v, want %v", i, p[i], want[i])
		}
	}
}

// TestNestedParallelCalls: a target that itself evaluates a flow (in
// parallel) from inside the shards of a parallel gradient finishes, with
// the result of a serial run.
func TestNestedParallelCalls(t *testing.T) {
	inner, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{8}, Activation: Tanh, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(inner, 0.3, 5)
	x := mat.NewDense(200, 2, randomRows(200, 2, 6))
	lp := inner.LogProb(nil, x)
	target := func(g, y []float64) float64 {
		// A parallel call nested in a shard; its value is a constant.
		v := meanOf(inner.LogProb(nil, x))
		return banana(g, y) + 0*v
	}
	if meanOf(lp) != meanOf(inner.LogProb(nil, x)) {
		t.Fatal("LogProb is not repeatable")
	}
	f, _ := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{8}, Activation: Tanh, Seed: 1})
	randomizeParams(f, 0.3, 2)
	z := mat.NewDense(64, 2, randomRows(64, 2, 7))
	g1 := make([]float64, f.NumParams())
	g8 := make([]float64, f.NumParams())
	l1 := NewReverseKL(f, banana, 1, 8).LossGrad(g1, z)
	l8 := NewReverseKL(f, target, 8, 8).LossGrad(g8, z)
	if l1 != l8 || maxAbsDiff(g1, g8) != 0 {
		t.Errorf("nested: loss %v, serial %v; gradients differ by %g", l8, l1, maxAbsDiff(g1, g8))
	}
}
