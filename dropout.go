// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
)

// Dropout in the residual conditioners (docs/design.md §1.4, §1.6, §5), as
// the neural spline flows of Durkan et al. (2019) train them, after
// Srivastava et al. (2014): in training by maximum likelihood, unit k of
// the inner activation v_j of residual block j of row r is kept with
// probability 1 − p and scaled by 1/(1 − p) (inverted dropout), or set to
// zero,
//
//	ṽ_j[r, k] = v_j[r, k]·m_j[r, k]/(1 − p),   m_j[r, k] ∈ {0, 1},
//
// and ṽ_j takes v_j's place before the block's second dense layer. Every
// other pass (LogProb, Sample, Forward, Inverse, the reverse KL, the
// validation loss) has no dropout: it is the expectation's network.
//
// The mask bits are a counter-based hash (Salmon et al. 2011, "Parallel
// random numbers: as easy as 1, 2, 3") of (seed, step, flow layer,
// block, global row, unit), never the state of a shared generator: bit
// m_j[r, k] is 0 iff
//
//	mix(mix(mix(key + j·γ) + r·γ) + (k + 1)·γ) < ⌊p·2⁶⁴⌋
//	key = mix(mix(mix(seed + γ) + (step + 1)·γ) + (l + 1)·γ)
//
// in uint64 arithmetic (modulo 2⁶⁴), with mix the SplitMix64 finaliser
// (Steele, Lea & Flood 2014), γ its increment 0x9e3779b97f4a7c15, l the
// layer's index in the flow, j the block (1-based), k the unit (in the
// stored order of the hidden units) and r the row's index in the
// minibatch (its shard's first row plus its index in the shard). So a row's masks depend
// on where it is in the minibatch, not on which goroutine runs its shard,
// and training is bit-identical for any number of goroutines.

// dropGamma is SplitMix64's increment, the golden ratio in 64 bits.
const dropGamma = 0x9e3779b97f4a7c15

// mix64 is the SplitMix64 finaliser: a bijection of the 64-bit words that
// spreads every input bit over the output.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// dropState is the dropout of a training pass over one shard, kept in the
// shard's workspace (docs/design.md §5): its zero value is off.
type dropState struct {
	on   bool
	p    float64
	seed uint64
	step uint64
	row0 int // the index in the minibatch of the shard's first row
}

// dropSchedule is the dropout of a maximum-likelihood objective (either
// precision): the probability, the masks' seed and the step whose masks
// the next call draws.
type dropSchedule struct {
	p    float64
	seed uint64
	step uint64
}

// state returns the dropout of the shard whose first row is row lo of the
// minibatch (off without a dropout).
func (d *dropSchedule) state(lo int) dropState {
	return dropState{on: d.p > 0, p: d.p, seed: d.seed, step: d.step, row0: lo}
}

// forLayer returns the dropout of flow layer l of the pass.
func (s dropState) forLayer(l int) dropout {
	if !s.on {
		return dropout{}
	}
	key := mix64(mix64(mix64(s.seed+dropGamma)+(s.step+1)*dropGamma) + uint64(l+1)*dropGamma)
	return dropout{thresh: dropThreshold(s.p), scale: 1 / (1 - s.p), key: key, row0: s.row0}
}

// dropThreshold returns ⌊p·2⁶⁴⌋, the threshold below which a hash drops its
// unit, for p in [0, 1).
func dropThreshold(p float64) uint64 {
	return uint64(math.Ldexp(p, 64))
}

// dropout is what a layer's residual network needs to drop the units of
// one pass over a shard: its zero value is off.
type dropout struct {
	thresh uint64  // a unit whose hash is below it is dropped; 0: off
	scale  float64 // 1/(1 − p)
	key    uint64  // mix of (seed, step, layer)
	row0   int     // the index in the minibatch of the shard's first row
}

func (d dropout) on() bool { return d.thresh != 0 }

// rowKey returns the key of row r of the shard in block j (1-based).
func (d dropout) rowKey(j, r int) uint64 {
	return mix64(mix64(d.key+uint64(j)*dropGamma) + uint64(d.row0+r)*dropGamma)
}

// factor returns m/(1 − p) for unit k of the row of key rk: 0 or scale.
func (d dropout) factor(rk uint64, k int) float64 {
	if mix64(rk+uint64(k+1)*dropGamma) < d.thresh {
		return 0
	}
	return d.scale
}

// apply writes ṽ = v ⊙ m/(1 − p) of block j into dst, both n×h.
func (d dropout) apply(dst, v []float64, j, n, h int) { dropApply(d, dst, v, j, n, h) }

// dropApply is dropout.apply for either element type.
func dropApply[T kernElem](d dropout, dst, v []T, j, n, h int) {
	for r := 0; r < n; r++ {
		rk := d.rowKey(j, r)
		dr, vr := dst[r*h:(r+1)*h], v[r*h:(r+1)*h]
		for k, x := range vr {
			dr[k] = x * T(d.factor(rk, k))
		}
	}
}

// dropScaleBack multiplies g (n×h), a gradient with respect to ṽ of block
// j, by m/(1 − p), making it the gradient with respect to v; for either
// element type.
func dropScaleBack[T kernElem](d dropout, g []T, j, n, h int) {
	for r := 0; r < n; r++ {
		rk := d.rowKey(j, r)
		gr := g[r*h : (r+1)*h]
		for k := range gr {
			gr[k] *= T(d.factor(rk, k))
		}
	}
}

// dropLayer is a layer whose conditioner may drop units in training by
// maximum likelihood, through Inverse: a coupling with a residual
// conditioner, a MAF with a residual MADE, and an Inverted layer whose
// wrapped layer is a forwardDropLayer. inverseDrop is Inverse with the
// dropout dr, and inverseBackwardDrop InverseBackward after it, with the
// same dr (the masks are recomputed from their hash, not stored). With no
// residual blocks they are Inverse and InverseBackward.
type dropLayer interface {
	inverseDrop(z, x, c, logdet, work []float64, dr dropout)
	inverseBackwardDrop(dx, dc, dz, dld, x, z, c, work, grad []float64, dr dropout)
}

// forwardDropLayer is dropLayer for the direction Forward, which an
// Inverted layer's Inverse runs: couplings, IAF layers (their one-pass
// direction) and Inverted layers wrapping a dropLayer.
type forwardDropLayer interface {
	forwardDrop(x, z, c, logdet, work []float64, dr dropout)
	forwardBackwardDrop(dz, dc, dx, dld, z, x, c, work, grad []float64, dr dropout)
}

// checkDropout returns an error unless p is in [0, 1).
func checkDropout(method string, p float64) error {
	if !(p >= 0 && p < 1) {
		return fmt.Errorf("flow: %s: dropout probability %v is not in [0, 1)", method, p)
	}
	return nil
}

// dropLayer32 is dropLayer for the float32 path, with the parameters p
// (the layer's window of a Flow32's vector): couplings and MAF layers, the
// same source as their float64 inverseDrop and inverseBackwardDrop.
type dropLayer32 interface {
	inverseDrop32(p, z, x, c, logdet, work []float32, dr dropout)
	inverseBackwardDrop32(p, dx, dc, dz, dld, x, z, c, work, grad []float32, dr dropout)
}

func (c *Coupling) inverseDrop32(p, z, x, ctx, logdet, work []float32, dr dropout) {
	checkRows("Coupling.Inverse", c.d, logdet, x, z)
	couplingCheckContext(c, "Coupling.Inverse", "context", ctx, len(logdet))
	couplingPass(c, p, z, x, ctx, logdet, work, false, dr)
}

func (c *Coupling) inverseBackwardDrop32(p, dx, dc, dz, dld, x, z, _, work, grad []float32, dr dropout) {
	couplingBackward(c, p, "Coupling.InverseBackward", dx, dc, dz, dld, x, z, work, grad, false, dr)
}

func (l *MAF) inverseDrop32(p, z, x, ctx, logdet, work []float32, dr dropout) {
	checkRows("MAF.Inverse", l.made.d, logdet, x, z)
	arCheckContext(&l.arLayer, "MAF.Inverse", ctx, logdet)
	arOnePass(&l.arLayer, p, z, x, ctx, logdet, work, false, dr)
}

func (l *MAF) inverseBackwardDrop32(p, dx, dc, dz, dld, _, _, _, work, grad []float32, dr dropout) {
	arOnePassBackward(&l.arLayer, p, dx, dc, dz, dld, work, grad, false, dr)
}

// inverseLayer runs layer l's float32 Inverse on the n rows of
// ws.bufs[l+1] into ws.bufs[l], given ws.ctx, adding to ws.logdet: with
// the shard's dropout (ws.drop) when it is on and the layer can drop
// units, as Flow.inverseLayer.
func (g *Flow32) inverseLayer(ws *workspace32, l, n int) {
	d := g.f.d
	z, x, ld := ws.bufs[l][:n*d], ws.bufs[l+1][:n*d], ws.logdet[:n]
	if dl, ok := g.layers[l].(dropLayer32); ok && ws.drop.on {
		dl.inverseDrop32(g.window(l), z, x, ws.ctx, ld, ws.work[l], ws.drop.forLayer(l))
		return
	}
	g.layers[l].inverse32(g.window(l), z, x, ws.ctx, ld, ws.work[l])
}

// walkInverseBackward walks layers from … to−1 of g backward through
// their float32 Inverse, the base side first, as Flow.walkInverseBackward:
// ws.dx holds ∂ℓ/∂(the output of layer from) and is left holding ∂ℓ/∂(the
// input of layer to−1), the deltas alternating between ws.dA and ws.dB;
// with the shard's dropout (ws.drop) when it is on.
func (g *Flow32) walkInverseBackward(ws *workspace32, n int, grad []float32, from, to int) {
	d := g.f.d
	dz := ws.dx
	dx := ws.otherDelta(n * d)
	dld := ws.dld[:n]
	for l := from; l < to; l++ {
		lo, hi := g.f.offs[l], g.f.offs[l+1]
		x, z := ws.bufs[l+1][:n*d], ws.bufs[l][:n*d]
		if dl, ok := g.layers[l].(dropLayer32); ok && ws.drop.on {
			dl.inverseBackwardDrop32(g.params[lo:hi], dx, nil, dz, dld, x, z, ws.ctx, ws.work[l], grad[lo:hi], ws.drop.forLayer(l))
		} else {
			ig, ok := g.layers[l].(inverseGrader32)
			if !ok {
				panic(fmt.Sprintf("flow: layer %d (%T) cannot backpropagate through Inverse", l, g.layers[l]))
			}
			ig.inverseBackward32(g.params[lo:hi], dx, nil, dz, dld, x, z, ws.ctx, ws.work[l], grad[lo:hi])
		}
		dz, dx = dx, dz
	}
	ws.dx = dz
}

// otherDelta returns the first n values of the delta buffer, dA or dB,
// that ws.dx is not a view of.
func (ws *workspace32) otherDelta(n int) []float32 { return otherDeltaOf(ws.dx, ws.dA, ws.dB, n) }
