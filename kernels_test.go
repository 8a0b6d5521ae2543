// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// asmAvailable records whether this build and CPU have assembly kernels
// (useAsm as set at start-up). Every kernel test runs once per path: the
// assembly ("asm", where available) and the plain-Go fallback ("go"),
// selected by flipping useAsm.
var asmAvailable = useAsm

type kernelPath struct {
	name string
	asm  bool
}

func kernelPaths() []kernelPath {
	p := []kernelPath{{"go", false}}
	if asmAvailable {
		p = append(p, kernelPath{"asm", true})
	}
	return p
}

// forEachPath runs f with useAsm set for each available path.
func forEachPath(t *testing.T, f func(t *testing.T)) {
	for _, p := range kernelPaths() {
		t.Run(p.name, func(t *testing.T) {
			old := useAsm
			useAsm = p.asm
			defer func() { useAsm = old }()
			f(t)
		})
	}
}

// Guarded buffers: each slice handed to a kernel is the middle of a larger
// allocation whose ends hold a NaN pattern that must come back untouched
// (outputs) and that poisons any result computed from a stray read (inputs).
const guardLen = 16

func guardBits(i int) uint64 { return 0x7ff4dead00000000 | uint64(i) }

type guarded struct {
	all []float64
	n   int
}

func newGuarded(n int) *guarded {
	g := &guarded{all: make([]float64, n+2*guardLen), n: n}
	for i := 0; i < guardLen; i++ {
		g.all[i] = math.Float64frombits(guardBits(i))
		g.all[guardLen+n+i] = math.Float64frombits(guardBits(guardLen + i))
	}
	return g
}

// s returns the guarded slice, with its capacity cut at its length.
func (g *guarded) s() []float64 { return g.all[guardLen : guardLen+g.n : guardLen+g.n] }

func (g *guarded) check(t *testing.T, name string) {
	t.Helper()
	for i := 0; i < guardLen; i++ {
		if b := math.Float64bits(g.all[i]); b != guardBits(i) {
			t.Fatalf("%s: guard %d before the buffer changed: %#x", name, guardLen-i, b)
		}
		if b := math.Float64bits(g.all[guardLen+g.n+i]); b != guardBits(guardLen+i) {
			t.Fatalf("%s: guard %d after the buffer changed: %#x", name, i, b)
		}
	}
}

func randGuarded(rnd *rand.Rand, n int) *guarded {
	g := newGuarded(n)
	for i := range g.s() {
		g.s()[i] = 2*rnd.Float64() - 1
	}
	return g
}

func absOf(s []float64) []float64 {
	a := make([]float64, len(s))
	for i, v := range s {
		a[i] = math.Abs(v)
	}
	return a
}

// checkSum compares a computed sum got with the reference's want. Both are
// sums of the same terms in a different order and with or without fused
// multiply-adds; with u = 2⁻⁵³ each is within γ_m·Σ|terms| of the exact sum
// (m ≤ k+2 roundings on the path of any term: k products and additions, the
// added bias or initial value, and the final addition), γ_m = m·u/(1−m·u).
// They therefore agree within 2·γ_{k+2}·Σ|terms|, which is the tolerance
// used: about 1.1e-13·Σ|terms| for k = 512. abs is Σ|terms|, computed by the
// reference from the absolute values of the inputs.
func checkSum(t *testing.T, name string, i int, got, want, abs float64, k int) {
	t.Helper()
	m := float64(k + 2)
	u := 0x1p-53
	tol := 2 * m * u / (1 - m*u) * abs
	if math.IsNaN(want) != math.IsNaN(got) || !(math.Abs(got-want) <= tol) && got != want {
		t.Fatalf("%s: element %d = %v, want %v (tolerance %.3g)", name, i, got, want, tol)
	}
}

type denseShape struct{ n, in, out int }

// denseShapes are the shapes the dense kernels are tested on: every size up
// to three tiles plus one along each dimension, odd and prime shapes, shapes
// that cross the cache blocks, and the benchmark shapes (not with -short).
func denseShapes(short bool) []denseShape {
	var s []denseShape
	for n := 0; n <= 3*gemmMRTest+1; n++ {
		s = append(s, denseShape{n, 5, 7})
	}
	for in := 0; in <= 3*vecWidth+1; in++ {
		s = append(s, denseShape{5, in, 3})
	}
	for out := 0; out <= 3*gemmNR+1; out++ {
		s = append(s, denseShape{3, 5, out})
		s = append(s, denseShape{9, 4, out})
	}
	s = append(s, []denseShape{
		{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {2, 3, 1}, {13, 11, 19},
		{31, 37, 41}, {7, 263, 9}, {5, 600, 13}, {131, 20, 29}, {259, 17, 30},
		{64, 43, 100},
	}...)
	if !short {
		s = append(s, []denseShape{
			{512, 43, 512}, {512, 512, 512}, {512, 512, 86}, {256, 512, 512},
		}...)
	} else {
		s = append(s, denseShape{64, 43, 86})
	}
	return s
}

// gemmMRTest is the row count of the micro-kernel the row sizes are chosen
// by (gemmMR exists only with the assembly).
const gemmMRTest = 4

func TestDenseKernels(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(1, 2))
		for _, sh := range denseShapes(testing.Short() || !useAsm) {
			n, in, out := sh.n, sh.in, sh.out
			name := fmt.Sprintf("%dx%dx%d", n, in, out)
			x := randGuarded(rnd, n*in)
			w := randGuarded(rnd, out*in)
			b := randGuarded(rnd, out)
			dy := randGuarded(rnd, n*out)

			// Forward.
			y := randGuarded(rnd, n*out)
			denseForward(y.s(), x.s(), w.s(), b.s(), n, in, out)
			y.check(t, name+" forward y")
			want := make([]float64, n*out)
			denseForwardRef(want, x.s(), w.s(), b.s(), n, in, out)
			abs := make([]float64, n*out)
			denseForwardRef(abs, absOf(x.s()), absOf(w.s()), absOf(b.s()), n, in, out)
			for i := range want {
				checkSum(t, name+" forward", i, y.s()[i], want[i], abs[i], in)
			}

			// Backward to the input.
			dx := randGuarded(rnd, n*in)
			denseBackwardX(dx.s(), dy.s(), w.s(), n, in, out)
			dx.check(t, name+" backward dx")
			want = make([]float64, n*in)
			denseBackwardXRef(want, dy.s(), w.s(), n, in, out)
			abs = make([]float64, n*in)
			denseBackwardXRef(abs, absOf(dy.s()), absOf(w.s()), n, in, out)
			for i := range want {
				checkSum(t, name+" backward dx", i, dx.s()[i], want[i], abs[i], out)
			}

			// Backward to the weights, accumulating.
			dw := randGuarded(rnd, out*in)
			db := randGuarded(rnd, out)
			wantW := append([]float64(nil), dw.s()...)
			wantB := append([]float64(nil), db.s()...)
			absW, absB := absOf(dw.s()), absOf(db.s())
			denseBackwardW(dw.s(), db.s(), dy.s(), x.s(), n, in, out)
			dw.check(t, name+" backward dw")
			db.check(t, name+" backward db")
			denseBackwardWRef(wantW, wantB, dy.s(), x.s(), n, in, out)
			denseBackwardWRef(absW, absB, absOf(dy.s()), absOf(x.s()), n, in, out)
			for i := range wantW {
				checkSum(t, name+" backward dw", i, dw.s()[i], wantW[i], absW[i], n)
			}
			for i := range wantB {
				checkSum(t, name+" backward db", i, db.s()[i], wantB[i], absB[i], n)
			}
			for _, g := range []*guarded{x, w, b, dy} {
				g.check(t, name+" input")
			}
		}
	})
}

// limPatterns returns masks of several kinds for a layer with in inputs and
// out outputs: the staircase of MADE with units sorted by degree, its
// reverse, random (in any order), none and all.
func limPatterns(rnd *rand.Rand, in, out int) map[string][]int {
	p := map[string][]int{}
	stair := make([]int, out)
	for k := range stair {
		stair[k] = (k + 1) * in / max(out, 1)
	}
	p["staircase"] = stair
	rev := make([]int, out)
	for k := range rev {
		rev[k] = stair[out-1-k]
	}
	p["reversed"] = rev
	r := make([]int, out)
	for k := range r {
		r[k] = rnd.IntN(in + 1)
	}
	p["random"] = r
	p["zero"] = make([]int, out)
	full := make([]int, out)
	for k := range full {
		full[k] = in
	}
	p["full"] = full
	return p
}

func TestMaskedKernels(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(3, 4))
		for _, sh := range denseShapes(testing.Short() || !useAsm) {
			n, in, out := sh.n, sh.in, sh.out
			pats := limPatterns(rnd, in, out)
			for _, pname := range []string{"staircase", "reversed", "random", "zero", "full"} {
				if n*in*out > 1<<20 && pname != "staircase" && pname != "random" {
					continue
				}
				lim := pats[pname]
				name := fmt.Sprintf("%dx%dx%d %s", n, in, out, pname)
				x := randGuarded(rnd, n*in)
				w := randGuarded(rnd, out*in)
				// The masked entries of W are NaN: they must never be read.
				for k := 0; k < out; k++ {
					for j := lim[k]; j < in; j++ {
						w.s()[k*in+j] = math.NaN()
					}
				}
				b := randGuarded(rnd, out)
				dy := randGuarded(rnd, n*out)

				y := randGuarded(rnd, n*out)
				maskedForward(y.s(), x.s(), w.s(), b.s(), lim, n, in, out)
				y.check(t, name+" forward y")
				want := make([]float64, n*out)
				maskedForwardRef(want, x.s(), w.s(), b.s(), lim, n, in, out)
				abs := make([]float64, n*out)
				maskedForwardRef(abs, absOf(x.s()), absOf(w.s()), absOf(b.s()), lim, n, in, out)
				for i := range want {
					checkSum(t, name+" forward", i, y.s()[i], want[i], abs[i], in)
				}

				dx := randGuarded(rnd, n*in)
				maskedBackwardX(dx.s(), dy.s(), w.s(), lim, n, in, out)
				dx.check(t, name+" backward dx")
				want = make([]float64, n*in)
				maskedBackwardXRef(want, dy.s(), w.s(), lim, n, in, out)
				abs = make([]float64, n*in)
				maskedBackwardXRef(abs, absOf(dy.s()), absOf(w.s()), lim, n, in, out)
				for i := range want {
					checkSum(t, name+" backward dx", i, dx.s()[i], want[i], abs[i], out)
				}

				// dW starts NaN where masked: it must come back NaN there.
				dw := randGuarded(rnd, out*in)
				for k := 0; k < out; k++ {
					for j := lim[k]; j < in; j++ {
						dw.s()[k*in+j] = math.Float64frombits(0x7ff8beef00000000 | uint64(k*in+j))
					}
				}
				db := randGuarded(rnd, out)
				wantW := append([]float64(nil), dw.s()...)
				wantB := append([]float64(nil), db.s()...)
				absW, absB := absOf(dw.s()), absOf(db.s())
				maskedBackwardW(dw.s(), db.s(), dy.s(), x.s(), lim, n, in, out)
				dw.check(t, name+" backward dw")
				db.check(t, name+" backward db")
				maskedBackwardWRef(wantW, wantB, dy.s(), x.s(), lim, n, in, out)
				maskedBackwardWRef(absW, absB, absOf(dy.s()), absOf(x.s()), lim, n, in, out)
				for k := 0; k < out; k++ {
					for j := 0; j < in; j++ {
						i := k*in + j
						if j >= lim[k] {
							if math.Float64bits(dw.s()[i]) != math.Float64bits(wantW[i]) {
								t.Fatalf("%s: masked dW[%d,%d] written: %v", name, k, j, dw.s()[i])
							}
							continue
						}
						checkSum(t, name+" backward dw", i, dw.s()[i], wantW[i], absW[i], n)
					}
				}
				for i := range wantB {
					checkSum(t, name+" backward db", i, db.s()[i], wantB[i], absB[i], n)
				}
			}
		}
	})
}

// TestMaskedNonFinite checks that an infinite input behind the mask leaves
// the outputs that do not use it finite, as in the reference.
func TestMaskedNonFinite(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(5, 6))
		n, in, out := 9, 29, 31
		lim := limPatterns(rnd, in, out)["staircase"]
		x := randGuarded(rnd, n*in).s()
		w := randGuarded(rnd, out*in).s()
		b := randGuarded(rnd, out).s()
		dy := randGuarded(rnd, n*out).s()
		x[2*in+in-1] = math.Inf(1)
		x[5*in+in/2] = math.NaN()
		dy[3*out+out-1] = math.Inf(-1)
		y, want := make([]float64, n*out), make([]float64, n*out)
		maskedForward(y, x, w, b, lim, n, in, out)
		maskedForwardRef(want, x, w, b, lim, n, in, out)
		for i := range y {
			if math.IsNaN(y[i]) != math.IsNaN(want[i]) || math.IsInf(y[i], 0) != math.IsInf(want[i], 0) {
				t.Fatalf("forward element %d = %v, want %v", i, y[i], want[i])
			}
		}
		dx, want := make([]float64, n*in), make([]float64, n*in)
		maskedBackwardX(dx, dy, w, lim, n, in, out)
		maskedBackwardXRef(want, dy, w, lim, n, in, out)
		for i := range dx {
			if math.IsNaN(dx[i]) != math.IsNaN(want[i]) || math.IsInf(dx[i], 0) != math.IsInf(want[i], 0) {
				t.Fatalf("backward dx element %d = %v, want %v", i, dx[i], want[i])
			}
		}
	})
}
