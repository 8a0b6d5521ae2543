// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import "testing"

func init() {
	// maf-large-res is maf-large with residual MADEs: a masked layer to
	// width 512, 2 residual blocks of width 512 and the masked output
	// layer, in place of the 2×512 MADE; nsf-ar-res is nsf-ar likewise,
	// the conditioner of the autoregressive neural spline flows.
	benchPresets = append(benchPresets,
		benchPreset{name: "maf-large-res", batch: mafLargeBatch, build: presetMAFLargeRes},
		benchPreset{name: "nsf-ar-res", batch: nsfARBatch, build: presetNSFARRes},
		// maf-large-res-drop is maf-large-res trained with dropout 0.1 in
		// the blocks (TrainStep only): the masks' hash costs this much.
		benchPreset{name: "maf-large-res-drop", batch: mafLargeBatch, dropout: 0.1, build: presetMAFLargeRes},
	)
}

// presetMAFLargeRes builds maf-large-res: MAF, D 43, 5 layers (orders
// alternating natural and reversed), residual MADEs of 2 blocks of width
// 512, ReLU.
func presetMAFLargeRes() (*Flow, error) {
	return NewMAFFlow(AutoregressiveFlowConfig{Dim: 43, Layers: 5, Hidden: []int{512}, ResidualBlocks: 2, Activation: ReLU, Seed: 1})
}

// presetNSFARRes builds nsf-ar-res: nsf-ar's 5 spline MAF layers (K = 8 on
// [−3, 3]) with residual MADEs of 2 blocks of width 512.
func presetNSFARRes() (*Flow, error) {
	s := RQSpline{Bins: 8, Bound: 3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	return NewMAFFlow(AutoregressiveFlowConfig{Dim: 43, Layers: 5, Hidden: []int{512}, ResidualBlocks: 2, Activation: ReLU, Seed: 1, Spline: &s})
}

// TestResMADEPresetCost checks that the dense cost model counts the
// residual MADEs' products, masked entries included: 43→512, 2 blocks of
// two 512→512 layers, 512→P·43 per layer (P = 2, or 23 for the spline).
func TestResMADEPresetCost(t *testing.T) {
	for _, tc := range []struct {
		build func() (*Flow, error)
		p     int
	}{{presetMAFLargeRes, 2}, {presetNSFARRes, 23}} {
		f, err := tc.build()
		if err != nil {
			t.Fatal(err)
		}
		want := 5 * (43*512 + 4*512*512 + 512*tc.p*43)
		if got := flowDenseCost(f); got != want {
			t.Errorf("P = %d: dense cost %d, want %d", tc.p, got, want)
		}
		if m := arOf(f.Layers()[0]).MADE(); m.ResidualBlocks() != 2 || m.NumLayers() != 6 {
			t.Errorf("P = %d: %d blocks, %d layers", tc.p, m.ResidualBlocks(), m.NumLayers())
		}
	}
}
