// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego && (amd64 || arm64)

package flow

// The dense products of a layer, each one product of gemmBlocked
// (kernels_gemm.go) on operands packed by kernels_pack.go:
//
//	denseForward    Y  = X·Wᵀ + b
//	denseBackwardX  dX = dY·W
//	denseBackwardW  dW += dYᵀ·X, db += colsum(dY)
//
// Their references are the *Ref functions of kernels.go.

func kernCheckDense(name string, ny, nx, nw, nb, n, in, out int) {
	if n < 0 || in < 0 || out < 0 || ny < n*out || nx < n*in || nw < out*in || nb < out {
		panic("flow: " + name + ": slice too short for shape")
	}
}

// kernPickDense returns the kind for a dense product of n rows with the
// columns of C in panels and sums of length k.
func kernPickDense(n, k, cols int) gemmKind {
	var steps, panels [2]int
	for i, kind := range []gemmKind{gemmWide, gemmNarrow} {
		panels[i] = (cols + kind.nr() - 1) / kind.nr()
		steps[i] = panels[i] * k
	}
	return gemmPick(n, steps, panels)
}

// The products whose C has at most kernDotCols columns and whose sums are
// at least kernDotK long run as dot products of rows (dotRowsKernel, or
// dotRowsKernel32 in float32): on gemmBlocked's panels they would compute
// 4 to 24 times the columns wanted.
const (
	kernDotCols = 2
	kernDotK    = 16
)

// kernDotFwd reports whether a forward product of a layer with in inputs
// and out outputs runs as dot products of rows (kernDotForward); with in
// and out swapped, whether its backward pass to the input does
// (kernDotBackwardX). The row kernels exist in both precisions where
// kernHasDot.
func kernDotFwd(in, out int) bool {
	return kernHasDot && out > 0 && out <= kernDotCols && in >= kernDotK
}

// dotRowsT is dotRowsKernel over elements of type T.
func dotRowsT[T kernElem](y *T, incy int, a *T, lda int, x *T, k, rows int) {
	if isF32[T]() {
		dotRowsKernel32(f32p(y), incy, f32p(a), lda, f32p(x), k, rows)
		return
	}
	dotRowsKernel(f64p(y), incy, f64p(a), lda, f64p(x), k, rows)
}

// axpyRowsT is axpyRowsKernel over elements of type T.
func axpyRowsT[T kernElem](y *T, n int, a *T, lda int, v *T, incv, rows int) {
	if isF32[T]() {
		axpyRowsKernel32(f32p(y), n, f32p(a), lda, f32p(v), incv, rows)
		return
	}
	axpyRowsKernel(f64p(y), n, f64p(a), lda, f64p(v), incv, rows)
}

// kernDotForward computes denseForward as dot products of rows, Y's
// entries starting from b, and reports whether it did: where kernHasDot
// and Y has at most kernDotCols columns, and sums of at least kernDotK
// terms.
func kernDotForward[T kernElem](y, x, w, b []T, n, in, out int) bool {
	if !kernDotFwd(in, out) || n == 0 {
		return false
	}
	b = b[:out]
	for i := 0; i < n; i++ {
		for j, v := range b {
			y[i*out+j] = v
		}
	}
	for j := 0; j < out; j++ {
		dotRowsT(&y[j], out, &x[0], in, &w[j*in], in, n)
	}
	return true
}

// kernDotBackwardX is kernDotForward for denseBackwardX (dX with at most
// kernDotCols columns, from zero): column j of W, in entries apart, is
// copied to be contiguous when in > 1.
func kernDotBackwardX[T kernElem](dx, dy, w []T, n, in, out int) bool {
	if !kernDotFwd(out, in) || n == 0 {
		return false
	}
	clear(dx[:n*in])
	if in == 1 {
		dotRowsT(&dx[0], 1, &dy[0], out, &w[0], out, n)
		return true
	}
	s := kernGetScratchT[T](out)
	col := *s
	for j := 0; j < in; j++ {
		for k := range col {
			col[k] = w[k*in+j]
		}
		dotRowsT(&dx[j], in, &dy[0], out, &col[0], out, n)
	}
	kernScratchFor[T]().Put(s)
	return true
}

// kernDotW reports whether kernDotBackwardW computes the weight gradient
// of a layer with in inputs and out outputs over n rows.
func kernDotW(n, in, out int) bool {
	return kernHasDot && n > 0 && in > 0 && out > 0 && min(in, out) <= kernDotCols && max(in, out) >= kernDotK
}

// kernDotBackwardW computes denseBackwardW for a layer with at most
// kernDotCols outputs or inputs, and reports whether it did: for each row
// of dW (few outputs) or column (few inputs), the sum over the batch's rows
// of a row of X or dY times one of dY's or X's entries (axpyRowsKernel),
// each entry of dW summed from its own value in increasing row order; a
// column of dW, in entries apart, through contiguous scratch when in > 1.
func kernDotBackwardW[T kernElem](dw, db, dy, x []T, n, in, out int) bool {
	if !kernDotW(n, in, out) {
		return false
	}
	if out <= kernDotCols {
		kernColSumAdd(db, dy, n, out)
	} else {
		// db += colsum(dY) in kernColSumAdd's order, as dY's rows times
		// ones (exact products).
		one := T(1)
		axpyRowsT(&db[0], out, &dy[0], out, &one, 0, n)
	}
	switch {
	case out <= kernDotCols:
		for k := 0; k < out; k++ {
			axpyRowsT(&dw[k*in], in, &x[0], in, &dy[k], out, n)
		}
	case in == 1:
		axpyRowsT(&dw[0], out, &dy[0], out, &x[0], 1, n)
	default:
		s := kernGetScratchT[T](out)
		col := *s
		for j := 0; j < in; j++ {
			for k := range col {
				col[k] = dw[k*in+j]
			}
			axpyRowsT(&col[0], out, &dy[0], out, &x[j], in, n)
			for k, v := range col {
				dw[k*in+j] = v
			}
		}
		kernScratchFor[T]().Put(s)
	}
	return true
}

func denseForward[T kernElem](y, x, w, b []T, n, in, out int) {
	denseForwardAct(y, x, w, b, n, in, out, false)
}

// denseForwardAct is denseForward followed, when relu, by relu(y[:n·out]):
// on the tiles, fused into the product (gemmJob.relu); otherwise after it.
// The activation is exact, so the result is the same either way.
func denseForwardAct[T kernElem](y, x, w, b []T, n, in, out int, relu bool) {
	if !kernUseAsm || isF32[T]() && !kernHasF32 {
		denseForwardRef(y, x, w, b, n, in, out)
		kernAfterReLU(y, n*out, relu)
		return
	}
	kernCheckDense("denseForward", len(y), len(x), len(w), len(b), n, in, out)
	if kernDotForward(y, x, w, b, n, in, out) {
		kernAfterReLU(y, n*out, relu)
		return
	}
	g := gemmJob[T]{kind: kernPickDense(n, in, out), c: y, ldc: out, a: x, rs: in, ps: 1, m: n, n: out, k: in, relu: relu}
	nr := g.nr()
	lb := kernPackedLen(in, out, nr)
	s := kernGetScratchT[T](lb + kernPadLen(out, nr))
	g.bp, g.init = (*s)[:lb], (*s)[lb:]
	clear(g.init[copy(g.init, b[:out]):])
	kernPackTrans(g.bp, w, in, in, out, nr)
	gemmBlocked(&g)
	kernScratchFor[T]().Put(s)
}

// kernAfterReLU applies relu to y[:n] when on: the activation of a product
// that did not run on gemmBlocked's tiles.
func kernAfterReLU[T kernElem](y []T, n int, on bool) {
	if on {
		reluT(y[:n])
	}
}

func denseBackwardX[T kernElem](dx, dy, w []T, n, in, out int) {
	denseBackwardXAct(dx, dy, w, n, in, out, nil)
}

// denseBackwardXAct is denseBackwardX followed, when h is not nil, by
// reluBackward(dx, h): the gradient through a ReLU whose output h (n×in)
// the layer read, fused into the product on its tiles (gemmJob.reluOf) and
// applied after it otherwise. The mask is exact, so the result is the same
// either way.
func denseBackwardXAct[T kernElem](dx, dy, w []T, n, in, out int, h []T) {
	if !kernUseAsm || isF32[T]() && !kernHasF32 {
		denseBackwardXRef(dx, dy, w, n, in, out)
		kernAfterReLUBack(dx, h, n*in)
		return
	}
	kernCheckDense("denseBackwardX", len(dy), len(dx), len(w), out, n, in, out)
	if kernDotBackwardX(dx, dy, w, n, in, out) {
		kernAfterReLUBack(dx, h, n*in)
		return
	}
	g := gemmJob[T]{kind: kernPickDense(n, out, in), c: dx, ldc: in, a: dy, rs: out, ps: 1, m: n, n: in, k: out, reluOf: kernReLUOf(h, n*in)}
	nr := g.nr()
	lb := kernPackedLen(out, in, nr)
	s := kernGetScratchT[T](lb + kernPadLen(in, nr))
	g.bp, g.init = (*s)[:lb], (*s)[lb:]
	clear(g.init)
	kernPackRows(g.bp, nil, w, in, out, in, nr)
	gemmBlocked(&g)
	kernScratchFor[T]().Put(s)
}

// kernAfterReLUBack applies reluBackward(dx[:n], h[:n]) when h is not nil:
// the activation's gradient after a product that did not run on
// gemmBlocked's tiles.
func kernAfterReLUBack[T kernElem](dx, h []T, n int) {
	if h != nil {
		reluBackwardT(dx[:n], h[:n])
	}
}

// kernReLUOf returns h[:n], or nil for nil: the checked operand of
// gemmJob.reluOf.
func kernReLUOf[T kernElem](h []T, n int) []T {
	if h == nil {
		return nil
	}
	return h[:n]
}

func denseBackwardW[T kernElem](dw, db, dy, x []T, n, in, out int) {
	if !kernUseAsm || isF32[T]() && !kernHasF32 {
		denseBackwardWRef(dw, db, dy, x, n, in, out)
		return
	}
	kernCheckDense("denseBackwardW", len(dy), len(x), len(dw), len(db), n, in, out)
	if n == 0 || in == 0 || out == 0 {
		kernColSumAdd(db, dy, n, out)
		return
	}
	if kernDotBackwardW(dw, db, dy, x, n, in, out) {
		return
	}
	if out > 2*in {
		kernBackwardWT(dw, db, dy, x, nil, n, in, out)
		return
	}
	kernBackwardWSlivers(dw, db, dy, x, nil, n, in, out)
}

// kernBackwardWSlivers is denseBackwardW and maskedBackwardW (lim not nil:
// row k of dW only on its first lim[k] columns) for out ≤ 2·in: dY packed
// in slivers (adding colsum(dY) to db on the way), X in panels, dW summed
// from its own value.
func kernBackwardWSlivers[T kernElem](dw, db, dy, x []T, lim []int, n, in, out int) {
	g := gemmJob[T]{c: dw, ldc: in, rs: 1, ps: gemmMR, ts: n * gemmMR, m: out, n: in, k: n, rowLim: lim}
	nr := g.nr()
	lb := kernPackedLen(n, in, nr)
	s := kernGetScratchT[T](lb + kernSliversLen(n, out))
	g.bp, g.a = (*s)[:lb], (*s)[lb:]
	kernPackRows(g.bp, nil, x, in, n, in, nr)
	kernPackSlivers(g.a, db[:out], dy, out, n, out)
	gemmBlocked(&g)
	kernScratchFor[T]().Put(s)
}

// kernBackwardWT is denseBackwardW and maskedBackwardW (lim not nil) for
// out > 2·in, where packing dY in slivers (the larger operand, in the
// slower packing) would cost more than the product. It computes dWᵀ = Xᵀ·dY
// into scratch, X in slivers and dY in panels (adding colsum(dY) to db on
// the way), then adds its transpose to dW. With lim, only the entries
// j < lim[k] are added, and the tiles of dWᵀ that hold none of them (rows
// j ≥ the largest lim of a panel) are not computed.
func kernBackwardWT[T kernElem](dw, db, dy, x []T, lim []int, n, in, out int) {
	g := gemmJob[T]{ldc: out, rs: 1, ps: gemmMR, ts: n * gemmMR, n: out, k: n}
	nr := g.nr()
	panels := (out + nr - 1) / nr
	m := (in + gemmMR - 1) / gemmMR * gemmMR // rows of dWᵀ with the zero rows of the last sliver: no edge tiles
	lb, la := kernPackedLen(n, out, nr), kernSliversLen(n, in)
	s := kernGetScratchT[T](lb + la + m*out + kernPadLen(out, nr))
	sc := *s
	bp, ap, t, zero := sc[:lb], sc[lb:lb+la], sc[lb+la:lb+la+m*out], sc[lb+la+m*out:]
	clear(zero)
	kernPackSlivers(ap, nil, x, in, n, in)
	kernPackRows(bp, db[:out], dy, out, n, out, nr)
	var rows []int
	var ri *[]int
	if lim != nil {
		ri = kernGetInts(panels)
		rows = *ri
		for q := range rows {
			top := 0
			for _, l := range lim[q*nr : min(q*nr+nr, out)] {
				top = max(top, l)
			}
			rows[q] = top
		}
	}
	g.c, g.a, g.m, g.bp, g.init, g.panelRows = t, ap, m, bp, zero, rows
	gemmBlocked(&g)
	if ri != nil {
		kernIntPool.Put(ri)
	}
	// dW += dWᵀᵀ, 4 rows k of dW at a time: the columns j < lim[k] of all 4
	// rows (all j without lim) by addTransKernel where there is one, the
	// rest one by one.
	for k0 := 0; k0 < out; k0 += 4 {
		k1 := min(k0+4, out)
		lo := in // j < lo in all 4 rows
		if lim != nil {
			for _, l := range lim[k0:k1] {
				lo = min(lo, l)
			}
		}
		j0 := 0
		if kernFastAux && kernUseAsm && !isF32[T]() && k1-k0 == 4 && lo >= 4 {
			j0 = lo &^ 3
			_ = dw[(k0+3)*in+j0-1]
			_ = t[(j0-1)*out+k0+3]
			addTransKernel(f64p(&dw[k0*in]), f64p(&t[k0]), in, out, j0)
		}
		for k := k0; k < k1; k++ {
			l := in
			if lim != nil {
				l = lim[k]
			}
			for j := j0; j < l; j++ {
				dw[k*in+j] += t[j*out+k]
			}
		}
	}
	kernScratchFor[T]().Put(s)
}

// densePack holds one dense layer's weights W (out×in) packed for the
// products of a training step over shards of n rows: Wᵀ in the panels
// denseForward packs, W in those denseBackwardX packs, each for the kernel
// kind those pick for n rows. Packing once per step instead of once per
// shard and product leaves the products' results unchanged: a packing is a
// copy.
type densePack[T kernElem] struct {
	fwd, bwd     []T
	kindF, kindB gemmKind
}

// pack packs w for shards of n rows; without the assembly kernels there is
// nothing to pack.
func (p *densePack[T]) pack(w []T, n, in, out int) {
	if !kernUseAsm || isF32[T]() && !kernHasF32 {
		return
	}
	// (Products that run as dot products of rows read W in place.)
	if !kernDotFwd(in, out) {
		p.kindF = kernPickDense(n, in, out)
		nr := kernNR[T](p.kindF)
		p.fwd = kernGrow(p.fwd, kernPackedLen(in, out, nr))
		kernPackTrans(p.fwd, w, in, in, out, nr)
	}
	if !kernDotFwd(out, in) {
		p.kindB = kernPickDense(n, out, in)
		nr := kernNR[T](p.kindB)
		p.bwd = kernGrow(p.bwd, kernPackedLen(out, in, nr))
		kernPackRows(p.bwd, nil, w, in, out, in, nr)
	}
}

// kernGrow returns s resliced, or reallocated, to length n.
func kernGrow[T kernElem](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// densePackedForwardAct is denseForwardAct with W packed by pk (for n
// rows).
func densePackedForwardAct[T kernElem](y, x, w, b []T, pk *densePack[T], n, in, out int, relu bool) {
	if !kernUseAsm || isF32[T]() && !kernHasF32 {
		denseForwardRef(y, x, w, b, n, in, out)
		kernAfterReLU(y, n*out, relu)
		return
	}
	kernCheckDense("denseForward", len(y), len(x), len(w), len(b), n, in, out)
	if kernDotForward(y, x, w, b, n, in, out) {
		kernAfterReLU(y, n*out, relu)
		return
	}
	nr := kernNR[T](pk.kindF)
	s := kernGetScratchT[T](kernPadLen(out, nr))
	init := *s
	clear(init[copy(init, b[:out]):])
	gemmBlocked(&gemmJob[T]{kind: pk.kindF, c: y, ldc: out, a: x, rs: in, ps: 1, m: n, n: out, k: in, bp: pk.fwd, init: init, relu: relu})
	kernScratchFor[T]().Put(s)
}

// densePackedBackwardXAct is denseBackwardXAct with W packed by pk (for n
// rows).
func densePackedBackwardXAct[T kernElem](dx, dy, w []T, pk *densePack[T], n, in, out int, h []T) {
	if !kernUseAsm || isF32[T]() && !kernHasF32 {
		denseBackwardXRef(dx, dy, w, n, in, out)
		kernAfterReLUBack(dx, h, n*in)
		return
	}
	kernCheckDense("denseBackwardX", len(dy), len(dx), len(w), out, n, in, out)
	if kernDotBackwardX(dx, dy, w, n, in, out) {
		kernAfterReLUBack(dx, h, n*in)
		return
	}
	nr := kernNR[T](pk.kindB)
	s := kernGetScratchT[T](kernPadLen(in, nr))
	init := *s
	clear(init)
	gemmBlocked(&gemmJob[T]{kind: pk.kindB, c: dx, ldc: in, a: dy, rs: out, ps: 1, m: n, n: in, k: out, bp: pk.bwd, init: init, reluOf: kernReLUOf(h, n*in)})
	kernScratchFor[T]().Put(s)
}
