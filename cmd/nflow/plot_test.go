// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// standardizeModel returns a model file of dimension d whose layers are
// standardize layers of the given scales, all shifts 0.
func standardizeModel(d int, scales ...string) string {
	var layers []string
	for _, s := range scales {
		layers = append(layers, fmt.Sprintf(`{"type":"standardize","dim":%d,"shift":[%s],"scale":[%s]}`,
			d, strings.Repeat(",0", d)[1:], strings.Repeat(","+s, d)[1:]))
	}
	return fmt.Sprintf(`{"format":"nfgo-flow","version":1,"dim":%d,"base":{"type":"std_normal"},"layers":[%s]}`,
		d, strings.Join(layers, ","))
}

// TestPlotHostileModels draws models whose samples or densities are beyond
// float64: every run ends with a picture or an error message, never a
// panic.
func TestPlotHostileModels(t *testing.T) {
	for _, tc := range []struct {
		name   string
		d      int
		scales []string
		data   bool
		code   int
		msg    string // in the standard error
	}{
		// The density underflows to −Inf on the whole grid.
		{"all-neginf", 2, []string{"1e-300"}, true, 0, "log p = −Inf everywhere: drawn flat"},
		{"denormal", 2, []string{"1e-320"}, false, 0, ""},
		{"denormal-pairs", 3, []string{"1e-320"}, false, 0, "drew columns 1,2,3 of 3"},
		{"huge", 2, []string{"1e300"}, false, 0, ""},
		// Half the samples overflow to ±Inf and the rest span more than
		// float64 can measure.
		{"overflow", 2, []string{"1.7e308"}, false, 1, "too wide a range to draw"},
		{"overflow-pairs", 3, []string{"1.7e308"}, false, 1, "too wide a range to draw"},
		{"overflow-data", 3, []string{"1.7e308"}, true, 0, "left out"},
		// Every sample overflows.
		{"all-inf", 2, []string{"1e300", "1e300"}, false, 1, "none of the 100 samples of model.json is finite"},
		{"one-dim", 1, []string{"1"}, true, 0, ""},
		{"one-dim-neginf", 1, []string{"1e-300"}, true, 0, "log p = −Inf everywhere"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "model.json"), standardizeModel(tc.d, tc.scales...))
			args := []string{"plot", "-model", "model.json", "-out", "p.png", "-n", "100"}
			if tc.data {
				var sb strings.Builder
				for i := 0; i < 20; i++ {
					for j := 0; j < tc.d; j++ {
						if j > 0 {
							sb.WriteByte(',')
						}
						fmt.Fprint(&sb, i*(j+1)%7)
					}
					sb.WriteByte('\n')
				}
				writeFile(t, filepath.Join(dir, "data.csv"), sb.String())
				args = append(args, "-data", "data.csv")
			}
			r := nflow(t, dir, args...)
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine") {
				t.Fatalf("panicked:\n%s", r.stderr)
			}
			if r.code != tc.code {
				t.Fatalf("status %d, want %d\n%s", r.code, tc.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("standard error %q does not contain %q", r.stderr, tc.msg)
			}
			if tc.code == 0 {
				png(t, filepath.Join(dir, "p.png"))
			} else if fs := files(t, dir); slices.Contains(fs, "p.png") {
				t.Errorf("a failed run wrote p.png")
			}
		})
	}
}

// TestPlotRobust feeds the drawing functions values that are not finite.
func TestPlotRobust(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, v := range []float64{nan, inf, -inf, -1, 2} {
		colorAt(v) // must not panic
	}

	if _, err := extent(mat.NewDense(3, 2, []float64{nan, 1, inf, 2, -inf, 3}), 0, 1); err == nil || !strings.Contains(err.Error(), "column 1: none of the 3 values is finite") {
		t.Errorf("extent of a column without finite values: error %v", err)
	}
	b, err := extent(mat.NewDense(3, 2, []float64{5, 1e300, 5, 1e300, 5, 1e300}), 0, 1)
	if err != nil || !(b.x0 < 5 && 5 < b.x1 && b.y0 < 1e300 && 1e300 < b.y1) {
		t.Errorf("extent of constant columns: %+v, %v", b, err)
	}
	b, err = extent(mat.NewDense(4, 2, []float64{0, 0, 1, nan, 2, inf, 3, 1}), 0, 1)
	if err != nil || !(b.x0 < 0 && 3 < b.x1 && b.y0 < 0 && 1 < b.y1 && !math.IsInf(b.y1, 0)) {
		t.Errorf("extent ignoring the values that are not finite: %+v, %v", b, err)
	}
	if _, err := extent(mat.NewDense(2, 2, []float64{-1.7e308, 0, 1.7e308, 1}), 0, 1); err == nil || !strings.Contains(err.Error(), "too wide") {
		t.Errorf("extent of a range beyond float64: error %v", err)
	}

	for _, tc := range []struct {
		lp   []float64
		want []float64
		note string
	}{
		{[]float64{0, -1, math.Log(0.5)}, []float64{1, math.Exp(-1), 0.5}, ""},
		{[]float64{-inf, -inf}, []float64{0, 0}, "log p = −Inf everywhere: drawn flat"},
		{[]float64{nan, -inf}, []float64{0, 0}, "log p is not finite anywhere: drawn flat"},
		{[]float64{nan, 0, -inf}, []float64{0, 1, 0}, "log p is NaN at 1 of 3 points"},
		{[]float64{inf, 1e300, -inf}, []float64{1, 0, 0}, "log p = +Inf at 1 of 3 points"},
	} {
		got, note := relDensity(tc.lp)
		if !slices.Equal(got, tc.want) || note != tc.note {
			t.Errorf("relDensity(%v) = %v, %q; want %v, %q", tc.lp, got, note, tc.want, tc.note)
		}
	}

	x := mat.NewDense(6, 1, []float64{nan, inf, -1, 0, 0.5, 1})
	h := histogram(x, 0, 0, 1, 2)
	if !slices.Equal(h, []float64{1.0 / 6, 2.0 / 6}) {
		t.Errorf("histogram = %v, want [1/6 2/6]", h)
	}

	x = mat.NewDense(4, 2, []float64{1, 2, nan, 0, 3, 4, 5, inf})
	got, bad := finiteRows(x)
	if bad != 2 || !mat.Equal(got, mat.NewDense(2, 2, []float64{1, 2, 3, 4})) {
		t.Errorf("finiteRows: %v, %d left out", mat.Formatted(got), bad)
	}
	if got, bad := finiteRows(mat.NewDense(1, 2, []float64{nan, 0})); got != nil || bad != 1 {
		t.Errorf("finiteRows of no finite row: %v, %d", got, bad)
	}
}

// TestPickRows checks that the scatter panels draw a bounded number of
// rows, spread over all of them.
func TestPickRows(t *testing.T) {
	for _, tc := range []struct{ n, k int }{{0, 5}, {3, 5}, {5, 5}, {6, 5}, {1000000, maxDots}, {2001, maxDots}} {
		idx := spreadRows(tc.n, tc.k)
		if len(idx) != min(tc.n, tc.k) {
			t.Errorf("spreadRows(%d, %d): %d rows", tc.n, tc.k, len(idx))
			continue
		}
		for i, r := range idx {
			if r < 0 || r >= tc.n || (i > 0 && r <= idx[i-1]) {
				t.Fatalf("spreadRows(%d, %d): row %d is %d after %v", tc.n, tc.k, i, r, idx[max(i-1, 0)])
			}
		}
		if len(idx) > 0 && (idx[0] != 0 || idx[len(idx)-1] < tc.n-(tc.n+tc.k-1)/tc.k) {
			t.Errorf("spreadRows(%d, %d): rows %d to %d do not span them all", tc.n, tc.k, idx[0], idx[len(idx)-1])
		}
	}
	x := mat.NewDense(5000, 2, nil)
	for i := 0; i < 5000; i++ {
		x.Set(i, 0, float64(i))
	}
	s := subsample(x, maxDots)
	if n, _ := s.Dims(); n != maxDots || s.At(1, 0) != 2 {
		t.Errorf("subsample: %d rows, the second row %v", n, s.At(1, 0))
	}
	if subsample(x, 6000) != x {
		t.Error("subsample of fewer rows than the bound copied them")
	}
}

// TestPlotSubsample checks that a plot of many samples says it drew only
// some of them.
func TestPlotSubsample(t *testing.T) {
	dir := t.TempDir()
	f, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: 3, Layers: 2, Hidden: []int{4}})
	if err != nil {
		t.Fatal(err)
	}
	if err := saveModel(filepath.Join(dir, "model.json"), io.Discard, f); err != nil {
		t.Fatal(err)
	}
	r := nflow(t, dir, "plot", "-model", "model.json", "-out", "p.png", "-n", "30000")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	if want := fmt.Sprintf("drew %d of 30000 samples as dots", maxDots); !strings.Contains(r.stderr, want) {
		t.Errorf("standard error %q does not say %q", r.stderr, want)
	}
	png(t, filepath.Join(dir, "p.png"))
}

// fiveDim writes a 5-D model with column names a … e and 200 rows of data
// with that header.
func fiveDim(t *testing.T, dir string) {
	t.Helper()
	f, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: 5, Layers: 2, Hidden: []int{4}})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"a", "b", "c", "d", "e"}
	if err := f.SetNames(names); err != nil {
		t.Fatal(err)
	}
	if err := saveModel(filepath.Join(dir, "model.json"), io.Discard, f); err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	x := mat.NewDense(200, 5, nil)
	for i := 0; i < 200; i++ {
		u := rnd.NormFloat64()
		x.SetRow(i, []float64{u, u * u, 3 + rnd.Float64(), -u, rnd.NormFloat64()})
	}
	var b bytes.Buffer
	if err := writeCSV(&b, names, x); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "data.csv"), b.String())
}

// TestPlotPairsData checks that a pairs plot draws the data, says which
// columns it drew, and takes -cols.
func TestPlotPairsData(t *testing.T) {
	dir := t.TempDir()
	fiveDim(t, dir)
	plot := func(args ...string) (result, []byte) {
		t.Helper()
		r := nflow(t, dir, append([]string{"plot", "-model", "model.json", "-out", "p.png", "-n", "300"}, args...)...)
		if r.code != 0 {
			t.Fatalf("plot %v: status %d\n%s", args, r.code, r.stderr)
		}
		b, err := os.ReadFile(filepath.Join(dir, "p.png"))
		if err != nil {
			t.Fatal(err)
		}
		return r, b
	}
	r, without := plot()
	if want := "drew columns 1,2,3,4,5 of 5 (a, b, c, d, e)"; !strings.Contains(r.stderr, want) {
		t.Errorf("standard error %q does not say %q", r.stderr, want)
	}
	_, with := plot("-data", "data.csv")
	if bytes.Equal(with, without) {
		t.Error("the picture with -data is the picture without")
	}
	r, _ = plot("-data", "data.csv", "-cols", "e,2, 1")
	if want := "drew columns 5,2,1 of 5 (e, b, a)"; !strings.Contains(r.stderr, want) {
		t.Errorf("-cols: standard error %q does not say %q", r.stderr, want)
	}

	for _, tc := range []struct {
		flag, val, msg string
	}{
		{"-cols", "1", "-cols: 1 columns, want 2 to 8"},
		{"-cols", "1,1", "-cols: column 1 is named twice"},
		{"-cols", "a,6", `-cols: "6" is not a column number from 1 to 5 or a column name (a, b, c, d, e)`},
		{"-cols", "a,x", `-cols: "x" is not`},
		{"-n", "20000000", "-n: 20000000 samples of dimension 5 are more than plot holds: at most 10000000"},
	} {
		r := nflow(t, dir, "plot", "-model", "model.json", "-out", "p.png", tc.flag, tc.val)
		if r.code != 2 || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%s %s: status %d, %q; want 2, %q", tc.flag, tc.val, r.code, r.stderr, tc.msg)
		}
	}

	// Data whose columns are named otherwise is an error.
	b, err := os.ReadFile(filepath.Join(dir, "data.csv"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "swapped.csv"), "b,a"+strings.TrimPrefix(string(b), "a,b"))
	r = nflow(t, dir, "plot", "-model", "model.json", "-out", "p.png", "-data", "swapped.csv")
	if want := "swapped.csv: the columns are named b,a,c,d,e, the model's a,b,c,d,e"; r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("swapped columns: status %d, %q; want 1, %q", r.code, r.stderr, want)
	}
}

// TestAxisLabels checks that the axes carry the columns' names when there
// are any.
func TestAxisLabels(t *testing.T) {
	for _, tc := range []struct {
		names []string
		d     int
		want  []string
	}{
		{nil, 2, []string{"x₁", "x₂"}},
		{[]string{"waiting", "eruption"}, 2, []string{"waiting", "eruption"}},
		{nil, 12, []string{"x₁", "x₂", "x₃", "x₄", "x₅", "x₆", "x₇", "x₈", "x₉", "x₁₀", "x₁₁", "x₁₂"}},
	} {
		if got := axisLabels(tc.names, tc.d); !slices.Equal(got, tc.want) {
			t.Errorf("axisLabels(%v, %d) = %v, want %v", tc.names, tc.d, got, tc.want)
		}
	}

	for _, tc := range []struct {
		model, header, want []string
		err                 bool
	}{
		{nil, nil, nil, false},
		{[]string{"a", "b"}, nil, []string{"a", "b"}, false},
		{nil, []string{"u", "v"}, []string{"u", "v"}, false},
		{[]string{"a", "b"}, []string{"a", "b"}, []string{"a", "b"}, false},
		{[]string{"a", "b"}, []string{"b", "a"}, nil, true},
	} {
		got, err := columnNames(tc.model, tc.header)
		if !slices.Equal(got, tc.want) || (err != nil) != tc.err {
			t.Errorf("columnNames(%v, %v) = %v, %v", tc.model, tc.header, got, err)
		}
	}

	// The pairs plot labels its outer axes with them.
	s := mat.NewDense(50, 3, nil)
	for i := 0; i < 50; i++ {
		s.SetRow(i, []float64{float64(i), float64(i * i), math.Sin(float64(i))})
	}
	labels := axisLabels([]string{"p", "q", "r"}, 3)
	plots, err := pairsPlot(s, s, nil, nil, []int{2, 0}, labels)
	if err != nil {
		t.Fatal(err)
	}
	if x, y := plots[1][1].X.Label.Text, plots[1][0].Y.Label.Text; x != "p" || y != "p" {
		t.Errorf("pairs plot of columns r, p: bottom right x label %q, bottom left y label %q; want p, p", x, y)
	}
	if x, y := plots[1][0].X.Label.Text, plots[0][0].Y.Label.Text; x != "r" || y != "r" {
		t.Errorf("pairs plot of columns r, p: bottom left x label %q, top left y label %q; want r, r", x, y)
	}
}
