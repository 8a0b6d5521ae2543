// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// kernRand32 returns n float32 values drawn from the standard normal.
func kernRand32(rnd *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rnd.NormFloat64())
	}
	return s
}

// fma32Exact is a·b + c rounded once to float32 (ties to even), by exact
// arithmetic in math/big.
func fma32Exact(a, b, c float32) float32 {
	if math.IsInf(float64(a), 0) || math.IsInf(float64(b), 0) || math.IsInf(float64(c), 0) ||
		a != a || b != b || c != c {
		return float32(float64(a)*float64(b) + float64(c))
	}
	x := new(big.Float).SetPrec(2000).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetFloat64(float64(c)))
	if x.Sign() == 0 {
		// IEEE 754: an exact zero sum is +0 unless both addends are −0.
		p := float64(a) * float64(b)
		return float32(p + float64(c))
	}
	f, _ := x.Float32()
	return f
}

// fma32Cases returns triples for fma32: random ones over a wide range of
// exponents, sums that cancel, and ties between two float32 values.
func fma32Cases(rnd *rand.Rand, n int) [][3]float32 {
	r32 := func(lo, hi int) float32 {
		e := lo + rnd.IntN(hi-lo+1)
		v := float32(math.Ldexp(1+rnd.Float64(), e))
		if rnd.IntN(2) == 0 {
			v = -v
		}
		return v
	}
	var cs [][3]float32
	for i := 0; i < n; i++ {
		a, b := r32(-20, 20), r32(-20, 20)
		switch i % 5 {
		case 0: // near cancellation: c ≈ −a·b
			c := -float32(float64(a) * float64(b))
			c = math.Nextafter32(c, float32(rnd.NormFloat64()))
			cs = append(cs, [3]float32{a, b, c})
		case 1: // ties: a·b exactly half an ulp of c away from a float32
			c := r32(-5, 5)
			ulp := math.Nextafter32(c, float32(math.Inf(1))) - c
			h := float32(math.Ldexp(1, rnd.IntN(3))) // 1, 2, 4: a·b = h·ulp/2
			cs = append(cs, [3]float32{h, ulp / 2, c}, [3]float32{ulp / 2, h, c})
		case 2: // tiny results, float32 subnormals
			cs = append(cs, [3]float32{r32(-80, -60), r32(-80, -60), r32(-140, -126)})
		case 3: // double rounding: a·b = (ulp/2)(1 − 2⁻⁴⁶) under c of odd last
			// bit rounds to the tie in float64, which goes up to even, while the
			// exact sum is below it
			c := r32(-5, 5)
			c = math.Float32frombits(math.Float32bits(c) | 1)
			ulp := math.Abs(float64(math.Nextafter32(c, float32(math.Inf(1))) - c))
			sc := math.Ldexp(1, rnd.IntN(9)-4)
			a := float32((1 + 0x1p-23) * sc)
			b := float32((1 - 0x1p-23) * ulp / 2 / sc)
			cs = append(cs, [3]float32{a, b, c}, [3]float32{-a, -b, c}, [3]float32{a, -b, -c})
			// a large sum with a small product, ±0
			a, b = r32(-20, 20), r32(-20, 20)
			cs = append(cs, [3]float32{a, b, r32(30, 60)}, [3]float32{a, 0, float32(math.Copysign(0, -1))})
		default:
			cs = append(cs, [3]float32{a, b, r32(-20, 20)})
		}
	}
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	return append(cs,
		[3]float32{inf, 1, 1}, [3]float32{inf, 0, 1}, [3]float32{1, 1, -inf}, [3]float32{nan, 1, 1},
		[3]float32{math.MaxFloat32, 2, 0}, [3]float32{math.MaxFloat32, 1, math.MaxFloat32},
		[3]float32{float32(math.Copysign(0, -1)), 1, float32(math.Copysign(0, -1))},
		[3]float32{math.SmallestNonzeroFloat32, 0.5, 0}, [3]float32{math.SmallestNonzeroFloat32, 1.5, 0})
}

func TestFMA32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(61, 62))
	cases := fma32Cases(rnd, 20000)
	plain := 0 // cases where rounding the float64 sum is wrong
	for _, c := range cases {
		got, want := fma32(c[0], c[1], c[2]), fma32Exact(c[0], c[1], c[2])
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("fma32(%g, %g, %g) = %g (%#x), want %g (%#x)", c[0], c[1], c[2], got, math.Float32bits(got), want, math.Float32bits(want))
		}
		if p := float32(float64(c[0])*float64(c[1]) + float64(c[2])); math.Float32bits(p) != math.Float32bits(want) && want == want {
			plain++
		}
	}
	// The cases must reach the double rounding that fma32 corrects, or
	// the test could not tell fma32 from the plain conversion.
	if plain == 0 {
		t.Fatal("no case where float32(float64 sum) differs from the exact rounding")
	}
}

// TestGemmKernel32 checks the float32 micro-kernel bit for bit against
// its reference on every layout of A, sums of 0 to 19 terms and 1 to 3
// tiles, from C and from init, with guard values around C.
func TestGemmKernel32(t *testing.T) {
	if !kernHasF32 || !kernUseAsm {
		// The reference is what runs here, with nothing to compare it
		// with but itself; TestFMA32 checks its arithmetic.
		t.Log("no float32 micro-kernel on this machine")
		return
	}
	gemmKern32Cases(t, gemmKern32)
	// One step whose float64 sum rounds to a tie (TestFMA32's double
	// rounding): the kernel must round the fused sum once.
	a0, b0, c0 := float32(1+0x1p-23), float32((1-0x1p-23)*0x1p-24), float32(1+0x1p-23)
	want := fma32Exact(a0, b0, c0)
	if plain := float32(float64(a0)*float64(b0) + float64(c0)); plain == want {
		t.Fatalf("the case does not round twice: %g", plain)
	}
	a, b, c := make([]float32, gemm32MR), make([]float32, gemm32NR), make([]float32, gemm32MR*gemm32NR)
	for i := range a {
		a[i] = a0
	}
	for j := range b {
		b[j] = b0
	}
	for i := range c {
		c[i] = c0
	}
	gemmKern32(c, gemm32NR, a, 1, 1, gemm32MR, b, 1, 1, nil)
	for i, v := range c {
		if v != want {
			t.Fatalf("c[%d] = %g, want %g", i, v, want)
		}
	}
}

func gemmKern32Cases(t *testing.T, kern func(c []float32, ldc int, a []float32, rs, ps, ts int, b []float32, k, tiles int, init []float32)) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(63, 64))
	r := func(n int) []float32 { return kernRand32(rnd, n) }
	const guard = 8
	for tiles := 1; tiles <= 3; tiles++ {
		for k := 0; k < 20; k++ {
			m := gemm32MR * tiles
			type layout struct {
				name       string
				rs, ps, ts int
				n          int
			}
			kk := max(k, 1)
			for _, l := range []layout{
				{"row-major", kk + 3, 1, gemm32MR * (kk + 3), m * (kk + 3)},
				{"transposed", 1, m + 2, gemm32MR, kk * (m + 2)},
				{"slivers", 1, gemm32MR, gemm32MR * kk, m * kk},
			} {
				for _, withInit := range []bool{false, true} {
					name := fmt.Sprintf("tiles=%d/k=%d/%s/init=%t", tiles, k, l.name, withInit)
					a, b := r(l.n), r(kk*gemm32NR)
					var init []float32
					if withInit {
						init = r(gemm32NR)
					}
					ldc := gemm32NR + 5
					c0 := r(guard + m*ldc + guard)
					want := append([]float32(nil), c0...)
					gemmKernel32Ref(want[guard:], ldc, a, l.rs, l.ps, l.ts, b, k, tiles, init)
					got := append([]float32(nil), c0...)
					kern(got[guard:], ldc, a, l.rs, l.ps, l.ts, b, k, tiles, init)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s: c[%d] = %g, want %g", name, i-guard, got[i], want[i])
						}
					}
					// The tiles' columns past 24 and the guards are C's
					// entries no tile writes: the reference must leave them.
					for i := 0; i < m; i++ {
						for j := gemm32NR; j < ldc; j++ {
							if o := guard + i*ldc + j; want[o] != c0[o] {
								t.Fatalf("%s: the reference wrote c[%d][%d]", name, i, j)
							}
						}
					}
				}
			}
		}
	}
}

// BenchmarkKernelMicro32 runs the float32 micro-kernel alone, on operands
// in cache, as BenchmarkKernelMicro runs the float64 ones: its GFLOP/s
// against the float64 4×12 kernel's is the float32 path's gain in the
// products (twice the lanes a register).
func BenchmarkKernelMicro32(b *testing.B) {
	rnd := rand.New(rand.NewPCG(65, 66))
	for _, k := range []int{64, 128, 256} {
		tiles := 48 / gemm32MR
		a := make([]float32, tiles*gemm32MR*k)
		bp := make([]float32, k*gemm32NR)
		for i := range a {
			a[i] = float32(rnd.NormFloat64())
		}
		for i := range bp {
			bp[i] = float32(rnd.NormFloat64())
		}
		c := make([]float32, tiles*gemm32MR*gemm32NR)
		b.Run(fmt.Sprintf("%dx%d/k=%d", gemm32MR, gemm32NR, k), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				gemmKern32(c, gemm32NR, a, k, 1, gemm32MR*k, bp, k, tiles, nil)
			}
			kernReportGFLOPS(b, 2*float64(tiles*gemm32MR*gemm32NR*k))
		})
	}
}

// TestExpVec32 checks the float32 exponential within 1 ulp of the float32
// rounding of math.Exp, on every length 0 … 3·256+1 around the blocks,
// arguments across the whole float32 range (overflow, subnormal results,
// ±0, ±Inf, NaN), in place too, and that it writes nothing past len(src).
func TestExpVec32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(67, 68))
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 88.72, 88.73, 89, -87.3, -103, -103.98, -104, -200,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32, 1e-30}
	ulps := func(got, want float32) float64 {
		if got == want || got != got && want != want {
			return 0
		}
		if got != got || want != want || math.IsInf(float64(got), 0) != math.IsInf(float64(want), 0) {
			return math.Inf(1)
		}
		d := int64(math.Float32bits(got)) - int64(math.Float32bits(want))
		return math.Abs(float64(d))
	}
	for _, n := range []int{0, 1, 2, 3, 7, 8, 9, 255, 256, 257, 511, 512, 513, 3*256 + 1} {
		src := make([]float32, n)
		for i := range src {
			if rnd.IntN(4) == 0 {
				src[i] = special[rnd.IntN(len(special))]
			} else {
				src[i] = float32(rnd.Float64()*200 - 110)
			}
		}
		const guard = 3
		dst := make([]float32, n+guard)
		for i := range dst {
			dst[i] = -7
		}
		expVec32(dst, src)
		for i, x := range src {
			want := float32(math.Exp(float64(x)))
			if u := ulps(dst[i], want); u > 1 {
				t.Fatalf("n=%d: exp(%g) = %g, want %g (%g ulp)", n, x, dst[i], want, u)
			}
		}
		for i := n; i < n+guard; i++ {
			if dst[i] != -7 {
				t.Fatalf("n=%d: dst[%d] written", n, i)
			}
		}
		in := append([]float32(nil), src...)
		expVec32(in, in)
		for i := range in {
			if math.Float32bits(in[i]) != math.Float32bits(dst[i]) {
				t.Fatalf("n=%d: in place, exp(%g) = %g, not %g", n, src[i], in[i], dst[i])
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("expVec32 with a short dst did not panic")
		}
	}()
	expVec32(make([]float32, 2), make([]float32, 3))
}

// TestTanhVec32 checks the float32 tanh within 1 ulp of the float32
// rounding of math.Tanh on every length 0 … 13 (short rows, the small
// buffer, whole vectors and tails) and across the 256-value blocks,
// arguments of every magnitude (tiny, around the kernel's 0.625 switch,
// saturated, ±0, ±Inf, NaN), in place.
func TestTanhVec32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(71, 72))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-8, 0.625, -0.625, 0.62, 9, -9.1, 20, -40,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32}
	lengths := []int{255, 256, 257, 511, 3*256 + 1}
	for n := 0; n <= 13; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		h := make([]float32, n+3)
		for i := range h {
			if rnd.IntN(4) == 0 {
				h[i] = special[rnd.IntN(len(special))]
			} else {
				h[i] = float32(rnd.NormFloat64() * 2)
			}
		}
		src := append([]float32(nil), h...)
		tanhVec32(h[:n])
		for i, x := range src {
			want := x
			if i < n {
				want = float32(math.Tanh(float64(x)))
			}
			got := h[i]
			if math.Float32bits(got) == math.Float32bits(want) || got != got && want != want {
				continue
			}
			d := int64(math.Float32bits(got)) - int64(math.Float32bits(want))
			if i >= n || got != got || want != want || d < -1 || d > 1 {
				t.Fatalf("n=%d: tanh(%g) at %d = %g, want %g", n, x, i, got, want)
			}
		}
	}
	if testing.CoverMode() != "" || raceEnabled {
		return // allocation counts are not meaningful under -race or -cover
	}
	for _, n := range []int{3, 8, 300} {
		h := make([]float32, n)
		if a := testing.AllocsPerRun(10, func() { tanhVec32(h) }); a != 0 {
			t.Errorf("tanhVec32 of %d values: %v allocs, want 0", n, a)
		}
	}
}

// TestCvt checks the conversions between float32 and float64 bit for bit
// against Go's, on every length 0 … 13 (whole vectors and tails) with
// values that round to even, overflow, become subnormal or stay special,
// and that they write nothing past len(src).
func TestCvt(t *testing.T) {
	rnd := rand.New(rand.NewPCG(69, 70))
	special := []float64{0, math.Copysign(0, -1), 1 + 0x1p-24, 1 + 3*0x1p-24, 1e39, -1e39, 1e-40, -1e-45, 1e-50,
		math.MaxFloat32, math.Inf(1), math.Inf(-1), math.NaN()}
	for n := 0; n <= 13; n++ {
		src := make([]float64, n)
		for i := range src {
			if rnd.IntN(3) == 0 {
				src[i] = special[rnd.IntN(len(special))]
			} else {
				src[i] = rnd.NormFloat64() * math.Ldexp(1, rnd.IntN(40)-20)
			}
		}
		const guard = 2
		d32 := make([]float32, n+guard)
		cvt64to32(d32, src)
		for i, v := range src {
			if w := float32(v); math.Float32bits(d32[i]) != math.Float32bits(w) && !(w != w && d32[i] != d32[i]) {
				t.Fatalf("n=%d: float32(%g) = %g, want %g", n, v, d32[i], w)
			}
		}
		d64 := make([]float64, n+guard)
		cvt32to64(d64, d32[:n])
		for i, v := range d32[:n] {
			if w := float64(v); math.Float64bits(d64[i]) != math.Float64bits(w) && !(w != w && d64[i] != d64[i]) {
				t.Fatalf("n=%d: float64(%g) = %g, want %g", n, v, d64[i], w)
			}
		}
		for i := n; i < n+guard; i++ {
			if d32[i] != 0 || d64[i] != 0 {
				t.Fatalf("n=%d: written past the end at %d", n, i)
			}
		}
	}
}

// exp32Model is expKernel32's operations on one argument written out in
// Go (its doc comment), fused steps as fma32, the products and sums
// rounded to float32, the powers of two built from their exponents.
func exp32Model(x float32) float32 {
	c := x
	if !(c >= -104) { // NaN too: VMAXPS returns its second operand
		c = -104
	}
	c = min(c, 89)
	k := float32(math.RoundToEven(float64(c * float32(1/math.Ln2))))
	const c1 = 0.693359375
	c2 := float32(math.Ln2 - c1)
	r := fma32(-k, c1, c)
	r = fma32(-k, c2, r)
	p := float32(1.0 / 5040)
	for _, g := range []float32{1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5} {
		p = fma32(p, r, g)
	}
	p = fma32(p, r*r, r)
	t := float32(math.Floor(float64(k * 0.5)))
	k -= t
	pow := func(e float32) float32 { return math.Float32frombits(uint32(int32(e)+127) << 23) }
	p = fma32(p, pow(t), pow(t)) * pow(k)
	if x != x {
		return x
	}
	return p
}

// TestExpKernel32 checks expKernel32 bit for bit against exp32Model, and
// within 1 ulp of the float32 rounding of math.Exp, on arguments across
// the whole float32 range (overflow, subnormal results, ±0, ±Inf, NaN)
// and a dense sweep of [−104, 89], and every length 0 … 25 around its
// masked last vector with guards on both sides.
func TestExpKernel32(t *testing.T) {
	if !kernHasExp32 || !kernUseAsm {
		t.Log("no float32 exponential kernel on this machine: expVec32 goes through float64's")
		return
	}
	rnd := rand.New(rand.NewPCG(39, 40))
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 88.72, 88.7228, 88.7229, 88.73, 89, 90, -87.3, -87.34,
		-103, -103.97, -103.98, -104, -104.5, -200, 1e-30, -1e-30, 0x1p-26, 0.34657359, -0.34657359,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32}
	const n = 1 << 16
	src := make([]float32, n)
	worst := 0.0
	for round := 0; round < 8; round++ {
		for i := range src {
			switch {
			case rnd.IntN(16) == 0:
				src[i] = special[rnd.IntN(len(special))]
			case round == 0:
				src[i] = -104 + 193*float32(i)/n
			default:
				src[i] = float32(rnd.Float64()*200 - 110)
			}
		}
		dst := make([]float32, n+8)
		for i := range dst {
			dst[i] = -7
		}
		expKernel32(&dst[0], &src[0], n)
		for i, x := range src {
			got, model := dst[i], exp32Model(x)
			if math.Float32bits(got) != math.Float32bits(model) {
				t.Fatalf("exp(%g) = %g (%#x), model %g (%#x)", x, got, math.Float32bits(got), model, math.Float32bits(model))
			}
			want := float32(math.Exp(float64(x)))
			if got == want || got != got && want != want {
				continue
			}
			if got != got || want != want || math.IsInf(float64(got), 0) != math.IsInf(float64(want), 0) {
				t.Fatalf("exp(%g) = %g, want %g", x, got, want)
			}
			d := math.Abs(float64(int64(math.Float32bits(got)) - int64(math.Float32bits(want))))
			worst = max(worst, d)
			if d > 1 {
				t.Fatalf("exp(%g) = %g, want %g (%g ulp)", x, got, want, d)
			}
		}
		for i := n; i < len(dst); i++ {
			if dst[i] != -7 {
				t.Fatalf("dst[%d] written", i)
			}
		}
	}
	t.Logf("worst: %g ulp from the float32 rounding of math.Exp", worst)
	// Every length around the masked last vector, with guards: the lanes
	// past n are neither read into the results nor written.
	for m := 0; m <= 3*8+1; m++ {
		buf := make([]float32, m+16)
		for i := range buf {
			buf[i] = special[rnd.IntN(len(special))]
		}
		dst := append([]float32(nil), buf...)
		want := append([]float32(nil), buf...)
		for i := range m {
			want[8+i] = exp32Model(buf[8+i])
		}
		if m > 0 {
			expKernel32(&dst[8], &buf[8], m)
		}
		for i := range dst {
			if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d: word %d = %g, want %g", m, i-8, dst[i], want[i])
			}
		}
	}
}
