// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow_test

import (
	"context"
	"fmt"
	"log"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// Fit a masked autoregressive flow to two moons by maximum likelihood. Its
// log-density takes one MADE pass per layer; sampling takes D sequential
// positions per layer.
func ExampleNewMAFFlow() {
	rnd := rand.New(rand.NewPCG(1, 2))
	train := flow.TwoMoons(2000, 0.1, rnd)
	test := flow.TwoMoons(1000, 0.1, rnd)

	// Five MAF layers, their orders alternating natural and reversed.
	f, err := flow.NewMAFFlow(flow.AutoregressiveFlowConfig{
		Dim: 2, Layers: 5, Hidden: []int{32, 32}, Activation: flow.Tanh, Clamp: 3, Seed: 1,
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = flow.Fit(f, train, flow.TrainConfig{Epochs: 30, BatchSize: 128, LearningRate: 3e-3, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	g, err := flow.FitGaussian(train)
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
	gain := mean(f.LogProb(nil, test)) - mean(g.LogProb(nil, test))
	fmt.Println("the MAF beats the Gaussian by more than half a nat:", gain > 0.5)

	// The layers' MADEs, for a model file: order, degrees, masks and
	// weights in the export layout (out×in, zeros where masked).
	made := f.Layers()[1].(*flow.MAF).MADE()
	fmt.Println("order", made.Order(), "input degrees", made.InputDegrees())
	fmt.Println("output mask:", mat.Formatted(made.Mask(made.NumLayers()-1).Slice(0, 4, 0, 4)))
	// Output:
	// the MAF beats the Gaussian by more than half a nat: true
	// order [1 0] input degrees [2 1]
	// output mask: ⎡1  1  1  1⎤
	// ⎢0  0  0  0⎥
	// ⎢1  1  1  1⎥
	// ⎣0  0  0  0⎦
}

// Fit an inverse autoregressive flow to an unnormalised density by reverse
// KL (variational inference): sampling, which training differentiates,
// takes one MADE pass per layer. The target is the banana
// log π(x) = −x₁²/8 − (x₂ − x₁²/4)²/2, whose normalising constant is 4π.
func ExampleNewIAFFlow() {
	banana := func(grad, x []float64) float64 {
		u := x[1] - x[0]*x[0]/4
		grad[0] = -x[0]/4 + u*x[0]/2
		grad[1] = -u
		return -x[0]*x[0]/8 - u*u/2
	}
	f, err := flow.NewIAFFlow(flow.AutoregressiveFlowConfig{
		Dim: 2, Layers: 4, Hidden: []int{32, 32}, Activation: flow.Tanh, Clamp: 3, Seed: 1,
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = flow.FitReverseKL(context.Background(), f, banana, flow.TrainConfig{Epochs: 10, StepsPerEpoch: 100, LearningRate: 3e-3})
	if err != nil {
		log.Fatal(err)
	}
	elbo, _ := flow.ELBO(f, banana, 20000, rand.New(rand.NewPCG(1, 1)))
	fmt.Println("ELBO within 0.1 nats of log Z:", math.Log(4*math.Pi)-elbo < 0.1)
	// Output:
	// ELBO within 0.1 nats of log Z: true
}
