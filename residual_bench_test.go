// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import "testing"

func init() {
	// nsf-c-res is nsf-c with residual conditioners: a dense layer to
	// width 512, 2 residual blocks of width 512 and the output layer, in
	// place of the 2×512 MLP.
	benchPresets = append(benchPresets, benchPreset{name: "nsf-c-res", batch: 512, build: presetNSFCRes})
}

// presetNSFCRes builds nsf-c-res: nsf-c's 10 spline coupling layers with
// conditioners of 2 residual blocks of width 512.
func presetNSFCRes() (*Flow, error) {
	return NewNSF(NSFConfig{Dim: 43, Layers: 10, Hidden: []int{512}, ResidualBlocks: 2, Activation: ReLU, Bins: 8, Bound: 3, Seed: 1})
}

// TestNSFResPresetCost checks that the dense cost model counts nsf-c-res's
// conditioner products: 10 conditioners of |A|→512, 2 blocks of two
// 512→512 layers, 512→23·|B|, with (|A|, |B|) alternating (22, 21) and
// (21, 22).
func TestNSFResPresetCost(t *testing.T) {
	f, err := presetNSFCRes()
	if err != nil {
		t.Fatal(err)
	}
	want := 10*4*512*512 + 5*512*(22+21) + 5*512*23*(21+22)
	if got := flowDenseCost(f); got != want {
		t.Errorf("dense cost %d, want %d", got, want)
	}
	if n := len(f.Layers()); n != 20 {
		t.Errorf("%d layers, want 10 permutations and 10 couplings", n)
	}
}
