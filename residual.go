// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import "fmt"

// maxResidualBlocks bounds the residual blocks of a conditioner, as the
// model format bounds its hidden layers.
const maxResidualBlocks = 64

// The residual conditioner, an mlp with blocks = R > 0: the pre-activation
// residual network of the neural spline flows of Durkan et al. (2019),
// "Neural Spline Flows" (their ResidualNet), from in inputs through R
// blocks of width H to out outputs. Over a batch of n rows X (n×in):
//
//	h_0 = X·W_inᵀ + b_in                                     (n×H)
//	u_j = act(h_{j−1}),  v_j = act(u_j·W_{j,1}ᵀ + b_{j,1})
//	h_j = h_{j−1} + v_j·W_{j,2}ᵀ + b_{j,2}                     for j = 1, …, R
//	u_{R+1} = act(h_R),  out = u_{R+1}·W_outᵀ + b_out
//
// Its dense layers, in parameter order (each W out×in row-major, then b),
// are W_in (H×in), then W_{j,1}, W_{j,2} (H×H) for j = 1, …, R, then W_out
// (out×H). mlp.init draws W_in and every W_{j,·} from U(−1/√fan-in,
// 1/√fan-in) and zeroes the biases and W_out, b_out, so out = 0: the layer
// it drives starts as the identity.
//
// The workspace of a pass over n rows holds u_1, …, u_{R+1}, v_1, …, v_R,
// the running h and out, all kept for backward, then three n×H buffers for
// the backward deltas.
//
// With dropout (dropout.go; training by maximum likelihood only) the
// second layer of block j reads ṽ_j = v_j ⊙ m_j/(1 − p) in place of v_j:
//
//	h_j = h_{j−1} + ṽ_j·W_{j,2}ᵀ + b_{j,2}
//
// v_j itself stays in its buffer (the activation's derivative is read from
// it); ṽ_j is written, in the forward pass and again in the backward pass
// from the same hash, into the third delta buffer, free at those times.

// newResMLP returns the residual network from in inputs through blocks
// residual blocks of width h to out outputs.
func newResMLP(in, h, out, blocks int, act Activation) mlp {
	return mlp{sizes: []int{in, h, out}, act: act, maxW: h, blocks: blocks}
}

// checkResidual returns an error unless 0 ≤ blocks ≤ maxResidualBlocks and,
// when blocks > 0, hidden holds exactly one width.
func checkResidual(blocks int, hidden []int) error {
	if blocks < 0 {
		return fmt.Errorf("%d residual blocks < 0", blocks)
	}
	if blocks > maxResidualBlocks {
		return fmt.Errorf("%d residual blocks, more than the limit of %d", blocks, maxResidualBlocks)
	}
	if blocks > 0 && len(hidden) != 1 {
		return fmt.Errorf("residual blocks (%d) need exactly one hidden width, the blocks' width H, not %d", blocks, len(hidden))
	}
	return nil
}

// resWorkLen is the workspace of a pass over n rows: (2R + 2)·n·H for the
// u_j, v_j and h, n·out for the output and 3·n·H for the backward deltas.
func (m *mlp) resWorkLen(n int) int {
	h := m.sizes[1]
	return (2*m.blocks+5)*n*h + n*m.out()
}

// mlpResBuf returns buffer j (0-based) of the workspace of a pass over n
// rows, n×H.
func mlpResBuf[T kernElem](m *mlp, work []T, n, j int) []T {
	nh := n * m.sizes[1]
	return work[j*nh : (j+1)*nh : (j+1)*nh]
}

// The workspace's buffers, each n×H: u_j at j − 1 (j = 1, …, R+1), v_j at
// R + j (j = 1, …, R), h at 2R + 1 and the backward's δh, δa and the
// δu scratch at 2R + 2, 2R + 3, 2R + 4; the output follows them.
func mlpResU[T kernElem](m *mlp, work []T, n, j int) []T { return mlpResBuf(m, work, n, j-1) }
func mlpResV[T kernElem](m *mlp, work []T, n, j int) []T {
	return mlpResBuf(m, work, n, m.blocks+j)
}

func mlpResOutput[T kernElem](m *mlp, work []T, n int) []T {
	o := (2*m.blocks + 5) * n * m.sizes[1]
	return work[o : o+n*m.out()]
}

// mlpResForward evaluates the residual network on the n rows of x (n×in) and
// returns its output, a view of work (n×out).
func mlpResForward[T kernElem](m *mlp, p, x []T, n int, work []T, dr dropout) []T {
	H, R := m.sizes[1], m.blocks
	h := mlpResBuf(m, work, n, 2*R+1)
	mlpDenseFwd(m, p, 1, h, x, n, false) // h_0
	u := mlpResU(m, work, n, 1)
	copy(u, h)
	applyT(m.act, u) // u_1 = act(h_0)
	for j := 1; j <= R; j++ {
		v := mlpResV(m, work, n, j)
		mlpDenseFwd(m, p, 2*j, v, u, n, true) // v_j
		src := v
		if dr.on() {
			src = mlpResBuf(m, work, n, 2*R+4)
			dropApply(dr, src, v, j, n, H) // ṽ_j
		}
		// u_{j+1} first holds v_j·W_{j,2}ᵀ + b_{j,2}, then act(h_j).
		next := mlpResU(m, work, n, j+1)
		mlpDenseFwd(m, p, 2*j+1, next, src, n, false)
		for i, t := range next {
			h[i] += t // h_j
		}
		copy(next, h)
		applyT(m.act, next)
		u = next
	}
	out := mlpResOutput(m, work, n)
	mlpDenseFwd(m, p, 2*R+2, out, u, n, false)
	return out
}

// mlpResBackward backpropagates dout = ∂L/∂out (n×out) through the pass
// resForward left in work, adds ∂L/∂θ into grad (the network's window) and,
// when dx is not nil, writes ∂L/∂x (n×in) into dx. dout is not modified.
//
// With δh_j = ∂L/∂h_j, and act' read from the outputs u_j = act(h_{j−1})
// and v_j as backwardT does:
//
//	∂L/∂W_out += doutᵀ·u_{R+1},  ∂L/∂b_out += Σ_rows dout
//	δh_R = (dout·W_out) ⊙ act'(h_R)
//
// then for j = R, …, 1, with δt = δh_j the gradient of the block's output
// t_j = v_j·W_{j,2}ᵀ + b_{j,2} (h_j = h_{j−1} + t_j):
//
//	∂L/∂W_{j,2} += δtᵀ·v_j,      ∂L/∂b_{j,2} += Σ_rows δt
//	δa = (δt·W_{j,2}) ⊙ act'(a)   (a = u_j·W_{j,1}ᵀ + b_{j,1}, v_j = act(a))
//	∂L/∂W_{j,1} += δaᵀ·u_j,      ∂L/∂b_{j,1} += Σ_rows δa
//	δh_{j−1} = δh_j + (δa·W_{j,1}) ⊙ act'(h_{j−1})
//
// and last
//
//	∂L/∂W_in += δh_0ᵀ·x,  ∂L/∂b_in += Σ_rows δh_0,  ∂L/∂x = δh_0·W_in.
//
// With dropout, t_j = ṽ_j·W_{j,2}ᵀ + b_{j,2} and ṽ_j = v_j ⊙ m_j/(1 − p),
// the mask fixed (the same hash as the forward pass), so
//
//	∂L/∂W_{j,2} += δtᵀ·ṽ_j,      δa = (δt·W_{j,2}) ⊙ m_j/(1 − p) ⊙ act'(a)
//
// and the rest as above.
func mlpResBackward[T kernElem](m *mlp, p, x []T, n int, work, dout, grad, dx []T, dr dropout) {
	in, H, R := m.sizes[0], m.sizes[1], m.blocks
	dh := mlpResBuf(m, work, n, 2*R+2)
	dv := mlpResBuf(m, work, n, 2*R+3)
	du := mlpResBuf(m, work, n, 2*R+4)
	grads := func(l int) (dw, db []T) {
		in, out := m.dense(l)
		_, _, off := mlpLayer(m, p, l)
		return grad[off : off+out*in], grad[off+out*in : off+out*in+out]
	}
	L := 2*R + 2
	u := mlpResU(m, work, n, R+1)
	dw, db := grads(L)
	denseBackwardW(dw, db, dout, u, n, H, m.out())
	mlpDenseBwdX(m, p, L, dh, dout, u, n) // δh_R
	for j := R; j >= 1; j-- {
		v := mlpResV(m, work, n, j)
		src := v
		if dr.on() {
			src = du // free until δu below
			dropApply(dr, src, v, j, n, H)
		}
		dw, db = grads(2*j + 1)
		denseBackwardW(dw, db, dh, src, n, H, H)
		mlpDenseBwdX(m, p, 2*j+1, dv, dh, nil, n)
		if dr.on() {
			dropScaleBack(dr, dv, j, n, H)
		}
		backwardT(m.act, dv, v) // δa
		u = mlpResU(m, work, n, j)
		dw, db = grads(2 * j)
		denseBackwardW(dw, db, dv, u, n, H, H)
		mlpDenseBwdX(m, p, 2*j, du, dv, u, n)
		for i, g := range du {
			dh[i] += g // δh_{j−1}
		}
	}
	dw, db = grads(1)
	denseBackwardW(dw, db, dh, x, n, in, H)
	if dx != nil {
		mlpDenseBwdX(m, p, 1, dx, dh, nil, n)
	}
}

// resSize returns the parameter count of a residual network from in inputs
// through blocks blocks of width h to out outputs, and its workspace per
// row (mlp.numParams and mlp.resWorkLen(1)).
func resSize(in, h, blocks int, out float64) (params, workRow float64) {
	fin, fh, fr := float64(in), float64(h), float64(blocks)
	params = fh*fin + fh + fr*2*(fh*fh+fh) + out*fh + out
	return params, (2*fr+5)*fh + out
}

// couplingSizeBlocks is couplingSizeTmp for a conditioner with the given
// residual blocks (0: couplingSizeTmp's plain network; else hidden holds
// the blocks' one width, see checkResidual).
func couplingSizeBlocks(na, nb, k, tmp int, hidden []int, blocks int) footprint {
	if blocks == 0 {
		return couplingSizeTmp(na, nb, k, tmp, hidden)
	}
	nt := float64(k) * float64(nb)
	params, w := resSize(na, hidden[0], blocks, nt)
	return footprint{params, evalShard*(2*float64(na)+w+nt) + 4*float64(nb) + float64(tmp)}
}

// residualBlocksField returns the residual blocks R of the coupling layer
// document ld: 0 when its residual_blocks field is absent, else the field,
// which must be in [0, maxResidualBlocks] and, when R > 0, come with
// exactly one hidden width.
func residualBlocksField(path string, ld *layerDoc) (int, error) {
	if ld.ResidualBlocks == nil {
		return 0, nil
	}
	r := *ld.ResidualBlocks
	if r < 0 || r > maxResidualBlocks {
		return 0, formatErr(path+".residual_blocks", "%d is not in [0, %d]", r, maxResidualBlocks)
	}
	if r > 0 && len(ld.Hidden) != 1 {
		return 0, formatErr(path+".hidden", "%d widths, but residual blocks (%d) need exactly one, the blocks' width H", len(ld.Hidden), r)
	}
	return r, nil
}

// residualChain returns the widths of the conditioner's dense layers, one
// after another, from in inputs to out outputs: in, the hidden widths, out
// for a plain network, and in, H repeated 2R + 1 times, out for R residual
// blocks of width H = hidden[0].
func residualChain(in int, hidden []int, out, blocks int) []int {
	sizes := append([]int{in}, hidden...)
	for range 2 * blocks {
		sizes = append(sizes, hidden[0])
	}
	return append(sizes, out)
}
