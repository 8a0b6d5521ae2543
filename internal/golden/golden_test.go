// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package golden

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		got, want []float64
		err       string
	}{
		{[]float64{1, 2}, []float64{1, 2}, ""},
		{[]float64{1 + 1e-13, 2}, []float64{1, 2}, ""},
		{[]float64{1 + 1e-11, 2}, []float64{1, 2}, "[0]: "},
		// An entry near zero is held to 1e-3 of the array's scale.
		{[]float64{1e-16, 1000}, []float64{0, 1000}, ""},
		{[]float64{1e-8, 1000}, []float64{0, 1000}, "[0]: 1e-08, want 0"},
		{[]float64{math.NaN()}, []float64{1}, "[0]: NaN"},
		{[]float64{1}, []float64{1, 2}, "1 values, want 2"},
	} {
		err := Compare(c.got, c.want)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("Compare(%v, %v): %v", c.got, c.want, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("Compare(%v, %v): %v, want an error containing %q", c.got, c.want, err, c.err)
		}
	}
}

func TestBanana(t *testing.T) {
	x := []float64{0.3, -1.2, 0.7}
	g := make([]float64, 3)
	lp := Banana(g, x)
	u := -1.2 - 0.09/4
	want := -0.09/8 - u*u/2 - 0.49/2
	if math.Abs(lp-want) > 1e-15 {
		t.Errorf("log π = %v, want %v", lp, want)
	}
	// The gradient against central differences.
	for i := range x {
		const h = 1e-6
		xp := append([]float64(nil), x...)
		xm := append([]float64(nil), x...)
		xp[i] += h
		xm[i] -= h
		tmp := make([]float64, 3)
		fd := (Banana(tmp, xp) - Banana(tmp, xm)) / (2 * h)
		if math.Abs(fd-g[i]) > 1e-8 {
			t.Errorf("∂/∂x[%d] = %v, finite difference %v", i, g[i], fd)
		}
	}
}

// TestBananaShift checks the conditional target: the banana at x − m(c),
// m_i(c) = c_{i mod C}/2, its gradient in x against central differences,
// and Banana itself without a context.
func TestBananaShift(t *testing.T) {
	x := []float64{0.3, -1.2, 0.7}
	c := []float64{0.8, -0.4}
	g := make([]float64, 3)
	lp := BananaShift(g, x, c)
	y := make([]float64, 3)
	for i := range y {
		y[i] = x[i] - c[i%2]/2
	}
	gy := make([]float64, 3)
	if want := Banana(gy, y); math.Abs(lp-want) > 1e-15 {
		t.Errorf("log π(x | c) = %v, banana(x − m(c)) = %v", lp, want)
	}
	for i := range g {
		if g[i] != gy[i] {
			t.Errorf("∂/∂x[%d] = %v, banana's gradient at x − m(c) %v", i, g[i], gy[i])
		}
	}
	for i := range x {
		const h = 1e-6
		xp := append([]float64(nil), x...)
		xm := append([]float64(nil), x...)
		xp[i] += h
		xm[i] -= h
		tmp := make([]float64, 3)
		fd := (BananaShift(tmp, xp, c) - BananaShift(tmp, xm, c)) / (2 * h)
		if math.Abs(fd-g[i]) > 1e-8 {
			t.Errorf("∂/∂x[%d] = %v, finite difference %v", i, g[i], fd)
		}
	}
	if got, want := BananaShift(g, x, nil), Banana(gy, x); got != want {
		t.Errorf("without a context: %v, Banana gives %v", got, want)
	}
}

// TestAgree checks that Agree accepts a file that differs only within the
// tolerance and names what differs otherwise.
func TestAgree(t *testing.T) {
	nll := 1.25
	model := `{"layers":[{"type":"coupling","conditioner":[{"in":1,"out":1,"weights":[0.5],"biases":[-2]}]},{"type":"inverse","layer":{"type":"maf","made":[{"in":2,"out":2,"weights":[0,1],"biases":[3,0]}]}}]}`
	base := File{
		Name: "a", Description: "d", Model: json.RawMessage(model),
		Context: [][]float64{{1}, {2}}, X: [][]float64{{1, 2}, {3, 4}}, Z: [][]float64{{1, 2}, {3, 4}},
		LogProb: []float64{-1, -2}, NLL: &nll, NLLGrad: json.RawMessage(model), NLLContextGrad: [][]float64{{0.5}, {-0.25}},
	}
	enc := func(f File) []byte {
		b, err := Marshal(&f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if err := Agree(enc(base), enc(base)); err != nil {
		t.Fatalf("a file against itself: %v", err)
	}
	near := base
	near.Z = [][]float64{{1, 2}, {3, 4 * (1 + 1e-14)}}
	near.NLLGrad = json.RawMessage(strings.Replace(model, "-2", "-2.00000000000001", 1))
	if err := Agree(enc(base), enc(near)); err != nil {
		t.Errorf("a file within the tolerance: %v", err)
	}
	for _, tc := range []struct {
		edit func(f *File)
		err  string
	}{
		{func(f *File) { f.Model = json.RawMessage(strings.Replace(model, "0.5", "0.5000000000000001", 1)) }, "the models differ"},
		{func(f *File) { f.Description = "e" }, "description differs"},
		{func(f *File) { f.X = [][]float64{{1, 2}, {3, 5}} }, "x differs"},
		{func(f *File) { f.Context = nil }, "context differs"},
		{func(f *File) { f.KLTarget = "banana" }, "kl_target differs"},
		{func(f *File) { f.Z = [][]float64{{1, 2}, {3, 4 * (1 + 1e-11)}} }, "z: [3]"},
		{func(f *File) { f.LogProb = []float64{-1} }, "logprob: 2 values, want 1"},
		{func(f *File) { f.NLL = nil }, "nll: 1 values, want 0"},
		{func(f *File) { f.NLLContextGrad = [][]float64{{0.5}, {-0.2}} }, "nll_context_grad: [1]"},
		{func(f *File) { f.NLLGrad = json.RawMessage(strings.Replace(model, "3,", "3.001,", 1)) }, "nll_grad: [4]"},
		{func(f *File) { f.NLLGrad = nil }, "nll_grad: present in one file only"},
	} {
		bad := base
		tc.edit(&bad)
		if err := Agree(enc(base), enc(bad)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("got %v, want an error containing %q", err, tc.err)
		}
	}
}
