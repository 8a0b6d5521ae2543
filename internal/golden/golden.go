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

	// X are data points; Z = g(X) their latent points, InverseLogDet
	// log|det ∂z/∂x| per row and LogProb log p(x) per row.
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

	// ReverseKL is (1/n) Σ [log q(f(z_i)) − log π(f(z_i))] over the rows
	// z_i of Base with the target π of KLTarget, and ReverseKLGrad its
	// gradient. Absent for flows that cannot backpropagate through Forward.
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
