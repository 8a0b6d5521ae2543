// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"context"
	"errors"
	"fmt"
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

// TestFitCancelled: a cancelled run returns a filled-in Result and leaves
// the best parameters so far in the flow.
func TestFitCancelled(t *testing.T) {
	f, _ := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{4}})
	randomizeParams(f, 0.1, 1)
	p0 := append([]float64(nil), f.Params()...)
	x := TwoMoons(100, 0.1, rand.New(rand.NewPCG(1, 1)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := FitContext(ctx, f, x, TrainConfig{Epochs: 5, ValidationFraction: 0.2})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if res == nil || res.BestEpoch != 0 || res.Epochs != 0 || !isFinite(res.InitialLoss) || res.BestLoss != res.InitialLoss || maxAbsDiff(p0, f.Params()) != 0 {
		t.Errorf("cancelled before the first step: result %+v; parameters moved by %g", res, maxAbsDiff(p0, f.Params()))
	}

	// Cancelled in the middle of epoch 4: the flow holds the best of the
	// first 3 epochs (or the initial parameters).
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var snap snapshots
	record := snap.record(f)
	res, err = FitContext(ctx, f, x, TrainConfig{Epochs: 10, BatchSize: 16, LearningRate: 1e-2, ValidationFraction: 0.2, Seed: 1,
		Progress: func(p Progress) {
			record(p)
			if p.Epoch == 3 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) || res == nil || res.Epochs != 3 {
		t.Fatalf("error %v, result %+v", err, res)
	}
	if maxAbsDiff(snap[res.BestEpoch], f.Params()) != 0 {
		t.Errorf("the flow does not hold epoch %d's parameters", res.BestEpoch)
	}
	for _, p := range res.History {
		if p.ValidLoss < res.BestLoss {
			t.Errorf("epoch %d has validation loss %v, below the best %v", p.Epoch, p.ValidLoss, res.BestLoss)
		}
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
		// Adam.Step forms the update in another order (lr/(1−β₁ᵗ) and
		// 1/√(1−β₂ᵗ) once per step), and the compiler may fuse a·b + c
		// into one FMA on some architectures (arm64) and in one place
		// only, so the two agree to rounding, not bit for bit: to 1e-14
		// of the size of the operands of θ − Δ, |θ| and the update Δ
		// (about lr = 0.01 here), not of the result alone, which may be
		// near 0.
		if math.Abs(p[i]-want[i]) > 1e-14*(math.Abs(want[i])+0.01) {
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

// trapScale is the layer x = e^θ·z with one parameter θ that breaks once θ
// exceeds limit: every output is then NaN. Trained on data of spread e³
// (or towards such a target) from θ = 0, θ climbs steadily, so a run with
// a limit of 1 diverges on cue after some good epochs.
type trapScale struct {
	d     int
	p     []float64
	limit float64
}

func newTrap(d int, limit float64) *Flow {
	f, err := New(&trapScale{d: d, p: []float64{0}, limit: limit})
	if err != nil {
		panic(err)
	}
	return f
}

func (t *trapScale) Dim() int               { return t.d }
func (t *trapScale) NumParams() int         { return 1 }
func (t *trapScale) Params() []float64      { return t.p }
func (t *trapScale) BindParams(p []float64) { copy(p, t.p); t.p = p }
func (t *trapScale) WorkLen(int) int        { return 0 }

func (t *trapScale) scale() float64 {
	if t.p[0] > t.limit {
		return math.NaN()
	}
	return math.Exp(t.p[0])
}

func (t *trapScale) ContextDim() int { return 0 }

func (t *trapScale) Forward(x, z, _, logdet, _ []float64) {
	s := t.scale()
	for i := range z {
		x[i] = s * z[i]
	}
	for r := range logdet {
		logdet[r] += float64(t.d) * t.p[0]
	}
}

func (t *trapScale) Inverse(z, x, _, logdet, _ []float64) {
	s := t.scale()
	for i := range x {
		z[i] = x[i] / s
	}
	for r := range logdet {
		logdet[r] -= float64(t.d) * t.p[0]
	}
}

func (t *trapScale) InverseBackward(dx, _, dz, dld, x, z, _, _, grad []float64) {
	s := t.scale()
	for i := range dz {
		dx[i] = dz[i] / s
		grad[0] -= dz[i] * z[i]
	}
	for _, v := range dld {
		grad[0] -= float64(t.d) * v
	}
}

func (t *trapScale) ForwardBackward(dz, _, dx, dld, z, x, _, _, grad []float64) {
	s := t.scale()
	for i := range dx {
		dz[i] = s * dx[i]
		grad[0] += dx[i] * x[i]
	}
	for _, v := range dld {
		grad[0] += float64(t.d) * v
	}
}

// wide returns n rows of d columns of spread e³ ≈ 20.
func wide(n, d int, seed uint64) *mat.Dense {
	x := randomRows(n, d, seed)
	for i := range x {
		x[i] *= 20
	}
	return mat.NewDense(n, d, x)
}

// snapshots records the parameters at the end of every epoch (index 0: the
// initial ones).
type snapshots [][]float64

func (s *snapshots) record(f *Flow) func(Progress) {
	*s = append(*s, append([]float64(nil), f.Params()...))
	return func(Progress) { *s = append(*s, append([]float64(nil), f.Params()...)) }
}

// TestFitDivergenceKeepsBest: a run that diverges after some good epochs
// skips the bad steps, gives up after MaxSkips of them in a row with an
// error naming the epoch, and leaves the flow with the best epoch's finite
// parameters, with and without validation data.
func TestFitDivergenceKeepsBest(t *testing.T) {
	for _, withValid := range []bool{true, false} {
		f := newTrap(1, 1)
		var snap snapshots
		cfg := TrainConfig{Epochs: 100, BatchSize: 16, LearningRate: 0.05, MaxSkips: 3, Seed: 1, Progress: snap.record(f)}
		var valid *mat.Dense
		if withValid {
			valid = wide(16, 1, 2)
			cfg.Validation = valid
		}
		res, err := Fit(f, wide(64, 1, 1), cfg)
		if !errors.Is(err, ErrNonFinite) {
			t.Fatalf("validation %v: error %v, want ErrNonFinite", withValid, err)
		}
		if res == nil {
			t.Fatalf("validation %v: nil result", withValid)
		}
		for _, s := range []string{fmt.Sprintf("epoch %d:", res.Epochs+1), "3 steps in a row", "lower learning rate", "clamp"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("validation %v: error %q does not say %q", withValid, err, s)
			}
		}
		if res.Epochs < 3 || res.Epochs == cfg.Epochs || len(res.History) != res.Epochs || len(snap) != res.Epochs+1 {
			t.Fatalf("validation %v: %d epochs, %d history entries, %d snapshots", withValid, res.Epochs, len(res.History), len(snap))
		}
		// The best epoch is the last whose parameters are below the trap.
		want := 0
		for e, p := range snap {
			if p[0] <= 1 {
				want = e
			}
		}
		if res.BestEpoch != want || want < 2 {
			t.Errorf("validation %v: best epoch %d, want %d (θ by epoch %v)", withValid, res.BestEpoch, want, snap)
		}
		if got := f.Params()[0]; got != snap[want][0] || !(got <= 1) {
			t.Errorf("validation %v: θ = %v, want epoch %d's %v", withValid, got, want, snap[want][0])
		}
		if res.Skipped != 3 {
			t.Errorf("validation %v: %d steps skipped, want 3", withValid, res.Skipped)
		}
		inHistory := 0
		for _, p := range res.History {
			inHistory += p.Skipped
		}
		if inHistory > 3 {
			t.Errorf("validation %v: %d skipped steps in the history", withValid, inHistory)
		}
		lp := f.LogProb(nil, wide(8, 1, 3))
		if !finite(lp) {
			t.Errorf("validation %v: log p %v after divergence", withValid, lp)
		}
		if withValid {
			if got := -meanOf(f.LogProb(nil, valid)); got != res.BestLoss || got != res.History[want-1].ValidLoss || !(res.BestLoss < res.InitialLoss) {
				t.Errorf("validation NLL of the flow %v, best %v, epoch %d's %v, initial %v", got, res.BestLoss, want, res.History[want-1].ValidLoss, res.InitialLoss)
			}
		} else if !math.IsNaN(res.BestLoss) || !math.IsNaN(res.InitialLoss) {
			t.Errorf("without validation: best loss %v, initial %v, want NaN", res.BestLoss, res.InitialLoss)
		}
	}
}

// TestFitSkipsNonFiniteSteps: a row that makes its minibatch's loss
// infinite costs one skipped step per epoch and nothing else.
func TestFitSkipsNonFiniteSteps(t *testing.T) {
	f := newTrap(1, math.Inf(1))
	x := wide(64, 1, 1)
	x.Set(10, 0, 1e200) // ½z² overflows
	const epochs = 12
	res, err := Fit(f, x, TrainConfig{Epochs: epochs, BatchSize: 16, LearningRate: 0.05, Seed: 1, Validation: wide(16, 1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != epochs {
		t.Errorf("%d steps skipped, want %d", res.Skipped, epochs)
	}
	for _, p := range res.History {
		if p.Skipped != 1 || !isFinite(p.TrainLoss) || !isFinite(p.ValidLoss) {
			t.Errorf("epoch %d: %d skipped, train loss %v, validation loss %v", p.Epoch, p.Skipped, p.TrainLoss, p.ValidLoss)
		}
	}
	if res.BestEpoch != epochs || !(f.Params()[0] > 1) {
		t.Errorf("best epoch %d, θ = %v: training did not go on", res.BestEpoch, f.Params()[0])
	}
}

// TestFitOnlyWorse: a learning rate so high that every epoch is worse than
// the untrained flow leaves the flow untrained, with BestEpoch 0, and
// early stopping counts from there.
func TestFitOnlyWorse(t *testing.T) {
	x := TwoMoons(200, 0.1, rand.New(rand.NewPCG(1, 1)))
	for _, patience := range []int{0, 2} {
		f, _ := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{8}, Activation: Tanh, Clamp: 3, Seed: 1})
		p0 := append([]float64(nil), f.Params()...)
		res, err := Fit(f, x, TrainConfig{Epochs: 5, BatchSize: 32, LearningRate: 10, ValidationFraction: 0.25, Patience: patience, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if res.BestEpoch != 0 || maxAbsDiff(p0, f.Params()) != 0 {
			t.Errorf("patience %d: best epoch %d; the parameters moved by %g", patience, res.BestEpoch, maxAbsDiff(p0, f.Params()))
		}
		if !isFinite(res.InitialLoss) || res.BestLoss != res.InitialLoss {
			t.Errorf("patience %d: initial loss %v, best %v", patience, res.InitialLoss, res.BestLoss)
		}
		for _, p := range res.History {
			if p.ValidLoss <= res.InitialLoss {
				t.Errorf("patience %d: epoch %d has validation loss %v, not worse than the initial %v", patience, p.Epoch, p.ValidLoss, res.InitialLoss)
			}
		}
		if want := []int{5, 2}[patience/2]; res.Epochs != want {
			t.Errorf("patience %d: %d epochs, want %d", patience, res.Epochs, want)
		}
	}
}

// TestFitValidation: an explicit validation set is scored instead of a
// held-out fraction, all of the data is trained on (the epochs are those of
// a run without validation), and bad validation sets are refused.
func TestFitValidation(t *testing.T) {
	rnd := rand.New(rand.NewPCG(2, 2))
	x := TwoMoons(100, 0.1, rnd)
	valid := TwoMoons(40, 0.1, rnd)
	run := func(v mat.Matrix) (snapshots, *Result, *Flow) {
		f, _ := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{8}, Activation: Tanh, Clamp: 3, Seed: 1})
		var snap snapshots
		res, err := Fit(f, x, TrainConfig{Epochs: 6, BatchSize: 32, LearningRate: 1e-2, Validation: v, Seed: 3, Progress: snap.record(f)})
		if err != nil {
			t.Fatal(err)
		}
		return snap, res, f
	}
	with, res, f := run(valid)
	without, _, _ := run(nil)
	for e := range with {
		if maxAbsDiff(with[e], without[e]) != 0 {
			t.Fatalf("epoch %d: the parameters differ from a run without validation", e)
		}
	}
	lp := -meanOf(f.LogProb(nil, valid))
	if lp != res.BestLoss || (res.BestEpoch > 0 && lp != res.History[res.BestEpoch-1].ValidLoss) || maxAbsDiff(f.Params(), with[res.BestEpoch]) != 0 {
		t.Errorf("the flow's validation NLL %v, best %v (epoch %d)", lp, res.BestLoss, res.BestEpoch)
	}
	if !isFinite(res.InitialLoss) || res.BestLoss > res.InitialLoss {
		t.Errorf("initial validation NLL %v, best %v", res.InitialLoss, res.BestLoss)
	}

	bad := mat.DenseCopyOf(valid)
	bad.Set(2, 1, math.NaN())
	f, _ = NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{4}})
	for _, tc := range []struct {
		cfg TrainConfig
		msg string
	}{
		{TrainConfig{Validation: valid, ValidationFraction: 0.1}, "both Validation and a ValidationFraction"},
		{TrainConfig{Validation: mat.NewDense(3, 3, nil)}, "validation data has 3 columns, the flow 2"},
		{TrainConfig{Validation: bad}, "validation data row 2, column 1 is NaN"},
	} {
		tc.cfg.Epochs = 1
		res, err := Fit(f, x, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.msg) || res != nil {
			t.Errorf("error %v, want one saying %q", err, tc.msg)
		}
	}
	// One row of data is enough with an explicit validation set.
	if _, err := Fit(f, x.Slice(0, 1, 0, 2), TrainConfig{Epochs: 1, Validation: valid}); err != nil {
		t.Errorf("one row of training data: %v", err)
	}
}

// TestFitReverseKLDivergence: reverse-KL training that diverges keeps the
// parameters of the epoch with the lowest mean loss among those below the
// trap.
func TestFitReverseKLDivergence(t *testing.T) {
	f := newTrap(2, 1)
	target := func(g, x []float64) float64 { // N(0, 20²I)
		lp := 0.0
		for i, v := range x {
			g[i] = -v / 400
			lp -= v * v / 800
		}
		return lp
	}
	var snap snapshots
	res, err := FitReverseKL(context.Background(), f, target, TrainConfig{Epochs: 100, StepsPerEpoch: 3, BatchSize: 32, LearningRate: 0.05, MaxSkips: 4, Seed: 1, Progress: snap.record(f)})
	if !errors.Is(err, ErrNonFinite) || res == nil {
		t.Fatalf("error %v, want ErrNonFinite", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("epoch %d:", res.Epochs+1)) || res.Skipped != 4 {
		t.Errorf("error %q after %d epochs, %d skipped", err, res.Epochs, res.Skipped)
	}
	want, wantLoss := 0, math.Inf(1)
	for e, p := range res.History {
		if snap[e+1][0] <= 1 && p.TrainLoss < wantLoss {
			want, wantLoss = e+1, p.TrainLoss
		}
	}
	if res.BestEpoch != want || want < 2 || f.Params()[0] != snap[want][0] {
		t.Errorf("best epoch %d with θ = %v, want %d with %v", res.BestEpoch, f.Params()[0], want, snap[want][0])
	}
	if !math.IsNaN(res.BestLoss) || !math.IsNaN(res.InitialLoss) {
		t.Errorf("best loss %v, initial %v, want NaN", res.BestLoss, res.InitialLoss)
	}
	if _, err := FitReverseKL(context.Background(), f, target, TrainConfig{Validation: mat.NewDense(1, 2, nil)}); err == nil {
		t.Error("FitReverseKL accepted a validation set")
	}
}

// TestFitNil: nil arguments are caller mistakes, named in the panic.
func TestFitNil(t *testing.T) {
	f, _ := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{4}})
	x := mat.NewDense(4, 2, nil)
	for _, tc := range []struct {
		call func()
		msg  string
	}{
		{func() { Fit(nil, x, TrainConfig{}) }, "flow: Fit: nil flow"},
		{func() { FitContext(context.Background(), nil, x, TrainConfig{}) }, "flow: Fit: nil flow"},
		{func() { Fit(f, nil, TrainConfig{}) }, "flow: Fit: nil data"},
		{func() { Fit(f, (*mat.Dense)(nil), TrainConfig{}) }, "flow: Fit: nil data"},
		{func() { FitReverseKL(context.Background(), nil, banana, TrainConfig{}) }, "flow: FitReverseKL: nil flow"},
		{func() { Standardized(nil, x) }, "flow: Standardized: nil flow"},
		{func() { Standardized(f, nil) }, "flow: Standardized: nil data"},
	} {
		func() {
			defer func() {
				if r := recover(); r != tc.msg {
					t.Errorf("panic %v, want %q", r, tc.msg)
				}
			}()
			tc.call()
		}()
	}
}

// TestStandardized: the returned flow is f with the data's standardisation
// last, sharing f's parameters and names.
func TestStandardized(t *testing.T) {
	f, _ := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{4}, Activation: Tanh, Seed: 1})
	randomizeParams(f, 0.3, 1)
	if err := f.SetNames([]string{"eruptions", "waiting"}); err != nil {
		t.Fatal(err)
	}
	x := OldFaithful()
	g, err := Standardized(f, x)
	if err != nil {
		t.Fatal(err)
	}
	std, _ := StandardizeData(x)
	want, _ := New(append(f.Layers(), std)...) // rebinds f's layers: compare first
	lw := want.LogProb(nil, x)
	lg := g.LogProb(nil, x)
	if maxAbsDiff(lw, lg) != 0 {
		t.Errorf("log p differs from New(f's layers, StandardizeData) by %g", maxAbsDiff(lw, lg))
	}
	ls := g.Layers()
	if _, ok := ls[len(ls)-1].(*Standardize); !ok || len(ls) != len(f.Layers())+1 || g.NumParams() != f.NumParams() {
		t.Errorf("layers %T, %d parameters", ls, g.NumParams())
	}
	if strings.Join(g.Names(), ",") != "eruptions,waiting" {
		t.Errorf("names %v", g.Names())
	}
	if &g.Params()[0] != &f.Params()[0] {
		t.Error("the parameters are not shared")
	}
	if _, err := Standardized(f, mat.NewDense(2, 3, nil)); err == nil {
		t.Error("a column mismatch was accepted")
	}
}

// TestFitRefusesDirection checks that Fit of a flow with a layer that
// cannot backpropagate through Inverse (IAF), and FitReverseKL of one with
// a layer that cannot backpropagate through Forward (MAF), return an error
// naming the layer before training, the flow unchanged, in float64 as in
// float32, and that the inverted layers train.
func TestFitRefusesDirection(t *testing.T) {
	cfg := AutoregressiveFlowConfig{Dim: 2, Layers: 2, Hidden: []int{8}, Seed: 1}
	iaf, err := NewIAFFlow(cfg)
	if err != nil {
		t.Fatal(err)
	}
	maf, err := NewMAFFlow(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data := TwoMoons(200, 0.1, rand.New(rand.NewPCG(5, 6)))
	for _, p := range []Precision{Float64, Float32} {
		p0 := append([]float64(nil), iaf.Params()...)
		_, err := Fit(iaf, data, TrainConfig{Epochs: 1, Precision: p})
		if err == nil || !strings.Contains(err.Error(), "layer 0 (*flow.IAF) cannot backpropagate through Inverse, which maximum-likelihood training needs") {
			t.Errorf("Fit of an IAF flow in %v: error %v", p, err)
		}
		checkUnchanged(t, "Fit of an IAF flow", iaf, p0)
		p0 = append([]float64(nil), maf.Params()...)
		_, err = FitReverseKL(context.Background(), maf, banana, TrainConfig{Epochs: 1, StepsPerEpoch: 2, Precision: p})
		if err == nil || !strings.Contains(err.Error(), "layer 0 (*flow.MAF) cannot backpropagate through Forward, which reverse-KL training needs") {
			t.Errorf("FitReverseKL of a MAF flow in %v: error %v", p, err)
		}
		checkUnchanged(t, "FitReverseKL of a MAF flow", maf, p0)
	}
	var inv []Layer
	for _, l := range iaf.Layers() {
		inv = append(inv, Invert(l))
	}
	f, err := New(inv...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Fit(f, data, TrainConfig{Epochs: 1}); err != nil {
		t.Errorf("Fit of inverted IAF layers: %v", err)
	}
}
