// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow_test

import (
	"fmt"
	"log"
	"math"
	"math/rand/v2"

	"github.com/nfgo/flow"
)

// Train a MAF in float32, then score held-out data with its float32 copy
// and with the float64 flow of the same parameters.
func ExampleFlow_Float32() {
	rnd := rand.New(rand.NewPCG(1, 2))
	train := flow.TwoMoons(2000, 0.1, rnd)
	test := flow.TwoMoons(1000, 0.1, rnd)

	f, err := flow.NewMAFFlow(flow.AutoregressiveFlowConfig{Dim: 2, Layers: 4, Hidden: []int{32, 32}, Activation: flow.ReLU, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	mean := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	before := mean(f.LogProb(nil, test))
	// Fit trains the flow's float32 copy and leaves its float32 parameters
	// in f, exactly: f is then the float64 flow of a float32 one.
	_, err = flow.Fit(f, train, flow.TrainConfig{Epochs: 10, BatchSize: 128, LearningRate: 3e-3, Seed: 1, Precision: flow.Float32})
	if err != nil {
		log.Fatal(err)
	}
	g, err := f.Float32()
	if err != nil {
		log.Fatal(err)
	}
	lp32 := g.LogProb(nil, test)
	lp64 := f.LogProb(nil, test)
	worst := 0.0
	for i := range lp64 {
		worst = math.Max(worst, math.Abs(lp32[i]-lp64[i])/(math.Abs(lp64[i])+1))
	}
	fmt.Println("float32 log p within 1e-4 of float64's:", worst < 1e-4)
	fmt.Println("training raised the held-out log-likelihood by more than 0.3:", mean(lp32)-before > 0.3)

	// Back to a float64 flow of its own, with the same values.
	h, err := g.Float64()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("parameters:", h.NumParams() == f.NumParams())
	// Output:
	// float32 log p within 1e-4 of float64's: true
	// training raised the held-out log-likelihood by more than 0.3: true
	// parameters: true
}
