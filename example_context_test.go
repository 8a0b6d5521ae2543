// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow_test

import (
	"fmt"
	"log"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// ExampleFlow_SampleEach fits a conditional Real NVP to x = (c + 0.1·ε₁, ε₂)
// and scores and samples it given contexts.
func ExampleFlow_SampleEach() {
	rnd := rand.New(rand.NewPCG(1, 2))
	const n = 2000
	x, c := mat.NewDense(n, 2, nil), mat.NewDense(n, 1, nil)
	for i := 0; i < n; i++ {
		v := rnd.NormFloat64()
		c.Set(i, 0, v)
		x.Set(i, 0, v+0.1*rnd.NormFloat64())
		x.Set(i, 1, rnd.NormFloat64())
	}
	f, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: 2, ContextDim: 1, Layers: 4, Hidden: []int{16}, Activation: flow.Tanh, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	// The context of row i of x is row i of c.
	if _, err := flow.Fit(f, x, flow.TrainConfig{Epochs: 20, BatchSize: 128, LearningRate: 3e-3, Context: c, Seed: 1}); err != nil {
		log.Fatal(err)
	}

	at := mat.NewDense(2, 2, []float64{1, 0, 1, 0})
	lp := f.LogProbGiven(nil, at, mat.NewDense(2, 1, []float64{1, -1}))
	fmt.Println("log p(x | c = 1) > log p(x | c = -1) at x = (1, 0):", lp[0] > lp[1])

	cs := mat.NewDense(3, 1, []float64{-1, 0, 1})
	const k = 200
	var s mat.Dense
	f.SampleEach(&s, nil, cs, k, rnd) // row i·k+j is sample j of context i
	r, cols := s.Dims()
	fmt.Printf("3 contexts × %d samples: %d×%d\n", k, r, cols)
	for i := 0; i < 3; i++ {
		m := 0.0
		for j := 0; j < k; j++ {
			m += s.At(i*k+j, 0)
		}
		fmt.Printf("c = %g: mean of x₀ within 0.1 of c: %v\n", cs.At(i, 0), math.Abs(m/k-cs.At(i, 0)) < 0.1)
	}
	// Output:
	// log p(x | c = 1) > log p(x | c = -1) at x = (1, 0): true
	// 3 contexts × 200 samples: 600×2
	// c = -1: mean of x₀ within 0.1 of c: true
	// c = 0: mean of x₀ within 0.1 of c: true
	// c = 1: mean of x₀ within 0.1 of c: true
}
