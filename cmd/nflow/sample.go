// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

func cmdSample(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sample", stderr, "-model model.json [-n 1000] [-seed 1] [-out samples.csv]")
	model := fs.String("model", "", "the model file")
	n := fs.Int("n", 1000, "number of samples")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "-", "where to write the samples (- for standard output)")
	logq := fs.Bool("logq", false, "add a last column with each sample's log-density")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 1 {
		return usageError{fmt.Sprintf("-n: %d, want at least 1", *n)}
	}
	f, err := loadModel(*model)
	if err != nil {
		return err
	}
	x := mat.NewDense(*n, f.Dim(), nil)
	var lq []float64
	if *logq {
		lq = make([]float64, *n)
	}
	f.Sample(x, lq, rand.New(rand.NewPCG(*seed, 0x6e666c6f77)))
	header := colNames(f.Dim())
	var m mat.Matrix = x
	if *logq {
		header = append(header, "logq")
		y := mat.NewDense(*n, f.Dim()+1, nil)
		y.Augment(x, mat.NewDense(*n, 1, lq))
		m = y
	}
	return writeAtomic(*out, stdout, func(w io.Writer) error { return writeCSV(w, header, m) })
}
