// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import "math"

// This file holds the plain-Go reference of every kernel the layers call.
// Each reference is the specification of its kernel: the loop it computes is
// written out below, and the assembly versions (asm_amd64.s, asm_arm64.s) are
// tested against it. The layers never call a *Ref function directly; they call
// the dispatching name without the suffix (kernels_noasm.go, kernels_amd64.go,
// kernels_arm64.go).
//
// All matrices are row-major with no padding: an r×c matrix A holds A[i,j]
// at A[i*c+j]. Dense weights are out×in, so that y = W·x + b for a row x.

// denseForwardRef computes Y = X·Wᵀ + b, overwriting Y.
//
//	for i < n, k < out: Y[i,k] = b[k] + Σ_{j<in} X[i,j]·W[k,j]
//
// X is n×in, W is out×in, b has length out, Y is n×out.
func denseForwardRef[T float32 | float64](y, x, w, b []T, n, in, out int) {
	for i := 0; i < n; i++ {
		xi := x[i*in : i*in+in]
		yi := y[i*out : i*out+out]
		for k := 0; k < out; k++ {
			wk := w[k*in : k*in+in]
			var s T
			for j, v := range xi {
				s += v * wk[j]
			}
			yi[k] = s + b[k]
		}
	}
}

// denseBackwardXRef computes dX = dY·W, overwriting dX.
//
//	for i < n, j < in: dX[i,j] = Σ_{k<out} dY[i,k]·W[k,j]
//
// dY is n×out, W is out×in, dX is n×in.
func denseBackwardXRef[T float32 | float64](dx, dy, w []T, n, in, out int) {
	for i := 0; i < n; i++ {
		dxi := dx[i*in : i*in+in]
		for j := range dxi {
			dxi[j] = 0
		}
		dyi := dy[i*out : i*out+out]
		for k, g := range dyi {
			wk := w[k*in : k*in+in]
			for j, v := range wk {
				dxi[j] += g * v
			}
		}
	}
}

// denseBackwardWRef accumulates dW += dYᵀ·X and db += colsum(dY).
//
//	for k < out, j < in: dW[k,j] += Σ_{i<n} dY[i,k]·X[i,j]
//	for k < out:         db[k]   += Σ_{i<n} dY[i,k]
//
// dY is n×out, X is n×in, dW is out×in, db has length out. The sums over i
// run in increasing i, so the result depends only on the inputs.
func denseBackwardWRef[T float32 | float64](dw, db, dy, x []T, n, in, out int) {
	for i := 0; i < n; i++ {
		xi := x[i*in : i*in+in]
		dyi := dy[i*out : i*out+out]
		for k, g := range dyi {
			db[k] += g
			dwk := dw[k*in : k*in+in]
			for j, v := range xi {
				dwk[j] += g * v
			}
		}
	}
}

// maskedForwardRef computes Y = X·Wᵀ + b where row k of W is used only on
// its first lim[k] columns (a staircase mask, as MADE's masks become when the
// units of both layers are sorted by degree):
//
//	for i < n, k < out: Y[i,k] = b[k] + Σ_{j<lim[k]} X[i,j]·W[k,j]
//
// The entries W[k,j] with j ≥ lim[k] are never read.
func maskedForwardRef[T float32 | float64](y, x, w, b []T, lim []int, n, in, out int) {
	for i := 0; i < n; i++ {
		xi := x[i*in : i*in+in]
		yi := y[i*out : i*out+out]
		for k := 0; k < out; k++ {
			wk := w[k*in : k*in+lim[k]]
			var s T
			for j, v := range wk {
				s += xi[j] * v
			}
			yi[k] = s + b[k]
		}
	}
}

// maskedBackwardXRef computes dX = dY·(W∘M), overwriting dX, where M[k,j] = 1
// iff j < lim[k]:
//
//	for i < n, j < in: dX[i,j] = Σ_{k<out, j<lim[k]} dY[i,k]·W[k,j]
func maskedBackwardXRef[T float32 | float64](dx, dy, w []T, lim []int, n, in, out int) {
	for i := 0; i < n; i++ {
		dxi := dx[i*in : i*in+in]
		for j := range dxi {
			dxi[j] = 0
		}
		dyi := dy[i*out : i*out+out]
		for k, g := range dyi {
			wk := w[k*in : k*in+lim[k]]
			for j, v := range wk {
				dxi[j] += g * v
			}
		}
	}
}

// maskedBackwardWRef accumulates the masked weight gradient and the bias
// gradient:
//
//	for k < out, j < lim[k]: dW[k,j] += Σ_{i<n} dY[i,k]·X[i,j]
//	for k < out:             db[k]   += Σ_{i<n} dY[i,k]
//
// dW[k,j] for j ≥ lim[k] is never written, so masked gradients stay exactly
// zero.
func maskedBackwardWRef[T float32 | float64](dw, db, dy, x []T, lim []int, n, in, out int) {
	for i := 0; i < n; i++ {
		xi := x[i*in : i*in+in]
		dyi := dy[i*out : i*out+out]
		for k, g := range dyi {
			db[k] += g
			dwk := dw[k*in : k*in+lim[k]]
			for j := range dwk {
				dwk[j] += g * xi[j]
			}
		}
	}
}

// expRef computes dst[i] = exp(src[i]) with math.Exp's results, including its
// handling of overflow, underflow, NaN and ±Inf.
func expRef(dst, src []float64) {
	for i, v := range src {
		dst[i] = math.Exp(v)
	}
}

// affineInverseRef computes one row of the inverse affine step and returns
// the sum of alpha:
//
//	for d < len(z): z[d] = (x[d] − mu[d])·exp(−alpha[d])
//	return Σ_d alpha[d]
//
// The caller subtracts the returned sum from the row's log-determinant.
// e receives exp(−alpha[d]), which the backward pass needs.
func affineInverseRef(z, e, x, mu, alpha []float64) float64 {
	s := 0.0
	for d, a := range alpha {
		ed := math.Exp(-a)
		e[d] = ed
		z[d] = (x[d] - mu[d]) * ed
		s += a
	}
	return s
}

// affineForwardRef computes one row of the forward affine step and returns
// the sum of alpha:
//
//	for d < len(x): x[d] = z[d]·exp(alpha[d]) + mu[d]
//	return Σ_d alpha[d]
//
// e receives exp(alpha[d]), which the backward pass needs.
func affineForwardRef(x, e, z, mu, alpha []float64) float64 {
	s := 0.0
	for d, a := range alpha {
		ed := math.Exp(a)
		e[d] = ed
		x[d] = z[d]*ed + mu[d]
		s += a
	}
	return s
}

// reluRef applies max(v, 0) in place. A NaN stays NaN, so that a broken
// model is seen rather than hidden.
//
//	for i: h[i] = 0 if h[i] < 0
func reluRef(h []float64) {
	for i, v := range h {
		if v < 0 {
			h[i] = 0
		}
	}
}

// reluBackwardRef masks a gradient by the ReLU's output h:
//
//	for i: dh[i] = 0 if h[i] ≤ 0
func reluBackwardRef(dh, h []float64) {
	for i, v := range h {
		if v <= 0 {
			dh[i] = 0
		}
	}
}

// tanhRef applies tanh in place.
//
//	for i: h[i] = tanh(h[i])
func tanhRef(h []float64) {
	for i, v := range h {
		h[i] = math.Tanh(v)
	}
}

// tanhBackwardRef multiplies a gradient by the derivative of tanh, given the
// output h = tanh(a): d tanh(a)/da = 1 − h².
//
//	for i: dh[i] *= 1 − h[i]²
func tanhBackwardRef(dh, h []float64) {
	for i, v := range h {
		dh[i] *= 1 - v*v
	}
}

// adamConsts are the constants of one Adam step (train.go): β₁, 1 − β₁,
// β₂, 1 − β₂, the step lr/(1 − β₁ᵗ), 1/√(1 − β₂ᵗ), ε and lr·λ.
type adamConsts [8]float64

// adamRef updates the parameters p and the moments m and v from the
// gradient g, all of one length, by one step of Adam with the constants c:
//
//	m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g·g,
//	p ← p − (step·m / (√v·(1/√(1 − β₂ᵗ)) + ε) + lr·λ·p).
func adamRef(p, m, v, g []float64, c *adamConsts) {
	b1, c1, b2, c2, step, isc2, eps, lrwd := c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
	p, m, v = p[:len(g)], m[:len(g)], v[:len(g)]
	for i, g := range g {
		mi := b1*m[i] + c1*g
		vi := b2*v[i] + c2*g*g
		m[i], v[i] = mi, vi
		p[i] -= step*mi/(math.Sqrt(vi)*isc2+eps) + lrwd*p[i]
	}
}

// addVecRef is the reference of addVec:
//
//	dst[i] += src[i]   for i < len(dst)
func addVecRef(dst, src []float64) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}
