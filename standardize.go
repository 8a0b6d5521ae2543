// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Standardize is the fixed elementwise affine layer x = shift + scale ⊙ z.
// Placed last in a flow (on the data side) it standardises the data before
// the other layers see it: their input is z = (x − shift) / scale, and the
// log-density of the data includes log|det ∂z/∂x| = −Σ log scale_i. It has
// no trainable parameters.
type Standardize struct {
	shift, scale []float64
	logScale     float64 // Σ log scale_i
}

// NewStandardize returns the layer x = shift + scale ⊙ z. shift and scale
// must have the same length D ≥ 1, hold finite numbers, and scale must be
// positive.
func NewStandardize(shift, scale []float64) (*Standardize, error) {
	if len(shift) == 0 {
		return nil, errors.New("flow: NewStandardize: empty shift")
	}
	if len(shift) != len(scale) {
		return nil, fmt.Errorf("flow: NewStandardize: %d shifts, %d scales", len(shift), len(scale))
	}
	s := &Standardize{shift: append([]float64(nil), shift...), scale: append([]float64(nil), scale...)}
	for i := range shift {
		if math.IsNaN(shift[i]) || math.IsInf(shift[i], 0) {
			return nil, fmt.Errorf("flow: NewStandardize: shift %d is %v", i, shift[i])
		}
		if !(scale[i] > 0) || math.IsInf(scale[i], 0) {
			return nil, fmt.Errorf("flow: NewStandardize: scale %d is %v, want a finite positive number", i, scale[i])
		}
		s.logScale += math.Log(scale[i])
	}
	return s, nil
}

// StandardizeData returns the Standardize layer of the rows of x: shift is
// the column mean and scale the column standard deviation (divisor n). A
// column with zero spread gets scale 1. It returns an error if x has no rows
// or a non-finite entry.
func StandardizeData(x mat.Matrix) (*Standardize, error) {
	if err := CheckFinite(x); err != nil {
		return nil, err
	}
	n, d := x.Dims()
	if n < 1 {
		return nil, errors.New("flow: StandardizeData: no rows")
	}
	mean := make([]float64, d)
	sd := make([]float64, d)
	for j := 0; j < d; j++ {
		m := 0.0
		for i := 0; i < n; i++ {
			m += x.At(i, j)
		}
		m /= float64(n)
		v := 0.0
		for i := 0; i < n; i++ {
			u := x.At(i, j) - m
			v += u * u
		}
		mean[j] = m
		sd[j] = math.Sqrt(v / float64(n))
		if !(sd[j] > 0) || math.IsInf(sd[j], 0) {
			sd[j] = 1
		}
	}
	return NewStandardize(mean, sd)
}

// Shift returns a copy of the shift.
func (s *Standardize) Shift() []float64 { return append([]float64(nil), s.shift...) }

// Scale returns a copy of the scale.
func (s *Standardize) Scale() []float64 { return append([]float64(nil), s.scale...) }

func (s *Standardize) Dim() int             { return len(s.shift) }
func (s *Standardize) NumParams() int       { return 0 }
func (s *Standardize) Params() []float64    { return nil }
func (s *Standardize) BindParams([]float64) {}
func (s *Standardize) WorkLen(int) int      { return 0 }
func (s *Standardize) ContextDim() int      { return 0 }

// Forward sets x = shift + scale ⊙ z and adds Σ log scale_i to logdet.
func (s *Standardize) Forward(x, z, _, logdet, _ []float64) { standardizeForward(s, x, z, logdet) }

// Inverse sets z = (x − shift) / scale and adds −Σ log scale_i to logdet.
func (s *Standardize) Inverse(z, x, _, logdet, _ []float64) { standardizeInverse(s, z, x, logdet) }

func (s *Standardize) forward32(_, x, z, _, logdet, _ []float32) { standardizeForward(s, x, z, logdet) }
func (s *Standardize) inverse32(_, z, x, _, logdet, _ []float32) { standardizeInverse(s, z, x, logdet) }
func (s *Standardize) inverseBackward32(_, dx, _, dz, _, _, _, _, _, _ []float32) {
	standardizeInverseBackward(s, dx, dz)
}
func (s *Standardize) forwardBackward32(_, dz, _, dx, _, _, _, _, _, _ []float32) {
	standardizeForwardBackward(s, dz, dx)
}

// standardizeForward is Forward for either element type (shift, scale and
// Σ log scale_i rounded to T).
func standardizeForward[T kernElem](s *Standardize, x, z, logdet []T) {
	d := len(s.shift)
	checkRows("Standardize.Forward", d, logdet, x, z)
	for r := range logdet {
		xr, zr := x[r*d:r*d+d], z[r*d:r*d+d]
		for i, v := range zr {
			xr[i] = T(s.shift[i]) + T(s.scale[i])*v
		}
		logdet[r] += T(s.logScale)
	}
}

// standardizeInverse is Inverse for either element type.
func standardizeInverse[T kernElem](s *Standardize, z, x, logdet []T) {
	d := len(s.shift)
	checkRows("Standardize.Inverse", d, logdet, x, z)
	for r := range logdet {
		xr, zr := x[r*d:r*d+d], z[r*d:r*d+d]
		for i, v := range xr {
			zr[i] = (v - T(s.shift[i])) / T(s.scale[i])
		}
		logdet[r] -= T(s.logScale)
	}
}

// ForwardBackward of x = shift + scale ⊙ z: ∂L/∂z = scale ⊙ ∂L/∂x.
func (s *Standardize) ForwardBackward(dz, _, dx, _, _, _, _, _, _ []float64) {
	standardizeForwardBackward(s, dz, dx)
}

// standardizeForwardBackward is ForwardBackward for either element type
// (scale rounded to T).
func standardizeForwardBackward[T kernElem](s *Standardize, dz, dx []T) {
	d := len(s.scale)
	for r := 0; r*d < len(dx); r++ {
		for i := 0; i < d; i++ {
			dz[r*d+i] = T(s.scale[i]) * dx[r*d+i]
		}
	}
}

// InverseBackward of z = (x − shift) / scale: ∂L/∂x = ∂L/∂z / scale.
func (s *Standardize) InverseBackward(dx, _, dz, _, _, _, _, _, _ []float64) {
	standardizeInverseBackward(s, dx, dz)
}

func standardizeInverseBackward[T kernElem](s *Standardize, dx, dz []T) {
	d := len(s.scale)
	for r := 0; r*d < len(dz); r++ {
		for i := 0; i < d; i++ {
			dx[r*d+i] = dz[r*d+i] / T(s.scale[i])
		}
	}
}

// Standardized returns f with the standardisation of data appended as its
// last, data-side layer (StandardizeData), so that f's layers see data of
// mean zero and unit spread in every column while the returned flow is a
// density of the data on its own scale. Training the returned flow instead
// of f is the natural path for data whose columns are far from unit scale:
// its log-likelihoods are those of the raw data, and the same training
// reaches them much better.
//
// The returned flow shares f's layers, base and parameter vector
// (Standardize has no parameters): training either trains both. It keeps
// f's context dimension and its column and context names.
// Standardized panics if f is nil, and returns an error if data does not
// have f.Dim() columns, has no rows or holds NaN or ±Inf.
func Standardized(f *Flow, data mat.Matrix) (*Flow, error) {
	if f == nil {
		panic("flow: Standardized: nil flow")
	}
	if isNilMatrix(data) {
		panic("flow: Standardized: nil data")
	}
	if _, c := data.Dims(); c != f.d {
		return nil, fmt.Errorf("flow: Standardized: data has %d columns, the flow %d dimensions", c, f.d)
	}
	s, err := StandardizeData(data)
	if err != nil {
		return nil, err
	}
	offs := append(append([]int(nil), f.offs...), f.offs[len(f.offs)-1])
	return &Flow{
		layers: append(f.Layers(), s),
		base:   f.base,
		d:      f.d,
		c:      f.c,
		params: f.params,
		offs:   offs,
		names:  f.Names(),
		cnames: f.ContextNames(),
	}, nil
}
