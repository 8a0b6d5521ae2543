// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import "testing"

func init() {
	benchPresets = append(benchPresets, benchPreset{name: "nsf-paper", batch: 512, build: presetNSFPaper})
}

// presetNSFPaper builds nsf-paper, what nflow fit -recipe nsf-paper builds
// for data of D = 43 columns (the standardisation aside): 10 steps of a
// fixed random permutation, a rational-quadratic spline coupling (K = 8,
// B = 3) whose conditioner has 2 residual blocks of width 256, and an
// LU-factored linear layer on the coupling's data side; batch 512.
func presetNSFPaper() (*Flow, error) {
	f, err := NewNSF(NSFConfig{Dim: 43, Layers: 10, Hidden: []int{256}, ResidualBlocks: 2, Activation: ReLU, Bins: 8, Bound: 3, Seed: 1})
	if err != nil {
		return nil, err
	}
	var layers []Layer
	for _, l := range f.Layers() {
		layers = append(layers, l)
		if _, ok := l.(*Coupling); ok {
			lu, err := NewLULinear(LUConfig{Dim: 43})
			if err != nil {
				return nil, err
			}
			layers = append(layers, lu)
		}
	}
	return New(layers...)
}

// TestNSFPaperPresetCost checks that the dense cost model counts
// nsf-paper's conditioner products, 10 conditioners of |A|→256, 2 blocks
// of two 256→256 layers and 256→23·|B| with (|A|, |B|) alternating (22, 21)
// and (21, 22), and one 43×43 product per LU layer.
func TestNSFPaperPresetCost(t *testing.T) {
	f, err := presetNSFPaper()
	if err != nil {
		t.Fatal(err)
	}
	want := 10*4*256*256 + 5*256*(22+21) + 5*256*23*(21+22) + 10*43*43
	if got := flowDenseCost(f); got != want {
		t.Errorf("dense cost %d, want %d", got, want)
	}
	if n := len(f.Layers()); n != 30 {
		t.Errorf("%d layers, want 10 permutations, 10 couplings and 10 LU layers", n)
	}
}
