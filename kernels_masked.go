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
func kernHasNonFinite(s []float64) bool {
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

func maskedForward(y, x, w, b []float64, lim []int, n, in, out int) {
	if !kernUseAsm {
		maskedForwardRef(y, x, w, b, lim, n, in, out)
		return
	}
	kernCheckDense("maskedForward", len(y), len(x), len(w), len(b), n, in, out)
	kernCheckLim("maskedForward", lim, in, out)
	if n == 0 || out == 0 {
		return
	}
	var steps, panels [2]int
	steps[0], panels[0] = kernMaskedFwdRanges(nil, lim, out, gemmWide.nr())
	steps[1], panels[1] = kernMaskedFwdRanges(nil, lim, out, gemmNarrow.nr())
	kind := gemmPick(n, steps, panels)
	nr := kind.nr()
	np := (out + nr - 1) / nr
	lb := kernPackedLen(in, out, nr)
	s := kernGetScratch(lb + kernPadLen(out, nr))
	bp, init := (*s)[:lb], (*s)[lb:]
	clear(init[copy(init, b[:out]):])
	ri := kernGetInts(2 * np)
	rng := *ri
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
	gemmBlocked(&gemmJob{kind: kind, c: y, ldc: out, a: x, rs: in, ps: 1, m: n, n: out, k: in, bp: bp, prange: rng, init: init})
	kernScratchPool.Put(s)
	kernIntPool.Put(ri)
	// Recompute the non-finite outputs as the reference does (see the top of
	// the file). Without a non-finite input there is nothing to redo: look
	// at whichever of the input and the output is smaller.
	if in < out && !kernHasNonFinite(x[:n*in]) || in >= out && !kernHasNonFinite(y[:n*out]) {
		return
	}
	for i := 0; i < n; i++ {
		yi := y[i*out : i*out+out]
		for k, v := range yi {
			if kernIsNonFinite(v) {
				xi := x[i*in : i*in+in]
				wk := w[k*in : k*in+lim[k]]
				s := 0.0
				for j, v := range wk {
					s += xi[j] * v
				}
				yi[k] = s + b[k]
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

func maskedBackwardX(dx, dy, w []float64, lim []int, n, in, out int) {
	if !kernUseAsm {
		maskedBackwardXRef(dx, dy, w, lim, n, in, out)
		return
	}
	kernCheckDense("maskedBackwardX", len(dy), len(dx), len(w), out, n, in, out)
	kernCheckLim("maskedBackwardX", lim, in, out)
	if n == 0 || in == 0 {
		return
	}
	var steps, panels [2]int
	steps[0], panels[0] = kernMaskedBwdRanges(nil, lim, in, out, gemmWide.nr())
	steps[1], panels[1] = kernMaskedBwdRanges(nil, lim, in, out, gemmNarrow.nr())
	kind := gemmPick(n, steps, panels)
	nr := kind.nr()
	np := (in + nr - 1) / nr
	lb := kernPackedLen(out, in, nr)
	s := kernGetScratch(lb + kernPadLen(in, nr))
	bp, init := (*s)[:lb], (*s)[lb:]
	clear(init)
	ri := kernGetInts(2 * np)
	rng := *ri
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
	gemmBlocked(&gemmJob{kind: kind, c: dx, ldc: in, a: dy, rs: out, ps: 1, m: n, n: in, k: out, bp: bp, prange: rng, init: init})
	kernScratchPool.Put(s)
	kernIntPool.Put(ri)
	if out < in && !kernHasNonFinite(dy[:n*out]) || out >= in && !kernHasNonFinite(dx[:n*in]) {
		return
	}
	for i := 0; i < n; i++ {
		dxi := dx[i*in : i*in+in]
		for j, v := range dxi {
			if kernIsNonFinite(v) {
				dyi := dy[i*out : i*out+out]
				s := 0.0
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

func maskedBackwardW(dw, db, dy, x []float64, lim []int, n, in, out int) {
	if !kernUseAsm {
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
	lb := kernPackedLen(n, in, gemmNR)
	s := kernGetScratch(lb + kernSliversLen(n, out))
	bp, ap := (*s)[:lb], (*s)[lb:]
	kernPackRows(bp, nil, x, in, n, in, gemmNR)
	kernPackSlivers(ap, db[:out], dy, out, n, out)
	gemmBlocked(&gemmJob{c: dw, ldc: in, a: ap, rs: 1, ps: gemmMR, ts: n * gemmMR, m: out, n: in, k: n, bp: bp, rowLim: lim})
	kernScratchPool.Put(s)
}
