// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestSteadyStateAllocs: once warmed up, a training step, LogProb and Sample
// allocate nothing.
func TestSteadyStateAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Log("allocation counts are not meaningful under -race or -cover")
		return
	}
	f, err := NewRealNVP(RealNVPConfig{Dim: 5, Layers: 4, Hidden: []int{16}, Activation: ReLU})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.1, 1)
	x := mat.NewDense(300, 5, randomRows(300, 5, 1))
	grad := make([]float64, f.NumParams())
	ml := NewMaxLikelihood(f, 2, 64)
	kl := NewReverseKL(f, banana, 2, 64)
	opt := NewAdam(1e-3)
	lp := make([]float64, 300)
	rnd := rand.New(rand.NewPCG(1, 1))
	for name, fn := range map[string]func(){
		"MaxLikelihood": func() { ml.LossGrad(grad, x); opt.Step(f.Params(), grad) },
		"ReverseKL":     func() { kl.LossGrad(grad, x) },
		"LogProb":       func() { f.LogProb(lp, x) },
		"Sample":        func() { f.Sample(x, lp, rnd) },
		"Forward":       func() { f.Forward(x, x, lp) },
	} {
		fn()
		if a := testing.AllocsPerRun(50, fn); a > 0 {
			t.Errorf("%s: %v allocations per call in steady state", name, a)
		}
	}
}
