// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/nfgo/flow"
)

// maxDemoRows bounds demo's -n: the generated points, the pictures and
// training all hold them in memory (10⁷ rows of 2 columns are 160 MB).
const maxDemoRows = 10_000_000

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var names []string
	for _, d := range flow.Datasets() {
		names = append(names, d.Name)
	}
	sort.Strings(names)
	fs := newFlags("demo", stderr, "[-data moons] [-out nflow-demo]")
	var mo modelOptions
	var to trainOptions
	mo.register(fs, 8, "32,32")
	to.register(fs, 80, 128, 2e-3)
	dataName := fs.String("data", "moons", "built-in data set: "+strings.Join(names, ", "))
	n := fs.Int("n", 3000, "points drawn from a generated data set (a fifth held out for testing)")
	out := fs.String("out", "nflow-demo", "directory for the pictures and the model")
	recipeName := mo.registerSteps(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := applyRecipe(fs, *recipeName, stderr); err != nil {
		return err
	}
	if err := to.check(); err != nil {
		return err
	}
	ds, ok := flow.LookupDataset(*dataName)
	if !ok {
		return usageError{fmt.Sprintf("-data: no data set %q (%s)", *dataName, strings.Join(names, ", "))}
	}
	if *n < 20 || *n > maxDemoRows {
		return usageError{fmt.Sprintf("-n: %d, want 20 to %d", *n, maxDemoRows)}
	}
	start := time.Now()
	rnd := rand.New(rand.NewPCG(mo.seed, 0xde70))
	all := ds.Generate(*n, rnd)
	learn, test := split(all, 0.2, rnd)
	nTrain, cols := learn.Dims()
	nTest, _ := test.Dims()
	fmt.Fprintf(stdout, "data set %s: %s\n%d training points, %d held out for testing\n", ds.Name, ds.Description, nTrain, nTest)
	// A conditional data set's rows end with their context.
	d, c := cols-ds.Context, ds.Context
	learnX, learnC := dataContext(learn, d)
	testX, testC := dataContext(test, d)
	ti, vi, err := splitIndex(nTrain, to.valid, mo.seed)
	if err != nil {
		return err
	}
	fitX, validX := pickRows(learnX, ti), pickRows(learnX, vi)
	var fitC, validC *mat.Dense
	if c > 0 {
		fitC, validC = pickRows(learnC, ti), pickRows(learnC, vi)
	}
	std, err := flow.StandardizeData(fitX)
	if err != nil {
		return err
	}
	f, err := mo.build(d, c, std)
	if err != nil {
		return err
	}
	if err := initActNorm(f, fitX, fitC, stderr); err != nil {
		return err
	}
	if _, err := train(ctx, f, fitX, validX, fitC, validC, to, mo.seed, stdout); err != nil {
		return err
	}
	lf, sf := meanSE(f.LogProbGiven(nil, testX, matOrNil(testC)))
	var lg, sg float64
	what, given := "the best full-covariance Gaussian", ""
	if c > 0 {
		g, err := fitCondGaussian(learnX, learnC)
		if err != nil {
			return err
		}
		lg, sg = meanSE(g.logProb(testX, testC))
		what, given = "the best Gaussian with a mean linear in the context", " each given its context,"
	} else {
		g, err := flow.FitGaussian(learnX)
		if err != nil {
			return err
		}
		lg, sg = meanSE(g.LogProb(nil, testX))
	}
	fmt.Fprintf(stdout, "held-out log-likelihood (mean log p over %d test points,%s nats):\n", nTest, given)
	fmt.Fprintf(stdout, "  flow      %8.4f ± %.4f\n", lf, sf)
	fmt.Fprintf(stdout, "  Gaussian  %8.4f ± %.4f  (%s)\n", lg, sg, what)
	if lf >= lg {
		fmt.Fprintf(stdout, "  the flow is better by %.4f nats per point\n", lf-lg)
	} else {
		fmt.Fprintf(stdout, "  the flow is worse by %.4f nats per point\n", lg-lf)
	}

	// The pictures are written before the model, so that they are there
	// whatever becomes of the model file.
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	pictures, err := demoPictures(f, all, testX, testC, rnd)
	if err != nil {
		return err
	}
	side := vg.Points(300)
	for _, p := range pictures {
		name := filepath.Join(*out, p.name)
		if err := writeAtomic(name, stdout, func(w io.Writer) error { return writePanels(w, p.plots, side) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", name)
	}
	model := filepath.Join(*out, "model.json")
	if err := saveModel(model, stdout, f); err != nil {
		return fmt.Errorf("%s: %w", model, err)
	}
	fmt.Fprintf(stdout, "wrote %s\ndone in %s\n", model, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// picture is a named grid of panels.
type picture struct {
	name  string
	plots [][]*plot.Plot
}

// demoPictures draws demo's pictures of the 2-D flow f: the held-out data
// testX, the learned density and samples, over the extent of all rows of
// the data set. For a conditional flow testC holds the contexts of the
// rows of testX (nil otherwise): the data and the samples, drawn at the
// held-out contexts, are coloured by the first context column, and the
// density is drawn at a few contexts (see pickContexts).
func demoPictures(f *flow.Flow, all, testX, testC *mat.Dense, rnd *rand.Rand) ([]picture, error) {
	nTest, d := testX.Dims()
	b, err := extent(all, 0, 1)
	if err != nil {
		return nil, err
	}
	samples := mat.NewDense(nTest, d, nil)
	if testC == nil {
		f.Sample(samples, nil, rnd)
		dataPlot, err := scatterPlot(testX, 0, 1, b, "held-out data", "x₁", "x₂", dataColor)
		if err != nil {
			return nil, err
		}
		samplePlot, err := scatterPlot(samples, 0, 1, b, "flow samples", "x₁", "x₂", sampleColor)
		if err != nil {
			return nil, err
		}
		density, _ := densityPlot(f, nil, b, 300, "learned density", "x₁", "x₂")
		return []picture{
			{"density.png", [][]*plot.Plot{{density}}},
			{"samples.png", [][]*plot.Plot{{dataPlot, samplePlot}}},
			{"demo.png", [][]*plot.Plot{{dataPlot, density, samplePlot}}},
		}, nil
	}
	f.SampleGiven(samples, nil, testC, rnd)
	by := mat.Col(nil, 0, testC)
	dataPlot, err := scatterPlotBy(testX, 0, 1, b, "held-out data", "x₁", "x₂", by, "c")
	if err != nil {
		return nil, err
	}
	samplePlot, err := scatterPlotBy(samples, 0, 1, b, "flow samples at the same contexts", "x₁", "x₂", by, "c")
	if err != nil {
		return nil, err
	}
	var densities []*plot.Plot
	for _, c := range pickContexts(testC) {
		p, _ := densityPlot(f, c, b, 200, "density given "+contextLabel(c, nil), "x₁", "x₂")
		densities = append(densities, p)
	}
	return []picture{
		{"density.png", [][]*plot.Plot{densities}},
		{"samples.png", [][]*plot.Plot{{dataPlot, samplePlot}}},
		{"demo.png", [][]*plot.Plot{append(append([]*plot.Plot{dataPlot}, densities...), samplePlot)}},
	}, nil
}

// dataContext splits the columns of x into the first d, the data, and the
// rest, the context; the context is nil when there is no column left.
func dataContext(x *mat.Dense, d int) (data, context *mat.Dense) {
	_, cols := x.Dims()
	if cols == d {
		return x, nil
	}
	xi, ci := make([]int, d), make([]int, cols-d)
	for j := range xi {
		xi[j] = j
	}
	for j := range ci {
		ci[j] = d + j
	}
	return columns(x, xi), columns(x, ci)
}

// split shuffles the rows of x and returns the first 1−frac of them and the
// rest.
func split(x *mat.Dense, frac float64, rnd *rand.Rand) (a, b *mat.Dense) {
	n, d := x.Dims()
	idx := rnd.Perm(n)
	nb := int(frac * float64(n))
	a, b = mat.NewDense(n-nb, d, nil), mat.NewDense(nb, d, nil)
	for i, k := range idx {
		if i < n-nb {
			a.SetRow(i, x.RawRowView(k))
		} else {
			b.SetRow(i-(n-nb), x.RawRowView(k))
		}
	}
	return a, b
}
