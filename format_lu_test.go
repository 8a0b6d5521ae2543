// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow/internal/golden"
)

// initialized returns a, marked initialised.
func initialized(a *ActNorm) *ActNorm {
	a.initialized = true
	return a
}

// linearFormatCases covers LU-factored linear layers (D = 1, permutations
// and signs, inverted) and ActNorm layers, initialised or not, alone and
// mixed with other layers.
func linearFormatCases() []formatCase {
	return []formatCase{
		{"lu", func(t *testing.T) *Flow {
			return ftFlow(t, ftLU(t, LUConfig{Dim: 4, Perm: []int{2, 0, 3, 1}, Signs: []int{1, -1, -1, 1}}))
		}},
		{"lu-dim1", func(t *testing.T) *Flow {
			return ftFlow(t, ftLU(t, LUConfig{Dim: 1, Signs: []int{-1}}))
		}},
		{"actnorm", func(t *testing.T) *Flow {
			return ftFlow(t, initialized(ftActNorm(t, 3)))
		}},
		{"actnorm-uninitialized", func(t *testing.T) *Flow {
			return ftFlow(t, ftActNorm(t, 2))
		}},
		{"batch-norm", func(t *testing.T) *Flow {
			f := ftFlow(t, ftBatchNorm(t, 3))
			randomizeBNStats(t, f, 1)
			return f
		}},
		{"batch-norm-new", func(t *testing.T) *Flow {
			return ftFlow(t, ftBatchNorm(t, 1))
		}},
		{"batch-norm-mixed", func(t *testing.T) *Flow {
			b, err := NewBatchNorm(3, 0.25)
			if err != nil {
				t.Fatal(err)
			}
			f := ftFlow(t,
				ftBatchNorm(t, 3),
				ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: ReLU}),
				Invert(b), initialized(ftActNorm(t, 3)),
				ftBatchNorm(t, 3),
			)
			randomizeBNStats(t, f, 2)
			return f
		}},
		{"glow-mixed", func(t *testing.T) *Flow {
			return ftFlow(t,
				initialized(ftActNorm(t, 3)), ftLU(t, LUConfig{Dim: 3}),
				ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{4}, Activation: Tanh}),
				ftActNorm(t, 3), Invert(ftLU(t, LUConfig{Dim: 3, Perm: []int{1, 2, 0}})),
				ftMAF(t, AutoregressiveConfig{Dim: 3, Hidden: []int{4}, Activation: ReLU}),
				Invert(initialized(ftActNorm(t, 3))),
				ftStd(t, []float64{1, 2, 3}, []float64{0.5, 1, 2}),
			)
		}},
	}
}

// TestFormatLinearLayout holds the documents of an LU and an ActNorm layer
// to FORMAT.md §3.7 and §3.8: the fields hold the layer's parameters in
// the documented order, and log p(x) computed from the fields by the
// documented equations is the package's.
func TestFormatLinearLayout(t *testing.T) {
	lu := ftLU(t, LUConfig{Dim: 3, Perm: []int{1, 2, 0}, Signs: []int{1, -1, 1}})
	an := initialized(ftActNorm(t, 3))
	f := ftFlow(t, lu, an)
	// L = [1 0 0; 1 1 0; 2 3 1], U = [u00 4 5; 0 u11 6; 0 0 u22].
	copy(f.Params(), []float64{1, 2, 3, 4, 5, 6, 0.5, -0.25, 0, 0.1, 0.2, 0.3, 0.7, -0.4, 0.2, 1, -1, 0.5})
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Layers []struct {
			Type        string    `json:"type"`
			Perm        []int     `json:"perm"`
			Signs       []int     `json:"signs"`
			Lower       []float64 `json:"lower"`
			Upper       []float64 `json:"upper"`
			LogDiag     []float64 `json:"log_diag"`
			Bias        []float64 `json:"bias"`
			LogScale    []float64 `json:"log_scale"`
			Shift       []float64 `json:"shift"`
			Initialized *bool     `json:"initialized"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	l0, l1 := doc.Layers[0], doc.Layers[1]
	if l0.Type != "lu_linear" || !sameInts(l0.Perm, []int{1, 2, 0}) || !sameInts(l0.Signs, []int{1, -1, 1}) ||
		maxAbsDiff(l0.Lower, []float64{1, 2, 3}) != 0 || maxAbsDiff(l0.Upper, []float64{4, 5, 6}) != 0 ||
		maxAbsDiff(l0.LogDiag, []float64{0.5, -0.25, 0}) != 0 || maxAbsDiff(l0.Bias, []float64{0.1, 0.2, 0.3}) != 0 {
		t.Errorf("the lu_linear layer's document: %+v", l0)
	}
	if l1.Type != "actnorm" || maxAbsDiff(l1.LogScale, []float64{0.7, -0.4, 0.2}) != 0 || maxAbsDiff(l1.Shift, []float64{1, -1, 0.5}) != 0 ||
		l1.Initialized == nil || !*l1.Initialized {
		t.Errorf("the actnorm layer's document: %+v", l1)
	}
	// FORMAT.md §4 by hand: the actnorm's inverse, then the lu_linear's.
	x := []float64{0.3, -1.2, 2}
	v := make([]float64, 3)
	ld := 0.0
	for i := range v {
		v[i] = (x[i] - l1.Shift[i]) * math.Exp(-l1.LogScale[i])
		ld -= l1.LogScale[i]
	}
	L := [3][3]float64{{1, 0, 0}, {l0.Lower[0], 1, 0}, {l0.Lower[1], l0.Lower[2], 1}}
	U := [3][3]float64{{float64(l0.Signs[0]) * math.Exp(l0.LogDiag[0]), l0.Upper[0], l0.Upper[1]},
		{0, float64(l0.Signs[1]) * math.Exp(l0.LogDiag[1]), l0.Upper[2]},
		{0, 0, float64(l0.Signs[2]) * math.Exp(l0.LogDiag[2])}}
	z := make([]float64, 3)
	for i := 0; i < 3; i++ {
		r := l0.Perm[i] // (P·M)[i, :] = M[perm[i], :]
		for j := 0; j < 3; j++ {
			m := 0.0
			for k := 0; k < 3; k++ {
				m += L[r][k] * U[k][j]
			}
			z[i] += m * v[j]
		}
		z[i] += l0.Bias[i]
		ld += l0.LogDiag[i]
	}
	want := StdNormalLogProb(z) + ld
	g, err := UnmarshalFlow(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.LogProb(nil, mat.NewDense(1, 3, x))[0]; math.Abs(got-want) > 1e-14*math.Abs(want) {
		t.Errorf("log p(x) %v, FORMAT.md's equations give %v", got, want)
	}
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestUnmarshalRejectsLinear: every field of the lu_linear and actnorm
// layers is validated, with the field named.
func TestUnmarshalRejectsLinear(t *testing.T) {
	f := ftFlow(t, ftLU(t, LUConfig{Dim: 3, Perm: []int{2, 0, 1}, Signs: []int{1, -1, 1}}), initialized(ftActNorm(t, 3)))
	randomizeParams(f, 0.5, 4)
	doc, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalFlow(doc); err != nil {
		t.Fatalf("valid document: %v", err)
	}
	set := func(l int, field string, v any) []byte {
		return ftEdit(t, doc, func(m map[string]any) { ftLayer(m, l)[field] = v })
	}
	del := func(l int, field string) []byte {
		return ftEdit(t, doc, func(m map[string]any) { delete(ftLayer(m, l), field) })
	}
	for _, tc := range []struct {
		name string
		data []byte
		path string
		msg  string
	}{
		{"perm-missing", del(0, "perm"), "layers[0].perm", "0 entries, want 3"},
		{"perm-twice", set(0, "perm", []any{2, 0, 2}), "layers[0].perm[2]", "2 appears twice (entries 0 and 2): not a permutation"},
		{"perm-range", set(0, "perm", []any{0, 1, 3}), "layers[0].perm[2]", "3 is outside [0, 3)"},
		{"signs-missing", del(0, "signs"), "layers[0].signs", "0 entries, want 3"},
		{"signs-zero", set(0, "signs", []any{1, 0, 1}), "layers[0].signs[1]", "0, want 1 or -1"},
		{"signs-two", set(0, "signs", []any{1, 1, 2}), "layers[0].signs[2]", "2, want 1 or -1"},
		{"signs-float", set(0, "signs", []any{1, -0.5, 1}), "layers[0].signs[1]", "cannot be int"},
		{"lower-short", set(0, "lower", []any{1, 2}), "layers[0].lower", "2 values, want 3"},
		{"lower-missing", del(0, "lower"), "layers[0].lower", "0 values, want 3"},
		{"upper-long", set(0, "upper", []any{1, 2, 3, 4}), "layers[0].upper", "4 values, want 3"},
		{"log-diag", set(0, "log_diag", []any{1, 2}), "layers[0].log_diag", "2 values, want 3"},
		{"bias-missing", del(0, "bias"), "layers[0].bias", "0 values, want 3"},
		{"lu-context", set(0, "context", 1), "layers[0].context", `not a field of a "lu_linear" layer`},
		{"lu-stray", set(0, "shift", []any{1, 2, 3}), "layers[0].shift", `not a field of a "lu_linear" layer`},
		{"lu-huge", ftEdit(t, doc, func(m map[string]any) {
			m["dim"] = 20000
			ftLayer(m, 0)["dim"] = 20000
		}), "layers[0].dim", "would need"},
		{"log-scale-short", set(1, "log_scale", []any{1}), "layers[1].log_scale", "1 values, want 3"},
		{"shift-missing", del(1, "shift"), "layers[1].shift", "0 values, want 3"},
		{"initialized-missing", del(1, "initialized"), "layers[1].initialized", "missing: want true or false"},
		{"initialized-number", set(1, "initialized", 1), "layers[1].initialized", "cannot be bool"},
		{"actnorm-stray", set(1, "bias", []any{1, 2, 3}), "layers[1].bias", `not a field of a "actnorm" layer`},
		{"actnorm-context", set(1, "context", 1), "layers[1].context", `not a field of a "actnorm" layer`},
		{"signs-on-permutation", ftEdit(t, ftValidDoc(t), func(m map[string]any) { ftLayer(m, 1)["signs"] = []any{1, 1, 1} }),
			"layers[1].signs", `not a field of a "permutation" layer`},
		{"initialized-on-coupling", ftEdit(t, ftValidDoc(t), func(m map[string]any) { ftLayer(m, 0)["initialized"] = true }),
			"layers[0].initialized", `not a field of a "coupling" layer`},
	} {
		wantFormatError(t, tc.name, tc.data, tc.path, tc.msg)
	}
	// Numbers that are not finite cannot be written in JSON; 1e999 is
	// refused while decoding, in every numeric field.
	for _, field := range []string{"lower", "upper", "log_diag", "bias", "log_scale", "shift"} {
		i := bytes.Index(doc, []byte(`"`+field+`": [`))
		if i < 0 {
			t.Fatalf("no %s field in\n%s", field, doc)
		}
		j := i + len(field) + 5
		bad := append(append(append([]byte(nil), doc[:j]...), "1e999, "...), doc[j:]...)
		if _, err := UnmarshalFlow(bad); err == nil || !strings.Contains(err.Error(), field+"[0]") {
			t.Errorf("%s: 1e999 gives %v", field, err)
		}
	}
	// MarshalFlow refuses what UnmarshalFlow would.
	for i, name := range []string{"lower", "upper", "log_diag", "bias"} {
		g := ftFlow(t, ftLU(t, LUConfig{Dim: 3}))
		g.Params()[[]int{0, 3, 6, 9}[i]] = math.Inf(1)
		if _, err := MarshalFlow(g); err == nil || !strings.Contains(err.Error(), "layers[0]."+name+"[0]") {
			t.Errorf("an infinite %s: %v", name, err)
		}
	}
	for i, name := range []string{"log_scale", "shift"} {
		g := ftFlow(t, ftActNorm(t, 2))
		g.Params()[2*i] = math.NaN()
		if _, err := MarshalFlow(g); err == nil || !strings.Contains(err.Error(), "layers[0]."+name+"[0]") {
			t.Errorf("a NaN %s: %v", name, err)
		}
	}
}

// TestFormatActNormInitialized: the mark travels with the file, so a model
// read back is not initialised again by Fit.
func TestFormatActNormInitialized(t *testing.T) {
	for _, init := range []bool{false, true} {
		a := ftActNorm(t, 2)
		a.initialized = init
		b, err := MarshalFlow(ftFlow(t, a))
		if err != nil {
			t.Fatal(err)
		}
		g, err := UnmarshalFlow(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Layers()[0].(*ActNorm).Initialized(); got != init {
			t.Errorf("initialised %v reads back as %v", init, got)
		}
	}
}

// TestGoldenLinearLayers: the golden vectors hold lu_linear layers and
// ActNorm layers initialised and not, in unconditional and conditional
// models (TestGolden checks their values).
func TestGoldenLinearLayers(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var g golden.File
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatal(err)
		}
		f, err := UnmarshalFlow(g.Model)
		if err != nil {
			t.Fatal(err)
		}
		cond := ""
		if f.ContextDim() > 0 {
			cond = "/conditional"
		}
		for _, l := range f.Layers() {
			if v, ok := l.(*Inverted); ok {
				l = v.L
			}
			switch l := l.(type) {
			case *LULinear:
				count["lu"+cond]++
			case *ActNorm:
				count[fmt.Sprintf("actnorm/initialized=%v%s", l.Initialized(), cond)]++
			}
		}
	}
	for _, k := range []string{"lu", "lu/conditional", "actnorm/initialized=true", "actnorm/initialized=false", "actnorm/initialized=true/conditional"} {
		if count[k] == 0 {
			t.Errorf("no golden model has a layer of kind %s (%v)", k, count)
		}
	}
}

// TestUnmarshalRejectsBatchNorm: every field of the batch_norm layer is
// validated, with the field named, and MarshalFlow refuses what
// UnmarshalFlow would.
func TestUnmarshalRejectsBatchNorm(t *testing.T) {
	f := ftFlow(t, ftActNorm(t, 3), ftBatchNorm(t, 3))
	randomizeParams(f, 0.5, 4)
	randomizeBNStats(t, f, 4)
	doc, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalFlow(doc); err != nil {
		t.Fatalf("valid document: %v", err)
	}
	set := func(field string, v any) []byte {
		return ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 1)[field] = v })
	}
	del := func(field string) []byte {
		return ftEdit(t, doc, func(m map[string]any) { delete(ftLayer(m, 1), field) })
	}
	for _, tc := range []struct {
		name string
		data []byte
		path string
		msg  string
	}{
		{"log-scale-short", set("log_scale", []any{1}), "layers[1].log_scale", "1 values, want 3"},
		{"log-scale-missing", del("log_scale"), "layers[1].log_scale", "0 values, want 3"},
		{"shift-long", set("shift", []any{1, 2, 3, 4}), "layers[1].shift", "4 values, want 3"},
		{"mean-missing", del("mean"), "layers[1].mean", "0 values, want 3"},
		{"mean-short", set("mean", []any{1, 2}), "layers[1].mean", "2 values, want 3"},
		{"variance-missing", del("variance"), "layers[1].variance", "0 values, want 3"},
		{"variance-zero", set("variance", []any{1, 0, 2}), "layers[1].variance[1]", "0, want a number > 0"},
		{"variance-negative", set("variance", []any{1, 2, -3}), "layers[1].variance[2]", "-3, want a number > 0"},
		{"epsilon-missing", del("epsilon"), "layers[1].epsilon", "missing: want a number > 0"},
		{"epsilon-zero", set("epsilon", 0), "layers[1].epsilon", "epsilon 0, want a number in (0, 1e10)"},
		{"epsilon-negative", set("epsilon", -1e-5), "layers[1].epsilon", "want a number in (0, 1e10)"},
		{"epsilon-huge", set("epsilon", 1e10), "layers[1].epsilon", "want a number in (0, 1e10)"},
		{"epsilon-string", set("epsilon", "small"), "layers[1].epsilon", "cannot be float64"},
		{"bn-context", set("context", 1), "layers[1].context", `not a field of a "batch_norm" layer`},
		{"bn-stray", set("initialized", true), "layers[1].initialized", `not a field of a "batch_norm" layer`},
		{"mean-on-actnorm", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["mean"] = []any{1, 2, 3} }),
			"layers[0].mean", `not a field of a "actnorm" layer`},
		{"variance-on-coupling", ftEdit(t, ftValidDoc(t), func(m map[string]any) { ftLayer(m, 0)["variance"] = []any{1, 1} }),
			"layers[0].variance", `not a field of a "coupling" layer`},
		{"epsilon-on-permutation", ftEdit(t, ftValidDoc(t), func(m map[string]any) { ftLayer(m, 1)["epsilon"] = 1 }),
			"layers[1].epsilon", `not a field of a "permutation" layer`},
	} {
		wantFormatError(t, tc.name, tc.data, tc.path, tc.msg)
	}
	for _, field := range []string{"log_scale", "shift", "mean", "variance"} {
		i := bytes.LastIndex(doc, []byte(`"`+field+`": [`))
		if i < 0 {
			t.Fatalf("no %s field in\n%s", field, doc)
		}
		j := i + len(field) + 5
		bad := append(append(append([]byte(nil), doc[:j]...), "1e999, "...), doc[j:]...)
		if _, err := UnmarshalFlow(bad); err == nil || !strings.Contains(err.Error(), field+"[0]") {
			t.Errorf("%s: 1e999 gives %v", field, err)
		}
	}
	for i, name := range []string{"log_scale", "shift"} {
		g := ftFlow(t, ftBatchNorm(t, 2))
		g.Params()[2*i] = math.NaN()
		if _, err := MarshalFlow(g); err == nil || !strings.Contains(err.Error(), "layers[0]."+name+"[0]") {
			t.Errorf("a NaN %s: %v", name, err)
		}
	}
}
