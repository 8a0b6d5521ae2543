// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// Conditional flows. A conditional model has a context of C columns beside
// its D data columns: it is a density p(x | c). In the files nflow reads,
// each row holds its data and its context:
//
//   - fit -context K takes the last K columns of -in as the context, and
//     -context a,b the columns the header names a and b, in any position;
//     the other columns are the data, in the order of the file.
//   - logprob and plot -data read rows of D + C columns, the data then the
//     context, or, when the model has column names and the file a header,
//     the columns of those names in any order.
//   - sample -context reads a file of contexts: C columns, or the columns
//     the model's context names name in its header (other columns are
//     ignored).

// contextSpec is fit's -context: the number of last columns that hold the
// context, or the names of its columns.
type contextSpec struct {
	k     int
	names []string
}

// isSet reports whether the spec asks for a context.
func (s contextSpec) isSet() bool { return s.k > 0 || s.names != nil }

// parseContextSpec reads fit's -context: "" (no context), a positive number
// of columns, or comma-separated column names, each once.
func parseContextSpec(spec string) (contextSpec, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return contextSpec{}, nil
	}
	if k, err := strconv.Atoi(spec); err == nil {
		if k < 1 {
			return contextSpec{}, usageError{fmt.Sprintf("-context: %d, want the number of last columns that hold the context (at least 1) or their names", k)}
		}
		return contextSpec{k: k}, nil
	}
	var s contextSpec
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			return contextSpec{}, usageError{fmt.Sprintf("-context: an empty column name in %q", spec)}
		case slices.Contains(s.names, name):
			return contextSpec{}, usageError{fmt.Sprintf("-context: column %q is named twice", name)}
		}
		s.names = append(s.names, name)
	}
	return s, nil
}

// split returns the columns, counted from 0, of a table of cols columns
// with the header (nil if none) that hold the data and those that hold the
// context. in names the table in errors.
func (s contextSpec) split(in string, cols int, header []string) (x, c []int, err error) {
	if s.k > 0 {
		if s.k >= cols {
			return nil, nil, fmt.Errorf("%s has %s: -context %d leaves none for the data", in, count(cols, "column"), s.k)
		}
		for j := 0; j < cols; j++ {
			if j < cols-s.k {
				x = append(x, j)
			} else {
				c = append(c, j)
			}
		}
		return x, c, nil
	}
	if header == nil {
		return nil, nil, fmt.Errorf("%s has no header: -context %s names columns; give the number of last columns instead (-context %d)", in, strings.Join(s.names, ","), len(s.names))
	}
	for _, name := range s.names {
		j := slices.Index(header, name)
		switch {
		case j < 0:
			return nil, nil, fmt.Errorf("%s: -context: no column %q in the header (%s)", in, name, strings.Join(header, ","))
		case slices.Index(header[j+1:], name) >= 0:
			return nil, nil, fmt.Errorf("%s: -context: the header names more than one column %q", in, name)
		}
		c = append(c, j)
	}
	if len(c) >= cols {
		return nil, nil, fmt.Errorf("%s has %s: -context %s leaves none for the data", in, count(cols, "column"), strings.Join(s.names, ","))
	}
	for j := 0; j < cols; j++ {
		if !slices.Contains(c, j) {
			x = append(x, j)
		}
	}
	return x, c, nil
}

// modelColumns returns the columns, counted from 0, of a table of cols
// columns with the header (nil if none) that hold a conditional model's
// data columns then its context columns: the first D then the last C, or,
// when the model has column names for both and the table a header, the
// columns of those names wherever they are. A table of another width, a
// header without one of the model's names, or one whose names disagree
// with the model's is an error.
func modelColumns(in string, cols int, header []string, model string, f *flow.Flow) ([]int, error) {
	d, c := f.Dim(), f.ContextDim()
	if cols != d+c {
		return nil, fmt.Errorf("%s has %s, the model %s wants %d: its %s, then the %s of the context, on each row",
			in, count(cols, "column"), model, d+c, count(d, "data column"), count(c, "column"))
	}
	idx := make([]int, d+c)
	for j := range idx {
		idx[j] = j
	}
	names, cnames := f.Names(), f.ContextNames()
	switch {
	case header == nil:
		return idx, nil
	case names != nil && cnames != nil:
		for j, name := range append(names, cnames...) {
			k := slices.Index(header, name)
			if k < 0 {
				return nil, fmt.Errorf("%s: no column %q in the header (%s); the model %s has the data columns %s and the context %s",
					in, name, strings.Join(header, ","), model, strings.Join(names, ","), strings.Join(cnames, ","))
			}
			idx[j] = k
		}
		return idx, nil
	}
	if err := checkColumns(in, header[:d], model, names); err != nil {
		return nil, err
	}
	if err := checkColumns(in, header[d:], model, cnames); err != nil {
		return nil, err
	}
	return idx, nil
}

// contextColumns returns the columns, counted from 0, of a table of
// contexts of cols columns with the header (nil if none) that hold a
// conditional model's context: the columns of the model's context names
// when it has them and the table a header, else all C columns, which the
// table must have.
func contextColumns(in string, cols int, header []string, model string, f *flow.Flow) ([]int, error) {
	c, cnames := f.ContextDim(), f.ContextNames()
	if header != nil && cnames != nil {
		idx := make([]int, c)
		for j, name := range cnames {
			if idx[j] = slices.Index(header, name); idx[j] < 0 {
				return nil, fmt.Errorf("%s: no column %q in the header (%s); the model %s's context is %s",
					in, name, strings.Join(header, ","), model, strings.Join(cnames, ","))
			}
		}
		return idx, nil
	}
	if cols != c {
		return nil, fmt.Errorf("%s has %s, the model %s has a context of %s", in, count(cols, "column"), model, count(c, "column"))
	}
	idx := make([]int, c)
	for j := range idx {
		idx[j] = j
	}
	return idx, nil
}

// gather copies columns idx of the m rows of src, cols columns each, into
// dst, len(idx) columns a row, row-major.
func gather(dst, src []float64, cols, m int, idx []int) {
	k := len(idx)
	for r := 0; r < m; r++ {
		row := src[r*cols : (r+1)*cols]
		out := dst[r*k : (r+1)*k]
		for j, p := range idx {
			out[j] = row[p]
		}
	}
}

// columns returns columns idx of x as a new matrix.
func columns(x *mat.Dense, idx []int) *mat.Dense {
	n, cols := x.Dims()
	m := mat.NewDense(n, len(idx), nil)
	if n > 0 {
		gather(m.RawMatrix().Data, x.RawMatrix().Data, cols, n, idx)
	}
	return m
}

// Contexts whose columns are far from unit scale, by these bounds on the
// standard deviation and on the mean in standard deviations, draw a
// warning from fit: the model does not standardise its context.
const (
	minContextSD   = 0.2
	maxContextSD   = 5
	maxContextMean = 5
)

// contextWarnings returns a warning for each column of the contexts c whose
// standard deviation is outside [minContextSD, maxContextSD] or whose mean
// is more than maxContextMean standard deviations from 0, naming column j
// by names[j] (see colLabels).
func contextWarnings(c *mat.Dense, names []string) []string {
	n, k := c.Dims()
	var w []string
	for j := 0; j < k; j++ {
		var a meanAcc
		for i := 0; i < n; i++ {
			a.add(c.At(i, j))
		}
		mean, sd := a.mean, 0.0
		if n > 1 {
			sd = math.Sqrt(a.m2 / float64(n-1))
		}
		switch {
		case sd == 0:
			w = append(w, fmt.Sprintf("context %s is constant (%g): it tells the model nothing", names[j], mean))
		case sd < minContextSD || sd > maxContextSD || math.Abs(mean) > maxContextMean*sd:
			w = append(w, fmt.Sprintf("context %s has mean %.4g and standard deviation %.4g: the model does not rescale its context, "+
				"and conditional flows train best on contexts of unit scale; consider standardising it, (c − %.4g)/%.4g",
				names[j], mean, sd, mean, sd))
		}
	}
	return w
}

// condGaussian is the reference density of a conditional fit: the best
// Gaussian of x given c whose mean is linear in c, x | c ~ N(a + Bc, Σ),
// which is the conditional of the maximum-likelihood Gaussian of the rows
// (x, c), log p(x | c) = log p(x, c) − log p(c).
type condGaussian struct {
	joint, context *flow.Gaussian
}

// fitCondGaussian fits the condGaussian of the rows of x with their
// contexts c. It returns an error when the Gaussian of (x, c) is singular.
func fitCondGaussian(x, c *mat.Dense) (*condGaussian, error) {
	joint, err := flow.FitGaussian(augment(x, c))
	if err != nil {
		return nil, err
	}
	context, err := flow.FitGaussian(c)
	if err != nil {
		return nil, err
	}
	return &condGaussian{joint, context}, nil
}

// logProb returns log p(x_i | c_i) of each row of x with its context.
func (g *condGaussian) logProb(x, c *mat.Dense) []float64 {
	lp := g.joint.LogProb(nil, augment(x, c))
	lc := g.context.LogProb(nil, c)
	for i := range lp {
		lp[i] -= lc[i]
	}
	return lp
}

// augment returns the rows of x with those of c appended, [x c].
func augment(x, c *mat.Dense) *mat.Dense {
	n, d := x.Dims()
	_, k := c.Dims()
	m := mat.NewDense(n, d+k, nil)
	m.Augment(x, c)
	return m
}

// contextLabel writes a context for a title: c = 0.5, or (a, b) = (1, 2)
// with names.
func contextLabel(c []float64, names []string) string {
	v := make([]string, len(c))
	for i, x := range c {
		v[i] = strconv.FormatFloat(x, 'g', 4, 64)
	}
	lhs := "c"
	if len(names) == len(c) {
		lhs = strings.Join(names, ", ")
	}
	if len(c) == 1 {
		return lhs + " = " + v[0]
	}
	return "(" + lhs + ") = (" + strings.Join(v, ", ") + ")"
}
