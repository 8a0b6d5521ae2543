// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import "sort"

// The residual MADE (MADEConfig.ResidualBlocks = R > 0; see MADE): the
// masked version of the pre-activation residual conditioner of residual.go,
// every product a masked (staircase) kernel that skips the zero tiles.
// Over a batch of n rows X (n×(C+D), the input [c ; x in the order]), with
// M the masks of the stored, sorted layout:
//
//	h_0 = X·(W_in∘M_in)ᵀ + b_in                                   (n×H)
//	u_j = act(h_{j−1}),  v_j = act(u_j·(W_{j,1}∘M)ᵀ + b_{j,1})
//	h_j = h_{j−1} + v_j·(W_{j,2}∘M)ᵀ + b_{j,2}                      for j = 1, …, R
//	u_{R+1} = act(h_R),  out = u_{R+1}·(W_out∘M_out)ᵀ + b_out
//
// The weight layers are, 1-based as MADE.layer counts them, W_in = layer 1,
// W_{j,1} = layer 2j, W_{j,2} = layer 2j + 1, W_out = layer 2R + 2; the
// staircase of layer l is lims[l−1].
//
// The workspace of a pass over n rows is 2R + 2 slots of n×H, then the
// output (n×out), then three n×H buffers for the backward deltas: slot 0
// holds the running h (h_R after the pass), slot j the u_j (j = 1, …, R+1)
// and slot R + 1 + j the v_j (j = 1, …, R). The backward pass reads the u_j
// and v_j; the sequential direction (madeResPositionHidden) fills the same
// slots a block of units at a time.

// madeResSlot returns slot j of a residual MADE's workspace over n rows
// (n×H).
func madeResSlot[T kernElem](m *MADE, work []T, n, j int) []T {
	nh := n * m.sizes[1]
	return work[j*nh : (j+1)*nh : (j+1)*nh]
}

// madeResHiddenForward is madeHiddenForward for a residual MADE: it runs
// W_in and the R blocks on the n rows of x, with the parameters p, and
// returns u_{R+1} = act(h_R), the output layer's input, a view of work.
func madeResHiddenForward[T kernElem](m *MADE, p, x []T, n int, work []T, dr dropout) []T {
	R, H := m.blocks, m.sizes[1]
	h := madeResSlot(m, work, n, 0)
	madeMaskedFwd(m, p, 1, h, x, n, false) // h_0
	u := madeResSlot(m, work, n, 1)
	copy(u, h)
	applyT(m.act, u) // u_1
	for j := 1; j <= R; j++ {
		v := madeResSlot(m, work, n, R+1+j)
		madeMaskedFwd(m, p, 2*j, v, u, n, true) // v_j
		src := v
		if dr.on() {
			// ṽ_j, in the third backward buffer, free during the pass.
			src = work[n*(m.sumH+m.nout())+2*n*H : n*(m.sumH+m.nout())+3*n*H]
			dropApply(dr, src, v, j, n, H)
		}
		// u_{j+1} first holds v_j·(W_{j,2}∘M)ᵀ + b_{j,2}, then act(h_j).
		next := madeResSlot(m, work, n, j+1)
		madeMaskedFwd(m, p, 2*j+1, next, src, n, false)
		for i, t := range next {
			h[i] += t // h_j
		}
		copy(next, h)
		applyT(m.act, next)
		u = next
	}
	return u
}

// madeResPositionHidden is madePositionHidden for a residual MADE, with
// the parameters prm: it computes the units of degree p (the contiguous
// block k0 ≤ k < k1 of the sorted units) of h_0, then of u_j, v_j and h_j
// for j = 1, …, R, and of u_{R+1}, in place in work, and returns u_{R+1},
// whose units of degree ≤ p are then final. Unit k of v_j reads the units
// of u_j of degree ≤ deg(k), unit k of h_j reads h_{j−1}[k] and the units
// of v_j of degree ≤ deg(k): all computed at this or an earlier position.
// Each unit is computed by the same kernel over the same prefix as in
// madeResHiddenForward, and the residual sums and activations are
// elementwise, so the D positions give the full pass's values bit for bit.
func madeResPositionHidden[T kernElem](m *MADE, prm, x []T, p, n int, work []T) []T {
	R, H := m.blocks, m.sizes[1]
	u := madeResSlot(m, work, n, R+1)
	deg := m.degs[0]
	k0, k1 := sort.SearchInts(deg, p), sort.SearchInts(deg, p+1)
	if k1 == k0 {
		return u
	}
	blk := k1 - k0
	tmp := work[n*(m.sumH+m.nout()):]
	t := tmp[:n*blk]
	h := madeResSlot(m, work, n, 0)
	// put copies t into columns k0:k1 of dst (n×H); add adds it.
	put := func(dst []T) {
		for r := 0; r < n; r++ {
			copy(dst[r*H+k0:r*H+k1], t[r*blk:(r+1)*blk])
		}
	}
	// actOf sets columns k0:k1 of dst to act(h) of the same columns.
	actOf := func(dst []T) {
		for r := 0; r < n; r++ {
			copy(t[r*blk:(r+1)*blk], h[r*H+k0:r*H+k1])
		}
		applyT(m.act, t)
		put(dst)
	}
	w, b := madeLayer(m, prm, 1)
	in := m.sizes[0]
	maskedForward(t, x, w[k0*in:k1*in], b[k0:k1], m.lims[0][k0:k1], n, in, blk)
	put(h)
	actOf(madeResSlot(m, work, n, 1))
	for j := 1; j <= R; j++ {
		uj, v := madeResSlot(m, work, n, j), madeResSlot(m, work, n, R+1+j)
		w1, b1 := madeLayer(m, prm, 2*j)
		maskedForward(t, uj, w1[k0*H:k1*H], b1[k0:k1], m.lims[2*j-1][k0:k1], n, H, blk)
		applyT(m.act, t)
		put(v)
		w2, b2 := madeLayer(m, prm, 2*j+1)
		maskedForward(t, v, w2[k0*H:k1*H], b2[k0:k1], m.lims[2*j][k0:k1], n, H, blk)
		for r := 0; r < n; r++ {
			hr, tr := h[r*H+k0:r*H+k1], t[r*blk:(r+1)*blk]
			for i, v := range tr {
				hr[i] += v
			}
		}
		actOf(madeResSlot(m, work, n, j+1))
	}
	return u
}

// madeResBackward is madeBackward for a residual MADE, with the parameters
// p: it backpropagates dout = ∂L/∂out (n×out, stored order) through the
// pass madeResHiddenForward and madeForward left in work, adds ∂L/∂θ into
// grad and, when dx is not nil, writes ∂L/∂x (n×(C+D)) into dx. dout is
// not modified.
//
// Each masked layer is a dense layer whose masked weights are constants
// zero (see backward), so, with δh_j = ∂L/∂h_j and act' read from the
// outputs u_j = act(h_{j−1}) and v_j as backwardT does:
//
//	∂L/∂W_out += doutᵀ·u_{R+1} (unmasked entries),  ∂L/∂b_out += Σ_rows dout
//	δh_R = (dout·(W_out∘M_out)) ⊙ act'(h_R)
//
// then for j = R, …, 1, with δt = δh_j the gradient of the block's output
// t_j = v_j·(W_{j,2}∘M)ᵀ + b_{j,2} (h_j = h_{j−1} + t_j) and
// a = u_j·(W_{j,1}∘M)ᵀ + b_{j,1} (v_j = act(a)):
//
//	∂L/∂W_{j,2} += δtᵀ·v_j,      ∂L/∂b_{j,2} += Σ_rows δt
//	δa = (δt·(W_{j,2}∘M)) ⊙ act'(a)
//	∂L/∂W_{j,1} += δaᵀ·u_j,      ∂L/∂b_{j,1} += Σ_rows δa
//	δh_{j−1} = δh_j + (δa·(W_{j,1}∘M)) ⊙ act'(h_{j−1})
//
// and last ∂L/∂W_in += δh_0ᵀ·X, ∂L/∂b_in += Σ_rows δh_0 and
// ∂L/∂X = δh_0·(W_in∘M_in), whose first C columns are ∂L/∂c. Masked
// weights' gradients are never written (the masked kernels).
//
// With dropout (training by maximum likelihood; dropout.go) the block's
// second layer reads ṽ_j = v_j ⊙ m_j/(1 − p), the mask fixed (recomputed
// from the same hash), so
//
//	∂L/∂W_{j,2} += δtᵀ·ṽ_j,      δa = (δt·(W_{j,2}∘M)) ⊙ m_j/(1 − p) ⊙ act'(a)
//
// and the rest as above.
func madeResBackward[T kernElem](m *MADE, p, x []T, n int, work, dout, grad, dx []T, dr dropout) {
	R, H := m.blocks, m.sizes[1]
	L := 2*R + 2
	scratch := work[n*(m.sumH+m.nout()):]
	dh := scratch[:n*H]
	dv := scratch[n*H : 2*n*H]
	du := scratch[2*n*H : 3*n*H]
	u := madeResSlot(m, work, n, R+1)
	dw, db := madeLayer(m, grad, L)
	maskedBackwardW(dw, db, dout, u, m.lims[L-1], n, H, m.nout())
	madeMaskedBwdX(m, p, L, dh, dout, u, n) // δh_R
	for j := R; j >= 1; j-- {
		v := madeResSlot(m, work, n, R+1+j)
		src := v
		if dr.on() {
			src = du // free until δu below
			dropApply(dr, src, v, j, n, H)
		}
		dw, db = madeLayer(m, grad, 2*j+1)
		maskedBackwardW(dw, db, dh, src, m.lims[2*j], n, H, H)
		madeMaskedBwdX(m, p, 2*j+1, dv, dh, nil, n)
		if dr.on() {
			dropScaleBack(dr, dv, j, n, H)
		}
		backwardT(m.act, dv, v) // δa
		u = madeResSlot(m, work, n, j)
		dw, db = madeLayer(m, grad, 2*j)
		maskedBackwardW(dw, db, dv, u, m.lims[2*j-1], n, H, H)
		madeMaskedBwdX(m, p, 2*j, du, dv, u, n)
		for i, g := range du {
			dh[i] += g // δh_{j−1}
		}
	}
	dw, db = madeLayer(m, grad, 1)
	maskedBackwardW(dw, db, dh, x, m.lims[0], n, m.sizes[0], H)
	if dx != nil {
		madeMaskedBwdX(m, p, 1, dx, dh, nil, n)
	}
}
