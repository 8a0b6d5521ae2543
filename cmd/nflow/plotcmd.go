// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

func cmdPlot(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plot", stderr, "-model model.json -out model.png")
	model := fs.String("model", "", "the model file")
	out := fs.String("out", "model.png", "the PNG to write")
	n := fs.Int("n", 5000, "samples drawn to set the range (and, for D > 2, to draw)")
	seed := fs.Uint64("seed", 1, "random seed")
	data := fs.String("data", "", "optional CSV of data to draw beside the model")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 10 {
		return usageError{fmt.Sprintf("-n: %d, want at least 10", *n)}
	}
	if !strings.EqualFold(filepath.Ext(*out), ".png") {
		return usageError{fmt.Sprintf("-out: %q does not end in .png", *out)}
	}
	f, err := loadModel(*model)
	if err != nil {
		return err
	}
	var x *mat.Dense
	if *data != "" {
		if x, _, err = readCSV(*data); err != nil {
			return err
		}
		if _, d := x.Dims(); d != f.Dim() {
			return fmt.Errorf("%s has %d columns, the model %s has dimension %d", *data, d, *model, f.Dim())
		}
	}
	s := mat.NewDense(*n, f.Dim(), nil)
	f.Sample(s, nil, rand.New(rand.NewPCG(*seed, 0x6e666c6f77)))
	var plots [][]*plot.Plot
	side := vg.Points(300)
	switch {
	case f.Dim() == 1:
		return errors.New("plot: the model has dimension 1: nothing to draw in the plane")
	case f.Dim() == 2:
		ref := mat.Matrix(s)
		if x != nil {
			ref = x
		}
		b := extent(ref, 0, 1)
		row := []*plot.Plot{densityPlot(f, b, 240, "density")}
		// At most 2000 dots: more hide the shape.
		sp, err := scatterPlot(s.Slice(0, min(*n, 2000), 0, 2), 0, 1, b, "samples", "x₁", "x₂", sampleColor)
		if err != nil {
			return err
		}
		if x != nil {
			dp, err := scatterPlot(x, 0, 1, b, "data", "x₁", "x₂", dataColor)
			if err != nil {
				return err
			}
			row = append([]*plot.Plot{dp}, row...)
		}
		plots = [][]*plot.Plot{append(row, sp)}
	default:
		if plots, err = pairsPlot(s, colNames(f.Dim())); err != nil {
			return err
		}
		side = vg.Points(160)
	}
	return writeAtomic(*out, stdout, func(w io.Writer) error { return writePanels(w, plots, side) })
}
