// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// couplingFlow builds a two-layer coupling flow with alternating even/odd
// masks and random parameters, so that both halves are transformed and
// every parameter matters.
func couplingFlow(t *testing.T, d int, hidden []int, act Activation, h CouplingFunc, seed uint64) *Flow {
	t.Helper()
	var layers []Layer
	for l := 0; l < 2; l++ {
		c, err := NewCoupling(CouplingConfig{Mask: EvenOddMask(d, l == 1), Hidden: hidden, Activation: act, Func: h, Seed: seed + uint64(l)})
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, c)
	}
	f, err := New(layers...)
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.4, seed)
	return f
}

var couplingFuncs = []struct {
	name string
	h    CouplingFunc
}{
	{"affine", Affine{}},
	{"affine-clamp", Affine{Clamp: 1.5}},
	{"additive", Additive{}},
}

func TestCouplingGradients(t *testing.T) {
	for _, cf := range couplingFuncs {
		for _, hidden := range [][]int{{7}, {6, 5}, {5, 4, 6}} {
			for _, act := range []Activation{ReLU, Tanh} {
				name := fmt.Sprintf("%s/%v/%v", cf.name, hidden, act)
				f := couplingFlow(t, 5, hidden, act, cf.h, 3)
				checkFlowGrads(t, name, f, true, true)
			}
		}
	}
}

func TestCouplingLogDet(t *testing.T) {
	for _, cf := range couplingFuncs {
		for _, d := range []int{2, 3, 6} {
			f := couplingFlow(t, d, []int{8}, Tanh, cf.h, 5)
			for i, l := range f.Layers() {
				checkLayerLogDets(t, fmt.Sprintf("%s/D=%d/layer %d", cf.name, d, i), l, randomRows(3, d, 9), 1e-7)
			}
		}
	}
}

// roundTrip checks Inverse(Forward(z)) = z and that the two log-dets are
// negatives of each other, row by row.
func roundTrip(t *testing.T, name string, f *Flow, n int, tol float64) {
	t.Helper()
	d := f.Dim()
	z := mat.NewDense(n, d, randomRows(n, d, 77))
	var x, back mat.Dense
	ldf := make([]float64, n)
	ldi := make([]float64, n)
	f.Forward(&x, z, ldf)
	f.Inverse(&back, &x, ldi)
	if e := maxAbsDiff(back.RawMatrix().Data, z.RawMatrix().Data); !(e <= tol) {
		t.Errorf("%s: Inverse(Forward(z)) differs from z by %g", name, e)
	}
	for i := range ldf {
		if e := ldf[i] + ldi[i]; !(abs(e) <= tol*max(1, abs(ldf[i]))) {
			t.Errorf("%s: row %d: forward log-det %g, inverse %g", name, i, ldf[i], ldi[i])
		}
	}
	if mat.Equal(&x, z) && f.NumParams() > 0 {
		t.Errorf("%s: Forward is the identity: the round trip checks nothing", name)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestCouplingRoundTrip(t *testing.T) {
	for d := 2; d <= 9; d++ {
		for _, cf := range couplingFuncs {
			f := couplingFlow(t, d, []int{16, 16}, ReLU, cf.h, uint64(d))
			// Scales of a trained model stay moderate; draws at the
			// scale couplingFlow uses can reach |s| ≈ 50, where
			// exp(s)·z loses every digit that a round trip compares.
			randomizeParams(f, 0.15, uint64(d))
			roundTrip(t, fmt.Sprintf("%s/D=%d", cf.name, d), f, 70, 1e-12)
		}
		for _, evenOdd := range []bool{false, true} {
			f, err := NewRealNVP(RealNVPConfig{Dim: d, Layers: 10, Hidden: []int{16, 16}, Activation: Tanh, EvenOdd: evenOdd, Clamp: 2})
			if err != nil {
				t.Fatal(err)
			}
			randomizeParams(f, 0.2, uint64(d))
			roundTrip(t, fmt.Sprintf("realnvp10/evenodd=%v/D=%d", evenOdd, d), f, 70, 1e-12)
		}
	}
}

func TestPermutationRoundTrip(t *testing.T) {
	for d := 1; d <= 9; d++ {
		rev, err := NewReverse(d)
		if err != nil {
			t.Fatal(err)
		}
		rp, err := NewRandomPermutation(d, uint64(d))
		if err != nil {
			t.Fatal(err)
		}
		c := []Layer{rev, rp, Invert(rp)}
		for i, l := range c {
			f, err := New(l)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, fmt.Sprintf("perm%d/D=%d", i, d), f, 5, 0)
			checkLayerLogDets(t, fmt.Sprintf("perm%d/D=%d", i, d), l, randomRows(2, d, 1), 1e-9)
		}
	}
	p, _ := NewPermutation([]int{2, 0, 1})
	x := make([]float64, 3)
	p.Forward(x, []float64{10, 20, 30}, nil, []float64{0}, nil)
	if x[0] != 30 || x[1] != 10 || x[2] != 20 {
		t.Errorf("x_i = z_perm[i]: got %v, want [30 10 20]", x)
	}
}

func TestMixedFlowGradients(t *testing.T) {
	// A flow mixing couplings, permutations and an inverted coupling
	// exercises the plumbing between layers in both directions.
	d := 4
	c1, _ := NewCoupling(CouplingConfig{Mask: HalfMask(d, false), Hidden: []int{6}, Activation: Tanh})
	rp, _ := NewRandomPermutation(d, 4)
	c2, _ := NewCoupling(CouplingConfig{Mask: EvenOddMask(d, true), Hidden: []int{5}, Activation: Tanh, Func: Affine{Clamp: 2}})
	c3, _ := NewCoupling(CouplingConfig{Mask: HalfMask(d, true), Hidden: []int{5}, Activation: ReLU, Func: Additive{}})
	f, err := New(c1, rp, Invert(c2), c3)
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.4, 8)
	checkFlowGrads(t, "mixed", f, true, true)
	roundTrip(t, "mixed", f, 9, 1e-12)
	for i, l := range f.Layers() {
		checkLayerLogDets(t, fmt.Sprintf("mixed/layer %d", i), l, randomRows(2, d, 3), 1e-7)
	}
}

func TestCouplingBadConfig(t *testing.T) {
	cases := []struct {
		cfg  CouplingConfig
		want string
	}{
		{CouplingConfig{Mask: []bool{true}}, "D ≥ 2"},
		{CouplingConfig{Mask: nil}, "D ≥ 2"},
		{CouplingConfig{Mask: []bool{true, true, true}}, "all true"},
		{CouplingConfig{Mask: []bool{false, false}}, "all false"},
		{CouplingConfig{Mask: []bool{true, false}, Hidden: []int{4, 0}}, "hidden layer 1 has width 0"},
		{CouplingConfig{Mask: []bool{true, false}, Activation: Activation(7)}, "activation"},
		{CouplingConfig{Mask: []bool{true, false}, Func: Affine{Clamp: -1}}, "clamp"},
	}
	for _, c := range cases {
		_, err := NewCoupling(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewCoupling(%+v): error %v, want one containing %q", c.cfg, err, c.want)
		}
	}
	if _, err := NewRealNVP(RealNVPConfig{Dim: 1, Layers: 2}); err == nil || !strings.Contains(err.Error(), "D ≥ 2") {
		t.Errorf("NewRealNVP with D = 1: error %v", err)
	}
	// A mask of the wrong length for the flow it joins.
	c2, _ := NewCoupling(CouplingConfig{Mask: []bool{true, false}})
	c3, _ := NewCoupling(CouplingConfig{Mask: []bool{true, false, true}})
	if _, err := New(c2, c3); err == nil || !strings.Contains(err.Error(), "dimension 3") {
		t.Errorf("New with a mask of the wrong length: error %v", err)
	}
}

func TestWrongWidthPanics(t *testing.T) {
	f, err := NewRealNVP(RealNVPConfig{Dim: 3, Layers: 2, Hidden: []int{4}})
	if err != nil {
		t.Fatal(err)
	}
	x := mat.NewDense(4, 2, nil)
	for name, call := range map[string]func(){
		"Flow.LogProb": func() { f.LogProb(nil, x) },
		"Flow.Forward": func() { f.Forward(&mat.Dense{}, x, nil) },
		"Flow.Inverse": func() { f.Inverse(&mat.Dense{}, x, nil) },
	} {
		msg := catchPanic(call)
		if !strings.Contains(msg, name) || !strings.Contains(msg, "4×2") || !strings.Contains(msg, "4×3") {
			t.Errorf("%s on a 4×2 batch of a 3-D flow: panic %q, want one naming the method and both shapes", name, msg)
		}
	}
	msg := catchPanic(func() { f.Sample(mat.NewDense(4, 2, nil), nil, nil) })
	if !strings.Contains(msg, "Flow.Sample") || !strings.Contains(msg, "4×2") {
		t.Errorf("Sample into a 4×2 matrix: panic %q", msg)
	}
	l := f.Layers()[0]
	msg = catchPanic(func() {
		l.Forward(make([]float64, 6), make([]float64, 6), nil, make([]float64, 3), make([]float64, l.WorkLen(3)))
	})
	if !strings.Contains(msg, "Coupling.Forward") {
		t.Errorf("Coupling.Forward on rows of width 2: panic %q", msg)
	}
}

func catchPanic(f func()) (msg string) {
	defer func() {
		if v := recover(); v != nil {
			msg = fmt.Sprint(v)
		}
	}()
	f()
	return ""
}
