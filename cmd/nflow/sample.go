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

	"github.com/nfgo/flow"
)

// streamRows is how many rows of up to 64 columns sample and logprob hold
// at a time (fewer for wider data; see batchRows): their memory does not
// grow with the number of rows.
const streamRows = 4096

// batchRows returns how many rows of d columns sample and logprob hold at a
// time: streamRows, or for d > 64 as many as fill 2 MiB, a multiple of the
// flow's evaluation shard (128 rows), so that a batch is cut into the same
// shards as one call for all rows would be.
func batchRows(d int) int {
	return max(128, min(streamRows, (1<<18)/d/128*128))
}

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
	if err := refuseSame("-model", *model, *out); err != nil {
		return err
	}
	f, err := loadModel(*model)
	if err != nil {
		return err
	}
	header := f.Names()
	if header == nil {
		header = colNames(f.Dim())
	}
	if *logq {
		header = append(header, "logq")
	}
	return writeAtomic(*out, stdout, func(w io.Writer) error {
		return sampleCSV(w, f, header, *n, *logq, rand.New(rand.NewPCG(*seed, 0x6e666c6f77)))
	})
}

// sampleCSV writes n samples of f as CSV with the header, batchRows at a
// time, with their log-densities as a last column when logq is set. The
// rows are those of one f.Sample call for all n rows with the same rnd:
// Sample draws the base variables row by row from rnd and transforms each
// row alone.
func sampleCSV(w io.Writer, f *flow.Flow, header []string, n int, logq bool, rnd *rand.Rand) error {
	d := f.Dim()
	rows := min(n, batchRows(d))
	x := mat.NewDense(rows, d, nil)
	var lq []float64
	if logq {
		lq = make([]float64, rows)
	}
	cw := newCSVWriter(w)
	cw.header(header)
	for done := 0; done < n && cw.Err() == nil; {
		m := min(n-done, rows)
		xb := x.Slice(0, m, 0, d).(*mat.Dense)
		var lb []float64
		if logq {
			lb = lq[:m]
		}
		f.Sample(xb, lb, rnd)
		cw.rows(x.RawMatrix().Data[:m*d], d, lb)
		done += m
	}
	return cw.Flush()
}
