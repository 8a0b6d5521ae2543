// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// ActNorm is the activation normalisation layer of Glow (Kingma & Dhariwal
// 2018, §3.1): a per-dimension affine map with a trained log-scale s and
// shift b,
//
//	Forward (base → data):  x = z ⊙ exp(s) + b,      log|det ∂x/∂z| =  Σ_i s_i
//	Inverse (data → base):  z = (x − b) ⊙ exp(−s),   log|det ∂z/∂x| = −Σ_i s_i
//
// Its parameters are [s ; b], D values each. A new layer is the identity,
// s = b = 0, and not yet initialised: its data-dependent initialisation is
// an explicit step, InitActNorm, which Fit takes on its first minibatch. It
// sets b to the mean and exp(s) to the standard deviation of each
// dimension of the layer's input (the data passed through the layers on
// the data side of it), so that the layer's output has zero mean and unit
// variance, and marks the layer initialised. The mark (Initialized) is part
// of the model and travels with the model file, so that a layer is
// initialised once: a model read back and trained further keeps what it
// learned.
//
// Apart from the mark, which only InitActNorm (also through Fit),
// FitReverseKL and UnmarshalFlow set (like the parameters, not while other
// calls use the flow) and no pass reads, the layer has no state outside its
// parameters. It has no context.
type ActNorm struct {
	d           int
	params      []float64
	initialized bool
}

// NewActNorm returns an ActNorm layer of dimension d ≥ 1, the identity and
// not initialised.
func NewActNorm(d int) (*ActNorm, error) {
	if err := checkDim(d, 1); err != nil {
		return nil, fmt.Errorf("flow: NewActNorm: %w", err)
	}
	return &ActNorm{d: d, params: make([]float64, 2*d)}, nil
}

// Initialized reports whether the layer's data-dependent initialisation has
// been done (InitActNorm) or is not wanted (FitReverseKL, or a model file
// that says so).
func (a *ActNorm) Initialized() bool { return a.initialized }

// LogScale returns a copy of the log-scale s.
func (a *ActNorm) LogScale() []float64 { return append([]float64(nil), a.params[:a.d]...) }

// Shift returns a copy of the shift b.
func (a *ActNorm) Shift() []float64 { return append([]float64(nil), a.params[a.d:]...) }

func (a *ActNorm) Dim() int          { return a.d }
func (a *ActNorm) NumParams() int    { return 2 * a.d }
func (a *ActNorm) Params() []float64 { return a.params }
func (a *ActNorm) ContextDim() int   { return 0 }

// WorkLen returns D, whatever the number of rows: the pass keeps exp(±s).
func (a *ActNorm) WorkLen(int) int { return a.d }

func (a *ActNorm) BindParams(p []float64) {
	copy(p, a.params)
	a.params = p
}

// Forward sets x = z ⊙ exp(s) + b and adds Σ s to logdet. work keeps
// exp(s).
func (a *ActNorm) Forward(x, z, _, logdet, work []float64) {
	actNormForward(a, a.params, x, z, logdet, work)
}

// Inverse sets z = (x − b) ⊙ exp(−s) and adds −Σ s to logdet. work keeps
// exp(−s).
func (a *ActNorm) Inverse(z, x, _, logdet, work []float64) {
	actNormInverse(a, a.params, z, x, logdet, work)
}

// actNormForward is Forward for either element type with the parameters
// p = [s ; b]: exp(s_i) is math.Exp of the widened value, rounded once to
// T, and the log-det Σ s is summed in T.
func actNormForward[T kernElem](a *ActNorm, p, x, z, logdet, work []T) {
	d := a.d
	checkRows("ActNorm.Forward", d, logdet, x, z)
	s, b, e := p[:d], p[d:2*d], work[:d]
	var ld T
	for i, v := range s {
		e[i] = T(math.Exp(float64(v)))
		ld += v
	}
	for r := range logdet {
		xr, zr := x[r*d:r*d+d], z[r*d:r*d+d]
		for i, v := range zr {
			xr[i] = v*e[i] + b[i]
		}
		logdet[r] += ld
	}
}

// actNormInverse is Inverse for either element type with the parameters
// p = [s ; b].
func actNormInverse[T kernElem](a *ActNorm, p, z, x, logdet, work []T) {
	d := a.d
	checkRows("ActNorm.Inverse", d, logdet, x, z)
	s, b, e := p[:d], p[d:2*d], work[:d]
	var ld T
	for i, v := range s {
		e[i] = T(math.Exp(-float64(v)))
		ld += v
	}
	for r := range logdet {
		xr, zr := x[r*d:r*d+d], z[r*d:r*d+d]
		for i, v := range xr {
			zr[i] = (v - b[i]) * e[i]
		}
		logdet[r] -= ld
	}
}

// ForwardBackward of x = z ⊙ e + b, e = exp(s), ld = Σ s, per row r and
// dimension i:
//
//	∂L/∂z_ri = dx_ri·e_i
//	∂L/∂b_i  = Σ_r dx_ri
//	∂L/∂s_i  = Σ_r (dx_ri·z_ri·e_i + dld_r)     (∂x_ri/∂s_i = z_ri·e_i, ∂ld/∂s_i = 1)
func (a *ActNorm) ForwardBackward(dz, _, dx, dld, z, _, _, work, grad []float64) {
	actNormForwardBackward(a, dz, dx, dld, z, work, grad)
}

// actNormForwardBackward is ForwardBackward for either element type, after
// a Forward that left e = exp(s) in work.
func actNormForwardBackward[T kernElem](a *ActNorm, dz, dx, dld, z, work, grad []T) {
	d := a.d
	e := work[:d]
	gs, gb := grad[:d], grad[d:2*d]
	var sum T
	for r, g := range dld {
		dxr, dzr, zr := dx[r*d:r*d+d], dz[r*d:r*d+d], z[r*d:r*d+d]
		for i, v := range dxr {
			ve := v * e[i]
			dzr[i] = ve
			gb[i] += v
			gs[i] += ve * zr[i]
		}
		sum += g
	}
	for i := range gs {
		gs[i] += sum
	}
}

// InverseBackward of z = (x − b) ⊙ e, e = exp(−s), ld = −Σ s (see
// actNormInverseBackward).
func (a *ActNorm) InverseBackward(dx, _, dz, dld, _, z, _, work, grad []float64) {
	actNormInverseBackward(a, dx, dz, dld, z, work, grad)
}

// actNormInverseBackward is InverseBackward for either element type, after
// an Inverse that left e = exp(−s) in work. Per row r and dimension i:
//
//	∂L/∂x_ri = dz_ri·e_i
//	∂L/∂b_i  = −Σ_r dz_ri·e_i
//	∂L/∂s_i  = −Σ_r (dz_ri·z_ri + dld_r)        (∂z_ri/∂s_i = −(x_ri − b_i)·e_i = −z_ri, ∂ld/∂s_i = −1)
func actNormInverseBackward[T kernElem](a *ActNorm, dx, dz, dld, z, work, grad []T) {
	d := a.d
	e := work[:d]
	gs, gb := grad[:d], grad[d:2*d]
	var sum T
	for r, g := range dld {
		dxr, dzr, zr := dx[r*d:r*d+d], dz[r*d:r*d+d], z[r*d:r*d+d]
		for i, v := range dzr {
			ve := v * e[i]
			dxr[i] = ve
			gb[i] -= ve
			gs[i] -= v * zr[i]
		}
		sum += g
	}
	for i := range gs {
		gs[i] -= sum
	}
}

// why32 returns why the layer cannot run in float32 as it is, or "": an
// ActNorm not yet initialised cannot. Its data-dependent initialisation is
// a float64 step on the float64 flow (InitActNorm, Fit's first minibatch)
// that a float32 copy would not see; trained in float32 and converted
// back, the layer would keep its mark "not initialised", and a later Fit
// would overwrite what it learned.
func (a *ActNorm) why32() string {
	if !a.initialized {
		return "ActNorm is not initialised: initialise it (InitActNorm) on the float64 flow first"
	}
	return ""
}

// forward32, inverse32, inverseBackward32 and forwardBackward32 are
// Forward, Inverse, InverseBackward and ForwardBackward in float32 with the
// parameters p, [s ; b] (the layer's window of a float32 vector), from the
// same source (actNormForward, actNormInverse, actNormInverseBackward,
// actNormForwardBackward). They are for an initialised layer only (why32).

func (a *ActNorm) forward32(p, x, z, _, logdet, work []float32) {
	actNormForward(a, p, x, z, logdet, work)
}

func (a *ActNorm) inverse32(p, z, x, _, logdet, work []float32) {
	actNormInverse(a, p, z, x, logdet, work)
}

func (a *ActNorm) inverseBackward32(_, dx, _, dz, dld, _, z, _, work, grad []float32) {
	actNormInverseBackward(a, dx, dz, dld, z, work, grad)
}

func (a *ActNorm) forwardBackward32(_, dz, _, dx, dld, z, _, _, work, grad []float32) {
	actNormForwardBackward(a, dz, dx, dld, z, work, grad)
}

// normStats returns the column means and standard deviations (divisor n)
// of the n rows of width d in rows, summing over the rows in order, into
// mean and sd. It returns an error naming the first column whose mean is
// not finite or whose spread cannot be scaled to 1: zero, not finite, or
// so small that its reciprocal overflows.
func normStats(mean, sd, rows []float64, n, d int) error {
	for j := 0; j < d; j++ {
		m := 0.0
		for i := 0; i < n; i++ {
			m += rows[i*d+j]
		}
		m /= float64(n)
		v := 0.0
		for i := 0; i < n; i++ {
			u := rows[i*d+j] - m
			v += u * u
		}
		s := math.Sqrt(v / float64(n))
		if !isFinite(m) || !(s > 0) || math.IsInf(s, 0) || math.IsInf(1/s, 0) {
			return fmt.Errorf("column %d of its input has mean %v and standard deviation %v over %d rows: it cannot be scaled to unit variance", j, m, s, n)
		}
		mean[j], sd[j] = m, s
	}
	return nil
}

// InitActNorm takes the data-dependent initialisation of every ActNorm
// layer of f that is not yet initialised, and returns how many it
// initialised. It walks the layers in the data → base direction (the last
// layer first), passing the rows of x (n×D, with their contexts c, n×C, for
// a conditional flow; nil otherwise) through them with their Inverse. At
// each ActNorm layer not yet initialised it sets, for each dimension i of
// the layer's input u (x passed through the layers on its data side,
// those initialised on the way included),
//
//	b_i = mean_r u_ri,   s_i = log sd_r(u_ri)   (standard deviation with divisor n)
//
// so that the layer's output (u − b) ⊙ exp(−s) has mean 0 and variance 1 in
// every dimension, and marks the layer initialised. The result depends on
// the rows and their order alone, not on the number of goroutines. Only
// ActNorm layers themselves are initialised, not ones wrapped by Invert.
// With no ActNorm layer to initialise it does nothing and returns 0.
//
// Fit calls it on its first minibatch. It panics if f or x is nil, and
// returns an error (changing nothing) if x does not have D columns, has
// fewer than 2 rows or holds NaN or ±Inf, if c is missing for a
// conditional flow, given for an unconditional one, of the wrong shape or
// not finite, or if some dimension of an ActNorm layer's input has no
// spread to scale: a constant column, or one whose mean or standard
// deviation is not finite. Like writing the parameters, it must not run
// while other calls use f.
func InitActNorm(f *Flow, x, c mat.Matrix) (int, error) {
	const method = "InitActNorm"
	if f == nil {
		panic("flow: InitActNorm: nil flow")
	}
	if isNilMatrix(x) {
		panic("flow: InitActNorm: nil x")
	}
	if actNormToInit(f) < 0 {
		return 0, nil
	}
	data, ctx, n, err := checkRowsContexts(method, f, x, c)
	if err != nil {
		return 0, err
	}
	return initActNorm(method, "the rows of x", f, data, ctx, n)
}

// actNormToInit returns the index of the base-most ActNorm layer of f that
// is not initialised, or −1 if there is none.
func actNormToInit(f *Flow) int {
	first := -1
	for l, layer := range f.layers {
		if a, ok := layer.(*ActNorm); ok && !a.initialized {
			first = l
			break
		}
	}
	return first
}

// initActNorm is InitActNorm on the n rows x (n×D, row-major, finite) with
// their contexts ctx (n×C, or nil), called what in errors. On an error the
// layers it had initialised are put back as they were.
func initActNorm(method, what string, f *Flow, x, ctx []float64, n int) (int, error) {
	first := actNormToInit(f)
	if first < 0 {
		return 0, nil
	}
	d, nc := f.d, f.c
	if n < 2 {
		return 0, fmt.Errorf("flow: %s: ActNorm's initialisation needs at least 2 rows to measure a spread, %s has %d", method, what, n)
	}
	type saved struct {
		a      *ActNorm
		params []float64
	}
	var done []saved
	undo := func() {
		for _, s := range done {
			copy(s.a.params, s.params)
			s.a.initialized = false
		}
	}
	wl := 0
	for _, layer := range f.layers[first:] {
		wl = max(wl, layer.WorkLen(evalShard))
	}
	work := make([]float64, wl)
	ld := make([]float64, evalShard)
	mean, sd := make([]float64, d), make([]float64, d)
	bufs := [2][]float64{make([]float64, n*d), make([]float64, n*d)}
	cur, passes := x, 0
	for l := len(f.layers) - 1; l >= first; l-- {
		layer := f.layers[l]
		if a, ok := layer.(*ActNorm); ok && !a.initialized {
			if err := normStats(mean, sd, cur, n, d); err != nil {
				undo()
				return 0, fmt.Errorf("flow: %s: layer %d (ActNorm), initialised on %s: %w", method, l, what, err)
			}
			done = append(done, saved{a, append([]float64(nil), a.params...)})
			for i := range mean {
				a.params[i] = math.Log(sd[i])
				a.params[d+i] = mean[i]
			}
			a.initialized = true
		}
		if l == first {
			break
		}
		next := bufs[passes%2] // cur is x or the other buffer
		passes++
		for lo := 0; lo < n; lo += evalShard {
			hi := min(lo+evalShard, n)
			var c []float64
			if nc > 0 {
				c = ctx[lo*nc : hi*nc]
			}
			clear(ld)
			layer.Inverse(next[lo*d:hi*d], cur[lo*d:hi*d], c, ld[:hi-lo], work)
		}
		cur = next
	}
	return len(done), nil
}

// checkRowsContexts returns the rows of x (n×D for the flow f) and their
// contexts c (nil for an unconditional flow) as row-major slices, or an
// error that names method if the shapes disagree with f or a value is not
// finite. x is not nil.
func checkRowsContexts(method string, f *Flow, x, c mat.Matrix) (data, ctx []float64, n int, err error) {
	n, cols := x.Dims()
	if cols != f.d {
		return nil, nil, 0, fmt.Errorf("flow: %s: x has %d columns, the flow %d dimensions", method, cols, f.d)
	}
	if i, j, v, bad := firstNonFinite(x); bad {
		return nil, nil, 0, fmt.Errorf("flow: %s: x row %d, column %d is %v", method, i, j, v)
	}
	switch {
	case isNilMatrix(c) && f.c > 0:
		return nil, nil, 0, fmt.Errorf("flow: %s: the flow is conditional (C = %d), but c is nil: it must hold the contexts of the rows of x", method, f.c)
	case !isNilMatrix(c) && f.c == 0:
		return nil, nil, 0, fmt.Errorf("flow: %s: c is set, but the flow has no context (C = 0)", method)
	case f.c > 0:
		r, k := c.Dims()
		if r != n || k != f.c {
			return nil, nil, 0, fmt.Errorf("flow: %s: c is %d×%d, want %d×%d (a context of C = %d for each row of x)", method, r, k, n, f.c, f.c)
		}
		if i, j, v, bad := firstNonFinite(c); bad {
			return nil, nil, 0, fmt.Errorf("flow: %s: context row %d, column %d is %v", method, i, j, v)
		}
		ctx = rawRows(c)
	}
	return rawRows(x), ctx, n, nil
}
