// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"
)

func cmdLogProb(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("logprob", stderr, "-model model.json -in data.csv [-out logp.csv]\n\n"+
		"For a conditional model p(x | c) each row holds its data then its context, or the\n"+
		"columns the model names, in any order, when the file has a header.")
	model := fs.String("model", "", "the model file")
	in := fs.String("in", "", "data, CSV with one sample per row (- for standard input)")
	out := fs.String("out", "-", "where to write one log-density per row (- for standard output)")
	var precision string
	registerPrecision(fs, &precision, "evaluate")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *in == "" {
		return usageError{"-in: no data file given"}
	}
	if err := refuseSame("-in", *in, *out); err != nil {
		return err
	}
	if err := refuseSame("-model", *model, *out); err != nil {
		return err
	}
	f, err := loadModel(*model)
	if err != nil {
		return err
	}
	ev, err := evaluatorOf(f, *model, precision)
	if err != nil {
		return err
	}
	t, c, err := openTable(*in)
	if err != nil {
		return err
	}
	defer c.Close()
	// idx, for a conditional model, picks each row's data then its
	// context from the table's columns.
	var idx []int
	if f.ContextDim() == 0 {
		if d := t.Cols(); d != f.Dim() {
			return fmt.Errorf("%s has %d columns, the model %s has dimension %d", *in, d, *model, f.Dim())
		}
		if err := checkColumns(*in, t.Header(), *model, f.Names()); err != nil {
			return err
		}
	} else if idx, err = modelColumns(*in, t.Cols(), t.Header(), *model, f); err != nil {
		return err
	}
	// The first batch is read before the output is opened, so that a
	// small file with an error writes nothing, even to standard output.
	buf := make([]float64, batchRows(t.Cols())*t.Cols())
	m, err := t.Read(buf)
	if err != nil {
		return err
	}
	var acc meanAcc
	if err := writeAtomic(*out, stdout, func(w io.Writer) error {
		return logProbCSV(w, ev, t, buf, m, idx, &acc)
	}); err != nil {
		return err
	}
	mean, se := acc.meanSE()
	fmt.Fprintf(stderr, "mean log p = %.6g ± %.2g (standard error, %d rows)\n", mean, se, acc.n)
	return nil
}

// logProbCSV writes the header logp and the log-density of each row of t,
// a batch at a time in buf, whose first m rows are read already, and
// accumulates them in acc. For a conditional flow idx holds the columns of
// t with each row's data then its context (see modelColumns); it is nil
// for an unconditional flow, whose rows are t's.
func logProbCSV(w io.Writer, f evaluator, t *tableReader, buf []float64, m int, idx []int, acc *meanAcc) error {
	d, c, cols := f.Dim(), f.ContextDim(), t.Cols()
	rows := len(buf) / cols
	lp := make([]float64, rows)
	var xs, cs []float64
	if idx != nil {
		xs, cs = make([]float64, rows*d), make([]float64, rows*c)
	}
	cw := newCSVWriter(w)
	cw.header([]string{"logp"})
	for {
		if idx == nil {
			f.LogProbGiven(lp[:m], mat.NewDense(m, d, buf[:m*d]), nil)
		} else {
			gather(xs, buf, cols, m, idx[:d])
			gather(cs, buf, cols, m, idx[d:])
			f.LogProbGiven(lp[:m], mat.NewDense(m, d, xs[:m*d]), mat.NewDense(m, c, cs[:m*c]))
		}
		for _, v := range lp[:m] {
			acc.add(v)
		}
		cw.rows(lp[:m], 1, nil)
		if cw.Err() != nil {
			break
		}
		var err error
		m, err = t.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	return cw.Flush()
}

// checkColumns returns an error if the data's header and the model's column
// names both exist and differ; without one of them there is nothing to
// check. Both have as many names as the model has dimensions.
func checkColumns(in string, header []string, model string, names []string) error {
	if header == nil || names == nil || slices.Equal(header, names) {
		return nil
	}
	if slices.Equal(slices.Sorted(slices.Values(header)), slices.Sorted(slices.Values(names))) {
		return fmt.Errorf("%s: the columns are reordered: the header has %s, the model %s wants %s, in that order", in, strings.Join(header, ","), model, strings.Join(names, ","))
	}
	for i := range header {
		if header[i] != names[i] {
			return fmt.Errorf("%s: column %d is %q, the model %s has %q there (the model's columns are %s)", in, i+1, header[i], model, names[i], strings.Join(names, ","))
		}
	}
	return nil
}

// meanAcc accumulates the mean and the variance of a stream of numbers by
// Welford's method: one pass, constant memory, and no cancellation when the
// mean is large against the spread. A plain sum beside it gives the mean
// when some numbers are infinite (−Inf for a row of zero density).
type meanAcc struct {
	n    int
	mean float64
	m2   float64 // the sum of squared deviations from the mean
	sum  float64
}

func (a *meanAcc) add(x float64) {
	a.n++
	a.sum += x
	d := x - a.mean
	a.mean += d / float64(a.n)
	a.m2 += d * (x - a.mean)
}

// meanSE returns the mean and its standard error, NaN for fewer than two
// numbers.
func (a *meanAcc) meanSE() (mean, se float64) {
	if math.IsInf(a.sum, 0) || math.IsNaN(a.sum) {
		return a.sum / float64(a.n), math.NaN()
	}
	if a.n < 2 {
		return a.mean, math.NaN()
	}
	return a.mean, math.Sqrt(a.m2 / float64(a.n-1) / float64(a.n))
}

// meanSE returns the mean of v and its standard error.
func meanSE(v []float64) (mean, se float64) {
	var a meanAcc
	for _, x := range v {
		a.add(x)
	}
	return a.meanSE()
}
