// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestGODEBUGFallback checks that GODEBUG=cpu.avx2=off (and cpu.fma=off)
// reaches the plain-Go fallback: golang.org/x/sys/cpu reads GODEBUG when
// the package starts, so kernUseAsm comes out false in a process started so.
func TestGODEBUGFallback(t *testing.T) {
	if os.Getenv("FLOW_GODEBUG_CHILD") == "1" {
		if kernUseAsm {
			t.Fatal("kernUseAsm is true under GODEBUG=" + os.Getenv("GODEBUG"))
		}
		return
	}
	for _, d := range []string{"cpu.avx2=off", "cpu.fma=off"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGODEBUGFallback$", "-test.v")
		cmd.Env = append(os.Environ(), "FLOW_GODEBUG_CHILD=1", "GODEBUG="+d)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PASS") {
			t.Fatalf("GODEBUG=%s: %v\n%s", d, err, out)
		}
	}
}

// kernHasTanhBits is true where tanhVec computes |x| < 0.625 with the same
// roundings as math.Tanh (amd64, where Go does not fuse multiply-adds).
const kernHasTanhBits = true

// TestGemmKernel2 checks the 2-row micro-kernel bit for bit against its
// loop, summed in the kernel's order (even p on top of the start, odd p
// apart, then the two added), on A in place and in slivers, with and
// without init, over several tiles and every sum length up to 9 and a
// long one, with guards around C.
func TestGemmKernel2(t *testing.T) {
	if !kernUseAsm {
		t.Log("no AVX2+FMA: gemmKernel2 is not called on this machine")
		return
	}
	rnd := rand.New(rand.NewPCG(21, 22))
	const nr = gemmNR
	for _, k := range []int{1, 2, 3, 4, 5, 8, 9, 257} {
		for _, tiles := range []int{1, 3} {
			for _, sliver := range []bool{false, true} {
				for _, withInit := range []bool{false, true} {
					// A: rows 2t+i at a[t*ts+i*rs+p*ps].
					rs, ps, ts := k+1, 1, 2*(k+1) // row-major, lda = k+1
					if sliver {
						rs, ps, ts = 1, gemmMR, gemmMR*k
					}
					a := kernRandSlice(rnd, tiles*ts+rs+k*ps)
					b := kernRandSlice(rnd, k*nr)
					var init []float64
					var ip *float64
					if withInit {
						init = kernRandSlice(rnd, nr)
						ip = &init[0]
					}
					ldc := nr + 5
					c := randGuarded(rnd, 2*tiles*ldc)
					want := append([]float64(nil), c.s()...)
					for tt := 0; tt < tiles; tt++ {
						for i := 0; i < 2; i++ {
							row := want[(2*tt+i)*ldc:]
							for j := 0; j < nr; j++ {
								even, odd := row[j], 0.0
								if init != nil {
									even = init[j]
								}
								for p := 0; p < k; p++ {
									av := a[tt*ts+i*rs+p*ps]
									if p%2 == 0 {
										even = math.FMA(av, b[p*nr+j], even)
									} else {
										odd = math.FMA(av, b[p*nr+j], odd)
									}
								}
								row[j] = even + odd
							}
						}
					}
					gemmKernel2(&c.s()[0], ldc, &a[0], rs, ps, ts, &b[0], k, tiles, ip)
					name := fmt.Sprintf("gemmKernel2 k=%d tiles=%d sliver=%v init=%v", k, tiles, sliver, withInit)
					c.check(t, name)
					sameBits(t, name, c.s(), want)
				}
			}
		}
	}
}

// dotRowsModel is dotRowsKernel's order of operations written out in Go
// (its doc comment), fused multiply-adds as math.FMA: y[i*incy] += the dot
// product of row i of a with x.
func dotRowsModel(y []float64, incy int, a []float64, lda int, x []float64, k, rows int) {
	for i := 0; i < rows; i++ {
		row := a[i*lda : i*lda+k]
		var s [4][4]float64
		p := 0
		for ; p+16 <= k; p += 16 {
			for r := 0; r < 4; r++ {
				for l := 0; l < 4; l++ {
					s[r][l] = math.FMA(row[p+4*r+l], x[p+4*r+l], s[r][l])
				}
			}
		}
		for ; p+4 <= k; p += 4 {
			for l := 0; l < 4; l++ {
				s[0][l] = math.FMA(row[p+l], x[p+l], s[0][l])
			}
		}
		var v [4]float64
		for l := range v {
			v[l] = (s[0][l] + s[1][l]) + (s[2][l] + s[3][l])
		}
		sum := (v[0] + v[2]) + (v[1] + v[3])
		for ; p < k; p++ {
			sum = math.FMA(row[p], x[p], sum)
		}
		y[i*incy] += sum
	}
}

// TestDotRowsKernel checks dotRowsKernel bit for bit against dotRowsModel
// on every length of the blocks of 16, 4 and 1 terms, strided y and rows
// of A longer than the sums, and that it writes nothing else.
func TestDotRowsKernel(t *testing.T) {
	if !kernUseAsm {
		t.Log("no AVX2+FMA: dotRowsKernel is not called on this machine")
		return
	}
	rnd := rand.New(rand.NewPCG(31, 32))
	for k := 0; k <= 3*16+5; k++ {
		for _, rows := range []int{1, 2, 5} {
			for _, incy := range []int{1, 2, 3} {
				lda := k + 3
				a := kernRandSlice(rnd, rows*lda+1)
				x := kernRandSlice(rnd, k+1)
				y := randGuarded(rnd, rows*incy)
				want := append([]float64(nil), y.s()...)
				dotRowsModel(want, incy, a, lda, x, k, rows)
				dotRowsKernel(&y.s()[0], incy, &a[0], lda, &x[0], k, rows)
				checkBits(t, fmt.Sprintf("dotRowsKernel k=%d rows=%d incy=%d", k, rows, incy), y, want)
			}
		}
	}
}

// TestAxpyRowsKernel checks axpyRowsKernel bit for bit against its order
// (its doc comment: each y[p] summed from its own value over the rows in
// increasing order, fused) on every length of the blocks of 32, 4 and 1
// columns, strided v and rows of A longer than y, and that it writes
// nothing else.
func TestAxpyRowsKernel(t *testing.T) {
	if !kernUseAsm {
		t.Log("no AVX2+FMA: axpyRowsKernel is not called on this machine")
		return
	}
	rnd := rand.New(rand.NewPCG(33, 34))
	for n := 1; n <= 2*32+5; n++ {
		for _, rows := range []int{1, 2, 7} {
			for _, incv := range []int{1, 2} {
				lda := n + 3
				a := kernRandSlice(rnd, rows*lda)
				v := kernRandSlice(rnd, rows*incv)
				y := randGuarded(rnd, n)
				want := append([]float64(nil), y.s()...)
				for p := range want {
					for i := 0; i < rows; i++ {
						want[p] = math.FMA(v[i*incv], a[i*lda+p], want[p])
					}
				}
				axpyRowsKernel(&y.s()[0], n, &a[0], lda, &v[0], incv, rows)
				checkBits(t, fmt.Sprintf("axpyRowsKernel n=%d rows=%d incv=%d", n, rows, incv), y, want)
			}
		}
	}
}

// TestActRowsKernels checks reluRowsKernel against reluRef and
// reluBackRowsKernel against reluBackwardRef on each row, for 0 to 3 rows
// of 0 to 4 vectors, rows ldc apart with values in between that must stay
// as they are, and negative zeros, NaNs and infinities among the values
// and among the layer's outputs h.
func TestActRowsKernels(t *testing.T) {
	if !kernUseAsm {
		t.Log("no AVX2+FMA: the activation kernels are not called on this machine")
		return
	}
	rnd := rand.New(rand.NewPCG(43, 44))
	special := []float64{math.Copysign(0, -1), math.NaN(), math.Inf(-1), math.Inf(1), 0}
	sprinkle := func(s []float64) {
		for i := range s {
			if rnd.IntN(4) == 0 {
				s[i] = special[rnd.IntN(len(special))]
			}
		}
	}
	for _, k := range []struct {
		name string
		ref  func(c, h []float64)
		kern func(c, h *float64, ldc, rows, vecs int)
	}{
		{"reluRowsKernel", func(c, _ []float64) { reluRef(c) }, func(c, _ *float64, ldc, rows, vecs int) { reluRowsKernel(c, ldc, rows, vecs) }},
		{"reluBackRowsKernel", reluBackwardRef, reluBackRowsKernel},
	} {
		for rows := 0; rows <= 3; rows++ {
			for vecs := 0; vecs <= 4; vecs++ {
				for _, gap := range []int{0, 1, 5} {
					cols := vecs * kernVecWidth
					ldc := cols + gap
					c := randGuarded(rnd, max(rows*ldc, 1))
					h := kernRandSlice(rnd, max(rows*ldc, 1))
					sprinkle(c.s())
					sprinkle(h)
					want := append([]float64(nil), c.s()...)
					for r := 0; r < rows; r++ {
						k.ref(want[r*ldc:r*ldc+cols], h[r*ldc:r*ldc+cols])
					}
					if rows > 0 && vecs > 0 {
						k.kern(&c.s()[0], &h[0], ldc, rows, vecs)
					}
					checkBits(t, fmt.Sprintf("%s rows=%d vecs=%d ldc=%d", k.name, rows, vecs, ldc), c, want)
				}
			}
		}
	}
}

// TestActRowsKernels32 checks reluRowsKernel32 and reluBackRowsKernel32
// bit for bit against the float32 loops of reluT and reluBackwardT on each
// row, for 0 to 3 rows of 0 to 4 vectors of 8, rows ldc apart with values
// in between that must stay as they are, with negative zeros, NaNs and
// infinities among the values and the layer's outputs h.
func TestActRowsKernels32(t *testing.T) {
	if !kernUseAsm {
		t.Log("no AVX2+FMA: the activation kernels are not called on this machine")
		return
	}
	rnd := rand.New(rand.NewPCG(45, 46))
	special := []float32{float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(-1)), float32(math.Inf(1)), 0}
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rnd.NormFloat64())
			if rnd.IntN(4) == 0 {
				s[i] = special[rnd.IntN(len(special))]
			}
		}
		return s
	}
	for _, back := range []bool{false, true} {
		for rows := 1; rows <= 3; rows++ {
			for vecs := 1; vecs <= 4; vecs++ {
				for _, gap := range []int{0, 1, 9} {
					cols := vecs * 8
					ldc := cols + gap
					c, h := fill(rows*ldc+gap), fill(rows*ldc)
					want := append([]float32(nil), c...)
					for r := 0; r < rows; r++ {
						if back {
							reluBackwardT(want[r*ldc:r*ldc+cols], h[r*ldc:r*ldc+cols])
						} else {
							reluT(want[r*ldc : r*ldc+cols])
						}
					}
					if back {
						reluBackRowsKernel32(&c[0], &h[0], ldc, rows, vecs)
					} else {
						reluRowsKernel32(&c[0], ldc, rows, vecs)
					}
					for i := range c {
						if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
							t.Fatalf("back=%v rows=%d vecs=%d ldc=%d: value %d is %v, want %v", back, rows, vecs, ldc, i, c[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestPackRows32 checks kernPackRows on float32 (packRowsKernel32 and
// packTailKernel32 for the panels of B, packRows4Kernel32 for the slivers
// of A) bit for bit against its Go loop, with and without the column sums,
// on every width of the last panel and blocks of rows whole and partial,
// and that nothing beyond the panels or the sums is written.
func TestPackRows32(t *testing.T) {
	if !kernUseAsm {
		t.Log("no AVX2+FMA: the packing kernels are not called on this machine")
		return
	}
	rnd := rand.New(rand.NewPCG(47, 48))
	for _, nr := range []int{gemm32NR, 4} {
		testPackRows32(t, rnd, nr)
	}
}

func testPackRows32(t *testing.T, rnd *rand.Rand, nr int) {
	for _, k := range []int{1, 3, 4, 17, 33, 70} {
		for n := 1; n <= 3*nr+1; n++ {
			for _, sums := range []bool{false, true} {
				ldb := n + rnd.IntN(3)
				b := make([]float32, k*ldb)
				for i := range b {
					b[i] = float32(rnd.NormFloat64())
				}
				size := (n + nr - 1) / nr * k * nr
				got, want := make([]float32, size+8), make([]float32, size+8)
				for i := range got {
					got[i] = 7
					want[i] = 7
				}
				var dg, dw []float32
				if sums {
					dg, dw = make([]float32, n+1), make([]float32, n+1)
					for i := range dg {
						dg[i] = float32(rnd.NormFloat64())
						dw[i] = dg[i]
					}
				}
				kernPackRows(got, dg, b, ldb, k, n, nr)
				kernUseAsm = false
				kernPackRows(want, dw, b, ldb, k, n, nr)
				kernUseAsm = true
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("k=%d n=%d sums=%v: packed value %d is %v, want %v", k, n, sums, i, got[i], want[i])
					}
				}
				for i := range dg {
					if math.Float32bits(dg[i]) != math.Float32bits(dw[i]) {
						t.Fatalf("k=%d n=%d: column sum %d is %v, want %v", k, n, i, dg[i], dw[i])
					}
				}
			}
		}
	}
}

// TestPackTrans32 checks kernPackTrans on float32 (packTrans4Kernel32 on
// whole panels and multiples of 8 rows) bit for bit against its Go loop,
// for every k up to 41 and panels partial and whole, and that nothing
// beyond the panels is written.
func TestPackTrans32(t *testing.T) {
	if !kernUseAsm {
		t.Log("no AVX2+FMA: the packing kernels are not called on this machine")
		return
	}
	rnd := rand.New(rand.NewPCG(49, 50))
	nr := gemm32NR
	for k := 1; k <= 41; k++ {
		for _, n := range []int{1, 5, nr, nr + 3, 2 * nr, 3*nr - 1} {
			ldb := k + rnd.IntN(3)
			b := make([]float32, n*ldb)
			for i := range b {
				b[i] = float32(rnd.NormFloat64())
			}
			size := (n + nr - 1) / nr * k * nr
			got, want := make([]float32, size+8), make([]float32, size+8)
			for i := range got {
				got[i], want[i] = 7, 7
			}
			kernPackTrans(got, b, ldb, k, n, nr)
			kernUseAsm = false
			kernPackTrans(want, b, ldb, k, n, nr)
			kernUseAsm = true
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("k=%d n=%d: packed value %d is %v, want %v", k, n, i, got[i], want[i])
				}
			}
		}
	}
}

// TestNonFinite32 checks kernHasNonFinite on float32 (nonFiniteKernel32
// and the loop after it) against math.IsInf and math.IsNaN, for every
// length to 41 with one special value at each position or none, and the
// largest finite values, which must not count.
func TestNonFinite32(t *testing.T) {
	specials := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32}
	rnd := rand.New(rand.NewPCG(51, 52))
	for n := 0; n <= 41; n++ {
		for at := -1; at < n; at++ {
			for _, sp := range specials {
				s := make([]float32, n)
				for i := range s {
					s[i] = float32(rnd.NormFloat64())
				}
				if at >= 0 {
					s[at] = sp
				}
				want := false
				for _, v := range s {
					want = want || math.IsInf(float64(v), 0) || math.IsNaN(float64(v))
				}
				if got := kernHasNonFinite(s); got != want {
					t.Fatalf("n=%d, %v at %d: kernHasNonFinite = %v, want %v", n, sp, at, got, want)
				}
			}
		}
	}
}

// TestAddVec32 checks addVecT on float32 (addKernel32 on whole vectors,
// the loop on the rest) bit for bit against the loop, for every length to
// 41, and that nothing beyond dst is written.
func TestAddVec32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(53, 54))
	for n := 0; n <= 41; n++ {
		dst, src := make([]float32, n+3), make([]float32, n)
		for i := range dst {
			dst[i] = float32(rnd.NormFloat64())
		}
		for i := range src {
			src[i] = float32(rnd.NormFloat64())
		}
		want := append([]float32(nil), dst...)
		for i, v := range src {
			want[i] += v
		}
		addVecT(dst[:n], src)
		for i := range dst {
			if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, dst[i], want[i])
			}
		}
	}
}

// guarded32 returns n float32 values from rnd between guards of NaNs
// with distinct payloads, and the slice of the n.
func guarded32(rnd *rand.Rand, n int) (all, s []float32) {
	const g = 8
	all = make([]float32, n+2*g)
	for i := range all {
		all[i] = math.Float32frombits(0x7fc0de00 | uint32(i))
	}
	s = all[g : g+n : g+n]
	for i := range s {
		s[i] = float32(2*rnd.Float64() - 1)
	}
	return all, s
}

// sameBits32 fails unless got and want hold the same bits (the guards
// included).
func sameBits32(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i, v := range got {
		if math.Float32bits(v) != math.Float32bits(want[i]) {
			t.Fatalf("%s: word %d = %v, want %v", name, i, v, want[i])
		}
	}
}

// TestDotRowsKernel32 checks dotRowsKernel32 bit for bit against
// dotRows32Model on every length of the blocks of 32, 8 and 1 terms,
// strided y and rows of A longer than the sums, and that it writes nothing
// else.
func TestDotRowsKernel32(t *testing.T) {
	if !kernUseAsm {
		t.Log("no AVX2+FMA: dotRowsKernel32 is not called on this machine")
		return
	}
	rnd := rand.New(rand.NewPCG(35, 36))
	for k := 0; k <= 3*32+9; k++ {
		for _, rows := range []int{1, 2, 5} {
			for _, incy := range []int{1, 2, 3} {
				lda := k + 3
				a := kernRand32(rnd, rows*lda+1)
				x := kernRand32(rnd, k+1)
				all, y := guarded32(rnd, rows*incy)
				want := append([]float32(nil), all...)
				dotRows32Model(want[8:], incy, a, lda, x, k, rows)
				dotRowsKernel32(&y[0], incy, &a[0], lda, &x[0], k, rows)
				sameBits32(t, fmt.Sprintf("dotRowsKernel32 k=%d rows=%d incy=%d", k, rows, incy), all, want)
			}
		}
	}
}

// TestAxpyRowsKernel32 checks axpyRowsKernel32 bit for bit against its
// order (each y[p] summed from its own value over the rows in increasing
// order, fused) on every length of the blocks of 64, 8 and 1 columns,
// strided v and rows of A longer than y, and that it writes nothing else.
func TestAxpyRowsKernel32(t *testing.T) {
	if !kernUseAsm {
		t.Log("no AVX2+FMA: axpyRowsKernel32 is not called on this machine")
		return
	}
	rnd := rand.New(rand.NewPCG(37, 38))
	for n := 1; n <= 2*64+9; n++ {
		for _, rows := range []int{1, 2, 7} {
			for _, incv := range []int{0, 1, 2} {
				lda := n + 3
				a := kernRand32(rnd, rows*lda)
				v := kernRand32(rnd, rows*max(incv, 1))
				all, y := guarded32(rnd, n)
				want := append([]float32(nil), all...)
				for p := range n {
					for i := 0; i < rows; i++ {
						want[8+p] = fma32(v[i*incv], a[i*lda+p], want[8+p])
					}
				}
				axpyRowsKernel32(&y[0], n, &a[0], lda, &v[0], incv, rows)
				sameBits32(t, fmt.Sprintf("axpyRowsKernel32 n=%d rows=%d incv=%d", n, rows, incv), all, want)
			}
		}
	}
}

// affine32Model is affineInverseKernel32 (inverse) or
// affineForwardKernel32 written out in Go: e by exp32Model, each operation
// rounded to float32, Σ alpha in 8 lanes and then the kernels' reduction.
func affine32Model(inverse bool, out, e, in, mu, alpha []float32) float32 {
	var v [8]float32
	for d, a := range alpha {
		v[d%8] += a
		if inverse {
			e[d] = exp32Model(-a)
			out[d] = float32(in[d]-mu[d]) * e[d]
		} else {
			e[d] = exp32Model(a)
			out[d] = float32(in[d]*e[d]) + mu[d]
		}
	}
	var u [4]float32
	for l := range u {
		u[l] = v[l] + v[l+4]
	}
	return (u[0] + u[2]) + (u[1] + u[3])
}

// TestAffineKernels32 checks affineInverseKernel32 and
// affineForwardKernel32 bit for bit against affine32Model on every length
// 0 … 3·8+1 (the masked last vector included), with arguments that
// overflow and underflow the exponential and NaNs, and guards around the
// outputs.
func TestAffineKernels32(t *testing.T) {
	if !kernUseAsm {
		t.Log("no AVX2+FMA: the float32 affine kernels are not called on this machine")
		return
	}
	rnd := rand.New(rand.NewPCG(41, 42))
	special := []float32{0, 90, -90, 104, -104, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, inverse := range []bool{true, false} {
		kern := affineForwardKernel32
		if inverse {
			kern = affineInverseKernel32
		}
		for n := 0; n <= 3*8+1; n++ {
			in, mu, alpha := kernRand32(rnd, n+1), kernRand32(rnd, n+1), kernRand32(rnd, n+1)
			for i := range alpha {
				if rnd.IntN(5) == 0 {
					alpha[i] = special[rnd.IntN(len(special))]
				}
			}
			allOut, out := guarded32(rnd, n)
			allE, e := guarded32(rnd, n)
			wantOut, wantE := append([]float32(nil), allOut...), append([]float32(nil), allE...)
			want := affine32Model(inverse, wantOut[8:8+n], wantE[8:8+n], in, mu, alpha[:n])
			var got float32
			if n > 0 {
				got = kern(&out[0], &e[0], &in[0], &mu[0], &alpha[0], n)
			}
			name := fmt.Sprintf("inverse=%v n=%d", inverse, n)
			sameBits32(t, name+" out", allOut, wantOut)
			sameBits32(t, name+" e", allE, wantE)
			if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
				t.Fatalf("%s: sum %v, want %v", name, got, want)
			}
		}
	}
}
