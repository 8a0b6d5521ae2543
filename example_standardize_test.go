// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow_test

import (
	"fmt"
	"log"

	"github.com/nfgo/flow"
)

// Standardise the data in the model: fit the same Real NVP to the Old
// Faithful geyser data (eruption and waiting times in minutes, columns of
// scale 1 and 14) raw and through Standardized, and compare the held-out
// negative log-likelihoods of the raw data (nats per row).
func ExampleStandardized() {
	data := flow.OldFaithful()
	fit := func(standardize bool) float64 {
		f, err := flow.NewRealNVP(flow.RealNVPConfig{
			Dim: 2, Layers: 6, Hidden: []int{32, 32}, Activation: flow.Tanh, Clamp: 3, Seed: 1,
		})
		if err != nil {
			log.Fatal(err)
		}
		if standardize {
			// f's layers now see standardised data; the new flow is a
			// density of the raw data.
			if f, err = flow.Standardized(f, data); err != nil {
				log.Fatal(err)
			}
		}
		res, err := flow.Fit(f, data, flow.TrainConfig{Epochs: 30, BatchSize: 128, LearningRate: 3e-3, ValidationFraction: 0.1, Seed: 1})
		if err != nil {
			log.Fatal(err)
		}
		return res.BestLoss // the held-out NLL of the parameters f holds
	}
	raw, std := fit(false), fit(true)
	fmt.Println("standardised below 5 nats per row:", std < 5)
	fmt.Println("raw worse by more than 2 nats per row:", raw-std > 2)
	// Output:
	// standardised below 5 nats per row: true
	// raw worse by more than 2 nats per row: true
}
