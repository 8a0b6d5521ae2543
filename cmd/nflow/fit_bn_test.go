// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfgo/flow"
)

// TestFitBatchNorm checks -batchnorm with every model: every coupling or
// MAF layer of the fitted model is followed, in the model's order (base
// side first), by a BatchNorm layer, and then by its -lu and -actnorm
// layers; the standardisation stays last; the stored statistics are those
// of the training rows (flow.SetBatchNormStats on them gives the same
// held-out log-densities, to rounding: Fit sums over its shuffled rows).
func TestFitBatchNorm(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.csv")
	moonsCSV(t, data, 200, 5)
	trainRows, validRows := validRows(t, data)
	for _, tc := range []struct {
		model       string
		lu, actnorm bool
	}{
		{"realnvp", false, false},
		{"nsf", false, false},
		{"maf", false, false},
		{"nsf-ar", false, false},
		{"maf", true, true},
	} {
		name := fmt.Sprintf("%s/lu=%v/actnorm=%v", tc.model, tc.lu, tc.actnorm)
		args := []string{"fit", "-in", "data.csv", "-model", tc.model, "-out", "m.json", "-epochs", "2", "-layers", "2", "-hidden", "8", "-batchnorm"}
		if tc.lu {
			args = append(args, "-lu")
		}
		if tc.actnorm {
			args = append(args, "-actnorm")
		}
		r := nflow(t, dir, args...)
		if r.code != 0 {
			t.Fatalf("%s: status %d\n%s", name, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "set the statistics of 2 BatchNorm layers to the mean and variance of their inputs over the 180 training rows, for evaluation\n") {
			t.Errorf("%s: does not say it set the statistics:\n%s", name, r.stderr)
		}
		f := loadFlow(t, filepath.Join(dir, "m.json"))
		ls := f.Layers()
		if _, ok := ls[len(ls)-1].(*flow.Standardize); !ok {
			t.Errorf("%s: the last layer is %T, want the standardisation", name, ls[len(ls)-1])
		}
		steps, bns := 0, 0
		for i, l := range ls {
			switch l.(type) {
			case *flow.Coupling, *flow.MAF:
				steps++
				if _, ok := ls[i+1].(*flow.BatchNorm); !ok {
					t.Errorf("%s: layer %d (%T) is followed by %T, want a BatchNorm layer", name, i, l, ls[i+1])
				}
				if tc.lu {
					if _, ok := ls[i+2].(*flow.LULinear); !ok {
						t.Errorf("%s: layer %d is %T, want an LU layer", name, i+2, ls[i+2])
					}
				}
			case *flow.BatchNorm:
				bns++
			}
		}
		if steps != 2 || bns != 2 {
			t.Errorf("%s: %d coupling or MAF layers, %d BatchNorm", name, steps, bns)
		}
		g := loadFlow(t, filepath.Join(dir, "m.json"))
		if _, err := flow.SetBatchNormStats(g, trainRows, nil); err != nil {
			t.Fatal(err)
		}
		want, got := g.LogProb(nil, validRows), f.LogProb(nil, validRows)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-10*math.Max(1, math.Abs(want[i])) {
				t.Errorf("%s: held-out row %d: log p %v, with the statistics of the training rows %v", name, i, got[i], want[i])
				break
			}
		}
	}
	r := nflow(t, dir, "fit", "-in", "data.csv", "-init", "m.json", "-out", "m2.json", "-batchnorm")
	if r.code != 2 || !strings.Contains(r.stderr, "-batchnorm") {
		t.Errorf("-init with -batchnorm: status %d\n%s", r.code, r.stderr)
	}
}
