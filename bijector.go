// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Layer is one invertible map of R^D with a tractable Jacobian determinant.
//
// Batches are row-major n×D slices: row i is x[i*D : (i+1)*D]. The number of
// rows n is len(logdet). Forward is the generative direction x = f(z); Inverse
// is z = g(x) = f⁻¹(x). Each adds, for every row, the log|det J| of the map it
// applied to logdet[i].
//
// work is scratch of at least WorkLen(n) elements owned by the caller. After
// Forward or Inverse it holds what the matching backward pass (ForwardGrader,
// InverseGrader) needs. dst and src never alias.
//
// A layer reads its parameters from the window set by BindParams; a Flow binds
// every layer to its part of one flat parameter vector.
type Layer interface {
	// Dim returns D.
	Dim() int
	// NumParams returns the number of trainable parameters.
	NumParams() int
	// Params returns the layer's parameters (a view, not a copy).
	Params() []float64
	// BindParams copies the current parameters into p, of length
	// NumParams, and makes p the layer's parameter storage.
	BindParams(p []float64)
	// WorkLen returns the workspace length that a pass over n rows needs.
	WorkLen(n int) int
	// Forward computes x = f(z) and adds log|det ∂x/∂z| to logdet.
	Forward(x, z, logdet, work []float64)
	// Inverse computes z = g(x) and adds log|det ∂z/∂x| to logdet.
	Inverse(z, x, logdet, work []float64)
}

// InverseGrader is a layer that backpropagates through Inverse: it is what
// maximum-likelihood training needs.
type InverseGrader interface {
	Layer
	// InverseBackward follows Inverse(z, x, logdet, work) with the same x, z
	// and work. Given dz = ∂L/∂z and dld[i] = ∂L/∂logdet[i], it writes
	// dx = ∂L/∂x and adds ∂L/∂θ into grad (length NumParams).
	InverseBackward(dx, dz, dld, x, z, work, grad []float64)
}

// ForwardGrader is a layer that backpropagates through Forward: it is what
// reverse-KL training needs.
type ForwardGrader interface {
	Layer
	// ForwardBackward follows Forward(x, z, logdet, work) with the same z, x
	// and work. Given dx = ∂L/∂x and dld[i] = ∂L/∂logdet[i], it writes
	// dz = ∂L/∂z and adds ∂L/∂θ into grad (length NumParams).
	ForwardBackward(dz, dx, dld, z, x, work, grad []float64)
}

// checkRows panics unless a and b hold n rows of width d: the shapes are
// caller mistakes, named in the message.
func checkRows(method string, d int, logdet []float64, bufs ...[]float64) {
	n := len(logdet)
	for _, b := range bufs {
		if len(b) != n*d {
			panic(fmt.Sprintf("flow: %s: buffer of length %d, want %d rows × %d columns = %d", method, len(b), n, d, n*d))
		}
	}
}

// Permutation is the layer x_i = z_{Perm[i]}. Its log-determinant is zero and
// it has no parameters.
type Permutation struct {
	perm, inv []int
}

// NewPermutation returns the layer x_i = z_{perm[i]}. It returns an error
// unless perm holds each of 0, …, len(perm)−1 exactly once.
func NewPermutation(perm []int) (*Permutation, error) {
	if len(perm) == 0 {
		return nil, errors.New("flow: NewPermutation: empty permutation")
	}
	if err := checkDim(len(perm), 1); err != nil {
		return nil, fmt.Errorf("flow: NewPermutation: %w", err)
	}
	inv := make([]int, len(perm))
	for i := range inv {
		inv[i] = -1
	}
	for i, p := range perm {
		if p < 0 || p >= len(perm) {
			return nil, fmt.Errorf("flow: NewPermutation: entry %d is %d, outside [0, %d)", i, p, len(perm))
		}
		if inv[p] >= 0 {
			return nil, fmt.Errorf("flow: NewPermutation: %d appears twice (entries %d and %d)", p, inv[p], i)
		}
		inv[p] = i
	}
	return &Permutation{perm: append([]int(nil), perm...), inv: inv}, nil
}

// NewReverse returns the permutation that reverses d dimensions.
func NewReverse(d int) (*Permutation, error) {
	if err := checkDim(d, 1); err != nil {
		return nil, fmt.Errorf("flow: NewReverse: %w", err)
	}
	p := make([]int, d)
	for i := range p {
		p[i] = d - 1 - i
	}
	return NewPermutation(p)
}

// NewRandomPermutation returns a uniformly random permutation of d
// dimensions drawn from a generator seeded with seed.
func NewRandomPermutation(d int, seed uint64) (*Permutation, error) {
	if err := checkDim(d, 1); err != nil {
		return nil, fmt.Errorf("flow: NewRandomPermutation: %w", err)
	}
	return NewPermutation(rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)).Perm(d))
}

// Perm returns a copy of the permutation.
func (p *Permutation) Perm() []int { return append([]int(nil), p.perm...) }

func (p *Permutation) Dim() int             { return len(p.perm) }
func (p *Permutation) NumParams() int       { return 0 }
func (p *Permutation) Params() []float64    { return nil }
func (p *Permutation) BindParams([]float64) {}
func (p *Permutation) WorkLen(int) int      { return 0 }

// Forward sets x_i = z_{perm[i]}.
func (p *Permutation) Forward(x, z, logdet, _ []float64) {
	checkRows("Permutation.Forward", len(p.perm), logdet, x, z)
	gatherRows(x, z, p.perm)
}

// Inverse sets z_{perm[i]} = x_i, that is z_i = x_{inv[i]}.
func (p *Permutation) Inverse(z, x, logdet, _ []float64) {
	checkRows("Permutation.Inverse", len(p.perm), logdet, x, z)
	gatherRows(z, x, p.inv)
}

// ForwardBackward: x_i = z_{perm[i]}, so ∂L/∂z_{perm[i]} = ∂L/∂x_i.
func (p *Permutation) ForwardBackward(dz, dx, _, _, _, _, _ []float64) {
	gatherRows(dz, dx, p.inv)
}

// InverseBackward: z_{perm[i]} = x_i, so ∂L/∂x_i = ∂L/∂z_{perm[i]}.
func (p *Permutation) InverseBackward(dx, dz, _, _, _, _, _ []float64) {
	gatherRows(dx, dz, p.perm)
}

// gatherRows sets dst[r, i] = src[r, idx[i]] for every row r of width
// len(idx).
func gatherRows(dst, src []float64, idx []int) {
	d := len(idx)
	for r := 0; r+d <= len(src); r += d {
		dr, sr := dst[r:r+d], src[r:r+d]
		for i, j := range idx {
			dr[i] = sr[j]
		}
	}
}

// Inverted is a layer with its directions swapped: its Forward is the wrapped
// layer's Inverse and its Inverse the wrapped Forward. Inverting a MAF layer
// gives an IAF-like layer and the other way round.
type Inverted struct {
	L Layer
}

// Invert returns l with its directions swapped. It panics if l is nil.
func Invert(l Layer) *Inverted {
	if isNilLayer(l) {
		panic("flow: Invert: nil layer")
	}
	return &Inverted{L: l}
}

func (v *Inverted) Dim() int               { return v.L.Dim() }
func (v *Inverted) NumParams() int         { return v.L.NumParams() }
func (v *Inverted) Params() []float64      { return v.L.Params() }
func (v *Inverted) BindParams(p []float64) { v.L.BindParams(p) }
func (v *Inverted) WorkLen(n int) int      { return v.L.WorkLen(n) }

// Forward applies the wrapped layer's Inverse.
func (v *Inverted) Forward(x, z, logdet, work []float64) { v.L.Inverse(x, z, logdet, work) }

// Inverse applies the wrapped layer's Forward.
func (v *Inverted) Inverse(z, x, logdet, work []float64) { v.L.Forward(z, x, logdet, work) }

// ForwardBackward backpropagates through the wrapped layer's Inverse. It
// panics if the wrapped layer is not an InverseGrader.
func (v *Inverted) ForwardBackward(dz, dx, dld, z, x, work, grad []float64) {
	g, ok := v.L.(InverseGrader)
	if !ok {
		panic(fmt.Sprintf("flow: Inverted.ForwardBackward: %T has no InverseBackward", v.L))
	}
	g.InverseBackward(dz, dx, dld, z, x, work, grad)
}

// InverseBackward backpropagates through the wrapped layer's Forward. It
// panics if the wrapped layer is not a ForwardGrader.
func (v *Inverted) InverseBackward(dx, dz, dld, x, z, work, grad []float64) {
	g, ok := v.L.(ForwardGrader)
	if !ok {
		panic(fmt.Sprintf("flow: Inverted.InverseBackward: %T has no ForwardBackward", v.L))
	}
	g.ForwardBackward(dx, dz, dld, x, z, work, grad)
}
