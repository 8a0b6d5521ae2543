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

func ftBatchNorm(t testing.TB, d int) *BatchNorm {
	t.Helper()
	b, err := NewBatchNorm(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// randomizeBNStats gives every BatchNorm layer of f stored statistics away
// from m = 0, v = 1.
func randomizeBNStats(t testing.TB, f *Flow, seed uint64) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, 5))
	for _, l := range f.Layers() {
		b, ok := l.(*BatchNorm)
		if !ok {
			if v, ok := l.(*Inverted); ok {
				b, ok = v.L.(*BatchNorm)
				if !ok {
					continue
				}
			} else {
				continue
			}
		}
		d := b.Dim()
		m, v := make([]float64, d), make([]float64, d)
		for i := range m {
			m[i] = rnd.NormFloat64()
			v[i] = 0.3 + 2*rnd.Float64()
		}
		if err := b.SetStats(m, v); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBatchNormBadConfig(t *testing.T) {
	for _, d := range []int{0, -1, maxDim + 1} {
		if b, err := NewBatchNorm(d, 0); err == nil || !strings.HasPrefix(err.Error(), "flow: NewBatchNorm: dimension") {
			t.Errorf("NewBatchNorm(%d, 0): %v, %v", d, b, err)
		}
	}
	for _, eps := range []float64{-1e-5, math.NaN(), math.Inf(1), 1e10} {
		if b, err := NewBatchNorm(2, eps); err == nil || !strings.Contains(err.Error(), "epsilon") {
			t.Errorf("NewBatchNorm(2, %v): %v, %v", eps, b, err)
		}
	}
	b := ftBatchNorm(t, 2)
	if b.Epsilon() != DefaultBatchNormEpsilon || maxAbsDiff(b.Mean(), []float64{0, 0}) != 0 || maxAbsDiff(b.Variance(), []float64{1, 1}) != 0 {
		t.Errorf("new layer: ε %v, mean %v, variance %v", b.Epsilon(), b.Mean(), b.Variance())
	}
	for _, tc := range []struct{ m, v []float64 }{
		{[]float64{0}, []float64{1, 1}},
		{[]float64{0, math.NaN()}, []float64{1, 1}},
		{[]float64{0, 0}, []float64{1, 0}},
		{[]float64{0, 0}, []float64{-1, 1}},
		{[]float64{0, 0}, []float64{1, math.Inf(1)}},
	} {
		if err := b.SetStats(tc.m, tc.v); err == nil {
			t.Errorf("SetStats(%v, %v) accepted", tc.m, tc.v)
		}
	}
	if maxAbsDiff(b.Variance(), []float64{1, 1}) != 0 {
		t.Errorf("a refused SetStats changed the variance to %v", b.Variance())
	}
}

// TestBatchNormMap holds the evaluation mode to its equations, with γ and
// β read through LogScale and Shift from the documented layout [γ ; β].
func TestBatchNormMap(t *testing.T) {
	b, err := NewBatchNorm(3, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	f := ftFlow(t, b)
	copy(f.Params(), []float64{0.5, -1, 0, 2, 0, -3})
	if err := b.SetStats([]float64{1, -2, 0.5}, []float64{4, 0.25, 1}); err != nil {
		t.Fatal(err)
	}
	if maxAbsDiff(b.LogScale(), []float64{0.5, -1, 0}) != 0 || maxAbsDiff(b.Shift(), []float64{2, 0, -3}) != 0 {
		t.Fatalf("LogScale %v, Shift %v", b.LogScale(), b.Shift())
	}
	x := mat.NewDense(1, 3, []float64{3, 1, -1})
	var z mat.Dense
	ld := []float64{0}
	f.Inverse(&z, x, ld)
	want := []float64{
		(3 - 1) * math.Exp(0.5) / math.Sqrt(4.01), (1 + 2) * math.Exp(-1) / math.Sqrt(0.26), (-1-0.5)/math.Sqrt(1.01) - 3,
	}
	want[0] += 2
	wantLD := 0.5 - 1 - 0.5*(math.Log(4.01)+math.Log(0.26)+math.Log(1.01))
	if maxAbsDiff(z.RawMatrix().Data, want) > 1e-14 || math.Abs(ld[0]-wantLD) > 1e-14 {
		t.Errorf("Inverse: z %v log-det %v, want %v and %v", z.RawMatrix().Data, ld[0], want, wantLD)
	}
}

func TestBatchNormLogDet(t *testing.T) {
	for _, d := range []int{1, 2, 5} {
		b := ftBatchNorm(t, d)
		f := ftFlow(t, b)
		randomizeParams(f, 0.5, uint64(d))
		randomizeBNStats(t, f, uint64(d))
		checkLayerLogDets(t, fmt.Sprintf("D=%d", d), b, randomRows(3, d, 9), 1e-7)
		checkLayerLogDets(t, fmt.Sprintf("inverted/D=%d", d), Invert(b), randomRows(3, d, 9), 1e-7)
	}
}

func TestBatchNormRoundTrip(t *testing.T) {
	for d := 1; d <= 9; d++ {
		f := ftFlow(t, ftBatchNorm(t, d))
		randomizeParams(f, 0.5, uint64(d))
		randomizeBNStats(t, f, uint64(d))
		roundTrip(t, fmt.Sprintf("batchnorm/D=%d", d), f, 70, 1e-12)
		if d >= 2 {
			var layers []Layer
			for k := 0; k < 3; k++ {
				layers = append(layers, ftBatchNorm(t, d),
					ftMAF(t, AutoregressiveConfig{Dim: d, Hidden: []int{16}, Activation: Tanh, Order: OrderKind(k % 2)}))
			}
			g := ftFlow(t, append(layers, Invert(ftBatchNorm(t, d)))...)
			randomizeParams(g, 0.15, uint64(d))
			randomizeBNStats(t, g, uint64(d))
			roundTrip(t, fmt.Sprintf("maf-bn/D=%d", d), g, 70, 1e-12)
		}
	}
}

// bnTestFlow is a flow with BatchNorm layers between couplings, an
// ActNorm and a MAF layer, the BatchNorm layers at the top, in the middle
// and at the bottom.
func bnTestFlow(t testing.TB, d int) *Flow {
	return ftFlow(t,
		ftBatchNorm(t, d),
		ftCoupling(t, CouplingConfig{Mask: HalfMask(d, false), Hidden: []int{6}, Activation: Tanh, Seed: 1}),
		ftBatchNorm(t, d),
		ftMAF(t, AutoregressiveConfig{Dim: d, Hidden: []int{6}, Activation: ReLU, Order: ReversedOrder, Seed: 2}),
		ftActNorm(t, d),
		ftBatchNorm(t, d),
	)
}

// TestBatchNormEvalGradients: in evaluation mode (GradLogProb's pass, and
// reverse KL) the layer is an elementwise affine map with fixed
// statistics; every parameter's gradient of both objectives against
// finite differences, alone, inverted and in a mixed flow.
func TestBatchNormEvalGradients(t *testing.T) {
	for _, d := range []int{1, 3} {
		b := ftBatchNorm(t, d)
		f := ftFlow(t, b)
		randomizeParams(f, 0.5, 2)
		randomizeBNStats(t, f, 2)
		checkFlowGrads(t, fmt.Sprintf("batchnorm/D=%d", d), f, true, true)
		g := ftFlow(t, Invert(b))
		checkFlowGrads(t, fmt.Sprintf("inverted-batchnorm/D=%d", d), g, true, true)
	}
	f := bnTestFlow(t, 4)
	randomizeParams(f, 0.4, 3)
	randomizeBNStats(t, f, 3)
	checkFlowGrads(t, "batchnorm-mixed", f, true, false)
	g := ftFlow(t,
		ftBatchNorm(t, 4),
		ftCoupling(t, CouplingConfig{Mask: HalfMask(4, false), Hidden: []int{6}, Activation: Tanh, Seed: 1}),
		ftBatchNorm(t, 4),
	)
	randomizeParams(g, 0.4, 3)
	randomizeBNStats(t, g, 3)
	checkFlowGrads(t, "batchnorm-coupling", g, true, true)
}

// TestBatchNormTrainGradients: in training mode the objective is the
// minibatch's loss, whose statistics depend on every row and every
// parameter on the data side of the layer; the finite differences perturb
// each parameter through MaxLikelihood.LossGrad itself, over 300 rows in
// shards of 128 (so the statistics and the backward sums span three
// shards) and in one shard. The parameters on the data side of a
// BatchNorm layer get their gradient through its ∂S/∂x, so they check the
// input's gradient through the batch statistics and the log-det's
// dependence on the variance.
func TestBatchNormTrainGradients(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *Flow
	}{
		{"alone", ftFlow(t, ftBatchNorm(t, 3))},
		{"under-actnorm", ftFlow(t, ftBatchNorm(t, 3), ftActNorm(t, 3))},
		{"mixed", bnTestFlow(t, 4)},
	} {
		f := tc.f
		randomizeParams(f, 0.4, 5)
		d := f.Dim()
		x := mat.NewDense(300, d, randomRows(300, d, 6))
		for _, shard := range []int{128, 300} {
			ml := NewMaxLikelihood(f, 2, shard)
			grad := make([]float64, f.NumParams())
			ml.LossGrad(grad, x)
			scratch := make([]float64, f.NumParams())
			checkGrad(t, fmt.Sprintf("%s/shard=%d", tc.name, shard), f, func() float64 { return ml.LossGrad(scratch, x) }, grad)
		}
	}
}

// TestBatchNormTrainGradientsGiven: the training mode in a conditional
// flow, whose contexts stay with their rows through the stages.
func TestBatchNormTrainGradientsGiven(t *testing.T) {
	f := ftFlow(t,
		ftBatchNorm(t, 3),
		ftCoupling(t, CouplingConfig{Mask: HalfMask(3, false), Hidden: []int{5}, Activation: Tanh, Seed: 1, ContextDim: 2}),
		ftBatchNorm(t, 3),
		ftCoupling(t, CouplingConfig{Mask: HalfMask(3, true), Hidden: []int{5}, Activation: ReLU, Seed: 2, ContextDim: 2}),
		ftBatchNorm(t, 3),
	)
	randomizeParams(f, 0.4, 8)
	x := mat.NewDense(200, 3, randomRows(200, 3, 9))
	c := mat.NewDense(200, 2, randomRows(200, 2, 10))
	ml := NewMaxLikelihood(f, 3, 64)
	grad := make([]float64, f.NumParams())
	loss := ml.LossGradGiven(grad, x, c)
	scratch := make([]float64, f.NumParams())
	checkGrad(t, "conditional", f, func() float64 { return ml.LossGradGiven(scratch, x, c) }, grad)
	if _, err := SetBatchNormStats(f, x, c); err != nil {
		t.Fatal(err)
	}
	if nll := -meanOf(f.LogProbGiven(nil, x, c)); math.Abs(nll-loss) > 1e-12*math.Abs(loss) {
		t.Errorf("training-mode loss %.15g, evaluation-mode NLL with the batch's statistics %.15g", loss, nll)
	}
}

// TestBatchNormTrainMatchesEval: the training-mode loss of a minibatch is
// the evaluation-mode mean negative log-likelihood once SetBatchNormStats
// has set the statistics on the same rows (layer by layer, from the data
// side), up to rounding; and the training mode leaves the stored
// statistics alone.
func TestBatchNormTrainMatchesEval(t *testing.T) {
	f := bnTestFlow(t, 4)
	randomizeParams(f, 0.4, 7)
	x := mat.NewDense(300, 4, scaledRows(300, 4, 8).RawMatrix().Data)
	grad := make([]float64, f.NumParams())
	loss := NewMaxLikelihood(f, 3, 128).LossGrad(grad, x)
	bn := f.Layers()[0].(*BatchNorm)
	if maxAbsDiff(bn.Mean(), make([]float64, 4)) != 0 {
		t.Errorf("training changed the stored mean to %v", bn.Mean())
	}
	n, err := SetBatchNormStats(f, x, nil)
	if err != nil || n != 3 {
		t.Fatalf("SetBatchNormStats: %d, %v", n, err)
	}
	nll := -meanOf(f.LogProb(nil, x))
	if math.Abs(nll-loss) > 1e-12*math.Abs(loss) {
		t.Errorf("training-mode loss %.15g, evaluation-mode NLL with the batch's statistics %.15g", loss, nll)
	}
	// The top layer's statistics are the data's columns'.
	top := f.Layers()[len(f.Layers())-1].(*BatchNorm)
	for j := 0; j < 4; j++ {
		col := mat.Col(nil, j, x)
		m := meanOf(col)
		v := 0.0
		for _, u := range col {
			v += (u - m) * (u - m)
		}
		v /= 300
		if math.Abs(top.Mean()[j]-m) > 1e-12*(1+math.Abs(m)) || math.Abs(top.Variance()[j]-v) > 1e-12*v {
			t.Errorf("column %d: mean %v variance %v, want %v %v", j, top.Mean()[j], top.Variance()[j], m, v)
		}
	}
}

func TestBatchNormParallelDeterminism(t *testing.T) {
	f := bnTestFlow(t, 3)
	randomizeParams(f, 0.2, 3)
	randomizeBNStats(t, f, 3)
	checkDeterminism(t, "batchnorm/ml", f, false, 1, 2, 3, 8)
	g := ftFlow(t,
		ftBatchNorm(t, 3),
		ftCoupling(t, CouplingConfig{Mask: EvenOddMask(3, false), Hidden: []int{16}, Activation: Tanh, Seed: 1}),
		Invert(ftBatchNorm(t, 3)),
		ftBatchNorm(t, 3),
	)
	randomizeParams(g, 0.2, 3)
	randomizeBNStats(t, g, 3)
	checkDeterminism(t, "batchnorm/kl", g, true, 1, 2, 3, 8)
	// 300 rows in shards of 128: the statistics and the backward sums
	// of every step span three shards, the last one short.
	x := mat.NewDense(300, 3, randomRows(300, 3, 4))
	var want []float64
	for _, w := range []int{1, 2, 3, 8} {
		p0 := append([]float64(nil), f.Params()...)
		ml := NewMaxLikelihood(f, w, 128)
		opt := NewAdam(1e-2)
		grad := make([]float64, f.NumParams())
		for range 4 {
			ml.LossGrad(grad, x)
			opt.Step(f.Params(), grad)
		}
		got := append([]float64(nil), f.Params()...)
		f.SetParams(p0)
		if want == nil {
			want = got
			continue
		}
		for i := range want {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Errorf("%d workers: parameter %d is %v, with 1 worker %v", w, i, got[i], want[i])
				break
			}
		}
	}
}

func TestBatchNormAllocs(t *testing.T) {
	checkLayerAllocs(t, func(d int) []Layer {
		return []Layer{
			ftBatchNorm(t, d),
			ftCoupling(t, CouplingConfig{Mask: HalfMask(d, false), Hidden: []int{8}, Activation: ReLU}),
			Invert(ftBatchNorm(t, d)),
			ftBatchNorm(t, d),
		}
	})
}

// TestBatchNormIntegrates: the evaluation-mode density of a flow with
// BatchNorm layers integrates to 1, by the trapezoidal rule over
// [−16, 16]^D (the flows' scales keep all but a negligible mass inside).
func TestBatchNormIntegrates(t *testing.T) {
	f1 := ftFlow(t, ftBatchNorm(t, 1))
	copy(f1.Params(), []float64{0.3, -0.5})
	if err := f1.Layers()[0].(*BatchNorm).SetStats([]float64{1.2}, []float64{2.5}); err != nil {
		t.Fatal(err)
	}
	f2 := ftFlow(t,
		ftBatchNorm(t, 2),
		ftCoupling(t, CouplingConfig{Mask: HalfMask(2, false), Hidden: []int{4}, Activation: Tanh, Seed: 3}),
		ftBatchNorm(t, 2),
	)
	randomizeParams(f2, 0.3, 9)
	randomizeBNStats(t, f2, 9)
	for _, tc := range []struct {
		f *Flow
		m int
	}{{f1, 3200}, {f2, 640}} {
		d := tc.f.Dim()
		lp := func(z []float64) float64 {
			return tc.f.LogProb(nil, mat.NewDense(1, d, z))[0]
		}
		var got float64
		if d == 1 {
			got = integrate1(lp, -16, 16, tc.m)
		} else {
			got = integrate2(lp, -16, 16, tc.m)
		}
		if math.Abs(got-1) > 1e-6 {
			t.Errorf("D = %d: the density integrates to %.15g, want 1", d, got)
		}
	}
}

// TestBatchNormSaveLoad: a model saved in evaluation mode (its statistics
// set) gives the same log p, bit for bit, after loading.
func TestBatchNormSaveLoad(t *testing.T) {
	f := bnTestFlow(t, 3)
	randomizeParams(f, 0.3, 2)
	x := scaledRows(200, 3, 3)
	if _, err := SetBatchNormStats(f, x, nil); err != nil {
		t.Fatal(err)
	}
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := UnmarshalFlow(b)
	if err != nil {
		t.Fatal(err)
	}
	want, got := f.LogProb(nil, x), g.LogProb(nil, x)
	for i := range want {
		if math.Float64bits(want[i]) != math.Float64bits(got[i]) {
			t.Fatalf("row %d: log p %v before saving, %v after loading", i, want[i], got[i])
		}
	}
	for l, layer := range g.Layers() {
		if bn, ok := layer.(*BatchNorm); ok {
			w := f.Layers()[l].(*BatchNorm)
			if maxAbsDiff(bn.Mean(), w.Mean()) != 0 || maxAbsDiff(bn.Variance(), w.Variance()) != 0 || bn.Epsilon() != w.Epsilon() {
				t.Errorf("layer %d: statistics differ after loading", l)
			}
		}
	}
}

func TestSetBatchNormStatsRejects(t *testing.T) {
	f := bnTestFlow(t, 2)
	randomizeParams(f, 0.3, 1)
	good := scaledRows(50, 2, 1)
	constant := mat.NewDense(3, 2, []float64{1, 2, 1, 2, 1, 2})
	nan := mat.DenseCopyOf(good)
	nan.Set(4, 1, math.NaN())
	for _, tc := range []struct {
		name string
		x, c mat.Matrix
		want string
	}{
		{"columns", mat.NewDense(2, 3, nil), nil, "3 columns"},
		{"nan", nan, nil, "row 4, column 1 is NaN"},
		{"context", good, mat.NewDense(50, 1, nil), "no context"},
		{"constant", constant, nil, "variance 0 is 0"},
	} {
		before := append([]float64(nil), f.Layers()[5].(*BatchNorm).Variance()...)
		_, err := SetBatchNormStats(f, tc.x, tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
		if maxAbsDiff(before, f.Layers()[5].(*BatchNorm).Variance()) != 0 {
			t.Errorf("%s: a refused call changed the statistics", tc.name)
		}
	}
	if n, err := SetBatchNormStats(ftFlow(t, ftActNorm(t, 2)), good, nil); n != 0 || err != nil {
		t.Errorf("flow without BatchNorm: %d, %v", n, err)
	}
}

// TestFitBatchNorm: Fit trains with batch statistics and ends with the
// stored statistics of the whole training set (SetBatchNormStats on its
// training rows), so that the validation loss it reports is that of the
// flow it returns; parameters and statistics are bit-identical for 1 and 3
// workers.
func TestFitBatchNorm(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 3))
	data := TwoMoons(600, 0.1, rnd)
	valid := TwoMoons(300, 0.1, rnd)
	var params [][]float64
	for _, w := range []int{1, 3} {
		f := ftFlow(t,
			ftBatchNorm(t, 2),
			ftCoupling(t, CouplingConfig{Mask: HalfMask(2, false), Hidden: []int{16}, Activation: Tanh, Seed: 1}),
			ftBatchNorm(t, 2),
			ftCoupling(t, CouplingConfig{Mask: HalfMask(2, true), Hidden: []int{16}, Activation: Tanh, Seed: 2}),
			ftBatchNorm(t, 2),
		)
		res, err := Fit(f, data, TrainConfig{Epochs: 4, BatchSize: 200, ShardSize: 64, LearningRate: 3e-3, Validation: valid, Seed: 1, Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		nll := -meanOf(f.LogProb(nil, valid))
		if math.Abs(nll-res.BestLoss) > 1e-12*math.Abs(nll) || !(res.BestLoss < res.InitialLoss) {
			t.Errorf("%d workers: best loss %v, initial %v; the returned flow's validation NLL %v", w, res.BestLoss, res.InitialLoss, nll)
		}
		var stats []float64
		for _, l := range f.Layers() {
			b := l.(interface{ Params() []float64 })
			stats = append(stats, b.Params()...)
			if bn, ok := l.(*BatchNorm); ok {
				stats = append(stats, bn.Mean()...)
				stats = append(stats, bn.Variance()...)
			}
		}
		g := ftFlow(t, f.Layers()...)
		if _, err := SetBatchNormStats(g, data, nil); err != nil {
			t.Fatal(err)
		}
		// Fit sums over its training rows in their shuffled order, so
		// the statistics agree to rounding.
		if got := -meanOf(g.LogProb(nil, valid)); math.Abs(got-nll) > 1e-12*math.Abs(nll) {
			t.Errorf("%d workers: Fit's statistics are not those of its training rows: NLL %v, recomputed %v", w, nll, got)
		}
		params = append(params, stats)
	}
	for i := range params[0] {
		if math.Float64bits(params[0][i]) != math.Float64bits(params[1][i]) {
			t.Errorf("1 and 3 workers differ at %d: %v, %v", i, params[0][i], params[1][i])
			break
		}
	}
}

// TestFitReverseKLBatchNorm: reverse KL, which has no data, trains
// BatchNorm layers in evaluation mode, with their stored statistics fixed.
func TestFitReverseKLBatchNorm(t *testing.T) {
	b := ftBatchNorm(t, 2)
	f := ftFlow(t, b, ftCoupling(t, CouplingConfig{Mask: HalfMask(2, false), Hidden: []int{8}, Activation: Tanh}))
	randomizeBNStats(t, f, 1)
	m, v := b.Mean(), b.Variance()
	if _, err := FitReverseKL(context.Background(), f, banana, TrainConfig{Epochs: 2, StepsPerEpoch: 5, BatchSize: 64, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if maxAbsDiff(m, b.Mean()) != 0 || maxAbsDiff(v, b.Variance()) != 0 || maxAbsDiff(b.LogScale(), make([]float64, 2)) == 0 {
		t.Errorf("reverse KL: mean %v variance %v log-scale %v", b.Mean(), b.Variance(), b.LogScale())
	}
}

// TestBatchNormPanics: a batch of the wrong shape and nil arguments are a
// caller's mistakes, named in the panic.
func TestBatchNormPanics(t *testing.T) {
	b := ftBatchNorm(t, 3)
	work := make([]float64, b.WorkLen(2))
	f := ftFlow(t, b)
	for name, pass := range map[string]func(){
		"flow: BatchNorm.Forward: buffer of length":        func() { b.Forward(make([]float64, 6), make([]float64, 5), nil, make([]float64, 2), work) },
		"flow: BatchNorm.Inverse: buffer of length":        func() { b.Inverse(make([]float64, 4), make([]float64, 6), nil, make([]float64, 2), work) },
		"flow: SetBatchNormStats: nil flow":                func() { _, _ = SetBatchNormStats(nil, mat.NewDense(1, 3, nil), nil) },
		"flow: SetBatchNormStats: nil x":                   func() { _, _ = SetBatchNormStats(f, nil, nil) },
		"flow: NewMaxLikelihood: nil *Flow":                func() { NewMaxLikelihood(nil, 1, 0) },
		"flow: MaxLikelihood.LossGrad: gradient of length": func() { NewMaxLikelihood(f, 1, 0).LossGrad(make([]float64, 2), mat.NewDense(4, 3, nil)) },
	} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, name) {
					t.Errorf("panic %q, want %q", msg, name)
				}
			}()
			pass()
		}()
	}
}
