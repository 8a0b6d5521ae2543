// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"fmt"
	"io"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// glowSteps returns layers, of dimension d, with a BatchNorm layer
// (batchnorm), an LU-factored linear layer (lu) and an ActNorm layer
// (actnorm) after every coupling or MAF layer in the flow's order, base
// side first: in the density direction, data → base, each such layer's
// input then passes an ActNorm and a learned invertible linear map first,
// as in Glow's step (Kingma & Dhariwal 2018), and last a batch
// normalisation, as between the MAF paper's layers (Papamakarios et al.
// 2017, §3.4). The LU layers start as the identity, the ActNorm layers
// uninitialised, and the BatchNorm layers with the statistics m = 0,
// v = 1 that Fit replaces by the training rows'.
func glowSteps(d int, layers []flow.Layer, lu, actnorm, batchnorm bool) ([]flow.Layer, error) {
	if !lu && !actnorm && !batchnorm {
		return layers, nil
	}
	var out []flow.Layer
	for _, l := range layers {
		out = append(out, l)
		switch l.(type) {
		case *flow.Coupling, *flow.MAF:
		default:
			continue
		}
		if batchnorm {
			b, err := flow.NewBatchNorm(d, 0)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
		if lu {
			w, err := flow.NewLULinear(flow.LUConfig{Dim: d})
			if err != nil {
				return nil, err
			}
			out = append(out, w)
		}
		if actnorm {
			a, err := flow.NewActNorm(d)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// countBatchNorm returns the number of BatchNorm layers of f.
func countBatchNorm(f *flow.Flow) int {
	k := 0
	for _, l := range f.Layers() {
		if _, ok := l.(*flow.BatchNorm); ok {
			k++
		}
	}
	return k
}

// initActNorm initialises the ActNorm layers of f that are not yet
// initialised on all the training rows (with their contexts, nil for an
// unconditional flow) and says so on w; with none it does nothing.
func initActNorm(f *flow.Flow, trainRows, trainC *mat.Dense, w io.Writer) error {
	k, err := flow.InitActNorm(f, trainRows, matOrNil(trainC))
	if err != nil {
		return fmt.Errorf("-actnorm: %w", err)
	}
	if k == 0 {
		return nil
	}
	n, _ := trainRows.Dims()
	fmt.Fprintf(w, "initialised %s on the %s: each normalises its input to mean 0 and variance 1\n", count(k, "ActNorm layer"), count(n, "training row"))
	return nil
}
