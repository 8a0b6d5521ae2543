// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build purego || !(amd64 || arm64)

package flow

// Without assembly every kernel is its plain-Go reference.

// kernUseAsm is false: there is no assembly to select. (The tests flip it on
// the architectures that have some.)
var kernUseAsm = false

// kernVecWidth is the nominal vector width the tests size their lengths by.
const kernVecWidth = 4

// kernHasF32 is false: without assembly the float32 micro-kernel is its
// reference, on amd64's tile shape.
const (
	kernHasF32 = false
	gemm32MR   = 4
	gemm32NR   = 24
)

// kernHasCvt is false: the conversions run in Go without assembly (cvt32to64).
const kernHasCvt = false

func cvt32to64Kernel(dst *float64, src *float32, n int) {
	panic("flow: no cvt32to64Kernel without assembly")
}

func cvt64to32Kernel(dst *float32, src *float64, n int) {
	panic("flow: no cvt64to32Kernel without assembly")
}

func adamKernel32(p, m, v, grad *float32, n int, c *[8]float32) {
	panic("flow: no adamKernel32 without assembly")
}

func gemmKernel32(c *float32, ldc int, a *float32, rs, ps, ts int, b *float32, k, tiles int, init *float32) {
	panic("flow: no gemmKernel32 without assembly")
}

// gemmNR is the nominal width of a micro-kernel tile the tests size their
// shapes by.
const gemmNR = 12

func denseForward[T kernElem](y, x, w, b []T, n, in, out int) {
	denseForwardRef(y, x, w, b, n, in, out)
}
func denseForwardAct[T kernElem](y, x, w, b []T, n, in, out int, relu bool) {
	denseForwardRef(y, x, w, b, n, in, out)
	if relu {
		reluT(y[:n*out])
	}
}
func denseBackwardX[T kernElem](dx, dy, w []T, n, in, out int) {
	denseBackwardXRef(dx, dy, w, n, in, out)
}
func denseBackwardW[T kernElem](dw, db, dy, x []T, n, in, out int) {
	denseBackwardWRef(dw, db, dy, x, n, in, out)
}
func maskedForward[T kernElem](y, x, w, b []T, lim []int, n, in, out int) {
	maskedForwardRef(y, x, w, b, lim, n, in, out)
}
func maskedBackwardX[T kernElem](dx, dy, w []T, lim []int, n, in, out int) {
	maskedBackwardXRef(dx, dy, w, lim, n, in, out)
}
func maskedBackwardW[T kernElem](dw, db, dy, x []T, lim []int, n, in, out int) {
	maskedBackwardWRef(dw, db, dy, x, lim, n, in, out)
}
func expVec(dst, src []float64)                          { expRef(dst, src) }
func affineInverse(z, e, x, mu, alpha []float64) float64 { return affineInverseRef(z, e, x, mu, alpha) }
func affineForward(x, e, z, mu, alpha []float64) float64 { return affineForwardRef(x, e, z, mu, alpha) }
func relu(h []float64)                                   { reluRef(h) }
func reluBackward(dh, h []float64)                       { reluBackwardRef(dh, h) }
func tanhVec(h []float64)                                { tanhRef(h) }
func tanhBackward(dh, h []float64)                       { tanhBackwardRef(dh, h) }

// densePack has nothing to hold without the assembly kernels, which alone
// pack their operands.
type densePack[T kernElem] struct{}

func (p *densePack[T]) pack(w []T, n, in, out int) {}
func densePackedForwardAct[T kernElem](y, x, w, b []T, _ *densePack[T], n, in, out int, relu bool) {
	denseForwardAct(y, x, w, b, n, in, out, relu)
}
func denseBackwardXAct[T kernElem](dx, dy, w []T, n, in, out int, h []T) {
	denseBackwardXRef(dx, dy, w, n, in, out)
	if h != nil {
		reluBackwardT(dx[:n*in], h[:n*in])
	}
}
func densePackedBackwardXAct[T kernElem](dx, dy, w []T, _ *densePack[T], n, in, out int, h []T) {
	denseBackwardXAct(dx, dy, w, n, in, out, h)
}

// maskedPack has nothing to hold without the assembly kernels.
type maskedPack[T kernElem] struct{}

func (p *maskedPack[T]) pack(w []T, lim []int, n, in, out int) {}
func maskedForwardAct[T kernElem](y, x, w, b []T, lim []int, n, in, out int, relu bool) {
	maskedForwardRef(y, x, w, b, lim, n, in, out)
	if relu {
		reluT(y[:n*out])
	}
}
func maskedPackedForwardAct[T kernElem](y, x, w, b []T, lim []int, _ *maskedPack[T], n, in, out int, relu bool) {
	maskedForwardAct(y, x, w, b, lim, n, in, out, relu)
}
func maskedBackwardXAct[T kernElem](dx, dy, w []T, lim []int, n, in, out int, h []T) {
	maskedBackwardXRef(dx, dy, w, lim, n, in, out)
	if h != nil {
		reluBackwardT(dx[:n*in], h[:n*in])
	}
}
func maskedPackedBackwardXAct[T kernElem](dx, dy, w []T, lim []int, _ *maskedPack[T], n, in, out int, h []T) {
	maskedBackwardXAct(dx, dy, w, lim, n, in, out, h)
}

func adamStep(p, m, v, g []float64, c *adamConsts) { adamRef(p, m, v, g, c) }

func addVec(dst, src []float64) { addVecRef(dst, src) }

func addKernel32(dst, src *float32, n int) { panic("flow: no addKernel32 without assembly") }

// kernHasExp32 is false: expVec32 goes through the float64 exponential.
const kernHasExp32 = false

func expKernel32(dst, src *float32, n int) { panic("flow: no expKernel32 without assembly") }

func affineInverseKernel32(z, e, x, mu, alpha *float32, n int) float32 {
	panic("flow: no affineInverseKernel32 without assembly")
}

func affineForwardKernel32(x, e, z, mu, alpha *float32, n int) float32 {
	panic("flow: no affineForwardKernel32 without assembly")
}
