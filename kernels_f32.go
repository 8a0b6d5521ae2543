// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import "math"

// The float32 compute path's first pieces (docs/design.md §4): the exact
// float32 fused multiply-add that its references are written with, and the
// micro-kernel's reference. The flows, layers and training do not
// use them yet.

// fma32 returns a·b + c rounded once to the nearest float32 (ties to
// even), as a float32 FMA instruction computes it.
//
// The product of two float32 values is exact in float64 (24 + 24 bits of
// significand ≤ 53). The sum s = p + c rounded to float64 is then moved to
// round-to-odd: where the sum was inexact (its error e, exact by Knuth's
// TwoSum, is not 0) and s's last bit is even, s is replaced by its
// neighbour towards the error. A value rounded to odd with at least two
// bits more than the target precision rounds to the target as the exact
// value does (Boldo and Melquiond, 2008), and 53 ≥ 24 + 2, so the final
// conversion rounds a·b + c exactly once; without the move to odd, the
// two roundings can differ from one at a tie. Float64 cannot overflow
// (|p| < 2²⁵⁶) nor lose bits to underflow (|p| ≥ 2⁻²⁹⁸ or 0), so TwoSum is
// exact; infinities and NaN skip the correction.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return float32(s)
	}
	v := s - p
	e := (p - (s - v)) + (float64(c) - v)
	if e != 0 && math.Float64bits(s)&1 == 0 {
		s = math.Nextafter(s, math.Copysign(math.Inf(1), e))
	}
	return float32(s)
}

// gemmKernel32Ref is the float32 micro-kernel's definition: for each of
// tiles tiles t, i < gemm32MR, j < gemm32NR (the tile's shape, per
// architecture: 4×24 on amd64, 4×16 on arm64),
//
//	c[(4t+i)·ldc+j] = s + Σ_{p<k} a[t·ts+i·rs+p·ps]·b[p·gemm32NR+j]
//
// each term added by fma32 in increasing p on top of s, which is init[j]
// if init is not nil and the entry of c otherwise: the float64 kernel's
// contract (asm_amd64.s, gemmKernel) in float32.
func gemmKernel32Ref(c []float32, ldc int, a []float32, rs, ps, ts int, b []float32, k, tiles int, init []float32) {
	for t := 0; t < tiles; t++ {
		for i := 0; i < gemm32MR; i++ {
			row := c[(gemm32MR*t+i)*ldc:]
			for j := 0; j < gemm32NR; j++ {
				s := row[j]
				if init != nil {
					s = init[j]
				}
				for p := 0; p < k; p++ {
					s = fma32(a[t*ts+i*rs+p*ps], b[p*gemm32NR+j], s)
				}
				row[j] = s
			}
		}
	}
}

// gemmKern32 runs the float32 micro-kernel on slices: the assembly where
// it exists (kernHasF32) and the reference elsewhere. The slices must
// hold every element the tiles read and write.
func gemmKern32(c []float32, ldc int, a []float32, rs, ps, ts int, b []float32, k, tiles int, init []float32) {
	if tiles <= 0 {
		return
	}
	if !kernHasF32 || !kernUseAsm || k <= 0 {
		gemmKernel32Ref(c, ldc, a, rs, ps, ts, b, k, tiles, init)
		return
	}
	_ = c[(gemm32MR*(tiles-1)+gemm32MR-1)*ldc+gemm32NR-1]
	_ = a[(tiles-1)*ts+(gemm32MR-1)*rs+(k-1)*ps]
	_ = b[k*gemm32NR-1]
	var ip *float32
	if init != nil {
		_ = init[gemm32NR-1]
		ip = &init[0]
	}
	gemmKernel32(&c[0], ldc, &a[0], rs, ps, ts, &b[0], k, tiles, ip)
}

// expVec32 sets dst[i] = exp(src[i]) for i < len(src), within 1 ulp of
// the float32 rounding of exp(x): overflow to +Inf above about 88.72,
// float32 subnormals and 0 below about −87.3, NaN for NaN. On amd64 and
// arm64 it is expKernel32's float32 arithmetic, the same on every element
// (a last partial vector masked, or padded on arm64); elsewhere through64 widens each block of arguments to
// float64 (exactly), runs the float64 exponential and rounds once (rows of
// fewer than 4 arguments take math.Exp, rounded once). It panics if dst is
// shorter than src.
func expVec32(dst, src []float32) {
	n := len(src)
	if len(dst) < n {
		panic("flow: expVec32: dst shorter than src")
	}
	if !kernHasExp32 || !kernUseAsm {
		through64(dst, src, false)
		return
	}
	if n > 0 {
		expKernel32(&dst[0], &src[0], n)
	}
}

// tanhVec32 sets h[i] = tanh(h[i]) for i < len(h), in float32 through the
// float64 tanh (tanhVec, within 2 float64 ulp of math.Tanh) as expVec32
// goes through expVec: each result is the float32 rounding of tanh(x) or
// its neighbour at a near-tie (within 1 ulp); rows of fewer than 4 values
// take math.Tanh, rounded once.
func tanhVec32(h []float32) { through64(h, h, true) }

// through64 writes into dst the float32 rounding of exp (tanh false) or
// tanh (tanh true) of src, computed on the arguments widened to float64 in
// blocks, by the float64 vector function (expVec, tanhVec), or by math.Exp
// or math.Tanh for fewer than 4 arguments. dst may be src.
func through64(dst, src []float32, tanh bool) {
	n := len(src)
	if n < 4 {
		// A short row (a coupling's one to three transformed dimensions),
		// less than a vector: the scalar function, rounded once, costs less
		// than the conversions and the padded vector around the kernel.
		for i, x := range src {
			if tanh {
				dst[i] = float32(math.Tanh(float64(x)))
			} else {
				dst[i] = float32(math.Exp(float64(x)))
			}
		}
		return
	}
	if n <= 8 {
		// A few vectors: a small buffer, since Go clears the large one on
		// every call.
		var b [8]float64
		through64Block(dst[:n], src, b[:n], tanh)
		return
	}
	var buf [256]float64
	for i := 0; i < n; i += len(buf) {
		m := min(len(buf), n-i)
		through64Block(dst[i:i+m], src[i:i+m], buf[:m], tanh)
	}
}

// through64Block is one block of through64, b its float64 buffer, as long
// as src.
func through64Block(dst, src []float32, b []float64, tanh bool) {
	cvt32to64(b, src)
	if tanh {
		tanhVec(b)
	} else {
		expVec(b, b)
	}
	cvt64to32(dst, b)
}

// cvt32to64 sets dst[i] = float64(src[i]) for i < len(src), and
// cvt64to32 dst[i] = float32(src[i]): by the vector kernels where they
// exist (amd64), the whole vectors, and by Go's conversions for the rest.
// dst must be at least as long as src.
func cvt32to64(dst []float64, src []float32) {
	dst = dst[:len(src)]
	v := 0
	if kernHasCvt && kernUseAsm {
		if v = len(src) &^ 3; v > 0 {
			cvt32to64Kernel(&dst[0], &src[0], v)
		}
	}
	for i := v; i < len(src); i++ {
		dst[i] = float64(src[i])
	}
}

func cvt64to32(dst []float32, src []float64) {
	dst = dst[:len(src)]
	v := 0
	if kernHasCvt && kernUseAsm {
		if v = len(src) &^ 3; v > 0 {
			cvt64to32Kernel(&dst[0], &src[0], v)
		}
	}
	for i := v; i < len(src); i++ {
		dst[i] = float32(src[i])
	}
}
