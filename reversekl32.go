// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// ReverseKL32 is ReverseKL for a Flow32: the reverse-KL loss to a target
// and its reparameterisation gradient, by backpropagation through the
// layers' float32 forward passes (forwardGrader32) and the base's
// reparameterised draw. The base draws ε are rounded once to float32, and
// the base maps them to its points z = T_θ(ε | c) in float32 (the
// standard normal base: z = ε; a DiagGaussianBase or
// ConditionalGaussianBase: z = μ + e^{s} ⊙ ε); log q(x) = log p(z) −
// log|det ∂x/∂z| is formed per row in float64 from the float32 ε, the
// base's float32 parameters or network output, and the float32 log-det.
// The gradient of the base's parameters (the base's window) is float32, as
// the layers'. A MixtureBase has no reparameterisation and is refused, as
// in float64. The target keeps its float64
// signature: it is called on each row of x widened to float64, exactly,
// and its gradient is rounded once to float32, where the backward walk
// starts. The loss is summed over rows in float64; the gradients, per
// shard and summed in shard order, are float32, so the result is
// bit-identical for any number of workers.
//
// A ReverseKL32 is not safe for concurrent use; it reuses its buffers, so
// that steady-state training allocates nothing.
type ReverseKL32 struct {
	runState
	shardSums32
	g       *Flow32
	shard   int
	workers int
	ws      []*workspace32 // per runner
	rows    [][]float64    // per runner: a row of x in float64 and the target's gradient, 2·D
	eps     [][]float32    // per runner: the shard's draws ε in float32, shard·D
	src     []float64
	ctx     []float64
	n       int
	target  Target
	ctarget ConditionalTarget
	packs   prepack32Job
}

// NewReverseKL32 returns the reverse-KL objective of g to target, run on up
// to workers goroutines (≤ 0: GOMAXPROCS) in shards of shardSize rows
// (≤ 0: DefaultShardSize). It panics if g or target is nil, or if g has a
// layer that cannot backpropagate through Forward (a MAF layer, whose
// Forward is sequential; as for ReverseKL) or a base with no
// reparameterisation gradient (a MixtureBase, as for ReverseKL).
func NewReverseKL32(g *Flow32, target Target, workers, shardSize int) *ReverseKL32 {
	if target == nil {
		panic("flow: NewReverseKL32: nil target")
	}
	k := newReverseKL32("NewReverseKL32", g, workers, shardSize)
	k.target = target
	return k
}

// NewReverseKLGiven32 is NewReverseKLGiven for a Flow32: the amortised
// reverse KL to a conditional target π(x | c), which is called with row
// i's x_i (in float64) and the context c_i as given to LossGradGiven.
func NewReverseKLGiven32(g *Flow32, target ConditionalTarget, workers, shardSize int) *ReverseKL32 {
	if target == nil {
		panic("flow: NewReverseKLGiven32: nil target")
	}
	k := newReverseKL32("NewReverseKLGiven32", g, workers, shardSize)
	k.ctarget = target
	return k
}

func newReverseKL32(method string, g *Flow32, workers, shardSize int) *ReverseKL32 {
	if g == nil {
		panic("flow: " + method + ": nil flow")
	}
	if err := g.reverseKLErr(); err != nil {
		panic(fmt.Sprintf("flow: %s: %v", method, err))
	}
	if shardSize <= 0 {
		shardSize = DefaultShardSize
	}
	return &ReverseKL32{g: g, shard: shardSize, workers: workers, packs: prepack32Job{g: g}}
}

// reverseKLErr returns why g cannot train by reverse KL in float32, or nil:
// what the float64 flow refuses, a base with no reparameterisation
// gradient (Base.reparamErr: a MixtureBase), or a layer that cannot
// backpropagate through Forward.
func (g *Flow32) reverseKLErr() error {
	if err := g.f.base.reparamErr(); err != nil {
		return err
	}
	return g.backwardErr(true)
}

// backwardErr returns an error naming the first layer of g that has no
// float32 backward pass through Forward (forward) or Inverse (!forward),
// or nil.
func (g *Flow32) backwardErr(forward bool) error { return g.f.backwardErr(forward, true) }

// backwardErr returns an error naming the first layer of f that has no
// backward pass through Forward (forward: what reverse-KL training needs)
// or Inverse (maximum-likelihood training), in float32 (f32) or float64,
// or nil.
func (f *Flow) backwardErr(forward, f32 bool) error {
	for l, ly := range f.layers {
		if !hasBackward(ly, forward, f32) {
			dir, what := "Inverse", "maximum-likelihood training"
			if forward {
				dir, what = "Forward", "reverse-KL training"
			}
			return fmt.Errorf("layer %d (%T) cannot backpropagate through %s, which %s needs", l, ly, dir, what)
		}
	}
	return nil
}

// hasBackward reports whether the layer l backpropagates through Forward
// (forward) or Inverse, in float32 (f32: a forwardGrader32 or an
// inverseGrader32) or float64 (a ForwardGrader or an InverseGrader); for
// an Inverted layer, whether the wrapped layer backpropagates through the
// other direction.
func hasBackward(l Layer, forward, f32 bool) bool {
	if v, ok := l.(*Inverted); ok {
		return hasBackward(v.L, !forward, f32)
	}
	var ok bool
	switch {
	case forward && f32:
		_, ok = l.(forwardGrader32)
	case forward:
		_, ok = l.(ForwardGrader)
	case f32:
		_, ok = l.(inverseGrader32)
	default:
		_, ok = l.(InverseGrader)
	}
	return ok
}

// LossGrad returns the reverse-KL loss of the base's standard normal draws
// z (n×D, one per row, the ε of ReverseKL) and writes its gradient with respect to the
// parameters into grad (length NumParams). It panics if the flow is
// conditional: see LossGradGiven.
func (k *ReverseKL32) LossGrad(grad []float32, z mat.Matrix) float64 {
	k.g.f.unconditional("ReverseKL32.LossGrad", "LossGradGiven")
	return k.lossGrad("ReverseKL32.LossGrad", grad, z, nil)
}

// LossGradGiven is LossGrad for draws z with their contexts, the rows of c
// (n×C; nil for an unconditional flow), as ReverseKL.LossGradGiven.
func (k *ReverseKL32) LossGradGiven(grad []float32, z, c mat.Matrix) float64 {
	return k.lossGrad("ReverseKL32.LossGradGiven", grad, z, c)
}

func (k *ReverseKL32) lossGrad(method string, grad []float32, z, c mat.Matrix) float64 {
	f := k.g.f
	data, ctx, n := k.g.batch(method, "z", grad, z, c)
	shards := (n + k.shard - 1) / k.shard
	runners := workersFor(k.workers, shards)
	for len(k.ws) < runners {
		k.ws = append(k.ws, k.g.newWorkspace(k.shard))
		k.rows = append(k.rows, make([]float64, 2*f.d))
		k.eps = append(k.eps, make([]float32, k.shard*f.d))
	}
	k.begin(shards, k.g.NumParams())
	k.src, k.ctx, k.n = data, ctx, n
	if k.packs.prepack(min(k.shard, n), shards, k.workers) {
		defer k.packs.unpack()
	}
	runShards(k, &k.runState, shards, runners)
	k.src, k.ctx = nil, nil
	return k.end(grad, shards, n, runners)
}

func (k *ReverseKL32) runShard(r, s int) {
	d, c := k.g.f.d, k.g.f.c
	lo := s * k.shard
	hi := min(lo+k.shard, k.n)
	var ctx []float64
	if k.ctx != nil {
		ctx = k.ctx[lo*c : hi*c]
	}
	ws := k.ws[r]
	src := k.src[lo*d : hi*d]
	eps := k.eps[r][:len(src)]
	cvt64to32(eps, src)
	k.g.forwardPass(ws, src, ctx, hi-lo, true)
	k.losses[s] = k.g.klBackward(ws, k.rows[r], eps, hi-lo, ctx, k.target, k.ctarget, k.grads[s])
}

// klBackward follows forwardPass over n rows with draws, whose z
// (bufs[0]) the base made from the draws eps (n×D, float32), and ctx the
// rows' contexts in float64 (nil without). It returns Σ_i [log p(z_i) −
// ld_i − log π(x_i)], the summed reverse-KL loss in float64, and adds its
// gradient with respect to the parameters into grad, as Flow.klBackward
// does: log p(z_i) is the base's drawLogProb32, the target is called on
// x_i widened to float64 (in the row buffer row, 2·D), ∂ℓ/∂x = −∇log π(x)
// rounded to float32 and ∂ℓ/∂ld = −1, the layers are walked from the data
// side down to ∂ℓ/∂z, and the base adds the derivatives through z = T(ε)
// and its own density into its window of grad (klGrad32).
func (g *Flow32) klBackward(ws *workspace32, row []float64, eps []float32, n int, ctx []float64, target Target, ctarget ConditionalTarget, grad []float32) float64 {
	d, c, L := g.f.d, g.f.c, len(g.layers)
	x := ws.bufs[L][:n*d]
	dx := ws.dA[:n*d]
	xr, gr := row[:d:d], row[d:2*d:2*d]
	bp := g.baseWindow(g.params)
	// log p(z_i), each row in float64 (ws.out).
	lpz := ws.out[:n]
	g.base.drawLogProb32(bp, lpz, eps, ws.ctx, ws.bwork)
	loss := 0.0
	for i := 0; i < n; i++ {
		cvt32to64(xr, x[i*d:i*d+d])
		var lp float64
		if ctarget != nil {
			var ci []float64
			if ctx != nil {
				ci = ctx[i*c : i*c+c : i*c+c]
			}
			lp = ctarget(gr, xr, ci)
		} else {
			lp = target(gr, xr)
		}
		dxr := dx[i*d : i*d+d]
		for j, v := range gr {
			dxr[j] = float32(-v)
		}
		loss += lpz[i] - float64(ws.logdet[i]) - lp
	}
	dld := ws.dld[:n]
	for i := range dld {
		dld[i] = -1
	}
	dz := ws.dB[:n*d]
	for l := L - 1; l >= 0; l-- {
		fg, ok := g.layers[l].(forwardGrader32)
		if !ok {
			panic(fmt.Sprintf("flow: layer %d (%T) cannot backpropagate through Forward", l, g.layers[l]))
		}
		lo, hi := g.f.offs[l], g.f.offs[l+1]
		fg.forwardBackward32(g.params[lo:hi], dz, nil, dx, dld, ws.bufs[l][:n*d], ws.bufs[l+1][:n*d], ws.ctx, ws.work[l], grad[lo:hi])
		dz, dx = dx, dz
	}
	// dx now holds ∂ℓ/∂z.
	g.base.klGrad32(bp, nil, dx, eps, ws.ctx, ws.bwork, g.baseWindow(grad))
	return loss
}
