// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// registerPrecision adds the -precision flag, whose value what (train,
// evaluate, sample) is computed in.
func registerPrecision(fs *flag.FlagSet, p *string, what string) {
	fs.StringVar(p, "precision", "f64", what+" in f64 (float64, the reference) or f32 (float32: about twice the arithmetic per instruction; "+
		"every -model, -base and layer option, and -dropout)")
}

// mustPrecision returns the precision named s, checked already.
func mustPrecision(s string) flow.Precision {
	p, err := flow.ParsePrecision(s)
	if err != nil {
		panic(err)
	}
	return p
}

// evaluator is what logprob and sample use of a flow, in either precision:
// a *flow.Flow or its *flow.Flow32.
type evaluator interface {
	Dim() int
	ContextDim() int
	LogProbGiven(dst []float64, x, c mat.Matrix) []float64
	SampleGiven(dst *mat.Dense, logq []float64, c mat.Matrix, rnd *rand.Rand)
}

// evaluatorOf returns f, or for -precision f32 its float32 copy, or an
// error naming what of the model has no float32 path.
func evaluatorOf(f *flow.Flow, model, precision string) (evaluator, error) {
	p, err := flow.ParsePrecision(precision)
	if err != nil {
		return nil, usageError{fmt.Sprintf("-precision: %q, want f64 or f32", precision)}
	}
	if p == flow.Float64 {
		return f, nil
	}
	g, err := f.Float32()
	if err != nil {
		return nil, fmt.Errorf("-precision f32: the model %s: %s", model, strings.TrimPrefix(err.Error(), "flow: Flow.Float32: "))
	}
	return g, nil
}
