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
// c holds the rows' context, n×C row-major, beside the batch: a layer of
// context dimension C > 0 (a conditional layer) conditions on it, one of
// context dimension 0 ignores it, and c is nil when the flow has none. The
// map of each row is a map of x alone: its Jacobian, and so logdet, is taken
// with respect to x with the context held fixed. A layer never writes c;
// the flow passes the same c to every layer and to the backward passes.
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
	// ContextDim returns C, the width of the context the layer conditions
	// on; 0 for a layer that takes none.
	ContextDim() int
	// WorkLen returns the workspace length that a pass over n rows needs.
	WorkLen(n int) int
	// Forward computes x = f(z | c) and adds log|det ∂x/∂z| to logdet.
	Forward(x, z, c, logdet, work []float64)
	// Inverse computes z = g(x | c) and adds log|det ∂z/∂x| to logdet.
	Inverse(z, x, c, logdet, work []float64)
}

// InverseGrader is a layer that backpropagates through Inverse: it is what
// maximum-likelihood training needs.
type InverseGrader interface {
	Layer
	// InverseBackward follows Inverse(z, x, c, logdet, work) with the same
	// x, z, c and work. Given dz = ∂L/∂z and dld[i] = ∂L/∂logdet[i], it
	// writes dx = ∂L/∂x, adds ∂L/∂θ into grad (length NumParams) and, when
	// dc is not nil, adds ∂L/∂c into dc (n×C; a layer without context adds
	// nothing).
	InverseBackward(dx, dc, dz, dld, x, z, c, work, grad []float64)
}

// ForwardGrader is a layer that backpropagates through Forward: it is what
// reverse-KL training needs.
type ForwardGrader interface {
	Layer
	// ForwardBackward follows Forward(x, z, c, logdet, work) with the same
	// z, x, c and work. Given dx = ∂L/∂x and dld[i] = ∂L/∂logdet[i], it
	// writes dz = ∂L/∂z, adds ∂L/∂θ into grad (length NumParams) and, when
	// dc is not nil, adds ∂L/∂c into dc (n×C).
	ForwardBackward(dz, dc, dx, dld, z, x, c, work, grad []float64)
}

// checkRows panics unless a and b hold n rows of width d: the shapes are
// caller mistakes, named in the message.
func checkRows[T kernElem](method string, d int, logdet []T, bufs ...[]T) {
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
func (p *Permutation) ContextDim() int      { return 0 }

// Forward sets x_i = z_{perm[i]}.
func (p *Permutation) Forward(x, z, _, logdet, _ []float64) {
	checkRows("Permutation.Forward", len(p.perm), logdet, x, z)
	gatherRows(x, z, p.perm)
}

// Inverse sets z_{perm[i]} = x_i, that is z_i = x_{inv[i]}.
func (p *Permutation) Inverse(z, x, _, logdet, _ []float64) {
	checkRows("Permutation.Inverse", len(p.perm), logdet, x, z)
	gatherRows(z, x, p.inv)
}

// ForwardBackward: x_i = z_{perm[i]}, so ∂L/∂z_{perm[i]} = ∂L/∂x_i.
func (p *Permutation) ForwardBackward(dz, _, dx, _, _, _, _, _, _ []float64) {
	gatherRows(dz, dx, p.inv)
}

// InverseBackward: z_{perm[i]} = x_i, so ∂L/∂x_i = ∂L/∂z_{perm[i]}.
func (p *Permutation) InverseBackward(dx, _, dz, _, _, _, _, _, _ []float64) {
	gatherRows(dx, dz, p.perm)
}

// gatherRows sets dst[r, i] = src[r, idx[i]] for every row r of width
// len(idx).
func gatherRows[T kernElem](dst, src []T, idx []int) {
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
func (v *Inverted) ContextDim() int        { return v.L.ContextDim() }

// Forward applies the wrapped layer's Inverse.
func (v *Inverted) Forward(x, z, c, logdet, work []float64) { v.L.Inverse(x, z, c, logdet, work) }

// Inverse applies the wrapped layer's Forward.
func (v *Inverted) Inverse(z, x, c, logdet, work []float64) { v.L.Forward(z, x, c, logdet, work) }

// inverseDrop is Inverse with the dropout dr (dropout.go): the wrapped
// layer's forwardDrop, or its Forward when it has none.
func (v *Inverted) inverseDrop(z, x, c, logdet, work []float64, dr dropout) {
	if l, ok := v.L.(forwardDropLayer); ok {
		l.forwardDrop(z, x, c, logdet, work, dr)
		return
	}
	v.Inverse(z, x, c, logdet, work)
}

// inverseBackwardDrop is InverseBackward after inverseDrop.
func (v *Inverted) inverseBackwardDrop(dx, dc, dz, dld, x, z, c, work, grad []float64, dr dropout) {
	if l, ok := v.L.(forwardDropLayer); ok {
		l.forwardBackwardDrop(dx, dc, dz, dld, x, z, c, work, grad, dr)
		return
	}
	v.InverseBackward(dx, dc, dz, dld, x, z, c, work, grad)
}

// forwardDrop is Forward with the dropout dr: the wrapped layer's
// inverseDrop, or its Inverse when it has none.
func (v *Inverted) forwardDrop(x, z, c, logdet, work []float64, dr dropout) {
	if l, ok := v.L.(dropLayer); ok {
		l.inverseDrop(x, z, c, logdet, work, dr)
		return
	}
	v.Forward(x, z, c, logdet, work)
}

// forwardBackwardDrop is ForwardBackward after forwardDrop.
func (v *Inverted) forwardBackwardDrop(dz, dc, dx, dld, z, x, c, work, grad []float64, dr dropout) {
	if l, ok := v.L.(dropLayer); ok {
		l.inverseBackwardDrop(dz, dc, dx, dld, z, x, c, work, grad, dr)
		return
	}
	v.ForwardBackward(dz, dc, dx, dld, z, x, c, work, grad)
}

// ForwardBackward backpropagates through the wrapped layer's Inverse. It
// panics if the wrapped layer is not an InverseGrader.
func (v *Inverted) ForwardBackward(dz, dc, dx, dld, z, x, c, work, grad []float64) {
	g, ok := v.L.(InverseGrader)
	if !ok {
		panic(fmt.Sprintf("flow: Inverted.ForwardBackward: %T has no InverseBackward", v.L))
	}
	g.InverseBackward(dz, dc, dx, dld, z, x, c, work, grad)
}

// InverseBackward backpropagates through the wrapped layer's Forward. It
// panics if the wrapped layer is not a ForwardGrader.
func (v *Inverted) InverseBackward(dx, dc, dz, dld, x, z, c, work, grad []float64) {
	g, ok := v.L.(ForwardGrader)
	if !ok {
		panic(fmt.Sprintf("flow: Inverted.InverseBackward: %T has no ForwardBackward", v.L))
	}
	g.ForwardBackward(dx, dc, dz, dld, x, z, c, work, grad)
}

// why32 returns why the layer has no float32 path, or "": it has one when
// the wrapped layer has (layer32, and its why32 says nothing).
func (v *Inverted) why32() string {
	if _, ok := v.L.(layer32); !ok {
		return fmt.Sprintf("the inverted layer %T has no float32 path", v.L)
	}
	if w, ok := v.L.(why32er); ok {
		if why := w.why32(); why != "" {
			return "the inverted layer: " + why
		}
	}
	return ""
}

// forward32, inverse32, inverseBackward32 and forwardBackward32 are the
// wrapped layer's float32 passes with the directions swapped, as Forward,
// Inverse, InverseBackward and ForwardBackward are its float64 ones. They
// are for a layer that why32 accepts; a backward pass the wrapped layer
// does not have panics, as in float64 (hasBackward tells beforehand).

func (v *Inverted) forward32(p, x, z, ctx, logdet, work []float32) {
	v.L.(layer32).inverse32(p, x, z, ctx, logdet, work)
}

func (v *Inverted) inverse32(p, z, x, ctx, logdet, work []float32) {
	v.L.(layer32).forward32(p, z, x, ctx, logdet, work)
}

func (v *Inverted) inverseBackward32(p, dx, dc, dz, dld, x, z, ctx, work, grad []float32) {
	g, ok := v.L.(forwardGrader32)
	if !ok {
		panic(fmt.Sprintf("flow: Inverted.InverseBackward: %T has no float32 ForwardBackward", v.L))
	}
	g.forwardBackward32(p, dx, dc, dz, dld, x, z, ctx, work, grad)
}

func (v *Inverted) forwardBackward32(p, dz, dc, dx, dld, z, x, ctx, work, grad []float32) {
	g, ok := v.L.(inverseGrader32)
	if !ok {
		panic(fmt.Sprintf("flow: Inverted.ForwardBackward: %T has no float32 InverseBackward", v.L))
	}
	g.inverseBackward32(p, dz, dc, dx, dld, z, x, ctx, work, grad)
}
