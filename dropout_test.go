// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// dropoutFlows returns flows with residual conditioners and residual
// MADEs, with and without a context, at random parameters.
func dropoutFlows(t *testing.T) []struct {
	name string
	f    *Flow
} {
	t.Helper()
	sp := mustSpline(t, 4, 2)
	var out []struct {
		name string
		f    *Flow
	}
	add := func(name string, f *Flow, err error) {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		randomizeParams(f, 0.4, 7)
		zeroMasked(f)
		out = append(out, struct {
			name string
			f    *Flow
		}{name, f})
	}
	for _, nc := range []int{0, 2} {
		f, err := NewRealNVP(RealNVPConfig{Dim: 3, Layers: 2, Hidden: []int{6}, ResidualBlocks: 2, Activation: Tanh, Clamp: 2, ContextDim: nc, Seed: 1})
		add(fmt.Sprintf("realnvp/C=%d", nc), f, err)
		f, err = NewNSF(NSFConfig{Dim: 3, Layers: 2, Hidden: []int{5}, ResidualBlocks: 1, Activation: ReLU, Bins: 4, Bound: 2, ContextDim: nc, Seed: 2})
		add(fmt.Sprintf("nsf/C=%d", nc), f, err)
		f, err = NewMAFFlow(AutoregressiveFlowConfig{Dim: 3, Layers: 2, Hidden: []int{6}, ResidualBlocks: 2, Activation: Tanh, Clamp: 2, ContextDim: nc, Seed: 3})
		add(fmt.Sprintf("maf/C=%d", nc), f, err)
		f, err = NewMAFFlow(AutoregressiveFlowConfig{Dim: 3, Layers: 2, Hidden: []int{5}, ResidualBlocks: 1, Activation: ReLU, Spline: &sp, ContextDim: nc, Seed: 4})
		add(fmt.Sprintf("nsf-ar/C=%d", nc), f, err)
		// Inverted IAF and coupling layers, trained through their Forward.
		g, err := NewIAFFlow(AutoregressiveFlowConfig{Dim: 3, Layers: 2, Hidden: []int{5}, ResidualBlocks: 2, Activation: Tanh, Spline: &sp, ContextDim: nc, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		cp, err := NewCoupling(CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{4}, ResidualBlocks: 1, Activation: ReLU, ContextDim: nc, Seed: 6})
		if err != nil {
			t.Fatal(err)
		}
		f, err = New(Invert(g.Layers()[1]), Invert(cp), Invert(g.Layers()[0]))
		add(fmt.Sprintf("inverted-iaf-coupling/C=%d", nc), f, err)
	}
	return out
}

// TestDropoutGradients: with the masks of a fixed step, the maximum
// likelihood objective with dropout is a smooth function of the
// parameters, and its gradient (through mask·scale) is checked against
// finite differences that see the same masks. Dropout changes the loss,
// another step gives other masks, and p = 0 is no dropout.
func TestDropoutGradients(t *testing.T) {
	for _, tc := range dropoutFlows(t) {
		f := tc.f
		const n = 40
		x := mat.NewDense(n, 3, randomRows(n, 3, 11))
		var c mat.Matrix
		if f.ContextDim() > 0 {
			c = mat.NewDense(n, f.ContextDim(), randomRows(n, f.ContextDim(), 12))
		}
		ml := NewMaxLikelihood(f, 2, 16)
		scratch := make([]float64, f.NumParams())
		plain := ml.LossGradGiven(scratch, x, c)
		ml.SetDropout(0.3, 5)
		at := func(step uint64) float64 {
			ml.SetStep(step)
			return ml.LossGradGiven(scratch, x, c)
		}
		g := make([]float64, f.NumParams())
		ml.SetStep(9)
		l9 := ml.LossGradGiven(g, x, c)
		checkGrad(t, tc.name, f, func() float64 { return at(9) }, g)
		if l9 == plain || at(10) == l9 {
			t.Errorf("%s: loss %v with dropout at step 9, %v at step 10, %v without", tc.name, l9, at(10), plain)
		}
		if at(9) != l9 {
			t.Errorf("%s: step 9 again gives %v, first %v", tc.name, at(9), l9)
		}
		ml.SetDropout(0, 5)
		if l := at(9); l != plain {
			t.Errorf("%s: p = 0 gives %v, no dropout %v", tc.name, l, plain)
		}
		// Evaluation has no dropout: the mean −log p is the plain loss.
		lp := f.LogProbGiven(nil, x, c)
		if m := -meanOf(lp); math.Abs(m-plain) > 1e-12*math.Abs(plain) {
			t.Errorf("%s: mean −log p %v, the loss without dropout %v", tc.name, m, plain)
		}
	}
}

// TestDropoutDeterminism: Fit with dropout gives bit-identical parameters
// with 1, 2, 3 and 8 goroutines, and other parameters than without
// dropout.
func TestDropoutDeterminism(t *testing.T) {
	for _, tc := range dropoutFlows(t) {
		f := tc.f
		p0 := append([]float64(nil), f.Params()...)
		data := mat.NewDense(150, 3, randomRows(150, 3, 21))
		var ctx mat.Matrix
		if f.ContextDim() > 0 {
			ctx = mat.NewDense(150, f.ContextDim(), randomRows(150, f.ContextDim(), 22))
		}
		run := func(workers int, p float64) []float64 {
			f.SetParams(p0)
			_, err := Fit(f, data, TrainConfig{Epochs: 2, BatchSize: 64, ShardSize: 16, LearningRate: 1e-2, Dropout: p, Seed: 3, Workers: workers, Context: ctx})
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			return append([]float64(nil), f.Params()...)
		}
		want := run(1, 0.25)
		for _, w := range []int{2, 3, 8} {
			got := run(w, 0.25)
			for i := range want {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Errorf("%s: %d workers: parameter %d is %v, with 1 worker %v", tc.name, w, i, got[i], want[i])
					break
				}
			}
		}
		if maxAbsDiff(run(1, 0), want) == 0 {
			t.Errorf("%s: dropout changed nothing", tc.name)
		}
		f.SetParams(p0)
	}
}

// TestDropoutMasks: a mask bit depends on the row's index in the
// minibatch, not on its shard; the kept fraction is 1 − p; the masks of
// other steps, seeds, layers, blocks and rows differ; kept units are
// scaled by 1/(1 − p).
func TestDropoutMasks(t *testing.T) {
	const p = 0.3
	s := dropState{on: true, p: p, seed: 4, step: 7}
	d0 := s.forLayer(2)
	s.row0 = 48
	d48 := s.forLayer(2)
	for r := 0; r < 16; r++ {
		for k := 0; k < 64; k++ {
			if d0.factor(d0.rowKey(1, 48+r), k) != d48.factor(d48.rowKey(1, r), k) {
				t.Fatalf("row %d unit %d: the mask depends on the shard", 48+r, k)
			}
		}
	}
	const n, h = 200, 100
	v := make([]float64, n*h)
	for i := range v {
		v[i] = 1
	}
	frac := func(d dropout, j int) (kept float64, mask []float64) {
		mask = make([]float64, n*h)
		d.apply(mask, v, j, n, h)
		for _, m := range mask {
			if m != 0 {
				if m != 1/(1-p) {
					t.Fatalf("kept unit scaled by %v, want %v", m, 1/(1-p))
				}
				kept++
			}
		}
		return kept / (n * h), mask
	}
	kept, m := frac(d0, 1)
	// The kept fraction of 20000 Bernoulli(0.7) bits lies within 5
	// standard deviations (0.016) of 0.7.
	if math.Abs(kept-(1-p)) > 0.016 {
		t.Errorf("kept fraction %v, want %v", kept, 1-p)
	}
	others := map[string]dropout{
		"step":  dropState{on: true, p: p, seed: 4, step: 8}.forLayer(2),
		"seed":  dropState{on: true, p: p, seed: 5, step: 7}.forLayer(2),
		"layer": dropState{on: true, p: p, seed: 4, step: 7}.forLayer(3),
	}
	for name, d := range others {
		_, o := frac(d, 1)
		if maxAbsDiff(o, m) == 0 {
			t.Errorf("another %s gives the same masks", name)
		}
	}
	if _, o := frac(d0, 2); maxAbsDiff(o, m) == 0 {
		t.Error("another block gives the same masks")
	}
	if maxAbsDiff(m[:h], m[h:2*h]) == 0 {
		t.Error("two rows have the same mask")
	}
	if (dropState{}).forLayer(0).on() || (dropState{on: true, p: 0}).forLayer(0).on() {
		t.Error("dropout is on without a probability")
	}
}

// TestDropoutAllocs: steady-state training with dropout allocates nothing.
func TestDropoutAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Log("allocation counts are not meaningful under -race or -cover")
		return
	}
	for _, tc := range dropoutFlows(t) {
		f := tc.f
		x := mat.NewDense(150, 3, randomRows(150, 3, 1))
		var c mat.Matrix
		if f.ContextDim() > 0 {
			c = mat.NewDense(150, f.ContextDim(), randomRows(150, f.ContextDim(), 2))
		}
		ml := NewMaxLikelihood(f, 2, 64)
		ml.SetDropout(0.2, 1)
		grad := make([]float64, f.NumParams())
		fn := func() { ml.LossGradGiven(grad, x, c) }
		fn()
		if a := testing.AllocsPerRun(20, fn); a > 0 {
			t.Errorf("%s: %v allocations per step", tc.name, a)
		}
	}
}

// TestDropoutBadConfig: the probability must be in [0, 1); reverse KL has
// no dropout.
func TestDropoutBadConfig(t *testing.T) {
	f, err := NewMAFFlow(AutoregressiveFlowConfig{Dim: 2, Layers: 1, Hidden: []int{4}, ResidualBlocks: 1, Activation: Tanh})
	if err != nil {
		t.Fatal(err)
	}
	data := mat.NewDense(20, 2, randomRows(20, 2, 1))
	for _, p := range []float64{-0.1, 1, 1.5, math.NaN(), math.Inf(1)} {
		if _, err := Fit(f, data, TrainConfig{Epochs: 1, Dropout: p}); err == nil || !strings.Contains(err.Error(), "dropout probability") {
			t.Errorf("Dropout %v: error %v", p, err)
		}
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "not in [0, 1)") {
					t.Errorf("SetDropout(%v): panic %v", p, r)
				}
			}()
			NewMaxLikelihood(f, 1, 0).SetDropout(p, 1)
		}()
	}
	g, err := NewIAFFlow(AutoregressiveFlowConfig{Dim: 2, Layers: 1, Hidden: []int{4}, ResidualBlocks: 1, Activation: Tanh})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FitReverseKL(context.Background(), g, banana, TrainConfig{Epochs: 1, Dropout: 0.1}); err == nil || !strings.Contains(err.Error(), "maximum likelihood") {
		t.Errorf("FitReverseKL with dropout: error %v", err)
	}
}

// TestDropoutKnownMasks pins the mask hash: the formula of dropout.go
// written out here, and 64 bits of it, so that a change of the masks (and
// so of every training run with dropout) cannot pass unnoticed.
func TestDropoutKnownMasks(t *testing.T) {
	const g = 0x9e3779b97f4a7c15
	mix := func(z uint64) uint64 {
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return z ^ (z >> 31)
	}
	seed, step, l, j, r, p := uint64(1), uint64(2), 4, 5, 9, 0.5
	d := dropState{on: true, p: p, seed: seed, step: step, row0: 3}.forLayer(l)
	key := mix(mix(mix(seed+g)+(step+1)*g) + uint64(l+1)*g)
	var bits uint64
	for k := 0; k < 64; k++ {
		kept := mix(mix(mix(key+uint64(j)*g)+uint64(r)*g)+uint64(k+1)*g) >= 1<<63
		if got := d.factor(d.rowKey(j, r-3), k) != 0; got != kept {
			t.Errorf("unit %d: kept %v, the formula %v", k, got, kept)
		}
		if kept {
			bits |= 1 << k
		}
	}
	if bits != 0x19151fd5aafc0c40 {
		t.Errorf("mask bits %#x, want 0x19151fd5aafc0c40", bits)
	}
}

// TestDropoutBatchNorm: dropout in a flow with BatchNorm layers, whose
// training runs in stages (each shard keeping its workspace through them),
// gives bit-identical parameters with 1, 2, 3 and 8 goroutines and differs
// from training without dropout; its gradient at one step's masks agrees
// with finite differences.
func TestDropoutBatchNorm(t *testing.T) {
	mf, err := NewMAFFlow(AutoregressiveFlowConfig{Dim: 3, Layers: 2, Hidden: []int{6}, ResidualBlocks: 2, Activation: Tanh, Clamp: 2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	bn, err := NewBatchNorm(3, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(mf.Layers()[0], bn, mf.Layers()[1])
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.3, 8)
	zeroMasked(f)
	x := mat.NewDense(40, 3, randomRows(40, 3, 9))
	ml := NewMaxLikelihood(f, 2, 16)
	ml.SetDropout(0.3, 2)
	scratch := make([]float64, f.NumParams())
	g := make([]float64, f.NumParams())
	ml.SetStep(4)
	ml.LossGrad(g, x)
	checkGrad(t, "batchnorm", f, func() float64 { ml.SetStep(4); return ml.LossGrad(scratch, x) }, g)

	p0 := append([]float64(nil), f.Params()...)
	data := mat.NewDense(150, 3, randomRows(150, 3, 21))
	run := func(workers int, p float64) []float64 {
		f.SetParams(p0)
		if _, err := Fit(f, data, TrainConfig{Epochs: 2, BatchSize: 64, ShardSize: 16, LearningRate: 1e-2, Dropout: p, Seed: 3, Workers: workers}); err != nil {
			t.Fatal(err)
		}
		return append([]float64(nil), f.Params()...)
	}
	want := run(1, 0.25)
	for _, w := range []int{2, 3, 8} {
		got := run(w, 0.25)
		for i := range want {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Errorf("%d workers: parameter %d is %v, with 1 worker %v", w, i, got[i], want[i])
				break
			}
		}
	}
	if maxAbsDiff(run(1, 0), want) == 0 {
		t.Error("dropout changed nothing")
	}
}
