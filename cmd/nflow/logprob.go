// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"context"
	"fmt"
	"io"
	"math"

	"gonum.org/v1/gonum/mat"
)

func cmdLogProb(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("logprob", stderr, "-model model.json -in data.csv [-out logp.csv]")
	model := fs.String("model", "", "the model file")
	in := fs.String("in", "", "data, CSV with one sample per row (- for standard input)")
	out := fs.String("out", "-", "where to write one log-density per row (- for standard output)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *in == "" {
		return usageError{"-in: no data file given"}
	}
	f, err := loadModel(*model)
	if err != nil {
		return err
	}
	data, _, err := readCSV(*in)
	if err != nil {
		return err
	}
	n, d := data.Dims()
	if d != f.Dim() {
		return fmt.Errorf("%s has %d columns, the model %s has dimension %d", *in, d, *model, f.Dim())
	}
	lp := f.LogProb(nil, data)
	if err := writeAtomic(*out, stdout, func(w io.Writer) error {
		return writeCSV(w, []string{"logp"}, mat.NewDense(n, 1, lp))
	}); err != nil {
		return err
	}
	mean, se := meanSE(lp)
	fmt.Fprintf(stderr, "mean log p = %.6g ± %.2g (standard error, %d rows)\n", mean, se, n)
	return nil
}

// meanSE returns the mean of v and its standard error.
func meanSE(v []float64) (mean, se float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, math.NaN()
	}
	s := 0.0
	for _, x := range v {
		s += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(s / float64(len(v)-1) / float64(len(v)))
}
