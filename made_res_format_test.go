// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// ftResMADEDoc returns a document of one residual MAF layer (D = 3, C = 1,
// 2 blocks of width 4), with random parameters.
func ftResMADEDoc(t *testing.T) []byte {
	t.Helper()
	f := ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 3, ContextDim: 1, Hidden: []int{4}, ResidualBlocks: 2, Activation: Tanh, Order: RandomOrder, Degrees: RandomDegrees, Seed: 3}))
	randomizeParams(f, 0.5, 1)
	zeroMasked(f)
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFormatResMADELayout: a residual MAF's document holds R, the one
// hidden width, one degree list and the 2R + 2 masked layers, the blocks'
// masks the rule deg(out) ≥ deg(in) on the one set of degrees.
func TestFormatResMADELayout(t *testing.T) {
	b := ftResMADEDoc(t)
	var doc modelDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	ld := doc.Layers[0]
	if ld.ResidualBlocks == nil || *ld.ResidualBlocks != 2 || len(ld.Hidden) != 1 || len(ld.Degrees) != 1 {
		t.Fatalf("residual_blocks %v, hidden %v, degrees %v", ld.ResidualBlocks, ld.Hidden, ld.Degrees)
	}
	if len(ld.MADE) != 6 {
		t.Fatalf("%d dense layers, want 6", len(ld.MADE))
	}
	deg := ld.Degrees[0]
	for k := 1; k <= 4; k++ {
		dd := ld.MADE[k]
		for r := 0; r < 4; r++ {
			for c := 0; c < 4; c++ {
				want := 0
				if deg[r] >= deg[c] {
					want = 1
				}
				if dd.Mask[r*4+c] != want {
					t.Errorf("made[%d].mask (%d, %d) is %d, want %d", k, r, c, dd.Mask[r*4+c], want)
				}
			}
		}
	}
}

// TestFormatResMADEPermuted: a document whose hidden units are not sorted
// by degree (the same permutation of the units of every hidden layer: rows
// of the first layer, rows and columns of the blocks, columns of the output
// layer, and the degrees) reads as the same model.
func TestFormatResMADEPermuted(t *testing.T) {
	b := ftResMADEDoc(t)
	f, err := UnmarshalFlow(b)
	if err != nil {
		t.Fatal(err)
	}
	perm := []int{3, 1, 0, 2} // new unit k is old unit perm[k]
	var doc modelDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	ld := doc.Layers[0]
	pd := make([]int, 4)
	for k, j := range perm {
		pd[k] = ld.Degrees[0][j]
	}
	ld.Degrees[0] = pd
	for l, dd := range ld.MADE {
		in, out := dd.In, dd.Out
		w, mk := make([]float64, len(dd.Weights)), make([]int, len(dd.Mask))
		bs := append([]float64(nil), dd.Biases...)
		for r := 0; r < out; r++ {
			or := r
			if l < len(ld.MADE)-1 {
				or = perm[r]
				bs[r] = dd.Biases[or]
			}
			for c := 0; c < in; c++ {
				oc := c
				if l > 0 {
					oc = perm[c]
				}
				w[r*in+c], mk[r*in+c] = dd.Weights[or*in+oc], dd.Mask[or*in+oc]
			}
		}
		dd.Weights, dd.Mask, dd.Biases = w, mk, bs
	}
	pb, err := json.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	g, err := UnmarshalFlow(pb)
	if err != nil {
		t.Fatal(err)
	}
	x := mat.NewDense(5, 3, randomRows(5, 3, 2))
	c := mat.NewDense(5, 1, randomRows(5, 1, 3))
	l1, l2 := f.LogProbGiven(nil, x, c), g.LogProbGiven(nil, x, c)
	for i := range l1 {
		if math.Abs(l1[i]-l2[i]) > 1e-13*math.Max(1, math.Abs(l1[i])) {
			t.Errorf("row %d: log p %v, permuted %v", i, l1[i], l2[i])
		}
	}
}

func TestUnmarshalRejectsResMADE(t *testing.T) {
	doc := ftResMADEDoc(t)
	if _, err := UnmarshalFlow(doc); err != nil {
		t.Fatalf("valid document: %v", err)
	}
	// A masked entry of the first block layer: unit 0 has the lowest
	// degree, so (0, 3) is masked unless all degrees are equal.
	var d modelDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	deg := d.Layers[0].Degrees[0]
	if deg[0] == deg[3] {
		t.Fatalf("degrees %v: the test needs unit 3 above unit 0", deg)
	}
	for _, tc := range []struct {
		name string
		data []byte
		path string
		msg  string
	}{
		{"two-widths", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["hidden"] = []any{4, 4} }), "layers[0].hidden", "2 widths, but residual blocks (2) need exactly one"},
		{"fewer-blocks", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["residual_blocks"] = 1 }), "layers[0].made", "6 dense layers, want 4 (the input layer, 2 per residual block and the output)"},
		{"absent", ftEdit(t, doc, func(m map[string]any) { delete(ftLayer(m, 0), "residual_blocks") }), "layers[0].made", "6 dense layers, want 2"},
		{"too-many", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["residual_blocks"] = 65 }), "layers[0].residual_blocks", "65 is not in [0, 64]"},
		{"block-mask", ftEdit(t, doc, func(m map[string]any) {
			ftLayer(m, 0)["made"].([]any)[1].(map[string]any)["mask"].([]any)[3] = 1
		}), "layers[0].made[1].mask[3]", "inconsistent with the degrees"},
		{"block-masked-weight", ftEdit(t, doc, func(m map[string]any) {
			ftLayer(m, 0)["made"].([]any)[2].(map[string]any)["weights"].([]any)[3] = 0.5
		}), "layers[0].made[2].weights[3]", "where the mask is 0"},
		{"block-shape", ftEdit(t, doc, func(m map[string]any) {
			ftLayer(m, 0)["made"].([]any)[3].(map[string]any)["in"] = 3
		}), "layers[0].made[3].in", "3, want 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := UnmarshalFlow(tc.data)
			if err == nil {
				t.Fatalf("accepted: %v", f)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is %T, not a *FormatError", err, err)
			}
			if fe.Path != tc.path || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("got path %q message %q\nwant path %q message containing %q", fe.Path, fe.Msg, tc.path, tc.msg)
			}
		})
	}
}
