// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"github.com/nfgo/flow"
)

// mafLayers returns the layers of a masked autoregressive flow whose MADE
// orders alternate between natural and reversed, conditioned on a context
// of c columns; residual > 0 makes each MADE a residual MADE of that many
// blocks of the one hidden width.
func mafLayers(d, c, layers int, hidden []int, residual int, act flow.Activation, clamp float64, seed uint64) ([]flow.Layer, error) {
	f, err := flow.NewMAFFlow(flow.AutoregressiveFlowConfig{
		Dim: d, Layers: layers, Hidden: hidden, Activation: act, Clamp: clamp, Seed: seed, ContextDim: c,
		ResidualBlocks: residual,
	})
	if err != nil {
		return nil, err
	}
	return f.Layers(), nil
}

// nsfARLayers returns the layers of a masked autoregressive flow whose
// element-wise maps are rational-quadratic splines of bins bins on
// [−bound, bound] (the default minimums), the MADE orders alternating as in
// mafLayers, conditioned on a context of c columns, with residual MADEs
// of residual blocks when residual > 0.
func nsfARLayers(d, c, layers int, hidden []int, residual int, act flow.Activation, bins int, bound float64, seed uint64) ([]flow.Layer, error) {
	s, err := flow.NewRQSpline(bins, bound)
	if err != nil {
		return nil, err
	}
	f, err := flow.NewMAFFlow(flow.AutoregressiveFlowConfig{
		Dim: d, Layers: layers, Hidden: hidden, Activation: act, Seed: seed, ContextDim: c, Spline: &s,
		ResidualBlocks: residual,
	})
	if err != nil {
		return nil, err
	}
	return f.Layers(), nil
}
