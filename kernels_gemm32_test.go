// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego && (amd64 || arm64)

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemmBlocked32 runs the one product driver, gemmBlocked, on float32
// (gemmKernel32) and checks every entry bit for bit against the sums
// written out with fma32 in increasing p: A row-major, transposed and in
// slivers; from C and from init; whole and partial panels, rows not a
// multiple of the tile, sums across the cache blocks (k > gemmKC); the
// panels' ranges of p (prange), rows limited in width (rowLim), and the
// ReLU and its gradient fused; guard values around C.
func TestGemmBlocked32(t *testing.T) {
	if !kernHasF32 || !kernUseAsm {
		t.Log("no float32 micro-kernel on this machine: the products would not run")
		return
	}
	rnd := rand.New(rand.NewPCG(71, 72))
	r := func(n int) []float32 { return kernRand32(rnd, n) }
	nr, mr := gemm32NR, gemm32MR
	type shape struct{ m, n, k int }
	shapes := []shape{{1, 1, 1}, {4, 24, 1}, {5, 25, 7}, {3, 7, 2}, {13, 50, 33}, {9, 48, 300}, {131, 41, 65}, {17, 100, 513}, {8, 23, 0}}
	for _, sh := range shapes {
		m, n, k := sh.m, sh.n, sh.k
		panels := (n + nr - 1) / nr
		// B (k×n) and its panels.
		bm := r(k * n)
		bp := make([]float32, panels*k*nr)
		for q := 0; q < panels; q++ {
			for p := 0; p < k; p++ {
				for j := 0; j < nr && q*nr+j < n; j++ {
					bp[q*k*nr+p*nr+j] = bm[p*n+q*nr+j]
				}
			}
		}
		for _, layout := range []string{"row-major", "transposed", "slivers"} {
			for variant := 0; variant < 6; variant++ {
				name := fmt.Sprintf("%dx%dx%d/%s/%d", m, n, k, layout, variant)
				am := r(m * max(k, 1)) // A, m×k, row-major
				var a []float32
				rs, ps, ts := 0, 0, 0
				switch layout {
				case "row-major":
					a, rs, ps = am, max(k, 1), 1
				case "transposed": // Aᵀ stored row-major: element (i, p) at p·m + i
					a = make([]float32, max(k, 1)*m)
					for i := 0; i < m; i++ {
						for p := 0; p < k; p++ {
							a[p*m+i] = am[i*max(k, 1)+p]
						}
					}
					rs, ps = 1, m
				case "slivers": // tiles of mr rows, each p's mr entries together
					tiles := (m + mr - 1) / mr
					a = make([]float32, tiles*mr*max(k, 1))
					for i := 0; i < m; i++ {
						for p := 0; p < k; p++ {
							a[i/mr*mr*k+p*mr+i%mr] = am[i*max(k, 1)+p]
						}
					}
					rs, ps, ts = 1, mr, mr*k
				}
				g := gemmJob[float32]{ldc: n + 3, a: a, rs: rs, ps: ps, ts: ts, m: m, n: n, k: k, bp: bp}
				var prange, rowLim []int
				switch variant {
				case 1:
					g.init = r(panels * nr)
				case 2: // ranges of p per panel; B is zero outside them
					prange = make([]int, 2*panels)
					for q := 0; q < panels; q++ {
						p0 := rnd.IntN(k + 1)
						p1 := p0 + rnd.IntN(k-p0+1)
						prange[2*q], prange[2*q+1] = p0, p1
						for p := 0; p < k; p++ {
							if p < p0 || p >= p1 {
								for j := 0; j < nr; j++ {
									bp[q*k*nr+p*nr+j] = 0
								}
							}
						}
					}
					g.prange, g.init = prange, r(panels*nr)
				case 3:
					if layout == "slivers" || layout == "row-major" {
						rowLim = make([]int, m)
						for i := range rowLim {
							rowLim[i] = rnd.IntN(n + 1)
						}
						g.rowLim = rowLim
					}
				case 4:
					g.relu, g.init = true, r(panels*nr)
				case 5:
					g.reluOf = r(m * g.ldc)
					for i := range g.reluOf {
						if rnd.IntN(3) == 0 {
							g.reluOf[i] = 0
						}
					}
				}
				const guard = 5
				c0 := r(guard + m*g.ldc + guard)
				want := append([]float32(nil), c0...)
				for i := 0; i < m; i++ {
					w := n
					if rowLim != nil {
						w = rowLim[i]
					}
					for j := 0; j < w; j++ {
						s := want[guard+i*g.ldc+j]
						if g.init != nil {
							s = g.init[j]
						}
						p0, p1 := 0, k
						if prange != nil {
							p0, p1 = prange[2*(j/nr)], prange[2*(j/nr)+1]
						}
						for p := p0; p < p1; p++ {
							s = fma32(am[i*max(k, 1)+p], bm[p*n+j], s)
						}
						if g.relu && s < 0 || g.reluOf != nil && g.reluOf[i*g.ldc+j] <= 0 {
							s = 0
						}
						want[guard+i*g.ldc+j] = s
					}
				}
				got := append([]float32(nil), c0...)
				g.c = got[guard : guard+m*g.ldc]
				gemmBlocked(&g)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s: c[%d] (row %d, col %d) = %g, want %g", name, i-guard, (i-guard)/g.ldc, (i-guard)%g.ldc, got[i], want[i])
					}
				}
				if variant == 2 { // restore B for the next variants
					for q := 0; q < panels; q++ {
						for p := 0; p < k; p++ {
							for j := 0; j < nr && q*nr+j < n; j++ {
								bp[q*k*nr+p*nr+j] = bm[p*n+q*nr+j]
							}
						}
					}
				}
			}
		}
	}
}

// TestDense32 runs the dense products on float32 (denseForwardAct,
// denseBackwardXAct, denseBackwardW, through the one product driver and
// the packings over T) and checks them bit for bit against the sums
// written out with fma32 in the order the driver adds: Y from b, dX from
// zero, dW from its own value, or, where out > 2·in (the transposed
// product), from zero and then added to dW; db by plain additions in
// increasing row order. Every shape of denseShapes, both fused
// activations, guards around every output.
func TestDense32(t *testing.T) {
	if !kernHasF32 || !kernUseAsm {
		t.Log("no float32 micro-kernel on this machine: the products would not run")
		return
	}
	rnd := rand.New(rand.NewPCG(73, 74))
	r := func(n int) []float32 { return kernRand32(rnd, n) }
	const guard = 4
	guarded := func(n int) ([]float32, []float32) { // the whole buffer, and its middle
		buf := r(n + 2*guard)
		return buf, buf[guard : guard+n]
	}
	same := func(name string, got, want []float32) {
		t.Helper()
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: [%d] = %g, want %g", name, i-guard, got[i], want[i])
			}
		}
	}
	for _, sh := range denseShapes(true) {
		n, in, out := sh.n, sh.in, sh.out
		x, w, b, dy := r(n*in), r(out*in), r(out), r(n*out)
		h := r(n * in)
		for i := range h {
			if rnd.IntN(3) == 0 {
				h[i] = 0
			}
		}
		for _, act := range []bool{false, true} {
			name := fmt.Sprintf("%dx%dx%d/act=%t", n, in, out, act)
			// Forward.
			yb, y := guarded(n * out)
			want := append([]float32(nil), yb...)
			for i := 0; i < n; i++ {
				for k := 0; k < out; k++ {
					s := b[k]
					if kernDotFwd(in, out) {
						one := []float32{s}
						dotRows32Model(one, 0, x[i*in:], in, w[k*in:], in, 1)
						s = one[0]
					} else {
						for j := 0; j < in; j++ {
							s = fma32(x[i*in+j], w[k*in+j], s)
						}
					}
					if act && s < 0 {
						s = 0
					}
					want[guard+i*out+k] = s
				}
			}
			denseForwardAct(y, x, w, b, n, in, out, act)
			same(name+"/forward", yb, want)
			// Backward to the input.
			dxb, dx := guarded(n * in)
			want = append([]float32(nil), dxb...)
			col := make([]float32, out)
			for i := 0; i < n; i++ {
				for j := 0; j < in; j++ {
					var s float32
					if kernDotFwd(out, in) {
						for k := range col {
							col[k] = w[k*in+j]
						}
						one := []float32{0}
						dotRows32Model(one, 0, dy[i*out:], out, col, out, 1)
						s = one[0]
					} else {
						for k := 0; k < out; k++ {
							s = fma32(dy[i*out+k], w[k*in+j], s)
						}
					}
					if act && h[i*in+j] <= 0 {
						s = 0
					}
					want[guard+i*in+j] = s
				}
			}
			var hh []float32
			if act {
				hh = h
			}
			denseBackwardXAct(dx, dy, w, n, in, out, hh)
			same(name+"/backwardX", dxb, want)
			// Backward to the weights, accumulating.
			dwb, dw := guarded(out * in)
			dbb, db := guarded(out)
			wantW, wantB := append([]float32(nil), dwb...), append([]float32(nil), dbb...)
			for k := 0; k < out; k++ {
				for j := 0; j < in; j++ {
					wantW[guard+k*in+j] = wantDW32(dw, dy, x, k, j, n, in, out, kernDotW(n, in, out))
				}
				s := db[k]
				for i := 0; i < n; i++ {
					s += dy[i*out+k]
				}
				wantB[guard+k] = s
			}
			denseBackwardW(dw, db, dy, x, n, in, out)
			same(name+"/backwardW", dwb, wantW)
			same(name+"/backwardW db", dbb, wantB)
		}
	}
}

// BenchmarkKernelDense32 runs the dense products in float32 and in float64
// on the same shapes, one core (kernBenchShapes): float32's GFLOP/s over
// float64's is the float32 path's gain on a layer's products.
func BenchmarkKernelDense32(b *testing.B) { bench32(b, false) }

// BenchmarkKernelMasked32 is BenchmarkKernelDense32 for the masked (MADE)
// products, on the staircase of BenchmarkKernelMasked (43 degrees).
// GFLOP/s counts the dense 2·n·in·out, as there.
func BenchmarkKernelMasked32(b *testing.B) { bench32(b, true) }

// bench32 runs the products of both precisions, masked or dense.
func bench32(b *testing.B, masked bool) {
	for _, sh := range kernBenchShapes {
		n, in, out := sh.n, sh.in, sh.out
		var lim []int
		if masked {
			lim = kernMADELim(in, out, 43)
		}
		rnd := rand.New(rand.NewPCG(75, 76))
		x, w, bias, dy := kernRand32(rnd, n*in), kernRand32(rnd, out*in), kernRand32(rnd, out), kernRand32(rnd, n*out)
		y, dx, dw, db := make([]float32, n*out), make([]float32, n*in), make([]float32, out*in), make([]float32, out)
		x64, w64, b64, dy64 := widen(x), widen(w), widen(bias), widen(dy)
		y64, dx64, dw64, db64 := make([]float64, n*out), make([]float64, n*in), make([]float64, out*in), make([]float64, out)
		fwd32, fwd64 := func() { denseForward(y, x, w, bias, n, in, out) }, func() { denseForward(y64, x64, w64, b64, n, in, out) }
		bx32, bx64 := func() { denseBackwardX(dx, dy, w, n, in, out) }, func() { denseBackwardX(dx64, dy64, w64, n, in, out) }
		bw32, bw64 := func() { denseBackwardW(dw, db, dy, x, n, in, out) }, func() { denseBackwardW(dw64, db64, dy64, x64, n, in, out) }
		if masked {
			fwd32, fwd64 = func() { maskedForward(y, x, w, bias, lim, n, in, out) }, func() { maskedForward(y64, x64, w64, b64, lim, n, in, out) }
			bx32, bx64 = func() { maskedBackwardX(dx, dy, w, lim, n, in, out) }, func() { maskedBackwardX(dx64, dy64, w64, lim, n, in, out) }
			bw32, bw64 = func() { maskedBackwardW(dw, db, dy, x, lim, n, in, out) }, func() { maskedBackwardW(dw64, db64, dy64, x64, lim, n, in, out) }
		}
		for _, p := range []struct {
			name string
			run  func()
		}{
			{"Forward/f32", fwd32}, {"Forward/f64", fwd64},
			{"BackwardX/f32", bx32}, {"BackwardX/f64", bx64},
			{"BackwardW/f32", bw32}, {"BackwardW/f64", bw64},
		} {
			b.Run(fmt.Sprintf("%s/%s", p.name, kernBenchName(sh)), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					p.run()
				}
				kernReportGFLOPS(b, 2*float64(n*in*out))
			})
		}
	}
}

// widen returns the float64 values of v.
func widen(v []float32) []float64 {
	w := make([]float64, len(v))
	for i, x := range v {
		w[i] = float64(x)
	}
	return w
}

// dotRows32Model is dotRowsKernel32's order of operations written out in
// Go (its doc comment), fused multiply-adds as fma32: y[i*incy] += the dot
// product of row i of a with x.
func dotRows32Model(y []float32, incy int, a []float32, lda int, x []float32, k, rows int) {
	for i := 0; i < rows; i++ {
		row := a[i*lda : i*lda+k]
		var s [4][8]float32
		p := 0
		for ; p+32 <= k; p += 32 {
			for r := 0; r < 4; r++ {
				for l := 0; l < 8; l++ {
					s[r][l] = fma32(row[p+8*r+l], x[p+8*r+l], s[r][l])
				}
			}
		}
		for ; p+8 <= k; p += 8 {
			for l := 0; l < 8; l++ {
				s[0][l] = fma32(row[p+l], x[p+l], s[0][l])
			}
		}
		var u [4]float32
		for l := range u {
			u[l] = ((s[0][l] + s[1][l]) + (s[2][l] + s[3][l])) + ((s[0][l+4] + s[1][l+4]) + (s[2][l+4] + s[3][l+4]))
		}
		sum := (u[0] + u[2]) + (u[1] + u[3])
		for ; p < k; p++ {
			sum = fma32(row[p], x[p], sum)
		}
		y[i*incy] += sum
	}
}

// wantDW32 is entry (k, j) of dW + dYᵀ·X as the float32 weight gradient
// computes it: from dW's entry in fma32 steps of increasing row, or, where
// out > 2·in (the transposed product) and not dot (the row kernels of
// kernDotBackwardW, which sum from dW's entry), from zero and then added
// to it.
func wantDW32(dw, dy, x []float32, k, j, n, in, out int, dot bool) float32 {
	tr := out > 2*in && !dot
	s := dw[k*in+j]
	if tr {
		s = 0
	}
	for i := 0; i < n; i++ {
		s = fma32(dy[i*out+k], x[i*in+j], s)
	}
	if tr {
		s = dw[k*in+j] + s
	}
	return s
}

// TestMasked32 runs the masked (MADE) products on float32 and checks them
// bit for bit against the fma32 sums over the unmasked entries in the
// driver's order (as TestDense32), with masks of every kind (a staircase
// sorted by degree, random limits, empty and full rows), both fused
// activations, and infinities in the inputs, whose outputs the products
// recompute as the reference does (plain sums).
func TestMasked32(t *testing.T) {
	if !kernHasF32 || !kernUseAsm {
		t.Log("no float32 micro-kernel on this machine: the products would not run")
		return
	}
	rnd := rand.New(rand.NewPCG(77, 78))
	r := func(n int) []float32 { return kernRand32(rnd, n) }
	inf := float32(math.Inf(1))
	// equal compares bit for bit, any NaN equal to any NaN.
	equal := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b }
	for _, sh := range denseShapes(true) {
		n, in, out := sh.n, sh.in, sh.out
		for variant := 0; variant < 3; variant++ {
			lim := make([]int, out)
			for k := range lim {
				switch variant {
				case 0: // staircase by degree
					lim[k] = (k + 1) * in / max(out, 1)
				case 1: // random limits, empty and full rows
					lim[k] = rnd.IntN(in + 1)
				case 2:
					lim[k] = []int{0, in, in / 2}[k%3]
				}
			}
			x, w, b, dy := r(n*in), r(out*in), r(out), r(n*out)
			h := r(n * in)
			if variant == 2 && n > 1 && in > 1 && out > 1 {
				x[in+1], dy[1] = inf, -inf
			}
			// The panels' ranges of p: an output whose range meets a
			// non-finite input comes back non-finite from the kernel (∞·0
			// on a masked entry, ∞·w on another) and is recomputed.
			nr := gemm32NR
			rngF, rngB := make([]int, 2*((out+nr-1)/nr)), make([]int, 2*((in+nr-1)/nr))
			kernMaskedFwdRanges(rngF, lim, out, nr)
			kernMaskedBwdRanges(rngB, lim, in, out, nr)
			redo := func(v []float32, i, ld, p0, p1 int) bool {
				for _, a := range v[i*ld+p0 : i*ld+p1] {
					if kernIsNonFinite(float64(a)) {
						return true
					}
				}
				return false
			}
			for _, act := range []bool{false, true} {
				name := fmt.Sprintf("%dx%dx%d/lim%d/act=%t", n, in, out, variant, act)
				y := r(n * out)
				denseRef := make([]float32, n*out)
				maskedForwardRef(denseRef, x, w, b, lim, n, in, out)
				maskedForwardAct(y, x, w, b, lim, n, in, out, act)
				for i := 0; i < n; i++ {
					for k := 0; k < out; k++ {
						s := b[k]
						for j := 0; j < lim[k]; j++ {
							s = fma32(x[i*in+j], w[k*in+j], s)
						}
						if q := k / nr; redo(x, i, in, rngF[2*q], rngF[2*q+1]) {
							s = denseRef[i*out+k] // recomputed as the reference does
						}
						if act && s < 0 {
							s = 0
						}
						if got := y[i*out+k]; !equal(got, s) {
							t.Fatalf("%s: forward [%d,%d] = %g, want %g", name, i, k, got, s)
						}
					}
				}
				var hh []float32
				if act {
					hh = h
				}
				dx := r(n * in)
				refX := make([]float32, n*in)
				maskedBackwardXRef(refX, dy, w, lim, n, in, out)
				maskedBackwardXAct(dx, dy, w, lim, n, in, out, hh)
				for i := 0; i < n; i++ {
					for j := 0; j < in; j++ {
						var s float32
						for k := 0; k < out; k++ {
							if j < lim[k] {
								s = fma32(dy[i*out+k], w[k*in+j], s)
							}
						}
						if q := j / nr; redo(dy, i, out, rngB[2*q], rngB[2*q+1]) {
							s = refX[i*in+j]
						}
						if act && h[i*in+j] <= 0 {
							s = 0
						}
						if got := dx[i*in+j]; !equal(got, s) {
							t.Fatalf("%s: backwardX [%d,%d] = %g, want %g", name, i, j, got, s)
						}
					}
				}
				if variant == 2 {
					continue // infinite weight gradients: nothing exact to compare
				}
				dw, db := r(out*in), r(out)
				wantW, wantB := append([]float32(nil), dw...), append([]float32(nil), db...)
				for k := 0; k < out; k++ {
					for j := 0; j < lim[k]; j++ {
						wantW[k*in+j] = wantDW32(dw, dy, x, k, j, n, in, out, false)
					}
					for i := 0; i < n; i++ {
						wantB[k] += dy[i*out+k]
					}
				}
				maskedBackwardW(dw, db, dy, x, lim, n, in, out)
				for i := range dw {
					if !equal(dw[i], wantW[i]) {
						t.Fatalf("%s: backwardW [%d] = %g, want %g", name, i, dw[i], wantW[i])
					}
				}
				for k := range db {
					if !equal(db[k], wantB[k]) {
						t.Fatalf("%s: db[%d] = %g, want %g", name, k, db[k], wantB[k])
					}
				}
			}
		}
	}
}
