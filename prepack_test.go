// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestPrepackSameBits checks that packing the conditioners' weights once
// per training step changes nothing: the loss and gradient of a step equal
// those with every product packing its own operands, bit for bit, for
// coupling (plain and residual), MAF (plain, residual, spline) and IAF
// flows, with a batch whose last shard is short (its products pack their
// own) and on 1 and 2 goroutines.
func TestPrepackSameBits(t *testing.T) {
	defer func(m int) { prepackOff, prepackMin = false, m }(prepackMin)
	prepackMin = 0 // pack these small flows on 2 goroutines too
	s := RQSpline{Bins: 5, Bound: 3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	flows := map[string]func() (*Flow, error){
		"realnvp": func() (*Flow, error) {
			return NewRealNVP(RealNVPConfig{Dim: 5, Layers: 3, Hidden: []int{24, 16}, Activation: Tanh, Seed: 1})
		},
		// D = 3: conditioners with one or two outputs and inputs, whose
		// products run as dot products of rows and read W in place.
		"realnvp-narrow": func() (*Flow, error) {
			return NewRealNVP(RealNVPConfig{Dim: 3, Layers: 2, Hidden: []int{20}, Activation: Tanh, Seed: 6})
		},
		"nsf-residual": func() (*Flow, error) {
			return NewNSF(NSFConfig{Dim: 5, Layers: 2, Hidden: []int{20}, ResidualBlocks: 2, Activation: ReLU, Seed: 2})
		},
		"maf": func() (*Flow, error) {
			return NewMAFFlow(AutoregressiveFlowConfig{Dim: 5, Layers: 2, Hidden: []int{30, 30}, Activation: ReLU, Seed: 3})
		},
		"maf-residual": func() (*Flow, error) {
			return NewMAFFlow(AutoregressiveFlowConfig{Dim: 5, Layers: 2, Hidden: []int{30}, ResidualBlocks: 2, Activation: ReLU, Seed: 4})
		},
		"nsf-ar": func() (*Flow, error) {
			return NewMAFFlow(AutoregressiveFlowConfig{Dim: 5, Layers: 2, Hidden: []int{30, 30}, Activation: ReLU, Seed: 5, Spline: &s})
		},
	}
	const n, shard = 150, 64
	for name, build := range flows {
		f, err := build()
		if err != nil {
			t.Fatal(err)
		}
		randomizeParams(f, 0.2, 6)
		x := mat.NewDense(n, f.Dim(), randomRows(n, f.Dim(), 7))
		for _, workers := range []int{1, 2} {
			var loss [2]float64
			var grad [2][]float64
			for i, off := range []bool{true, false} {
				prepackOff = off
				grad[i] = make([]float64, f.NumParams())
				loss[i] = NewMaxLikelihood(f, workers, shard).LossGrad(grad[i], x)
			}
			if !packedOnce(f) {
				t.Fatalf("%s: the step did not pack its weights once", name)
			}
			if math.Float64bits(loss[0]) != math.Float64bits(loss[1]) {
				t.Errorf("%s, %d goroutines: loss %v packed once, %v packed per product", name, workers, loss[1], loss[0])
			}
			for j := range grad[0] {
				if math.Float64bits(grad[0][j]) != math.Float64bits(grad[1][j]) {
					t.Errorf("%s, %d goroutines: gradient %d: %v packed once, %v packed per product", name, workers, j, grad[1][j], grad[0][j])
					break
				}
			}
		}
	}
	// IAF trains by reverse KL, through its one-pass Forward.
	f, err := NewIAFFlow(AutoregressiveFlowConfig{Dim: 4, Layers: 2, Hidden: []int{20, 20}, Activation: Tanh, Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.2, 9)
	z := mat.NewDense(n, 4, randomRows(n, 4, 10))
	var grad [2][]float64
	var loss [2]float64
	for i, off := range []bool{true, false} {
		prepackOff = off
		grad[i] = make([]float64, f.NumParams())
		loss[i] = NewReverseKL(f, func(g, x []float64) float64 { StdNormalGrad(g, x); return StdNormalLogProb(x) }, 2, shard).LossGrad(grad[i], z)
	}
	if !packedOnce(f) {
		t.Fatal("iaf: the step did not pack its weights once")
	}
	if math.Float64bits(loss[0]) != math.Float64bits(loss[1]) {
		t.Errorf("iaf: loss %v packed once, %v packed per product", loss[1], loss[0])
	}
	for j := range grad[0] {
		if math.Float64bits(grad[0][j]) != math.Float64bits(grad[1][j]) {
			t.Errorf("iaf: gradient %d: %v packed once, %v packed per product", j, grad[1][j], grad[0][j])
			break
		}
	}
}

// packedOnce reports whether every conditioner of f has packs (a step
// packed its weights once) and none is in use after the step.
func packedOnce(f *Flow) bool {
	found := false
	for _, l := range f.layers {
		var on, had bool
		switch l := l.(type) {
		case *Coupling:
			had = l.cond.packs != nil
			on = had && l.cond.packs.on
		case *MAF:
			had = l.made.packs != nil
			on = had && l.made.packs.on
		case *IAF:
			had = l.made.packs != nil
			on = had && l.made.packs.on
		default:
			continue
		}
		if !had || on {
			return false
		}
		found = true
	}
	return found
}
