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
// register-blocked micro-kernels, and the tails of the vector loops. The
// architecture files (kernels_amd64.go, kernels_arm64.go) set kernUseAsm,
// the tile shapes and kernFastAux, and declare the assembly functions.
//
// Every dense product is one product computed by gemmBlocked:
//
//	forward    Y  = 1·bᵀ + X·Wᵀ   (the kernel starts each row of Y from b)
//	backward   dX = dY·W          (the kernel starts from zero)
//	           dW += dYᵀ·X        (the kernel starts from dW)
//
// B is packed into panels of nr columns (zero padded to a full panel), each
// panel holding its rows p contiguously: panel[p*nr+j]. A is read in place
// (row-major) except for dYᵀ, which is packed in slivers of gemmMR rows:
// read in place, or as a plain transposed copy, it would be read or written
// at a stride of a power of two, which costs a third of the speed on
// 512-wide shapes. When out > 2·in the weight gradient is computed
// transposed instead, dWᵀ = Xᵀ·dY into scratch, so that the large dY is
// packed in panels (a plain copy) and the small X in slivers. Packings of
// dY add colsum(dY) into db on the way. A micro-kernel multiplies mr rows
// of A, for a run of row tiles, by one panel slice of kc rows and adds the
// mr×nr results into C; sums of at most gemmPanelsK terms run a tile of
// rows across all panels in one call instead (gemmByTiles).
//
// There are two micro-kernels on amd64: gemmKernel (4×12 tiles) and
// gemmKernelNarrow (6×8). Forward and backward-to-input products take the
// one whose tiles cost the least on their shape (gemmPick); the weight
// gradients, whose A is in slivers of 4, take the wide one. On arm64 both
// names run the one 4×8 kernel. A third, gemmKernel2 (2×12, amd64), runs
// the tiles on the edge of a staircase of which only two rows are wanted.
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
// scratch tile of which only the unmasked entries are copied back (or, in
// the transposed form, are computed in scratch and not added to dW).

const (
	gemmKC = 256 // rows of a B panel slice kept in L1 by one micro-kernel call
	gemmMC = 128 // rows of A kept in L2 across the panels (fewer when k is short)

	// gemmTileLen is the number of sums in the larger of the two tiles.
	gemmTileLen = max(gemmMR*gemmNR, gemmNarrowMR*gemmNarrowNR)
)

// gemmKind selects one of the two micro-kernels.
type gemmKind uint8

const (
	gemmWide   gemmKind = iota // gemmKernel, gemmMR×gemmNR tiles
	gemmNarrow                 // gemmKernelNarrow, gemmNarrowMR×gemmNarrowNR tiles
)

func (k gemmKind) mr() int {
	if k == gemmNarrow {
		return gemmNarrowMR
	}
	return gemmMR
}

func (k gemmKind) nr() int {
	if k == gemmNarrow {
		return gemmNarrowNR
	}
	return gemmNR
}

// overhead is the time a kernel spends on one tile besides its steps
// (starting and storing the sums), in steps: measured on the kernels of
// amd64 as about 2 steps for the wide tile and 6 for the narrow one, whose
// 6 rows take 12 loads and stores where the wide tile's 4 take 12 too but
// share their broadcasts over more columns.
func (k gemmKind) overhead() int {
	if k == gemmNarrow {
		return 6
	}
	return 2
}

// kernTestKind, when not zero, makes every product that may run on either
// kernel run on gemmKind(kernTestKind-1), so that the tests reach both on
// every shape.
var kernTestKind int

// gemmPick returns the kind that computes a product of n rows of C at the
// least cost, given for each kind the total length of the sums of its
// panels (steps) and its number of non-empty panels: the cost counts every
// tile, padded rows and columns included, and its overhead.
func gemmPick(n int, steps, panels [2]int) gemmKind {
	if kernTestKind != 0 {
		return gemmKind(kernTestKind - 1)
	}
	var cost [2]int
	for i, k := range []gemmKind{gemmWide, gemmNarrow} {
		mr := k.mr()
		cost[i] = (n + mr - 1) / mr * mr * k.nr() * (steps[i] + panels[i]*k.overhead())
	}
	if cost[1] < cost[0] {
		return gemmNarrow
	}
	return gemmWide
}

// Scratch buffers live on free lists rather than in a sync.Pool: a pool is
// emptied by garbage collections, and refilling it would allocate in steady
// state. A list holds at most as many buffers as kernel calls ever ran at
// once, each as large as the largest call needed.
var (
	kernScratchPool kernFreeList[float64]
	kernIntPool     kernFreeList[int]
	kernTilePool    kernFreeList[float64] // the edge-tile rows of gemmBlocked, all gemmMaxMR·gemmKC long
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
// panels of kind.nr() columns.
type gemmJob struct {
	kind gemmKind

	c   []float64 // m×n, leading dimension ldc
	ldc int
	// A is m×k: element (i, p) is a[i*rs+p*ps], or with slivers (ts ≠ 0,
	// wide kernel only) a[(i/gemmMR)*ts+(i%gemmMR)*rs+p*ps].
	a      []float64
	rs, ps int
	ts     int // stride of gemmMR rows; 0 for mr·rs

	m, n, k int

	bp []float64 // packed B: panel q holds rows p of columns q*nr+j at bp[q*k*nr+p*nr+j]

	// prange, if not nil, holds for panel q the range [prange[2q], prange[2q+1])
	// of p outside of which the panel is zero.
	prange []int

	// rowLim, if not nil, limits row i of C to its first rowLim[i] columns:
	// no other entry of C is read or written.
	rowLim []int

	// panelRows, if not nil, asks for the rows i < panelRows[q] of C on the
	// columns of panel q only: the tiles of rows beyond are skipped, and
	// those across the limit are computed whole (C is scratch then).
	panelRows []int

	// init, if not nil, makes the product C = 1·initᵀ + A·B, overwriting C
	// (every row of C starts from init, of length n rounded up to panels):
	// C is then written and never read. Not with rowLim.
	init []float64
}

// kern runs the micro-kernel of the job's kind.
func (g *gemmJob) kern(c *float64, ldc int, a *float64, rs, ps, ts int, b *float64, k, tiles int, init *float64) {
	if g.kind == gemmNarrow {
		gemmKernelNarrow(c, ldc, a, rs, ps, ts, b, k, tiles, init)
		return
	}
	gemmKernel(c, ldc, a, rs, ps, ts, b, k, tiles, init)
}

// gemmBlocked computes the product of the job: for each block of rows of
// C (gemmMC, fewer when k is short), each panel of B and each slice of gemmKC rows of the panel, the
// micro-kernel runs over the row tiles (runs of full tiles in one call,
// edge tiles through scratch tiles).
func gemmBlocked(g *gemmJob) {
	if g.m == 0 || g.n == 0 {
		return
	}
	mr, nr := g.kind.mr(), g.kind.nr()
	if g.k == 0 {
		if g.init != nil {
			for i := 0; i < g.m; i++ {
				copy(g.c[i*g.ldc:i*g.ldc+g.n], g.init)
			}
		}
		return
	}
	if kernHasPanels && g.kind == gemmWide && g.ts == 0 && g.ps == 1 && g.rowLim == nil && g.panelRows == nil &&
		g.k <= gemmPanelsK && g.m >= mr && g.n >= nr {
		gemmByTiles(g)
		return
	}
	panels := (g.n + nr - 1) / nr
	mc := gemmMC
	if g.k <= 64 && g.m*g.n > 1<<16 {
		// Short sums into a C larger than L2 can hold beside the rest:
		// the stores of C cost as much as the steps, and they go faster
		// when the block of C written over the panels stays in L1 (4096
		// elements) than when each panel writes a column strip of all the
		// rows.
		mc = max(2*mr, 4096/g.n)
	}
	mc -= mc % mr
	// The scratch rows of A for edge tiles come from the free list when
	// first needed: on the stack they would make every new goroutine that
	// calls a kernel grow its stack.
	var tmpA []float64
	var tmpAp *[]float64
	var tmpC [gemmTileLen]float64
	// spill lets the partial last panel run whole tiles: its padding
	// columns spill into the first columns of the next row of C, which
	// panel 0, run after it, overwrites. Only where C is written before it
	// is read (init), its rows are contiguous (no other data in between),
	// every entry is wanted, panel 0 is whole, and never from the last row
	// of C (whose next row is not C's).
	spill := g.init != nil && g.ldc == g.n && g.rowLim == nil && g.panelRows == nil && g.n%nr != 0 && panels >= 2
	for ic := 0; ic < g.m; ic += mc {
		mEnd := min(ic+mc, g.m)
		for qq := 0; qq < panels; qq++ {
			q := qq
			if spill {
				q = (qq + panels - 1) % panels // the partial panel first
			}
			j0 := q * nr
			cols := min(nr, g.n-j0)
			whole := cols == nr || spill // tiles may be run whole
			p0, p1 := 0, g.k
			if g.prange != nil {
				p0, p1 = g.prange[2*q], g.prange[2*q+1]
			}
			hi := mEnd // the tiles from a row i < hi are computed
			if g.panelRows != nil {
				hi = min(hi, g.panelRows[q])
			}
			panel := g.bp[q*g.k*nr : (q+1)*g.k*nr]
			if g.init != nil && p1 <= p0 {
				// Nothing to add to init.
				for i := ic; i < hi; i++ {
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
				for i := ic; i < hi; {
					rows := min(mr, mEnd-i)
					// A run of full tiles goes to the kernel in one call: the
					// tiles from i that start before hi and end by mEnd.
					run := 0
					half := -1 // a tile of which only the rows half, half+1 are wanted
					if g.rowLim == nil {
						last := min(hi, mEnd-mr+1)
						if cols < nr {
							last = min(last, g.m-mr) // a row of C after each tile
						}
						if whole && last > i {
							run = (last - i + mr - 1) / mr
						}
						if g.panelRows != nil && g.halves() && run > 0 && hi-(i+(run-1)*mr) <= 2 {
							run--
							half = i + run*mr
						}
					} else {
						for t := i; t < hi && t+mr <= mEnd && cols == nr && g.tileFull(t, j0, mr, nr); t += mr {
							run++
						}
					}
					if run > 0 || half >= 0 {
						if run > 0 {
							g.kern(&g.c[i*g.ldc+j0], g.ldc, &g.a[g.aIndex(i, pc, mr)], g.rs, g.ps, g.tileStride(mr), b, kc, run, init)
							i += run * mr
						}
						if half >= 0 {
							gemmKernel2(&g.c[half*g.ldc+j0], g.ldc, &g.a[g.aIndex(half, pc, mr)], g.rs, g.ps, 0, b, kc, 1, init)
							i += mr
						}
						continue
					}
					// Edge tile: through the scratch tiles, its rows r0 ≤ r < r1;
					// two: only two of them, on gemmKernel2.
					r0, r1, two := 0, rows, false
					if g.rowLim != nil {
						// Which of rows 0–1 and 2–3 have columns on the panel.
						var lo, up bool
						for r := 0; r < rows; r++ {
							if g.rowLim[i+r] > j0 {
								lo, up = lo || r < 2, up || r >= 2
							}
						}
						if !lo && !up {
							i += mr
							continue
						}
						if g.halves() && g.ts != 0 && lo != up {
							two = true
							if up {
								r0 = 2
							}
							r1 = min(r0+2, rows)
						}
					}
					a, rs, ps := &g.a[g.aIndex(i+r0, pc, mr)], g.rs, g.ps
					if !two && rows < mr && g.ts == 0 {
						// (Slivers are zero padded to whole tiles.)
						if tmpA == nil {
							tmpAp = kernTilePool.Get()
							if len(*tmpAp) == 0 {
								*tmpAp = make([]float64, gemmMaxMR*gemmKC)
							}
							tmpA = *tmpAp
						}
						for r := 0; r < mr; r++ {
							ta := tmpA[r*kc : r*kc+kc]
							if r < rows && g.ps == 1 {
								o := g.aIndex(i+r, pc, mr)
								copy(ta, g.a[o:o+kc])
							} else if r < rows {
								for p := range ta {
									ta[p] = g.a[g.aIndex(i+r, pc+p, mr)]
								}
							} else {
								clear(ta)
							}
						}
						a, rs, ps = &tmpA[0], kc, 1
					}
					tc := tmpC[:mr*nr]
					clear(tc)
					for r := r0; r < r1; r++ {
						copy(tc[(r-r0)*nr:(r-r0)*nr+g.width(i+r, j0, cols)], g.c[(i+r)*g.ldc+j0:])
					}
					if two {
						gemmKernel2(&tc[0], nr, a, rs, ps, 0, b, kc, 1, init)
					} else {
						g.kern(&tc[0], nr, a, rs, ps, 0, b, kc, 1, init)
					}
					for r := r0; r < r1; r++ {
						w := g.width(i+r, j0, cols)
						copy(g.c[(i+r)*g.ldc+j0:(i+r)*g.ldc+j0+w], tc[(r-r0)*nr:(r-r0)*nr+w])
					}
					i += mr
				}
			}
		}
	}
	if tmpAp != nil {
		kernTilePool.Put(tmpAp)
	}
}

// gemmPanelsK is the longest sum that gemmByTiles takes.
const gemmPanelsK = 64

// gemmByTiles computes a product with short sums (k ≤ gemmPanelsK, A
// row-major, wide kernel) a tile of rows at a time across all the whole
// panels, by gemmKernelPanels: one call per tile instead of one per panel
// and block of rows, and each tile's rows of C finished at once. The
// partial last panel and the last rows go through gemmBlocked's loops.
func gemmByTiles(g *gemmJob) {
	nr, mr := gemmNR, gemmMR
	full := g.n / nr
	mFull := g.m / mr * mr
	ri := kernGetInts(2 * full)
	rng := *ri
	for q := 0; q < full; q++ {
		if g.prange != nil {
			rng[2*q], rng[2*q+1] = g.prange[2*q], g.prange[2*q+1]
		} else {
			rng[2*q], rng[2*q+1] = 0, g.k
		}
	}
	var init *float64
	if g.init != nil {
		init = &g.init[0]
	}
	_ = g.c[(mFull-1)*g.ldc+full*nr-1]
	_ = g.a[(mFull-1)*g.rs+g.k-1]
	_ = g.bp[full*g.k*nr-1]
	for i := 0; i < mFull; i += mr {
		gemmKernelPanels(&g.c[i*g.ldc], g.ldc, &g.a[i*g.rs], g.rs, &g.bp[0], g.k*nr, &rng[0], full, init)
	}
	kernIntPool.Put(ri)
	if j0 := full * nr; j0 < g.n {
		sub := *g
		sub.c, sub.n, sub.bp = g.c[j0:], g.n-j0, g.bp[full*g.k*nr:]
		if g.prange != nil {
			sub.prange = g.prange[2*full:]
		}
		if g.init != nil {
			sub.init = g.init[j0:]
		}
		gemmBlocked(&sub)
	}
	if mFull < g.m {
		sub := *g
		sub.c, sub.a, sub.m, sub.n = g.c[mFull*g.ldc:], g.a[mFull*g.rs:], g.m-mFull, full*nr
		gemmBlocked(&sub)
	}
}

// halves reports whether tiles of two rows may run (gemmKernel2): on the
// wide kind where the kernel exists.
func (g *gemmJob) halves() bool { return kernHasHalf && g.kind == gemmWide }

// aIndex is the index in g.a of element (i, p) of A, for tiles of mr rows.
func (g *gemmJob) aIndex(i, p, mr int) int {
	if g.ts != 0 {
		return i/mr*g.ts + i%mr*g.rs + p*g.ps
	}
	return i*g.rs + p*g.ps
}

// tileStride is the distance in g.a between tiles of mr rows.
func (g *gemmJob) tileStride(mr int) int {
	if g.ts != 0 {
		return g.ts
	}
	return mr * g.rs
}

// tileFull reports whether the mr rows from i of C may be written on the
// whole panel of nr columns from column j0 (always without rowLim).
func (g *gemmJob) tileFull(i, j0, mr, nr int) bool {
	if g.rowLim == nil {
		return true
	}
	for r := 0; r < mr; r++ {
		if g.rowLim[i+r] < j0+nr {
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

// kernPackedLen is the length of the k×n matrix B packed in panels of nr
// columns.
func kernPackedLen(k, n, nr int) int {
	return k * ((n + nr - 1) / nr) * nr
}

// kernPadLen is n rounded up to whole panels of nr columns.
func kernPadLen(n, nr int) int { return (n + nr - 1) / nr * nr }

// kernPackRows packs the k×n row-major matrix b (leading dimension ldb) into
// panels of nr columns: rows p of panel q are b[p, q*nr : q*nr+nr]. If db is
// not nil, the column sums of b are added to it on the way (each in
// increasing p, as kernColSumAdd does).
func kernPackRows(bp, db, b []float64, ldb, k, n, nr int) {
	if kernFastAux && kernUseAsm {
		if k == 0 || n == 0 {
			return
		}
		full := n / nr
		var d *float64
		if db != nil {
			_ = db[n-1]
			d = &db[0]
		}
		_ = b[(k-1)*ldb+n-1]
		_ = bp[(n+nr-1)/nr*k*nr-1]
		if full > 0 {
			packRowsKernel(&bp[0], d, &b[0], ldb, k, nr/kernVecWidth, full, k*nr)
		}
		if j0 := full * nr; j0 < n {
			var mask [gemmNR]int64 // all ones on the n−j0 columns
			for j := range n - j0 {
				mask[j] = -1
			}
			if d != nil {
				d = &db[j0]
			}
			packTailKernel(&bp[full*k*nr], d, &b[j0], ldb, k, nr/kernVecWidth, &mask[0])
		}
		return
	}
	for q := 0; q*nr < n; q++ {
		j0 := q * nr
		cols := min(nr, n-j0)
		panel := bp[q*k*nr : (q+1)*k*nr]
		for p := 0; p < k; p++ {
			dst := panel[p*nr : p*nr+nr]
			row := b[p*ldb+j0 : p*ldb+j0+cols]
			copy(dst, row)
			clear(dst[cols:])
			if db != nil {
				d := db[j0 : j0+cols]
				for j, v := range row {
					d[j] += v
				}
			}
		}
	}
}

// kernPackTrans packs Bᵀ where b is the n×k row-major matrix (leading
// dimension ldb) into panels of nr columns: rows p of panel q are
// b[q*nr : q*nr+nr, p], for p < k. The assembly transposes 4×4 blocks; the
// plain loop goes by blocks of 8 values of p, so that each row of b is read
// a cache line at a time and the block of the panel written stays in L1.
func kernPackTrans(bp, b []float64, ldb, k, n, nr int) {
	for q := 0; q*nr < n; q++ {
		kernPackTransPanel(bp[q*k*nr:(q+1)*k*nr], b, ldb, q*nr, min(nr, n-q*nr), k, nr)
	}
}

// kernPackTransPanel packs rows p < kmax of one panel of kernPackTrans, the
// columns j0 to j0+cols of Bᵀ, zero beyond. Rows p ≥ kmax are left as they
// are: the masked forward product needs only those in its panel's range.
func kernPackTransPanel(panel, b []float64, ldb, j0, cols, kmax, nr int) {
	const blk = 8
	start := 0
	if kernFastAux && kernUseAsm && cols == nr && kmax >= 4 {
		start = kmax &^ 3
		_ = b[(j0+nr-1)*ldb+start-1]
		for g := 0; g < nr; g += 4 {
			packTrans4Kernel(&panel[g], &b[(j0+g)*ldb], ldb, start, nr)
		}
	}
	for p0 := start; p0 < kmax; p0 += blk {
		p1 := min(p0+blk, kmax)
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

func denseForward(y, x, w, b []float64, n, in, out int) {
	if !kernUseAsm {
		denseForwardRef(y, x, w, b, n, in, out)
		return
	}
	kernCheckDense("denseForward", len(y), len(x), len(w), len(b), n, in, out)
	kind := kernPickDense(n, in, out)
	nr := kind.nr()
	lb := kernPackedLen(in, out, nr)
	s := kernGetScratch(lb + kernPadLen(out, nr))
	bp, init := (*s)[:lb], (*s)[lb:]
	clear(init[copy(init, b[:out]):])
	kernPackTrans(bp, w, in, in, out, nr)
	gemmBlocked(&gemmJob{kind: kind, c: y, ldc: out, a: x, rs: in, ps: 1, m: n, n: out, k: in, bp: bp, init: init})
	kernScratchPool.Put(s)
}

func denseBackwardX(dx, dy, w []float64, n, in, out int) {
	if !kernUseAsm {
		denseBackwardXRef(dx, dy, w, n, in, out)
		return
	}
	kernCheckDense("denseBackwardX", len(dy), len(dx), len(w), out, n, in, out)
	kind := kernPickDense(n, out, in)
	nr := kind.nr()
	lb := kernPackedLen(out, in, nr)
	s := kernGetScratch(lb + kernPadLen(in, nr))
	bp, init := (*s)[:lb], (*s)[lb:]
	clear(init)
	kernPackRows(bp, nil, w, in, out, in, nr)
	gemmBlocked(&gemmJob{kind: kind, c: dx, ldc: in, a: dy, rs: out, ps: 1, m: n, n: in, k: out, bp: bp, init: init})
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
// a[p, s*gemmMR+r] at ap[s*k*gemmMR+p*gemmMR+r], zero beyond m. If db is
// not nil, the column sums of a are added to it on the way (each in
// increasing p, as kernColSumAdd does). Slivers are panels of gemmMR
// columns of a: kernPackRows packs them.
func kernPackSlivers(ap, db, a []float64, lda, k, m int) {
	kernPackRows(ap, db, a, lda, k, m, gemmMR)
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
		kernBackwardWT(dw, db, dy, x, nil, n, in, out)
		return
	}
	lb := kernPackedLen(n, in, gemmNR)
	s := kernGetScratch(lb + kernSliversLen(n, out))
	bp, ap := (*s)[:lb], (*s)[lb:]
	kernPackRows(bp, nil, x, in, n, in, gemmNR)
	kernPackSlivers(ap, db[:out], dy, out, n, out)
	gemmBlocked(&gemmJob{c: dw, ldc: in, a: ap, rs: 1, ps: gemmMR, ts: n * gemmMR, m: out, n: in, k: n, bp: bp})
	kernScratchPool.Put(s)
}

// kernBackwardWT is denseBackwardW and maskedBackwardW (lim not nil) for
// out > 2·in, where packing dY in slivers (the larger operand, in the
// slower packing) would cost more than the product. It computes dWᵀ = Xᵀ·dY
// into scratch, X in slivers and dY in panels (adding colsum(dY) to db on
// the way), then adds its transpose to dW. With lim, only the entries
// j < lim[k] are added, and the tiles of dWᵀ that hold none of them (rows
// j ≥ the largest lim of a panel) are not computed.
func kernBackwardWT(dw, db, dy, x []float64, lim []int, n, in, out int) {
	nr := gemmNR
	panels := (out + nr - 1) / nr
	m := (in + gemmMR - 1) / gemmMR * gemmMR // rows of dWᵀ with the zero rows of the last sliver: no edge tiles
	lb, la := kernPackedLen(n, out, nr), kernSliversLen(n, in)
	s := kernGetScratch(lb + la + m*out + kernPadLen(out, nr))
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
	gemmBlocked(&gemmJob{c: t, ldc: out, a: ap, rs: 1, ps: gemmMR, ts: n * gemmMR, m: m, n: out, k: n, bp: bp, init: zero, panelRows: rows})
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
		if kernFastAux && kernUseAsm && k1-k0 == 4 && lo >= 4 {
			j0 = lo &^ 3
			_ = dw[(k0+3)*in+j0-1]
			_ = t[(j0-1)*out+k0+3]
			addTransKernel(&dw[k0*in], &t[k0], in, out, j0)
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
	kernScratchPool.Put(s)
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
	return affineStep(false, "affineInverse", z, e, x, mu, alpha)
}

func affineForward(x, e, z, mu, alpha []float64) float64 {
	if !kernUseAsm {
		return affineForwardRef(x, e, z, mu, alpha)
	}
	return affineStep(true, "affineForward", x, e, z, mu, alpha)
}

// affineStep runs affineForwardKernel (forward) or affineInverseKernel, which
// share their shape: out and e written from in, mu and alpha. The last
// partial vector goes through the same kernel on padded copies.
func affineStep(forward bool, name string, out, e, in, mu, alpha []float64) float64 {
	n := len(alpha)
	if len(out) < n || len(e) < n || len(in) < n || len(mu) < n {
		panic("flow: " + name + ": slice shorter than alpha")
	}
	out, e, in, mu = out[:n], e[:n], in[:n], mu[:n]
	kern := func(out, e, in, mu, alpha *float64, n int) float64 {
		if forward {
			return affineForwardKernel(out, e, in, mu, alpha, n)
		}
		return affineInverseKernel(out, e, in, mu, alpha, n)
	}
	m := n &^ (kernVecWidth - 1)
	s := 0.0
	if m > 0 {
		s = kern(&out[0], &e[0], &in[0], &mu[0], &alpha[0], m)
	}
	if m < n {
		var bo, be, bi, bmu, ba [kernVecWidth]float64
		copy(bi[:], in[m:])
		copy(bmu[:], mu[m:])
		copy(ba[:], alpha[m:])
		s += kern(&bo[0], &be[0], &bi[0], &bmu[0], &ba[0], kernVecWidth)
		copy(out[m:], bo[:])
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
