// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestNilArguments calls the API with nil and out-of-range arguments: each
// call that returns an error returns one naming the problem, and each other
// panics with a message naming the function and the value, never with a
// bare nil dereference or index error.
func TestNilArguments(t *testing.T) {
	f, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 3, Hidden: []int{3}})
	if err != nil {
		t.Fatal(err)
	}
	var nf *Flow
	m, err := NewMADE(MADEConfig{Dim: 3, Hidden: []int{4}})
	if err != nil {
		t.Fatal(err)
	}
	var ng *Gaussian
	x := mat.NewDense(2, 2, []float64{1, 2, 3, 4})
	rnd := rand.New(rand.NewPCG(1, 1))
	var nilDense *mat.Dense
	var nilCoupling *Coupling

	errs := []struct {
		name string
		call func() error
		want string
	}{
		{"New()", func() error { _, err := New(); return err }, "flow: New: no layers"},
		{"New(nil)", func() error { _, err := New(nil); return err }, "flow: New: layer 0 is nil"},
		{"New(layer, nil)", func() error { _, err := New(f.Layers()[0], nil); return err }, "flow: New: layer 1 is nil"},
		{"New(typed nil)", func() error { _, err := New(nilCoupling); return err }, "flow: New: layer 0 is nil"},
		{"New(Inverted{nil})", func() error { _, err := New(&Inverted{}); return err }, "flow: New: layer 0 is nil"},
		{"MarshalFlow(nil)", func() error { _, err := MarshalFlow(nil); return err }, "flow: MarshalFlow: nil *Flow"},
		{"UnmarshalFlow(nil)", func() error { _, err := UnmarshalFlow(nil); return err }, "empty document"},
		{"NewPermutation(nil)", func() error { _, err := NewPermutation(nil); return err }, "flow: NewPermutation: empty permutation"},
		{"NewCoupling(nil mask)", func() error { _, err := NewCoupling(CouplingConfig{}); return err }, "flow: NewCoupling: dimension 0"},
		{"FitGaussian(nil)", func() error { _, err := FitGaussian(nil); return err }, "flow: FitGaussian: x is nil"},
		{"FitGaussian(nil *Dense)", func() error { _, err := FitGaussian(nilDense); return err }, "flow: FitGaussian: x is nil"},
		{"MADE.SetLayer(nil)", func() error { return m.SetLayer(0, nil, make([]float64, 4)) }, "flow: MADE.SetLayer: layer 0: the weights are nil"},
		{"MADE.SetLayer(-1)", func() error { return m.SetLayer(-1, mat.NewDense(4, 3, nil), nil) }, "flow: MADE.SetLayer: layer -1 outside [0, 2)"},
		{"Flow.SetNames(nil)", func() error { return f.SetNames(nil) }, ""},
	}
	for _, c := range errs {
		var err error
		if msg := catchPanic(func() { err = c.call() }); msg != "" {
			t.Errorf("%s: panic %q, want an error", c.name, msg)
			continue
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}

	panics := []struct {
		name string
		call func()
		want string
	}{
		{"nil Flow.LogProb", func() { nf.LogProb(nil, x) }, "flow: Flow.LogProb: nil *Flow"},
		{"nil Flow.Forward", func() { nf.Forward(&mat.Dense{}, x, nil) }, "flow: Flow.Forward: nil *Flow"},
		{"nil Flow.Inverse", func() { nf.Inverse(&mat.Dense{}, x, nil) }, "flow: Flow.Inverse: nil *Flow"},
		{"nil Flow.Sample", func() { nf.Sample(mat.NewDense(2, 2, nil), nil, rnd) }, "flow: Flow.Sample: nil *Flow"},
		{"nil Flow.Dim", func() { nf.Dim() }, "flow: Flow.Dim: nil *Flow"},
		{"nil Flow.NumParams", func() { nf.NumParams() }, "flow: Flow.NumParams: nil *Flow"},
		{"nil Flow.Params", func() { nf.Params() }, "flow: Flow.Params: nil *Flow"},
		{"nil Flow.Layers", func() { nf.Layers() }, "flow: Flow.Layers: nil *Flow"},
		{"nil Flow.ParamRange", func() { nf.ParamRange(0) }, "flow: Flow.ParamRange: nil *Flow"},
		{"nil Flow.SetParams", func() { nf.SetParams(nil) }, "flow: Flow.SetParams: nil *Flow"},
		{"nil Flow.Names", func() { nf.Names() }, "flow: Flow.Names: nil *Flow"},
		{"nil Flow.SetNames", func() { _ = nf.SetNames(nil) }, "flow: Flow.SetNames: nil *Flow"},
		{"ParamRange(-1)", func() { f.ParamRange(-1) }, "flow: Flow.ParamRange: layer -1 out of range [0, 3)"},
		{"ParamRange(3)", func() { f.ParamRange(3) }, "flow: Flow.ParamRange: layer 3 out of range [0, 3)"},
		{"SetParams(nil)", func() { f.SetParams(nil) }, "flow: Flow.SetParams: 0 parameters, want"},
		{"LogProb(nil, nil)", func() { f.LogProb(nil, nil) }, "flow: Flow.LogProb: x is nil"},
		{"LogProb(nil *Dense)", func() { f.LogProb(nil, nilDense) }, "flow: Flow.LogProb: x is nil"},
		{"Forward(nil, x)", func() { f.Forward(nil, x, nil) }, "flow: Flow.Forward: dst is nil"},
		{"Forward(dst, nil)", func() { f.Forward(&mat.Dense{}, nil, nil) }, "flow: Flow.Forward: z is nil"},
		{"Inverse(nil, x)", func() { f.Inverse(nil, x, nil) }, "flow: Flow.Inverse: dst is nil"},
		{"Inverse(dst, nil)", func() { f.Inverse(&mat.Dense{}, nil, nil) }, "flow: Flow.Inverse: x is nil"},
		{"Sample(nil, …)", func() { f.Sample(nil, nil, rnd) }, "flow: Flow.Sample: dst is nil"},
		{"Sample(dst, nil, nil rnd)", func() { f.Sample(mat.NewDense(2, 2, nil), nil, nil) }, "flow: Flow.Sample: rnd is nil"},
		{"Invert(nil)", func() { Invert(nil) }, "flow: Invert: nil layer"},
		{"Invert(typed nil)", func() { Invert(nilCoupling) }, "flow: Invert: nil layer"},
		{"nil Gaussian.LogProb", func() { ng.LogProb(nil, x) }, "flow: Gaussian.LogProb: nil *Gaussian"},
		{"Gaussian.LogProb(nil)", func() { (&Gaussian{Mean: []float64{0, 0}}).LogProb(nil, nil) }, "flow: Gaussian.LogProb: x is nil"},
		{"MADE.HiddenDegrees(1)", func() { m.HiddenDegrees(1) }, "flow: MADE.HiddenDegrees: hidden layer 1 out of range [0, 1)"},
		{"MADE.HiddenDegrees(-1)", func() { m.HiddenDegrees(-1) }, "flow: MADE.HiddenDegrees: hidden layer -1 out of range [0, 1)"},
		{"MADE.Weights(2)", func() { m.Weights(2) }, "flow: MADE.Weights: layer 2 outside [0, 2)"},
	}
	for _, c := range panics {
		msg := catchPanic(c.call)
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: panic %q, want one containing %q", c.name, msg, c.want)
		}
	}
}
