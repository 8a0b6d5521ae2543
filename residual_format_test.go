// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// ftResidualDoc returns a small valid document: layers[0] an affine
// coupling with a residual conditioner of 2 blocks of width 4 (D = 3, mask
// [1 0 1], so 2 → 4 → out 2), layers[1] a permutation, layers[2] a MAF.
func ftResidualDoc(t *testing.T) []byte {
	t.Helper()
	maf, err := NewMAF(AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: ReLU})
	if err != nil {
		t.Fatal(err)
	}
	f := ftFlow(t,
		ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{4}, Activation: Tanh, ResidualBlocks: 2}),
		ftPerm(t, []int{2, 1, 0}),
		maf,
	)
	randomizeParams(f, 0.5, 1)
	zeroMasked(f)
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFormatResidualLayout: the document holds R, the one hidden width and
// the 2R + 2 dense layers in parameter order, input layer, blocks, output.
func TestFormatResidualLayout(t *testing.T) {
	const R = 2
	c := ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{4}, Activation: Tanh, ContextDim: 2, ResidualBlocks: R})
	f := ftFlow(t, c)
	randomizeParams(f, 0.5, 2)
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	var doc modelDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	ld := doc.Layers[0]
	if ld.ResidualBlocks == nil || *ld.ResidualBlocks != R {
		t.Fatalf("residual_blocks %v, want %d", ld.ResidualBlocks, R)
	}
	if len(ld.Hidden) != 1 || ld.Hidden[0] != 4 {
		t.Errorf("hidden %v, want [4]", ld.Hidden)
	}
	shapes := [][2]int{{2 + 2, 4}, {4, 4}, {4, 4}, {4, 4}, {4, 4}, {4, 2}}
	if len(ld.Conditioner) != len(shapes) {
		t.Fatalf("%d dense layers, want %d", len(ld.Conditioner), len(shapes))
	}
	for k, dd := range ld.Conditioner {
		if dd.In != shapes[k][0] || dd.Out != shapes[k][1] {
			t.Errorf("conditioner[%d] is %d → %d, want %d → %d", k, dd.In, dd.Out, shapes[k][0], shapes[k][1])
		}
		w, bb, _ := c.cond.layer(c.params, k+1)
		if maxAbsDiff(w, dd.Weights) != 0 || maxAbsDiff(bb, dd.Biases) != 0 || len(w) != len(dd.Weights) {
			t.Errorf("conditioner[%d] does not hold dense layer %d's parameters", k, k+1)
		}
	}
	// A plain conditioner has no residual_blocks field.
	p := ftFlow(t, ftCoupling(t, CouplingConfig{Mask: []bool{true, false}, Hidden: []int{4}}))
	b, err = MarshalFlow(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "residual_blocks") {
		t.Errorf("a plain conditioner's document names residual_blocks:\n%s", b)
	}
}

// TestFormatResidualContextRoundTrip: a conditional flow with residual
// conditioners reads back with the same parameters and log-densities, bit
// for bit, and an explicit "residual_blocks": 0 reads as a plain
// conditioner.
func TestFormatResidualContextRoundTrip(t *testing.T) {
	f, err := NewNSF(NSFConfig{Dim: 3, Layers: 2, Hidden: []int{5}, Activation: ReLU, ContextDim: 2, ResidualBlocks: 2, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.3, 5)
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := UnmarshalFlow(b)
	if err != nil {
		t.Fatal(err)
	}
	if maxAbsDiff(f.Params(), g.Params()) != 0 {
		t.Error("parameters differ")
	}
	for i, l := range g.Layers() {
		if c, ok := l.(*Coupling); ok && c.ResidualBlocks() != 2 {
			t.Errorf("layer %d reads with %d residual blocks, want 2", i, c.ResidualBlocks())
		}
	}
	x := mat.NewDense(9, 3, randomRows(9, 3, 6))
	ctx := mat.NewDense(9, 2, randomRows(9, 2, 7))
	lp1, lp2 := f.LogProbGiven(nil, x, ctx), g.LogProbGiven(nil, x, ctx)
	for i := range lp1 {
		if math.Float64bits(lp1[i]) != math.Float64bits(lp2[i]) {
			t.Fatalf("row %d: log p %v, decoded %v", i, lp1[i], lp2[i])
		}
	}

	plain := ftFlow(t, ftCoupling(t, CouplingConfig{Mask: []bool{true, false}, Hidden: []int{3}, Activation: Tanh}))
	randomizeParams(plain, 0.5, 8)
	b, err = MarshalFlow(plain)
	if err != nil {
		t.Fatal(err)
	}
	zero := ftEdit(t, b, func(m map[string]any) { ftLayer(m, 0)["residual_blocks"] = 0 })
	h, err := UnmarshalFlow(zero)
	if err != nil {
		t.Fatalf("residual_blocks 0: %v", err)
	}
	if c := h.Layers()[0].(*Coupling); c.ResidualBlocks() != 0 || maxAbsDiff(c.Params(), plain.Params()) != 0 {
		t.Errorf("residual_blocks 0 reads as %d blocks, or other parameters", c.ResidualBlocks())
	}
}

func TestUnmarshalRejectsResidual(t *testing.T) {
	doc := ftResidualDoc(t)
	if _, err := UnmarshalFlow(doc); err != nil {
		t.Fatalf("valid document: %v", err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		path string
		msg  string
	}{
		{"negative", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["residual_blocks"] = -1 }), "layers[0].residual_blocks", "-1 is not in [0, 64]"},
		{"too-many", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["residual_blocks"] = 65 }), "layers[0].residual_blocks", "65 is not in [0, 64]"},
		{"string", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["residual_blocks"] = "2" }), "layers[0].residual_blocks", "cannot be int"},
		{"fraction", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["residual_blocks"] = 1.5 }), "layers[0].residual_blocks", "cannot be int"},
		{"two-widths", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["hidden"] = []any{4, 4} }), "layers[0].hidden", "2 widths, but residual blocks (2) need exactly one"},
		{"no-width", ftEdit(t, doc, func(m map[string]any) { delete(ftLayer(m, 0), "hidden") }), "layers[0].hidden", "0 widths, but residual blocks (2) need exactly one"},
		{"fewer-blocks", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["residual_blocks"] = 1 }), "layers[0].conditioner", "6 dense layers, want 4 (the input layer, 2 per residual block and the output)"},
		{"absent", ftEdit(t, doc, func(m map[string]any) { delete(ftLayer(m, 0), "residual_blocks") }), "layers[0].conditioner", "6 dense layers, want 2"},
		{"block-in", ftEdit(t, doc, func(m map[string]any) {
			ftLayer(m, 0)["conditioner"].([]any)[3].(map[string]any)["in"] = 3
		}), "layers[0].conditioner[3].in", "3, want 4"},
		{"output-out", ftEdit(t, doc, func(m map[string]any) {
			ftLayer(m, 0)["conditioner"].([]any)[5].(map[string]any)["out"] = 4
		}), "layers[0].conditioner[5].out", "4, want 2"},
		{"too-large", ftEdit(t, doc, func(m map[string]any) {
			ftLayer(m, 0)["hidden"] = []any{1 << 13}
			ftLayer(m, 0)["residual_blocks"] = 4
		}), "layers[0].hidden", "parameters"},
		{"on-permutation", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 1)["residual_blocks"] = 1 }), "layers[1].residual_blocks", `not a field of a "permutation" layer`},
		{"on-maf", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 2)["residual_blocks"] = 1 }), "layers[2].made", "2 dense layers, want 4 (the input layer, 2 per residual block and the output)"},
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

// TestFormatResidualSeed: the FuzzUnmarshal seed with a residual
// conditioner reads, and computes what FORMAT.md §3.1's equations give.
func TestFormatResidualSeed(t *testing.T) {
	doc := `{"format":"nfgo-flow","version":1,"dim":2,"base":{"type":"std_normal"},"layers":[{"type":"coupling","dim":2,"mask":[0,1],"coupling":"affine","clamp":0,"activation":"tanh","hidden":[1],"residual_blocks":1,"conditioner":[{"in":1,"out":1,"weights":[0.5],"biases":[1]},{"in":1,"out":1,"weights":[-1],"biases":[0.25]},{"in":1,"out":1,"weights":[2],"biases":[0]},{"in":1,"out":2,"weights":[0.5,-0.5],"biases":[0,1]}]}]}`
	f, err := UnmarshalFlow([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	x0, x1 := 0.75, -0.5 // x[1] passes through (mask [0 1])
	h0 := 0.5*x1 + 1
	h1 := h0 + 2*math.Tanh(-math.Tanh(h0)+0.25)
	s, b := 0.5*math.Tanh(h1), -0.5*math.Tanh(h1)+1
	z0 := (x0 - b) * math.Exp(-s)
	want := -0.5*(z0*z0+x1*x1) - math.Log(2*math.Pi) - s
	got := f.LogProb(nil, mat.NewDense(1, 2, []float64{x0, x1}))[0]
	if math.Abs(got-want) > 1e-14 {
		t.Errorf("log p(x) %v, the equations give %v (%s)", got, want, fmt.Sprint(got-want))
	}
}
