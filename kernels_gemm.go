// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego && (amd64 || arm64)

package flow

import (
	"sync"
	"unsafe"
)

// The Go half of the assembly kernels on amd64 and arm64 lives in the
// kernels_*.go files of this build: this file, the blocked matrix product
// around the register-blocked micro-kernels and its scratch buffers;
// kernels_pack.go, the packing of operands into panels and slivers;
// kernels_dense.go, the dense products of a layer; kernels_masked.go, their
// masked (MADE) variants; kernels_elem.go, the element-wise kernels (exp,
// the affine steps, the activations). Each dispatches on kernUseAsm to the
// assembly or to its plain-Go reference (kernels.go). The architecture files
// (kernels_amd64.go, kernels_arm64.go) set kernUseAsm, the tile shapes and
// kernFastAux, and declare the assembly functions.
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
// The driver is generic over the element type: gemmBlocked[float32] runs
// the float32 micro-kernel gemmKernel32 (kernels_f32.go), one kind.

const (
	gemmKC = 256 // rows of a B panel slice kept in L1 by one micro-kernel call
	gemmMC = 128 // rows of A kept in L2 across the panels (fewer when k is short)

	// gemmTileLen is the number of sums in the largest tile.
	gemmTileLen = max(gemmMR*gemmNR, gemmNarrowMR*gemmNarrowNR, gemm32MR*gemm32NR)
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
	kernTilePool32  kernFreeList[float32] // kernTilePool for float32 products

	kernScratchPool32 kernFreeList[float32] // kernScratchPool for float32 products
)

// kernScratchFor returns the free list of scratch buffers for elements of
// T; kernGetScratchT takes a buffer of length n from it.
func kernScratchFor[T kernElem]() *kernFreeList[T] {
	if isF32[T]() {
		return (*kernFreeList[T])(unsafe.Pointer(&kernScratchPool32))
	}
	return (*kernFreeList[T])(unsafe.Pointer(&kernScratchPool))
}

func kernGetScratchT[T kernElem](n int) *[]T {
	p := kernScratchFor[T]().Get()
	if cap(*p) < n {
		*p = make([]T, n)
	}
	*p = (*p)[:n]
	return p
}

// kernTiles returns the free list of edge-tile rows for elements of T.
func kernTiles[T kernElem]() *kernFreeList[T] {
	if isF32[T]() {
		return (*kernFreeList[T])(unsafe.Pointer(&kernTilePool32))
	}
	return (*kernFreeList[T])(unsafe.Pointer(&kernTilePool))
}

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

// gemmJob describes C += A·B (or C = 1·initᵀ + A·B) with B packed into
// panels of g.nr() columns, in float64 or (T = float32, one kind of
// kernel, gemmKernel32) in float32: one driver for both element types.
type gemmJob[T kernElem] struct {
	kind gemmKind

	c   []T // m×n, leading dimension ldc
	ldc int
	// A is m×k: element (i, p) is a[i*rs+p*ps], or with slivers (ts ≠ 0,
	// wide kernel only) a[(i/gemmMR)*ts+(i%gemmMR)*rs+p*ps].
	a      []T
	rs, ps int
	ts     int // stride of gemmMR rows; 0 for mr·rs

	m, n, k int

	bp []T // packed B: panel q holds rows p of columns q*nr+j at bp[q*k*nr+p*nr+j]

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
	init []T

	// relu makes every entry of C that the job computes max(c, 0), as
	// reluRef does (NaN and −0 kept), once its sum is complete: each run
	// of tiles right after its last block of sums, while it is in L1,
	// instead of in a pass over C after the product (gemmJob.activate).
	relu bool

	// reluOf, if not nil, is a ReLU layer's output h laid out as C (m×n,
	// leading dimension ldc): once its sum is complete, every entry of C
	// computed where h ≤ 0 becomes 0, as reluBackwardRef does (NaN in h
	// keeps C's entry), the backward pass of the activation fused into
	// the product that computes its gradient. Not with relu.
	reluOf []T
}

// activate applies the job's activation, if any, to rows i0 ≤ i < i1 of C
// on the columns j0 ≤ j < j0+cols (fewer where rowLim limits a row): on
// amd64 the whole vectors of all the rows in one call of a row kernel, the
// rest row by row.
func (g *gemmJob[T]) activate(i0, i1, j0, cols int) {
	if !g.relu && g.reluOf == nil || i1 <= i0 {
		return
	}
	h := g.reluOf
	v := 0 // columns of each row done by the row kernels
	w := kernVecWidth
	if isF32[T]() {
		w *= 2
	}
	if kernFastAux && g.rowLim == nil {
		v = cols / w * w
	}
	rows, vecs := i1-i0, v/w
	if v == cols && cols == g.ldc {
		// Contiguous rows: one row of all their vectors.
		rows, vecs = 1, rows*vecs
	}
	if v > 0 {
		o, last := i0*g.ldc+j0, (i1-1)*g.ldc+j0+v-1
		_ = g.c[last]
		switch {
		case h != nil && isF32[T]():
			_ = h[last]
			reluBackRowsKernel32(f32p(&g.c[o]), f32p(&h[o]), g.ldc, rows, vecs)
		case h != nil:
			_ = h[last]
			reluBackRowsKernel(f64p(&g.c[o]), f64p(&h[o]), g.ldc, rows, vecs)
		case isF32[T]():
			reluRowsKernel32(f32p(&g.c[o]), g.ldc, rows, vecs)
		default:
			reluRowsKernel(f64p(&g.c[o]), g.ldc, rows, vecs)
		}
	}
	if v == cols {
		return
	}
	for i := i0; i < i1; i++ {
		o, w := i*g.ldc+j0, g.width(i, j0, cols)
		if w <= v {
			continue
		}
		if h != nil {
			reluBackwardT(g.c[o+v:o+w], h[o+v:o+w])
		} else {
			reluT(g.c[o+v : o+w])
		}
	}
}

// activateRun activates a run of tiles as activate does, unless the
// activation is deferred to the end of the block of rows (blockAct).
func (g *gemmJob[T]) activateRun(blockAct bool, i0, i1, j0, cols int) {
	if !blockAct {
		g.activate(i0, i1, j0, cols)
	}
}

// kern runs the micro-kernel of the job's kind and element type.
func (g *gemmJob[T]) kern(c *T, ldc int, a *T, rs, ps, ts int, b *T, k, tiles int, init *T) {
	if isF32[T]() {
		gemmKernel32(f32p(c), ldc, f32p(a), rs, ps, ts, f32p(b), k, tiles, f32p(init))
		return
	}
	if g.kind == gemmNarrow {
		gemmKernelNarrow(f64p(c), ldc, f64p(a), rs, ps, ts, f64p(b), k, tiles, f64p(init))
		return
	}
	gemmKernel(f64p(c), ldc, f64p(a), rs, ps, ts, f64p(b), k, tiles, f64p(init))
}

// kernNR is the width of the panels of a product of kind kind in T.
func kernNR[T kernElem](kind gemmKind) int {
	if isF32[T]() {
		return gemm32NR
	}
	return kind.nr()
}

// mr and nr are the rows and columns of the job's tiles.
func (g *gemmJob[T]) mr() int {
	if isF32[T]() {
		return gemm32MR
	}
	return g.kind.mr()
}

func (g *gemmJob[T]) nr() int {
	if isF32[T]() {
		return gemm32NR
	}
	return g.kind.nr()
}

// gemmBlocked computes the product of the job: for each block of rows of
// C (gemmMC, fewer when k is short), each panel of B and each slice of gemmKC rows of the panel, the
// micro-kernel runs over the row tiles (runs of full tiles in one call,
// edge tiles through scratch tiles).
func gemmBlocked[T kernElem](g *gemmJob[T]) {
	if g.m == 0 || g.n == 0 {
		return
	}
	mr, nr := g.mr(), g.nr()
	if g.k == 0 {
		if g.init != nil {
			for i := 0; i < g.m; i++ {
				copy(g.c[i*g.ldc:i*g.ldc+g.n], g.init)
			}
		}
		g.activate(0, g.m, 0, g.n)
		return
	}
	if !isF32[T]() && kernHasPanels && g.kind == gemmWide && g.ts == 0 && g.ps == 1 && g.rowLim == nil && g.panelRows == nil &&
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
	var tmpA, tmpS []T // scratch rows of A; a strip of C (stripTiles)
	var tmpAp, tmpSp *[]T
	var tmpC [gemmTileLen]T
	// spill lets the partial last panel run whole tiles: its padding
	// columns spill into the first columns of the next row of C, which
	// panel 0, run after it, overwrites. Only where C is written before it
	// is read (init), its rows are contiguous (no other data in between),
	// every entry is wanted, panel 0 is whole, and never from the last row
	// of C (whose next row is not C's).
	spill := g.init != nil && g.ldc == g.n && g.rowLim == nil && g.panelRows == nil && g.n%nr != 0 && panels >= 2
	// blockAct defers the ReLU's gradient of a product on more than one
	// panel to the end of each block of rows, over all its columns: per
	// run of tiles it would read the strip of h on the panel's columns,
	// rows a power of two apart at the widths of hidden layers, which L1
	// cannot hold and the prefetchers do not follow (in maf-large's step
	// 3.6× the time of one pass over the rows). The forward ReLU needs no
	// operand and stays with the runs, while they are in L1.
	//
	// The narrow kind's runs are 8 columns, two vectors a row, on which the
	// row kernels' per-row steps cost more than the activation itself: its
	// ReLU is deferred to the block too (realnvp-tiny's 64-wide layers).
	blockAct := (g.reluOf != nil || g.relu && g.kind == gemmNarrow) && g.panelRows == nil && panels > 1
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
				g.activateRun(blockAct, ic, hi, j0, cols)
				continue
			}
			if p1 <= p0 {
				// Nothing to add to C: its entries are complete as they are.
				g.activateRun(blockAct, ic, hi, j0, cols)
			}
			for pc := p0; pc < p1; pc += gemmKC {
				kc := min(gemmKC, p1-pc)
				last := pc+kc >= p1 // the sums end in this block
				b := &panel[pc*nr]
				var init *T
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
							if last {
								g.activateRun(blockAct, i, i+run*mr, j0, cols)
							}
							i += run * mr
						}
						if half >= 0 {
							gemmKernel2(f64p(&g.c[half*g.ldc+j0]), g.ldc, f64p(&g.a[g.aIndex(half, pc, mr)]), g.rs, g.ps, 0, f64p(b), kc, 1, f64p(init))
							if last {
								g.activateRun(blockAct, half, min(half+2, g.m), j0, cols)
							}
							i += mr
						}
						continue
					}
					if strip := (mEnd - i) / mr * mr; g.rowLim == nil && g.panelRows == nil && strip > 0 {
						// Whole tiles on a partial panel: their rows through a
						// strip of scratch nr wide, in as few kernel calls as
						// the strip allows, not tile by tile.
						if tmpS == nil {
							tmpSp = kernTiles[T]().Get()
							if len(*tmpSp) == 0 {
								*tmpSp = make([]T, gemmMaxMR*gemmKC)
							}
							tmpS = *tmpSp
						}
						i0 := i
						i = g.stripTiles(tmpS, i, strip, j0, cols, pc, kc, b, init)
						if last {
							g.activateRun(blockAct, i0, i, j0, cols)
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
							tmpAp = kernTiles[T]().Get()
							if len(*tmpAp) == 0 {
								*tmpAp = make([]T, gemmMaxMR*gemmKC)
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
						gemmKernel2(f64p(&tc[0]), nr, f64p(a), rs, ps, 0, f64p(b), kc, 1, f64p(init))
					} else {
						g.kern(&tc[0], nr, a, rs, ps, 0, b, kc, 1, init)
					}
					for r := r0; r < r1; r++ {
						w := g.width(i+r, j0, cols)
						copy(g.c[(i+r)*g.ldc+j0:(i+r)*g.ldc+j0+w], tc[(r-r0)*nr:(r-r0)*nr+w])
					}
					if last {
						g.activateRun(blockAct, i+r0, i+r1, j0, cols)
					}
					i += mr
				}
			}
		}
		if blockAct {
			g.activate(ic, mEnd, 0, g.n)
		}
	}
	if tmpAp != nil {
		kernTiles[T]().Put(tmpAp)
	}
	if tmpSp != nil {
		kernTiles[T]().Put(tmpSp)
	}
}

// stripTiles computes the rows i ≤ r < i+rows (whole tiles) of C on the
// columns j0 ≤ j < j0+cols < j0+nr of a partial panel, through buf: as many
// rows of nr columns at a time as buf holds, each run of tiles in one
// kernel call, C's entries copied in (when the sums start from C) and the
// cols wanted copied out. It returns the row after the last.
func (g *gemmJob[T]) stripTiles(buf []T, i, rows, j0, cols, pc, kc int, b, init *T) int {
	mr, nr := g.mr(), g.nr()
	chunk := len(buf) / nr / mr * mr
	for end := i + rows; i < end; {
		n := min(chunk, end-i)
		s := buf[:n*nr]
		if init == nil {
			for r := 0; r < n; r++ {
				copy(s[r*nr:r*nr+cols], g.c[(i+r)*g.ldc+j0:])
			}
		}
		g.kern(&s[0], nr, &g.a[g.aIndex(i, pc, mr)], g.rs, g.ps, g.tileStride(mr), b, kc, n/mr, init)
		for r := 0; r < n; r++ {
			copy(g.c[(i+r)*g.ldc+j0:(i+r)*g.ldc+j0+cols], s[r*nr:r*nr+cols])
		}
		i += n
	}
	return i
}

// gemmPanelsK is the longest sum that gemmByTiles takes.
const gemmPanelsK = 64

// gemmActRows is how many rows of C gemmByTiles computes before it
// applies their activation.
const gemmActRows = 16

// gemmByTiles computes a product with short sums (k ≤ gemmPanelsK, A
// row-major, wide kernel) a tile of rows at a time across all the whole
// panels, by gemmKernelPanels: one call per tile instead of one per panel
// and block of rows, and each tile's rows of C finished at once. The
// partial last panel and the last rows go through gemmBlocked's loops.
func gemmByTiles[T kernElem](g *gemmJob[T]) {
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
		init = f64p(&g.init[0])
	}
	_ = g.c[(mFull-1)*g.ldc+full*nr-1]
	_ = g.a[(mFull-1)*g.rs+g.k-1]
	_ = g.bp[full*g.k*nr-1]
	// The activation runs once per group of tiles (gemmActRows rows),
	// while their rows of C are still in L1, not once per tile: a call
	// per tile costs more than it saves on short rows.
	a0 := 0
	for i := 0; i < mFull; i += mr {
		gemmKernelPanels(f64p(&g.c[i*g.ldc]), g.ldc, f64p(&g.a[i*g.rs]), g.rs, f64p(&g.bp[0]), g.k*nr, &rng[0], full, init)
		if i+mr-a0 >= gemmActRows || i+mr == mFull {
			g.activate(a0, i+mr, 0, full*nr)
			a0 = i + mr
		}
	}
	kernIntPool.Put(ri)
	if j0 := full * nr; j0 < g.n {
		sub := *g
		sub.c, sub.n, sub.bp = g.c[j0:], g.n-j0, g.bp[full*g.k*nr:]
		if g.reluOf != nil {
			sub.reluOf = g.reluOf[j0:]
		}
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
		if g.reluOf != nil {
			sub.reluOf = g.reluOf[mFull*g.ldc:]
		}
		gemmBlocked(&sub)
	}
}

// halves reports whether tiles of two rows may run (gemmKernel2): on the
// wide kind where the kernel exists.
func (g *gemmJob[T]) halves() bool { return !isF32[T]() && kernHasHalf && g.kind == gemmWide }

// aIndex is the index in g.a of element (i, p) of A, for tiles of mr rows.
func (g *gemmJob[T]) aIndex(i, p, mr int) int {
	if g.ts != 0 {
		return i/mr*g.ts + i%mr*g.rs + p*g.ps
	}
	return i*g.rs + p*g.ps
}

// tileStride is the distance in g.a between tiles of mr rows.
func (g *gemmJob[T]) tileStride(mr int) int {
	if g.ts != 0 {
		return g.ts
	}
	return mr * g.rs
}

// tileFull reports whether the mr rows from i of C may be written on the
// whole panel of nr columns from column j0 (always without rowLim).
func (g *gemmJob[T]) tileFull(i, j0, mr, nr int) bool {
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
func (g *gemmJob[T]) width(i, j0, cols int) int {
	if g.rowLim == nil {
		return cols
	}
	return min(max(g.rowLim[i]-j0, 0), cols)
}
