// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

// The MAF and IAF presets of DESIGN.md §7, ReLU throughout. Each returns
// the flow, with the initial parameters its constructor gives, and the
// preset's batch size.

const (
	mafSmallBatch = 256
	mafLargeBatch = 512
	iafLargeBatch = 512
)

// presetMAFSmall is maf-small: MAF, D 8, MADE 2×256, 5 layers with the
// order reversed between layers, batch 256.
func presetMAFSmall() (*Flow, int) {
	return mustFlow(NewMAFFlow(AutoregressiveFlowConfig{Dim: 8, Layers: 5, Hidden: []int{256, 256}, Activation: ReLU, Seed: 1})), mafSmallBatch
}

// presetMAFLarge is maf-large: MAF, D 43, MADE 2×512, 5 layers (orders
// alternating natural and reversed), batch 512.
func presetMAFLarge() (*Flow, int) {
	return mustFlow(NewMAFFlow(AutoregressiveFlowConfig{Dim: 43, Layers: 5, Hidden: []int{512, 512}, Activation: ReLU, Seed: 1})), mafLargeBatch
}

// presetIAFLarge is iaf-large: IAF, D 43, MADE 2×512, 5 layers (orders
// alternating natural and reversed), batch 512. It trains by reverse KL.
func presetIAFLarge() (*Flow, int) {
	return mustFlow(NewIAFFlow(AutoregressiveFlowConfig{Dim: 43, Layers: 5, Hidden: []int{512, 512}, Activation: ReLU, Seed: 1})), iafLargeBatch
}

func mustFlow(f *Flow, err error) *Flow {
	if err != nil {
		panic(err)
	}
	return f
}

func init() {
	build := func(fn func() (*Flow, int)) func() (*Flow, error) {
		return func() (*Flow, error) { f, _ := fn(); return f, nil }
	}
	benchPresets = append(benchPresets,
		benchPreset{name: "maf-small", batch: mafSmallBatch, build: build(presetMAFSmall)},
		benchPreset{name: "maf-large", batch: mafLargeBatch, build: build(presetMAFLarge)},
		benchPreset{name: "iaf-large", batch: iafLargeBatch, reverseKL: true, build: build(presetIAFLarge)},
	)
}
