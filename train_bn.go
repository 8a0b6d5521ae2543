// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

// bnTrain is the staged maximum-likelihood pass of a flow with BatchNorm
// layers (docs/design.md §5.3). A BatchNorm layer in training mode needs
// the statistics of its input over the whole minibatch, all shards, before
// any shard can pass it, and its backward pass needs sums over the whole
// minibatch before any shard can pass it backward. So the pass runs in
// stages, split at the BatchNorm layers, each stage one runShards call
// over the shards (a barrier inside a shard would deadlock the pool), and
// between the stages the caller combines the shards' shares in shard
// order. With K BatchNorm layers, b_0 > b_1 > … > b_{K−1} (the data side
// first):
//
//	stage k = 0 … K−1:  layers from b_{k−1} (in training mode; the top layer
//	                    when k = 0) down to b_k + 1, then the moments of
//	                    b_k's input → combined into b_k's batch statistics
//	stage K:            layers from b_{K−1} down to 0, the base, the loss,
//	                    the backward walk of layers 0 … b_{K−1} − 1, then
//	                    b_{K−1}'s share of the backward sums → combined
//	stage K+1+j':       for j = K−1−j' = K−1 … 0: b_j's ∂S/∂x from the
//	                    sums, the backward walk of the layers above it up to
//	                    b_{j−1} − 1 (the top layer when j = 0), then
//	                    b_{j−1}'s share of the sums → combined
//
// Every shard keeps its own workspace through all the stages (not one per
// runner), since its batch at every layer boundary, its layers' work and
// its deltas must survive from one stage to the next: the objective holds
// one per shard.
//
// The stages are one source for both element types (bnRunShard[T]): the
// objective (gradEval for float64, MaxLikelihood32 for float32) is the
// bnHost that runs the other layers, the base and the backward walk in
// its precision and hands over its shards' buffers. The statistics and
// the backward sums are float64 in both (see bnMoments and bnPartials),
// combined in shard order, so the result is bit-identical for any number
// of workers in either precision.
type bnTrain struct {
	idx   []int       // the BatchNorm layers' indices, descending
	part  [][]float64 // per shard: its moments [mean ; M2], or its share of the backward sums [Σ dz ; Σ dz·x̂ ; Λ]
	count []int       // per shard: its rows
	stats [][]float64 // per BatchNorm layer (in idx's order): the batch's [mean ; variance]
	sums  []float64   // the backward sums of the current BatchNorm layer, [Σ dz ; Σ dz·x̂ ; Λ]
	stage int
	shard int // the rows of a shard (the last may have fewer)
}

// newBNTrain returns the staged pass of f, or nil if f has no BatchNorm
// layer (then training runs each shard end to end, as always).
func newBNTrain(f *Flow) *bnTrain {
	idx := batchNormLayers(f)
	if len(idx) == 0 {
		return nil
	}
	b := &bnTrain{idx: idx, sums: make([]float64, 2*f.d+1)}
	for range idx {
		b.stats = append(b.stats, make([]float64, 2*f.d))
	}
	return b
}

// prepare sizes the per-shard buffers for the given shards of a flow of
// dimension d.
func (b *bnTrain) prepare(d, shards int) {
	for len(b.part) < shards {
		b.part = append(b.part, make([]float64, 2*d+1))
		b.count = append(b.count, 0)
	}
}

// lossGrad runs the stages over n rows in shards of shard rows on the
// given runners, each stage one runShards call of job (the objective,
// whose runShard calls bnRunShard), combining the shards' shares between
// the stages.
func (b *bnTrain) lossGrad(job shardJob, st *runState, n, shard, shards, runners int) {
	K := len(b.idx)
	d := len(b.sums) / 2
	b.shard = shard
	for s := range shards {
		b.count[s] = min(shard, n-s*shard)
	}
	for b.stage = 0; b.stage <= 2*K; b.stage++ {
		runShards(job, st, shards, runners)
		switch {
		case b.stage < K:
			bnCombine(b.stats[b.stage], b.part[:shards], b.count[:shards], d)
		case b.stage < 2*K:
			// The shares of the backward sums, in shard order.
			copy(b.sums, b.part[0])
			for _, p := range b.part[1:shards] {
				for i, v := range p {
					b.sums[i] += v
				}
			}
		}
	}
}

// bnSnapshot returns a function that puts back the stored statistics of
// f's BatchNorm layers as they are now (Fit's refusals).
func bnSnapshot(f *Flow) func() {
	var saved [][]float64
	for _, l := range batchNormLayers(f) {
		b := f.layers[l].(*BatchNorm)
		saved = append(saved, append(append([]float64(nil), b.mean...), b.vari...))
	}
	return func() {
		for k, l := range batchNormLayers(f) {
			b := f.layers[l].(*BatchNorm)
			copy(b.mean, saved[k][:b.d])
			copy(b.vari, saved[k][b.d:])
		}
	}
}

// bnHost is what the staged pass needs of the objective that runs it, in
// the objective's element type T, for shard s (whose workspace is its
// own through the stages).
type bnHost[T kernElem] interface {
	// bnEnter sets shard s's dropout, its first row being row lo of the
	// minibatch; at the start of every stage.
	bnEnter(s, lo int)
	// bnLoad puts the shard's m rows from row lo (and their contexts) at
	// the top of its workspace and clears its log-dets.
	bnLoad(s, lo, m int)
	// bnInverseLayer runs layer l's Inverse (with the shard's dropout) on
	// the shard's m rows.
	bnInverseLayer(s, l, m int)
	// bnNLLStart is the base's part of the backward pass (nllStart): it
	// records the shard's summed loss and leaves ∂ℓ/∂z as the delta.
	bnNLLStart(s, m int)
	// bnWalk walks layers from … to−1 backward through Inverse.
	bnWalk(s, m, from, to int)
	// bnBufs returns the shard's batch at layer l's input (buf l+1) and
	// output (buf l), layer l's work, its log-dets and ∂ℓ/∂ld, its delta
	// and the other delta buffer (m rows each), layer l's parameters and
	// its window of the shard's gradient.
	bnBufs(s, l, m int) bnBufs[T]
	// bnSetDelta makes dx (the other delta buffer) the shard's delta.
	bnSetDelta(s int, dx []T)
}

// bnBufs are a shard's buffers around one BatchNorm layer (bnHost.bnBufs).
type bnBufs[T kernElem] struct {
	in, out, work, logdet, dld []T
	delta, other               []T
	params, grad               []T
}

// bnRunShard runs the current stage of b on shard s of h, the minibatch
// having n rows.
func bnRunShard[T kernElem](b *bnTrain, h bnHost[T], f *Flow, s, n int) {
	K, L, d := len(b.idx), len(f.layers), f.d
	lo := s * b.shard
	m := b.count[s]
	h.bnEnter(s, lo)
	switch k := b.stage; {
	case k <= K:
		top := L - 1
		if k == 0 {
			// The shard's gradient is zero (gradEval.dirty).
			h.bnLoad(s, lo, m)
		} else {
			top = b.idx[k-1]
			bn := f.layers[top].(*BatchNorm)
			st := b.stats[k-1]
			u := h.bnBufs(s, top, m)
			bnTrainInverse(bn, u.params, u.out, u.in, u.logdet, u.work, st[:d], st[d:])
			top--
		}
		bottom := 0
		if k < K {
			bottom = b.idx[k] + 1
		}
		for l := top; l >= bottom; l-- {
			h.bnInverseLayer(s, l, m)
		}
		if k < K {
			bnMoments(b.part[s], h.bnBufs(s, bottom-1, m).in, m, d)
			return
		}
		// The last forward stage: the loss, the base, and the walk
		// back up to the lowest BatchNorm layer.
		h.bnNLLStart(s, m)
		bl := b.idx[K-1]
		h.bnWalk(s, m, 0, bl)
		u := h.bnBufs(s, bl, m)
		bnPartials(f.layers[bl].(*BatchNorm), u.params, b.part[s], u.delta, u.dld, u.work, u.grad)
	default:
		j := 2*K - k // the BatchNorm layer b_j, j = K−1 … 0
		bl := b.idx[j]
		u := h.bnBufs(s, bl, m)
		bnTrainBackward(f.layers[bl].(*BatchNorm), u.params, u.other, u.delta, u.work, b.sums, n)
		h.bnSetDelta(s, u.other)
		to := L
		if j > 0 {
			to = b.idx[j-1]
		}
		h.bnWalk(s, m, bl+1, to)
		if j > 0 {
			v := h.bnBufs(s, to, m)
			bnPartials(f.layers[to].(*BatchNorm), v.params, b.part[s], v.delta, v.dld, v.work, v.grad)
		}
	}
}

// The float64 objective as the staged pass's host: its workspaces are one
// per shard while it trains a flow with BatchNorm layers.

func (g *gradEval) bnEnter(s, lo int) { g.ws[s].drop = g.dropState(lo) }

func (g *gradEval) bnLoad(s, lo, m int) {
	f, ws := g.f, g.ws[s]
	d := f.d
	copy(ws.bufs[len(f.layers)][:m*d], g.src[lo*d:lo*d+m*d])
	ws.ctx = nil
	if g.ctx != nil {
		ws.ctx = g.ctx[lo*f.c : (lo+m)*f.c]
	}
	clear(ws.logdet[:m])
}

func (g *gradEval) bnInverseLayer(s, l, m int) { g.f.inverseLayer(g.ws[s], l, m) }

func (g *gradEval) bnNLLStart(s, m int) { g.losses[s] = g.f.nllStart(g.ws[s], m, g.grads[s], nil) }

func (g *gradEval) bnWalk(s, m, from, to int) {
	g.f.walkInverseBackward(g.ws[s], m, g.grads[s], nil, from, to)
}

func (g *gradEval) bnBufs(s, l, m int) bnBufs[float64] {
	f, ws := g.f, g.ws[s]
	n := m * f.d
	lo, hi := f.offs[l], f.offs[l+1]
	return bnBufs[float64]{
		in: ws.bufs[l+1][:n], out: ws.bufs[l][:n], work: ws.work[l], logdet: ws.logdet[:m], dld: ws.dld[:m],
		delta: ws.dx, other: ws.otherDelta(n), params: f.params[lo:hi], grad: g.grads[s][lo:hi],
	}
}

func (g *gradEval) bnSetDelta(s int, dx []float64) { g.ws[s].dx = dx }

// otherDelta returns the first n values of the delta buffer, dA or dB,
// that ws.dx is not a view of.
func (ws *workspace) otherDelta(n int) []float64 { return otherDeltaOf(ws.dx, ws.dA, ws.dB, n) }

// otherDeltaOf returns the first n values of dA or dB, the one that dx is
// not a view of.
func otherDeltaOf[T kernElem](dx, dA, dB []T, n int) []T {
	if len(dx) > 0 && &dx[0] == &dA[0] {
		return dB[:n]
	}
	return dA[:n]
}

// The float32 objective as the staged pass's host, as gradEval.

func (m *MaxLikelihood32) bnEnter(s, lo int) { m.ws[s].drop = m.drop.state(lo) }

func (m *MaxLikelihood32) bnLoad(s, lo, n int) {
	d, c := m.g.f.d, m.g.f.c
	var ctx []float64
	if m.ctx != nil {
		ctx = m.ctx[lo*c : (lo+n)*c]
	}
	m.g.loadRows(m.ws[s], m.src[lo*d:(lo+n)*d], ctx, n)
}

func (m *MaxLikelihood32) bnInverseLayer(s, l, n int) { m.g.inverseLayer(m.ws[s], l, n) }

func (m *MaxLikelihood32) bnNLLStart(s, n int) { m.losses[s] = m.g.nllStart(m.ws[s], n, m.grads[s]) }

func (m *MaxLikelihood32) bnWalk(s, n, from, to int) {
	m.g.walkInverseBackward(m.ws[s], n, m.grads[s], from, to)
}

func (m *MaxLikelihood32) bnBufs(s, l, n int) bnBufs[float32] {
	f, ws := m.g.f, m.ws[s]
	k := n * f.d
	lo, hi := f.offs[l], f.offs[l+1]
	return bnBufs[float32]{
		in: ws.bufs[l+1][:k], out: ws.bufs[l][:k], work: ws.work[l], logdet: ws.logdet[:n], dld: ws.dld[:n],
		delta: ws.dx, other: ws.otherDelta(k), params: m.g.params[lo:hi], grad: m.grads[s][lo:hi],
	}
}

func (m *MaxLikelihood32) bnSetDelta(s int, dx []float32) { m.ws[s].dx = dx }
