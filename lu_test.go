// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// ftLU returns an LU layer of cfg.
func ftLU(t testing.TB, cfg LUConfig) *LULinear {
	t.Helper()
	l, err := NewLULinear(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// luConfig returns the configuration of dimension d with a random
// permutation and random signs from seed (the identity and +1 when seed is
// 0).
func luConfig(d int, seed uint64) LUConfig {
	if seed == 0 {
		return LUConfig{Dim: d}
	}
	rnd := rand.New(rand.NewPCG(seed, 5))
	signs := make([]int, d)
	for i := range signs {
		signs[i] = 1 - 2*rnd.IntN(2)
	}
	return LUConfig{Dim: d, Perm: rnd.Perm(d), Signs: signs}
}

// luFlow returns a flow of one LU layer of luConfig(d, seed) with random
// parameters of the given scale.
func luFlow(t *testing.T, d int, seed uint64, scale float64) (*Flow, *LULinear) {
	t.Helper()
	l := ftLU(t, luConfig(d, seed))
	f := ftFlow(t, l)
	randomizeParams(f, scale, seed+1)
	return f, l
}

func TestLUBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  LUConfig
		want string
	}{
		{LUConfig{Dim: 0}, "dimension 0 < 1"},
		{LUConfig{Dim: -3}, "dimension -3 < 1"},
		{LUConfig{Dim: maxDim + 1}, "more than the limit"},
		{LUConfig{Dim: 20000}, "would need 4e+08 parameters"},
		{LUConfig{Dim: 3, Perm: []int{0, 1}}, "permutation of 2 entries for dimension 3"},
		{LUConfig{Dim: 3, Perm: []int{0, 3, 1}}, "entry 1 is 3, outside [0, 3)"},
		{LUConfig{Dim: 3, Perm: []int{2, 0, 2}}, "2 appears twice (entries 0 and 2)"},
		{LUConfig{Dim: 3, Perm: []int{-1, 0, 1}}, "entry 0 is -1"},
		{LUConfig{Dim: 2, Signs: []int{1}}, "1 signs for dimension 2"},
		{LUConfig{Dim: 2, Signs: []int{1, 0}}, "sign 1 is 0, want +1 or −1"},
		{LUConfig{Dim: 2, Signs: []int{2, 1}}, "sign 0 is 2"},
	} {
		l, err := NewLULinear(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "flow: NewLULinear: ") {
			t.Errorf("NewLULinear(%+v): %v, %v; want an error containing %q", tc.cfg, l, err, tc.want)
		}
	}
}

// TestLUIdentityStart: a new layer is the identity bit for bit with the
// identity permutation and signs, and W = P·diag(signs) otherwise.
func TestLUIdentityStart(t *testing.T) {
	for _, d := range []int{1, 2, 5} {
		l := ftLU(t, LUConfig{Dim: d})
		if l.NumParams() != d*d+d {
			t.Errorf("D=%d: %d parameters, want %d", d, l.NumParams(), d*d+d)
		}
		for _, v := range l.Params() {
			if v != 0 {
				t.Fatalf("D=%d: a new layer has parameter %v", d, v)
			}
		}
		f := ftFlow(t, l)
		x := mat.NewDense(7, d, randomRows(7, d, 1))
		for name, pass := range map[string]func(dst *mat.Dense, src mat.Matrix, ld []float64){"Forward": f.Forward, "Inverse": f.Inverse} {
			var y mat.Dense
			ld := make([]float64, 7)
			pass(&y, x, ld)
			if !mat.Equal(&y, x) || maxAbsDiff(ld, make([]float64, 7)) != 0 {
				t.Errorf("D=%d: %s of a new layer is not the identity", d, name)
			}
		}
	}
	l := ftLU(t, LUConfig{Dim: 3, Perm: []int{2, 0, 1}, Signs: []int{1, -1, 1}})
	want := mat.NewDense(3, 3, []float64{0, 0, 1, 1, 0, 0, 0, -1, 0})
	if w := l.Matrix(); !mat.Equal(w, want) {
		t.Errorf("new layer with a permutation and signs: W = %v, want P·diag(1, −1, 1) = %v", mat.Formatted(w), mat.Formatted(want))
	}
}

// TestLUMatrix holds both passes to the matrix W = P·L·U they document,
// composed here entry by entry from the parameter layout and checked
// against Matrix, and the log-dets to gonum's LU log-determinant of W.
func TestLUMatrix(t *testing.T) {
	for _, d := range []int{1, 2, 3, 7} {
		f, l := luFlow(t, d, uint64(d), 0.5)
		// The layout: strict lower of L row by row, strict upper of U row
		// by row, log|u_ii|, b.
		p := l.Params()
		L, U := mat.NewDense(d, d, nil), mat.NewDense(d, d, nil)
		k := 0
		for i := 1; i < d; i++ {
			for j := 0; j < i; j++ {
				L.Set(i, j, p[k])
				k++
			}
		}
		for i := 0; i < d; i++ {
			for j := i + 1; j < d; j++ {
				U.Set(i, j, p[k])
				k++
			}
		}
		signs := l.Signs()
		for i := 0; i < d; i++ {
			L.Set(i, i, 1)
			U.Set(i, i, float64(signs[i])*math.Exp(p[k+i]))
		}
		b := p[k+d:]
		P := mat.NewDense(d, d, nil)
		for i, j := range l.Perm() {
			P.Set(i, j, 1)
		}
		var W mat.Dense
		W.Product(P, L, U)
		if !mat.EqualApprox(&W, l.Matrix(), 1e-14) {
			t.Errorf("D=%d: Matrix() = %v, want P·L·U = %v", d, mat.Formatted(l.Matrix()), mat.Formatted(&W))
		}
		if got := l.Bias(); maxAbsDiff(got, b) != 0 {
			t.Errorf("D=%d: Bias() = %v, want %v", d, got, b)
		}
		var lu mat.LU
		lu.Factorize(&W)
		wantLD, _ := lu.LogDet()
		const n = 6
		x := mat.NewDense(n, d, randomRows(n, d, 3))
		var z, want mat.Dense
		ld := make([]float64, n)
		f.Inverse(&z, x, ld)
		want.Mul(x, W.T())
		for i := 0; i < n; i++ {
			for j := 0; j < d; j++ {
				want.Set(i, j, want.At(i, j)+b[j])
			}
			if math.Abs(ld[i]-wantLD) > 1e-13*math.Max(1, math.Abs(wantLD)) {
				t.Errorf("D=%d: row %d: inverse log-det %v, log|det W| = %v", d, i, ld[i], wantLD)
			}
		}
		if !mat.EqualApprox(&z, &want, 1e-13) {
			t.Errorf("D=%d: Inverse gives %v, want W·x + b = %v", d, mat.Formatted(&z), mat.Formatted(&want))
		}
		// Forward solves W·x = z − b.
		var xs mat.Dense
		f.Forward(&xs, &z, ld)
		var sol, rhs mat.Dense
		rhs.CloneFrom(&z)
		for i := 0; i < n; i++ {
			for j := 0; j < d; j++ {
				rhs.Set(i, j, rhs.At(i, j)-b[j])
			}
			if math.Abs(ld[i]+wantLD) > 1e-13*math.Max(1, math.Abs(wantLD)) {
				t.Errorf("D=%d: row %d: forward log-det %v, −log|det W| = %v", d, i, ld[i], -wantLD)
			}
		}
		if err := sol.Solve(&W, rhs.T()); err != nil {
			t.Fatal(err)
		}
		if !mat.EqualApprox(&xs, sol.T(), 1e-12) {
			t.Errorf("D=%d: Forward gives %v, want W⁻¹(z − b) = %v", d, mat.Formatted(&xs), mat.Formatted(sol.T()))
		}
	}
}

func TestLULogDet(t *testing.T) {
	for _, d := range []int{1, 2, 3, 6} {
		for _, seed := range []uint64{0, 7} {
			_, l := luFlow(t, d, seed, 0.4)
			checkLayerLogDets(t, fmt.Sprintf("D=%d/seed=%d", d, seed), l, randomRows(3, d, 9), 1e-7)
			checkLayerLogDets(t, fmt.Sprintf("inverted/D=%d/seed=%d", d, seed), Invert(l), randomRows(3, d, 9), 1e-7)
		}
	}
}

func TestLURoundTrip(t *testing.T) {
	for d := 1; d <= 9; d++ {
		for _, seed := range []uint64{0, uint64(d)} {
			f, _ := luFlow(t, d, seed, 0.3)
			roundTrip(t, fmt.Sprintf("lu/D=%d/seed=%d", d, seed), f, 70, 1e-12)
		}
		// A deeper flow: LU layers between affine couplings.
		if d >= 2 {
			var layers []Layer
			for k := 0; k < 4; k++ {
				layers = append(layers, ftLU(t, luConfig(d, uint64(10*d+k))),
					ftCoupling(t, CouplingConfig{Mask: EvenOddMask(d, k%2 == 1), Hidden: []int{16}, Activation: Tanh, Func: Affine{Clamp: 2}, Seed: uint64(k)}))
			}
			f := ftFlow(t, layers...)
			randomizeParams(f, 0.15, uint64(d))
			roundTrip(t, fmt.Sprintf("lu-coupling/D=%d", d), f, 70, 1e-12)
		}
	}
}

// TestLUGradients checks every parameter's gradient, for maximum
// likelihood (through Inverse) and reverse KL (through Forward), against
// finite differences, alone, inverted and mixed with coupling and MAF
// layers.
func TestLUGradients(t *testing.T) {
	for _, d := range []int{1, 2, 3, 5} {
		for _, seed := range []uint64{0, 3} {
			f, l := luFlow(t, d, seed, 0.4)
			checkFlowGrads(t, fmt.Sprintf("lu/D=%d/seed=%d", d, seed), f, true, true)
			g := ftFlow(t, Invert(l))
			checkFlowGrads(t, fmt.Sprintf("inverted-lu/D=%d/seed=%d", d, seed), g, true, true)
		}
	}
	d := 4
	mixed := ftFlow(t,
		ftLU(t, luConfig(d, 1)),
		ftCoupling(t, CouplingConfig{Mask: HalfMask(d, false), Hidden: []int{6}, Activation: Tanh}),
		ftLU(t, luConfig(d, 2)),
		ftCoupling(t, CouplingConfig{Mask: EvenOddMask(d, true), Hidden: []int{5}, Activation: ReLU, Func: Affine{Clamp: 2}}),
		Invert(ftLU(t, luConfig(d, 3))),
	)
	randomizeParams(mixed, 0.4, 8)
	checkFlowGrads(t, "lu-coupling", mixed, true, true)
	maf := ftFlow(t,
		ftLU(t, luConfig(d, 4)),
		ftMAF(t, AutoregressiveConfig{Dim: d, Hidden: []int{6}, Activation: Tanh, Order: ReversedOrder}),
		ftLU(t, luConfig(d, 5)),
		ftMAF(t, AutoregressiveConfig{Dim: d, Hidden: []int{5}, Activation: ReLU, Clamp: 2}),
	)
	randomizeParams(maf, 0.4, 9)
	checkFlowGrads(t, "lu-maf", maf, true, false)
	iaf := ftFlow(t,
		ftIAF(t, AutoregressiveConfig{Dim: d, Hidden: []int{6}, Activation: Tanh}),
		ftLU(t, luConfig(d, 6)),
	)
	randomizeParams(iaf, 0.4, 10)
	checkFlowGrads(t, "lu-iaf", iaf, false, true)
}

// TestLUParallelDeterminism: training a flow with LU layers gives the same
// parameters, bit for bit, with 1, 2, 3 and 8 goroutines.
func TestLUParallelDeterminism(t *testing.T) {
	d := 3
	f := ftFlow(t,
		ftLU(t, luConfig(d, 1)),
		ftCoupling(t, CouplingConfig{Mask: EvenOddMask(d, false), Hidden: []int{16}, Activation: Tanh, Seed: 1}),
		ftLU(t, luConfig(d, 2)),
		ftCoupling(t, CouplingConfig{Mask: EvenOddMask(d, true), Hidden: []int{16}, Activation: Tanh, Seed: 2}),
	)
	randomizeParams(f, 0.2, 3)
	checkDeterminism(t, "lu/ml", f, false, 1, 2, 3, 8)
	checkDeterminism(t, "lu/kl", f, true, 1, 2, 3, 8)
}

// TestLUAllocs: steady-state training, LogProb and Sample of a flow with LU
// layers allocate nothing.
func TestLUAllocs(t *testing.T) {
	checkLayerAllocs(t, func(d int) []Layer {
		return []Layer{
			ftLU(t, luConfig(d, 1)),
			ftCoupling(t, CouplingConfig{Mask: HalfMask(d, false), Hidden: []int{8}, Activation: ReLU}),
			Invert(ftLU(t, luConfig(d, 2))),
		}
	})
}

// checkLayerAllocs requires steady-state training by both objectives,
// LogProb, Sample and Forward of the flow of the layers that build gives for
// D = 5 to allocate nothing.
func checkLayerAllocs(t *testing.T, build func(d int) []Layer) {
	t.Helper()
	if testing.CoverMode() != "" || raceEnabled {
		t.Log("allocation counts are not meaningful under -race or -cover")
		return
	}
	f := ftFlow(t, build(5)...)
	randomizeParams(f, 0.1, 1)
	x := mat.NewDense(300, 5, randomRows(300, 5, 1))
	grad := make([]float64, f.NumParams())
	ml := NewMaxLikelihood(f, 2, 64)
	kl := NewReverseKL(f, banana, 2, 64)
	opt := NewAdam(1e-3)
	lp := make([]float64, 300)
	rnd := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"MaxLikelihood", func() { ml.LossGrad(grad, x); opt.Step(f.Params(), grad) }},
		{"ReverseKL", func() { kl.LossGrad(grad, x) }},
		{"LogProb", func() { f.LogProb(lp, x) }},
		{"Sample", func() { f.Sample(x, lp, rnd) }},
		{"Forward", func() { f.Forward(x, x, lp) }},
	} {
		tc.fn()
		if a := testing.AllocsPerRun(50, tc.fn); a > 0 {
			t.Errorf("%s: %v allocations per call in steady state", tc.name, a)
		}
	}
}

// TestLUWrongWidthPanics: a batch of the wrong shape is a caller's mistake,
// named in the panic.
func TestLUWrongWidthPanics(t *testing.T) {
	l := ftLU(t, LUConfig{Dim: 3})
	work := make([]float64, l.WorkLen(2))
	for name, pass := range map[string]func(){
		"LULinear.Forward": func() { l.Forward(make([]float64, 6), make([]float64, 5), nil, make([]float64, 2), work) },
		"LULinear.Inverse": func() { l.Inverse(make([]float64, 4), make([]float64, 6), nil, make([]float64, 2), work) },
	} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, "flow: "+name+": buffer of length") {
					t.Errorf("%s: panic %q", name, msg)
				}
			}()
			pass()
		}()
	}
}
