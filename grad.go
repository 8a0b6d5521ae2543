// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"unsafe"
)

// Activation is the nonlinearity between the hidden layers of a conditioner.
type Activation int

const (
	// ReLU is max(a, 0).
	ReLU Activation = iota
	// Tanh is the hyperbolic tangent.
	Tanh
)

// String returns "relu" or "tanh".
func (a Activation) String() string {
	switch a {
	case ReLU:
		return "relu"
	case Tanh:
		return "tanh"
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

func (a Activation) valid() bool { return a == ReLU || a == Tanh }

// mlp is a fully connected network sizes[0] → sizes[1] → … → sizes[L] with
// an activation after every layer but the last. Its parameters live in a
// caller's window p laid out layer by layer as W_l (out×in, row-major) then
// b_l (out).
//
// With blocks = R > 0 the network is instead the residual network of
// residual.go: sizes is [in, H, out] and the dense layers, in parameter
// order, are in → H, R pairs H → H, and H → out (see dense).
type mlp struct {
	sizes  []int
	act    Activation
	maxW   int // the widest hidden layer, for the backward scratch
	blocks int // R, the residual blocks (0: a plain stack)
	packs  *mlpPacks[float64]
	// packs32 are the weights of a float32 training step (Flow32), packed
	// from its own parameters.
	packs32 *mlpPacks[float32]
}

// mlpPacks holds an mlp's weights packed for the products of one training
// step (design §5): the objectives pack every conditioner's weights once
// before a step's shards (Flow.prepack) instead of once per shard and
// product, and drop them after. A pass uses them only for the parameters
// they were packed from (key) and the shard rows they were packed for (n);
// any other pass, and every pass outside a training step, packs its own.
type mlpPacks[T kernElem] struct {
	key    *T
	n      int
	on     bool
	layers []densePack[T]
}

// mlpPacksOf returns the packs of m's passes in T: packs, or packs32.
func mlpPacksOf[T kernElem](m *mlp) **mlpPacks[T] {
	if isF32[T]() {
		return (**mlpPacks[T])(unsafe.Pointer(&m.packs32))
	}
	return (**mlpPacks[T])(unsafe.Pointer(&m.packs))
}

// prepack packs the weights in p of every dense layer for shards of n rows.
func (m *mlp) prepack(p []float64, n int) { mlpPrepack(m, p, n) }

// unpack drops the packed weights from the passes (keeping the buffers).
func (m *mlp) unpack() { mlpUnpack[float64](m) }

// mlpPrepack is prepack for either element type.
func mlpPrepack[T kernElem](m *mlp, p []T, n int) {
	if len(p) == 0 || n <= 0 {
		return
	}
	pp := mlpPacksOf[T](m)
	if *pp == nil {
		*pp = &mlpPacks[T]{layers: make([]densePack[T], m.numLayers())}
	}
	pk := *pp
	for l := 1; l <= m.numLayers(); l++ {
		w, _, _ := mlpLayer(m, p, l)
		in, out := m.dense(l)
		pk.layers[l-1].pack(w, n, in, out)
	}
	pk.key, pk.n, pk.on = &p[0], n, true
}

// mlpUnpack is unpack for either element type.
func mlpUnpack[T kernElem](m *mlp) {
	if pk := *mlpPacksOf[T](m); pk != nil {
		pk.on, pk.key = false, nil
	}
}

// mlpPacked returns layer l's packed weights if they were packed from p
// for passes over n rows, else nil.
func mlpPacked[T kernElem](m *mlp, p []T, l, n int) *densePack[T] {
	if pk := *mlpPacksOf[T](m); pk != nil && pk.on && pk.n == n && len(p) > 0 && pk.key == &p[0] {
		return &pk.layers[l-1]
	}
	return nil
}

// mlpDenseFwd computes layer l's product y = x·W_lᵀ + b_l over n rows and,
// when act, the activation y = act(y) after it: ReLU fused into the
// product (denseForwardAct), so that each run of tiles is activated while
// it is in cache, tanh in a pass after it. Weights packed for a training
// step in T (mlpPacks) are used where they match.
func mlpDenseFwd[T kernElem](m *mlp, p []T, l int, y, x []T, n int, act bool) {
	w, b, _ := mlpLayer(m, p, l)
	in, out := m.dense(l)
	fuse := act && m.act == ReLU
	if pk := mlpPacked(m, p, l, n); pk != nil {
		densePackedForwardAct(y, x, w, b, pk, n, in, out, fuse)
	} else {
		denseForwardAct(y, x, w, b, n, in, out, fuse)
	}
	if act && !fuse {
		applyT(m.act, y[:n*out])
	}
}

// mlpDenseBwdX computes dx = dy·W_l over n rows and, when h is not nil, the
// gradient through the activation whose output h the layer read,
// dx ⊙= act'(h): for ReLU fused into the product (denseBackwardXAct), for
// tanh in a pass after it.
func mlpDenseBwdX[T kernElem](m *mlp, p []T, l int, dx, dy, h []T, n int) {
	w, _, _ := mlpLayer(m, p, l)
	in, out := m.dense(l)
	var of []T // h, for the product to apply ReLU's gradient
	if m.act == ReLU {
		of = h
	}
	if pk := mlpPacked(m, p, l, n); pk != nil {
		densePackedBackwardXAct(dx, dy, w, pk, n, in, out, of)
	} else {
		denseBackwardXAct(dx, dy, w, n, in, out, of)
	}
	if h != nil && of == nil {
		backwardT(m.act, dx[:n*in], h[:n*in])
	}
}

func newMLP(sizes []int, act Activation) mlp {
	m := mlp{sizes: sizes, act: act}
	for _, h := range sizes[1 : len(sizes)-1] {
		m.maxW = max(m.maxW, h)
	}
	return m
}

func (m *mlp) out() int { return m.sizes[len(m.sizes)-1] }

// numLayers returns the number of dense layers: len(sizes) − 1, plus 2·R
// in a residual network.
func (m *mlp) numLayers() int { return len(m.sizes) - 1 + 2*m.blocks }

// dense returns the input and output widths of dense layer l (1-based).
func (m *mlp) dense(l int) (in, out int) {
	if m.blocks == 0 {
		return m.sizes[l-1], m.sizes[l]
	}
	h := m.sizes[1]
	switch {
	case l == 1:
		return m.sizes[0], h
	case l == m.numLayers():
		return h, m.out()
	}
	return h, h
}

// denseCost returns Σ in·out over the network's layers: a forward pass over n
// rows costs 2·n·denseCost flops, a backward one 4·n·denseCost.
func (m *mlp) denseCost() int {
	c := 0
	for l := 1; l <= m.numLayers(); l++ {
		in, out := m.dense(l)
		c += out * in
	}
	return c
}

func (m *mlp) numParams() int {
	n := 0
	for l := 1; l <= m.numLayers(); l++ {
		in, out := m.dense(l)
		n += out*in + out
	}
	return n
}

// workLen is the workspace a pass over n rows needs: every layer's output
// (kept for backward) and two scratch buffers for the backward deltas.
func (m *mlp) workLen(n int) int {
	if m.blocks > 0 {
		return m.resWorkLen(n)
	}
	w := 0
	for _, s := range m.sizes[1:] {
		w += n * s
	}
	return w + 2*n*m.maxW
}

// layer returns the weights and biases of layer l (1-based) inside p.
func (m *mlp) layer(p []float64, l int) (w, b []float64, off int) { return mlpLayer(m, p, l) }

// mlpLayer returns the weights and biases of layer l (1-based) inside p,
// and their offset.
func mlpLayer[T kernElem](m *mlp, p []T, l int) (w, b []T, off int) {
	for k := 1; k < l; k++ {
		in, out := m.dense(k)
		off += out*in + out
	}
	in, out := m.dense(l)
	w = p[off : off+out*in]
	b = p[off+out*in : off+out*in+out]
	return w, b, off
}

// init draws every hidden layer's weights from U(−1/√in, 1/√in) and zeroes
// the biases and the whole last layer, so that the conditioner's output starts
// at zero and the layer it drives starts as the identity. A residual
// network's hidden layers are all but the last, in parameter order.
func (m *mlp) init(p []float64, rnd *rand.Rand) {
	for i := range p {
		p[i] = 0
	}
	for l := 1; l < m.numLayers(); l++ {
		w, _, _ := m.layer(p, l)
		in, _ := m.dense(l)
		r := 1 / math.Sqrt(float64(in))
		for i := range w {
			w[i] = r * (2*rnd.Float64() - 1)
		}
	}
}

// forward evaluates the network on the n rows of x (n×in) and returns its
// output, a view of work (n×out). Every layer's output stays in work for
// backward.
//
//	h_0 = x,  a_l = h_{l−1}·W_lᵀ + b_l,  h_l = act(a_l) for l < L,  out = a_L.
func (m *mlp) forward(p, x []float64, n int, work []float64) []float64 {
	return m.forwardDrop(p, x, n, work, dropout{})
}

// forwardDrop is forward with the dropout dr in the residual blocks of a
// residual network (a plain network has none to drop).
func (m *mlp) forwardDrop(p, x []float64, n int, work []float64, dr dropout) []float64 {
	return mlpForward(m, p, x, n, work, dr)
}

// mlpForward is forwardDrop for either element type.
func mlpForward[T kernElem](m *mlp, p, x []T, n int, work []T, dr dropout) []T {
	if m.blocks > 0 {
		return mlpResForward(m, p, x, n, work, dr)
	}
	h := x
	off := 0
	for l := 1; l < len(m.sizes); l++ {
		out := m.sizes[l]
		y := work[off : off+n*out]
		mlpDenseFwd(m, p, l, y, h, n, l < len(m.sizes)-1)
		h = y
		off += n * out
	}
	return h
}

// output returns the network's output left in work by forward over n rows.
func (m *mlp) output(work []float64, n int) []float64 { return mlpOutput(m, work, n) }

// mlpOutput is output for either element type.
func mlpOutput[T kernElem](m *mlp, work []T, n int) []T {
	if m.blocks > 0 {
		return mlpResOutput(m, work, n)
	}
	o := 0
	for _, s := range m.sizes[1 : len(m.sizes)-1] {
		o += n * s
	}
	return work[o : o+n*m.out()]
}

// mlpBackward backpropagates dout = ∂L/∂out (n×out) through the pass
// mlpForward left in work, with the same dropout dr, adds ∂L/∂θ into grad
// (the network's window) and, when dx is not nil, writes ∂L/∂x (n×in) into
// dx. dout is not modified.
//
// With δ_L = dout and δ_l = ∂L/∂a_l:
//
//	∂L/∂W_l += δ_lᵀ·h_{l−1}       (out×in)
//	∂L/∂b_l += Σ_rows δ_l
//	∂L/∂h_{l−1} = δ_l·W_l
//	δ_{l−1} = ∂L/∂h_{l−1} ⊙ act'(a_{l−1})   (read from h_{l−1})
//	∂L/∂x = δ_1·W_1
func mlpBackward[T kernElem](m *mlp, p, x []T, n int, work, dout, grad, dx []T, dr dropout) {
	if n == 0 {
		return
	}
	if m.blocks > 0 {
		mlpResBackward(m, p, x, n, work, dout, grad, dx, dr)
		return
	}
	L := len(m.sizes) - 1
	// Offsets of each layer's output in work.
	outOff := func(l int) int {
		o := 0
		for k := 1; k < l; k++ {
			o += n * m.sizes[k]
		}
		return o
	}
	scratch := work[outOff(L+1):]
	bufA := scratch[:n*m.maxW]
	bufB := scratch[n*m.maxW : 2*n*m.maxW]
	delta := dout
	for l := L; l >= 1; l-- {
		in, out := m.sizes[l-1], m.sizes[l]
		_, _, goff := mlpLayer(m, p, l)
		dw := grad[goff : goff+out*in]
		db := grad[goff+out*in : goff+out*in+out]
		var hprev []T
		if l == 1 {
			hprev = x
		} else {
			o := outOff(l - 1)
			hprev = work[o : o+n*in]
		}
		denseBackwardW(dw, db, delta, hprev, n, in, out)
		if l == 1 {
			if dx != nil {
				mlpDenseBwdX(m, p, l, dx, delta, nil, n)
			}
			break
		}
		next := bufA[:n*in]
		if &next[0] == &delta[0] {
			next = bufB[:n*in]
		}
		mlpDenseBwdX(m, p, l, next, delta, hprev, n)
		delta = next
	}
}
