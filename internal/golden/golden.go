// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Package golden holds what the writer of the golden vectors
// (internal/gengolden) and the package's test of them (TestGolden) share:
// the structure of a file of testdata/golden, its layout, the reverse-KL
// target and the comparison with its tolerance. FORMAT.md §7 describes the
// files.
package golden

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/nfgo/flow/internal/jsonfmt"
)

// File is one file of testdata/golden. Matrices are lists of rows.
type File struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Model       json.RawMessage `json:"model"`

	// Context holds the contexts of a conditional model, one row of C
	// values for each row of X and of Base: row i of X and row i of Base
	// are taken given row i of Context. Absent for a model without a
	// context.
	Context [][]float64 `json:"context,omitempty"`

	// X are data points; Z = g(X) their latent points, InverseLogDet
	// log|det ∂z/∂x| per row and LogProb log p(x) per row (log p(x | c)
	// given the contexts).
	X             [][]float64 `json:"x"`
	Z             [][]float64 `json:"z"`
	InverseLogDet []float64   `json:"inverse_logdet"`
	LogProb       []float64   `json:"logprob"`

	// Base are latent points; Forward = f(Base) and ForwardLogDet
	// log|det ∂x/∂z| per row.
	Base          [][]float64 `json:"base"`
	Forward       [][]float64 `json:"forward"`
	ForwardLogDet []float64   `json:"forward_logdet"`

	// NLL is −(1/n) Σ log p(x_i) over the rows of X, and NLLGrad its
	// gradient, as a model document whose parameters are the gradient's
	// components. Absent for flows that cannot backpropagate through
	// Inverse.
	NLL     *float64        `json:"nll,omitempty"`
	NLLGrad json.RawMessage `json:"nll_grad,omitempty"`
	// NLLContextGrad is the gradient of NLL with respect to the contexts,
	// one row of C for each row of Context: row i is
	// −(1/n) ∂ log p(x_i | c_i)/∂c_i. Absent without a context or a NLL.
	NLLContextGrad [][]float64 `json:"nll_context_grad,omitempty"`

	// ReverseKL is (1/n) Σ [log q(f(z_i)) − log π(f(z_i))] over the rows
	// z_i of Base with the target π of KLTarget ("banana", or
	// "banana-shift" given the contexts), and ReverseKLGrad its gradient.
	// Absent for flows that cannot backpropagate through Forward.
	KLTarget      string          `json:"kl_target,omitempty"`
	ReverseKL     *float64        `json:"reverse_kl,omitempty"`
	ReverseKLGrad json.RawMessage `json:"reverse_kl_grad,omitempty"`
}

// Marshal writes g as the files hold it: JSON indented by two spaces, every
// array of numbers on one line.
func Marshal(g *File) ([]byte, error) { return jsonfmt.MarshalIndent(g) }

// Banana is the reverse-KL target of the golden vectors, "banana", summed
// over the consecutive pairs (x₁, x₂), (x₃, x₄), … of x, with its gradient:
//
//	log π(x) = Σ_pairs [−x₁²/8 − (x₂ − x₁²/4)²/2]  (− x_D²/2 for an odd D).
func Banana(grad, x []float64) float64 {
	lp := 0.0
	d := len(x)
	for i := 0; i+1 < d; i += 2 {
		a, b := x[i], x[i+1]
		u := b - a*a/4
		lp += -a*a/8 - u*u/2
		grad[i] = -a/4 + u*a/2
		grad[i+1] = -u
	}
	if d%2 == 1 {
		lp -= x[d-1] * x[d-1] / 2
		grad[d-1] = -x[d-1]
	}
	return lp
}

// BananaShift is the conditional reverse-KL target of the golden vectors,
// "banana-shift": the banana of Banana moved by a linear function of the
// context c,
//
//	log π(x | c) = banana(x − m(c)),   m_i(c) = c_{i mod C}/2,
//
// with its gradient in x, ∇banana(x − m(c)). With no context (len(c) = 0) it
// is Banana.
func BananaShift(grad, x, c []float64) float64 {
	y := func(i int) float64 {
		if len(c) == 0 {
			return x[i]
		}
		return x[i] - c[i%len(c)]/2
	}
	lp := 0.0
	d := len(x)
	for i := 0; i+1 < d; i += 2 {
		a, b := y(i), y(i+1)
		u := b - a*a/4
		lp += -a*a/8 - u*u/2
		grad[i] = -a/4 + u*a/2
		grad[i+1] = -u
	}
	if d%2 == 1 {
		v := y(d - 1)
		lp -= v * v / 2
		grad[d-1] = -v
	}
	return lp
}

// Tol is the relative tolerance of the golden vectors (FORMAT.md §7).
const Tol = 1e-12

// Compare returns an error naming the first entry of got that differs from
// want by more than Tol relative to max(|want_i|, 1e-3·max_j |want_j|), so
// that an entry that cancels to near zero is held to the scale of its
// array, or nil if none does.
func Compare(got, want []float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	scale := 0.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	for i := range want {
		ref := math.Max(math.Abs(want[i]), 1e-3*scale)
		if d := math.Abs(got[i] - want[i]); !(d <= Tol*ref) {
			return fmt.Errorf("[%d]: %v, want %v (relative error %.2g)", i, got[i], want[i], d/ref)
		}
	}
	return nil
}

// Flat returns the rows of a matrix one after the other.
func Flat(rows [][]float64) []float64 {
	var v []float64
	for _, r := range rows {
		v = append(v, r...)
	}
	return v
}

// Agree returns an error naming the first difference between the golden
// files a and b (their JSON) beyond what recomputing them on another
// machine may change, or nil if there is none: their cases, models, inputs
// and contexts must be identical, and every computed value must agree to
// Tol as Compare measures it, a matrix as one array and a gradient
// document's weights and biases as one array, as TestGolden compares them.
// The generator keeps a file that agrees with what it computes, so that go
// generate does not rewrite last digits.
func Agree(a, b []byte) error {
	var fa, fb File
	if err := json.Unmarshal(a, &fa); err != nil {
		return err
	}
	if err := json.Unmarshal(b, &fb); err != nil {
		return err
	}
	same := func(x, y any) bool {
		bx, err1 := json.Marshal(x)
		by, err2 := json.Marshal(y)
		return err1 == nil && err2 == nil && bytes.Equal(bx, by)
	}
	var ma, mb bytes.Buffer
	if fa.Model == nil || fb.Model == nil || json.Compact(&ma, fa.Model) != nil || json.Compact(&mb, fb.Model) != nil || !bytes.Equal(ma.Bytes(), mb.Bytes()) {
		return fmt.Errorf("the models differ")
	}
	for _, f := range []struct {
		name string
		x, y any
	}{
		{"name", fa.Name, fb.Name},
		{"description", fa.Description, fb.Description},
		{"x", fa.X, fb.X},
		{"base", fa.Base, fb.Base},
		{"context", fa.Context, fb.Context},
		{"kl_target", fa.KLTarget, fb.KLTarget},
	} {
		if !same(f.x, f.y) {
			return fmt.Errorf("%s differs", f.name)
		}
	}
	for _, f := range []struct {
		name string
		x, y []float64
	}{
		{"z", Flat(fa.Z), Flat(fb.Z)},
		{"inverse_logdet", fa.InverseLogDet, fb.InverseLogDet},
		{"logprob", fa.LogProb, fb.LogProb},
		{"forward", Flat(fa.Forward), Flat(fb.Forward)},
		{"forward_logdet", fa.ForwardLogDet, fb.ForwardLogDet},
		{"nll", optional(fa.NLL), optional(fb.NLL)},
		{"nll_context_grad", Flat(fa.NLLContextGrad), Flat(fb.NLLContextGrad)},
		{"reverse_kl", optional(fa.ReverseKL), optional(fb.ReverseKL)},
	} {
		if err := Compare(f.x, f.y); err != nil {
			return fmt.Errorf("%s: %v", f.name, err)
		}
	}
	for _, f := range []struct {
		name string
		x, y json.RawMessage
	}{
		{"nll_grad", fa.NLLGrad, fb.NLLGrad},
		{"reverse_kl_grad", fa.ReverseKLGrad, fb.ReverseKLGrad},
	} {
		if (f.x == nil) != (f.y == nil) {
			return fmt.Errorf("%s: present in one file only", f.name)
		}
		if f.x == nil {
			continue
		}
		px, err := docParams(f.x)
		if err != nil {
			return fmt.Errorf("%s: %v", f.name, err)
		}
		py, err := docParams(f.y)
		if err != nil {
			return fmt.Errorf("%s: %v", f.name, err)
		}
		if err := Compare(px, py); err != nil {
			return fmt.Errorf("%s: %v", f.name, err)
		}
	}
	return nil
}

// optional returns a one-value array of *v, or none when v is nil.
func optional(v *float64) []float64 {
	if v == nil {
		return nil
	}
	return []float64{*v}
}

// paramLayer holds the weights and biases of a layer of a model document,
// the layer it wraps in an inverse.
type paramLayer struct {
	Conditioner []paramDense `json:"conditioner"`
	MADE        []paramDense `json:"made"`
	Layer       *paramLayer  `json:"layer"`
}

type paramDense struct {
	Weights []float64 `json:"weights"`
	Biases  []float64 `json:"biases"`
}

// paramBase holds the parameters of a model document's base section, in
// the order of the flat parameter vector.
type paramBase struct {
	Mean    []float64    `json:"mean"`
	LogStd  []float64    `json:"log_std"`
	Logits  []float64    `json:"logits"`
	Means   []float64    `json:"means"`
	LogStds []float64    `json:"log_stds"`
	Network []paramDense `json:"network"`
}

// docParams returns the parameters of the model document doc in the order
// of the flat parameter vector: the weights and biases of the layers, layer
// by layer, W then b of each dense layer, then the base's.
func docParams(doc json.RawMessage) ([]float64, error) {
	var d struct {
		Layers []*paramLayer `json:"layers"`
		Base   *paramBase    `json:"base"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	var p []float64
	for _, l := range d.Layers {
		for l != nil {
			for _, dd := range append(l.Conditioner, l.MADE...) {
				p = append(p, dd.Weights...)
				p = append(p, dd.Biases...)
			}
			l = l.Layer
		}
	}
	if b := d.Base; b != nil {
		for _, v := range [][]float64{b.Mean, b.LogStd, b.Logits, b.Means, b.LogStds} {
			p = append(p, v...)
		}
		for _, dd := range b.Network {
			p = append(p, dd.Weights...)
			p = append(p, dd.Biases...)
		}
	}
	return p, nil
}
