// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/nfgo/flow"
)

// maxContextPanels is the most contexts plot draws a conditional density at.
const maxContextPanels = 6

// plotContexts reads plot's -context for the conditional flow f: contexts
// written out, a context's numbers separated by commas and contexts by
// semicolons ("0;1", "0.5,1;2,3"), or, when spec does not read as numbers,
// a CSV file of contexts, read as sample reads one (see contextColumns).
// More than maxContextPanels contexts is an error.
func plotContexts(spec, model string, f *flow.Flow) ([][]float64, error) {
	c := f.ContextDim()
	var contexts [][]float64
	numbers := true
	for _, part := range strings.Split(spec, ";") {
		var v []float64
		for _, field := range strings.Split(part, ",") {
			x, err := strconv.ParseFloat(strings.TrimSpace(field), 64)
			if err != nil {
				numbers = false
				break
			}
			v = append(v, x)
		}
		if !numbers {
			break
		}
		contexts = append(contexts, v)
	}
	if numbers {
		for i, v := range contexts {
			if len(v) != c {
				return nil, usageError{fmt.Sprintf("-context: context %d has %s, the model %s's context has %d", i+1, count(len(v), "number"), model, c)}
			}
			for _, x := range v {
				if !isFinite(x) {
					return nil, usageError{fmt.Sprintf("-context: context %d holds %v, not a finite number", i+1, x)}
				}
			}
		}
	} else {
		t, cl, err := openTable(spec)
		if err != nil {
			return nil, fmt.Errorf("-context %s is neither contexts (numbers: \"0;1\") nor a readable file: %w", spec, err)
		}
		defer cl.Close()
		idx, err := contextColumns(spec, t.Cols(), t.Header(), model, f)
		if err != nil {
			return nil, err
		}
		x, _, err := readTable(t)
		if err != nil {
			return nil, err
		}
		cs := columns(x, idx)
		n, _ := cs.Dims()
		for r := 0; r < n && r <= maxContextPanels; r++ {
			contexts = append(contexts, cs.RawRowView(r))
		}
	}
	if len(contexts) > maxContextPanels {
		return nil, usageError{fmt.Sprintf("-context: more than %d contexts; plot draws at most %d side by side", maxContextPanels, maxContextPanels)}
	}
	return contexts, nil
}

// givenPlot is a picture of a conditional flow.
type givenPlot struct {
	f        *flow.Flow
	model    string      // the model file
	data     string      // the data file, "" if none
	x, xc    *mat.Dense  // its data and context columns, nil if none
	contexts [][]float64 // the contexts to draw at
	n        int         // samples per context
	seed     uint64
	labels   []string // of the data columns
	cols     []int    // the columns of a pairs plot
	colSpec  string   // -cols
}

// draw returns the picture's title and panels, and the side of a panel.
// For D = 2 the first row holds the density given each context (after the
// data, coloured by its first context column, when there is data) and the
// second the samples given each; for D = 1 the density curves over the
// samples' histograms given each context; for D > 2 the pairwise marginals
// of the samples given the first context. What it leaves out it says on
// w.
func (g *givenPlot) draw(w io.Writer) (string, [][]*plot.Plot, vg.Length, error) {
	f, d := g.f, g.f.Dim()
	rnd := rand.New(rand.NewPCG(g.seed, 0x6e666c6f77))
	cnames := f.ContextNames()
	name := filepath.Base(g.model)
	contexts := g.contexts
	if d > 2 && len(contexts) > 1 {
		fmt.Fprintf(w, "plot: the model has dimension %d: drew the samples given the first context, %s, of %d\n", d, contextLabel(contexts[0], cnames), len(contexts))
		contexts = contexts[:1]
	}
	if g.n > maxValues/d/len(contexts) {
		return "", nil, 0, usageError{fmt.Sprintf("-n: %d samples of dimension %d for each of %d contexts are more than plot holds: at most %d for each", g.n, d, len(contexts), maxValues/d/len(contexts))}
	}
	// The samples given each context.
	samples := make([]*mat.Dense, len(contexts))
	for i, c := range contexts {
		s := mat.NewDense(g.n, d, nil)
		f.SampleGiven(s, nil, repeatRows(c, g.n), rnd)
		s, bad := finiteRows(s)
		if s == nil {
			return "", nil, 0, fmt.Errorf("none of the %d samples of %s given %s is finite: the model overflows float64", g.n, g.model, contextLabel(c, cnames))
		}
		if bad > 0 {
			fmt.Fprintf(w, "plot: left out %d of %d samples given %s that are not finite (the model overflows there)\n", bad, g.n, contextLabel(c, cnames))
		}
		samples[i] = s
	}
	// The ranges come from the data, or from all the samples.
	ref := g.x
	if ref == nil {
		var all mat.Dense
		all.CloneFrom(samples[0])
		for _, s := range samples[1:] {
			var m mat.Dense
			m.Stack(&all, s)
			all = m
		}
		ref = &all
	}
	refWhat := g.data
	if g.x == nil {
		refWhat = "the model's samples"
	}
	switch {
	case d == 1:
		lo, hi, err := span(ref, 0)
		if err != nil {
			return "", nil, 0, fmt.Errorf("%s: %w", refWhat, err)
		}
		var row []*plot.Plot
		for i, c := range contexts {
			p, note, err := linePlot(f, c, samples[i], nil, lo, hi, "given "+contextLabel(c, cnames), g.labels[0])
			if err != nil {
				return "", nil, 0, err
			}
			if note != "" {
				fmt.Fprintf(w, "plot: given %s: %s\n", contextLabel(c, cnames), note)
			}
			row = append(row, p)
		}
		return name + ": density (black) and samples (red) given each context", [][]*plot.Plot{row}, vg.Points(300), nil
	case d == 2:
		b, err := extent(ref, 0, 1)
		if err != nil {
			return "", nil, 0, fmt.Errorf("%s: %w", refWhat, err)
		}
		var dens, dots []*plot.Plot
		if g.x != nil {
			xDots, cDots := g.x, g.xc
			if n, _ := g.x.Dims(); n > maxDots {
				idx := spreadRows(n, maxDots)
				xDots, cDots = pickRows(g.x, idx), pickRows(g.xc, idx)
				fmt.Fprintf(w, "plot: drew %d of %d data rows as dots\n", maxDots, n)
			}
			by := "c"
			if len(cnames) > 0 {
				by = cnames[0]
			}
			p, err := scatterPlotBy(xDots, 0, 1, b, "data", g.labels[0], g.labels[1], mat.Col(nil, 0, cDots), by)
			if err != nil {
				return "", nil, 0, err
			}
			dens, dots = append(dens, p), append(dots, nil)
		}
		for i, c := range contexts {
			label := contextLabel(c, cnames)
			p, note := densityPlot(f, c, b, 200, "density given "+label, g.labels[0], g.labels[1])
			if note != "" {
				fmt.Fprintf(w, "plot: given %s: %s\n", label, note)
			}
			sp, err := scatterPlot(subsample(samples[i], maxDots), 0, 1, b, "samples given "+label, g.labels[0], g.labels[1], sampleColor)
			if err != nil {
				return "", nil, 0, err
			}
			dens, dots = append(dens, p), append(dots, sp)
		}
		title := name + ": the density and samples given each context"
		if g.x != nil {
			title += "; " + filepath.Base(g.data) + " coloured by its context"
		}
		return title, [][]*plot.Plot{dens, dots}, vg.Points(260), nil
	}
	if g.x != nil {
		fmt.Fprintf(w, "plot: the pairwise marginals are the model's given one context; the rows of %s, of all contexts, are not drawn\n", g.data)
	}
	cols := g.cols
	fmt.Fprintf(w, "plot: drew columns %s of %d (%s)", joinInts(cols, 1), d, strings.Join(pick(g.labels, cols), ", "))
	if g.colSpec == "" && d > len(cols) {
		fmt.Fprint(w, "; choose others with -cols")
	}
	fmt.Fprintln(w)
	s := samples[0]
	if ns, _ := s.Dims(); ns > maxDots {
		fmt.Fprintf(w, "plot: drew %d of %d samples as dots (the ranges and histograms use all)\n", maxDots, ns)
	}
	plots, err := pairsPlot(s, subsample(s, maxDots), nil, nil, cols, g.labels)
	if err != nil {
		return "", nil, 0, fmt.Errorf("the model's samples: %w", err)
	}
	return fmt.Sprintf("%s: pairwise marginals of its samples given %s", name, contextLabel(contexts[0], cnames)), plots, vg.Points(160), nil
}
