// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego && (amd64 || arm64)

package flow

// Packing for the products of kernels_gemm.go: the k×n operand B into
// panels of nr columns (kernPackRows, or kernPackTrans for Bᵀ), and Aᵀ into
// slivers of gemmMR rows (kernPackSlivers). Packings of dY add colsum(dY)
// into db on the way; kernColSumAdd does that alone where nothing is packed.

// Slivers are gemmMR rows for both element types: the float32 kernel's
// tile has as many rows (a compile-time check).
const _ = uint(gemmMR-gemm32MR) + uint(gemm32MR-gemmMR)

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
func kernPackRows[T kernElem](bp, db, b []T, ldb, k, n, nr int) {
	if kernFastAux && kernUseAsm && !isF32[T]() {
		if k == 0 || n == 0 {
			return
		}
		full := n / nr
		var d *float64
		if db != nil {
			_ = db[n-1]
			d = f64p(&db[0])
		}
		_ = b[(k-1)*ldb+n-1]
		_ = bp[(n+nr-1)/nr*k*nr-1]
		if full > 0 {
			packRowsKernel(f64p(&bp[0]), d, f64p(&b[0]), ldb, k, nr/kernVecWidth, full, k*nr)
		}
		if j0 := full * nr; j0 < n {
			var mask [gemmNR]int64 // all ones on the n−j0 columns
			for j := range n - j0 {
				mask[j] = -1
			}
			if d != nil {
				d = f64p(&db[j0])
			}
			packTailKernel(f64p(&bp[full*k*nr]), d, f64p(&b[j0]), ldb, k, nr/kernVecWidth, &mask[0])
		}
		return
	}
	if kernFastAux && kernUseAsm && isF32[T]() && nr == 4 && k > 0 && n >= 4 {
		// The slivers of A (gemm32MR wide): whole panels by the kernel,
		// a partial last one by the loop below.
		full := n / 4
		var d *float32
		if db != nil {
			_ = db[n-1]
			d = f32p(&db[0])
		}
		_ = b[(k-1)*ldb+full*4-1]
		_ = bp[full*k*4-1]
		packRows4Kernel32(f32p(&bp[0]), d, f32p(&b[0]), ldb, k, full)
		if j0 := full * 4; j0 < n {
			var dt []T
			if db != nil {
				dt = db[j0:]
			}
			kernPackRows(bp[full*k*4:], dt, b[j0:], ldb, k, n-j0, nr)
		}
		return
	}
	if kernFastAux && kernUseAsm && isF32[T]() && nr == gemm32NR {
		if k == 0 || n == 0 {
			return
		}
		full := n / nr
		var d *float32
		if db != nil {
			_ = db[n-1]
			d = f32p(&db[0])
		}
		_ = b[(k-1)*ldb+n-1]
		_ = bp[(n+nr-1)/nr*k*nr-1]
		const w = 2 * kernVecWidth // float32 lanes
		if full > 0 {
			packRowsKernel32(f32p(&bp[0]), d, f32p(&b[0]), ldb, k, nr/w, full, k*nr)
		}
		if j0 := full * nr; j0 < n {
			var mask [gemm32NR]int32 // all ones on the n−j0 columns
			for j := range n - j0 {
				mask[j] = -1
			}
			if d != nil {
				d = f32p(&db[j0])
			}
			packTailKernel32(f32p(&bp[full*k*nr]), d, f32p(&b[j0]), ldb, k, nr/w, &mask[0])
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
func kernPackTrans[T kernElem](bp, b []T, ldb, k, n, nr int) {
	for q := 0; q*nr < n; q++ {
		kernPackTransPanel(bp[q*k*nr:(q+1)*k*nr], b, ldb, q*nr, min(nr, n-q*nr), k, nr)
	}
}

// kernPackTransPanel packs rows p < kmax of one panel of kernPackTrans, the
// columns j0 to j0+cols of Bᵀ, zero beyond. Rows p ≥ kmax are left as they
// are: the masked forward product needs only those in its panel's range.
func kernPackTransPanel[T kernElem](panel, b []T, ldb, j0, cols, kmax, nr int) {
	const blk = 8
	start := 0
	switch {
	case kernFastAux && kernUseAsm && !isF32[T]() && cols == nr && kmax >= 4:
		start = kmax &^ 3
		_ = b[(j0+nr-1)*ldb+start-1]
		for g := 0; g < nr; g += 4 {
			packTrans4Kernel(f64p(&panel[g]), f64p(&b[(j0+g)*ldb]), ldb, start, nr)
		}
	case kernFastAux && kernUseAsm && isF32[T]() && cols == nr && nr%4 == 0 && kmax >= 8:
		start = kmax &^ 7
		_ = b[(j0+nr-1)*ldb+start-1]
		_ = panel[(start-1)*nr+nr-1]
		for g := 0; g < nr; g += 4 {
			packTrans4Kernel32(f32p(&panel[g]), f32p(&b[(j0+g)*ldb]), ldb, start, nr)
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

// kernColSumAdd adds the column sums of the n×out matrix dy to db, row
// after row (as the references do), each row by addVecT.
func kernColSumAdd[T kernElem](db, dy []T, n, out int) {
	db = db[:out]
	for i := 0; i < n; i++ {
		addVecT(db, dy[i*out:i*out+out])
	}
}

// kernPackSlivers packs Aᵀ, where a is the k×m row-major matrix with leading
// dimension lda, into slivers of gemmMR rows for gemmJob.ts: sliver s holds
// a[p, s*gemmMR+r] at ap[s*k*gemmMR+p*gemmMR+r], zero beyond m. If db is
// not nil, the column sums of a are added to it on the way (each in
// increasing p, as kernColSumAdd does). Slivers are panels of gemmMR
// columns of a: kernPackRows packs them.
func kernPackSlivers[T kernElem](ap, db, a []T, lda, k, m int) {
	kernPackRows(ap, db, a, lda, k, m, gemmMR)
}

// kernSliversLen is the length of the k×m matrix Aᵀ packed by kernPackSlivers.
func kernSliversLen(k, m int) int {
	return k * ((m + gemmMR - 1) / gemmMR) * gemmMR
}
