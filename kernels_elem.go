// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego && (amd64 || arm64)

package flow

// The element-wise kernels: exp, the fused affine steps of the
// autoregressive and coupling layers, and the activations with their
// derivatives. Their references are the *Ref functions of kernels.go.
//
// expVec is within 2 ulp of math.Exp over the whole float64 range (within
// about 1 ulp of the exact value; see expULPBound in the tests), with
// math.Exp's results for NaN (the same NaN), ±Inf, overflow (+Inf above
// 709.782712893384) and underflow (+0 below −745.1332191019411), and
// gradual underflow in between. One exception is deliberate: math.Exp's
// amd64 assembly overflows early, returning +Inf for x above about
// 709.436, where expVec returns the finite exp(x), as math.Exp does on
// other architectures. The affine steps use the same exp.
//
// The vector loops below run the assembly on the largest multiple of
// kernVecWidth elements; exp and the affine steps run their last partial vector
// through the same assembly on a padded copy, so that every element gets
// the same arithmetic, and the activations finish with the reference loop.

func expVec(dst, src []float64) {
	if !kernUseAsm {
		expRef(dst, src)
		return
	}
	n := len(src)
	if len(dst) < n {
		panic("flow: expVec: dst shorter than src")
	}
	dst = dst[:n]
	m := n &^ (kernVecWidth - 1)
	if m > 0 {
		expKernel(&dst[0], &src[0], m)
	}
	if m < n {
		var buf [kernVecWidth]float64
		copy(buf[:], src[m:])
		expKernel(&buf[0], &buf[0], kernVecWidth)
		copy(dst[m:], buf[:])
	}
}

func affineInverse(z, e, x, mu, alpha []float64) float64 {
	if !kernUseAsm {
		return affineInverseRef(z, e, x, mu, alpha)
	}
	return affineStep(false, "affineInverse", z, e, x, mu, alpha)
}

func affineForward(x, e, z, mu, alpha []float64) float64 {
	if !kernUseAsm {
		return affineForwardRef(x, e, z, mu, alpha)
	}
	return affineStep(true, "affineForward", x, e, z, mu, alpha)
}

// affineStep runs affineForwardKernel (forward) or affineInverseKernel, which
// share their shape: out and e written from in, mu and alpha. The last
// partial vector goes through the same kernel on padded copies.
func affineStep(forward bool, name string, out, e, in, mu, alpha []float64) float64 {
	n := len(alpha)
	if len(out) < n || len(e) < n || len(in) < n || len(mu) < n {
		panic("flow: " + name + ": slice shorter than alpha")
	}
	out, e, in, mu = out[:n], e[:n], in[:n], mu[:n]
	kern := func(out, e, in, mu, alpha *float64, n int) float64 {
		if forward {
			return affineForwardKernel(out, e, in, mu, alpha, n)
		}
		return affineInverseKernel(out, e, in, mu, alpha, n)
	}
	m := n &^ (kernVecWidth - 1)
	s := 0.0
	if m > 0 {
		s = kern(&out[0], &e[0], &in[0], &mu[0], &alpha[0], m)
	}
	if m < n {
		var bo, be, bi, bmu, ba [kernVecWidth]float64
		copy(bi[:], in[m:])
		copy(bmu[:], mu[m:])
		copy(ba[:], alpha[m:])
		s += kern(&bo[0], &be[0], &bi[0], &bmu[0], &ba[0], kernVecWidth)
		copy(out[m:], bo[:])
		copy(e[m:], be[:])
	}
	return s
}

func relu(h []float64) {
	if !kernUseAsm {
		reluRef(h)
		return
	}
	m := len(h) &^ (kernVecWidth - 1)
	if m > 0 {
		reluKernel(&h[0], m)
	}
	reluRef(h[m:])
}

func reluBackward(dh, h []float64) {
	if !kernUseAsm {
		reluBackwardRef(dh, h)
		return
	}
	if len(dh) < len(h) {
		panic("flow: reluBackward: dh shorter than h")
	}
	dh = dh[:len(h)]
	m := len(h) &^ (kernVecWidth - 1)
	if m > 0 {
		reluBackwardKernel(&dh[0], &h[0], m)
	}
	reluBackwardRef(dh[m:], h[m:])
}

// tanhVec runs tanhKernel, math.Tanh's method on the vector exp: within 2
// ulp of math.Tanh, and equal to it for |x| < 0.625 (see tanhULPBound in
// the tests).
func tanhVec(h []float64) {
	if !kernUseAsm {
		tanhRef(h)
		return
	}
	m := len(h) &^ (kernVecWidth - 1)
	if m > 0 {
		tanhKernel(&h[0], m)
	}
	if m < len(h) {
		var buf [kernVecWidth]float64
		copy(buf[:], h[m:])
		tanhKernel(&buf[0], kernVecWidth)
		copy(h[m:], buf[:])
	}
}

func tanhBackward(dh, h []float64) {
	if !kernUseAsm {
		tanhBackwardRef(dh, h)
		return
	}
	if len(dh) < len(h) {
		panic("flow: tanhBackward: dh shorter than h")
	}
	dh = dh[:len(h)]
	m := len(h) &^ (kernVecWidth - 1)
	if m > 0 {
		tanhBackwardKernel(&dh[0], &h[0], m)
	}
	tanhBackwardRef(dh[m:], h[m:])
}

// addVec adds src to dst, element by element (IEEE additions, so the same
// bits as the loop of addVecRef), in vector assembly where there is some.
func addVec(dst, src []float64) {
	if !kernUseAsm {
		addVecRef(dst, src)
		return
	}
	src = src[:len(dst)]
	m := len(dst) &^ (kernVecWidth - 1)
	if m > 0 {
		addKernel(&dst[0], &src[0], m)
	}
	addVecRef(dst[m:], src[m:])
}

// adamStep is adamRef, in vector assembly where there is some: the
// operations of the reference one by one, in its order, none fused, so
// that it agrees with the reference bit for bit where the compiler fuses
// none either (amd64).
func adamStep(p, m, v, g []float64, c *adamConsts) {
	if !kernUseAsm {
		adamRef(p, m, v, g, c)
		return
	}
	n := len(g)
	if len(p) < n || len(m) < n || len(v) < n {
		panic("flow: adamStep: slices of unequal length")
	}
	k := n &^ (kernVecWidth - 1)
	if k > 0 {
		adamKernel(&p[0], &m[0], &v[0], &g[0], k, c)
	}
	adamRef(p[k:], m[k:], v[k:], g[k:n], c)
}
