// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego && (amd64 || arm64)

package flow

import (
	"math"
	"sync"
)

// This file holds the Go half of the assembly kernels on amd64 and arm64:
// the dispatch on kernUseAsm, the cache blocking and packing around the
// register-blocked micro-kernel gemmKernel, and the tails of the vector
// loops. The architecture files (kernels_amd64.go, kernels_arm64.go) set
// kernUseAsm and gemmNR and declare the assembly functions.
//
// Every dense product is one product computed by gemmBlocked:
//
//	forward    Y  = 1·bᵀ + X·Wᵀ   (the kernel starts each row of Y from b)
//	backward   dX = dY·W          (the kernel starts from zero)
//	           dW += dYᵀ·X        (the kernel starts from dW)
//
// B is packed into panels of gemmNR columns (zero padded to a full panel),
// each panel holding its rows p contiguously: panel[p*gemmNR+j]. A is read
// in place (row-major) except for dYᵀ, which is packed in slivers of gemmMR
// rows: read in place, or as a plain transposed copy, it would be read or
// written at a stride of a power of two, which costs a third of the speed
// on 512-wide shapes. The micro-kernel gemmKernel multiplies gemmMR rows of
// A, for a run of row tiles, by one panel slice of kc rows and adds the
// gemmMR×gemmNR results into C.
//
// The masked (MADE) variants pack the masked entries of W as zeros and give
// each panel the range of p on which it has any nonzero entry, so that the
// all-zero tiles of a staircase are skipped whatever the order of lim.
// Products with those packed zeros are 0·v, which differs from the
// reference (which never forms them) only when v is ±Inf or NaN: the few
// outputs that come back non-finite are therefore recomputed with the
// reference loop, so results match the reference for every input. The
// masked weight gradient is never computed for j ≥ lim[k]: tiles beyond
// the mask are skipped and the partial tiles on its edge go through a
// scratch tile of which only the unmasked entries are copied back.

const (
	gemmMR = 4   // rows of the micro-kernel
	gemmKC = 256 // rows of a B panel slice kept in L1 by one micro-kernel call
	gemmMC = 128 // rows of A kept in L2 across the panels
)

// Scratch buffers live on free lists rather than in a sync.Pool: a pool is
// emptied by garbage collections, and refilling it would allocate in steady
// state. A list holds at most as many buffers as kernel calls ever ran at
// once, each as large as the largest call needed.
var (
	kernScratchPool kernFreeList[float64]
	kernIntPool     kernFreeList[int]
)

type kernFreeList[T any] struct {
	mu   sync.Mutex
	list []*[]T
}

// Get returns a buffer of the list, or a new empty one.
func (f *kernFreeList[T]) Get() *[]T {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.list); n > 0 {
		p := f.list[n-1]
		f.list = f.list[:n-1]
		return p
	}
	return new([]T)
}

// Put returns p to the list.
func (f *kernFreeList[T]) Put(p *[]T) {
	f.mu.Lock()
	f.list = append(f.list, p)
	f.mu.Unlock()
}

func kernGetInts(n int) *[]int {
	p := kernIntPool.Get()
	if cap(*p) < n {
		*p = make([]int, n)
	}
	*p = (*p)[:n]
	return p
}

func kernGetScratch(n int) *[]float64 {
	p := kernScratchPool.Get()
	if cap(*p) < n {
		*p = make([]float64, n)
	}
	*p = (*p)[:n]
	return p
}

// gemmJob describes C += A·B (or C = 1·initᵀ + A·B) with B packed into
// panels.
type gemmJob struct {
	c   []float64 // m×n, leading dimension ldc
	ldc int
	// A is m×k: element (i, p) is a[i*rs+p*ps], or with slivers (ts ≠ 0)
	// a[(i/gemmMR)*ts+(i%gemmMR)*rs+p*ps].
	a      []float64
	rs, ps int
	ts     int // stride of gemmMR rows; 0 for gemmMR·rs

	m, n, k int

	bp []float64 // packed B: panel q holds rows p of columns q*gemmNR+j at bp[q*k*gemmNR+p*gemmNR+j]

	// prange, if not nil, holds for panel q the range [prange[2q], prange[2q+1])
	// of p outside of which the panel is zero.
	prange []int

	// rowLim, if not nil, limits row i of C to its first rowLim[i] columns:
	// no other entry of C is read or written.
	rowLim []int

	// init, if not nil, makes the product C = 1·initᵀ + A·B, overwriting C
	// (every row of C starts from init, of length n rounded up to panels):
	// C is then written and never read. Not with rowLim.
	init []float64
}

// gemmBlocked computes the product of the job: for each block of gemmMC
// rows of C, each panel of B and each slice of gemmKC rows of the panel,
// the micro-kernel runs over the row tiles (runs of full tiles in one call,
// edge tiles through scratch tiles).
func gemmBlocked(g *gemmJob) {
	if g.m == 0 || g.n == 0 {
		return
	}
	if g.k == 0 {
		if g.init != nil {
			for i := 0; i < g.m; i++ {
				copy(g.c[i*g.ldc:i*g.ldc+g.n], g.init)
			}
		}
		return
	}
	nr := gemmNR
	panels := (g.n + nr - 1) / nr
	var tmpA [gemmMR * gemmKC]float64
	var tmpC [gemmMR * gemmNR]float64
	for ic := 0; ic < g.m; ic += gemmMC {
		mEnd := min(ic+gemmMC, g.m)
		for q := 0; q < panels; q++ {
			j0 := q * nr
			cols := min(nr, g.n-j0)
			p0, p1 := 0, g.k
			if g.prange != nil {
				p0, p1 = g.prange[2*q], g.prange[2*q+1]
			}
			panel := g.bp[q*g.k*nr : (q+1)*g.k*nr]
			if g.init != nil && p1 <= p0 {
				// Nothing to add to init.
				for i := ic; i < mEnd; i++ {
					copy(g.c[i*g.ldc+j0:i*g.ldc+j0+cols], g.init[j0:])
				}
				continue
			}
			for pc := p0; pc < p1; pc += gemmKC {
				kc := min(gemmKC, p1-pc)
				b := &panel[pc*nr]
				var init *float64
				if g.init != nil && pc == p0 {
					init = &g.init[j0]
				}
				for i := ic; i < mEnd; {
					rows := min(gemmMR, mEnd-i)
					// A run of full tiles goes to the kernel in one call.
					run := 0
					for t := i; t+gemmMR <= mEnd && cols == nr && g.tileFull(t, j0); t += gemmMR {
						run++
					}
					if run > 0 {
						gemmKernel(&g.c[i*g.ldc+j0], g.ldc, &g.a[g.aIndex(i, pc)], g.rs, g.ps, g.tileStride(), b, kc, run, init)
						i += run * gemmMR
						continue
					}
					if g.rowLim != nil {
						hi := 0
						for r := 0; r < rows; r++ {
							hi = max(hi, g.rowLim[i+r]-j0)
						}
						if hi <= 0 {
							i += gemmMR
							continue
						}
					}
					// Edge tile: through the scratch tiles.
					a, rs, ps := &g.a[g.aIndex(i, pc)], g.rs, g.ps
					if rows < gemmMR && g.ts == 0 {
						// (Slivers are zero padded to whole tiles.)
						for r := 0; r < gemmMR; r++ {
							ta := tmpA[r*kc : r*kc+kc]
							if r < rows {
								for p := range ta {
									ta[p] = g.a[g.aIndex(i+r, pc+p)]
								}
							} else {
								clear(ta)
							}
						}
						a, rs, ps = &tmpA[0], kc, 1
					}
					clear(tmpC[:])
					for r := 0; r < rows; r++ {
						copy(tmpC[r*nr:r*nr+g.width(i+r, j0, cols)], g.c[(i+r)*g.ldc+j0:])
					}
					gemmKernel(&tmpC[0], nr, a, rs, ps, 0, b, kc, 1, init)
					for r := 0; r < rows; r++ {
						w := g.width(i+r, j0, cols)
						copy(g.c[(i+r)*g.ldc+j0:(i+r)*g.ldc+j0+w], tmpC[r*nr:r*nr+w])
					}
					i += gemmMR
				}
			}
		}
	}
}

// aIndex is the index in g.a of element (i, p) of A.
func (g *gemmJob) aIndex(i, p int) int {
	if g.ts != 0 {
		return i/gemmMR*g.ts + i%gemmMR*g.rs + p*g.ps
	}
	return i*g.rs + p*g.ps
}

// tileStride is the distance in g.a between tiles of gemmMR rows.
func (g *gemmJob) tileStride() int {
	if g.ts != 0 {
		return g.ts
	}
	return gemmMR * g.rs
}

// tileFull reports whether the gemmMR rows from i of C may be written on
// the whole panel from column j0 (always without rowLim).
func (g *gemmJob) tileFull(i, j0 int) bool {
	if g.rowLim == nil {
		return true
	}
	for r := 0; r < gemmMR; r++ {
		if g.rowLim[i+r] < j0+gemmNR {
			return false
		}
	}
	return true
}

// width is the number of columns of row i of C, from column j0 of a panel
// of cols columns, that may be written.
func (g *gemmJob) width(i, j0, cols int) int {
	if g.rowLim == nil {
		return cols
	}
	return min(max(g.rowLim[i]-j0, 0), cols)
}

// kernPackedLen is the length of B packed for gemmBlocked.
func kernPackedLen(k, n int) int {
	return k * ((n + gemmNR - 1) / gemmNR) * gemmNR
}

// kernPadLen is n rounded up to whole panels.
func kernPadLen(n int) int { return (n + gemmNR - 1) / gemmNR * gemmNR }

// kernPackRows packs the k×n row-major matrix b (leading dimension ldb) into
// panels: rows p of panel q are b[p, q*gemmNR : q*gemmNR+gemmNR].
func kernPackRows(bp, b []float64, ldb, k, n int) {
	nr := gemmNR
	for q := 0; q*nr < n; q++ {
		j0 := q * nr
		cols := min(nr, n-j0)
		panel := bp[q*k*nr : (q+1)*k*nr]
		for p := 0; p < k; p++ {
			dst := panel[p*nr : p*nr+nr]
			copy(dst, b[p*ldb+j0:p*ldb+j0+cols])
			clear(dst[cols:])
		}
	}
}

// kernPackTrans packs Bᵀ where b is the n×k row-major matrix (leading
// dimension ldb): rows p of panel q are b[q*gemmNR : q*gemmNR+gemmNR, p].
// It goes by blocks of 8 values of p, so that each row of b is read a cache
// line at a time and the block of the panel written stays in L1.
func kernPackTrans(bp, b []float64, ldb, k, n int) {
	const blk = 8
	nr := gemmNR
	for q := 0; q*nr < n; q++ {
		j0 := q * nr
		cols := min(nr, n-j0)
		panel := bp[q*k*nr : (q+1)*k*nr]
		start := 0
		if kernFastPackTrans && cols == nr && k >= 4 {
			start = k &^ 3
			packTransKernel(&panel[0], &b[j0*ldb], ldb, start)
		}
		for p0 := start; p0 < k; p0 += blk {
			p1 := min(p0+blk, k)
			dst := panel[p0*nr : p1*nr]
			for j := 0; j < cols; j++ {
				row := b[(j0+j)*ldb+p0 : (j0+j)*ldb+p1]
				for p, v := range row {
					dst[p*nr+j] = v
				}
			}
			for j := cols; j < nr; j++ {
				for p := 0; p < p1-p0; p++ {
					dst[p*nr+j] = 0
				}
			}
		}
	}
}

const kernExpMask = 0x7ff0000000000000

// kernIsNonFinite reports whether v is ±Inf or NaN.
func kernIsNonFinite(v float64) bool { return math.Float64bits(v)&kernExpMask == kernExpMask }

// kernHasNonFinite reports whether s holds ±Inf or NaN: adding 2⁵² to the
// exponent field carries into the sign bit only from all ones.
func kernHasNonFinite(s []float64) bool {
	var acc uint64
	for _, v := range s {
		acc |= math.Float64bits(v)&kernExpMask + 1<<52
	}
	return acc>>63 != 0
}

func kernCheckDense(name string, ny, nx, nw, nb, n, in, out int) {
	if n < 0 || in < 0 || out < 0 || ny < n*out || nx < n*in || nw < out*in || nb < out {
		panic("flow: " + name + ": slice too short for shape")
	}
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

func denseForward(y, x, w, b []float64, n, in, out int) {
	if !kernUseAsm {
		denseForwardRef(y, x, w, b, n, in, out)
		return
	}
	kernCheckDense("denseForward", len(y), len(x), len(w), len(b), n, in, out)
	s := kernGetScratch(kernPackedLen(in, out) + kernPadLen(out))
	bp, init := (*s)[:kernPackedLen(in, out)], (*s)[kernPackedLen(in, out):]
	clear(init[copy(init, b[:out]):])
	kernPackTrans(bp, w, in, in, out)
	gemmBlocked(&gemmJob{c: y, ldc: out, a: x, rs: in, ps: 1, m: n, n: out, k: in, bp: bp, init: init})
	kernScratchPool.Put(s)
}

func denseBackwardX(dx, dy, w []float64, n, in, out int) {
	if !kernUseAsm {
		denseBackwardXRef(dx, dy, w, n, in, out)
		return
	}
	kernCheckDense("denseBackwardX", len(dy), len(dx), len(w), out, n, in, out)
	s := kernGetScratch(kernPackedLen(out, in) + kernPadLen(in))
	bp, init := (*s)[:kernPackedLen(out, in)], (*s)[kernPackedLen(out, in):]
	clear(init)
	kernPackRows(bp, w, in, out, in)
	gemmBlocked(&gemmJob{c: dx, ldc: in, a: dy, rs: out, ps: 1, m: n, n: in, k: out, bp: bp, init: init})
	kernScratchPool.Put(s)
}

// kernColSumAdd adds the column sums of the n×out matrix dy to db, row
// after row (as the references do), the vector part of each row by
// addKernel.
func kernColSumAdd(db, dy []float64, n, out int) {
	db = db[:out]
	m := out &^ (kernVecWidth - 1)
	for i := 0; i < n; i++ {
		row := dy[i*out : i*out+out]
		if m > 0 {
			addKernel(&db[0], &row[0], m)
		}
		for k := m; k < out; k++ {
			db[k] += row[k]
		}
	}
}

// kernPackSlivers packs Aᵀ, where a is the k×m row-major matrix with leading
// dimension lda, into slivers of gemmMR rows for gemmJob.ts: sliver s holds
// a[p, s*gemmMR+r] at ap[s*k*gemmMR+p*gemmMR+r], zero beyond m. Groups of
// slivers are filled together so that whole cache lines of a are read at a
// time and the writes go to few streams. If db is not nil, the column sums
// of a are added to it on the way (in increasing p, as kernColSumAdd does).
func kernPackSlivers(ap, db, a []float64, lda, k, m int) {
	const group = 4 // slivers filled together
	slivers := (m + gemmMR - 1) / gemmMR
	full := m / gemmMR
	for s0 := 0; s0 < slivers; s0 += group {
		s1 := min(s0+group, slivers)
		f1 := min(s1, full)
		for p := 0; p < k; p++ {
			row := a[p*lda : p*lda+m]
			for s := s0; s < f1; s++ {
				o := s*k*gemmMR + p*gemmMR
				d := ap[o : o+4 : o+4]
				r := row[s*gemmMR : s*gemmMR+4 : s*gemmMR+4]
				d[0], d[1], d[2], d[3] = r[0], r[1], r[2], r[3]
				if db != nil {
					b := db[s*gemmMR : s*gemmMR+4 : s*gemmMR+4]
					b[0] += r[0]
					b[1] += r[1]
					b[2] += r[2]
					b[3] += r[3]
				}
			}
			for s := f1; s < s1; s++ {
				o := s*k*gemmMR + p*gemmMR
				dst := ap[o : o+gemmMR]
				c := copy(dst, row[s*gemmMR:])
				clear(dst[c:])
				if db != nil {
					for r := 0; r < c; r++ {
						db[s*gemmMR+r] += dst[r]
					}
				}
			}
		}
	}
}

// kernSliversLen is the length of the k×m matrix Aᵀ packed by kernPackSlivers.
func kernSliversLen(k, m int) int {
	return k * ((m + gemmMR - 1) / gemmMR) * gemmMR
}

func denseBackwardW(dw, db, dy, x []float64, n, in, out int) {
	if !kernUseAsm {
		denseBackwardWRef(dw, db, dy, x, n, in, out)
		return
	}
	kernCheckDense("denseBackwardW", len(dy), len(x), len(dw), len(db), n, in, out)
	if n == 0 || in == 0 || out == 0 {
		kernColSumAdd(db, dy, n, out)
		return
	}
	if out > 2*in {
		denseBackwardWT(dw, db, dy, x, n, in, out)
		return
	}
	s := kernGetScratch(kernPackedLen(n, in) + kernSliversLen(n, out))
	bp, ap := (*s)[:kernPackedLen(n, in)], (*s)[kernPackedLen(n, in):]
	kernPackRows(bp, x, in, n, in)
	kernPackSlivers(ap, db[:out], dy, out, n, out)
	gemmBlocked(&gemmJob{c: dw, ldc: in, a: ap, rs: 1, ps: gemmMR, ts: n * gemmMR, m: out, n: in, k: n, bp: bp})
	kernScratchPool.Put(s)
}

// denseBackwardWT is denseBackwardW for out > 2·in, where packing dY in
// slivers (the larger operand, in the slower packing) costs more than the
// product: it computes dWᵀ = Xᵀ·dY into scratch, X in slivers and dY in
// panels, and adds its transpose to dW.
func denseBackwardWT(dw, db, dy, x []float64, n, in, out int) {
	kernColSumAdd(db, dy, n, out)
	lb, la := kernPackedLen(n, out), kernSliversLen(n, in)
	s := kernGetScratch(lb + la + in*out + kernPadLen(out))
	sc := *s
	bp, ap, ct, zero := sc[:lb], sc[lb:lb+la], sc[lb+la:lb+la+in*out], sc[lb+la+in*out:]
	clear(zero)
	kernPackSlivers(ap, nil, x, in, n, in)
	kernPackRows(bp, dy, out, n, out)
	gemmBlocked(&gemmJob{c: ct, ldc: out, a: ap, rs: 1, ps: gemmMR, ts: n * gemmMR, m: in, n: out, k: n, bp: bp, init: zero})
	for j := 0; j < in; j++ {
		row := ct[j*out : j*out+out]
		for k, v := range row {
			dw[k*in+j] += v
		}
	}
	kernScratchPool.Put(s)
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
	nr := gemmNR
	panels := (out + nr - 1) / nr
	s := kernGetScratch(kernPackedLen(in, out) + kernPadLen(out))
	bp, init := (*s)[:kernPackedLen(in, out)], (*s)[kernPackedLen(in, out):]
	clear(init[copy(init, b[:out]):])
	ri := kernGetInts(2 * panels)
	rng := *ri
	for q := 0; q < panels; q++ {
		k0 := q * nr
		cols := min(nr, out-k0)
		pmax := 0
		for c := 0; c < cols; c++ {
			pmax = max(pmax, lim[k0+c])
		}
		rng[2*q], rng[2*q+1] = 0, pmax
		panel := bp[q*in*nr : (q+1)*in*nr]
		// By blocks of 8 values of p, as in kernPackTrans.
		for p0 := 0; p0 < pmax; p0 += 8 {
			p1 := min(p0+8, pmax)
			dst := panel[p0*nr : p1*nr]
			for c := 0; c < nr; c++ {
				l := p0
				if c < cols {
					l = min(max(lim[k0+c], p0), p1)
					row := w[(k0+c)*in+p0 : (k0+c)*in+l]
					for p, v := range row {
						dst[p*nr+c] = v
					}
				}
				for p := l; p < p1; p++ {
					dst[(p-p0)*nr+c] = 0
				}
			}
		}
	}
	gemmBlocked(&gemmJob{c: y, ldc: out, a: x, rs: in, ps: 1, m: n, n: out, k: in, bp: bp, prange: rng, init: init})
	kernScratchPool.Put(s)
	kernIntPool.Put(ri)
	// Recompute the non-finite outputs as the reference does (see the top of
	// the file). Without a non-finite input there is nothing to redo: look
	// at whichever of the input and the output is smaller.
	if in < out && !kernHasNonFinite(x[:n*in]) {
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
	nr := gemmNR
	panels := (in + nr - 1) / nr
	s := kernGetScratch(kernPackedLen(out, in) + kernPadLen(in))
	bp, init := (*s)[:kernPackedLen(out, in)], (*s)[kernPackedLen(out, in):]
	clear(init)
	ri := kernGetInts(2 * panels)
	rng := *ri
	for q := 0; q < panels; q++ {
		j0 := q * nr
		cols := min(nr, in-j0)
		p0, p1 := out, 0
		for k := 0; k < out; k++ {
			if lim[k] > j0 {
				p0 = min(p0, k)
				p1 = k + 1
			}
		}
		if p1 <= p0 {
			p0, p1 = 0, 0
		}
		rng[2*q], rng[2*q+1] = p0, p1
		panel := bp[q*out*nr : (q+1)*out*nr]
		for k := p0; k < p1; k++ {
			dst := panel[k*nr : k*nr+nr]
			l := min(max(lim[k]-j0, 0), cols)
			copy(dst, w[k*in+j0:k*in+j0+l])
			clear(dst[l:])
		}
	}
	gemmBlocked(&gemmJob{c: dx, ldc: in, a: dy, rs: out, ps: 1, m: n, n: in, k: out, bp: bp, prange: rng, init: init})
	kernScratchPool.Put(s)
	kernIntPool.Put(ri)
	if out < in && !kernHasNonFinite(dy[:n*out]) {
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
	s := kernGetScratch(kernPackedLen(n, in) + kernSliversLen(n, out))
	bp, ap := (*s)[:kernPackedLen(n, in)], (*s)[kernPackedLen(n, in):]
	kernPackRows(bp, x, in, n, in)
	kernPackSlivers(ap, db[:out], dy, out, n, out)
	gemmBlocked(&gemmJob{c: dw, ldc: in, a: ap, rs: 1, ps: gemmMR, ts: n * gemmMR, m: out, n: in, k: n, bp: bp, rowLim: lim})
	kernScratchPool.Put(s)
}

// expVec is within 2 ulp of math.Exp over the whole float64 range (within
// about 1 ulp of the exact value; see expULPBound in the tests), with
// math.Exp's results for NaN (the same NaN), ±Inf, overflow (+Inf above
// 709.782712893384) and underflow (+0 below −745.1332191019411), and
// gradual underflow in between. One exception is deliberate: math.Exp's
// amd64 assembly overflows early, returning +Inf for x above about
// 709.436, where expVec returns the finite exp(x), as math.Exp does on
// other architectures. The affine steps use the same exp.
//
// The vector loops below run the assembly on the largest multiple of
// kernVecWidth elements; exp and the affine steps run their last partial vector
// through the same assembly on a padded copy, so that every element gets
// the same arithmetic, and the activations finish with the reference loop.

func expVec(dst, src []float64) {
	if !kernUseAsm {
		expRef(dst, src)
		return
	}
	n := len(src)
	if len(dst) < n {
		panic("flow: expVec: dst shorter than src")
	}
	dst = dst[:n]
	m := n &^ (kernVecWidth - 1)
	if m > 0 {
		expKernel(&dst[0], &src[0], m)
	}
	if m < n {
		var buf [kernVecWidth]float64
		copy(buf[:], src[m:])
		expKernel(&buf[0], &buf[0], kernVecWidth)
		copy(dst[m:], buf[:])
	}
}

func affineInverse(z, e, x, mu, alpha []float64) float64 {
	if !kernUseAsm {
		return affineInverseRef(z, e, x, mu, alpha)
	}
	n := len(alpha)
	if len(z) < n || len(e) < n || len(x) < n || len(mu) < n {
		panic("flow: affineInverse: slice shorter than alpha")
	}
	z, e, x, mu = z[:n], e[:n], x[:n], mu[:n]
	m := n &^ (kernVecWidth - 1)
	s := 0.0
	if m > 0 {
		s = affineInverseKernel(&z[0], &e[0], &x[0], &mu[0], &alpha[0], m)
	}
	if m < n {
		var bz, be, bx, bmu, ba [kernVecWidth]float64
		copy(bx[:], x[m:])
		copy(bmu[:], mu[m:])
		copy(ba[:], alpha[m:])
		s += affineInverseKernel(&bz[0], &be[0], &bx[0], &bmu[0], &ba[0], kernVecWidth)
		copy(z[m:], bz[:])
		copy(e[m:], be[:])
	}
	return s
}

func affineForward(x, e, z, mu, alpha []float64) float64 {
	if !kernUseAsm {
		return affineForwardRef(x, e, z, mu, alpha)
	}
	n := len(alpha)
	if len(x) < n || len(e) < n || len(z) < n || len(mu) < n {
		panic("flow: affineForward: slice shorter than alpha")
	}
	x, e, z, mu = x[:n], e[:n], z[:n], mu[:n]
	m := n &^ (kernVecWidth - 1)
	s := 0.0
	if m > 0 {
		s = affineForwardKernel(&x[0], &e[0], &z[0], &mu[0], &alpha[0], m)
	}
	if m < n {
		var bx, be, bz, bmu, ba [kernVecWidth]float64
		copy(bz[:], z[m:])
		copy(bmu[:], mu[m:])
		copy(ba[:], alpha[m:])
		s += affineForwardKernel(&bx[0], &be[0], &bz[0], &bmu[0], &ba[0], kernVecWidth)
		copy(x[m:], bx[:])
		copy(e[m:], be[:])
	}
	return s
}

func relu(h []float64) {
	if !kernUseAsm {
		reluRef(h)
		return
	}
	m := len(h) &^ (kernVecWidth - 1)
	if m > 0 {
		reluKernel(&h[0], m)
	}
	reluRef(h[m:])
}

func reluBackward(dh, h []float64) {
	if !kernUseAsm {
		reluBackwardRef(dh, h)
		return
	}
	if len(dh) < len(h) {
		panic("flow: reluBackward: dh shorter than h")
	}
	dh = dh[:len(h)]
	m := len(h) &^ (kernVecWidth - 1)
	if m > 0 {
		reluBackwardKernel(&dh[0], &h[0], m)
	}
	reluBackwardRef(dh[m:], h[m:])
}

// tanhVec runs tanhKernel, math.Tanh's method on the vector exp: within 2
// ulp of math.Tanh, and equal to it for |x| < 0.625 (see tanhULPBound in
// the tests).
func tanhVec(h []float64) {
	if !kernUseAsm {
		tanhRef(h)
		return
	}
	m := len(h) &^ (kernVecWidth - 1)
	if m > 0 {
		tanhKernel(&h[0], m)
	}
	if m < len(h) {
		var buf [kernVecWidth]float64
		copy(buf[:], h[m:])
		tanhKernel(&buf[0], kernVecWidth)
		copy(h[m:], buf[:])
	}
}

func tanhBackward(dh, h []float64) {
	if !kernUseAsm {
		tanhBackwardRef(dh, h)
		return
	}
	if len(dh) < len(h) {
		panic("flow: tanhBackward: dh shorter than h")
	}
	dh = dh[:len(h)]
	m := len(h) &^ (kernVecWidth - 1)
	if m > 0 {
		tanhBackwardKernel(&dh[0], &h[0], m)
	}
	tanhBackwardRef(dh[m:], h[m:])
}
