// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func ftMAF(t testing.TB, cfg AutoregressiveConfig) *MAF {
	t.Helper()
	l, err := NewMAF(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func ftIAF(t testing.TB, cfg AutoregressiveConfig) *IAF {
	t.Helper()
	l, err := NewIAF(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// arFormatCases covers MAF and IAF with every order kind, both degree
// assignments, each activation, clamps, no hidden layer and D = 1.
func arFormatCases() []formatCase {
	return []formatCase{
		{"maf-natural-relu", func(t *testing.T) *Flow {
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{5, 4}, Activation: ReLU}))
		}},
		{"maf-reversed-tanh-clamp", func(t *testing.T) *Flow {
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 4, Hidden: []int{6}, Activation: Tanh, Order: ReversedOrder, Clamp: 2}))
		}},
		{"maf-random-order-random-degrees", func(t *testing.T) *Flow {
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 5, Hidden: []int{9, 7}, Activation: Tanh, Order: RandomOrder, Degrees: RandomDegrees, Seed: 4}))
		}},
		{"maf-explicit", func(t *testing.T) *Flow {
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 4, Hidden: []int{3}, Activation: ReLU, Order: ExplicitOrder, Perm: []int{2, 0, 3, 1}}))
		}},
		{"maf-no-hidden", func(t *testing.T) *Flow {
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 3, Activation: Tanh, Order: ReversedOrder}))
		}},
		{"maf-dim1", func(t *testing.T) *Flow {
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 1, Hidden: []int{2}, Activation: Tanh}))
		}},
		{"iaf-natural-tanh", func(t *testing.T) *Flow {
			return ftFlow(t, ftIAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4, 4}, Activation: Tanh, Clamp: 1}))
		}},
		{"iaf-random-degrees-relu", func(t *testing.T) *Flow {
			return ftFlow(t, ftIAF(t, AutoregressiveConfig{Dim: 4, Hidden: []int{8}, Activation: ReLU, Order: RandomOrder, Degrees: RandomDegrees, Seed: 9}))
		}},
		{"inverse-maf", func(t *testing.T) *Flow {
			return ftFlow(t, Invert(ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: Tanh, Clamp: 3})))
		}},
		{"maf-rqspline", func(t *testing.T) *Flow {
			s := RQSpline{Bins: 4, Bound: 1.5, MinWidth: 1e-3, MinHeight: 2e-3, MinDerivative: 1e-2}
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{5, 4}, Activation: ReLU, Spline: &s}))
		}},
		{"maf-rqspline-random-degrees", func(t *testing.T) *Flow {
			s := RQSpline{Bins: 3, Bound: 2, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 4, Hidden: []int{7}, Activation: Tanh, Order: RandomOrder, Degrees: RandomDegrees, Seed: 5, Spline: &s}))
		}},
		{"maf-residual", func(t *testing.T) *Flow {
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{5}, ResidualBlocks: 2, Activation: ReLU, Order: RandomOrder, Degrees: RandomDegrees, Seed: 2}))
		}},
		{"iaf-residual-clamp", func(t *testing.T) *Flow {
			return ftFlow(t, ftIAF(t, AutoregressiveConfig{Dim: 4, Hidden: []int{4}, ResidualBlocks: 1, Activation: Tanh, Order: ReversedOrder, Clamp: 2}))
		}},
		{"maf-rqspline-residual", func(t *testing.T) *Flow {
			s := RQSpline{Bins: 3, Bound: 2, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{6}, ResidualBlocks: 2, Activation: Tanh, Degrees: RandomDegrees, Seed: 6, Spline: &s}))
		}},
		{"maf-rqspline-one-bin-dim1", func(t *testing.T) *Flow {
			s := RQSpline{Bins: 1, Bound: 0.75, MinWidth: 0.5, MinHeight: 0.25, MinDerivative: 0.125}
			return ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 1, Hidden: []int{2}, Activation: Tanh, Spline: &s}))
		}},
		{"iaf-rqspline", func(t *testing.T) *Flow {
			s := RQSpline{Bins: 5, Bound: 3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
			return ftFlow(t, ftIAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4, 4}, Activation: Tanh, Order: ReversedOrder, Spline: &s}))
		}},
		{"iaf-rqspline-no-hidden", func(t *testing.T) *Flow {
			s := RQSpline{Bins: 2, Bound: 1, MinWidth: 1e-2, MinHeight: 1e-2, MinDerivative: 1e-2}
			return ftFlow(t, ftIAF(t, AutoregressiveConfig{Dim: 3, Activation: ReLU, Spline: &s}))
		}},
		{"mixed-rqspline-autoregressive", func(t *testing.T) *Flow {
			s := RQSpline{Bins: 3, Bound: 2.5, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
			return ftFlow(t,
				ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{6}, Activation: Tanh, Spline: &s}),
				ftPerm(t, []int{2, 0, 1}),
				ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: ReLU, Clamp: 2}),
				Invert(ftIAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{5}, Activation: ReLU, Order: ReversedOrder, Spline: &s})),
			)
		}},
		{"mixed-autoregressive", func(t *testing.T) *Flow {
			return ftFlow(t,
				ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{6}, Activation: Tanh}),
				ftPerm(t, []int{2, 0, 1}),
				ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{4}, Activation: ReLU, Func: Affine{Clamp: 2}}),
				ftIAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{5}, Activation: ReLU, Order: ReversedOrder, Degrees: RandomDegrees, Seed: 2}),
				ftStd(t, []float64{-1, 0, 1}, []float64{2, 3, 0.5}),
			)
		}},
	}
}

// mafDoc returns the document of a MAF layer of D = 3 with hidden widths
// 4 and 3, and its log-probs at a few points.
func mafDoc(t *testing.T) ([]byte, *mat.Dense, []float64) {
	t.Helper()
	f := ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4, 3}, Activation: Tanh, Order: ExplicitOrder, Perm: []int{1, 2, 0}, Degrees: RandomDegrees, Seed: 3}))
	randomizeParams(f, 0.5, 8)
	// randomizeParams also fills masked weights; marshalling drops them.
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := UnmarshalFlow(b)
	if err != nil {
		t.Fatal(err)
	}
	x := mat.NewDense(6, 3, randomRows(6, 3, 1))
	return b, x, g.LogProb(nil, x)
}

func TestUnmarshalRejectsMADE(t *testing.T) {
	doc, _, _ := mafDoc(t)
	made := func(m map[string]any, l int) map[string]any {
		return ftLayer(m, 0)["made"].([]any)[l].(map[string]any)
	}
	// The first masked and unmasked entries of the first weight layer.
	var m0 map[string]any
	ftEdit(t, doc, func(m map[string]any) { m0 = made(m, 0) })
	zero, one := -1, -1
	for i, v := range m0["mask"].([]any) {
		if v.(float64) == 0 && zero < 0 {
			zero = i
		}
		if v.(float64) == 1 && one < 0 {
			one = i
		}
	}
	for _, tc := range []struct {
		name string
		data []byte
		path string
		msg  string
	}{
		{"mask-flipped", ftEdit(t, doc, func(m map[string]any) { made(m, 0)["mask"].([]any)[zero] = 1 }),
			"layers[0].made[0].mask[" + strconv.Itoa(zero) + "]", "inconsistent with the degrees"},
		{"mask-cleared", ftEdit(t, doc, func(m map[string]any) { made(m, 0)["mask"].([]any)[one] = 0 }),
			"layers[0].made[0].mask[" + strconv.Itoa(one) + "]", "inconsistent with the degrees"},
		{"mask-value", ftEdit(t, doc, func(m map[string]any) { made(m, 1)["mask"].([]any)[0] = 2 }),
			"layers[0].made[1].mask[0]", "2, want 0 or 1"},
		{"masked-weight", ftEdit(t, doc, func(m map[string]any) { made(m, 0)["weights"].([]any)[zero] = 0.5 }),
			"layers[0].made[0].weights[" + strconv.Itoa(zero) + "]", "0.5 where the mask is 0"},
		{"degree-range", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["degrees"].([]any)[1].([]any)[2] = 3 }),
			"layers[0].degrees[1][2]", "3 is outside [1, 2]"},
		{"degree-changed", ftEdit(t, doc, func(m map[string]any) {
			deg := ftLayer(m, 0)["degrees"].([]any)[0].([]any)
			deg[0] = 3 - deg[0].(float64)
		}), "layers[0].made[", "inconsistent with the degrees"},
		{"degrees-count", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["degrees"] = []any{[]any{1, 2, 1, 2}} }),
			"layers[0].degrees", "1 lists, want one per hidden layer, 2"},
		{"order-not-permutation", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["order"] = []any{1, 1, 0} }),
			"layers[0].order[1]", "1 appears twice"},
		{"hidden-too-narrow", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["hidden"] = []any{4, 1} }),
			"layers[0].hidden[1]", "less than D−1 = 2"},
		{"made-shape", ftEdit(t, doc, func(m map[string]any) { made(m, 2)["weights"] = []any{1.0} }),
			"layers[0].made[2].weights", "1 values, want 6×3=18"},
		{"mask-shape", ftEdit(t, doc, func(m map[string]any) { made(m, 2)["mask"] = []any{1} }),
			"layers[0].made[2].mask", "1 values, want 6×3=18"},
		{"stray-mask", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["mask"] = []any{1, 0, 1} }),
			"layers[0].mask", `not a field of a "maf" layer`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := UnmarshalFlow(tc.data)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			if !strings.HasPrefix(fe.Path, tc.path) || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("got path %q message %q\nwant path %q message containing %q", fe.Path, fe.Msg, tc.path, tc.msg)
			}
		})
	}
}

// TestUnmarshalUnsortedMADE reads a MADE whose hidden units are not sorted
// by degree, as another implementation may write it: the units are sorted
// on reading, which changes nothing but the summation order.
func TestUnmarshalUnsortedMADE(t *testing.T) {
	doc, x, want := mafDoc(t)
	shuffled := ftEdit(t, doc, func(m map[string]any) {
		l := ftLayer(m, 0)
		deg := l["degrees"].([]any)[0].([]any)
		in := l["made"].([]any)[0].(map[string]any)
		next := l["made"].([]any)[1].(map[string]any)
		// Reverse the units of the first hidden layer: its degrees, the
		// rows of the first weight layer and the columns of the second.
		h := len(deg)
		rev := func(v []any, rows, cols int, byRow bool) []any {
			out := make([]any, len(v))
			for r := 0; r < rows; r++ {
				for c := 0; c < cols; c++ {
					if byRow {
						out[r*cols+c] = v[(rows-1-r)*cols+c]
					} else {
						out[r*cols+c] = v[r*cols+cols-1-c]
					}
				}
			}
			return out
		}
		l["degrees"].([]any)[0] = rev(deg, 1, h, false)
		for _, k := range []string{"weights", "mask"} {
			in[k] = rev(in[k].([]any), h, 3, true)
			next[k] = rev(next[k].([]any), 3, h, false)
		}
		in["biases"] = rev(in["biases"].([]any), 1, h, false)
	})
	f, err := UnmarshalFlow(shuffled)
	if err != nil {
		t.Fatal(err)
	}
	got := f.LogProb(nil, x)
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-13*math.Abs(want[i]) {
			t.Errorf("row %d: log p %v, want %v", i, got[i], want[i])
		}
	}
}

// zeroMasked sets the masked weights of every MADE of f to zero, as a
// model file holds them (randomizeParams fills them too).
func zeroMasked(f *Flow) {
	var visit func(l Layer)
	visit = func(l Layer) {
		var m *MADE
		switch l := l.(type) {
		case *MAF:
			m = l.made
		case *IAF:
			m = l.made
		case *Inverted:
			visit(l.L)
			return
		default:
			return
		}
		for k := 0; k < m.NumLayers(); k++ {
			if err := m.SetLayer(k, m.Weights(k), m.Biases(k)); err != nil {
				panic(err)
			}
		}
	}
	for _, l := range f.Layers() {
		visit(l)
	}
}

// ftARSplineDoc returns a small valid document with autoregressive spline
// layers: layers[0] a MAF with an rqspline transform (D = 3, K = 3, B = 2,
// hidden 4, reversed order), layers[1] an affine MAF, layers[2] an IAF with
// an rqspline transform (K = 2, natural order) and layers[3] a permutation.
func ftARSplineDoc(t *testing.T) []byte {
	t.Helper()
	s3 := RQSpline{Bins: 3, Bound: 2, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	s2 := RQSpline{Bins: 2, Bound: 1, MinWidth: 1e-2, MinHeight: 1e-2, MinDerivative: 1e-2}
	f := ftFlow(t,
		ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: Tanh, Order: ReversedOrder, Spline: &s3}),
		ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: ReLU, Clamp: 2}),
		ftIAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{5}, Activation: ReLU, Spline: &s2}),
		ftPerm(t, []int{2, 1, 0}),
	)
	randomizeParams(f, 0.5, 1)
	zeroMasked(f)
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFormatARSplineLayout checks FORMAT.md §3.3's export layout of a
// spline layer's MADE: the output layer has (3K−1)·D rows, row i·(3K−1)+k
// being spline parameter k of dimension i, so its mask row sees exactly the
// dimensions before i in the order; the spline's constants are written and
// the clamp is not.
func TestFormatARSplineLayout(t *testing.T) {
	doc := ftARSplineDoc(t)
	var d modelDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		layer int
		typ   string
		bins  int
		order []int
	}{
		{0, "maf", 3, []int{2, 1, 0}},
		{2, "iaf", 2, []int{0, 1, 2}},
	} {
		ld := d.Layers[tc.layer]
		if ld.Type != tc.typ || ld.Transform != "rqspline" || ld.Clamp != nil || ld.Bins == nil || *ld.Bins != tc.bins {
			t.Fatalf("layers[%d]: type %q transform %q clamp %v bins %v, want %q \"rqspline\" no clamp and %d bins",
				tc.layer, ld.Type, ld.Transform, ld.Clamp, ld.Bins, tc.typ, tc.bins)
		}
		P := 3*tc.bins - 1
		pos := make([]int, 3)
		for p, i := range tc.order {
			pos[i] = p
		}
		last := ld.MADE[len(ld.MADE)-1]
		if last.Out != P*3 {
			t.Fatalf("layers[%d]: output layer out = %d, want (3K−1)·D = %d", tc.layer, last.Out, P*3)
		}
		// A hidden unit of degree m sees the dimensions at positions < m;
		// output row r (dimension r/P) may see it iff m ≤ pos[r/P].
		deg := ld.Degrees[len(ld.Degrees)-1]
		for r := 0; r < last.Out; r++ {
			for c, m := range deg {
				want := 0
				if m <= pos[r/P] {
					want = 1
				}
				if got := last.Mask[r*last.In+c]; got != want {
					t.Errorf("layers[%d]: output mask row %d (parameter %d of dimension %d), column %d (degree %d): %d, want %d",
						tc.layer, r, r%P, r/P, c, m, got, want)
				}
			}
		}
	}
	if d.Layers[1].Transform != "" || d.Layers[1].Bins != nil || d.Layers[1].Clamp == nil {
		t.Errorf("affine layers[1]: transform %q bins %v clamp %v, want no transform, no bins and a clamp", d.Layers[1].Transform, d.Layers[1].Bins, d.Layers[1].Clamp)
	}
}

// TestUnmarshalRejectsARSpline checks FORMAT.md §3.3 and §6 for maf and
// iaf layers with an rqspline transform: the transform's name, the spline's
// constants required with it and refused without it, no clamp, and the
// MADE's output width (3K−1)·D, each error naming its field.
func TestUnmarshalRejectsARSpline(t *testing.T) {
	doc := ftARSplineDoc(t)
	f, err := UnmarshalFlow(doc)
	if err != nil {
		t.Fatalf("valid document: %v", err)
	}
	want := RQSpline{Bins: 3, Bound: 2, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	if got := f.Layers()[0].(*MAF).Spline(); got == nil || *got != want {
		t.Fatalf("read %v, want %#v", got, want)
	}
	if got := f.Layers()[1].(*MAF).Spline(); got != nil {
		t.Fatalf("affine layer read with spline %#v", *got)
	}
	set := func(i int, field string, v any) []byte {
		return ftEdit(t, doc, func(m map[string]any) { ftLayer(m, i)[field] = v })
	}
	type rejectCase struct {
		name string
		data []byte
		path string
		msg  string
	}
	cases := []rejectCase{
		{"transform-kind", set(0, "transform", "rq-spline"), "layers[0].transform", `"rq-spline", want "rqspline" (or no field: affine)`},
		{"transform-affine", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 1)["transform"] = "affine" }), "layers[1].transform", `"affine": an affine layer leaves the field out`},
		{"transform-number", set(0, "transform", 1), "layers[0].transform", "cannot be string"},
		{"clamp-on-maf-spline", set(0, "clamp", 0), "layers[0].clamp", `not a field of a "maf" layer with an rqspline transform`},
		{"clamp-on-iaf-spline", set(2, "clamp", 1), "layers[2].clamp", `not a field of an "iaf" layer with an rqspline transform`},
		{"transform-on-affine-with-clamp", set(1, "transform", "rqspline"), "layers[1].clamp", `not a field of a "maf" layer with an rqspline transform`},
		{"transform-on-affine", ftEdit(t, doc, func(m map[string]any) {
			l := ftLayer(m, 1)
			l["transform"] = "rqspline"
			delete(l, "clamp")
		}), "layers[1].bins", `missing: a "maf" layer with "transform": "rqspline" needs bins`},
		{"bins-0", set(0, "bins", 0), "layers[0].bins", "0 is not in [1, 65536]"},
		{"bins-huge", set(2, "bins", 1<<16+1), "layers[2].bins", "65537 is not in [1, 65536]"},
		{"bins-fraction", set(0, "bins", 2.5), "layers[0].bins", "cannot be int"},
		{"bins-other", set(0, "bins", 4), "layers[0].made[1].out", "24, want 33"},
		{"bins-fewer", set(2, "bins", 1), "layers[2].made[1].out", "15, want 6"},
		{"bound-negative", set(0, "bound", -2), "layers[0].bound", "-2 is not in [1e-100, 1e+100]"},
		{"bound-huge", set(2, "bound", 1e101), "layers[2].bound", "1e+101 is not in [1e-100, 1e+100]"},
		{"min_width-too-wide", set(0, "min_width", 1.0/3), "layers[0].min_width", "want it in [1e-06, 1/bins) = [1e-06, 1/3)"},
		{"min_height-0", set(2, "min_height", 0), "layers[2].min_height", "0, want it in [1e-06, 1/bins) = [1e-06, 1/2)"},
		{"min_derivative-1", set(0, "min_derivative", 1), "layers[0].min_derivative", "1, want it in [1e-09, 1)"},
		{"transform-on-permutation", set(3, "transform", "rqspline"), "layers[3].transform", `not a field of a "permutation" layer`},
		{"output-row-affine-layout", ftEdit(t, doc, func(m map[string]any) {
			// Row 1 is parameter 1 of dimension 0, the last in the
			// reversed order: it sees every hidden unit. In the affine
			// layout it would be dimension 1's, which sees fewer.
			out := ftLayer(m, 0)["made"].([]any)[1].(map[string]any)
			mask, w := out["mask"].([]any), out["weights"].([]any)
			for c := 0; c < 4; c++ {
				mask[4+c], w[4+c] = mask[4*8+c], w[4*8+c]
			}
		}), "layers[0].made[1].mask[6]", "0 at row 1, column 2 is inconsistent with the degrees: want 1 iff degree 3 > degree 2"},
	}
	for _, field := range splineFields {
		var v any = 0.01
		if field == "bins" {
			v = 3 // an integer, so that JSON decodes it
		}
		cases = append(cases,
			rejectCase{"missing-" + field, ftEdit(t, doc, func(m map[string]any) { delete(ftLayer(m, 0), field) }), "layers[0]." + field,
				`missing: a "maf" layer with "transform": "rqspline" needs bins, bound, min_width, min_height and min_derivative`},
			rejectCase{"iaf-missing-" + field, ftEdit(t, doc, func(m map[string]any) { delete(ftLayer(m, 2), field) }), "layers[2]." + field,
				`missing: an "iaf" layer with "transform": "rqspline" needs`},
			rejectCase{field + "-on-affine-maf", set(1, field, v), "layers[1]." + field,
				`not a field of an affine "maf" layer: only a "maf" layer with "transform": "rqspline" has it`},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantFormatError(t, tc.name, tc.data, tc.path, tc.msg)
		})
	}
}
