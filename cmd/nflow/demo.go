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
	if err := parse(fs, args); err != nil {
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
	nTrain, _ := learn.Dims()
	nTest, _ := test.Dims()
	fmt.Fprintf(stdout, "data set %s: %s\n%d training points, %d held out for testing\n", ds.Name, ds.Description, nTrain, nTest)
	fit, valid, err := splitRows(learn, to.valid, mo.seed)
	if err != nil {
		return err
	}
	std, err := flow.StandardizeData(fit)
	if err != nil {
		return err
	}
	f, err := mo.build(2, std)
	if err != nil {
		return err
	}
	if _, err := train(ctx, f, fit, valid, to, mo.seed, stdout); err != nil {
		return err
	}
	g, err := flow.FitGaussian(learn)
	if err != nil {
		return err
	}
	lf, sf := meanSE(f.LogProb(nil, test))
	lg, sg := meanSE(g.LogProb(nil, test))
	fmt.Fprintf(stdout, "held-out log-likelihood (mean log p over %d test points, nats):\n", nTest)
	fmt.Fprintf(stdout, "  flow      %8.4f ± %.4f\n", lf, sf)
	fmt.Fprintf(stdout, "  Gaussian  %8.4f ± %.4f  (the best full-covariance Gaussian)\n", lg, sg)
	if lf >= lg {
		fmt.Fprintf(stdout, "  the flow is better by %.4f nats per point\n", lf-lg)
	} else {
		fmt.Fprintf(stdout, "  the flow is worse by %.4f nats per point\n", lg-lf)
	}

	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	samples := mat.NewDense(nTest, 2, nil)
	f.Sample(samples, nil, rnd)
	b, err := extent(all, 0, 1)
	if err != nil {
		return err
	}
	dataPlot, err := scatterPlot(test, 0, 1, b, "held-out data", "x₁", "x₂", dataColor)
	if err != nil {
		return err
	}
	samplePlot, err := scatterPlot(samples, 0, 1, b, "flow samples", "x₁", "x₂", sampleColor)
	if err != nil {
		return err
	}
	density, _ := densityPlot(f, b, 300, "learned density", "x₁", "x₂")
	side := vg.Points(300)
	pictures := []struct {
		name  string
		plots [][]*plot.Plot
	}{
		{"density.png", [][]*plot.Plot{{density}}},
		{"samples.png", [][]*plot.Plot{{dataPlot, samplePlot}}},
		{"demo.png", [][]*plot.Plot{{dataPlot, density, samplePlot}}},
	}
	for _, p := range pictures {
		name := filepath.Join(*out, p.name)
		if err := writeAtomic(name, stdout, func(w io.Writer) error { return writePanels(w, p.plots, side) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", name)
	}
	model := filepath.Join(*out, "model.json")
	if err := saveModel(model, stdout, f); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\ndone in %s\n", model, time.Since(start).Round(100*time.Millisecond))
	return nil
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
