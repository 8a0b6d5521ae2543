// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// LUConfig configures an LU-factored linear layer.
type LUConfig struct {
	// Dim is D ≥ 1.
	Dim int
	// Perm is the fixed permutation P of W = P·L·U: (P·v)_i = v_{Perm[i]},
	// as for NewPermutation. nil means the identity. It is stored in the
	// model, not trained.
	Perm []int
	// Signs are the fixed signs of U's diagonal, each +1 or −1. nil means
	// all +1, which makes the new layer the identity. They are stored in
	// the model, not trained.
	Signs []int
}

// LULinear is the invertible linear layer with an LU-factored matrix
// (Kingma & Dhariwal 2018, "Glow", §3.2):
//
//	Inverse (data → base):  z = W·x + b,          log|det ∂z/∂x| =  Σ_i log|u_ii|
//	Forward (base → data):  x = W⁻¹·(z − b),      log|det ∂x/∂z| = −Σ_i log|u_ii|
//
// with W = P·L·U: P a fixed permutation (LUConfig.Perm), L unit lower
// triangular, U upper triangular with u_ii = sign_i·exp(ℓ_i), the signs
// fixed (LUConfig.Signs) and ℓ_i = log|u_ii| trained, and b a trained bias.
// The density direction, Inverse, is the one that maximum-likelihood
// training runs, so it is the one matrix product (W is composed from its
// factors once per call and applied with the dense kernels); sampling,
// Forward, takes the two triangular solves, row by row, and the
// permutation. The log-determinant is read off U's diagonal in both.
//
// Its parameters, NumParams = D² + D of them, are laid out as
//
//	[L's strict lower part, D(D−1)/2 ; U's strict upper part, D(D−1)/2 ; ℓ, D ; b, D]
//
// each triangle row by row: L's as L[1,0], L[2,0], L[2,1], L[3,0], …, U's as
// U[0,1], …, U[0,D−1], U[1,2], …. Every parameter of a new layer is zero,
// so W = P·diag(signs) and b = 0: the identity with the default
// permutation and signs. It has no context.
type LULinear struct {
	d      int
	perm   []int
	sign   []float64
	params []float64
}

// NewLULinear returns the LU-factored linear layer of cfg, or an error
// saying what is wrong with the configuration.
func NewLULinear(cfg LUConfig) (*LULinear, error) {
	d := cfg.Dim
	if err := checkDim(d, 1); err != nil {
		return nil, fmt.Errorf("flow: NewLULinear: %w", err)
	}
	if err := checkSize("the layer", luSize(d)); err != nil {
		return nil, fmt.Errorf("flow: NewLULinear: %w", err)
	}
	l := &LULinear{d: d, perm: make([]int, d), sign: make([]float64, d)}
	if cfg.Perm == nil {
		for i := range l.perm {
			l.perm[i] = i
		}
	} else {
		if len(cfg.Perm) != d {
			return nil, fmt.Errorf("flow: NewLULinear: permutation of %d entries for dimension %d", len(cfg.Perm), d)
		}
		seen := make([]int, d)
		for i, p := range cfg.Perm {
			if p < 0 || p >= d {
				return nil, fmt.Errorf("flow: NewLULinear: permutation entry %d is %d, outside [0, %d)", i, p, d)
			}
			if seen[p] > 0 {
				return nil, fmt.Errorf("flow: NewLULinear: permutation: %d appears twice (entries %d and %d)", p, seen[p]-1, i)
			}
			seen[p] = i + 1
		}
		copy(l.perm, cfg.Perm)
	}
	switch {
	case cfg.Signs == nil:
		for i := range l.sign {
			l.sign[i] = 1
		}
	case len(cfg.Signs) != d:
		return nil, fmt.Errorf("flow: NewLULinear: %d signs for dimension %d", len(cfg.Signs), d)
	default:
		for i, s := range cfg.Signs {
			if s != 1 && s != -1 {
				return nil, fmt.Errorf("flow: NewLULinear: sign %d is %d, want +1 or −1", i, s)
			}
			l.sign[i] = float64(s)
		}
	}
	l.params = make([]float64, d*d+d)
	return l, nil
}

// luSize returns the parameter count and the workspace of an LU layer of
// dimension d (see LULinear.WorkLen, which does not depend on the rows).
func luSize(d int) footprint {
	fd := float64(d)
	return footprint{fd*fd + fd, 6*fd*fd + 2*fd}
}

// Perm returns a copy of the permutation P: (P·v)_i = v_{Perm()[i]}.
func (l *LULinear) Perm() []int { return append([]int(nil), l.perm...) }

// Signs returns a copy of the signs of U's diagonal.
func (l *LULinear) Signs() []int {
	s := make([]int, l.d)
	for i, v := range l.sign {
		s[i] = int(v)
	}
	return s
}

// Matrix returns W = P·L·U, D×D, for the current parameters.
func (l *LULinear) Matrix() *mat.Dense {
	d := l.d
	lo, up := make([]float64, d*d), make([]float64, d*d)
	luFactors(l, l.params, lo, up)
	w := mat.NewDense(d, d, nil)
	for i := 0; i < d; i++ {
		r := l.perm[i] // row i of W is row perm[i] of L·U
		for j := 0; j < d; j++ {
			s := 0.0
			for k := 0; k <= min(r, j); k++ {
				s += lo[r*d+k] * up[k*d+j]
			}
			w.Set(i, j, s)
		}
	}
	return w
}

// Bias returns a copy of the bias b.
func (l *LULinear) Bias() []float64 { return append([]float64(nil), l.bias()...) }

func (l *LULinear) Dim() int          { return l.d }
func (l *LULinear) NumParams() int    { return len(l.params) }
func (l *LULinear) Params() []float64 { return l.params }
func (l *LULinear) ContextDim() int   { return 0 }

func (l *LULinear) BindParams(p []float64) {
	copy(p, l.params)
	l.params = p
}

// denseCost counts the one D×D product of a pass (docs/design.md §3). The
// composition of W and the factors' share of the gradient, O(D³) per call
// and not per row, are not counted.
func (l *LULinear) denseCost() int { return l.d * l.d }

// luParts returns the windows of p, an LU layer's parameters of dimension
// d: L's strict lower part, U's strict upper part, ℓ and b.
func luParts[T kernElem](d int, p []T) (lw, uw, ld, b []T) {
	m := d * (d - 1) / 2
	return p[:m], p[m : 2*m], p[2*m : 2*m+d], p[d*d : d*d+d]
}

// The windows of the layer's own parameter vector.
func (l *LULinear) lower() []float64 {
	lw, _, _, _ := luParts(l.d, l.params)
	return lw
}
func (l *LULinear) upper() []float64 {
	_, uw, _, _ := luParts(l.d, l.params)
	return uw
}
func (l *LULinear) logDiag() []float64 {
	_, _, ld, _ := luParts(l.d, l.params)
	return ld
}
func (l *LULinear) bias() []float64 {
	_, _, _, b := luParts(l.d, l.params)
	return b
}

// luWork is the layout of the workspace: dense L and U, W = P·L·U, and
// D×D scratch g, h and t (h holds P·L while W is composed), then two
// vectors of D.
type luWork[T kernElem] struct {
	lo, up, w, g, h, t []T
	vec, row           []T
}

func luSplit[T kernElem](l *LULinear, work []T) luWork[T] {
	d2 := l.d * l.d
	take := func(m int) []T {
		s := work[:m:m]
		work = work[m:]
		return s
	}
	var w luWork[T]
	w.lo, w.up, w.w, w.g, w.h, w.t = take(d2), take(d2), take(d2), take(d2), take(d2), take(d2)
	w.vec, w.row = take(l.d), take(l.d)
	return w
}

// WorkLen returns 6·D² + 2·D, whatever the number of rows.
func (l *LULinear) WorkLen(int) int { return 6*l.d*l.d + 2*l.d }

// luFactors writes the dense D×D L (unit diagonal, zero above it) and U
// (u_ii = sign_i·exp(ℓ_i), zero below the diagonal) of the parameters p
// into lo and up, and returns Σ ℓ_i, in either element type: exp(ℓ_i) is
// math.Exp of the widened value, rounded once to T, and the sum is taken
// in T.
func luFactors[T kernElem](l *LULinear, p, lo, up []T) T {
	d := l.d
	clear(lo)
	clear(up)
	lw, uw, ld, _ := luParts(d, p)
	k := 0
	for i := 1; i < d; i++ {
		copy(lo[i*d:i*d+i], lw[k:k+i])
		k += i
	}
	k = 0
	for i := 0; i < d; i++ {
		lo[i*d+i] = 1
		up[i*d+i] = T(l.sign[i]) * T(math.Exp(float64(ld[i])))
		copy(up[i*d+i+1:i*d+d], uw[k:k+d-1-i])
		k += d - 1 - i
	}
	var s T
	for _, v := range ld {
		s += v
	}
	return s
}

// Inverse sets z = W·x + b for every row, W = P·L·U composed into the
// workspace, and adds Σ log|u_ii| to logdet.
func (l *LULinear) Inverse(z, x, _, logdet, work []float64) {
	luInverse(l, l.params, z, x, logdet, work)
}

// luInverse is Inverse for either element type with the parameters p.
func luInverse[T kernElem](l *LULinear, p, z, x, logdet, work []T) {
	d := l.d
	checkRows("LULinear.Inverse", d, logdet, x, z)
	w := luSplit(l, work)
	ld := luFactors(l, p, w.lo, w.up)
	_, _, _, b := luParts(d, p)
	// P·L: row i is row perm[i] of L; then W = (P·L)·U, dX = dY·W with dY = P·L.
	for i, r := range l.perm {
		copy(w.h[i*d:i*d+d], w.lo[r*d:r*d+d])
	}
	denseBackwardX(w.w, w.h, w.up, d, d, d)
	denseForward(z, x, w.w, b, len(logdet), d, d)
	for i := range logdet {
		logdet[i] += ld
	}
}

// Forward sets x = W⁻¹·(z − b) = U⁻¹·L⁻¹·Pᵀ·(z − b) for every row and adds
// −Σ log|u_ii| to logdet (see luForward).
func (l *LULinear) Forward(x, z, _, logdet, work []float64) {
	luForward(l, l.params, x, z, logdet, work)
}

// luForward is Forward for either element type with the parameters p. Per
// row, in place in x: v = Pᵀ(z − b), that is v_{perm[i]} = z_i − b_i; then
// L·y = v by forward substitution (L's unit diagonal) and U·x = y by back
// substitution.
func luForward[T kernElem](l *LULinear, p, x, z, logdet, work []T) {
	d := l.d
	checkRows("LULinear.Forward", d, logdet, x, z)
	w := luSplit(l, work)
	ld := luFactors(l, p, w.lo, w.up)
	_, _, _, b := luParts(d, p)
	lo, up := w.lo, w.up
	for r := range logdet {
		xr, zr := x[r*d:r*d+d], z[r*d:r*d+d]
		for i, j := range l.perm {
			xr[j] = zr[i] - b[i]
		}
		for i := 1; i < d; i++ {
			s := xr[i]
			for k, v := range lo[i*d : i*d+i] {
				s -= v * xr[k]
			}
			xr[i] = s
		}
		for i := d - 1; i >= 0; i-- {
			s := xr[i]
			for k, v := range up[i*d+i+1 : i*d+d] {
				s -= v * xr[i+1+k]
			}
			xr[i] = s / up[i*d+i]
		}
		logdet[r] -= ld
	}
}

// InverseBackward backpropagates through Inverse (see luInverseBackward).
func (l *LULinear) InverseBackward(dx, _, dz, dld, x, _, _, work, grad []float64) {
	luInverseBackward(l, dx, dz, dld, x, work, grad)
}

// luInverseBackward is InverseBackward for either element type, after an
// Inverse that left L, U and W in work. Of z = W·x + b, ld = Σ ℓ_i, per
// row r:
//
//	∂L/∂x_r = Wᵀ·dz_r                    (dX = dZ·W)
//	∂L/∂b   = Σ_r dz_r
//	∂L/∂W   = Σ_r dz_r·x_rᵀ              (dW = dZᵀ·X)
//	∂L/∂ℓ_i += Σ_r dld_r                 (through the log-det)
//
// and ∂L/∂W through the factors, as luChain writes out.
func luInverseBackward[T kernElem](l *LULinear, dx, dz, dld, x, work, grad []T) {
	d, n := l.d, len(dld)
	w := luSplit(l, work)
	denseBackwardX(dx, dz, w.w, n, d, d)
	clear(w.g)
	denseBackwardW(w.g, grad[d*d:], dz, x, n, d, d)
	var s T
	for _, v := range dld {
		s += v
	}
	luChain(l, w, grad, s)
}

// forward32, inverse32, inverseBackward32 and forwardBackward32 are
// Forward, Inverse, InverseBackward and ForwardBackward in float32 with the
// parameters p (the layer's window of a float32 vector, laid out as
// Params), from the same source (luForward, luInverse, luInverseBackward,
// luForwardBackward): W is composed and applied, the triangular systems
// solved, and the factors' gradients formed, in float32.

func (l *LULinear) forward32(p, x, z, _, logdet, work []float32) {
	luForward(l, p, x, z, logdet, work)
}

func (l *LULinear) inverse32(p, z, x, _, logdet, work []float32) {
	luInverse(l, p, z, x, logdet, work)
}

func (l *LULinear) inverseBackward32(_, dx, _, dz, dld, x, _, _, work, grad []float32) {
	luInverseBackward(l, dx, dz, dld, x, work, grad)
}

func (l *LULinear) forwardBackward32(_, dz, _, dx, dld, _, x, _, work, grad []float32) {
	luForwardBackward(l, dz, dx, dld, x, work, grad)
}

// ForwardBackward of x = W⁻¹·(z − b), ld = −Σ ℓ_i. Differentiating
// W·x = z − b gives dW·x + W·dx = dz − db, so dx = W⁻¹·(dz − db − dW·x)
// and, with g_r = W⁻ᵀ·∂L/∂x_r, per row r:
//
//	∂L/∂z_r = g_r
//	∂L/∂b   = −Σ_r g_r
//	∂L/∂W   = −Σ_r g_r·x_rᵀ
//	∂L/∂ℓ_i += −Σ_r dld_r                (through the log-det)
//
// g_r = W⁻ᵀ·dx_r = P·L⁻ᵀ·U⁻ᵀ·dx_r (P⁻ᵀ = P): solve Uᵀ·a = dx_r, a lower
// triangular system, column by column from the first (a_k = a_k/u_kk, then
// a_j −= u_kj·a_k for j > k, reading row k of U), then Lᵀ·c = a, a unit
// upper triangular one, from the last (c_k = a_k, then a_j −= l_kj·c_k for
// j < k, reading row k of L), and g_r,i = c_{perm[i]}. ∂L/∂W then goes
// through the factors as in InverseBackward (luChain).
func (l *LULinear) ForwardBackward(dz, _, dx, dld, _, x, _, work, grad []float64) {
	luForwardBackward(l, dz, dx, dld, x, work, grad)
}

// luForwardBackward is ForwardBackward for either element type, after a
// Forward that left L and U in work.
func luForwardBackward[T kernElem](l *LULinear, dz, dx, dld, x, work, grad []T) {
	d, n := l.d, len(dld)
	w := luSplit(l, work)
	lo, up, a := w.lo, w.up, w.row
	for r := 0; r < n; r++ {
		copy(a, dx[r*d:r*d+d])
		for k := 0; k < d; k++ {
			a[k] /= up[k*d+k]
			ak := a[k]
			for j, v := range up[k*d+k+1 : k*d+d] {
				a[k+1+j] -= v * ak
			}
		}
		for k := d - 1; k > 0; k-- {
			ck := a[k]
			for j, v := range lo[k*d : k*d+k] {
				a[j] -= v * ck
			}
		}
		dzr := dz[r*d : r*d+d]
		for i, p := range l.perm {
			dzr[i] = a[p]
		}
	}
	clear(w.g)
	clear(w.vec)
	denseBackwardW(w.g, w.vec, dz, x, n, d, d)
	gb := grad[d*d:]
	for i, v := range w.vec {
		gb[i] -= v
	}
	for i, v := range w.g {
		w.g[i] = -v
	}
	var s T
	for _, v := range dld {
		s -= v
	}
	luChain(l, w, grad, s)
}

// luChain adds ∂L/∂W, held in w.g, into the gradients of the factors, and
// ldTerm, the loss's derivative through the log-det Σ ℓ_i, into each
// ∂L/∂ℓ_i. With W = P·M, M = L·U, and (P·M)_i = M_{perm[i]}:
//
//	H = ∂L/∂M:       H[perm[i], :] = ∂L/∂W[i, :]
//	∂L/∂L[i,k] = Σ_j H[i,j]·U[k,j] = (H·Uᵀ)[i,k]    for i > k
//	∂L/∂U[k,j] = Σ_i L[i,k]·H[i,j] = (Lᵀ·H)[k,j]    for k ≤ j
//	∂L/∂ℓ_k    = ∂L/∂U[k,k]·u_kk + ldTerm           (u_kk = sign_k·exp(ℓ_k))
//
// The two products are dense kernels on the D×D matrices (denseForward
// computes H·Uᵀ, denseBackwardW accumulates Lᵀ·H), of which the triangles
// are read. It is written once for either element type.
func luChain[T kernElem](l *LULinear, w luWork[T], grad []T, ldTerm T) {
	d := l.d
	m := d * (d - 1) / 2
	for i, r := range l.perm {
		copy(w.h[r*d:r*d+d], w.g[i*d:i*d+d])
	}
	clear(w.vec)
	denseForward(w.t, w.h, w.up, w.vec, d, d, d)
	gl, gu, gd := grad[:m], grad[m:2*m], grad[2*m:2*m+d]
	k := 0
	for i := 1; i < d; i++ {
		for j, v := range w.t[i*d : i*d+i] {
			gl[k+j] += v
		}
		k += i
	}
	clear(w.t)
	denseBackwardW(w.t, w.vec, w.lo, w.h, d, d, d)
	k = 0
	for i := 0; i < d; i++ {
		gd[i] += w.t[i*d+i]*w.up[i*d+i] + ldTerm
		for j, v := range w.t[i*d+i+1 : i*d+d] {
			gu[k+j] += v
		}
		k += d - 1 - i
	}
}
