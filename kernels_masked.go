// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego && (amd64 || arm64)

package flow

import "math"

// The masked (MADE) variants pack the masked entries of W as zeros and give
// each panel the range of p on which it has any nonzero entry, so that the
// all-zero tiles of a staircase are skipped whatever the order of lim.
// Products with those packed zeros are 0·v, which differs from the
// reference (which never forms them) only when v is ±Inf or NaN: the few
// outputs that come back non-finite are therefore recomputed with the
// reference loop, so results match the reference for every input. The
// masked weight gradient is never computed for j ≥ lim[k]: tiles beyond
// the mask are skipped and the partial tiles on its edge go through a
// scratch tile of which only the unmasked entries are copied back (or, in
// the transposed form, are computed in scratch and not added to dW).

const kernExpMask = 0x7ff0000000000000

// kernIsNonFinite reports whether v is ±Inf or NaN.
func kernIsNonFinite(v float64) bool { return math.Float64bits(v)&kernExpMask == kernExpMask }

// kernHasNonFinite reports whether s holds ±Inf or NaN: by nonFiniteKernel
// where there is one, else by adding 2⁵² to the exponent field, which
// carries into the sign bit only from all ones.
func kernHasNonFinite[T kernElem](sT []T) bool {
	if isF32[T]() {
		s := f32s(sT)
		if kernFastAux && kernUseAsm {
			if m := len(s) &^ 7; m > 0 {
				if nonFiniteKernel32(&s[0], m) {
					return true
				}
				s = s[m:]
			}
		}
		var acc uint32
		for _, v := range s {
			acc |= math.Float32bits(v)&0x7f800000 + 1<<23
		}
		return acc>>31 != 0
	}
	s := f64s(sT)
	if kernFastAux && kernUseAsm {
		if m := len(s) &^ 3; m > 0 {
			if nonFiniteKernel(&s[0], m) {
				return true
			}
			s = s[m:]
		}
	}
	var acc uint64
	for _, v := range s {
		acc |= math.Float64bits(v)&kernExpMask + 1<<52
	}
	return acc>>63 != 0
}

func kernCheckLim(name string, lim []int, in, out int) {
	if len(lim) < out {
		panic("flow: " + name + ": lim too short")
	}
	for _, l := range lim[:out] {
		if l < 0 || l > in {
			panic("flow: " + name + ": lim out of range")
		}
	}
}

// kernMaskedFwdRanges computes, for the panels of nr columns of the masked
// forward product, the range of p [0, max lim of the panel's columns) out
// of which the packed panel is zero, into rng if it is not nil; it returns
// the total length of the ranges and the number of non-empty ones.
func kernMaskedFwdRanges(rng, lim []int, out, nr int) (steps, panels int) {
	for q := 0; q*nr < out; q++ {
		top := 0
		for _, l := range lim[q*nr : min(q*nr+nr, out)] {
			top = max(top, l)
		}
		if rng != nil {
			rng[2*q], rng[2*q+1] = 0, top
		}
		steps += top
		if top > 0 {
			panels++
		}
	}
	return steps, panels
}

func maskedForward[T kernElem](y, x, w, b []T, lim []int, n, in, out int) {
	maskedForwardAct(y, x, w, b, lim, n, in, out, false)
}

// maskedForwardAct is maskedForward followed, when relu, by relu(y[:n·out]),
// fused into the product as in denseForwardAct; the outputs recomputed as
// the reference computes them are activated too.
func maskedForwardAct[T kernElem](y, x, w, b []T, lim []int, n, in, out int, relu bool) {
	if !kernUseAsm || isF32[T]() && !kernHasF32 {
		maskedForwardRef(y, x, w, b, lim, n, in, out)
		kernAfterReLU(y, n*out, relu)
		return
	}
	kernCheckDense("maskedForward", len(y), len(x), len(w), len(b), n, in, out)
	kernCheckLim("maskedForward", lim, in, out)
	if n == 0 || out == 0 {
		return
	}
	kind := maskedFwdKind(lim, n, out)
	nr := kernNR[T](kind)
	np := (out + nr - 1) / nr
	lb := kernPackedLen(in, out, nr)
	s := kernGetScratchT[T](lb)
	ri := kernGetInts(2 * np)
	bp, rng := *s, *ri
	maskedPackFwd(bp, rng, w, lim, in, out, nr)
	maskedFwdProduct(y, x, w, b, lim, bp, rng, kind, n, in, out, relu)
	kernScratchFor[T]().Put(s)
	kernIntPool.Put(ri)
}

// maskedFwdKind returns the kernel kind for the masked forward product of n
// rows.
func maskedFwdKind(lim []int, n, out int) gemmKind {
	var steps, panels [2]int
	steps[0], panels[0] = kernMaskedFwdRanges(nil, lim, out, gemmWide.nr())
	steps[1], panels[1] = kernMaskedFwdRanges(nil, lim, out, gemmNarrow.nr())
	return gemmPick(n, steps, panels)
}

// maskedPackFwd packs (W∘M)ᵀ into panels of nr columns, bp, and the panels'
// ranges of p into rng.
func maskedPackFwd[T kernElem](bp []T, rng []int, w []T, lim []int, in, out, nr int) {
	np := (out + nr - 1) / nr
	kernMaskedFwdRanges(rng, lim, out, nr)
	for q := 0; q < np; q++ {
		k0 := q * nr
		cols := min(nr, out-k0)
		top := rng[2*q+1]
		panel := bp[q*in*nr : (q+1)*in*nr]
		// Pack the panel's rows p < top whole, then zero the masked entries.
		kernPackTransPanel(panel, w, in, k0, cols, top, nr)
		for c := 0; c < cols; c++ {
			for p := lim[k0+c]; p < top; p++ {
				panel[p*nr+c] = 0
			}
		}
	}
}

// maskedFwdProduct computes Y = X·(W∘M)ᵀ + b from the packing of
// maskedPackFwd (kind's panels bp, ranges rng).
func maskedFwdProduct[T kernElem](y, x, w, b []T, lim []int, bp []T, rng []int, kind gemmKind, n, in, out int, relu bool) {
	nr := kernNR[T](kind)
	s := kernGetScratchT[T](kernPadLen(out, nr))
	init := *s
	clear(init[copy(init, b[:out]):])
	gemmBlocked(&gemmJob[T]{kind: kind, c: y, ldc: out, a: x, rs: in, ps: 1, m: n, n: out, k: in, bp: bp, prange: rng, init: init, relu: relu})
	kernScratchFor[T]().Put(s)
	// Recompute the non-finite outputs as the reference does (see the top of
	// the file). Without a non-finite input there is nothing to redo: look
	// at whichever of the input and the output is smaller. With relu the
	// outputs are activated already: a kernel's sum differs from the
	// reference's only by NaN (0·∞ from a masked weight), which the
	// activation keeps, so every output to redo is still found, and redone
	// with its activation.
	if in < out && !kernHasNonFinite(x[:n*in]) || in >= out && !kernHasNonFinite(y[:n*out]) {
		return
	}
	for i := 0; i < n; i++ {
		yi := y[i*out : i*out+out]
		for k, v := range yi {
			if kernIsNonFinite(float64(v)) {
				xi := x[i*in : i*in+in]
				wk := w[k*in : k*in+lim[k]]
				var s T
				for j, v := range wk {
					s += xi[j] * v
				}
				yi[k] = s + b[k]
				if relu && yi[k] < 0 {
					yi[k] = 0
				}
			}
		}
	}
}

// kernMaskedBwdRanges computes, for the panels of nr columns j of the masked
// backward product dX = dY·W, the range of p = k holding every row with
// lim[k] > j0 (the panel's first column), into rng if it is not nil; it
// returns the total length of the ranges and the number of non-empty ones.
// Row k reaches the panels q < ⌈lim[k]/nr⌉, so the ranges are suffix
// minima and maxima over that count, in O(out + panels).
func kernMaskedBwdRanges(rng, lim []int, in, out, nr int) (steps, panels int) {
	np := (in + nr - 1) / nr
	ei := kernGetInts(2 * (np + 1))
	defer kernIntPool.Put(ei)
	ext := *ei // ext[2c], ext[2c+1]: the least and greatest k with ⌈lim[k]/nr⌉ = c
	for c := 0; c <= np; c++ {
		ext[2*c], ext[2*c+1] = out, -1
	}
	for k, l := range lim[:out] {
		c := (l + nr - 1) / nr
		ext[2*c] = min(ext[2*c], k)
		ext[2*c+1] = max(ext[2*c+1], k)
	}
	lo, hi := out, -1
	for q := np - 1; q >= 0; q-- {
		lo, hi = min(lo, ext[2*(q+1)]), max(hi, ext[2*(q+1)+1])
		p0, p1 := lo, hi+1
		if p1 <= p0 {
			p0, p1 = 0, 0
		}
		if rng != nil {
			rng[2*q], rng[2*q+1] = p0, p1
		}
		steps += p1 - p0
		if p1 > p0 {
			panels++
		}
	}
	return steps, panels
}

func maskedBackwardX[T kernElem](dx, dy, w []T, lim []int, n, in, out int) {
	maskedBackwardXAct(dx, dy, w, lim, n, in, out, nil)
}

// maskedBackwardXAct is maskedBackwardX followed, when h is not nil, by
// reluBackward(dx, h), fused into the product as in denseBackwardXAct. The
// entries the mask zeroes are zero in the reference's result too, whatever
// the sums, and those it keeps are redone as without it where they are not
// finite.
func maskedBackwardXAct[T kernElem](dx, dy, w []T, lim []int, n, in, out int, h []T) {
	if !kernUseAsm || isF32[T]() && !kernHasF32 {
		maskedBackwardXRef(dx, dy, w, lim, n, in, out)
		kernAfterReLUBack(dx, h, n*in)
		return
	}
	kernCheckDense("maskedBackwardX", len(dy), len(dx), len(w), out, n, in, out)
	kernCheckLim("maskedBackwardX", lim, in, out)
	if n == 0 || in == 0 {
		return
	}
	kind := maskedBwdKind(lim, n, in, out)
	nr := kernNR[T](kind)
	np := (in + nr - 1) / nr
	s := kernGetScratchT[T](kernPackedLen(out, in, nr))
	ri := kernGetInts(2 * np)
	bp, rng := *s, *ri
	maskedPackBwd(bp, rng, w, lim, in, out, nr)
	maskedBwdProduct(dx, dy, w, lim, bp, rng, kind, n, in, out, h)
	kernScratchFor[T]().Put(s)
	kernIntPool.Put(ri)
}

// maskedBwdKind returns the kernel kind for the masked product dX = dY·W
// of n rows.
func maskedBwdKind(lim []int, n, in, out int) gemmKind {
	var steps, panels [2]int
	steps[0], panels[0] = kernMaskedBwdRanges(nil, lim, in, out, gemmWide.nr())
	steps[1], panels[1] = kernMaskedBwdRanges(nil, lim, in, out, gemmNarrow.nr())
	return gemmPick(n, steps, panels)
}

// maskedPackBwd packs W∘M into panels of nr columns, bp, and the panels'
// ranges of p into rng.
func maskedPackBwd[T kernElem](bp []T, rng []int, w []T, lim []int, in, out, nr int) {
	np := (in + nr - 1) / nr
	kernMaskedBwdRanges(rng, lim, in, out, nr)
	for q := 0; q < np; q++ {
		j0 := q * nr
		cols := min(nr, in-j0)
		p0, p1 := rng[2*q], rng[2*q+1]
		if p1 <= p0 {
			continue
		}
		panel := bp[q*out*nr : (q+1)*out*nr]
		// Pack the rows p0 ≤ k < p1 whole, then zero the masked entries.
		kernPackRows(panel[p0*nr:p1*nr], nil, w[p0*in+j0:], in, p1-p0, cols, nr)
		for k := p0; k < p1; k++ {
			if l := lim[k] - j0; l < cols {
				clear(panel[k*nr+max(l, 0) : k*nr+cols])
			}
		}
	}
}

// maskedBwdProduct computes dX = dY·(W∘M) from the packing of
// maskedPackBwd (kind's panels bp, ranges rng).
func maskedBwdProduct[T kernElem](dx, dy, w []T, lim []int, bp []T, rng []int, kind gemmKind, n, in, out int, h []T) {
	s := kernGetScratchT[T](kernPadLen(in, kernNR[T](kind)))
	init := *s
	clear(init)
	gemmBlocked(&gemmJob[T]{kind: kind, c: dx, ldc: in, a: dy, rs: out, ps: 1, m: n, n: in, k: out, bp: bp, prange: rng, init: init, reluOf: kernReLUOf(h, n*in)})
	kernScratchFor[T]().Put(s)
	if out < in && !kernHasNonFinite(dy[:n*out]) || out >= in && !kernHasNonFinite(dx[:n*in]) {
		return
	}
	for i := 0; i < n; i++ {
		dxi := dx[i*in : i*in+in]
		for j, v := range dxi {
			if kernIsNonFinite(float64(v)) {
				dyi := dy[i*out : i*out+out]
				var s T
				for k, g := range dyi {
					if j < lim[k] {
						s += g * w[k*in+j]
					}
				}
				dxi[j] = s
			}
		}
	}
}

// maskedPack holds one masked layer's weights packed for the products of a
// training step over shards of n rows, as densePack does for a dense one:
// (W∘M)ᵀ for maskedForward and W∘M for maskedBackwardX, with their panels'
// ranges and kernel kinds.
type maskedPack[T kernElem] struct {
	fwd, bwd     []T
	rngF, rngB   []int
	kindF, kindB gemmKind
	ok           bool // packed (false for an empty shape, or without the assembly kernels)
}

// pack packs w (out×in) of mask lim for shards of n rows.
func (p *maskedPack[T]) pack(w []T, lim []int, n, in, out int) {
	p.ok = kernUseAsm && (!isF32[T]() || kernHasF32) && n > 0 && in > 0 && out > 0
	if !p.ok {
		return
	}
	p.kindF = maskedFwdKind(lim, n, out)
	nr := kernNR[T](p.kindF)
	p.fwd = kernGrow(p.fwd, kernPackedLen(in, out, nr))
	p.rngF = kernGrowInts(p.rngF, 2*((out+nr-1)/nr))
	maskedPackFwd(p.fwd, p.rngF, w, lim, in, out, nr)
	p.kindB = maskedBwdKind(lim, n, in, out)
	nr = kernNR[T](p.kindB)
	p.bwd = kernGrow(p.bwd, kernPackedLen(out, in, nr))
	p.rngB = kernGrowInts(p.rngB, 2*((in+nr-1)/nr))
	maskedPackBwd(p.bwd, p.rngB, w, lim, in, out, nr)
}

// kernGrowInts returns s resliced, or reallocated, to length n.
func kernGrowInts(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}

// maskedPackedForwardAct is maskedForwardAct with the weights packed by pk.
func maskedPackedForwardAct[T kernElem](y, x, w, b []T, lim []int, pk *maskedPack[T], n, in, out int, relu bool) {
	if !pk.ok {
		maskedForwardAct(y, x, w, b, lim, n, in, out, relu)
		return
	}
	kernCheckDense("maskedForward", len(y), len(x), len(w), len(b), n, in, out)
	maskedFwdProduct(y, x, w, b, lim, pk.fwd, pk.rngF, pk.kindF, n, in, out, relu)
}

// maskedPackedBackwardXAct is maskedBackwardXAct with the weights packed by
// pk.
func maskedPackedBackwardXAct[T kernElem](dx, dy, w []T, lim []int, pk *maskedPack[T], n, in, out int, h []T) {
	if !pk.ok {
		maskedBackwardXAct(dx, dy, w, lim, n, in, out, h)
		return
	}
	kernCheckDense("maskedBackwardX", len(dy), len(dx), len(w), out, n, in, out)
	maskedBwdProduct(dx, dy, w, lim, pk.bwd, pk.rngB, pk.kindB, n, in, out, h)
}

func maskedBackwardW[T kernElem](dw, db, dy, x []T, lim []int, n, in, out int) {
	if !kernUseAsm || isF32[T]() && !kernHasF32 {
		maskedBackwardWRef(dw, db, dy, x, lim, n, in, out)
		return
	}
	kernCheckDense("maskedBackwardW", len(dy), len(x), len(dw), len(db), n, in, out)
	kernCheckLim("maskedBackwardW", lim, in, out)
	if n == 0 || in == 0 || out == 0 {
		kernColSumAdd(db, dy, n, out)
		return
	}
	if out > 2*in {
		kernBackwardWT(dw, db, dy, x, lim, n, in, out)
		return
	}
	kernBackwardWSlivers(dw, db, dy, x, lim, n, in, out)
}
