// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// glowRows returns n×d normal rows with column j of mean mean_j and
// standard deviation sd_j drawn from rnd (means in ±5, deviations from
// 0.05 to 20), for an ActNorm's initialisation far from the identity.
func glowRows(n, d int, rnd *rand.Rand) *mat.Dense {
	mean, sd := make([]float64, d), make([]float64, d)
	for j := range mean {
		mean[j] = 10 * (rnd.Float64() - 0.5)
		sd[j] = 0.05 * float64(int(1)<<rnd.IntN(9))
	}
	x := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			x.Set(i, j, mean[j]+sd[j]*rnd.NormFloat64())
		}
	}
	return x
}

// TestActNorm32 checks ActNorm's float32 passes against its float64 ones
// on the same parameters: initialised on data of spread-out means and
// scales, and with random parameters.
func TestActNorm32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 11))
	for _, d := range []int{1, 3, 8, 17} {
		a := ftActNorm(t, d)
		if k, err := InitActNorm(ftFlow(t, a), glowRows(200, d, rnd), nil); k != 1 || err != nil {
			t.Fatalf("D=%d: InitActNorm: %d, %v", d, k, err)
		}
		round32(a.Params())
		for _, n := range []int{1, 7, 37} {
			checkLayer32(t, fmt.Sprintf("actnorm/init/D=%d/n=%d", d, n), a, n, rnd)
		}
		perturb(a.Params(), 2, rnd)
		checkLayer32(t, fmt.Sprintf("actnorm/random/D=%d", d), a, 37, rnd)
	}
}

// TestLU32 checks the LU layer's float32 passes against its float64 ones
// on the same parameters: random permutations and signs, random L and U
// (their strict parts in ±0.3), log|u_ii| in ±1, random bias, on row
// counts below, at and across the products' tiles.
func TestLU32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 12))
	for _, d := range []int{1, 2, 5, 12, 24} {
		signs := make([]int, d)
		for i := range signs {
			signs[i] = 1 - 2*rnd.IntN(2)
		}
		l := ftLU(t, LUConfig{Dim: d, Perm: rnd.Perm(d), Signs: signs})
		perturb(l.lower(), 0.3, rnd)
		perturb(l.upper(), 0.3, rnd)
		perturb(l.logDiag(), 1, rnd)
		perturb(l.bias(), 2, rnd)
		for _, n := range []int{1, 7, 37} {
			checkLayer32(t, fmt.Sprintf("lu/D=%d/n=%d", d, n), l, n, rnd)
		}
	}
}

// TestGlow32 checks float32 flows of Glow's steps (ActNorm, LU, affine
// coupling), initialised on data first, against the float64 flows of the
// same parameters (checkFlow32), unconditional and conditional.
func TestGlow32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 13))
	for _, tc := range []struct{ d, c, steps int }{{4, 0, 3}, {6, 0, 2}, {5, 2, 2}} {
		var layers []Layer
		for k := 0; k < tc.steps; k++ {
			layers = append(layers, ftActNorm(t, tc.d), ftLU(t, luConfig(tc.d, uint64(10+k))),
				ftCoupling(t, CouplingConfig{Mask: HalfMask(tc.d, k%2 == 1), Hidden: []int{16, 16}, Activation: ReLU, ContextDim: tc.c, Seed: uint64(k)}))
		}
		f := ftFlow(t, layers...)
		var c mat.Matrix
		if tc.c > 0 {
			c = mat.NewDense(300, tc.c, randRows(300, tc.c, rnd))
		}
		if k, err := InitActNorm(f, glowRows(300, tc.d, rnd), c); k != tc.steps || err != nil {
			t.Fatalf("InitActNorm: %d, %v", k, err)
		}
		checkFlow32(t, fmt.Sprintf("glow D=%d/C=%d/steps=%d", tc.d, tc.c, tc.steps), f, rnd)
	}
}

// TestGlow32Refuses: Float32 refuses a flow with an ActNorm layer not yet
// initialised, naming the layer, and makes its copy once it is.
func TestGlow32Refuses(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 14))
	a := ftActNorm(t, 3)
	f := ftFlow(t, ftLU(t, luConfig(3, 1)), a)
	if _, err := f.Float32(); err == nil || !strings.Contains(err.Error(), "flow: Flow.Float32: layer 1: ActNorm is not initialised") {
		t.Errorf("an ActNorm not initialised: error %v", err)
	}
	if _, err := InitActNorm(f, glowRows(50, 3, rnd), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Float32(); err != nil {
		t.Errorf("an initialised ActNorm: error %v", err)
	}
}

// TestFit32ActNorm: Fit in float32 initialises the flow's ActNorm layers
// (in float64, on the first minibatch) and trains the float32 copy of the
// initialised flow; the flow it leaves holds float32 values even when the
// initial parameters are restored (a learning rate that only makes things
// worse, so that BestEpoch is 0, or diverges).
func TestFit32ActNorm(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 15))
	train, valid := glowRows(400, 2, rnd), glowRows(100, 2, rnd)
	for _, lr := range []float64{3e-3, 10} {
		a := ftActNorm(t, 2)
		f := ftFlow(t, a, ftLU(t, luConfig(2, 3)),
			ftCoupling(t, CouplingConfig{Mask: HalfMask(2, false), Hidden: []int{16}, Activation: Tanh, Seed: 1}))
		res, err := Fit(f, train, TrainConfig{Epochs: 2, StepsPerEpoch: 5, BatchSize: 64, LearningRate: lr, Validation: valid, Seed: 1, Precision: Float32})
		if err != nil && !(lr == 10 && errors.Is(err, ErrNonFinite)) {
			t.Fatalf("lr %v: %v", lr, err)
		}
		if !a.Initialized() {
			t.Errorf("lr %v: the ActNorm is not initialised after Fit", lr)
		}
		if lr == 10 && res.BestEpoch != 0 {
			t.Errorf("lr %v: best epoch %d, want 0 (the initial parameters)", lr, res.BestEpoch)
		}
		for i, v := range f.Params() {
			if v != float64(float32(v)) {
				t.Fatalf("lr %v: after float32 training parameter %d is %v, not a float32 value", lr, i, v)
			}
		}
		if s := a.LogScale(); s[0] == 0 && s[1] == 0 {
			t.Errorf("lr %v: the ActNorm's log-scale is still 0", lr)
		}
	}
}
