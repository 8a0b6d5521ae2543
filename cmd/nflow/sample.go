// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	"gonum.org/v1/gonum/mat"
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
	fs := newFlags("sample", stderr, "-model model.json [-n 1000] [-seed 1] [-out samples.csv] [-context ctx.csv]\n\n"+
		"For a conditional model p(x | c), -context gives the contexts, one a row, and -n\n"+
		"samples are drawn for each: the first column, context_row, is the row of the\n"+
		"context file (data rows counted from 1), and the rows follow its order.")
	model := fs.String("model", "", "the model file")
	n := fs.Int("n", 1000, "number of samples (for a conditional model: for each context)")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "-", "where to write the samples (- for standard output)")
	logq := fs.Bool("logq", false, "add a last column with each sample's log-density")
	ctxFile := fs.String("context", "", "for a conditional model, a CSV of contexts, one a row: its C columns, or the model's context columns by name (- for standard input)")
	var precision string
	registerPrecision(fs, &precision, "sample")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 1 {
		return usageError{fmt.Sprintf("-n: %d, want at least 1", *n)}
	}
	if err := refuseSame("-model", *model, *out); err != nil {
		return err
	}
	if *ctxFile != "" {
		if err := refuseSame("-context", *ctxFile, *out); err != nil {
			return err
		}
	}
	f, err := loadModel(*model)
	if err != nil {
		return err
	}
	ev, err := evaluatorOf(f, *model, precision)
	if err != nil {
		return err
	}
	c := f.ContextDim()
	switch {
	case c > 0 && *ctxFile == "":
		return usageError{fmt.Sprintf("the model %s is conditional (a context of %s%s): give the contexts to sample at with -context ctx.csv",
			*model, count(c, "column"), namesNote(f.ContextNames()))}
	case c == 0 && *ctxFile != "":
		return usageError{fmt.Sprintf("-context: the model %s is not conditional: it takes no context", *model)}
	}
	header := f.Names()
	if header == nil {
		header = colNames(f.Dim())
	}
	if c > 0 {
		header = append([]string{"context_row"}, header...)
	}
	if *logq {
		header = append(header, "logq")
	}
	rnd := rand.New(rand.NewPCG(*seed, 0x6e666c6f77))
	if c == 0 {
		return writeAtomic(*out, stdout, func(w io.Writer) error {
			return sampleCSV(w, ev, header, *n, *logq, rnd)
		})
	}
	t, cl, err := openTable(*ctxFile)
	if err != nil {
		return err
	}
	defer cl.Close()
	idx, err := contextColumns(*ctxFile, t.Cols(), t.Header(), *model, f)
	if err != nil {
		return err
	}
	cs, err := newContextStream(t, idx)
	if err != nil {
		return err
	}
	return writeAtomic(*out, stdout, func(w io.Writer) error {
		return sampleGivenCSV(w, ev, header, cs, *n, *logq, rnd)
	})
}

// namesNote writes names for a message: " named a, b", or "" for none.
func namesNote(names []string) string {
	if names == nil {
		return ""
	}
	return " named " + strings.Join(names, ", ")
}

// sampleCSV writes n samples of f as CSV with the header, batchRows at a
// time, with their log-densities as a last column when logq is set. The
// rows are those of one f.Sample call for all n rows with the same rnd:
// Sample draws the base variables row by row from rnd and transforms each
// row alone.
func sampleCSV(w io.Writer, f evaluator, header []string, n int, logq bool, rnd *rand.Rand) error {
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
		f.SampleGiven(xb, lb, nil, rnd)
		cw.rows(x.RawMatrix().Data[:m*d], d, lb)
		done += m
	}
	return cw.Flush()
}

// contextStream reads contexts from a table a batch at a time, one context
// row at a time to its caller.
type contextStream struct {
	t    *tableReader
	idx  []int     // the table's columns that hold the context
	buf  []float64 // a batch of the table's rows
	ctx  []float64 // the contexts of the batch's rows, len(idx) a row
	m, i int       // rows in the batch, and the next one to return
	row  int       // rows returned so far
}

// newContextStream returns a stream of the contexts in columns idx of t,
// and reads the first batch, so that a small file with an error fails
// before anything is written.
func newContextStream(t *tableReader, idx []int) (*contextStream, error) {
	rows := batchRows(t.Cols())
	s := &contextStream{t: t, idx: idx, buf: make([]float64, rows*t.Cols()), ctx: make([]float64, rows*len(idx))}
	if err := s.fill(); err != nil {
		return nil, err
	}
	return s, nil
}

// fill reads the next batch; io.EOF at the end of the table.
func (s *contextStream) fill() error {
	m, err := s.t.Read(s.buf)
	if err != nil {
		return err
	}
	gather(s.ctx, s.buf, s.t.Cols(), m, s.idx)
	s.m, s.i = m, 0
	return nil
}

// next returns the next context and its row, counted from 1; io.EOF after
// the last. The context is valid until the next call.
func (s *contextStream) next() ([]float64, int, error) {
	if s.i == s.m {
		if err := s.fill(); err != nil {
			return nil, 0, err
		}
	}
	c := len(s.idx)
	v := s.ctx[s.i*c : (s.i+1)*c]
	s.i++
	s.row++
	return v, s.row, nil
}

// sampleGivenCSV writes n samples of the conditional flow f for each
// context of cs as CSV with the header: a first column with the context's
// row, then the sample, then, when logq is set, its log-density. It works
// batchRows rows at a time, whatever the number of contexts or n: the rows
// are those of one f.SampleEach call for all contexts with the same rnd,
// which draws the base variables row by row and transforms each row alone.
func sampleGivenCSV(w io.Writer, f evaluator, header []string, cs *contextStream, n int, logq bool, rnd *rand.Rand) error {
	d, c := f.Dim(), f.ContextDim()
	rows := batchRows(d + c)
	x := mat.NewDense(rows, d, nil)
	ctx := make([]float64, rows*c)
	which := make([]float64, rows) // each row's context row
	var lq []float64
	if logq {
		lq = make([]float64, rows)
	}
	out := make([]float64, rows*(d+1))
	cw := newCSVWriter(w)
	cw.header(header)
	var cur []float64 // the context being sampled, and its row
	row, left := 0, 0 // the samples left to draw for it
	for cw.Err() == nil {
		// Fill a batch with as many rows as the contexts left allow.
		m := 0
		for m < rows {
			if left == 0 {
				v, r, err := cs.next()
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
				cur, row, left = v, r, n
			}
			k := min(left, rows-m)
			for j := m; j < m+k; j++ {
				copy(ctx[j*c:(j+1)*c], cur)
				which[j] = float64(row)
			}
			m += k
			left -= k
		}
		if m == 0 {
			break
		}
		var lb []float64
		if logq {
			lb = lq[:m]
		}
		f.SampleGiven(x.Slice(0, m, 0, d).(*mat.Dense), lb, mat.NewDense(m, c, ctx[:m*c]), rnd)
		xs := x.RawMatrix().Data
		for j := 0; j < m; j++ {
			out[j*(d+1)] = which[j]
			copy(out[j*(d+1)+1:(j+1)*(d+1)], xs[j*d:(j+1)*d])
		}
		cw.rows(out[:m*(d+1)], d+1, lb)
	}
	return cw.Flush()
}
