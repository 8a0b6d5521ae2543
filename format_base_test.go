// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow/internal/golden"
)

// baseFormatCases are flows over each trainable base.
func baseFormatCases() []formatCase {
	return []formatCase{
		{"base-diag", func(t *testing.T) *Flow {
			return withBase(t, mustBase(NewDiagGaussianBase(3)), realNVPLayers(t, 3, 0, 1)...)
		}},
		{"base-diag-D1", func(t *testing.T) *Flow {
			return withBase(t, mustBase(NewDiagGaussianBase(1)), mafLayers(t, false, 1, 0, 1)...)
		}},
		{"base-mixture", func(t *testing.T) *Flow {
			return withBase(t, mustBase(NewMixtureBase(2, 3, 1)), mafLayers(t, false, 2, 0, 2)...)
		}},
		{"base-mixture-K1", func(t *testing.T) *Flow {
			return withBase(t, mustBase(NewMixtureBase(3, 1, 2)), idLayer(t, 3))
		}},
		{"base-conditional", func(t *testing.T) *Flow {
			return withBase(t, condBase(t, 3, 2, []int{4, 3}, ReLU), realNVPLayers(t, 3, 2, 3)...)
		}},
		{"base-conditional-linear", func(t *testing.T) *Flow {
			return withBase(t, condBase(t, 2, 1, nil, Tanh), realNVPLayers(t, 2, 0, 4)...)
		}},
	}
}

// baseFormatDocs returns the documents of baseFormatCases at random
// parameters, for the fuzzer's seeds.
func baseFormatDocs(tb testing.TB) [][]byte {
	var docs [][]byte
	for _, tc := range baseFormatCases() {
		f := tc.build(&testing.T{})
		randomizeParams(f, 0.5, 1)
		zeroMasked(f)
		b, err := MarshalFlow(f)
		if err != nil {
			tb.Fatal(err)
		}
		docs = append(docs, b)
	}
	return docs
}

// TestFormatBaseRoundTrip: a flow over each base reads back with the same
// base, the same parameters and the same log-densities, bit for bit, and
// writes back the same document.
func TestFormatBaseRoundTrip(t *testing.T) {
	for _, tc := range baseFormatCases() {
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
				t.Errorf("the document does not write back the same:\n%s\nwant\n%s", b2, b)
			}
			if !equalBits(f.Params(), g.Params()) {
				t.Error("the parameters differ")
			}
			fl, fh := f.BaseParamRange()
			gl, gh := g.BaseParamRange()
			if fl != gl || fh != gh || g.ContextDim() != f.ContextDim() {
				t.Errorf("base window [%d, %d), context %d; want [%d, %d), %d", gl, gh, g.ContextDim(), fl, fh, f.ContextDim())
			}
			if fb, gb := f.Base(), g.Base(); baseKind(fb) != baseKind(gb) || fb.NumParams() != gb.NumParams() {
				t.Errorf("base %T of %d parameters, want %T of %d", gb, gb.NumParams(), fb, fb.NumParams())
			}
			if fm, ok := f.Base().(*MixtureBase); ok && g.Base().(*MixtureBase).Components() != fm.Components() {
				t.Error("the number of components differs")
			}
			if fc, ok := f.Base().(*ConditionalGaussianBase); ok {
				gc := g.Base().(*ConditionalGaussianBase)
				if gc.Activation() != fc.Activation() || !equalInts(gc.Hidden(), fc.Hidden()) {
					t.Errorf("network %v %v, want %v %v", gc.Activation(), gc.Hidden(), fc.Activation(), fc.Hidden())
				}
			}
			const n = 7
			d, nc := f.Dim(), f.ContextDim()
			x := mat.NewDense(n, d, randomRows(n, d, 5))
			var c mat.Matrix
			if nc > 0 {
				c = mat.NewDense(n, nc, randomRows(n, nc, 6))
			}
			if !equalBits(f.LogProbGiven(nil, x, c), g.LogProbGiven(nil, x, c)) {
				t.Error("the log-densities differ")
			}
		})
	}
}

// baseKind names the type of the base b.
func baseKind(b Base) string {
	switch b.(type) {
	case *StdNormalBase:
		return "StdNormalBase"
	case *DiagGaussianBase:
		return "DiagGaussianBase"
	case *MixtureBase:
		return "MixtureBase"
	case *ConditionalGaussianBase:
		return "ConditionalGaussianBase"
	}
	return "?"
}

func equalInts(a, b []int) bool {
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

// TestFormatBaseStdNormal: a document with the standard normal base, as
// every document before trainable bases, reads as a flow over the standard
// normal with the layers' parameters alone, and a flow made by New writes
// that base.
func TestFormatBaseStdNormal(t *testing.T) {
	f := ftFlow(t, realNVPLayers(t, 2, 0, 1)...)
	b, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	var doc0 struct {
		Base map[string]any `json:"base"`
	}
	if err := json.Unmarshal(b, &doc0); err != nil {
		t.Fatal(err)
	}
	if len(doc0.Base) != 1 || doc0.Base["type"] != "std_normal" {
		t.Errorf("the standard normal base is written as %v, want {\"type\": \"std_normal\"} as before", doc0.Base)
	}
	g, err := UnmarshalFlow(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Base().(*StdNormalBase); !ok || g.NumParams() != f.NumParams() {
		t.Errorf("read back over %T with %d parameters, want the standard normal and %d", g.Base(), g.NumParams(), f.NumParams())
	}
	doc := []byte(`{"format":"nfgo-flow","version":1,"dim":2,"base":{"type":"std_normal"},"layers":[{"type":"permutation","dim":2,"perm":[1,0]}]}`)
	h, err := UnmarshalFlow(doc)
	if err != nil {
		t.Fatal(err)
	}
	lp := h.LogProb(nil, mat.NewDense(1, 2, []float64{0.5, -1}))[0]
	if want := -0.5*(0.25+1) - math.Log(2*math.Pi); math.Abs(lp-want) > 1e-15 {
		t.Errorf("log p %v, want %v", lp, want)
	}
}

// baseDocOf returns a document with the base section base over a
// permutation of R^dim, with a context of nc (0: none).
func baseDocOf(t *testing.T, dim, nc int, base map[string]any) []byte {
	t.Helper()
	perm := make([]any, dim)
	for i := range perm {
		perm[i] = dim - 1 - i
	}
	m := map[string]any{"format": "nfgo-flow", "version": 1, "dim": dim, "base": base,
		"layers": []any{map[string]any{"type": "permutation", "dim": dim, "perm": perm}}}
	if nc > 0 {
		m["context"] = nc
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFormatBaseReject: every malformed base section is refused with a
// FormatError naming the field.
func TestFormatBaseReject(t *testing.T) {
	diag := func() map[string]any {
		return map[string]any{"type": "diag_normal", "mean": []any{0.5, -1}, "log_std": []any{0, 0.25}}
	}
	mix := func() map[string]any {
		return map[string]any{"type": "diag_normal_mixture", "components": 2, "logits": []any{0, 1},
			"means": []any{1, 2, 3, 4}, "log_stds": []any{0, 0, 0.5, -0.5}}
	}
	network := func() []any {
		return []any{
			map[string]any{"in": 1, "out": 3, "weights": []any{1, 2, 3}, "biases": []any{0, 0, 0}},
			map[string]any{"in": 3, "out": 4, "weights": make([]any, 12), "biases": make([]any, 4)},
		}
	}
	cond := func() map[string]any {
		n := network()
		for _, l := range n {
			for k, v := range l.(map[string]any)["weights"].([]any) {
				if v == nil {
					l.(map[string]any)["weights"].([]any)[k] = 0.1
				}
			}
			for k, v := range l.(map[string]any)["biases"].([]any) {
				if v == nil {
					l.(map[string]any)["biases"].([]any)[k] = 0
				}
			}
		}
		return map[string]any{"type": "conditional_diag_normal", "context": 1, "activation": "tanh", "hidden": []any{3}, "network": n}
	}
	with := func(m map[string]any, key string, v any) map[string]any {
		if v == nil {
			delete(m, key)
		} else {
			m[key] = v
		}
		return m
	}
	// The valid documents read.
	for name, doc := range map[string][]byte{
		"diag": baseDocOf(t, 2, 0, diag()), "mixture": baseDocOf(t, 2, 0, mix()), "conditional": baseDocOf(t, 2, 1, cond()),
	} {
		if _, err := UnmarshalFlow(doc); err != nil {
			t.Fatalf("the valid %s document: %v", name, err)
		}
	}
	for _, tc := range []struct {
		name       string
		doc        []byte
		path, want string
	}{
		{"no type", baseDocOf(t, 2, 0, map[string]any{}), "base.type", "missing"},
		{"unknown type", baseDocOf(t, 2, 0, map[string]any{"type": "laplace"}), "base.type", `"laplace", want "std_normal", "diag_normal", "diag_normal_mixture" or "conditional_diag_normal"`},
		{"null base", []byte(`{"format":"nfgo-flow","version":1,"dim":2,"base":null,"layers":[{"type":"permutation","dim":2,"perm":[1,0]}]}`), "base", "missing"},
		{"std with mean", baseDocOf(t, 2, 0, map[string]any{"type": "std_normal", "mean": []any{0, 0}}), "base.mean", `not a field of a "std_normal" base`},
		{"unknown field", baseDocOf(t, 2, 0, with(diag(), "scale", []any{1, 1})), "", `unknown field "scale"`},
		{"diag no mean", baseDocOf(t, 2, 0, with(diag(), "mean", nil)), "base.mean", "missing"},
		{"diag no log_std", baseDocOf(t, 2, 0, with(diag(), "log_std", nil)), "base.log_std", "missing"},
		{"diag short mean", baseDocOf(t, 2, 0, with(diag(), "mean", []any{1})), "base.mean", "1 values, want 2"},
		{"diag empty log_std", baseDocOf(t, 2, 0, with(diag(), "log_std", []any{})), "base.log_std", "0 values, want 2"},
		{"diag with logits", baseDocOf(t, 2, 0, with(diag(), "logits", []any{0})), "base.logits", `not a field of a "diag_normal" base`},
		{"diag with context", baseDocOf(t, 2, 1, with(diag(), "context", 1)), "base.context", `not a field of a "diag_normal" base`},
		{"diag overflow", bytes.Replace(baseDocOf(t, 2, 0, diag()), []byte("0.25"), []byte("1e999"), 1), "base.log_std[1]", "cannot be float64"},
		{"diag string", bytes.Replace(baseDocOf(t, 2, 0, diag()), []byte("0.25"), []byte(`"0.25"`), 1), "base.log_std[1]", "cannot be float64"},
		{"mixture no components", baseDocOf(t, 2, 0, with(mix(), "components", nil)), "base.components", "missing"},
		{"mixture K=0", baseDocOf(t, 2, 0, with(mix(), "components", 0)), "base.components", "0 is not in [1, 16777216]"},
		{"mixture K<0", baseDocOf(t, 2, 0, with(mix(), "components", -2)), "base.components", "-2 is not in [1, 16777216]"},
		{"mixture K huge", baseDocOf(t, 2, 0, with(mix(), "components", 1<<25)), "base.components", "33554432 is not in [1, 16777216]"},
		{"mixture too large", baseDocOf(t, 2, 0, with(mix(), "components", 1<<24)), "base.components", "the base would need a workspace of"},
		{"mixture K fraction", baseDocOf(t, 2, 0, with(mix(), "components", 1.5)), "base.components", "cannot be int"},
		{"mixture logits", baseDocOf(t, 2, 0, with(mix(), "logits", []any{0, 1, 2})), "base.logits", "3 values, want components = 2"},
		{"mixture no logits", baseDocOf(t, 2, 0, with(mix(), "logits", nil)), "base.logits", "missing"},
		{"mixture means", baseDocOf(t, 2, 0, with(mix(), "means", []any{1, 2, 3})), "base.means", "3 values, want components × dim = 2×2 = 4"},
		{"mixture log_stds", baseDocOf(t, 2, 0, with(mix(), "log_stds", []any{1, 2, 3, 4, 5})), "base.log_stds", "5 values, want components × dim = 2×2 = 4"},
		{"mixture no log_stds", baseDocOf(t, 2, 0, with(mix(), "log_stds", nil)), "base.log_stds", "missing"},
		{"mixture with mean", baseDocOf(t, 2, 0, with(mix(), "mean", []any{0, 0})), "base.mean", `not a field of a "diag_normal_mixture" base`},
		{"mixture with network", baseDocOf(t, 2, 0, with(mix(), "network", network())), "base.network", `not a field of a "diag_normal_mixture" base`},
		{"conditional no context", baseDocOf(t, 2, 1, with(cond(), "context", nil)), "base.context", "missing"},
		{"conditional document without context", baseDocOf(t, 2, 0, cond()), "base.context", "1, but the document has no context"},
		{"conditional other context", baseDocOf(t, 2, 2, cond()), "base.context", "1, the document's context is 2"},
		{"conditional context 0", baseDocOf(t, 2, 1, with(cond(), "context", 0)), "base.context", "0, the document's context is 1"},
		{"conditional activation", baseDocOf(t, 2, 1, with(cond(), "activation", "sigmoid")), "base.activation", `"sigmoid" is not an activation`},
		{"conditional no activation", baseDocOf(t, 2, 1, with(cond(), "activation", nil)), "base.activation", `"" is not an activation`},
		{"conditional hidden 0", baseDocOf(t, 2, 1, with(cond(), "hidden", []any{0})), "base.hidden[0]", "width 0 is not in"},
		{"conditional hidden mismatch", baseDocOf(t, 2, 1, with(cond(), "hidden", []any{4})), "base.network[0].out", "3, want 4"},
		{"conditional no network", baseDocOf(t, 2, 1, with(cond(), "network", nil)), "base.network", "missing"},
		{"conditional short network", baseDocOf(t, 2, 1, with(cond(), "network", network()[:1])), "base.network", "1 dense layers, want 2"},
		{"conditional network in", baseDocOf(t, 2, 1, with(cond(), "network", func() []any {
			n := network()
			n[0].(map[string]any)["in"] = 2
			return n
		}())), "base.network[0].in", "2, want C = 1"},
		{"conditional network out", baseDocOf(t, 2, 1, with(cond(), "network", func() []any {
			n := network()
			n[1].(map[string]any)["out"] = 3
			return n
		}())), "base.network[1].out", "3, want 4"},
		{"conditional network mask", baseDocOf(t, 2, 1, with(cond(), "network", func() []any {
			n := cond()["network"].([]any)
			n[0].(map[string]any)["mask"] = []any{1, 1, 1}
			return n
		}())), "base.network[0].mask", "not a field of a base network's dense layer"},
		{"conditional null layer", baseDocOf(t, 2, 1, with(cond(), "network", []any{nil, nil})), "base.network[0]", "null dense layer"},
		{"conditional with means", baseDocOf(t, 2, 1, with(cond(), "means", []any{0})), "base.means", `not a field of a "conditional_diag_normal" base`},
		{"conditional too large", baseDocOf(t, 2, 1, with(cond(), "hidden", []any{1 << 15, 1 << 15})), "base.hidden", "the base would need"},
		{"context nothing reads", baseDocOf(t, 2, 1, diag()), "context", "no layer conditions on a context (no coupling, maf or iaf layer has a \"context\" field, nor the base)"},
	} {
		_, err := UnmarshalFlow(tc.doc)
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %v, want a *FormatError", tc.name, err)
			continue
		}
		if fe.Path != tc.path || !strings.Contains(fe.Msg, tc.want) {
			t.Errorf("%s: error at %q: %q; want at %q containing %q", tc.name, fe.Path, fe.Msg, tc.path, tc.want)
		}
	}
}

// TestFormatBaseMarshalNonFinite: MarshalFlow refuses a non-finite base
// parameter, naming it.
func TestFormatBaseMarshalNonFinite(t *testing.T) {
	for _, tc := range []struct {
		f    *Flow
		at   int // the base parameter spoiled
		path string
	}{
		{withBase(t, mustBase(NewDiagGaussianBase(2)), idLayer(t, 2)), 1, "base.mean[1]"},
		{withBase(t, mustBase(NewDiagGaussianBase(2)), idLayer(t, 2)), 2, "base.log_std[0]"},
		{withBase(t, mustBase(NewMixtureBase(2, 2, 1)), idLayer(t, 2)), 1, "base.logits[1]"},
		{withBase(t, mustBase(NewMixtureBase(2, 2, 1)), idLayer(t, 2)), 5, "base.means[3]"},
		{withBase(t, mustBase(NewMixtureBase(2, 2, 1)), idLayer(t, 2)), 6, "base.log_stds[0]"},
		{withBase(t, condBase(t, 2, 1, []int{2}, Tanh), idLayer(t, 2)), 0, "base.network[0].weights[0]"},
		{withBase(t, condBase(t, 2, 1, []int{2}, Tanh), idLayer(t, 2)), 3, "base.network[0].biases[1]"},
		{withBase(t, condBase(t, 2, 1, []int{2}, Tanh), idLayer(t, 2)), 5, "base.network[1].weights[1]"},
	} {
		lo, _ := tc.f.BaseParamRange()
		tc.f.Params()[lo+tc.at] = math.Inf(1)
		_, err := MarshalFlow(tc.f)
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Path != tc.path {
			t.Errorf("%T parameter %d: error %v, want one at %s", tc.f.Base(), tc.at, err, tc.path)
		}
	}
}

// TestFormatDocBase checks FORMAT.md's base section against the code: it
// names every base type, and its worked example with a mixture base reads
// and gives the log-density computed by hand there.
func TestFormatDocBase(t *testing.T) {
	b, err := os.ReadFile("FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	sec := doc[strings.Index(doc, "### 2.1 The base distribution"):]
	sec = sec[:strings.Index(sec, "## 3. Layers")]
	for _, typ := range []string{baseStdNormal, baseDiagNormal, baseMixture, baseConditional} {
		if !strings.Contains(sec, "`\""+typ+"\"`") {
			t.Errorf("FORMAT.md §2.1 does not name the base type %q", typ)
		}
	}
	for _, f := range baseFields(&baseDoc{}) {
		if !strings.Contains(sec, "| `"+f.name+"` |") {
			t.Errorf("FORMAT.md §2.1 has no row for the base field %q", f.name)
		}
	}
	ex := doc[strings.Index(doc, "### 8.2 A trainable base"):]
	ex = ex[strings.Index(ex, "```json\n")+len("```json\n"):]
	ex = ex[:strings.Index(ex, "```")]
	f, err := UnmarshalFlow([]byte(ex))
	if err != nil {
		t.Fatalf("the example with a trainable base does not read: %v", err)
	}
	if _, ok := f.Base().(*MixtureBase); !ok {
		t.Fatalf("the example's base is %T, want a mixture", f.Base())
	}
	want := -math.Log(2*math.Pi) + math.Log(0.5) + math.Log(math.Exp(-2)+math.Exp(-0.5))
	got := f.LogProb(nil, mat.NewDense(1, 2, []float64{0, 1}))[0]
	if math.Abs(got-want) > 1e-14 {
		t.Errorf("the example's log p(x) is %v, FORMAT.md's formula gives %v", got, want)
	}
}

// TestGoldenBases: the golden vectors cover every trainable base, with a
// reverse-KL gradient over the Gaussian bases and none over the mixtures.
func TestGoldenBases(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
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
			t.Fatalf("%s: %v", name, err)
		}
		kind := baseKind(f.Base())
		seen[kind]++
		if kind == "StdNormalBase" {
			continue
		}
		lo, hi := f.BaseParamRange()
		if g.NLL == nil {
			t.Errorf("%s: no nll over a %s", name, kind)
		} else if gf, err := UnmarshalFlow(g.NLLGrad); err != nil || maxAbsDiff(gf.Params()[lo:hi], make([]float64, hi-lo)) == 0 {
			t.Errorf("%s: the nll gradient of the base's parameters is missing or zero (%v)", name, err)
		}
		if mix := kind == "MixtureBase"; mix != (g.ReverseKL == nil) {
			t.Errorf("%s: over a %s, reverse_kl present: %v", name, kind, g.ReverseKL != nil)
		}
	}
	for _, kind := range []string{"StdNormalBase", "DiagGaussianBase", "MixtureBase", "ConditionalGaussianBase"} {
		if seen[kind] == 0 {
			t.Errorf("no golden model has a %s", kind)
		}
	}
}
