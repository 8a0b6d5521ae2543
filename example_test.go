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

// Fit a Real NVP to two moons by maximum likelihood and compare its held-out
// log-likelihood with the best full-covariance Gaussian's.
func Example() {
	rnd := rand.New(rand.NewPCG(1, 2))
	train := flow.TwoMoons(2000, 0.1, rnd)
	test := flow.TwoMoons(1000, 0.1, rnd)

	f, err := flow.NewRealNVP(flow.RealNVPConfig{
		Dim: 2, Layers: 6, Hidden: []int{32, 32}, Activation: flow.Tanh, Clamp: 3, Seed: 1,
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
	fmt.Println("the flow beats the Gaussian by more than half a nat:", gain > 0.5)

	// Draw samples with their log-densities.
	x := mat.NewDense(5, 2, nil)
	logq := make([]float64, 5)
	f.Sample(x, logq, rnd)
	fmt.Println("samples:", x.RawMatrix().Rows)
	// Output:
	// the flow beats the Gaussian by more than half a nat: true
	// samples: 5
}

// Fit a Real NVP to an unnormalised density by reverse KL (variational
// inference): the banana log π(x) = −x₁²/8 − (x₂ − x₁²/4)²/2, whose
// normalising constant is 4π.
func ExampleFitReverseKL() {
	banana := func(grad, x []float64) float64 {
		u := x[1] - x[0]*x[0]/4
		grad[0] = -x[0]/4 + u*x[0]/2
		grad[1] = -u
		return -x[0]*x[0]/8 - u*u/2
	}
	f, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: 2, Layers: 4, Hidden: []int{32, 32}, Activation: flow.Tanh, Clamp: 3})
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

// A flow's layers are listed from the base to the data: New(C, B, A) is
// x = A(B(C(z))).
func ExampleNew() {
	c, _ := flow.NewCoupling(flow.CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{8}})
	rev, _ := flow.NewReverse(3)
	a, _ := flow.NewCoupling(flow.CouplingConfig{Mask: []bool{false, true, false}, Hidden: []int{8}, Func: flow.Additive{}})
	f, err := flow.New(c, rev, a)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("dimension", f.Dim(), "parameters", f.NumParams())
	// A new coupling layer is the identity: its conditioner's last layer
	// starts at zero. So this flow is the reversal.
	var x mat.Dense
	f.Forward(&x, mat.NewDense(1, 3, []float64{1, 2, 3}), nil)
	fmt.Println(x.RawRowView(0))
	// Output:
	// dimension 3 parameters 76
	// [3 2 1]
}

// Train a flow with BatchNorm layers by hand, then store the statistics of
// the whole training set for evaluation, as Fit does at its end.
func ExampleSetBatchNormStats() {
	rnd := rand.New(rand.NewPCG(1, 2))
	train := flow.TwoMoons(1000, 0.1, rnd)
	var layers []flow.Layer
	for l := 0; l < 2; l++ {
		c, err := flow.NewCoupling(flow.CouplingConfig{Mask: flow.HalfMask(2, l%2 == 1), Hidden: []int{16}, Activation: flow.Tanh, Seed: uint64(l)})
		if err != nil {
			log.Fatal(err)
		}
		b, err := flow.NewBatchNorm(2, 0) // ε = 1e-5
		if err != nil {
			log.Fatal(err)
		}
		layers = append(layers, c, b)
	}
	f, err := flow.New(layers...)
	if err != nil {
		log.Fatal(err)
	}
	// Each step normalises by the minibatch's own statistics.
	obj := flow.NewMaxLikelihood(f, 0, 0)
	opt := flow.NewAdam(1e-3)
	grad := make([]float64, f.NumParams())
	for step := 0; step < 20; step++ {
		batch := train.Slice(50*step, 50*step+50, 0, 2)
		obj.LossGrad(grad, batch)
		opt.Step(f.Params(), grad)
	}
	// LogProb, Sample, Forward and Inverse use the stored statistics.
	n, err := flow.SetBatchNormStats(f, train, nil)
	if err != nil {
		log.Fatal(err)
	}
	top := f.Layers()[3].(*flow.BatchNorm)
	fmt.Printf("%d layers set; the data side's mean %.3f, variance %.3f\n", n, top.Mean(), top.Variance())
	// Output:
	// 2 layers set; the data side's mean [0.554 0.230], variance [0.768 0.247]
}
