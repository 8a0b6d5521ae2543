// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego && (amd64 || arm64)

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestKernelKinds runs every product that may use either micro-kernel on
// each of them in turn (the products choose by cost otherwise, so that a
// shape reaches only one), dense and with every mask pattern.
func TestKernelKinds(t *testing.T) {
	defer func() { kernTestKind = 0 }()
	for _, kind := range []gemmKind{gemmWide, gemmNarrow} {
		kernTestKind = int(kind) + 1
		forEachPath(t, func(t *testing.T) {
			if !kernUseAsm {
				return // the references have no kernels to choose
			}
			rnd := rand.New(rand.NewPCG(13, uint64(kind)))
			for _, sh := range denseShapes(true) {
				n, in, out := sh.n, sh.in, sh.out
				name := fmt.Sprintf("%dx%d %dx%dx%d", kind.mr(), kind.nr(), n, in, out)
				checkDenseOps(t, rnd, denseKernelOps, name, nil, n, in, out)
				pats := limPatterns(rnd, in, out)
				for _, pname := range []string{"staircase", "reversed", "random", "zero", "full"} {
					checkDenseOps(t, rnd, maskedKernelOps, name+" "+pname, pats[pname], n, in, out)
				}
			}
		})
	}
}

// TestKernelPick checks the choice of micro-kernel on the shapes it is made
// for: the narrow kernel where its panels fit the columns (86 = 10·8 + 6
// against 7·12 + 2), the wide one elsewhere; where both have one shape
// (arm64), always the wide one.
func TestKernelPick(t *testing.T) {
	for _, c := range []struct {
		n, k, cols int
		want       gemmKind
	}{
		{512, 512, 86, gemmNarrow},
		{512, 512, 512, gemmWide},
		{512, 43, 512, gemmWide},
		{256, 512, 96, gemmWide},
	} {
		if gemmNarrowNR == gemmNR {
			c.want = gemmWide // one shape: the tie goes to the wide kernel
		}
		if got := kernPickDense(c.n, c.k, c.cols); got != c.want {
			t.Errorf("kernPickDense(%d, %d, %d) = %d, want %d", c.n, c.k, c.cols, got, c.want)
		}
	}
}

// TestHasNonFinite checks the scan for ±Inf and NaN at every position of
// every length up to 3 vectors and a half, each kind of non-finite value
// and the largest finite ones.
func TestHasNonFinite(t *testing.T) {
	bad := []float64{math.Inf(1), math.Inf(-1), math.NaN(), math.Float64frombits(0xfff0000000000001)}
	forEachPath(t, func(t *testing.T) {
		for n := 0; n <= 14; n++ {
			s := make([]float64, n)
			for i := range s {
				s[i] = math.MaxFloat64 * float64(1-2*(i%2))
			}
			if kernHasNonFinite(s) {
				t.Fatalf("length %d: finite values reported", n)
			}
			for i := range s {
				for _, v := range bad {
					old := s[i]
					s[i] = v
					if !kernHasNonFinite(s) {
						t.Fatalf("length %d: %v at %d not found", n, v, i)
					}
					s[i] = old
				}
			}
		}
	})
}

// TestPackKernels checks the packings against their plain loops (the same
// functions with kernUseAsm off) bit for bit, with the column sums, on
// every panel width, on row counts that end inside and on a block, and on
// partial last panels of every width (packTailKernel).
func TestPackKernels(t *testing.T) {
	rnd := rand.New(rand.NewPCG(17, 18))
	old := kernUseAsm
	defer func() { kernUseAsm = old }()
	for _, nr := range []int{4, 8, 12} {
		for _, k := range []int{0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33} {
			for _, n := range []int{1, nr - 1, nr, 2*nr + 3, 5 * nr} {
				ldb := n + 3
				b := randGuarded(rnd, k*ldb)
				want := make([]float64, kernPackedLen(k, n, nr))
				wantDB := kernRandSlice(rnd, n)
				got := randGuarded(rnd, len(want))
				gotDB := randGuarded(rnd, n)
				copy(gotDB.s(), wantDB)
				kernUseAsm = false
				kernPackRows(want, wantDB, b.s(), ldb, k, n, nr)
				kernUseAsm = old
				kernPackRows(got.s(), gotDB.s(), b.s(), ldb, k, n, nr)
				name := fmt.Sprintf("kernPackRows nr=%d k=%d n=%d", nr, k, n)
				got.check(t, name)
				gotDB.check(t, name+" db")
				sameBits(t, name, got.s(), want)
				sameBits(t, name+" db", gotDB.s(), wantDB)

				// Bᵀ of the n×k matrix b.
				bt := randGuarded(rnd, n*(k+2))
				kernUseAsm = false
				clear(want)
				kernPackTrans(want, bt.s(), k+2, k, n, nr)
				kernUseAsm = old
				got = randGuarded(rnd, len(want))
				clear(got.s())
				kernPackTrans(got.s(), bt.s(), k+2, k, n, nr)
				name = fmt.Sprintf("kernPackTrans nr=%d k=%d n=%d", nr, k, n)
				got.check(t, name)
				sameBits(t, name, got.s(), want)
			}
		}
	}
}

// sameBits fails the test unless got and want hold the same bits.
func sameBits(t *testing.T, name string, got, want []float64) {
	t.Helper()
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s: element %d = %v, want %v", name, i, got[i], want[i])
		}
	}
}

// BenchmarkKernelPack times the packing of B into panels with column sums
// (kernPackRows, as for dY in the weight gradients): a 512×512 matrix in
// panels of 12, and the partial last panel alone (8 of its 12 columns).
func BenchmarkKernelPack(b *testing.B) {
	const k, ld = 512, 512
	rnd := rand.New(rand.NewPCG(11, 12))
	src := kernRandSlice(rnd, k*ld)
	bp := make([]float64, kernPackedLen(k, ld, 12))
	db := make([]float64, ld)
	for _, c := range []struct {
		name string
		n    int
	}{{"512x512", ld}, {"tail8", 8}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				kernPackRows(bp, db, src, ld, k, c.n, 12)
			}
		})
	}
	kernSink = bp[0] + db[0]
}

// TestDenseReLU checks the dense products with the ReLU fused into them
// against the products followed by the references' activation, bit for
// bit, on every test shape and both micro-kernels: the forward product
// (denseForwardAct, densePackedForwardAct) against reluRef, the backward
// product to the input (denseBackwardXAct, densePackedBackwardXAct)
// against reluBackwardRef. The tiles' runs, strips, edge tiles, the
// spilling partial panel, the short sums across panels and the dot products
// of rows each activate what they compute. x holds a NaN and an infinity,
// h positive values, zeros of both signs, negative values and NaNs.
func TestDenseReLU(t *testing.T) {
	defer func() { kernTestKind = 0 }()
	special := []float64{0, math.Copysign(0, -1), -1, math.NaN()}
	for _, kind := range []int{0, int(gemmWide) + 1, int(gemmNarrow) + 1} {
		kernTestKind = kind
		forEachPath(t, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(17, uint64(kind)))
			shapes := denseShapes(true)
			changedY, changedX := 0, 0 // shapes where the activation changes something
			for _, sh := range shapes {
				n, in, out := sh.n, sh.in, sh.out
				x, w, b := kernRandSlice(rnd, n*in), kernRandSlice(rnd, out*in), kernRandSlice(rnd, out)
				if n >= 3 && in > 0 {
					x[in+in/2] = math.NaN()
					x[2*in] = math.Inf(-1)
				}
				dy, h := kernRandSlice(rnd, n*out), kernRandSlice(rnd, n*in)
				for i := range h {
					if rnd.IntN(3) == 0 {
						h[i] = special[rnd.IntN(len(special))]
					}
				}
				wantY := make([]float64, n*out)
				denseForward(wantY, x, w, b, n, in, out)
				negative := slices.ContainsFunc(wantY, func(v float64) bool { return v < 0 })
				reluRef(wantY)
				wantX := make([]float64, n*in)
				denseBackwardX(wantX, dy, w, n, in, out)
				masked := slices.ContainsFunc(h, func(v float64) bool { return v <= 0 })
				reluBackwardRef(wantX, h)
				if negative {
					changedY++
				}
				if masked {
					changedX++
				}
				var pk densePack[float64]
				pk.pack(w, n, in, out)
				for _, packed := range []bool{false, true} {
					name := fmt.Sprintf("kind %d %dx%dx%d packed=%t", kind, n, in, out, packed)
					y, dx := newGuarded(n*out), newGuarded(n*in)
					for i := range dx.s() {
						dx.s()[i] = 7
					}
					if packed {
						densePackedForwardAct(y.s(), x, w, b, &pk, n, in, out, true)
						densePackedBackwardXAct(dx.s(), dy, w, &pk, n, in, out, h)
					} else {
						denseForwardAct(y.s(), x, w, b, n, in, out, true)
						denseBackwardXAct(dx.s(), dy, w, n, in, out, h)
					}
					checkBits(t, name+" y", y, wantY)
					checkBits(t, name+" dx", dx, wantX)
				}
			}
			if 2*changedY < len(shapes) || 2*changedX < len(shapes) {
				t.Fatalf("the activations change something on %d and %d of %d shapes", changedY, changedX, len(shapes))
			}
		})
	}
}

// checkBits checks y's guards and that y holds want bit for bit.
func checkBits(t *testing.T, name string, y *guarded, want []float64) {
	t.Helper()
	y.check(t, name)
	for i, v := range y.s() {
		if math.Float64bits(v) != math.Float64bits(want[i]) {
			t.Fatalf("%s: y[%d] = %v, want %v", name, i, v, want[i])
		}
	}
}

// TestMaskedReLU checks the masked products with the ReLU or its gradient
// fused into them (maskedForwardAct, maskedBackwardXAct and their packed
// forms) against the products followed by the references' activation, bit
// for bit, with every mask pattern and both micro-kernels. Inputs hold
// infinities and NaNs, also behind the mask, so that the outputs the
// products redo as the reference does (0·∞) are among those compared.
func TestMaskedReLU(t *testing.T) {
	defer func() { kernTestKind = 0 }()
	special := []float64{math.Inf(1), math.Inf(-1), math.NaN(), 0, math.Copysign(0, -1), -1}
	for _, kind := range []int{0, int(gemmWide) + 1, int(gemmNarrow) + 1} {
		kernTestKind = kind
		forEachPath(t, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(23, uint64(kind)))
			for _, sh := range denseShapes(true) {
				n, in, out := sh.n, sh.in, sh.out
				pats := limPatterns(rnd, in, out)
				for _, pname := range []string{"staircase", "reversed", "random", "zero", "full"} {
					lim := pats[pname]
					x, w, b := kernRandSlice(rnd, n*in), kernRandSlice(rnd, out*in), kernRandSlice(rnd, out)
					dy, h := kernRandSlice(rnd, n*out), kernRandSlice(rnd, n*in)
					for _, s := range [][]float64{x, dy, h} {
						for i := range s {
							if rnd.IntN(16) == 0 {
								s[i] = special[rnd.IntN(len(special))]
							}
						}
					}
					wantY := make([]float64, n*out)
					maskedForward(wantY, x, w, b, lim, n, in, out)
					reluRef(wantY)
					wantX := make([]float64, n*in)
					maskedBackwardX(wantX, dy, w, lim, n, in, out)
					reluBackwardRef(wantX, h)
					var pk maskedPack[float64]
					pk.pack(w, lim, n, in, out)
					for _, packed := range []bool{false, true} {
						name := fmt.Sprintf("kind %d %dx%dx%d %s packed=%t", kind, n, in, out, pname, packed)
						y, dx := newGuarded(n*out), newGuarded(n*in)
						if packed {
							maskedPackedForwardAct(y.s(), x, w, b, lim, &pk, n, in, out, true)
							maskedPackedBackwardXAct(dx.s(), dy, w, lim, &pk, n, in, out, h)
						} else {
							maskedForwardAct(y.s(), x, w, b, lim, n, in, out, true)
							maskedBackwardXAct(dx.s(), dy, w, lim, n, in, out, h)
						}
						checkBits(t, name+" y", y, wantY)
						checkBits(t, name+" dx", dx, wantX)
					}
				}
			}
		})
	}
}
