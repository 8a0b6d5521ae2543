// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// bananaTarget is the log-density −x₁²/8 − (x₂ − x₁²/4)²/2 and its gradient.
func bananaTarget(grad, x []float64) float64 {
	u := x[1] - x[0]*x[0]/4
	grad[0] = -x[0]/4 + u*x[0]/2
	grad[1] = -u
	return -x[0]*x[0]/8 - u*u/2
}

// newSmallRealNVP returns a Real NVP on R² of the given layers and width.
func newSmallRealNVP(t *testing.T, layers, width int) *Flow {
	t.Helper()
	f, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: layers, Hidden: []int{width}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestWarmup: the learning rate ramps up linearly over WarmupSteps steps,
// then stays at LearningRate or, with CosineDecay, decays to zero over the
// other steps.
func TestWarmup(t *testing.T) {
	c := TrainConfig{LearningRate: 0.2, WarmupSteps: 4}
	for _, tc := range []struct {
		cosine bool
		t, T   int
		want   float64
	}{
		{false, 0, 20, 0.05}, {false, 1, 20, 0.1}, {false, 3, 20, 0.2}, {false, 4, 20, 0.2}, {false, 19, 20, 0.2},
		{true, 0, 20, 0.05}, {true, 3, 20, 0.2}, {true, 4, 20, 0.2}, {true, 12, 20, 0.1}, {true, 20, 20, 0},
		{true, 2, 3, 0.15}, {true, 5, 4, 0.2},
	} {
		c.CosineDecay = tc.cosine
		if got := c.stepLR(tc.t, tc.T); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("cosine %v, step %d of %d: learning rate %v, want %v", tc.cosine, tc.t, tc.T, got, tc.want)
		}
	}
}

// TestClip: a gradient longer than the norm is scaled to it, keeping its
// direction; a shorter one is left alone; the returned norm is the
// gradient's before clipping, also where the sum of squares would overflow
// or underflow.
func TestClip(t *testing.T) {
	for _, tc := range []struct {
		g    []float64
		c    float64
		norm float64
	}{
		{[]float64{3, -4}, 1, 5},
		{[]float64{3, -4}, 5, 5},
		{[]float64{3, -4}, 10, 5},
		{[]float64{3e200, -4e200}, 1, 5e200},
		{[]float64{3e-200, -4e-200}, 1e-201, 5e-200},
		{[]float64{0, 0, 0}, 1, 0},
		{[]float64{}, 1, 0},
	} {
		g := slices.Clone(tc.g)
		norm := clip(g, tc.c)
		if math.Abs(norm-tc.norm) > 1e-15*tc.norm {
			t.Errorf("%v clipped to %v: norm %v, want %v", tc.g, tc.c, norm, tc.norm)
		}
		want := slices.Clone(tc.g)
		if tc.norm > tc.c {
			for i := range want {
				want[i] *= tc.c / tc.norm
			}
		}
		for i := range g {
			if math.Abs(g[i]-want[i]) > 1e-15*math.Abs(want[i]) {
				t.Errorf("%v clipped to %v: %v, want %v", tc.g, tc.c, g, want)
				break
			}
		}
	}
	g := []float64{3, 4}
	if clip(g, 0); !slices.Equal(g, []float64{3, 4}) {
		t.Errorf("ClipNorm 0 changed the gradient to %v", g)
	}
}

// TestFitClipNorm: clipping reaches the optimiser. Adam's step does not
// depend on a gradient's scale, but with gradients clipped far below ε (1e-8)
// its steps shrink by the same factor, so the parameters hardly move; without
// clipping, or clipping at a norm the gradients never reach, they move as
// before, bit for bit. Both objectives.
func TestFitClipNorm(t *testing.T) {
	data := TwoMoons(256, 0.1, rand.New(rand.NewPCG(1, 2)))
	moved := func(clipNorm float64, kl bool) (float64, []float64) {
		f := newSmallRealNVP(t, 2, 8)
		p0 := slices.Clone(f.Params())
		cfg := TrainConfig{Epochs: 2, BatchSize: 64, LearningRate: 1e-2, ClipNorm: clipNorm, Seed: 1, StepsPerEpoch: 4}
		var err error
		if kl {
			_, err = FitReverseKL(context.Background(), f, bananaTarget, cfg)
		} else {
			_, err = Fit(f, data, cfg)
		}
		if err != nil {
			t.Fatal(err)
		}
		d := 0.0
		for i, v := range f.Params() {
			d = math.Max(d, math.Abs(v-p0[i]))
		}
		return d, f.Params()
	}
	for _, kl := range []bool{false, true} {
		free, pFree := moved(0, kl)
		clipped, _ := moved(1e-14, kl)
		_, pLoose := moved(1e300, kl)
		if !(free > 1e-3) || !(clipped < 1e-6*free) {
			t.Errorf("kl %v: parameters moved by %v unclipped, %v clipped to 1e-14", kl, free, clipped)
		}
		if !slices.Equal(pFree, pLoose) {
			t.Errorf("kl %v: clipping at a norm never reached changed the result", kl)
		}
	}
}

// TestTrainConfigValidate: every field's bad values are refused, by Fit and
// FitReverseKL, with an error naming it.
func TestTrainConfigValidate(t *testing.T) {
	data := TwoMoons(64, 0.1, rand.New(rand.NewPCG(1, 2)))
	for _, tc := range []struct {
		cfg TrainConfig
		msg string
	}{
		{TrainConfig{LearningRate: math.NaN()}, "learning rate NaN"},
		{TrainConfig{LearningRate: math.Inf(1)}, "learning rate +Inf"},
		{TrainConfig{WeightDecay: -1}, "weight decay -1"},
		{TrainConfig{WeightDecay: math.NaN()}, "weight decay NaN"},
		{TrainConfig{WarmupSteps: -1}, "-1 warm-up steps"},
		{TrainConfig{ClipNorm: -1}, "gradient clipping norm -1"},
		{TrainConfig{ClipNorm: math.NaN()}, "gradient clipping norm NaN"},
		{TrainConfig{ClipNorm: math.Inf(1)}, "gradient clipping norm +Inf"},
		{TrainConfig{Patience: -1}, "patience -1"},
		{TrainConfig{MaxSkips: -1}, "MaxSkips -1"},
		{TrainConfig{ValidationFraction: 1}, "validation fraction 1"},
	} {
		f := newSmallRealNVP(t, 1, 2)
		tc.cfg.Epochs = 1
		if _, err := Fit(f, data, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Fit %+v: error %v, want %q", tc.cfg, err, tc.msg)
		}
		if _, err := FitReverseKL(context.Background(), f, bananaTarget, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("FitReverseKL %+v: error %v, want %q", tc.cfg, err, tc.msg)
		}
	}
}
