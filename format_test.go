// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gonum.org/v1/gonum/mat"
)

// formatCase is a flow built to exercise one layer type or option.
type formatCase struct {
	name  string
	build func(t *testing.T) *Flow
}

func ftFlow(t testing.TB, layers ...Layer) *Flow {
	t.Helper()
	f, err := New(layers...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func ftCoupling(t testing.TB, cfg CouplingConfig) *Coupling {
	t.Helper()
	c, err := NewCoupling(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ftPerm(t testing.TB, p []int) *Permutation {
	t.Helper()
	l, err := NewPermutation(p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func ftStd(t testing.TB, shift, scale []float64) *Standardize {
	t.Helper()
	s, err := NewStandardize(shift, scale)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// couplingFormatCases covers every coupling option, permutations,
// standardisation and inversion.
func couplingFormatCases() []formatCase {
	return []formatCase{
		{"affine-relu", func(t *testing.T) *Flow {
			return ftFlow(t, ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{5, 4}, Activation: ReLU}))
		}},
		{"affine-tanh-clamp", func(t *testing.T) *Flow {
			return ftFlow(t, ftCoupling(t, CouplingConfig{Mask: []bool{false, true, true, false}, Hidden: []int{6}, Activation: Tanh, Func: Affine{Clamp: 1.5}}))
		}},
		{"affine-no-hidden", func(t *testing.T) *Flow {
			return ftFlow(t, ftCoupling(t, CouplingConfig{Mask: []bool{true, false}, Func: Affine{}}))
		}},
		{"additive", func(t *testing.T) *Flow {
			return ftFlow(t, ftCoupling(t, CouplingConfig{Mask: []bool{false, true, false}, Hidden: []int{4}, Activation: Tanh, Func: Additive{}}))
		}},
		{"rqspline-relu", func(t *testing.T) *Flow {
			// Distinct minimums, so that a swap of two shows.
			s := RQSpline{Bins: 4, Bound: 1.5, MinWidth: 1e-3, MinHeight: 2e-3, MinDerivative: 1e-2}
			return ftFlow(t, ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true, false}, Hidden: []int{5}, Activation: ReLU, Func: s}))
		}},
		{"rqspline-one-bin", func(t *testing.T) *Flow {
			s := RQSpline{Bins: 1, Bound: 0.75, MinWidth: 0.5, MinHeight: 0.25, MinDerivative: 0.125}
			return ftFlow(t, ftCoupling(t, CouplingConfig{Mask: []bool{false, true}, Activation: Tanh, Func: s}))
		}},
		{"rqspline-inverse", func(t *testing.T) *Flow {
			s := RQSpline{Bins: 3, Bound: 2, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
			return ftFlow(t,
				ftCoupling(t, CouplingConfig{Mask: []bool{true, false, false}, Hidden: []int{4, 3}, Activation: Tanh, Func: s}),
				ftPerm(t, []int{2, 0, 1}),
				Invert(ftCoupling(t, CouplingConfig{Mask: []bool{false, true, true}, Hidden: []int{3}, Activation: ReLU, Func: s})))
		}},
		{"residual-affine", func(t *testing.T) *Flow {
			return ftFlow(t, ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{5}, Activation: ReLU, ResidualBlocks: 2}))
		}},
		{"residual-rqspline-inverse", func(t *testing.T) *Flow {
			s := RQSpline{Bins: 3, Bound: 2, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
			return ftFlow(t,
				ftCoupling(t, CouplingConfig{Mask: []bool{false, true, true}, Hidden: []int{4}, Activation: Tanh, Func: s, ResidualBlocks: 1}),
				Invert(ftCoupling(t, CouplingConfig{Mask: []bool{true, false, false}, Hidden: []int{3}, Activation: ReLU, Func: Additive{}, ResidualBlocks: 3})))
		}},
		{"permutation", func(t *testing.T) *Flow {
			return ftFlow(t, ftPerm(t, []int{2, 0, 3, 1}))
		}},
		{"standardize", func(t *testing.T) *Flow {
			return ftFlow(t, ftStd(t, []float64{0.25, -3}, []float64{2, 0.1}))
		}},
		{"inverse", func(t *testing.T) *Flow {
			return ftFlow(t, Invert(ftCoupling(t, CouplingConfig{Mask: []bool{true, false, false}, Hidden: []int{3}, Activation: Tanh, Func: Affine{Clamp: 2}})))
		}},
		{"realnvp", func(t *testing.T) *Flow {
			f, err := NewRealNVP(RealNVPConfig{Dim: 3, Layers: 4, Hidden: []int{8, 8}, Activation: Tanh, Clamp: 3, EvenOdd: true})
			if err != nil {
				t.Fatal(err)
			}
			return f
		}},
		{"mixed", func(t *testing.T) *Flow {
			return ftFlow(t,
				ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{4}, Activation: ReLU}),
				ftPerm(t, []int{1, 2, 0}),
				ftCoupling(t, CouplingConfig{Mask: []bool{false, true, false}, Hidden: []int{3, 3}, Activation: Tanh, Func: Additive{}}),
				Invert(ftCoupling(t, CouplingConfig{Mask: []bool{false, false, true}, Activation: Tanh, Func: Affine{Clamp: 0.5}})),
				ftStd(t, []float64{1, 2, 3}, []float64{0.5, 1, 4}),
			)
		}},
	}
}

// formatCases lists every layer type and option.
func formatCases() []formatCase {
	return append(append(couplingFormatCases(), arFormatCases()...), linearFormatCases()...)
}

// flowCmpOpts compare the layers of two flows field by field.
var flowCmpOpts = cmp.Options{
	cmp.Exporter(func(reflect.Type) bool { return true }),
	cmpopts.IgnoreTypes(atomic.Int64{}),
}

func TestFormatRoundTrip(t *testing.T) {
	for _, tc := range formatCases() {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.build(t)
			// Every parameter non-zero and irregular, so that any lost bit
			// shows.
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
			// The documents and the layers are the same.
			b2, err := MarshalFlow(g)
			if err != nil {
				t.Fatal(err)
			}
			var d1, d2 modelDoc
			if err := json.Unmarshal(b, &d1); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b2, &d2); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(d1, d2); diff != "" {
				t.Errorf("documents differ (-first +second):\n%s", diff)
			}
			if !bytes.Equal(b, b2) {
				t.Error("the second marshalling differs from the first")
			}
			if diff := cmp.Diff(f.Layers(), g.Layers(), flowCmpOpts); diff != "" {
				t.Errorf("decoded layers differ (-want +got):\n%s", diff)
			}
			if !cmp.Equal(f.Params(), g.Params()) {
				t.Error("parameters differ")
			}
			// Log-probs and samples are bit-identical.
			d := f.Dim()
			x := mat.NewDense(37, d, randomRows(37, d, 5))
			lp1, lp2 := f.LogProb(nil, x), g.LogProb(nil, x)
			for i := range lp1 {
				if math.Float64bits(lp1[i]) != math.Float64bits(lp2[i]) {
					t.Fatalf("row %d: log p %v, decoded %v", i, lp1[i], lp2[i])
				}
			}
			s1, s2 := mat.NewDense(29, d, nil), mat.NewDense(29, d, nil)
			q1, q2 := make([]float64, 29), make([]float64, 29)
			f.Sample(s1, q1, rand.New(rand.NewPCG(7, 7)))
			g.Sample(s2, q2, rand.New(rand.NewPCG(7, 7)))
			for i, v := range s1.RawMatrix().Data {
				if math.Float64bits(v) != math.Float64bits(s2.RawMatrix().Data[i]) {
					t.Fatalf("sample value %d: %v, decoded %v", i, v, s2.RawMatrix().Data[i])
				}
			}
			for i := range q1 {
				if math.Float64bits(q1[i]) != math.Float64bits(q2[i]) {
					t.Fatalf("sample %d: log q %v, decoded %v", i, q1[i], q2[i])
				}
			}
		})
	}
}

// TestFormatExactFloats checks the values that are easy to lose in text:
// subnormals, the extremes, −0 and values one ulp apart.
func TestFormatExactFloats(t *testing.T) {
	c := ftCoupling(t, CouplingConfig{Mask: []bool{true, false}, Hidden: []int{3}, Activation: Tanh})
	f := ftFlow(t, c)
	vals := []float64{math.SmallestNonzeroFloat64, math.MaxFloat64, -math.MaxFloat64, math.Copysign(0, -1),
		0.1, math.Nextafter(0.1, 1), 1e-300, -2.2250738585072014e-308, 1.0 / 3, math.Pi}
	p := f.Params()
	for i := range p {
		p[i] = vals[i%len(vals)]
	}
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := UnmarshalFlow(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range g.Params() {
		if math.Float64bits(v) != math.Float64bits(p[i]) {
			t.Errorf("parameter %d: %v, want %v", i, v, p[i])
		}
	}
}

func TestMarshalRejects(t *testing.T) {
	c := ftCoupling(t, CouplingConfig{Mask: []bool{true, false}, Hidden: []int{2}})
	f := ftFlow(t, c)
	f.Params()[3] = math.NaN()
	_, err := MarshalFlow(f)
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Path != "layers[0].conditioner[0].biases[1]" {
		t.Errorf("NaN parameter: got %v", err)
	}
	type custom struct{ Affine }
	c2 := ftCoupling(t, CouplingConfig{Mask: []bool{true, false}, Func: custom{}})
	if _, err := MarshalFlow(ftFlow(t, c2)); err == nil || !strings.Contains(err.Error(), "layers[0].coupling") {
		t.Errorf("custom coupling function: got %v", err)
	}
}

// ftValidDoc returns a small valid document to corrupt.
func ftValidDoc(t *testing.T) []byte {
	t.Helper()
	f := ftFlow(t,
		ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{4}, Activation: Tanh, Func: Affine{Clamp: 2}}),
		ftPerm(t, []int{2, 1, 0}),
		ftCoupling(t, CouplingConfig{Mask: []bool{false, true, false}, Hidden: []int{4, 8}, Activation: ReLU}),
	)
	randomizeParams(f, 0.5, 1)
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit decodes doc into generic JSON, lets fn change it and encodes it back.
func ftEdit(t *testing.T, doc []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ftLayer(m map[string]any, i int) map[string]any {
	return m["layers"].([]any)[i].(map[string]any)
}

func TestUnmarshalRejects(t *testing.T) {
	doc := ftValidDoc(t)
	if _, err := UnmarshalFlow(doc); err != nil {
		t.Fatalf("valid document: %v", err)
	}
	w := strings.Index(string(doc), `"weights"`)
	for _, tc := range []struct {
		name string
		data []byte
		path string // the FormatError's path
		msg  string // part of the message
	}{
		{"empty", nil, "", "empty document"},
		{"truncated", doc[:w+40], "layers[0].conditioner[0].weights[1]", "truncated: the document ends after"},
		{"truncated-in-key", doc[:strings.Index(string(doc), `"hidden"`)+5], "layers[0]", "truncated"},
		{"garbage", []byte(`{"format": "nfgo-flow", "version": 1, "dim": 3, "layers": [{]}`), "layers[0]", "corrupt at line 1"},
		{"trailing", append(append([]byte(nil), doc...), []byte("{}")...), "", "data after the end"},
		{"wrong-version", ftEdit(t, doc, func(m map[string]any) { m["version"] = 2 }), "version", "2, this package reads version 1"},
		{"wrong-format", ftEdit(t, doc, func(m map[string]any) { m["format"] = "other" }), "format", `"other"`},
		{"no-base", ftEdit(t, doc, func(m map[string]any) { delete(m, "base") }), "base", "missing"},
		{"no-layers", ftEdit(t, doc, func(m map[string]any) { m["layers"] = []any{} }), "layers", "no layers"},
		{"unknown-field", ftEdit(t, doc, func(m map[string]any) { m["extra"] = 1 }), "", `unknown field "extra"`},
		{"version-string", ftEdit(t, doc, func(m map[string]any) { m["version"] = "1" }), "version", "cannot be int"},
		{"wrong-dim", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 1)["dim"] = 4 }), "layers[1].dim", "4, the flow has dimension 3"},
		{"weights-shape", ftEdit(t, doc, func(m map[string]any) {
			c := ftLayer(m, 2)["conditioner"].([]any)[1].(map[string]any)
			c["weights"] = c["weights"].([]any)[:12]
		}), "layers[2].conditioner[1].weights", "12 values, want 8×4=32"},
		{"biases-shape", ftEdit(t, doc, func(m map[string]any) {
			c := ftLayer(m, 0)["conditioner"].([]any)[0].(map[string]any)
			c["biases"] = []any{1.0}
		}), "layers[0].conditioner[0].biases", "1 values, want 4"},
		{"in-wrong", ftEdit(t, doc, func(m map[string]any) {
			ftLayer(m, 0)["conditioner"].([]any)[1].(map[string]any)["in"] = 3
		}), "layers[0].conditioner[1].in", "3, want 4"},
		{"hidden-inconsistent", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 2)["hidden"] = []any{4} }), "layers[2].conditioner", "3 dense layers, want 2"},
		{"NaN-weight", bytes.Replace(doc, []byte(`"weights": [`), []byte(`"weights": [NaN, `), 1), "layers[0].conditioner[0].weights[0]", "corrupt at line"},
		{"Inf-weight", bytes.Replace(doc, []byte(`"weights": [`), []byte(`"weights": [1e999, `), 1), "layers[0].conditioner[0].weights[0]", "cannot be float64"},
		{"string-weight", bytes.Replace(doc, []byte(`"weights": [`), []byte(`"weights": ["NaN", `), 1), "layers[0].conditioner[0].weights[0]", "a JSON string cannot be float64"},
		{"not-permutation", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 1)["perm"] = []any{2, 0, 2} }), "layers[1].perm[2]", "2 appears twice"},
		{"perm-range", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 1)["perm"] = []any{0, 1, 3} }), "layers[1].perm[2]", "outside [0, 3)"},
		{"perm-length", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 1)["perm"] = []any{0, 1} }), "layers[1].perm", "2 entries, want 3"},
		{"mask-value", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["mask"] = []any{1, 2, 0} }), "layers[0].mask[1]", "2, want 0 or 1"},
		{"mask-all", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["mask"] = []any{1, 1, 1} }), "layers[0].mask", "both halves"},
		{"mask-inconsistent", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["mask"] = []any{1, 0, 0} }), "layers[0].conditioner[0].in", "2, want 1"},
		{"clamp-negative", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["clamp"] = -1 }), "layers[0].clamp", "-1"},
		{"activation", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["activation"] = "sigmoid" }), "layers[0].activation", `"sigmoid" is not an activation`},
		{"coupling-kind", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["coupling"] = "spline" }), "layers[0].coupling", `"spline"`},
		{"layer-type", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 1)["type"] = "glow" }), "layers[1].type", `"glow"`},
		{"stray-field", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 1)["mask"] = []any{1, 0, 1} }), "layers[1].mask", `not a field of a "permutation" layer`},
		{"null-layer", ftEdit(t, doc, func(m map[string]any) { m["layers"].([]any)[1] = nil }), "layers[1]", "null layer"},
		{"huge-dim", ftEdit(t, doc, func(m map[string]any) { m["dim"] = 1 << 40 }), "dim", "not in [1,"},
		{"names-count", ftEdit(t, doc, func(m map[string]any) { m["names"] = []any{"a", "b"} }), "names", "2 names for 3 dimensions"},
		{"names-empty", ftEdit(t, doc, func(m map[string]any) { m["names"] = []any{} }), "names", "0 names for 3 dimensions"},
		{"names-blank", ftEdit(t, doc, func(m map[string]any) { m["names"] = []any{"a", "", "c"} }), "names", "name 1 is empty"},
		{"names-twice", ftEdit(t, doc, func(m map[string]any) { m["names"] = []any{"a", "b", "a"} }), "names", `names 0 and 2 are both "a"`},
		{"names-control", ftEdit(t, doc, func(m map[string]any) { m["names"] = []any{"a", "b\n", "c"} }), "names", "control character"},
		{"names-type", ftEdit(t, doc, func(m map[string]any) { m["names"] = []any{1, 2, 3} }), "names[0]", "cannot be string"},
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

// TestNames checks the column names: kept by SetNames, validated, written
// to the model file only when set, and read back.
func TestNames(t *testing.T) {
	f, err := UnmarshalFlow(ftValidDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	if f.Names() != nil {
		t.Fatalf("names %q before any were set", f.Names())
	}
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`"names"`)) {
		t.Errorf("a flow without names writes a names field")
	}
	for _, bad := range [][]string{{"a", "b"}, {"a", "a", "b"}, {"a", "", "b"}, {"a", "b\tc", "d"}} {
		if err := f.SetNames(bad); err == nil {
			t.Errorf("SetNames(%q) accepted", bad)
		}
	}
	names := []string{"eruptions", "waiting time", "ünïcode"}
	if err := f.SetNames(names); err != nil {
		t.Fatal(err)
	}
	names[0] = "changed" // the flow keeps a copy
	b, err = MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := UnmarshalFlow(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := g.Names(), []string{"eruptions", "waiting time", "ünïcode"}; !cmp.Equal(got, want) {
		t.Errorf("names read back %q, want %q", got, want)
	}
	if err := g.SetNames(nil); err != nil || g.Names() != nil {
		t.Errorf("SetNames(nil): %v, names %q", err, g.Names())
	}
}

func TestStandardizeData(t *testing.T) {
	x := mat.NewDense(4, 2, []float64{1, 5, 3, 5, 5, 5, 7, 5})
	s, err := StandardizeData(x)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(s.Shift(), []float64{4, 5}) || !cmp.Equal(s.Scale(), []float64{math.Sqrt(5), 1}) {
		t.Errorf("shift %v scale %v", s.Shift(), s.Scale())
	}
	x.Set(2, 1, math.NaN())
	if _, err := StandardizeData(x); err == nil {
		t.Error("NaN accepted")
	}
	for _, bad := range [][2][]float64{{{}, {}}, {{1}, {1, 2}}, {{1}, {0}}, {{math.Inf(1)}, {1}}, {{1}, {math.NaN()}}} {
		if _, err := NewStandardize(bad[0], bad[1]); err == nil {
			t.Errorf("NewStandardize(%v, %v) accepted", bad[0], bad[1])
		}
	}
}

// TestStandardizeLayer checks the layer's log-det, round trip and gradients
// inside a flow with a coupling layer.
func TestStandardizeLayer(t *testing.T) {
	c := ftCoupling(t, CouplingConfig{Mask: []bool{true, false}, Hidden: []int{4}, Activation: Tanh, Func: Affine{Clamp: 2}})
	s := ftStd(t, []float64{1, -2}, []float64{3, 0.25})
	f := ftFlow(t, c, s)
	g := ftFlow(t, ftCoupling(t, CouplingConfig{Mask: []bool{true, false}, Hidden: []int{4}, Activation: Tanh, Func: Affine{Clamp: 2}}))
	randomizeParams(f, 0.5, 2)
	g.SetParams(f.Params())
	x := mat.NewDense(9, 2, randomRows(9, 2, 3))
	// log p(x) = log p_g((x − shift)/scale) − Σ log scale.
	u := mat.NewDense(9, 2, nil)
	for i := 0; i < 9; i++ {
		u.Set(i, 0, (x.At(i, 0)-1)/3)
		u.Set(i, 1, (x.At(i, 1)+2)/0.25)
	}
	lf, lg := f.LogProb(nil, x), g.LogProb(nil, u)
	for i := range lf {
		want := lg[i] - math.Log(3) - math.Log(0.25)
		if math.Abs(lf[i]-want) > 1e-12*math.Abs(want) {
			t.Errorf("row %d: log p %v, want %v", i, lf[i], want)
		}
	}
	// Gradients through both directions.
	ml := NewMaxLikelihood(f, 1, 0)
	grad := make([]float64, f.NumParams())
	ml.LossGrad(grad, x)
	checkGrad(t, "standardize/ml", f, func() float64 { return ml.LossGrad(make([]float64, f.NumParams()), x) }, grad)
	kl := NewReverseKL(f, banana, 1, 0)
	z := mat.NewDense(9, 2, randomRows(9, 2, 4))
	kl.LossGrad(grad, z)
	checkGrad(t, "standardize/kl", f, func() float64 { return kl.LossGrad(make([]float64, f.NumParams()), z) }, grad)
	// Round trip.
	var y, back mat.Dense
	f.Forward(&y, z, nil)
	f.Inverse(&back, &y, nil)
	if !mat.EqualApprox(&back, z, 1e-12) {
		t.Error("Inverse(Forward(z)) ≠ z")
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, tc := range append(formatCases(), contextFormatCases()...) {
		t := &testing.T{}
		fl := tc.build(t)
		randomizeParams(fl, 0.5, 1)
		zeroMasked(fl)
		b, err := MarshalFlow(fl)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"format":"nfgo-flow","version":1,"dim":2,"base":{"type":"std_normal"},"layers":[{"type":"inverse","dim":2,"layer":{"type":"permutation","dim":2,"perm":[1,0]}}]}`))
	f.Add([]byte(`{"format":"nfgo-flow","version":1,"dim":2,"base":{"type":"std_normal"},"layers":[{"type":"coupling","dim":2,"mask":[1,0],"coupling":"additive","activation":"relu","conditioner":[{"in":1,"out":1,"weights":[0.5],"biases":[1]}]}]}`))
	f.Add([]byte(`{"format":"nfgo-flow","version":1,"dim":2,"context":1,"context_names":["c"],"base":{"type":"std_normal"},"layers":[{"type":"inverse","dim":2,"layer":{"type":"coupling","dim":2,"context":1,"mask":[0,1],"coupling":"additive","activation":"tanh","conditioner":[{"in":2,"out":1,"weights":[0.5,-1],"biases":[0]}]}},{"type":"maf","dim":2,"context":1,"activation":"relu","order":[1,0],"hidden":[2],"degrees":[[0,1]],"made":[{"in":3,"out":2,"mask":[0,0,1,0,1,1],"weights":[0,0,1,0,2,3],"biases":[0,0]},{"in":2,"out":4,"mask":[1,1,1,0,1,1,1,0],"weights":[1,2,3,0,4,5,6,0],"biases":[0,0,0,0]}]}]}`))
	f.Add([]byte(`{"format":"nfgo-flow","version":1,"dim":2,"base":{"type":"std_normal"},"layers":[{"type":"coupling","dim":2,"mask":[0,1],"coupling":"affine","clamp":0,"activation":"tanh","hidden":[1],"residual_blocks":1,"conditioner":[{"in":1,"out":1,"weights":[0.5],"biases":[1]},{"in":1,"out":1,"weights":[-1],"biases":[0.25]},{"in":1,"out":1,"weights":[2],"biases":[0]},{"in":1,"out":2,"weights":[0.5,-0.5],"biases":[0,1]}]}]}`))
	f.Add([]byte(`{"format":"nfgo-flow","version":1,"dim":2,"base":{"type":"std_normal"},"layers":[{"type":"batch_norm","dim":2,"log_scale":[0.5,-0.25],"shift":[1,0],"mean":[0.5,-2],"variance":[2,0.25],"epsilon":0.00001},{"type":"inverse","dim":2,"layer":{"type":"batch_norm","dim":2,"log_scale":[0,0],"shift":[0,0],"mean":[0,0],"variance":[1,1],"epsilon":0.1}}]}`))
	f.Add([]byte(`{"format":"nfgo-flow","version":1,"dim":1,"base":{"type":"std_normal"},"layers":[{"type":"lu_linear","dim":1,"perm":[0],"signs":[-1],"log_diag":[0.5],"bias":[1]},{"type":"actnorm","dim":1,"log_scale":[-0.25],"shift":[2],"initialized":false}]}`))
	for _, b := range baseFormatDocs(f) {
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := UnmarshalFlow(data)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is %T, not a *FormatError", err, err)
			}
			return
		}
		// A decoded flow evaluates, samples and writes itself back.
		d, nc := fl.Dim(), fl.ContextDim()
		if d > 64 || nc > 64 || fl.NumParams() > 1<<16 {
			return
		}
		x := mat.NewDense(3, d, randomRows(3, d, 1))
		var c mat.Matrix // nil without a context
		if nc > 0 {
			c = mat.NewDense(3, nc, randomRows(3, nc, 2))
		}
		fl.LogProbGiven(nil, x, c)
		fl.SampleGiven(mat.NewDense(3, d, nil), nil, c, rand.New(rand.NewPCG(1, 1)))
		b, err := MarshalFlow(fl)
		if err != nil {
			t.Fatalf("a decoded flow does not marshal: %v", err)
		}
		g, err := UnmarshalFlow(b)
		if err != nil {
			t.Fatalf("a re-marshalled flow does not decode: %v", err)
		}
		if !cmp.Equal(fl.Params(), g.Params()) {
			t.Fatal("parameters changed in a second round trip")
		}
	})
}

// ftSplineDoc returns a small valid document with an rqspline coupling
// (layers[0]: D = 3, mask [1 0 1], K = 3, B = 2, conditioner 2→4→8), a
// permutation (layers[1]) and an affine coupling (layers[2]) to corrupt.
func ftSplineDoc(t *testing.T) []byte {
	t.Helper()
	s := RQSpline{Bins: 3, Bound: 2, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	f := ftFlow(t,
		ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{4}, Activation: Tanh, Func: s}),
		ftPerm(t, []int{2, 1, 0}),
		ftCoupling(t, CouplingConfig{Mask: []bool{false, true, false}, Hidden: []int{4}, Activation: ReLU}),
	)
	randomizeParams(f, 0.5, 1)
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnmarshalRejectsSpline checks FORMAT.md §3.2 and §6 for rqspline
// couplings: the spline's constants are required there, validated as
// RQSpline's, and errors on every other layer, each naming its field.
func TestUnmarshalRejectsSpline(t *testing.T) {
	doc := ftSplineDoc(t)
	f, err := UnmarshalFlow(doc)
	if err != nil {
		t.Fatalf("valid document: %v", err)
	}
	want := RQSpline{Bins: 3, Bound: 2, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	if got := f.Layers()[0].(*Coupling).Func(); got != want {
		t.Fatalf("read %#v, want %#v", got, want)
	}
	for _, field := range []string{"\"bins\": 3", "\"bound\": 2", "\"min_width\": 0.001", "\"min_height\": 0.001", "\"min_derivative\": 0.001"} {
		if !strings.Contains(string(doc), field) {
			t.Errorf("the document has no %s:\n%s", field, doc)
		}
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
		{"bins-0", set(0, "bins", 0), "layers[0].bins", "0 is not in [1, 65536]"},
		{"bins-negative", set(0, "bins", -1), "layers[0].bins", "-1 is not in [1, 65536]"},
		{"bins-huge", set(0, "bins", 1<<16+1), "layers[0].bins", "65537 is not in [1, 65536]"},
		{"bins-fraction", set(0, "bins", 2.5), "layers[0].bins", "cannot be int"},
		{"bins-string", set(0, "bins", "3"), "layers[0].bins", "a JSON string cannot be int"},
		{"bins-other", set(0, "bins", 4), "layers[0].conditioner[1].out", "8, want 11"},
		{"bound-0", set(0, "bound", 0), "layers[0].bound", "0 is not in [1e-100, 1e+100]"},
		{"bound-negative", set(0, "bound", -2), "layers[0].bound", "-2 is not in [1e-100, 1e+100]"},
		{"bound-huge", set(0, "bound", 1.5e100), "layers[0].bound", "1.5e+100 is not in [1e-100, 1e+100]"},
		{"bound-tiny", set(0, "bound", 1e-101), "layers[0].bound", "1e-101 is not in [1e-100, 1e+100]"},
		{"bound-Inf", bytes.Replace(doc, []byte(`"bound": 2`), []byte(`"bound": 1e999`), 1), "layers[0].bound", "cannot be float64"},
		{"min_width-tiny", set(0, "min_width", 9e-7), "layers[0].min_width", "9e-07, want it in [1e-06, 1/bins)"},
		{"min_derivative-tiny", set(0, "min_derivative", 1e-10), "layers[0].min_derivative", "1e-10, want it in [1e-09, 1)"},
		{"min_width-0", set(0, "min_width", 0), "layers[0].min_width", "0, want it in [1e-06, 1/bins) = [1e-06, 1/3)"},
		{"min_width-negative", set(0, "min_width", -1e-3), "layers[0].min_width", "want it in [1e-06, 1/bins)"},
		{"min_width-too-wide", set(0, "min_width", 1.0/3), "layers[0].min_width", "want it in [1e-06, 1/bins) = [1e-06, 1/3)"},
		{"min_height-0", set(0, "min_height", 0), "layers[0].min_height", "0, want it in [1e-06, 1/bins) = [1e-06, 1/3)"},
		{"min_height-too-high", set(0, "min_height", 0.5), "layers[0].min_height", "0.5, want it in [1e-06, 1/bins)"},
		{"min_derivative-0", set(0, "min_derivative", 0), "layers[0].min_derivative", "0, want it in [1e-09, 1)"},
		{"min_derivative-1", set(0, "min_derivative", 1), "layers[0].min_derivative", "1, want it in [1e-09, 1)"},
		{"min_derivative-negative", set(0, "min_derivative", -0.5), "layers[0].min_derivative", "-0.5, want it in [1e-09, 1)"},
		{"clamp-on-rqspline", set(0, "clamp", 0), "layers[0].clamp", "not a field of an rqspline coupling"},
		{"coupling-kind", set(0, "coupling", "rq-spline"), "layers[0].coupling", `"rq-spline", want "affine", "additive" or "rqspline"`},
		{"rqspline-on-affine", set(2, "coupling", "rqspline"), "layers[2].clamp", "not a field of an rqspline coupling"},
		{"bound-on-permutation", set(1, "bound", 2), "layers[1].bound", `not a field of a "permutation" layer`},
		{"min_width-on-permutation", set(1, "min_width", 0.01), "layers[1].min_width", `not a field of a "permutation" layer`},
	}
	for _, field := range splineFields {
		var v any = 0.01
		if field == "bins" {
			v = 3 // an integer, so that JSON decodes it
		}
		cases = append(cases,
			rejectCase{"missing-" + field, ftEdit(t, doc, func(m map[string]any) { delete(ftLayer(m, 0), field) }), "layers[0]." + field, "missing: an \"rqspline\" coupling needs bins, bound, min_width, min_height and min_derivative"},
			rejectCase{field + "-on-affine", set(2, field, v), "layers[2]." + field, `not a field of an "affine" coupling: only an "rqspline" coupling has it`},
			rejectCase{field + "-on-additive", ftEdit(t, doc, func(m map[string]any) {
				l := ftLayer(m, 2)
				l["coupling"] = "additive"
				delete(l, "clamp")
				l[field] = v
			}), "layers[2]." + field, `not a field of an "additive" coupling`},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantFormatError(t, tc.name, tc.data, tc.path, tc.msg)
		})
	}
}

// TestSplineFieldsAgreeWithValidate holds the reader's checks of the
// spline's constants to RQSpline.validate: a document's constants are
// refused exactly when validate refuses them.
func TestSplineFieldsAgreeWithValidate(t *testing.T) {
	for _, s := range []RQSpline{
		{Bins: 8, Bound: 3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3},
		{Bins: 1, Bound: 1e100, MinWidth: 0.999, MinHeight: 0.999, MinDerivative: 0.999},
		{Bins: 1 << 16, Bound: 1e-100, MinWidth: 1e-6, MinHeight: 1e-6, MinDerivative: 1e-9},
		{Bins: 8, Bound: math.Nextafter(1e-100, 0), MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3},
		{Bins: 8, Bound: 3, MinWidth: math.Nextafter(1e-6, 0), MinHeight: 1e-3, MinDerivative: 1e-3},
		{Bins: 8, Bound: 3, MinWidth: 1e-3, MinHeight: math.Nextafter(1e-6, 0), MinDerivative: 1e-3},
		{Bins: 8, Bound: 3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: math.Nextafter(1e-9, 0)},
		{Bins: 1<<16 + 1, Bound: 3, MinWidth: 1e-6, MinHeight: 1e-6, MinDerivative: 1e-3},
		{Bins: 0, Bound: 3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3},
		{Bins: 8, Bound: math.Nextafter(1e100, 2e100), MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3},
		{Bins: 8, Bound: 0, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3},
		{Bins: 8, Bound: math.NaN(), MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3},
		{Bins: 8, Bound: 3, MinWidth: 0.125, MinHeight: 1e-3, MinDerivative: 1e-3},
		{Bins: 8, Bound: 3, MinWidth: math.Nextafter(0.125, 0), MinHeight: 1e-3, MinDerivative: 1e-3},
		{Bins: 8, Bound: 3, MinWidth: 1e-3, MinHeight: 0.125, MinDerivative: 1e-3},
		{Bins: 8, Bound: 3, MinWidth: 1e-3, MinHeight: math.NaN(), MinDerivative: 1e-3},
		{Bins: 8, Bound: 3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1},
		{Bins: 8, Bound: 3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: math.Nextafter(1, 0)},
		{Bins: 8, Bound: 3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 0},
	} {
		ld := &layerDoc{Coupling: "rqspline", Bins: &s.Bins, Bound: &s.Bound, MinWidth: &s.MinWidth, MinHeight: &s.MinHeight, MinDerivative: &s.MinDerivative}
		_, err := unmarshalSpline("layers[0]", ld, `an "rqspline" coupling`)
		verr := s.validate()
		if (err == nil) != (verr == nil) {
			t.Errorf("%+v: the reader says %v, validate %v", s, err, verr)
		}
		if err != nil && strings.HasSuffix(err.(*FormatError).Path, "layers[0]") {
			t.Errorf("%+v: the reader's error %v names no field", s, err)
		}
	}
}

// TestFormatSplineContextRoundTrip checks that a conditional flow of
// rqspline couplings reads back with bit-identical log p(x | c) and
// samples.
func TestFormatSplineContextRoundTrip(t *testing.T) {
	s := RQSpline{Bins: 5, Bound: 1.25, MinWidth: 2e-3, MinHeight: 3e-3, MinDerivative: 4e-3}
	f := ftFlow(t,
		ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{6}, Activation: Tanh, Func: s, ContextDim: 2}),
		ftPerm(t, []int{1, 2, 0}),
		ftCoupling(t, CouplingConfig{Mask: []bool{false, true, false}, Hidden: []int{4, 4}, Activation: ReLU, Func: s}),
	)
	randomizeParams(f, 0.7, 4)
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := UnmarshalFlow(b)
	if err != nil {
		t.Fatalf("UnmarshalFlow: %v\n%s", err, b)
	}
	if diff := cmp.Diff(f.Layers(), g.Layers(), flowCmpOpts); diff != "" {
		t.Errorf("decoded layers differ (-want +got):\n%s", diff)
	}
	// Rows at twice the bound's scale, so that some fall in the tails.
	x := mat.NewDense(41, 3, randomRows(41, 3, 8))
	x.Scale(2*s.Bound, x)
	c := mat.NewDense(41, 2, randomRows(41, 2, 9))
	lp1, lp2 := f.LogProbGiven(nil, x, c), g.LogProbGiven(nil, x, c)
	for i := range lp1 {
		if math.IsNaN(lp1[i]) || math.Float64bits(lp1[i]) != math.Float64bits(lp2[i]) {
			t.Fatalf("row %d: log p %v, decoded %v", i, lp1[i], lp2[i])
		}
	}
	s1, s2 := mat.NewDense(41, 3, nil), mat.NewDense(41, 3, nil)
	q1, q2 := make([]float64, 41), make([]float64, 41)
	f.SampleGiven(s1, q1, c, rand.New(rand.NewPCG(7, 7)))
	g.SampleGiven(s2, q2, c, rand.New(rand.NewPCG(7, 7)))
	for i, v := range s1.RawMatrix().Data {
		if math.Float64bits(v) != math.Float64bits(s2.RawMatrix().Data[i]) {
			t.Fatalf("sample value %d: %v, decoded %v", i, v, s2.RawMatrix().Data[i])
		}
	}
	for i := range q1 {
		if math.Float64bits(q1[i]) != math.Float64bits(q2[i]) {
			t.Fatalf("sample %d: log q %v, decoded %v", i, q1[i], q2[i])
		}
	}
}
