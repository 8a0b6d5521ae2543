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

// kernAsmAvailable records whether this build and CPU have assembly kernels
// (kernUseAsm as set at start-up). Every kernel test runs once per path: the
// assembly ("asm", where available) and the plain-Go fallback ("go"),
// selected by flipping kernUseAsm.
var kernAsmAvailable = kernUseAsm

type kernelPath struct {
	name string
	asm  bool
}

func kernelPaths() []kernelPath {
	p := []kernelPath{{"go", false}}
	if kernAsmAvailable {
		p = append(p, kernelPath{"asm", true})
	}
	return p
}

// forEachPath runs f with kernUseAsm set for each available path.
func forEachPath(t *testing.T, f func(t *testing.T)) {
	for _, p := range kernelPaths() {
		t.Run(p.name, func(t *testing.T) {
			old := kernUseAsm
			kernUseAsm = p.asm
			defer func() { kernUseAsm = old }()
			f(t)
		})
	}
}

// Guarded buffers: each slice handed to a kernel is the middle of a larger
// allocation whose ends hold a NaN pattern that must come back untouched
// (outputs) and that poisons any result computed from a stray read (inputs).
const kernGuardLen = 16

func kernGuardBits(i int) uint64 { return 0x7ff4dead00000000 | uint64(i) }

type guarded struct {
	all []float64
	n   int
}

func newGuarded(n int) *guarded {
	g := &guarded{all: make([]float64, n+2*kernGuardLen), n: n}
	for i := 0; i < kernGuardLen; i++ {
		g.all[i] = math.Float64frombits(kernGuardBits(i))
		g.all[kernGuardLen+n+i] = math.Float64frombits(kernGuardBits(kernGuardLen + i))
	}
	return g
}

// s returns the guarded slice, with its capacity cut at its length.
func (g *guarded) s() []float64 { return g.all[kernGuardLen : kernGuardLen+g.n : kernGuardLen+g.n] }

func (g *guarded) check(t *testing.T, name string) {
	t.Helper()
	for i := 0; i < kernGuardLen; i++ {
		if b := math.Float64bits(g.all[i]); b != kernGuardBits(i) {
			t.Fatalf("%s: guard %d before the buffer changed: %#x", name, kernGuardLen-i, b)
		}
		if b := math.Float64bits(g.all[kernGuardLen+g.n+i]); b != kernGuardBits(kernGuardLen+i) {
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

func kernAbs(s []float64) []float64 {
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
	for in := 0; in <= 3*kernVecWidth+1; in++ {
		s = append(s, denseShape{5, in, 3})
	}
	for out := 0; out <= 3*gemmNR+1; out++ {
		s = append(s, denseShape{3, 5, out})
		s = append(s, denseShape{9, 4, out})
	}
	// C with one or two columns and sums of 16 terms or more: the dot
	// products of kernDotForward and kernDotBackwardX, each length of the
	// blocks of 16, 4 and 1 terms.
	// (In float32, blocks of 32, 8 and 1: 40 = 32+8, 71 = 2·32+7.)
	for _, k := range []int{15, 16, 17, 19, 20, 31, 33, 35, 40, 64, 67, 71} {
		s = append(s, denseShape{7, k, 1}, denseShape{7, k, 2}, denseShape{7, 1, k}, denseShape{7, 2, k})
	}
	s = append(s, []denseShape{
		{131, 64, 2}, {131, 2, 64}, {1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {2, 3, 1}, {13, 11, 19},
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

// sampleRows returns the rows of an n-row output the tests compare with the
// reference: all of them on small shapes, and on large ones (where the
// reference itself would dominate the run time under qemu and -race) the
// first and last tiles, the middle and a few random rows.
func sampleRows(rnd *rand.Rand, n, work int) []int {
	if work <= 1<<21 {
		s := make([]int, n)
		for i := range s {
			s[i] = i
		}
		return s
	}
	seen := map[int]bool{}
	var s []int
	add := func(i int) {
		if i >= 0 && i < n && !seen[i] {
			seen[i] = true
			s = append(s, i)
		}
	}
	for i := 0; i < 5; i++ {
		add(i)
		add(n - 1 - i)
		add(n/2 + i)
		add(rnd.IntN(n))
	}
	return s
}

// denseOps are the three products of a dense or masked layer, as the
// kernels under test and as their references; lim is nil for dense.
type denseOps struct {
	forward    func(y, x, w, b []float64, lim []int, n, in, out int)
	backwardX  func(dx, dy, w []float64, lim []int, n, in, out int)
	backwardW  func(dw, db, dy, x []float64, lim []int, n, in, out int)
	rForward   func(y, x, w, b []float64, lim []int, n, in, out int)
	rBackwardX func(dx, dy, w []float64, lim []int, n, in, out int)
	rBackwardW func(dw, db, dy, x []float64, lim []int, n, in, out int)
}

var denseKernelOps = denseOps{
	forward:    func(y, x, w, b []float64, _ []int, n, in, out int) { denseForward(y, x, w, b, n, in, out) },
	backwardX:  func(dx, dy, w []float64, _ []int, n, in, out int) { denseBackwardX(dx, dy, w, n, in, out) },
	backwardW:  func(dw, db, dy, x []float64, _ []int, n, in, out int) { denseBackwardW(dw, db, dy, x, n, in, out) },
	rForward:   func(y, x, w, b []float64, _ []int, n, in, out int) { denseForwardRef(y, x, w, b, n, in, out) },
	rBackwardX: func(dx, dy, w []float64, _ []int, n, in, out int) { denseBackwardXRef(dx, dy, w, n, in, out) },
	rBackwardW: func(dw, db, dy, x []float64, _ []int, n, in, out int) { denseBackwardWRef(dw, db, dy, x, n, in, out) },
}

var maskedKernelOps = denseOps{
	forward:   func(y, x, w, b []float64, lim []int, n, in, out int) { maskedForward(y, x, w, b, lim, n, in, out) },
	backwardX: func(dx, dy, w []float64, lim []int, n, in, out int) { maskedBackwardX(dx, dy, w, lim, n, in, out) },
	backwardW: func(dw, db, dy, x []float64, lim []int, n, in, out int) {
		maskedBackwardW(dw, db, dy, x, lim, n, in, out)
	},
	rForward:   maskedForwardRef[float64],
	rBackwardX: maskedBackwardXRef[float64],
	rBackwardW: maskedBackwardWRef[float64],
}

// checkDenseOps runs the three kernels of ops on one shape and compares
// them with their references on the rows of sampleRows (rows of Y and dX,
// rows k of dW), with guards around every buffer. With lim, the masked
// entries of W are NaN (they must not be read) and those of dW hold
// distinct finite values that must come back unchanged (a NaN there would
// hide an addition to it).
func checkDenseOps(t *testing.T, rnd *rand.Rand, ops denseOps, name string, lim []int, n, in, out int) {
	t.Helper()
	x := randGuarded(rnd, n*in)
	w := randGuarded(rnd, out*in)
	masked := func(k, j int) bool { return lim != nil && j >= lim[k] }
	for k := 0; k < out; k++ {
		for j := 0; j < in; j++ {
			if masked(k, j) {
				w.s()[k*in+j] = math.NaN()
			}
		}
	}
	b := randGuarded(rnd, out)
	dy := randGuarded(rnd, n*out)
	ax, aw, ab, ady := kernAbs(x.s()), kernAbs(w.s()), kernAbs(b.s()), kernAbs(dy.s())

	// Forward.
	y := randGuarded(rnd, n*out)
	ops.forward(y.s(), x.s(), w.s(), b.s(), lim, n, in, out)
	y.check(t, name+" forward y")
	want, abs := make([]float64, out), make([]float64, out)
	for _, i := range sampleRows(rnd, n, n*in*out) {
		ops.rForward(want, x.s()[i*in:i*in+in], w.s(), b.s(), lim, 1, in, out)
		ops.rForward(abs, ax[i*in:i*in+in], aw, ab, lim, 1, in, out)
		for k := range want {
			checkSum(t, name+" forward", i*out+k, y.s()[i*out+k], want[k], abs[k], in)
		}
	}

	// Backward to the input.
	dx := randGuarded(rnd, n*in)
	ops.backwardX(dx.s(), dy.s(), w.s(), lim, n, in, out)
	dx.check(t, name+" backward dx")
	want, abs = make([]float64, in), make([]float64, in)
	for _, i := range sampleRows(rnd, n, n*in*out) {
		ops.rBackwardX(want, dy.s()[i*out:i*out+out], w.s(), lim, 1, in, out)
		ops.rBackwardX(abs, ady[i*out:i*out+out], aw, lim, 1, in, out)
		for j := range want {
			checkSum(t, name+" backward dx", i*in+j, dx.s()[i*in+j], want[j], abs[j], out)
		}
	}

	// Backward to the weights, accumulating into dW and db.
	dw := randGuarded(rnd, out*in)
	for k := 0; k < out; k++ {
		for j := 0; j < in; j++ {
			if masked(k, j) {
				dw.s()[k*in+j] = 1000 + float64(k*in+j)
			}
		}
	}
	db := randGuarded(rnd, out)
	dw0, db0 := append([]float64(nil), dw.s()...), append([]float64(nil), db.s()...)
	ops.backwardW(dw.s(), db.s(), dy.s(), x.s(), lim, n, in, out)
	dw.check(t, name+" backward dw")
	db.check(t, name+" backward db")
	for k := 0; k < out; k++ {
		for j := 0; j < in; j++ {
			if i := k*in + j; masked(k, j) && math.Float64bits(dw.s()[i]) != math.Float64bits(dw0[i]) {
				t.Fatalf("%s: masked dW[%d,%d] written: %v", name, k, j, dw.s()[i])
			}
		}
	}
	// The reference on the sampled rows k of dW: the columns k of dY.
	ks := sampleRows(rnd, out, n*in*out)
	m := len(ks)
	dyk, adyk := make([]float64, n*m), make([]float64, n*m)
	wantW, absW := make([]float64, m*in), make([]float64, m*in)
	wantB, absB := make([]float64, m), make([]float64, m)
	var limk []int
	for s, k := range ks {
		for i := 0; i < n; i++ {
			dyk[i*m+s], adyk[i*m+s] = dy.s()[i*out+k], ady[i*out+k]
		}
		copy(wantW[s*in:s*in+in], dw0[k*in:k*in+in])
		copy(absW[s*in:s*in+in], kernAbs(dw0[k*in:k*in+in]))
		wantB[s], absB[s] = db0[k], math.Abs(db0[k])
		if lim != nil {
			limk = append(limk, lim[k])
		}
	}
	ops.rBackwardW(wantW, wantB, dyk, x.s(), limk, n, in, m)
	ops.rBackwardW(absW, absB, adyk, ax, limk, n, in, m)
	for s, k := range ks {
		for j := 0; j < in; j++ {
			if !masked(k, j) {
				checkSum(t, name+" backward dw", k*in+j, dw.s()[k*in+j], wantW[s*in+j], absW[s*in+j], n)
			}
		}
		checkSum(t, name+" backward db", k, db.s()[k], wantB[s], absB[s], n)
	}
	for _, g := range []*guarded{x, w, b, dy} {
		g.check(t, name+" input")
	}
}

func TestDenseKernels(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(1, 2))
		for _, sh := range denseShapes(testing.Short() || !kernUseAsm) {
			name := fmt.Sprintf("%dx%dx%d", sh.n, sh.in, sh.out)
			checkDenseOps(t, rnd, denseKernelOps, name, nil, sh.n, sh.in, sh.out)
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
		for _, sh := range denseShapes(testing.Short() || !kernUseAsm) {
			n, in, out := sh.n, sh.in, sh.out
			pats := limPatterns(rnd, in, out)
			for _, pname := range []string{"staircase", "reversed", "random", "zero", "full"} {
				// The large shapes with the mask of MADE only, to keep the
				// run short under qemu.
				if n*in*out > 1<<20 && pname != "staircase" {
					continue
				}
				name := fmt.Sprintf("%dx%dx%d %s", n, in, out, pname)
				checkDenseOps(t, rnd, maskedKernelOps, name, pats[pname], n, in, out)
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

// expULPBound is the largest distance, in units in the last place, between
// expVec and math.Exp that the tests allow; the package promises it. The
// vector exp is within about one ulp of the exact value (the largest error
// seen against a 40-digit reference on 197,000 of the arguments of
// TestExpULP was 1.06 ulp), but math.Exp on amd64 is not: for large
// arguments its error exceeds one ulp (exp(701.8425201926514) is
// 0x7f37570064350b58.a… in float64 bits; math.Exp returns …5a, 1.34 ulp
// away), so the two differ by up to 2 ulp there. The measured maximum over
// the arguments of TestExpULP is 2 on amd64 and 1 on arm64.
const expULPBound = 2

// ulpOrdered maps the bits of a float64 to an integer that increases with the
// value, −0 and +0 both mapping to 0, so that the difference of two ordered
// values counts the float64s between them.
func ulpOrdered(v float64) int64 {
	b := int64(math.Float64bits(v))
	if b < 0 {
		return -(b & math.MaxInt64)
	}
	return b
}

// ulpDist is the number of float64s between a and b, 0 if both are NaN and
// MaxInt64 if only one is.
func ulpDist(a, b float64) int64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		if math.IsNaN(a) && math.IsNaN(b) {
			return 0
		}
		return math.MaxInt64
	}
	d := ulpOrdered(a) - ulpOrdered(b)
	if d < 0 {
		d = -d
	}
	return d
}

// expArgs returns the arguments exp is tested on: dense uniform samples of
// [−750, 750] (beyond both thresholds), random float64 bit patterns (all
// magnitudes, subnormal arguments included), log-uniform magnitudes down to
// the subnormals, runs of consecutive float64s around the special points,
// and the special values.
func expArgs(short bool) []float64 {
	rnd := rand.New(rand.NewPCG(11, 12))
	dense := 1 << 20
	if short {
		dense = 1 << 16
	}
	var a []float64
	for i := 0; i < dense; i++ {
		a = append(a, 1500*rnd.Float64()-750)
	}
	for i := 0; i < dense/8; i++ {
		a = append(a, math.Float64frombits(rnd.Uint64()))
		a = append(a, math.Copysign(math.Exp2(-1074*rnd.Float64()), float64(rnd.IntN(2)*2-1)))
	}
	specials := []float64{
		0, 1, -1, 0.5, -0.5, math.Ln2 / 2, -math.Ln2 / 2, math.Ln2, -math.Ln2,
		708, -708, 708.39641853226408, -708.39641853226408, 709, -709,
		709.782712893383973096, -709.782712893383973096, 709.79, 710,
		745, -745, -745.13321910194110842, -745.2, -744.44007192138126231,
		-720, -730, -740, 1e-300, -1e-300, 0x1p-1022, -0x1p-1022,
		math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64,
		0x1p-28, -0x1p-28, 0x1p-53, -0x1p-53, math.MaxFloat64, -math.MaxFloat64,
	}
	for _, p := range specials {
		v := p
		for i := 0; i < 300; i++ {
			a = append(a, v)
			v = math.Nextafter(v, math.Inf(1))
		}
		v = p
		for i := 0; i < 300; i++ {
			v = math.Nextafter(v, math.Inf(-1))
			a = append(a, v)
		}
		for i := 0; i < 300; i++ {
			a = append(a, p+(rnd.Float64()-0.5)*1e-9*math.Max(1, math.Abs(p)))
		}
	}
	// Subnormal results: the whole range from −708.4 to −745.2.
	for i := 0; i < dense/8; i++ {
		a = append(a, -708.3-37*rnd.Float64())
	}
	a = append(a, math.NaN(), math.Float64frombits(0x7ff0000000000001), math.Float64frombits(0xfff8000000000123),
		math.Inf(1), math.Inf(-1), math.Copysign(0, -1))
	return a
}

// expOverflow is the documented overflow threshold of math.Exp: the largest
// float64 whose exp is finite.
const expOverflow = 7.09782712893383973096e+02

// expUnderflow is the documented underflow threshold of math.Exp: below it
// exp(x) rounds to 0.
const expUnderflow = -7.45133219101941108420e+02

// expGo is the portable math.Exp of the Go standard library (math/exp.go,
// from FreeBSD's e_exp.c), which arm64 also implements in assembly. On amd64
// math.Exp is an assembly version that overflows early, returning +Inf for
// x above about 709.436 although exp(x) is finite up to expOverflow; expVec
// returns the finite values there, which the tests check against expGo.
func expGo(x float64) float64 {
	const (
		ln2Hi     = 6.93147180369123816490e-01
		ln2Lo     = 1.90821492927058770002e-10
		log2e     = 1.44269504088896338700e+00
		underflow = -7.45133219101941108420e+02
		nearZero  = 1.0 / (1 << 28)
		p1        = 1.66666666666666657415e-01
		p2        = -2.77777777770155933842e-03
		p3        = 6.61375632143793436117e-05
		p4        = -1.65339022054652515390e-06
		p5        = 4.13813679705723846039e-08
	)
	switch {
	case math.IsNaN(x) || math.IsInf(x, 1):
		return x
	case math.IsInf(x, -1):
		return 0
	case x > expOverflow:
		return math.Inf(1)
	case x < underflow:
		return 0
	case -nearZero < x && x < nearZero:
		return 1 + x
	}
	var k int
	switch {
	case x < 0:
		k = int(log2e*x - 0.5)
	case x > 0:
		k = int(log2e*x + 0.5)
	}
	hi := x - float64(k)*ln2Hi
	lo := float64(k) * ln2Lo
	r := hi - lo
	t := r * r
	c := r - t*(p1+t*(p2+t*(p3+t*(p4+t*p5))))
	y := 1 - ((lo - (r*c)/(2-c)) - hi)
	return math.Ldexp(y, k)
}

// expWant returns what exp(x) is held against: math.Exp(x), except where
// math.Exp overflows below expOverflow (amd64), where it is expGo(x).
func expWant(x float64) float64 {
	w := math.Exp(x)
	if math.IsInf(w, 1) && x <= expOverflow {
		return expGo(x)
	}
	return w
}

// TestExpGo checks the copy of the portable exp against math.Exp away from
// the early overflow of amd64, so that expWant is itself right.
func TestExpGo(t *testing.T) {
	for _, x := range expArgs(true) {
		got, want := expGo(x), math.Exp(x)
		if math.IsInf(want, 1) && x <= expOverflow {
			continue
		}
		if d := ulpDist(got, want); d > expULPBound {
			t.Fatalf("expGo(%v) = %v, math.Exp = %v: %d ulp", x, got, want, d)
		}
	}
}

func TestExpULP(t *testing.T) {
	args := expArgs(testing.Short())
	forEachPath(t, func(t *testing.T) {
		out := newGuarded(len(args))
		expVec(out.s(), args)
		out.check(t, "exp")
		var worst int64
		var worstX float64
		for i, x := range args {
			got, want := out.s()[i], math.Exp(x)
			if kernUseAsm {
				want = expWant(x)
			}
			d := ulpDist(got, want)
			if d > worst {
				worst, worstX = d, x
			}
			if d > expULPBound {
				t.Fatalf("exp(%v) = %v (%#x), math.Exp = %v (%#x): %d ulp", x, got, math.Float64bits(got), want, math.Float64bits(want), d)
			}
			if math.IsNaN(x) && math.Float64bits(got) != math.Float64bits(want) {
				t.Errorf("exp(NaN %#x) = %#x, math.Exp gives %#x", math.Float64bits(x), math.Float64bits(got), math.Float64bits(want))
			}
			// Beyond the thresholds of math.Exp the results are exact: +Inf
			// above expOverflow, +0 below expUnderflow.
			if (x > expOverflow && !(math.IsInf(got, 1) && math.IsInf(want, 1))) ||
				(x < expUnderflow && !(math.Float64bits(got) == 0 && math.Float64bits(want) == 0)) {
				t.Fatalf("exp(%v) = %v, math.Exp = %v", x, got, want)
			}
		}
		t.Logf("%d arguments, largest distance %d ulp at %v", len(args), worst, worstX)
	})
}

// TestExpLengths runs exp on every length up to three vectors plus one and
// on unaligned windows, with guards around the output.
func TestExpLengths(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(13, 14))
		// Up to three vectors plus one, and on to past two blocks of the
		// four-vector loop of amd64; with an out-of-range argument (the slow
		// path) in some of them.
		for n := 0; n <= 9*kernVecWidth+1; n++ {
			src := newGuarded(n)
			for i := range src.s() {
				src.s()[i] = 100 * (rnd.Float64() - 0.5)
			}
			if n%3 == 1 {
				src.s()[n/2] = -720
			}
			dst := newGuarded(n)
			expVec(dst.s(), src.s())
			dst.check(t, fmt.Sprintf("exp len %d", n))
			for i, x := range src.s() {
				if d := ulpDist(dst.s()[i], expWant(x)); d > expULPBound && kernUseAsm {
					t.Fatalf("len %d: exp(%v) off by %d ulp", n, x, d)
				}
			}
			// In place.
			expVec(src.s(), src.s())
			for i := range src.s() {
				if src.s()[i] != dst.s()[i] {
					t.Fatalf("len %d: in-place exp differs at %d", n, i)
				}
			}
		}
	})
}

func affineLengths() []int {
	var ls []int
	for n := 0; n <= 3*kernVecWidth+1; n++ {
		ls = append(ls, n)
	}
	return append(ls, 43, 86, 257)
}

// TestAffine checks the fused affine steps against their references: e
// within the exp bound, z and x within the rounding of the two operations
// on top of it, and the sum of alpha within the rounding of a sum of n terms
// in another order.
func TestAffine(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(15, 16))
		const u = 0x1p-53
		for _, n := range affineLengths() {
			rg := func(scale float64) *guarded {
				g := newGuarded(n)
				for i := range g.s() {
					g.s()[i] = scale * (2*rnd.Float64() - 1)
				}
				return g
			}
			x, mu, alpha := rg(3), rg(1), rg(5)
			if n > 3 {
				alpha.s()[1] = 800 // exp overflows
				alpha.s()[2] = -800
			}
			sumAbs := 0.0
			for _, a := range alpha.s() {
				sumAbs += math.Abs(a)
			}
			sumTol := 2 * float64(n) * u * sumAbs

			for _, dir := range []string{"inverse", "forward"} {
				out, e := newGuarded(n), newGuarded(n)
				wantOut, wantE := make([]float64, n), make([]float64, n)
				var got, want float64
				if dir == "inverse" {
					got = affineInverse(out.s(), e.s(), x.s(), mu.s(), alpha.s())
					want = affineInverseRef(wantOut, wantE, x.s(), mu.s(), alpha.s())
				} else {
					got = affineForward(out.s(), e.s(), x.s(), mu.s(), alpha.s())
					want = affineForwardRef(wantOut, wantE, x.s(), mu.s(), alpha.s())
				}
				name := fmt.Sprintf("%s n=%d", dir, n)
				out.check(t, name+" out")
				e.check(t, name+" e")
				for _, g := range []*guarded{x, mu, alpha} {
					g.check(t, name+" input")
				}
				if !(math.Abs(got-want) <= sumTol) {
					t.Fatalf("%s: sum %v, want %v", name, got, want)
				}
				for d := 0; d < n; d++ {
					if dist := ulpDist(e.s()[d], wantE[d]); dist > expULPBound {
						t.Fatalf("%s: e[%d] = %v, want %v", name, d, e.s()[d], wantE[d])
					}
					var mag float64
					if dir == "inverse" {
						mag = math.Abs(x.s()[d]-mu.s()[d]) * wantE[d]
					} else {
						mag = math.Abs(x.s()[d]*wantE[d]) + math.Abs(mu.s()[d])
					}
					tol := (2*expULPBound + 4) * u * mag
					if g, w := out.s()[d], wantOut[d]; g != w && !(math.Abs(g-w) <= tol) {
						t.Fatalf("%s: out[%d] = %v, want %v", name, d, g, w)
					}
				}
			}
		}
	})
}

func TestActivations(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(17, 18))
		for _, n := range affineLengths() {
			h := newGuarded(n)
			for i := range h.s() {
				h.s()[i] = 2*rnd.Float64() - 1
			}
			special := []float64{math.NaN(), math.Copysign(0, -1), 0, math.Inf(-1), math.Inf(1), -0x1p-1074}
			for i := 0; i < n && i < len(special); i++ {
				h.s()[(i*7)%n] = special[i]
			}
			dh := newGuarded(n)
			for i := range dh.s() {
				dh.s()[i] = 2*rnd.Float64() - 1
			}
			name := fmt.Sprintf("n=%d", n)

			got := append([]float64(nil), h.s()...)
			want := append([]float64(nil), h.s()...)
			g := newGuarded(n)
			copy(g.s(), got)
			relu(g.s())
			g.check(t, name+" relu")
			reluRef(want)
			for i := range want {
				if math.Float64bits(g.s()[i]) != math.Float64bits(want[i]) {
					t.Fatalf("%s: relu[%d] = %v, want %v", name, i, g.s()[i], want[i])
				}
			}

			g = newGuarded(n)
			copy(g.s(), dh.s())
			want = append([]float64(nil), dh.s()...)
			reluBackward(g.s(), h.s())
			g.check(t, name+" reluBackward")
			reluBackwardRef(want, h.s())
			for i := range want {
				if math.Float64bits(g.s()[i]) != math.Float64bits(want[i]) {
					t.Fatalf("%s: reluBackward[%d] = %v, want %v", name, i, g.s()[i], want[i])
				}
			}

			g = newGuarded(n)
			copy(g.s(), h.s())
			want = append([]float64(nil), h.s()...)
			tanhVec(g.s())
			g.check(t, name+" tanh")
			tanhRef(want)
			for i := range want {
				if !tanhClose(g.s()[i], want[i]) {
					t.Fatalf("%s: tanh[%d] = %v, want %v", name, i, g.s()[i], want[i])
				}
			}

			// tanhBackward: 1 − h² may be computed with or without a fused
			// multiply-add (the reference is compiled either way), so the
			// results agree within the rounding of the three operations.
			th := append([]float64(nil), h.s()...)
			tanhRef(th)
			g = newGuarded(n)
			copy(g.s(), dh.s())
			want = append([]float64(nil), dh.s()...)
			tanhBackward(g.s(), th)
			g.check(t, name+" tanhBackward")
			tanhBackwardRef(want, th)
			for i := range want {
				v := th[i]
				tol := 4 * 0x1p-53 * math.Abs(dh.s()[i]) * (v*v + math.Abs(1-v*v))
				if gv, w := g.s()[i], want[i]; gv != w && !(math.Abs(gv-w) <= tol) && !(math.IsNaN(gv) && math.IsNaN(w)) {
					t.Fatalf("%s: tanhBackward[%d] = %v, want %v", name, i, gv, w)
				}
			}
		}
	})
}

// TestExpSpecialPositions puts each special argument at each position of a
// few vectors' worth of ordinary ones, so that every lane of every path of
// the vector loops meets it.
func TestExpSpecialPositions(t *testing.T) {
	specials := []float64{
		math.NaN(), math.Float64frombits(0x7ff0000000000001), math.Float64frombits(0xfff8000000000123),
		math.Inf(1), math.Inf(-1), 710, -746, 709.5, -708.5, -745.1, 1e300, -1e300,
	}
	forEachPath(t, func(t *testing.T) {
		for _, n := range []int{kernVecWidth + 1, 4*kernVecWidth + 3, 5*kernVecWidth + 3, 7*kernVecWidth + 1} {
			testExpSpecialPositions(t, specials, n)
		}
	})
}

func testExpSpecialPositions(t *testing.T, specials []float64, n int) {
	t.Helper()
	src := make([]float64, n)
	dst := make([]float64, n)
	for _, sv := range specials {
		for p := 0; p < n; p++ {
			for i := range src {
				src[i] = float64(i%7) - 3.5
			}
			src[p] = sv
			expVec(dst, src)
			for i, x := range src {
				want := math.Exp(x)
				if kernUseAsm {
					want = expWant(x)
				}
				if math.IsNaN(x) {
					if math.Float64bits(dst[i]) != math.Float64bits(x) {
						t.Fatalf("exp(NaN %#x) at %d of %d = %#x", math.Float64bits(x), i, n, math.Float64bits(dst[i]))
					}
					continue
				}
				if d := ulpDist(dst[i], want); d > expULPBound {
					t.Fatalf("exp(%v) at %d with %v at %d = %v, want %v", x, i, sv, p, dst[i], want)
				}
			}
			// In place, the same.
			expVec(src, src)
			for i := range src {
				if math.Float64bits(src[i]) != math.Float64bits(dst[i]) {
					t.Fatalf("in-place exp differs at %d of %d with %v at %d", i, n, sv, p)
				}
			}
		}
	}
}

// TestKernelsAllocate checks that the kernels allocate nothing in the
// steady state (their scratch buffers come from free lists).
func TestKernelsAllocate(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(19, 20))
		n, in, out := 37, 43, 29
		x, w, b := kernRandSlice(rnd, n*in), kernRandSlice(rnd, out*in), kernRandSlice(rnd, out)
		y, dy, dx := make([]float64, n*out), kernRandSlice(rnd, n*out), make([]float64, n*in)
		dw, db := make([]float64, out*in), make([]float64, out)
		lim := limPatterns(rnd, in, out)["staircase"]
		e, z := make([]float64, in), make([]float64, in)
		for name, f := range map[string]func(){
			"dense": func() {
				denseForward(y, x, w, b, n, in, out)
				denseBackwardX(dx, dy, w, n, in, out)
				denseBackwardW(dw, db, dy, x, n, in, out)
			},
			"masked": func() {
				maskedForward(y, x, w, b, lim, n, in, out)
				maskedBackwardX(dx, dy, w, lim, n, in, out)
				maskedBackwardW(dw, db, dy, x, lim, n, in, out)
			},
			"elementwise": func() {
				expVec(dx, x)
				affineInverse(z, e, x[:in], x[in:2*in], x[2*in:3*in])
				affineForward(z, e, x[:in], x[in:2*in], x[2*in:3*in])
				relu(y)
				reluBackward(dy, y)
				tanhBackward(dy, y)
			},
		} {
			if a := testing.AllocsPerRun(20, f); a != 0 {
				t.Errorf("%s: %v allocations a run", name, a)
			}
		}
	})
}

// tanhULPBound is the largest distance, in units in the last place, between
// tanhVec and math.Tanh that the tests allow. Both compute 1 − 2/(e + 1)
// with e = exp(2|x|) for |x| ≥ 0.625 and differ there only through e (the
// vector exp against math.Exp, up to 2 ulp apart): near 0.625 one ulp of e
// moves the result by about 0.4 ulp, and the division and the subtraction
// round on top, so that the two differ by up to 2 ulp; below 0.625 they perform
// the same operations and agree bit for bit (on amd64; elsewhere tanhVec is
// math.Tanh). The measured maximum over TestTanhULP is 2, near 0.63.
const tanhULPBound = 2

// tanhClose reports whether got is within tanhULPBound of want, with the
// same sign of zero and both or neither NaN.
func tanhClose(got, want float64) bool {
	if math.IsNaN(want) || math.IsNaN(got) {
		return math.IsNaN(want) && math.IsNaN(got)
	}
	if want == 0 {
		return math.Float64bits(got) == math.Float64bits(want)
	}
	return ulpDist(got, want) <= tanhULPBound
}

// TestTanhULP measures the distance of tanhVec to math.Tanh over dense
// random samples of [−50, 50], log-uniform magnitudes down to the
// subnormals, runs around the switch at 0.625 and the saturation at 44.01,
// and the special values.
func TestTanhULP(t *testing.T) {
	rnd := rand.New(rand.NewPCG(21, 22))
	dense := 1 << 19
	if testing.Short() {
		dense = 1 << 15
	}
	var args []float64
	for i := 0; i < dense; i++ {
		args = append(args, 100*rnd.Float64()-50, 3*rnd.Float64()-1.5)
		args = append(args, math.Copysign(math.Exp2(-1074*rnd.Float64()), float64(rnd.IntN(2)*2-1)))
	}
	for _, p := range []float64{0.625, -0.625, 44.014845965556525, -44.014845965556525, 44.5, 22, 19, 1e-300} {
		v := p
		for i := 0; i < 200; i++ {
			args = append(args, v)
			v = math.Nextafter(v, math.Inf(1))
		}
		v = p
		for i := 0; i < 200; i++ {
			v = math.Nextafter(v, math.Inf(-1))
			args = append(args, v)
		}
	}
	args = append(args, 0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, -math.MaxFloat64,
		math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64)
	forEachPath(t, func(t *testing.T) {
		h := newGuarded(len(args))
		copy(h.s(), args)
		tanhVec(h.s())
		h.check(t, "tanh")
		var worst int64
		var worstX float64
		for i, x := range args {
			got, want := h.s()[i], math.Tanh(x)
			if !tanhClose(got, want) {
				t.Fatalf("tanh(%v) = %v (%#x), math.Tanh = %v (%#x)", x, got, math.Float64bits(got), want, math.Float64bits(want))
			}
			if d := ulpDist(got, want); d > worst && !math.IsNaN(x) {
				worst, worstX = d, x
			}
			if math.Abs(x) < 0.625 && !math.IsNaN(x) && kernHasTanhBits && math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("tanh(%v) = %v, math.Tanh = %v: not bit for bit below 0.625", x, got, want)
			}
		}
		t.Logf("%d arguments, largest distance %d ulp at %v", len(args), worst, worstX)
	})
}
