// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"unsafe"
)

// The element type of the compute path (docs/design.md §4): the products,
// the element-wise operations and the layers' passes are written once over
// T, float64 or float32. The float64 instantiations call the float64
// kernels (assembly where there is some); the float32 ones call the float32
// kernels where they exist and otherwise run the reference loops in
// float32.

// kernElem is the element type of a product: float64, or float32 for the
// float32 path (kernels_f32.go).
type kernElem interface{ float32 | float64 }

// isF32 reports whether T is float32: a constant in each instantiation.
func isF32[T kernElem]() bool {
	var z T
	return unsafe.Sizeof(z) == 4
}

// f64p and f32p view a pointer to an element as the pointer the float64
// or float32 kernels take; only where T is that type.
func f64p[T kernElem](p *T) *float64 { return (*float64)(unsafe.Pointer(p)) }
func f32p[T kernElem](p *T) *float32 { return (*float32)(unsafe.Pointer(p)) }

// f64s views a slice of T as the []float64 it is; only where T is
// float64.
func f64s[T kernElem](v []T) []float64 { return unsafe.Slice(f64p(unsafe.SliceData(v)), len(v)) }

// reluT and reluBackwardT are relu and reluBackward for either element
// type: the float64 kernels, or reluRef's and reluBackwardRef's loops in
// float32.
func reluT[T kernElem](v []T) {
	if !isF32[T]() {
		if len(v) > 0 {
			relu(f64s(v))
		}
		return
	}
	for i, x := range v {
		if x < 0 {
			v[i] = 0
		}
	}
}

func reluBackwardT[T kernElem](dh, h []T) {
	if !isF32[T]() {
		if len(h) > 0 {
			reluBackward(f64s(dh[:len(h)]), f64s(h))
		}
		return
	}
	for i, v := range h {
		if v <= 0 {
			dh[i] = 0
		}
	}
}

// f32s views a slice of T as the []float32 it is; only where T is
// float32.
func f32s[T kernElem](v []T) []float32 { return unsafe.Slice(f32p(unsafe.SliceData(v)), len(v)) }

// expVecT is expVec (float64) or expVec32 (float32).
func expVecT[T kernElem](dst, src []T) {
	if isF32[T]() {
		expVec32(f32s(dst), f32s(src))
		return
	}
	expVec(f64s(dst), f64s(src))
}

// affineInverseT is affineInverse for either element type: one row of
//
//	z[d] = (x[d] − mu[d])·exp(−alpha[d]),  e[d] = exp(−alpha[d]),
//
// returning Σ alpha[d]. In float32, affineInverseKernel32 where the
// float32 vector kernels are (amd64); elsewhere e is exp of −alpha by
// expVec32, and the rest is the reference's arithmetic in float32.
func affineInverseT[T kernElem](z, e, x, mu, alpha []T) T {
	if !isF32[T]() {
		return T(affineInverse(f64s(z), f64s(e), f64s(x), f64s(mu), f64s(alpha)))
	}
	n := len(alpha)
	if kernHasCvt && kernUseAsm {
		if n == 0 {
			return 0
		}
		_, _, _ = z[n-1], e[n-1], x[n-1]
		_ = mu[n-1]
		return T(affineInverseKernel32(f32p(&z[0]), f32p(&e[0]), f32p(&x[0]), f32p(&mu[0]), f32p(&alpha[0]), n))
	}
	e = e[:n]
	for d, a := range alpha {
		e[d] = -a
	}
	expVecT(e, e)
	var s T
	for d, a := range alpha {
		z[d] = (x[d] - mu[d]) * e[d]
		s += a
	}
	return s
}

// affineForwardT is affineForward for either element type: one row of
//
//	x[d] = z[d]·exp(alpha[d]) + mu[d],  e[d] = exp(alpha[d]),
//
// returning Σ alpha[d].
func affineForwardT[T kernElem](x, e, z, mu, alpha []T) T {
	if !isF32[T]() {
		return T(affineForward(f64s(x), f64s(e), f64s(z), f64s(mu), f64s(alpha)))
	}
	n := len(alpha)
	if kernHasCvt && kernUseAsm {
		if n == 0 {
			return 0
		}
		_, _, _ = x[n-1], e[n-1], z[n-1]
		_ = mu[n-1]
		return T(affineForwardKernel32(f32p(&x[0]), f32p(&e[0]), f32p(&z[0]), f32p(&mu[0]), f32p(&alpha[0]), n))
	}
	e = e[:n]
	expVecT(e, alpha)
	var s T
	for d, a := range alpha {
		x[d] = z[d]*e[d] + mu[d]
		s += a
	}
	return s
}

// tanhVecT is tanhVec (float64) or tanhVec32 (float32).
func tanhVecT[T kernElem](h []T) {
	if isF32[T]() {
		tanhVec32(f32s(h))
		return
	}
	tanhVec(f64s(h))
}

// tanhBackwardT is tanhBackward for either element type: dh ⊙= 1 − h².
func tanhBackwardT[T kernElem](dh, h []T) {
	if !isF32[T]() {
		tanhBackward(f64s(dh), f64s(h))
		return
	}
	dh = dh[:len(h)]
	for i, v := range h {
		dh[i] *= 1 - v*v
	}
}

// applyT computes h = act(h) in place, in either element type.
func applyT[T kernElem](a Activation, h []T) {
	if a == Tanh {
		tanhVecT(h)
		return
	}
	reluT(h)
}

// backwardT multiplies dh by act'(a), read from h = act(a), in either
// element type: ReLU: act' = 1 where h > 0, else 0; tanh: act' = 1 − h².
func backwardT[T kernElem](a Activation, dh, h []T) {
	if a == Tanh {
		tanhBackwardT(dh, h)
		return
	}
	reluBackwardT(dh, h)
}

// addVecT is addVec for either element type: dst[i] += src[i].
func addVecT[T kernElem](dst, src []T) {
	if !isF32[T]() {
		addVec(f64s(dst), f64s(src))
		return
	}
	src = src[:len(dst)]
	if kernHasCvt && kernUseAsm {
		// amd64's float32 vector kernels (kernHasCvt): whole vectors of 8.
		if k := len(dst) &^ 7; k > 0 {
			addKernel32(f32p(&dst[0]), f32p(&src[0]), k)
			dst, src = dst[k:], src[k:]
		}
	}
	for i, v := range src {
		dst[i] += v
	}
}
