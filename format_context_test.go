// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gonum.org/v1/gonum/mat"
)

// contextFormatCases covers conditional flows: coupling layers of every
// kind, MAF and IAF with every degree assignment (explicit degrees with 0),
// no hidden layer and D = 1, inverted layers, and flows that mix
// conditional layers with layers without a context, some with names.
func contextFormatCases() []formatCase {
	named := func(t *testing.T, f *Flow, names, cnames []string) *Flow {
		t.Helper()
		if err := f.SetNames(names); err != nil {
			t.Fatal(err)
		}
		if err := f.SetContextNames(cnames); err != nil {
			t.Fatal(err)
		}
		return f
	}
	return []formatCase{
		{"ctx-affine-clamp", func(t *testing.T) *Flow {
			return ftFlow(t, ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{5, 4}, Activation: Tanh, Func: Affine{Clamp: 1.5}, ContextDim: 2}))
		}},
		{"ctx-additive-linear", func(t *testing.T) *Flow {
			return ftFlow(t, ftCoupling(t, CouplingConfig{Mask: []bool{false, true}, Activation: ReLU, Func: Additive{}, ContextDim: 3}))
		}},
		{"ctx-realnvp", func(t *testing.T) *Flow {
			f, err := NewRealNVP(RealNVPConfig{Dim: 3, Layers: 3, Hidden: []int{6}, Activation: Tanh, Clamp: 2, ContextDim: 1})
			if err != nil {
				t.Fatal(err)
			}
			return f
		}},
		{"ctx-maf-random", func(t *testing.T) *Flow {
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 4, Hidden: []int{6, 5}, Activation: Tanh, Order: RandomOrder, Degrees: RandomDegrees, Seed: 3, Clamp: 2, ContextDim: 2}))
		}},
		{"ctx-maf-explicit-degrees", func(t *testing.T) *Flow {
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4, 3}, Activation: ReLU, Order: ExplicitOrder, Perm: []int{1, 2, 0},
				Degrees: ExplicitDegrees, HiddenDegrees: [][]int{{0, 0, 1, 2}, {0, 1, 2}}, ContextDim: 1}))
		}},
		{"ctx-maf-no-hidden", func(t *testing.T) *Flow {
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 3, Activation: Tanh, Order: ReversedOrder, ContextDim: 2}))
		}},
		{"ctx-maf-dim1", func(t *testing.T) *Flow {
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 1, Hidden: []int{2}, Activation: Tanh, ContextDim: 2}))
		}},
		{"ctx-iaf", func(t *testing.T) *Flow {
			return ftFlow(t, ftIAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4, 4}, Activation: Tanh, Clamp: 1, ContextDim: 1}))
		}},
		{"ctx-maf-rqspline", func(t *testing.T) *Flow {
			s := RQSpline{Bins: 3, Bound: 2, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4, 3}, Activation: ReLU, Order: ReversedOrder, ContextDim: 2, Spline: &s}))
		}},
		{"ctx-iaf-rqspline", func(t *testing.T) *Flow {
			s := RQSpline{Bins: 4, Bound: 1.5, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
			return ftFlow(t, ftIAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: Tanh, ContextDim: 1, Spline: &s}))
		}},
		{"ctx-inverse", func(t *testing.T) *Flow {
			return ftFlow(t,
				Invert(ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{3}, Activation: Tanh, ContextDim: 2})),
				Invert(ftCoupling(t, CouplingConfig{Mask: []bool{false, false, true}, Hidden: []int{3}, Activation: ReLU, ContextDim: 2})))
		}},
		{"ctx-mixed-names", func(t *testing.T) *Flow {
			f := ftFlow(t,
				ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{5}, Activation: Tanh, ContextDim: 2}),
				ftPerm(t, []int{2, 0, 1}),
				ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{4}, Activation: ReLU}),
				ftCoupling(t, CouplingConfig{Mask: []bool{false, true, false}, Hidden: []int{4}, Activation: Tanh, Func: Affine{Clamp: 2}, ContextDim: 2}),
				Invert(ftIAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{3}, Activation: ReLU, Order: ReversedOrder, ContextDim: 2})),
				ftStd(t, []float64{-1, 0, 1}, []float64{2, 3, 0.5}),
			)
			return named(t, f, []string{"x", "y", "z"}, []string{"temperature", "pressure"})
		}},
	}
}

// conditionalLayers returns, for each layer of the document doc (inverse
// layers looked through), its context field: -1 where it is absent.
func conditionalLayers(t *testing.T, doc []byte) []int {
	t.Helper()
	var d modelDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, l := range d.Layers {
		for l.Type == "inverse" {
			l = l.Layer
		}
		c := -1
		if l.Context != nil {
			c = *l.Context
		}
		out = append(out, c)
	}
	return out
}

// TestFormatContextRoundTrip checks that a conditional flow writes its
// context dimension and names, and reads back to the same layers computing
// bit-identical log-densities and samples given the same contexts.
func TestFormatContextRoundTrip(t *testing.T) {
	for _, tc := range contextFormatCases() {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.build(t)
			randomizeParams(f, 0.7, 3)
			zeroMasked(f)
			b, err := MarshalFlow(f)
			if err != nil {
				t.Fatal(err)
			}
			g, err := UnmarshalFlow(b)
			if err != nil {
				t.Fatalf("UnmarshalFlow: %v\n%s", err, b)
			}
			b2, err := MarshalFlow(g)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, b2) {
				t.Errorf("the second marshalling differs from the first:\n%s\n%s", b, b2)
			}
			// The document's and the layers' context fields.
			nc := f.ContextDim()
			var d modelDoc
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			if d.Context == nil || *d.Context != nc {
				t.Errorf("document context %v, want %d", d.Context, nc)
			}
			for i, c := range conditionalLayers(t, b) {
				l := f.Layers()[i]
				if v, ok := l.(*Inverted); ok {
					l = v.L
				}
				want := -1
				if l.ContextDim() > 0 {
					want = nc
				}
				if c != want {
					t.Errorf("layer %d (%T): context field %d, want %d (-1: absent)", i, l, c, want)
				}
			}
			if g.ContextDim() != nc {
				t.Errorf("ContextDim %d read back, want %d", g.ContextDim(), nc)
			}
			if !reflect.DeepEqual(g.Names(), f.Names()) || !reflect.DeepEqual(g.ContextNames(), f.ContextNames()) {
				t.Errorf("names %q and %q read back, want %q and %q", g.Names(), g.ContextNames(), f.Names(), f.ContextNames())
			}
			if diff := cmp.Diff(f.Layers(), g.Layers(), flowCmpOpts); diff != "" {
				t.Errorf("decoded layers differ (-want +got):\n%s", diff)
			}
			if !cmp.Equal(f.Params(), g.Params()) {
				t.Error("parameters differ")
			}
			// Log-densities and samples given the same contexts are
			// bit-identical.
			dim := f.Dim()
			x := mat.NewDense(37, dim, randomRows(37, dim, 5))
			c := mat.NewDense(37, nc, randomRows(37, nc, 6))
			wantBits(t, "log p(x | c)", f.LogProbGiven(nil, x, c), g.LogProbGiven(nil, x, c))
			var s1, s2 mat.Dense
			q1, q2 := make([]float64, 37), make([]float64, 37)
			f.SampleGiven(&s1, q1, c, rand.New(rand.NewPCG(7, 7)))
			g.SampleGiven(&s2, q2, c, rand.New(rand.NewPCG(7, 7)))
			wantBits(t, "sample", s1.RawMatrix().Data, s2.RawMatrix().Data)
			wantBits(t, "log q(x | c)", q1, q2)
			// The context matters: another context gives other values.
			c2 := mat.NewDense(37, nc, randomRows(37, nc, 8))
			if lp, lp2 := g.LogProbGiven(nil, x, c), g.LogProbGiven(nil, x, c2); maxAbsDiff(lp, lp2) == 0 {
				t.Error("log p(x | c) read back does not depend on c")
			}
		})
	}
}

// wantBits reports the first entry of got whose bits differ from want's.
func wantBits(t *testing.T, what string, want, got []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s [%d]: %v decoded, want %v", what, i, got[i], want[i])
		}
	}
}

// TestFormatContextLayout checks the layouts of FORMAT.md §3.2 and §3.3 on
// a written document: a coupling conditioner's first layer is
// out×(|A|+C) with the context columns last, exactly the layer's own
// parameters, and a MADE's first layer out×(D+C) with the context columns
// last, all 1 in the mask; hidden degrees include 0.
func TestFormatContextLayout(t *testing.T) {
	cp := ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{3}, Activation: Tanh, ContextDim: 2})
	mf := ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: Tanh, Order: ReversedOrder, ContextDim: 2})
	f := ftFlow(t, cp, mf)
	randomizeParams(f, 0.5, 4)
	zeroMasked(f)
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	var d modelDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	c0 := d.Layers[0].Conditioner[0]
	if c0.In != 4 || c0.Out != 3 {
		t.Errorf("conditioner[0] is %d→%d, want 4→3 (|A| + C = 2 + 2 inputs)", c0.In, c0.Out)
	}
	w, _, _ := cp.cond.layer(cp.params, 1)
	if !cmp.Equal(c0.Weights, w) {
		t.Errorf("conditioner[0].weights %v, the layer's first weights %v", c0.Weights, w)
	}
	m0 := d.Layers[1].MADE[0]
	if m0.In != 5 || m0.Out != 4 {
		t.Errorf("made[0] is %d→%d, want 5→4 (D + C = 3 + 2 inputs)", m0.In, m0.Out)
	}
	if !cmp.Equal(m0.Weights, mf.made.Weights(0).RawMatrix().Data) {
		t.Errorf("made[0].weights %v, MADE.Weights(0) %v", m0.Weights, mf.made.Weights(0).RawMatrix().Data)
	}
	// Reversed order: x_2 has degree 1, x_1 2, x_0 3; with hidden degrees
	// 0, 1, 2 (and one more 0), unit k sees x_j iff deg(k) ≥ deg(x_j),
	// and every context column.
	if got, want := d.Layers[1].Degrees, [][]int{{0, 0, 1, 2}}; !cmp.Equal(got, want) {
		t.Errorf("degrees %v, want %v", got, want)
	}
	wantMask := []int{
		0, 0, 0, 1, 1,
		0, 0, 0, 1, 1,
		0, 0, 1, 1, 1,
		0, 1, 1, 1, 1,
	}
	if !cmp.Equal(m0.Mask, wantMask) {
		t.Errorf("made[0].mask %v, want %v", m0.Mask, wantMask)
	}
}

// ftContextDoc returns a valid conditional document to corrupt: a
// conditional coupling layer, a permutation, a conditional MAF with
// hidden degrees 0, an inverted conditional IAF and a coupling layer
// without a context, C = 2, with names.
func ftContextDoc(t *testing.T) []byte {
	t.Helper()
	f := ftFlow(t,
		ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{4}, Activation: Tanh, Func: Affine{Clamp: 2}, ContextDim: 2}),
		ftPerm(t, []int{2, 1, 0}),
		ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4, 3}, Activation: Tanh, ContextDim: 2}),
		Invert(ftIAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{3}, Activation: ReLU, ContextDim: 2})),
		ftCoupling(t, CouplingConfig{Mask: []bool{false, true, false}, Hidden: []int{3}, Activation: ReLU}),
	)
	randomizeParams(f, 0.5, 1)
	zeroMasked(f)
	if err := f.SetNames([]string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetContextNames([]string{"u", "v"}); err != nil {
		t.Fatal(err)
	}
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnmarshalRejectsContext checks every rule of FORMAT.md §6 on
// contexts: the document's and the layers' context fields, the context
// names, the widths of conditioners and MADEs with a context, and the
// MADE's degrees and masks with a context.
func TestUnmarshalRejectsContext(t *testing.T) {
	doc := ftContextDoc(t)
	if _, err := UnmarshalFlow(doc); err != nil {
		t.Fatalf("valid document: %v", err)
	}
	plain := ftValidDoc(t)
	mdoc, _, _ := mafDoc(t)
	made := func(m map[string]any, i, l int) map[string]any {
		ld := ftLayer(m, i)
		if ld["type"] == "inverse" {
			ld = ld["layer"].(map[string]any)
		}
		return ld["made"].([]any)[l].(map[string]any)
	}
	// The first entry of made[0] of layer 2 with mask 0, and the index of
	// the first context column's mask entry in row 0 (D = 3).
	var mask0 []any
	ftEdit(t, doc, func(m map[string]any) { mask0 = made(m, 2, 0)["mask"].([]any) })
	zero := -1
	for i, v := range mask0 {
		if v.(float64) == 0 {
			zero = i
			break
		}
	}
	if zero < 0 {
		t.Fatal("no masked weight in the first layer of the MADE")
	}
	for _, tc := range []struct {
		name string
		data []byte
		path string // the FormatError's path
		msg  string // part of the message
	}{
		// The document's context and context names.
		{"context-zero", ftEdit(t, doc, func(m map[string]any) { m["context"] = 0 }), "context", "0 is not in [1, 16777216] (a model without a context leaves the field out)"},
		{"context-negative", ftEdit(t, doc, func(m map[string]any) { m["context"] = -2 }), "context", "-2 is not in [1,"},
		{"context-huge", ftEdit(t, doc, func(m map[string]any) { m["context"] = 1 << 40 }), "context", "is not in [1, 16777216]"},
		{"context-type", ftEdit(t, doc, func(m map[string]any) { m["context"] = "2" }), "context", "a JSON string cannot be int"},
		{"context-fraction", bytes.Replace(doc, []byte(`"context": 2,`), []byte(`"context": 2.5,`), 1), "context", "a JSON number 2.5 cannot be int"},
		{"context-unused", ftEdit(t, plain, func(m map[string]any) { m["context"] = 2 }), "context", "2, but no layer conditions on a context"},
		{"context-missing", ftEdit(t, doc, func(m map[string]any) { delete(m, "context"); delete(m, "context_names") }), "layers[0].context", "2, but the document has no context"},
		{"context-names-count", ftEdit(t, doc, func(m map[string]any) { m["context_names"] = []any{"u"} }), "context_names", "1 names for 2 dimensions"},
		{"context-names-twice", ftEdit(t, doc, func(m map[string]any) { m["context_names"] = []any{"u", "u"} }), "context_names", `names 0 and 1 are both "u"`},
		{"context-names-empty", ftEdit(t, doc, func(m map[string]any) { m["context_names"] = []any{"", "v"} }), "context_names", "name 0 is empty"},
		{"context-names-control", ftEdit(t, doc, func(m map[string]any) { m["context_names"] = []any{"u", "v\x00"} }), "context_names", "control character"},
		{"context-names-type", ftEdit(t, doc, func(m map[string]any) { m["context_names"] = []any{"u", 2} }), "context_names[1]", "cannot be string"},
		{"context-names-data", ftEdit(t, doc, func(m map[string]any) { m["context_names"] = []any{"u", "b"} }), "context_names[1]", `"b" is also the name of data column 1 (names[1])`},
		{"context-names-without-context", ftEdit(t, plain, func(m map[string]any) { m["context_names"] = []any{"u"} }), "context_names", "present, but the model has no context"},
		// The layers' context.
		{"layer-context-differs", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["context"] = 3 }), "layers[0].context", "3, the document's context is 2"},
		{"layer-context-zero", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 2)["context"] = 0 }), "layers[2].context", "0: a layer without a context leaves the field out"},
		{"layer-context-in-plain", ftEdit(t, plain, func(m map[string]any) { ftLayer(m, 0)["context"] = 1 }), "layers[0].context", "1, but the document has no context"},
		{"layer-context-inner", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 3)["layer"].(map[string]any)["context"] = 1 }), "layers[3].layer.context", "1, the document's context is 2"},
		{"context-on-permutation", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 1)["context"] = 2 }), "layers[1].context", `not a field of a "permutation" layer`},
		{"context-on-inverse", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 3)["context"] = 2 }), "layers[3].context", `not a field of a "inverse" layer`},
		{"context-on-standardize", ftEdit(t, doc, func(m map[string]any) {
			m["layers"] = append(m["layers"].([]any), map[string]any{"type": "standardize", "dim": 3, "context": 2, "shift": []any{0, 0, 0}, "scale": []any{1, 1, 1}})
		}), "layers[5].context", `not a field of a "standardize" layer`},
		{"context-on-dense", ftEdit(t, doc, func(m map[string]any) {
			ftLayer(m, 0)["conditioner"].([]any)[0].(map[string]any)["context"] = 2
		}), "", `unknown field "context"`},
		{"context-type-layer", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["context"] = []any{2} }), "layers[0].context[0]", "a JSON array cannot be int"},
		// A coupling's conditioner with a context: |A| + C inputs.
		{"coupling-in-without-context", ftEdit(t, doc, func(m map[string]any) {
			ftLayer(m, 0)["conditioner"].([]any)[0].(map[string]any)["in"] = 2
		}), "layers[0].conditioner[0].in", "2, want |A| + C = 2 + 2 = 4"},
		{"coupling-weights-without-context", ftEdit(t, doc, func(m map[string]any) {
			c := ftLayer(m, 0)["conditioner"].([]any)[0].(map[string]any)
			c["weights"] = c["weights"].([]any)[:8]
		}), "layers[0].conditioner[0].weights", "8 values, want 4×4=16"},
		{"coupling-context-dropped", ftEdit(t, doc, func(m map[string]any) { delete(ftLayer(m, 0), "context") }), "layers[0].conditioner[0].in", "4, want 2"},
		// A MADE with a context: D + C inputs, degrees in [0, D−1],
		// hidden widths ≥ D, context mask columns all 1.
		{"made-in-without-context", ftEdit(t, doc, func(m map[string]any) { made(m, 2, 0)["in"] = 3 }), "layers[2].made[0].in", "3, want D + C = 3 + 2 = 5"},
		{"made-mask-shape", ftEdit(t, doc, func(m map[string]any) { made(m, 2, 0)["mask"] = made(m, 2, 0)["mask"].([]any)[:12] }), "layers[2].made[0].mask", "12 values, want 4×5=20"},
		{"made-context-dropped", ftEdit(t, doc, func(m map[string]any) { delete(ftLayer(m, 2), "context") }), "layers[2].degrees[0][0]", "0 is outside [1, 2]"},
		{"made-degree-range", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 2)["degrees"].([]any)[0].([]any)[3] = 3 }), "layers[2].degrees[0][3]", "3 is outside [0, 2]"},
		{"made-degree-negative", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 2)["degrees"].([]any)[1].([]any)[0] = -1 }), "layers[2].degrees[1][0]", "-1 is outside [0, 2]"},
		{"made-hidden-narrow", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 2)["hidden"] = []any{4, 2} }), "layers[2].hidden[1]", "width 2 is less than D = 3: with a context the hidden degrees run 0, …, D−1"},
		{"made-context-mask", ftEdit(t, doc, func(m map[string]any) { made(m, 2, 0)["mask"].([]any)[3] = 0 }), "layers[2].made[0].mask[3]", "0 at row 0, column 3 (context input 0), want 1: every unit of the first layer sees the whole context"},
		{"made-context-mask-inner", ftEdit(t, doc, func(m map[string]any) { made(m, 3, 0)["mask"].([]any)[9] = 0 }), "layers[3].layer.made[0].mask[9]", "(context input 1), want 1"},
		{"made-masked-weight", ftEdit(t, doc, func(m map[string]any) { made(m, 2, 0)["weights"].([]any)[zero] = 0.25 }),
			"layers[2].made[0].weights[" + strconv.Itoa(zero) + "]", "0.25 where the mask is 0, want 0"},
		{"made-mask-degree", ftEdit(t, doc, func(m map[string]any) { made(m, 2, 0)["mask"].([]any)[zero] = 1 }),
			"layers[2].made[0].mask[" + strconv.Itoa(zero) + "]", "inconsistent with the degrees"},
		// A MADE without a context keeps its rules: no degree 0.
		{"made-degree-zero-without-context", ftEdit(t, mdoc, func(m map[string]any) { ftLayer(m, 0)["degrees"].([]any)[0].([]any)[0] = 0 }), "layers[0].degrees[0][0]", "0 is outside [1, 2]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFormatError(t, tc.name, tc.data, tc.path, tc.msg)
		})
	}
}

// TestFormatContextSizeLimits checks that the size limits count the
// context's columns of a conditioner's and a MADE's first layer.
func TestFormatContextSizeLimits(t *testing.T) {
	doc := ftContextDoc(t)
	// Layer i alone, with a context of 2^24 columns and narrow hidden
	// layers: the first dense layer alone is too large.
	huge := func(i int) []byte {
		return ftEdit(t, doc, func(m map[string]any) {
			m["context"] = 1 << 24
			delete(m, "context_names")
			l := ftLayer(m, i)
			l["context"] = 1 << 24
			l["hidden"] = []any{1 << 5}
			delete(l, "degrees")
			m["layers"] = []any{l}
		})
	}
	wantFormatError(t, "huge coupling context", huge(0), "layers[0].hidden", "would need")
	wantFormatError(t, "huge MADE context", huge(2), "layers[0].hidden", "would need")
}

// TestFormatContextFile checks that a conditional document that another
// writer lays out differently (fields in another order, on other lines)
// reads, and that MarshalFlow writes the document's context fields where
// FORMAT.md §2 lists them: after dim, and context_names after names.
func TestFormatContextFile(t *testing.T) {
	doc := ftContextDoc(t)
	s := string(doc)
	order := []string{`"dim"`, `"context"`, `"names"`, `"context_names"`, `"base"`, `"layers"`}
	last := -1
	for _, k := range order {
		i := strings.Index(s, k)
		if i <= last {
			t.Errorf("MarshalFlow writes %s at byte %d, not after the fields before it in %v", k, i, order)
		}
		last = i
	}
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	compact, err := json.Marshal(m) // keys sorted: another order
	if err != nil {
		t.Fatal(err)
	}
	f, err := UnmarshalFlow(compact)
	if err != nil {
		t.Fatal(err)
	}
	g, err := UnmarshalFlow(doc)
	if err != nil {
		t.Fatal(err)
	}
	x := mat.NewDense(5, 3, randomRows(5, 3, 1))
	c := mat.NewDense(5, 2, randomRows(5, 2, 2))
	wantBits(t, "log p(x | c)", g.LogProbGiven(nil, x, c), f.LogProbGiven(nil, x, c))
}
