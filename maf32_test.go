// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The affine MAF has the float32 passes of layer32.
var _ layer32 = (*MAF)(nil)

// maf32Configs are the MAF layers whose float32 path the tests compare with
// the float64 one: both activations, with and without a context and a
// clamp, small and larger D, one and two hidden layers, none, and residual
// MADEs, with random orders and degrees.
var maf32Configs = []AutoregressiveConfig{
	{Dim: 3, Hidden: []int{16, 16}, Activation: ReLU},
	{Dim: 3, Hidden: []int{16, 16}, Activation: Tanh, ContextDim: 2, Clamp: 1.5},
	{Dim: 10, Hidden: []int{40}, Activation: ReLU, Clamp: 2, Order: RandomOrder, Degrees: RandomDegrees},
	{Dim: 10, Hidden: []int{40}, Activation: Tanh, ContextDim: 3},
	{Dim: 10, Hidden: []int{16, 16}, Activation: ReLU, ContextDim: 4, Order: ReversedOrder, Degrees: RandomDegrees},
	{Dim: 1, Hidden: []int{8}, Activation: Tanh, ContextDim: 2},
	{Dim: 4, Activation: ReLU, ContextDim: 2, Clamp: 1},
	{Dim: 5, Hidden: []int{24}, Activation: ReLU, ResidualBlocks: 2, Order: RandomOrder},
	{Dim: 10, Hidden: []int{40}, Activation: Tanh, ResidualBlocks: 1, ContextDim: 3, Clamp: 1, Degrees: RandomDegrees},
}

// maf32Rows are the row counts of the comparisons.
var maf32Rows = []int{1, 7, 37}

// maf32Name names a configuration in the tests' messages.
func maf32Name(c AutoregressiveConfig) string {
	return fmt.Sprintf("D=%d,C=%d,hidden=%v,R=%d,%v,clamp=%v,%v", c.Dim, c.ContextDim, c.Hidden, c.ResidualBlocks, c.Activation, c.Clamp, c.Order)
}

// newMAF32 returns the MAF layer of cfg with every parameter (the zero
// output layer and the masked weights included) moved by up to ±0.3 and
// then rounded to float32, and its parameters in float32.
func newMAF32(t *testing.T, cfg AutoregressiveConfig, seed uint64) (*MAF, []float32) {
	t.Helper()
	cfg.Seed = seed
	l, err := NewMAF(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(seed, 32))
	p := l.Params()
	for i := range p {
		p[i] += 0.3 * (2*rnd.Float64() - 1)
	}
	round32(p)
	if why := l.why32(); why != "" {
		t.Fatalf("%s: why32 %q, want \"\"", maf32Name(cfg), why)
	}
	return l, to32(p)
}

// rows32 returns n×d normal values rounded to float32.
func rows32(n, d int, seed uint64) []float64 {
	v := randomRows(n, d, seed)
	round32(v)
	return v
}

// TestMAF32Passes compares the float32 Inverse (one pass) and Forward
// (sequential) of MAF layers with the float64 ones on the same float32
// parameters and inputs: the outputs and log-dets within 10⁻⁴ in the
// log-density measure; and the MADE passes each direction counts.
func TestMAF32Passes(t *testing.T) {
	for ci, cfg := range maf32Configs {
		l, p32 := newMAF32(t, cfg, uint64(100+ci))
		d, nc := cfg.Dim, cfg.ContextDim
		for _, n := range maf32Rows {
			name := fmt.Sprintf("%s,n=%d", maf32Name(cfg), n)
			seed := uint64(1000*ci + n)
			in := rows32(n, d, seed)
			ctx := rows32(n, nc, seed+1)
			ld0 := rows32(n, 1, seed+2)
			if nc == 0 {
				ctx = nil
			}
			for _, dir := range []string{"Inverse", "Forward"} {
				out64, ld64 := make([]float64, n*d), append([]float64(nil), ld0...)
				out32, ld32 := make([]float32, n*d), to32(ld0)
				work64, work32 := make([]float64, l.WorkLen(n)), make([]float32, l.WorkLen(n))
				before := l.madePasses()
				if dir == "Inverse" {
					l.Inverse(out64, in, ctx, ld64, work64)
				} else {
					l.Forward(out64, in, ctx, ld64, work64)
				}
				mid := l.madePasses()
				if dir == "Inverse" {
					l.inverse32(p32, out32, to32(in), to32(ctx), ld32, work32)
				} else {
					l.forward32(p32, out32, to32(in), to32(ctx), ld32, work32)
				}
				if got, want := l.madePasses()-mid, mid-before; got != want {
					t.Errorf("%s: %s: float32 pass counted %d MADE passes, float64 %d", name, dir, got, want)
				}
				if i := logpBad(to64(out32), out64, 1e-4); i >= 0 {
					t.Errorf("%s: %s: output %d: float32 %v, float64 %v", name, dir, i, out32[i], out64[i])
				}
				if i := logpBad(to64(ld32), ld64, 1e-4); i >= 0 {
					t.Errorf("%s: %s: log-det %d: float32 %v, float64 %v", name, dir, i, ld32[i], ld64[i])
				}
			}
		}
	}
}

// TestMAF32InverseBackward compares the float32 InverseBackward of MAF
// layers with the float64 one after the same Inverse: ∂L/∂x, ∂L/∂c and
// ∂L/∂θ within 10⁻³ in the mixed measure, for a random ∂L/∂z and
// ∂L/∂logdet = −1 (the negative log-likelihood's). The gradients are added
// into nonzero vectors, so that a pass that writes in place of adding fails.
func TestMAF32InverseBackward(t *testing.T) {
	for ci, cfg := range maf32Configs {
		l, p32 := newMAF32(t, cfg, uint64(200+ci))
		d, nc, np := cfg.Dim, cfg.ContextDim, l.NumParams()
		for _, n := range maf32Rows {
			name := fmt.Sprintf("%s,n=%d", maf32Name(cfg), n)
			seed := uint64(1000*ci + n)
			x := rows32(n, d, seed)
			var ctx, dc64 []float64
			var dc32 []float32
			if nc > 0 {
				ctx = rows32(n, nc, seed+1)
				dc64 = rows32(n, nc, seed+2)
				dc32 = to32(dc64)
			}
			dz := rows32(n, d, seed+3)
			dld := make([]float64, n)
			for i := range dld {
				dld[i] = -1
			}
			grad64 := rows32(1, np, seed+4)
			grad32 := to32(grad64)

			z64, ld64, work64 := make([]float64, n*d), make([]float64, n), make([]float64, l.WorkLen(n))
			l.Inverse(z64, x, ctx, ld64, work64)
			dx64 := make([]float64, n*d)
			l.InverseBackward(dx64, dc64, dz, dld, x, z64, ctx, work64, grad64)

			x32, ctx32 := to32(x), to32(ctx)
			z32, ld32, work32 := make([]float32, n*d), make([]float32, n), make([]float32, l.WorkLen(n))
			l.inverse32(p32, z32, x32, ctx32, ld32, work32)
			dx32 := make([]float32, n*d)
			l.inverseBackward32(p32, dx32, dc32, to32(dz), to32(dld), x32, z32, ctx32, work32, grad32)

			if i := mixedBad(to64(dx32), dx64, 1e-3); i >= 0 {
				t.Errorf("%s: ∂L/∂x[%d]: float32 %v, float64 %v", name, i, dx32[i], dx64[i])
			}
			if i := mixedBad(to64(dc32), dc64, 1e-3); i >= 0 {
				t.Errorf("%s: ∂L/∂c[%d]: float32 %v, float64 %v", name, i, dc32[i], dc64[i])
			}
			if i := mixedBad(to64(grad32), grad64, 1e-3); i >= 0 {
				t.Errorf("%s: ∂L/∂θ[%d]: float32 %v, float64 %v", name, i, grad32[i], grad64[i])
			}
		}
	}
}

// TestMAF32Dropout compares, for the residual MADEs, the one pass and its
// backward with dropout in float32 (arOnePass, arOnePassBackward) with the
// float64 inverseDrop and inverseBackwardDrop: the masks are the same hash,
// so the tolerances are those without dropout.
func TestMAF32Dropout(t *testing.T) {
	dr := dropState{on: true, p: 0.25, seed: 7, step: 3, row0: 5}.forLayer(1)
	for ci, cfg := range maf32Configs {
		if cfg.ResidualBlocks == 0 {
			continue
		}
		l, p32 := newMAF32(t, cfg, uint64(300+ci))
		d, nc, np := cfg.Dim, cfg.ContextDim, l.NumParams()
		const n = 37
		name := maf32Name(cfg)
		x := rows32(n, d, uint64(ci))
		var ctx []float64
		if nc > 0 {
			ctx = rows32(n, nc, uint64(ci)+1)
		}
		dz := rows32(n, d, uint64(ci)+2)
		dld := make([]float64, n)
		for i := range dld {
			dld[i] = -1
		}
		z64, ld64, work64 := make([]float64, n*d), make([]float64, n), make([]float64, l.WorkLen(n))
		dx64, grad64 := make([]float64, n*d), make([]float64, np)
		l.inverseDrop(z64, x, ctx, ld64, work64, dr)
		l.inverseBackwardDrop(dx64, nil, dz, dld, x, z64, ctx, work64, grad64, dr)

		z32, ld32, work32 := make([]float32, n*d), make([]float32, n), make([]float32, l.WorkLen(n))
		dx32, grad32 := make([]float32, n*d), make([]float32, np)
		arOnePass(&l.arLayer, p32, z32, to32(x), to32(ctx), ld32, work32, false, dr)
		arOnePassBackward(&l.arLayer, p32, dx32, nil, to32(dz), to32(dld), work32, grad32, false, dr)

		// Without dropout the outputs differ: the comparison sees the masks.
		zPlain, ldPlain := make([]float64, n*d), make([]float64, n)
		l.Inverse(zPlain, x, ctx, ldPlain, make([]float64, l.WorkLen(n)))
		if logpBad(z64, zPlain, 1e-4) < 0 {
			t.Errorf("%s: dropout changes no output", name)
		}
		if i := logpBad(to64(z32), z64, 1e-4); i >= 0 {
			t.Errorf("%s: output %d: float32 %v, float64 %v", name, i, z32[i], z64[i])
		}
		if i := logpBad(to64(ld32), ld64, 1e-4); i >= 0 {
			t.Errorf("%s: log-det %d: float32 %v, float64 %v", name, i, ld32[i], ld64[i])
		}
		if i := mixedBad(to64(dx32), dx64, 1e-3); i >= 0 {
			t.Errorf("%s: ∂L/∂x[%d]: float32 %v, float64 %v", name, i, dx32[i], dx64[i])
		}
		if i := mixedBad(to64(grad32), grad64, 1e-3); i >= 0 {
			t.Errorf("%s: ∂L/∂θ[%d]: float32 %v, float64 %v", name, i, grad32[i], grad64[i])
		}
	}
}

// TestMAF32Why: why32 accepts every MAF layer, affine and spline, with a
// plain and a residual MADE, and Flow.Float32 a flow of spline MAF layers.
func TestMAF32Why(t *testing.T) {
	spl, err := NewRQSpline(4, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []AutoregressiveConfig{
		{Dim: 3, Hidden: []int{4}},
		{Dim: 3, Hidden: []int{4}, ResidualBlocks: 1},
		{Dim: 3, Hidden: []int{4}, ContextDim: 2, Clamp: 1},
		{Dim: 3, Hidden: []int{4}, Spline: &spl},
		{Dim: 3, Hidden: []int{4}, Spline: &spl, ResidualBlocks: 1, ContextDim: 2},
	} {
		l, err := NewMAF(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if why := l.why32(); why != "" {
			t.Errorf("%s, spline %v: why32 %q, want \"\"", maf32Name(cfg), cfg.Spline != nil, why)
		}
	}
	f, err := NewMAFFlow(AutoregressiveFlowConfig{Dim: 3, Layers: 2, Hidden: []int{4}, Spline: &spl})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Float32(); err != nil {
		t.Errorf("a spline MAF flow: Float32: %v", err)
	}
}
