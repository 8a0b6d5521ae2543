// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
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
