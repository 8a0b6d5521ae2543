// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import "testing"

// presetRealNVPLargeLU is realnvp-large-lu: realnvp-large (D 43, 10 affine
// couplings on alternating halves, MLP 2×512, batch 512) with an
// LU-factored linear layer and an ActNorm layer after every coupling in the
// flow's order, on its data side, as nflow fit -lu -actnorm builds it: 30
// layers, Glow's step ten times.
func presetRealNVPLargeLU() (*Flow, error) {
	f, err := NewRealNVP(RealNVPConfig{Dim: 43, Layers: 10, Hidden: []int{512, 512}, Activation: ReLU, Seed: 1})
	if err != nil {
		return nil, err
	}
	var layers []Layer
	for _, c := range f.Layers() {
		lu, err := NewLULinear(LUConfig{Dim: 43})
		if err != nil {
			return nil, err
		}
		a, err := NewActNorm(43)
		if err != nil {
			return nil, err
		}
		layers = append(layers, c, lu, a)
	}
	return New(layers...)
}

func init() {
	benchPresets = append(benchPresets, benchPreset{name: "realnvp-large-lu", batch: 512, build: presetRealNVPLargeLU})
}

// TestLUPresetCost checks that the dense cost model counts realnvp-large's
// conditioners and one 43×43 product per LU layer, the ActNorm layers free.
func TestLUPresetCost(t *testing.T) {
	f, err := presetRealNVPLargeLU()
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewRealNVP(RealNVPConfig{Dim: 43, Layers: 10, Hidden: []int{512, 512}, Activation: ReLU, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := flowDenseCost(f), flowDenseCost(g)+10*43*43; got != want {
		t.Errorf("dense cost %d, want %d", got, want)
	}
	if n := len(f.Layers()); n != 30 {
		t.Errorf("%d layers, want 10 couplings, 10 LU and 10 ActNorm layers", n)
	}
}
