// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// bn32Flow is a flow with BatchNorm layers at the top, in the middle and
// at the bottom, between a coupling, a MAF layer and an initialised
// ActNorm, with a context of c columns and r residual blocks in the
// conditioners (0: plain ones).
func bn32Flow(t testing.TB, d, c, r int) *Flow {
	t.Helper()
	a := ftActNorm(t, d)
	a.initialized = true
	return ftFlow(t,
		ftBatchNorm(t, d),
		ftCoupling(t, CouplingConfig{Mask: HalfMask(d, false), Hidden: []int{12}, Activation: Tanh, ContextDim: c, ResidualBlocks: r, Seed: 1}),
		ftBatchNorm(t, d),
		ftMAF(t, AutoregressiveConfig{Dim: d, Hidden: []int{12}, Activation: ReLU, Order: ReversedOrder, ContextDim: c, ResidualBlocks: r, Seed: 2}),
		a,
		ftBatchNorm(t, d),
	)
}

// TestBatchNorm32Layer checks BatchNorm's float32 passes (the evaluation
// mode, with the stored statistics) against its float64 ones, in both
// directions and backward, with statistics near the standard ones and far
// from them.
func TestBatchNorm32Layer(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 40))
	for _, d := range []int{1, 3, 7} {
		b := ftBatchNorm(t, d)
		f := ftFlow(t, b)
		perturb(f.Params(), 0.5, rnd)
		randomizeBNStats(t, f, uint64(d))
		for _, n := range []int{1, 37} {
			checkLayer32(t, fmt.Sprintf("batchnorm/D=%d/n=%d", d, n), b, n, rnd)
		}
		m, v := make([]float64, d), make([]float64, d)
		for i := range m {
			m[i], v[i] = 30*rnd.NormFloat64(), math.Exp(4*rnd.NormFloat64())
		}
		if err := b.SetStats(m, v); err != nil {
			t.Fatal(err)
		}
		checkLayer32(t, fmt.Sprintf("batchnorm/D=%d/wide-stats", d), b, 37, rnd)
	}
}

// bn32TopFlow is a flow with one BatchNorm layer, at the data side, over
// a coupling, a residual MAF layer and an initialised ActNorm, with a
// context of c columns: no layer has a BatchNorm layer on its base side.
func bn32TopFlow(t testing.TB, d, c int) *Flow {
	t.Helper()
	a := ftActNorm(t, d)
	a.initialized = true
	return ftFlow(t,
		ftCoupling(t, CouplingConfig{Mask: HalfMask(d, false), Hidden: []int{12}, Activation: Tanh, ContextDim: c, Seed: 1}),
		ftMAF(t, AutoregressiveConfig{Dim: d, Hidden: []int{12}, Activation: ReLU, ContextDim: c, ResidualBlocks: 1, Seed: 2}),
		a,
		ftBatchNorm(t, d),
	)
}

// TestBatchNorm32Flow checks float32 flows with a BatchNorm layer at the
// data side against the float64 flow of the same parameters
// (checkFlow32): the evaluation mode's log p and round trip with stored
// statistics, and the training mode's loss and gradient over three
// shards, plain and conditional.
func TestBatchNorm32Flow(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 41))
	for _, c := range []int{0, 2} {
		f := bn32TopFlow(t, 4, c)
		randomizeBNStats(t, f, uint64(c))
		checkFlow32(t, fmt.Sprintf("batchnorm-top C=%d", c), f, rnd)
	}
}

// bn32Bound is the documented bound, in the mixed measure, of the float32
// gradient of a layer with a BatchNorm layer on its base side, in training
// mode (TestBatchNorm32Train); every other layer's is 1e-3.
const bn32Bound = 1e-2

// bn32Below reports whether layer l of f has a BatchNorm layer on its base
// side (a lower index).
func bn32Below(f *Flow, l int) bool {
	for _, k := range batchNormLayers(f) {
		if k < l {
			return true
		}
	}
	return false
}

// checkML32 compares a float32 maximum-likelihood loss and gradient with
// the float64 ones: the loss to 1e-4·(|loss| + 1), each layer's gradient
// in the mixed measure to 1e-3, or to bn32Bound for a layer with a
// BatchNorm layer on its base side. It returns the largest error of the
// latter.
func checkML32(t *testing.T, name string, f *Flow, loss32, loss64 float64, grad32 []float32, grad64 []float64) float64 {
	t.Helper()
	if logpBad([]float64{loss32}, []float64{loss64}, 1e-4) >= 0 {
		t.Errorf("%s: loss float32 %v, float64 %v", name, loss32, loss64)
	}
	worst := 0.0
	for l := range f.Layers() {
		lo, hi := f.ParamRange(l)
		e, tol := mixedErr(to64(grad32[lo:hi]), grad64[lo:hi]), 1e-3
		if bn32Below(f, l) {
			worst, tol = max(worst, e), bn32Bound
		}
		if !(e <= tol) {
			i := mixedBad(to64(grad32[lo:hi]), grad64[lo:hi], tol)
			t.Errorf("%s: layer %d (%T) gradient %d: float32 %v, float64 %v (error %.2e, tolerance %.0e)", name, l, f.Layers()[l], i, grad32[lo+i], grad64[lo+i], e, tol)
		}
	}
	return worst
}

// skewRows returns n×d rows rounded to float32, skewed, heavy-tailed and
// dependent: column i is e_i³/2 + e_{i−1}² − 1 for standard normal e.
func skewRows(n, d int, rnd *rand.Rand) []float64 {
	v := make([]float64, n*d)
	for r := 0; r < n; r++ {
		prev := 0.0
		for i := range d {
			e := rnd.NormFloat64()
			v[r*d+i] = e*e*e/2 + prev*prev - 1
			prev = e
		}
	}
	round32(v)
	return v
}

// TestBatchNorm32Train compares the training mode (batch statistics) of
// MaxLikelihood32 with MaxLikelihood's on the same parameters and rows,
// for flows with BatchNorm layers at the top, in the middle and at the
// bottom (bn32Flow), over one shard and over several (the statistics and
// the backward sums combined across shards), on 20 draws of parameters
// and rows, standard normal, with columns needing their own shift and
// scale, and skewed (skewRows).
//
// The loss holds to 1e-4, the BatchNorm layer at the base side and every
// layer without a BatchNorm layer on its base side to 1e-3. A layer with
// one on its base side does not always hold to 1e-3: the normalisation
// makes the loss all but invariant to the shift and scale of that layer's
// output, so its gradient is small (its largest element a few hundredths
// to a few tenths in these draws) and some of its elements, such as the
// conditioners' last biases, are near-cancelling sums over rows; the
// float32 rounding of those terms, in the layers' own float32 passes, is a
// larger part of such a gradient. The BatchNorm layer's own arithmetic is
// float64 (rounding only its outputs to float32 moves the float64
// gradients by 2e-4 at most), and moving the float64 flow's rows and
// parameters by float32 roundings moves them by 1.2e-4: the error is that
// of the float32 passes of the layers between. Over 240 draws like these
// (shards of 128 rows) the largest error was 4.4e-3 (standard normal rows;
// 1.6e-3 skewed); the bound, bn32Bound, is about twice that.
func TestBatchNorm32Train(t *testing.T) {
	worst := 0.0
	for draw := range 20 {
		rnd := rand.New(rand.NewPCG(uint64(draw), 42))
		tc := []struct{ d, c, r int }{{4, 0, 0}, {3, 2, 0}, {5, 0, 1}}[draw%3]
		f := bn32Flow(t, tc.d, tc.c, tc.r)
		perturb(f.Params(), 0.3, rnd)
		g, err := f.Float32()
		if err != nil {
			t.Fatal(err)
		}
		n := 300
		var x *mat.Dense
		switch draw % 4 {
		case 0, 2:
			x = mat.NewDense(n, tc.d, randRows(n, tc.d, rnd))
		case 1:
			x = scaledRows(n, tc.d, uint64(draw))
			round32(x.RawMatrix().Data)
		default:
			x = mat.NewDense(n, tc.d, skewRows(n, tc.d, rnd))
		}
		var c mat.Matrix
		if tc.c > 0 {
			c = mat.NewDense(n, tc.c, randRows(n, tc.c, rnd))
		}
		name := fmt.Sprintf("draw %d D=%d/C=%d/R=%d", draw, tc.d, tc.c, tc.r)
		var loss32 float64
		for _, shard := range []int{64, 300} {
			grad64 := make([]float64, f.NumParams())
			grad32 := make([]float32, g.NumParams())
			loss64 := NewMaxLikelihood(f, 2, shard).LossGradGiven(grad64, x, c)
			loss32 = NewMaxLikelihood32(g, 2, shard).LossGradGiven(grad32, x, c)
			worst = max(worst, checkML32(t, fmt.Sprintf("%s/shard=%d", name, shard), f, loss32, loss64, grad32, grad64))
		}
		if draw >= 3 {
			continue
		}
		// The training mode's loss is the evaluation mode's NLL with the
		// batch's statistics, in float32 too.
		if _, err := SetBatchNormStats(f, x, c); err != nil {
			t.Fatal(err)
		}
		if nll := -meanOf(g.LogProbGiven(nil, x, c)); logpBad([]float64{nll}, []float64{loss32}, 1e-5) >= 0 {
			t.Errorf("%s: float32 training-mode loss %v, evaluation-mode NLL with the batch's statistics %v", name, loss32, nll)
		}
	}
	t.Logf("largest float32 gradient error of a layer above a BatchNorm layer: %.2e (bound %.0e)", worst, bn32Bound)
}

// TestDropout32Train compares MaxLikelihood32 with dropout against
// MaxLikelihood with the same probability, seed and step: the masks are
// the same hash, so the loss and gradients agree to the tolerances
// without dropout; they differ from those without dropout, the next step
// draws other masks, and SetStep draws a step's masks again, bit for bit.
// The flows: residual couplings, residual MADEs, and both with BatchNorm
// layers (the staged pass).
func TestDropout32Train(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 43))
	rnvp, err := NewRealNVP(RealNVPConfig{Dim: 4, Layers: 3, Hidden: []int{16}, Activation: ReLU, ResidualBlocks: 2, ContextDim: 2})
	if err != nil {
		t.Fatal(err)
	}
	maf, err := NewMAFFlow(AutoregressiveFlowConfig{Dim: 4, Layers: 2, Hidden: []int{16}, Activation: Tanh, ResidualBlocks: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    *Flow
	}{
		{"realnvp-residual", rnvp},
		{"maf-residual", maf},
		{"batchnorm-residual", bn32Flow(t, 4, 0, 1)},
		{"batchnorm-residual-context", bn32Flow(t, 4, 2, 2)},
	} {
		f := tc.f
		perturb(f.Params(), 0.3, rnd)
		g, err := f.Float32()
		if err != nil {
			t.Fatal(err)
		}
		n := 300
		x := mat.NewDense(n, 4, randRows(n, 4, rnd))
		var c mat.Matrix
		if f.ContextDim() > 0 {
			c = mat.NewDense(n, f.ContextDim(), randRows(n, f.ContextDim(), rnd))
		}
		ml64, ml32 := NewMaxLikelihood(f, 3, 64), NewMaxLikelihood32(g, 3, 64)
		ml64.SetDropout(0.25, 9)
		ml32.SetDropout(0.25, 9)
		ml64.SetStep(4)
		ml32.SetStep(4)
		grad64 := make([]float64, f.NumParams())
		grad32 := make([]float32, g.NumParams())
		loss64 := ml64.LossGradGiven(grad64, x, c)
		loss32 := ml32.LossGradGiven(grad32, x, c)
		checkML32(t, tc.name, f, loss32, loss64, grad32, grad64)
		scratch := make([]float32, g.NumParams())
		next := ml32.LossGradGiven(scratch, x, c) // step 5
		plain := NewMaxLikelihood32(g, 3, 64).LossGradGiven(scratch, x, c)
		if next == loss32 || plain == loss32 || logpBad([]float64{plain}, []float64{loss64}, 1e-4) < 0 {
			t.Errorf("%s: loss with dropout %v, at the next step %v, without dropout %v: the masks do not show", tc.name, loss32, next, plain)
		}
		ml32.SetStep(4)
		if again := ml32.LossGradGiven(scratch, x, c); again != loss32 {
			t.Errorf("%s: step 4 again: loss %v, first %v", tc.name, again, loss32)
		}
		for i := range scratch {
			if math.Float32bits(scratch[i]) != math.Float32bits(grad32[i]) {
				t.Fatalf("%s: step 4 again: gradient %d is %v, first %v", tc.name, i, scratch[i], grad32[i])
			}
		}
	}
}

// TestFlow32WorkersBatchNormDropout is TestFlow32Workers for the staged
// pass of BatchNorm layers and for dropout: the float32 loss and gradient
// bit-identical for 1, 2, 3 and 8 goroutines, and a training step (with
// Adam32) and LogProb allocating nothing.
func TestFlow32WorkersBatchNormDropout(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 44))
	drop, err := NewRealNVP(RealNVPConfig{Dim: 6, Layers: 3, Hidden: []int{32}, Activation: ReLU, ResidualBlocks: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    *Flow
		p    float64
	}{
		{"batchnorm", bn32Flow(t, 6, 2, 0), 0},
		{"dropout", drop, 0.2},
		{"batchnorm-dropout", bn32Flow(t, 6, 0, 1), 0.3},
	} {
		f := tc.f
		perturb(f.Params(), 0.3, rnd)
		g, err := f.Float32()
		if err != nil {
			t.Fatal(err)
		}
		n := 1000 // 8 shards of 128, the last partial
		x := mat.NewDense(n, 6, randRows(n, 6, rnd))
		var c mat.Matrix
		if f.ContextDim() > 0 {
			c = mat.NewDense(n, f.ContextDim(), randRows(n, f.ContextDim(), rnd))
		}
		var wantLoss float64
		var want []float32
		for _, w := range []int{1, 2, 3, 8} {
			grad := make([]float32, g.NumParams())
			obj := NewMaxLikelihood32(g, w, 0)
			obj.SetDropout(tc.p, 5)
			loss := obj.LossGradGiven(grad, x, c)
			obj.SetStep(0)
			loss2 := obj.LossGradGiven(grad, x, c) // reusing the buffers
			if loss2 != loss {
				t.Fatalf("%s: workers %d: a second call's loss %v, the first's %v", tc.name, w, loss2, loss)
			}
			if want == nil {
				wantLoss, want = loss, grad
				continue
			}
			if loss != wantLoss {
				t.Errorf("%s: workers %d: loss %v, with 1 worker %v", tc.name, w, loss, wantLoss)
			}
			for i := range grad {
				if math.Float32bits(grad[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s: workers %d: gradient %d is %v, with 1 worker %v", tc.name, w, i, grad[i], want[i])
				}
			}
		}
		obj := NewMaxLikelihood32(g, 0, 0)
		obj.SetDropout(tc.p, 5)
		lp := make([]float64, n)
		checkAllocs32(t, tc.name, g, func(grad []float32) { obj.LossGradGiven(grad, x, c) }, func() { g.LogProbGiven(lp, x, c) })
	}
}

// fit32Pair trains the flow mk returns on two moons with cfg in float64
// (seeds 1 and 2) and float32 (seed 1, and with workers w32 when it is
// not 0), and checks that the held-out NLLs end within noise of each
// other (twice the float64 runs' difference, or 0.02 nats), that the
// float32 run learned, that its flow holds float32 values and that its
// reported best loss is the float32 flow's validation NLL, bit for bit.
// It returns the float32 runs' flows.
func fit32Pair(t *testing.T, name string, mk func() *Flow, cfg TrainConfig, w32 int) []*Flow {
	t.Helper()
	rnd := rand.New(rand.NewPCG(32, 45))
	train, valid := TwoMoons(1000, 0.05, rnd), TwoMoons(500, 0.05, rnd)
	cfg.Validation = valid
	run := func(p Precision, seed uint64, workers int) (float64, *Flow) {
		f := mk()
		c := cfg
		c.Precision, c.Seed, c.Workers = p, seed, workers
		res, err := Fit(f, train, c)
		if err != nil {
			t.Fatalf("%s, %v: %v", name, p, err)
		}
		if !(res.BestLoss < res.InitialLoss-0.1) {
			t.Errorf("%s, %v: validation loss %v → %v: training did not learn", name, p, res.InitialLoss, res.BestLoss)
		}
		return res.BestLoss, f
	}
	l64, _ := run(Float64, 1, 0)
	l64b, _ := run(Float64, 2, 0)
	l32, f32 := run(Float32, 1, 0)
	noise := max(2*math.Abs(l64-l64b), 0.02)
	if math.Abs(l32-l64) > noise {
		t.Errorf("%s: held-out NLL float32 %.4f, float64 %.4f (another seed %.4f): differ by more than %.4f", name, l32, l64, l64b, noise)
	}
	t.Logf("%s: held-out NLL float32 %.4f, float64 %.4f, float64 with another seed %.4f", name, l32, l64, l64b)
	for i, v := range f32.Params() {
		if v != float64(float32(v)) {
			t.Fatalf("%s: after float32 training parameter %d is %v, not a float32 value", name, i, v)
		}
	}
	g, err := f32.Float32()
	if err != nil {
		t.Fatal(err)
	}
	if nll := -meanOf(g.LogProb(nil, valid)); nll != l32 {
		t.Errorf("%s: best loss %v, the returned flow's float32 validation NLL %v", name, l32, nll)
	}
	flows := []*Flow{f32}
	if w32 != 0 {
		_, f := run(Float32, 1, w32)
		flows = append(flows, f)
	}
	return flows
}

// TestFit32BatchNorm trains a flow with BatchNorm layers in float32 (the
// training mode on the minibatch's statistics, the stored statistics set
// as in float64) and checks it against float64 (fit32Pair), its stored
// statistics those of its training rows (so its float32 validation NLL is
// the best loss), and its parameters and statistics bit-identical for 1
// and 3 workers.
func TestFit32BatchNorm(t *testing.T) {
	mk := func() *Flow {
		return ftFlow(t,
			ftBatchNorm(t, 2),
			ftCoupling(t, CouplingConfig{Mask: HalfMask(2, false), Hidden: []int{32}, Activation: Tanh, Seed: 1}),
			ftBatchNorm(t, 2),
			ftCoupling(t, CouplingConfig{Mask: HalfMask(2, true), Hidden: []int{32}, Activation: Tanh, Seed: 2}),
			ftBatchNorm(t, 2),
			ftCoupling(t, CouplingConfig{Mask: HalfMask(2, false), Hidden: []int{32}, Activation: Tanh, Seed: 3}),
			ftBatchNorm(t, 2),
		)
	}
	flows := fit32Pair(t, "batchnorm", mk, TrainConfig{Epochs: 12, BatchSize: 100, ShardSize: 32, LearningRate: 3e-3}, 3)
	var vals [2][]float64
	for k, f := range flows {
		for _, l := range f.Layers() {
			vals[k] = append(vals[k], l.Params()...)
			if bn, ok := l.(*BatchNorm); ok {
				if bn.Mean()[0] == 0 || bn.Variance()[0] == 1 {
					t.Errorf("the stored statistics were not set: mean %v, variance %v", bn.Mean(), bn.Variance())
				}
				vals[k] = append(vals[k], bn.Mean()...)
				vals[k] = append(vals[k], bn.Variance()...)
			}
		}
	}
	for i := range vals[0] {
		if math.Float64bits(vals[0][i]) != math.Float64bits(vals[1][i]) {
			t.Fatalf("float32 Fit with 1 and 3 workers differs at %d: %v, %v", i, vals[0][i], vals[1][i])
		}
	}
}

// TestFit32Dropout trains residual couplings with dropout in float32 and
// checks them against float64 (fit32Pair), and that dropout changes the
// float32 run: an epoch with it leaves other parameters than one without.
func TestFit32Dropout(t *testing.T) {
	mk := func() *Flow {
		f, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 4, Hidden: []int{32}, Activation: ReLU, ResidualBlocks: 1, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	fit32Pair(t, "dropout", mk, TrainConfig{Epochs: 12, BatchSize: 100, LearningRate: 3e-3, Dropout: 0.1}, 0)
	train := TwoMoons(500, 0.05, rand.New(rand.NewPCG(32, 46)))
	var params [2][]float64
	for i, p := range []float64{0, 0.1} {
		f := mk()
		if _, err := Fit(f, train, TrainConfig{Epochs: 1, BatchSize: 100, Dropout: p, Precision: Float32, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		params[i] = f.Params()
	}
	if maxAbsDiff(params[0], params[1]) == 0 {
		t.Error("an epoch with dropout 0.1 left the parameters of one without")
	}
}

// TestBatchNorm32Moments: the batch statistics are summed in float64 in
// the float32 path too. On 4096 rows in one shard whose columns have a
// mean of 1000 to 3000 and a spread of 1 to 3, a float32 running sum of
// the column (up to 1.2e7, whose ulp is 1) would be off by several units,
// the mean by some 1e-3 of the spread, and the gradient of the shift β,
// the mean of the layer's output, by as much; summed in float64, the
// float32 training mode agrees with float64 to the tolerances.
func TestBatchNorm32Moments(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 47))
	f := bn32TopFlow(t, 3, 0)
	perturb(f.Params(), 0.3, rnd)
	g, err := f.Float32()
	if err != nil {
		t.Fatal(err)
	}
	n := 4096
	x := randRows(n, 3, rnd)
	for i := range x {
		j := float64(i%3 + 1)
		x[i] = 1000*j + j*x[i]
	}
	round32(x)
	xm := mat.NewDense(n, 3, x)
	grad64 := make([]float64, f.NumParams())
	grad32 := make([]float32, g.NumParams())
	loss64 := NewMaxLikelihood(f, 0, n).LossGrad(grad64, xm)
	loss32 := NewMaxLikelihood32(g, 0, n).LossGrad(grad32, xm)
	checkML32(t, "mean 1000", f, loss32, loss64, grad32, grad64)
}
