// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The spline has the float32 row methods of a coupling function.
var _ couplingFuncT[float32] = rqsplineOf[float32]{}

// TestSplineFlow32 checks whole spline flows in float32 against float64
// (checkFlow32: log p, the maximum-likelihood loss and gradient, the round
// trip and the conversion back): neural spline flows with coupling layers
// and with MAF layers, with a context and residual conditioners.
func TestSplineFlow32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 103))
	for _, cfg := range []NSFConfig{
		{Dim: 5, Layers: 3, Hidden: []int{24, 24}, Activation: ReLU, Seed: 1},
		{Dim: 4, Layers: 2, Hidden: []int{16}, Activation: Tanh, Bins: 5, Bound: 2, ContextDim: 2, Seed: 2},
		{Dim: 6, Layers: 2, Hidden: []int{16}, Activation: ReLU, Bins: 3, Bound: 1.5, ResidualBlocks: 1, Seed: 3},
	} {
		f, err := NewNSF(cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkFlow32(t, fmt.Sprintf("nsf D=%d/K=%d/C=%d/R=%d", cfg.Dim, cfg.Bins, cfg.ContextDim, cfg.ResidualBlocks), f, rnd)
	}
	for _, s := range []RQSpline{
		{Bins: 8, Bound: 3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3},
		{Bins: 4, Bound: 1.5, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3},
	} {
		name := fmt.Sprintf("K=%d,B=%v", s.Bins, s.Bound)
		for _, cfg := range []AutoregressiveFlowConfig{
			{Dim: 5, Layers: 3, Hidden: []int{24, 24}, Activation: ReLU, Seed: 1},
			{Dim: 4, Layers: 2, Hidden: []int{16}, Activation: Tanh, ContextDim: 3, RandomOrders: true, Seed: 2},
			{Dim: 3, Layers: 2, Hidden: []int{16}, Activation: ReLU, ResidualBlocks: 1, Seed: 3},
		} {
			cfg.Spline = &s
			f, err := NewMAFFlow(cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkFlow32(t, fmt.Sprintf("nsf-ar %s D=%d/C=%d/R=%d", name, cfg.Dim, cfg.ContextDim, cfg.ResidualBlocks), f, rnd)
		}
	}
}
