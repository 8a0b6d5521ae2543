// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestFitGaussianSingular checks that FitGaussian refuses a covariance that
// is singular, exactly or up to rounding noise, and says why.
func TestFitGaussianSingular(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	data := func(n, d int, row func(i int, r []float64)) *mat.Dense {
		x := mat.NewDense(n, d, nil)
		for i := 0; i < n; i++ {
			row(i, x.RawRowView(i))
		}
		return x
	}
	for _, c := range []struct {
		name string
		x    *mat.Dense
		want string
	}{
		{"collinear", data(200, 2, func(_ int, r []float64) {
			r[0] = rnd.NormFloat64()
			r[1] = 2*r[0] + 1
		}), "columns 0 and 1 are linearly dependent"},
		{"collinear up to 1e-12", data(200, 2, func(_ int, r []float64) {
			r[0] = rnd.NormFloat64()
			r[1] = 2*r[0] + 1 + 1e-12*rnd.NormFloat64()
		}), "columns 0 and 1 are linearly dependent"},
		{"collinear up to 1e-7", data(200, 2, func(_ int, r []float64) {
			r[0] = rnd.NormFloat64()
			r[1] = 2*r[0] + 1 + 1e-7*rnd.NormFloat64()
		}), "columns 0 and 1 are linearly dependent"},
		{"collinear up to 1e-9, large offset", data(200, 3, func(_ int, r []float64) {
			r[0] = 1e4 + rnd.NormFloat64()
			r[1] = rnd.NormFloat64()
			r[2] = r[0] - 3*r[1] + 1e-9*rnd.NormFloat64()
		}), "columns 0, 1 and 2 are linearly dependent"},
		{"three columns, two collinear", data(200, 3, func(_ int, r []float64) {
			r[0] = rnd.NormFloat64()
			r[1] = rnd.NormFloat64()
			r[2] = -0.5 * r[0]
		}), "columns 0 and 2 are linearly dependent"},
		{"constant column", data(50, 3, func(_ int, r []float64) {
			r[0] = rnd.NormFloat64()
			r[1] = 0.1
			r[2] = rnd.NormFloat64()
		}), "column 1 is constant"},
		{"zero column", data(50, 2, func(_ int, r []float64) {
			r[0] = rnd.NormFloat64()
		}), "column 1 is constant"},
		{"fewer rows than D+1", data(3, 3, func(_ int, r []float64) {
			for j := range r {
				r[j] = rnd.NormFloat64()
			}
		}), "3 rows: a 3-dimensional covariance needs at least 4"},
		{"one row", data(1, 1, func(_ int, r []float64) { r[0] = 1 }), "1 rows"},
	} {
		g, err := FitGaussian(c.x)
		if err == nil {
			lp := g.LogProb(nil, c.x)
			t.Errorf("%s: no error (log p of row 0: %v)", c.name, lp[0])
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want it to say %q", c.name, err, c.want)
		}
	}
}

// TestFitGaussianCorrelated checks that strongly but not degenerately
// correlated data, and columns of very different scales, are accepted and
// fitted: the log-density matches the closed form.
func TestFitGaussianCorrelated(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	const n = 500
	x := mat.NewDense(n, 3, nil)
	for i := 0; i < n; i++ {
		a := rnd.NormFloat64()
		x.Set(i, 0, 1e6*a)
		x.Set(i, 1, 1e-6*(a+1e-4*rnd.NormFloat64()))
		x.Set(i, 2, 5+rnd.NormFloat64())
	}
	g, err := FitGaussian(x)
	if err != nil {
		t.Fatal(err)
	}
	// The fitted density integrates the data's own scale: the mean log p
	// of the training rows is −(D/2)(1 + log 2π) − ½ log|Σ|.
	lp := g.LogProb(nil, x)
	mean := 0.0
	for _, v := range lp {
		mean += v / n
	}
	want := -1.5*(1+log2Pi) - 0.5*g.chol.LogDet()
	if math.Abs(mean-want) > 1e-6*math.Abs(want) {
		t.Errorf("mean log p %v, want %v", mean, want)
	}
}
