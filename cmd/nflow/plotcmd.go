// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// Pairs plots draw defaultCols columns unless -cols asks for others, and at
// most maxCols.
const (
	defaultCols = 6
	maxCols     = 8
)

// maxValues bounds -n times the dimension: the samples are held in memory
// (8 bytes each), and a picture gains nothing from more.
const maxValues = 50_000_000

func cmdPlot(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plot", stderr, "-model model.json -out model.png")
	model := fs.String("model", "", "the model file")
	out := fs.String("out", "model.png", "the PNG to write")
	n := fs.Int("n", 5000, fmt.Sprintf("samples drawn for the ranges and histograms (scatter panels draw at most %d of them)", maxDots))
	seed := fs.Uint64("seed", 1, "random seed")
	data := fs.String("data", "", "optional CSV of data to draw beside the model")
	ctxSpec := fs.String("context", "", fmt.Sprintf("for a conditional model, the contexts to draw the density at (at most %d): numbers, a context's separated by commas and contexts by semicolons (\"0;1\"), or a CSV file of contexts as sample reads (default: a few of -data's)", maxContextPanels))
	colSpec := fs.String("cols", "", fmt.Sprintf("for D > 2, the columns to draw, by number from 1 or by name: 1,3,4 (default the first %d, at most %d)", defaultCols, maxCols))
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 10 {
		return usageError{fmt.Sprintf("-n: %d, want at least 10", *n)}
	}
	if !strings.EqualFold(filepath.Ext(*out), ".png") {
		return usageError{fmt.Sprintf("-out: %q does not end in .png", *out)}
	}
	if err := refuseSame("-model", *model, *out); err != nil {
		return err
	}
	if err := refuseSame("-data", *data, *out); err != nil {
		return err
	}
	if err := refuseSame("-context", *ctxSpec, *out); err != nil {
		return err
	}
	f, err := loadModel(*model)
	if err != nil {
		return err
	}
	d := f.Dim()
	if *n > maxValues/d {
		return usageError{fmt.Sprintf("-n: %d samples of dimension %d are more than plot holds: at most %d", *n, d, maxValues/d)}
	}
	if *colSpec != "" && d <= 2 {
		return usageError{fmt.Sprintf("-cols: the model has dimension %d: -cols chooses among more than 2 columns", d)}
	}
	cd := f.ContextDim()
	if cd == 0 && *ctxSpec != "" {
		return usageError{fmt.Sprintf("-context: the model %s is not conditional: it takes no context", *model)}
	}
	var x, xc *mat.Dense
	var header []string
	if *data != "" {
		if x, header, err = readCSV(*data); err != nil {
			return err
		}
		_, c := x.Dims()
		switch {
		case cd > 0:
			idx, err := modelColumns(*data, c, header, *model, f)
			if err != nil {
				return err
			}
			if header != nil {
				header = pick(header, idx[:d])
			}
			x, xc = columns(x, idx[:d]), columns(x, idx[d:])
		case c != d:
			return fmt.Errorf("%s has %d columns, the model %s has dimension %d", *data, c, *model, d)
		}
	}
	names, err := columnNames(f.Names(), header)
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	labels := axisLabels(names, d)
	cols, err := pickCols(*colSpec, names, d)
	if err != nil {
		return err
	}
	if cd > 0 {
		var contexts [][]float64
		switch {
		case *ctxSpec != "":
			if contexts, err = plotContexts(*ctxSpec, *model, f); err != nil {
				return err
			}
		case xc != nil:
			contexts = pickContexts(xc)
			if d > 2 {
				// One context for the pairs: the middle one.
				contexts = contexts[len(contexts)/2:][:1]
			}
		default:
			return usageError{fmt.Sprintf("the model %s is conditional: give the contexts to draw it at with -context (\"0;1\", or a CSV file of contexts), or -data to take a few of its contexts", *model)}
		}
		g := givenPlot{f: f, model: *model, data: *data, x: x, xc: xc, contexts: contexts, n: *n, seed: *seed,
			labels: labels, cols: cols, colSpec: *colSpec}
		title, plots, side, err := g.draw(stderr)
		if err != nil {
			return err
		}
		return writeAtomic(*out, stdout, func(w io.Writer) error { return writeFigure(w, title, plots, side) })
	}

	s := mat.NewDense(*n, d, nil)
	f.Sample(s, nil, rand.New(rand.NewPCG(*seed, 0x6e666c6f77)))
	s, bad := finiteRows(s)
	if s == nil {
		return fmt.Errorf("none of the %d samples of %s is finite: the model overflows float64", *n, *model)
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "plot: left out %d of %d samples that are not finite (the model overflows there)\n", bad, *n)
	}
	// The scatter panels draw subsamples.
	sDots, xDots := subsample(s, maxDots), x
	if x != nil {
		xDots = subsample(x, maxDots)
	}
	if d > 1 {
		reportDots(stderr, s, sDots, x, xDots)
	}

	name := filepath.Base(*model)
	var plots [][]*plot.Plot
	var title string
	side := vg.Points(300)
	switch {
	case d == 1:
		ref := mat.Matrix(s)
		if x != nil {
			ref = x
		}
		lo, hi, err := span(ref, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", refName(x, *data), err)
		}
		p, note, err := linePlot(f, nil, s, matOrNil(x), lo, hi, "", labels[0])
		if err != nil {
			return err
		}
		if note != "" {
			fmt.Fprintf(stderr, "plot: %s\n", note)
		}
		plots = [][]*plot.Plot{{p}}
		title = name + ": density (black), samples (red)"
		if x != nil {
			title += ", " + filepath.Base(*data) + " (blue)"
		}
	case d == 2:
		ref := mat.Matrix(s)
		if x != nil {
			ref = x
		}
		b, err := extent(ref, 0, 1)
		if err != nil {
			return fmt.Errorf("%s: %w", refName(x, *data), err)
		}
		density, note := densityPlot(f, nil, b, 240, "density", labels[0], labels[1])
		if note != "" {
			fmt.Fprintf(stderr, "plot: %s\n", note)
		}
		row := []*plot.Plot{density}
		sp, err := scatterPlot(sDots, 0, 1, b, "samples", labels[0], labels[1], sampleColor)
		if err != nil {
			return err
		}
		if x != nil {
			dp, err := scatterPlot(xDots, 0, 1, b, "data", labels[0], labels[1], dataColor)
			if err != nil {
				return err
			}
			row = append([]*plot.Plot{dp}, row...)
		}
		plots = [][]*plot.Plot{append(row, sp)}
		title = name
		if x != nil {
			title += " and " + filepath.Base(*data)
		}
	default:
		fmt.Fprintf(stderr, "plot: drew columns %s of %d (%s)", joinInts(cols, 1), d, strings.Join(pick(labels, cols), ", "))
		if *colSpec == "" && d > len(cols) {
			fmt.Fprint(stderr, "; choose others with -cols")
		}
		fmt.Fprintln(stderr)
		if plots, err = pairsPlot(s, sDots, matOrNil(x), matOrNil(xDots), cols, labels); err != nil {
			return fmt.Errorf("%s: %w", refName(x, *data), err)
		}
		title = name + ": pairwise marginals of its samples (red"
		if x != nil {
			title += ", above the diagonal) and of " + filepath.Base(*data) + " (blue, below)"
		} else {
			title += ")"
		}
		side = vg.Points(160)
	}
	return writeAtomic(*out, stdout, func(w io.Writer) error { return writeFigure(w, title, plots, side) })
}

// reportDots says on w how many rows the scatter panels draw, when that is
// fewer than there are.
func reportDots(w io.Writer, s, sDots, x, xDots *mat.Dense) {
	ns, _ := s.Dims()
	nsd, _ := sDots.Dims()
	var parts []string
	if nsd < ns {
		parts = append(parts, fmt.Sprintf("%d of %d samples", nsd, ns))
	}
	if x != nil {
		nx, _ := x.Dims()
		nxd, _ := xDots.Dims()
		if nxd < nx {
			parts = append(parts, fmt.Sprintf("%d of %d data rows", nxd, nx))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "plot: drew %s as dots (the ranges and histograms use all)\n", strings.Join(parts, " and "))
	}
}

// columnNames returns the names of the columns to draw: the model's, or
// when it has none the data's header (nil if neither has names). It
// returns an error if both have names and they differ: the data's columns
// would then be drawn against the wrong ones of the model.
func columnNames(model, header []string) ([]string, error) {
	switch {
	case model == nil:
		return header, nil
	case header != nil && !slices.Equal(model, header):
		return nil, fmt.Errorf("the columns are named %s, the model's %s: they must be the same, in the same order",
			strings.Join(header, ","), strings.Join(model, ","))
	}
	return model, nil
}

// pickCols returns the columns, counted from 0, that -cols names in spec:
// a comma-separated list of column numbers counted from 1 or of column
// names. An empty spec means the first defaultCols (all if fewer). It
// returns a usage error for a column that does not exist, one named twice,
// or fewer than 2 or more than maxCols.
func pickCols(spec string, names []string, d int) ([]int, error) {
	if spec == "" {
		cols := make([]int, min(d, defaultCols))
		for i := range cols {
			cols[i] = i
		}
		return cols, nil
	}
	var cols []int
	for _, tok := range strings.Split(spec, ",") {
		tok = strings.TrimSpace(tok)
		c := slices.Index(names, tok)
		if c < 0 {
			i, err := strconv.Atoi(tok)
			if err != nil || i < 1 || i > d {
				what := fmt.Sprintf("a column number from 1 to %d", d)
				if names != nil {
					what += " or a column name (" + strings.Join(names, ", ") + ")"
				}
				return nil, usageError{fmt.Sprintf("-cols: %q is not %s", tok, what)}
			}
			c = i - 1
		}
		if slices.Contains(cols, c) {
			return nil, usageError{fmt.Sprintf("-cols: column %d is named twice", c+1)}
		}
		cols = append(cols, c)
	}
	if len(cols) < 2 || len(cols) > maxCols {
		return nil, usageError{fmt.Sprintf("-cols: %d columns, want 2 to %d", len(cols), maxCols)}
	}
	return cols, nil
}

// pick returns s[i] for each i in idx.
func pick(s []string, idx []int) []string {
	t := make([]string, len(idx))
	for k, i := range idx {
		t[k] = s[i]
	}
	return t
}

// joinInts writes the integers v, each plus off, separated by commas.
func joinInts(v []int, off int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x + off)
	}
	return strings.Join(s, ",")
}

// refName names what the ranges of the picture come from: the data file
// when there is one, else the model's samples.
func refName(x *mat.Dense, data string) string {
	if x != nil {
		return data
	}
	return "the model's samples"
}

// matOrNil returns x as a mat.Matrix, nil when x is nil, so that a nil
// *mat.Dense does not become a non-nil interface.
func matOrNil(x *mat.Dense) mat.Matrix {
	if x == nil {
		return nil
	}
	return x
}
