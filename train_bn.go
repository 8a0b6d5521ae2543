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
// its deltas must survive from one stage to the next.
type bnTrain struct {
	idx   []int        // the BatchNorm layers' indices, descending
	ws    []*workspace // per shard
	part  [][]float64  // per shard: its moments [mean ; M2], or its share of the backward sums [Σ dz ; Σ dz·x̂ ; Λ]
	count []int        // per shard: its rows
	stats [][]float64  // per BatchNorm layer (in idx's order): the batch's [mean ; variance]
	sums  []float64    // the backward sums of the current BatchNorm layer, [Σ dz ; Σ dz·x̂ ; Λ]
	stage int
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

// prepare sizes the per-shard buffers for the given shards of g.shard rows.
func (b *bnTrain) prepare(g *gradEval, shards int) {
	for len(b.ws) < shards {
		b.ws = append(b.ws, g.f.newWorkspace(g.shard))
		b.part = append(b.part, make([]float64, 2*g.f.d+1))
		b.count = append(b.count, 0)
	}
}

// lossGrad runs the stages over the n rows in g.src on the given runners.
func (b *bnTrain) lossGrad(g *gradEval, shards, runners int) {
	K := len(b.idx)
	d := g.f.d
	for s := range shards {
		b.count[s] = min(g.shard, g.n-s*g.shard)
	}
	for b.stage = 0; b.stage <= 2*K; b.stage++ {
		runShards(g, &g.runState, shards, runners)
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

// runShard runs the current stage on shard s.
func (b *bnTrain) runShard(g *gradEval, s int) {
	f := g.f
	K, L, d := len(b.idx), len(f.layers), f.d
	ws := b.ws[s]
	grad := g.grads[s]
	lo := s * g.shard
	// The shard's dropout, as in gradEval.runShard; the workspace is the
	// shard's own through all the stages.
	ws.drop = g.dropState(lo)
	m := b.count[s]
	switch k := b.stage; {
	case k <= K:
		top := L - 1
		if k == 0 {
			// grad is zero (gradEval.dirty).
			copy(ws.bufs[L][:m*d], g.src[lo*d:lo*d+m*d])
			ws.ctx = nil
			if g.ctx != nil {
				ws.ctx = g.ctx[lo*f.c : (lo+m)*f.c]
			}
			clear(ws.logdet[:m])
		} else {
			top = b.idx[k-1]
			bn := f.layers[top].(*BatchNorm)
			st := b.stats[k-1]
			bn.trainInverse(ws.bufs[top][:m*d], ws.bufs[top+1][:m*d], ws.logdet[:m], ws.work[top], st[:d], st[d:])
			top--
		}
		bottom := 0
		if k < K {
			bottom = b.idx[k] + 1
		}
		for l := top; l >= bottom; l-- {
			f.inverseLayer(ws, l, m)
		}
		if k < K {
			bnMoments(b.part[s], ws.bufs[bottom][:m*d], m, d)
			return
		}
		// The last forward stage: the loss, the base, and the walk
		// back up to the lowest BatchNorm layer.
		g.losses[s] = f.nllStart(ws, m, grad, nil)
		bl := b.idx[K-1]
		f.walkInverseBackward(ws, m, grad, nil, 0, bl)
		bn := f.layers[bl].(*BatchNorm)
		bn.bnPartials(b.part[s], ws.dx, ws.dld[:m], ws.work[bl], grad[f.offs[bl]:f.offs[bl+1]])
	default:
		j := 2*K - k // the BatchNorm layer b_j, j = K−1 … 0
		bl := b.idx[j]
		bn := f.layers[bl].(*BatchNorm)
		dx := ws.otherDelta(m * d)
		bn.trainBackward(dx, ws.dx, ws.work[bl], b.sums, g.n)
		ws.dx = dx
		to := L
		if j > 0 {
			to = b.idx[j-1]
		}
		f.walkInverseBackward(ws, m, grad, nil, bl+1, to)
		if j > 0 {
			up := f.layers[to].(*BatchNorm)
			up.bnPartials(b.part[s], ws.dx, ws.dld[:m], ws.work[to], grad[f.offs[to]:f.offs[to+1]])
		}
	}
}

// otherDelta returns the first n values of the delta buffer, dA or dB,
// that ws.dx is not a view of.
func (ws *workspace) otherDelta(n int) []float64 {
	if &ws.dx[0] == &ws.dA[0] {
		return ws.dB[:n]
	}
	return ws.dA[:n]
}
