// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// condFlow returns a conditional Real NVP (a MAF for d = 1) of dimension d
// with a context of c columns and random parameters.
func condFlow(t *testing.T, d, c int) *flow.Flow {
	t.Helper()
	var f *flow.Flow
	var err error
	if d == 1 {
		f, err = flow.NewMAFFlow(flow.AutoregressiveFlowConfig{Dim: d, Layers: 3, Hidden: []int{8}, Seed: 5, ContextDim: c})
	} else {
		f, err = flow.NewRealNVP(flow.RealNVPConfig{Dim: d, Layers: 3, Hidden: []int{8}, EvenOdd: d > 2, Seed: 5, ContextDim: c})
	}
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(6, 6))
	p := f.Params()
	for i := range p {
		p[i] = 0.3 * rnd.NormFloat64()
	}
	return f
}

// TestContextSpec reads fit's -context and splits tables' columns by it.
func TestContextSpec(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		k     int
		names []string
		err   string
	}{
		{spec: ""},
		{spec: "2", k: 2},
		{spec: " 1 ", k: 1},
		{spec: "r", names: []string{"r"}},
		{spec: "b, a", names: []string{"b", "a"}},
		{spec: "0", err: "-context: 0, want the number of last columns"},
		{spec: "-1", err: "-context: -1, want the number of last columns"},
		{spec: "a,,b", err: `-context: an empty column name in "a,,b"`},
		{spec: "a,b,a", err: `-context: column "a" is named twice`},
	} {
		s, err := parseContextSpec(tc.spec)
		if tc.err != "" {
			if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want a usage error with %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || s.k != tc.k || !slices.Equal(s.names, tc.names) || s.isSet() != (tc.spec != "") {
			t.Errorf("%q: %+v, %v", tc.spec, s, err)
		}
	}

	header := []string{"a", "r", "b", "m"}
	for _, tc := range []struct {
		spec   string
		header []string
		x, c   []int
		err    string
	}{
		{spec: "1", x: []int{0, 1, 2}, c: []int{3}},
		{spec: "3", x: []int{0}, c: []int{1, 2, 3}},
		{spec: "4", err: "d.csv has 4 columns: -context 4 leaves none for the data"},
		{spec: "9", err: "-context 9 leaves none"},
		{spec: "r", header: header, x: []int{0, 2, 3}, c: []int{1}},
		{spec: "m,r", header: header, x: []int{0, 2}, c: []int{3, 1}},
		{spec: "r", err: "d.csv has no header: -context r names columns; give the number of last columns instead (-context 1)"},
		{spec: "z", header: header, err: `d.csv: -context: no column "z" in the header (a,r,b,m)`},
		{spec: "a", header: []string{"a", "b", "a", "c"}, err: `the header names more than one column "a"`},
		{spec: "a,r,b,m", header: header, err: "-context a,r,b,m leaves none for the data"},
	} {
		s, err := parseContextSpec(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		x, c, err := s.split("d.csv", 4, tc.header)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(x, tc.x) || !slices.Equal(c, tc.c) {
			t.Errorf("%s: data %v, context %v, %v; want %v, %v", tc.spec, x, c, err, tc.x, tc.c)
		}
	}
	if got := describeCols([]int{3, 1}, header); got != `columns 4,2 ("m", "r")` {
		t.Errorf("describeCols: %s", got)
	}
	if got := strings.Join(colLabels([]int{1}, nil), "|"); got != "column 2" {
		t.Errorf("colLabels: %s", got)
	}
}

// TestModelColumns finds a conditional model's data and context columns in
// the tables that logprob, plot and sample read.
func TestModelColumns(t *testing.T) {
	f := condFlow(t, 2, 1)
	named := condFlow(t, 2, 1)
	if err := named.SetNames([]string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := named.SetContextNames([]string{"m"}); err != nil {
		t.Fatal(err)
	}
	dataOnly := condFlow(t, 2, 1)
	if err := dataOnly.SetNames([]string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		f      *flow.Flow
		cols   int
		header []string
		want   []int
		err    string
	}{
		{"plain", f, 3, nil, []int{0, 1, 2}, ""},
		{"plain-header", f, 3, []string{"x", "y", "z"}, []int{0, 1, 2}, ""},
		{"narrow", f, 2, nil, nil, "in.csv has 2 columns, the model m.json wants 3: its 2 data columns, then the 1 column of the context, on each row"},
		{"wide", named, 4, []string{"a", "b", "m", "q"}, nil, "in.csv has 4 columns, the model m.json wants 3"},
		{"named", named, 3, []string{"a", "b", "m"}, []int{0, 1, 2}, ""},
		{"reordered", named, 3, []string{"m", "b", "a"}, []int{2, 1, 0}, ""},
		{"named-no-header", named, 3, nil, []int{0, 1, 2}, ""},
		{"missing", named, 3, []string{"a", "b", "c"}, nil, `in.csv: no column "m" in the header (a,b,c); the model m.json has the data columns a,b and the context m`},
		{"data-names", dataOnly, 3, []string{"a", "b", "anything"}, []int{0, 1, 2}, ""},
		{"data-names-differ", dataOnly, 3, []string{"b", "a", "m"}, nil, "in.csv: the columns are reordered"},
	} {
		got, err := modelColumns("in.csv", tc.cols, tc.header, "m.json", tc.f)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}

	for _, tc := range []struct {
		name   string
		f      *flow.Flow
		cols   int
		header []string
		want   []int
		err    string
	}{
		{"plain", f, 1, nil, []int{0}, ""},
		{"plain-header", f, 1, []string{"r"}, []int{0}, ""},
		{"wide", f, 2, nil, nil, "ctx.csv has 2 columns, the model m.json has a context of 1 column"},
		{"named", named, 3, []string{"q", "m", "z"}, []int{1}, ""},
		{"named-missing", named, 2, []string{"q", "z"}, nil, `ctx.csv: no column "m" in the header (q,z); the model m.json's context is m`},
		{"named-no-header", named, 1, nil, []int{0}, ""},
		{"named-no-header-wide", named, 2, nil, nil, "ctx.csv has 2 columns"},
	} {
		got, err := contextColumns("ctx.csv", tc.cols, tc.header, "m.json", tc.f)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("context %s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("context %s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

// TestContextWarnings warns of context columns far from unit scale, and of
// none near it.
func TestContextWarnings(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	n := 500
	c := mat.NewDense(n, 5, nil)
	for i := 0; i < n; i++ {
		u := rnd.NormFloat64()
		c.SetRow(i, []float64{
			u,              // unit scale
			float64(i % 2), // 0/1: fine
			100 + 30*u,     // large
			0.01 * u,       // tiny
			7,              // constant
		})
	}
	w := contextWarnings(c, []string{"column 1", "column 2", `"r" (column 3)`, "column 4", "column 5"})
	if len(w) != 3 {
		t.Fatalf("%d warnings, want 3:\n%s", len(w), strings.Join(w, "\n"))
	}
	for i, want := range []string{
		`context "r" (column 3) has mean 100 and standard deviation 29.`,
		"context column 4 has mean",
		"context column 5 is constant (7): it tells the model nothing",
	} {
		if !strings.HasPrefix(w[i], want) {
			t.Errorf("warning %d is %q, want it to start %q", i, w[i], want)
		}
	}
	if !strings.Contains(w[0], "consider standardising it") || !strings.Contains(w[0], "unit scale") {
		t.Errorf("the warning does not say what to do: %q", w[0])
	}
	// A mean far from 0 against a unit spread.
	for i := 0; i < n; i++ {
		c.Set(i, 0, 6+c.At(i, 0))
	}
	if w := contextWarnings(c.Slice(0, n, 0, 2).(*mat.Dense), []string{"column 1", "column 2"}); len(w) != 1 || !strings.HasPrefix(w[0], "context column 1 has mean 6") {
		t.Errorf("mean 6, sd 1: %q", w)
	}
}

// TestCondGaussian checks the conditional Gaussian reference against least
// squares: for x = a + b·c + e, log p(x | c) is that of N(â + b̂c, σ̂²).
func TestCondGaussian(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	n := 300
	x, c := mat.NewDense(n, 1, nil), mat.NewDense(n, 1, nil)
	for i := 0; i < n; i++ {
		ci := 3 * rnd.Float64()
		c.Set(i, 0, ci)
		x.Set(i, 0, 1+2*ci+0.5*rnd.NormFloat64())
	}
	g, err := fitCondGaussian(x, c)
	if err != nil {
		t.Fatal(err)
	}
	var mx, mc float64
	for i := 0; i < n; i++ {
		mx += x.At(i, 0) / float64(n)
		mc += c.At(i, 0) / float64(n)
	}
	var sxc, scc float64
	for i := 0; i < n; i++ {
		sxc += (x.At(i, 0) - mx) * (c.At(i, 0) - mc)
		scc += (c.At(i, 0) - mc) * (c.At(i, 0) - mc)
	}
	b := sxc / scc
	a := mx - b*mc
	var s2 float64
	for i := 0; i < n; i++ {
		r := x.At(i, 0) - a - b*c.At(i, 0)
		s2 += r * r / float64(n)
	}
	got := g.logProb(x, c)
	for i, v := range got {
		r := x.At(i, 0) - a - b*c.At(i, 0)
		want := -0.5*math.Log(2*math.Pi*s2) - r*r/(2*s2)
		if math.Abs(v-want) > 1e-9 {
			t.Fatalf("row %d: log p = %v, least squares give %v", i, v, want)
		}
	}
	// A constant context: no Gaussian of (x, c).
	if _, err := fitCondGaussian(x, mat.NewDense(n, 1, nil)); err == nil {
		t.Error("a constant context: no error")
	}
}

// TestPickContexts picks the distinct contexts of a label, and quantiles of
// a continuous one.
func TestPickContexts(t *testing.T) {
	n := 600
	labels, radii, pairs := mat.NewDense(n, 1, nil), mat.NewDense(n, 1, nil), mat.NewDense(n, 2, nil)
	for i := 0; i < n; i++ {
		labels.Set(i, 0, float64(1-i%2))
		r := 0.5 + 1.5*float64((i*7)%n)/float64(n-1) // a permutation of an even grid on [0.5, 2]
		radii.Set(i, 0, r)
		pairs.SetRow(i, []float64{r, -r})
	}
	if got := pickContexts(labels); !slices.EqualFunc(got, [][]float64{{0}, {1}}, slices.Equal) {
		t.Errorf("labels: %v", got)
	}
	got := pickContexts(radii)
	want := []float64{0.75, 1.25, 1.75}
	if len(got) != 3 {
		t.Fatalf("radii: %v", got)
	}
	for i := range got {
		if math.Abs(got[i][0]-want[i]) > 0.01 {
			t.Errorf("radii: %v, want about %v", got, want)
		}
	}
	if got := pickContexts(pairs); len(got) != 3 || got[1][0] != -got[1][1] || math.Abs(got[1][0]-1.25) > 0.01 {
		t.Errorf("pairs: %v", got)
	}
	if got := contextLabel([]float64{0.5}, nil); got != "c = 0.5" {
		t.Errorf("label %q", got)
	}
	if got := contextLabel([]float64{1, 2.25}, []string{"u", "v"}); got != "(u, v) = (1, 2.25)" {
		t.Errorf("label %q", got)
	}
}

// TestPlotContexts reads plot's -context: numbers, or a file of contexts.
func TestPlotContexts(t *testing.T) {
	dir := t.TempDir()
	f1, f2 := condFlow(t, 2, 1), condFlow(t, 2, 2)
	writeFile(t, filepath.Join(dir, "ctx.csv"), "r\n0.5\n1.5\n")
	writeFile(t, filepath.Join(dir, "many.csv"), "1\n2\n3\n4\n5\n6\n7\n")
	writeFile(t, filepath.Join(dir, "nan.csv"), "1\nNaN\n")
	writeFile(t, filepath.Join(dir, "wide.csv"), "1,2\n")
	for _, tc := range []struct {
		spec  string
		f     *flow.Flow
		want  [][]float64
		err   string
		usage bool
	}{
		{spec: "0;1", f: f1, want: [][]float64{{0}, {1}}},
		{spec: " 0.75 ; 1.25;1.75", f: f1, want: [][]float64{{0.75}, {1.25}, {1.75}}},
		{spec: "1,2;3,4", f: f2, want: [][]float64{{1, 2}, {3, 4}}},
		{spec: "1;2", f: f2, err: "-context: context 1 has 1 number, the model m.json's context has 2", usage: true},
		{spec: "0,1", f: f1, err: "context 1 has 2 numbers", usage: true},
		{spec: "NaN", f: f1, err: "-context: context 1 holds NaN, not a finite number", usage: true},
		{spec: "1;2;3;4;5;6;7", f: f1, err: "-context: more than 6 contexts", usage: true},
		{spec: "ctx.csv", f: f1, want: [][]float64{{0.5}, {1.5}}},
		{spec: "many.csv", f: f1, err: "more than 6 contexts", usage: true},
		{spec: "nan.csv", f: f1, err: "nan.csv: line 2, column 1: NaN is not a finite number"},
		{spec: "wide.csv", f: f1, err: "wide.csv has 2 columns, the model m.json has a context of 1 column"},
		{spec: "nothing.csv", f: f1, err: "nothing.csv is neither contexts (numbers: \"0;1\") nor a readable file"},
	} {
		spec := tc.spec
		if strings.HasSuffix(spec, ".csv") {
			spec = filepath.Join(dir, spec)
		}
		got, err := plotContexts(spec, "m.json", tc.f)
		if tc.err != "" {
			_, usage := err.(usageError)
			if err == nil || !strings.Contains(err.Error(), tc.err) || usage != tc.usage {
				t.Errorf("%q: error %v (usage %v), want %q", tc.spec, err, usage, tc.err)
			}
			continue
		}
		if err != nil || !slices.EqualFunc(got, tc.want, slices.Equal) {
			t.Errorf("%q: %v, %v; want %v", tc.spec, got, err, tc.want)
		}
	}
}

// TestSampleGivenStream checks that the samples written a batch at a time
// for each context are those of one SampleEach call for all contexts, and
// that the first column names each sample's context row.
func TestSampleGivenStream(t *testing.T) {
	f := condFlow(t, 3, 2)
	rows := batchRows(5)
	for _, tc := range []struct{ m, n int }{{1, 1}, {3, 5}, {1, rows + 3}, {2, rows - 1}, {rows + 7, 2}, {5, 2*rows + 1}} {
		for _, logq := range []bool{false, true} {
			// A table of contexts with a third column to ignore, by name.
			ctx := mat.NewDense(tc.m, 2, nil)
			var tb strings.Builder
			tb.WriteString("skip,u,v\n")
			rnd := rand.New(rand.NewPCG(uint64(tc.m), 1))
			for i := 0; i < tc.m; i++ {
				u, v := rnd.NormFloat64(), rnd.NormFloat64()
				ctx.SetRow(i, []float64{u, v})
				fmt.Fprintf(&tb, "%d,%v,%v\n", 100+i, u, v)
			}
			tr, err := newTableReader("ctx.csv", strings.NewReader(tb.String()))
			if err != nil {
				t.Fatal(err)
			}
			cs, err := newContextStream(tr, []int{1, 2})
			if err != nil {
				t.Fatal(err)
			}
			header := []string{"context_row", "a", "b", "c"}
			if logq {
				header = append(header, "logq")
			}
			var got bytes.Buffer
			if err := sampleGivenCSV(&got, f, header, cs, tc.n, logq, rand.New(rand.NewPCG(9, 9))); err != nil {
				t.Fatal(err)
			}
			k := tc.m * tc.n
			var x mat.Dense
			var lq []float64
			if logq {
				lq = make([]float64, k)
			}
			f.SampleEach(&x, lq, ctx, tc.n, rand.New(rand.NewPCG(9, 9)))
			var want bytes.Buffer
			cw := newCSVWriter(&want)
			cw.header(header)
			for r := 0; r < k; r++ {
				row := append([]float64{float64(r/tc.n + 1)}, x.RawRowView(r)...)
				var last []float64
				if logq {
					last = lq[r : r+1]
				}
				cw.rows(row, 4, last)
			}
			if err := cw.Flush(); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("m=%d n=%d logq=%v: the streamed samples differ from one SampleEach call", tc.m, tc.n, logq)
			}
		}
	}
}

// TestLogProbGivenStream checks logprob's rows with their contexts,
// reordered by name, over several batches: each log-density is that of one
// LogProbGiven call for all rows.
func TestLogProbGivenStream(t *testing.T) {
	f := condFlow(t, 2, 1)
	if err := f.SetNames([]string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetContextNames([]string{"m"}); err != nil {
		t.Fatal(err)
	}
	n := batchRows(3) + 50
	rnd := rand.New(rand.NewPCG(7, 7))
	x, c := mat.NewDense(n, 2, nil), mat.NewDense(n, 1, nil)
	var tb strings.Builder
	tb.WriteString("m,b,a\n")
	for i := 0; i < n; i++ {
		a, b, m := rnd.NormFloat64(), rnd.NormFloat64(), float64(i%2)
		x.SetRow(i, []float64{a, b})
		c.Set(i, 0, m)
		fmt.Fprintf(&tb, "%v,%v,%v\n", m, b, a)
	}
	tr, err := newTableReader("in.csv", strings.NewReader(tb.String()))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := modelColumns("in.csv", tr.Cols(), tr.Header(), "m.json", f)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]float64, batchRows(3)*3)
	m, err := tr.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	var acc meanAcc
	if err := logProbCSV(&got, f, tr, buf, m, idx, &acc); err != nil {
		t.Fatal(err)
	}
	want := f.LogProbGiven(nil, x, c)
	lines := strings.Split(strings.TrimSuffix(got.String(), "\n"), "\n")
	if len(lines) != n+1 || lines[0] != "logp" {
		t.Fatalf("%d lines starting %q", len(lines), lines[0])
	}
	for i, l := range lines[1:] {
		if v, err := strconv.ParseFloat(l, 64); err != nil || v != want[i] {
			t.Fatalf("row %d is %q, want %v", i, l, want[i])
		}
	}
	if mean, _ := meanSE(want); acc.n != n || math.Abs(acc.mean-mean) > 1e-12 {
		t.Errorf("summary of %d rows, mean %v; want %d, %v", acc.n, acc.mean, n, mean)
	}
}

// TestPlotGiven draws conditional flows of dimension 1, 2 and 3, with and
// without data, into PNG files, and checks what plot says on standard
// error.
func TestPlotGiven(t *testing.T) {
	dir := t.TempDir()
	rnd := rand.New(rand.NewPCG(2, 2))
	data := flow.TwoMoonsGiven(400, 0.1, rnd)
	x, xc := dataContext(data, 2)
	for _, tc := range []struct {
		name     string
		d        int
		x, xc    *mat.Dense
		contexts [][]float64
		rows     int
		panels   int // in the first row
		stderr   string
	}{
		{name: "2d", d: 2, contexts: [][]float64{{0}, {1}}, rows: 2, panels: 2},
		{name: "2d-data", d: 2, x: x, xc: xc, contexts: pickContexts(xc), rows: 2, panels: 3},
		{name: "1d", d: 1, contexts: [][]float64{{0}, {0.5}, {1}}, rows: 1, panels: 3},
		{name: "3d", d: 3, contexts: [][]float64{{0}, {1}}, rows: 3, panels: 3, stderr: "plot: the model has dimension 3: drew the samples given the first context, c = 0, of 2"},
	} {
		f := condFlow(t, tc.d, 1)
		g := givenPlot{f: f, model: "m.json", data: "d.csv", x: tc.x, xc: tc.xc, contexts: tc.contexts, n: 500, seed: 1,
			labels: axisLabels(nil, tc.d), cols: []int{0, 1, 2}[:min(tc.d, 3)]}
		var stderr bytes.Buffer
		title, plots, side, err := g.draw(&stderr)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(plots) != tc.rows || len(plots[0]) != tc.panels {
			t.Errorf("%s: %d rows of %d panels, want %d of %d", tc.name, len(plots), len(plots[0]), tc.rows, tc.panels)
		}
		if !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%s: standard error %q, want %q", tc.name, stderr.String(), tc.stderr)
		}
		if tc.d == 2 {
			want := []string{"density given c = 0", "density given c = 1"}
			var got []string
			for _, p := range plots[0] {
				if strings.HasPrefix(p.Title.Text, "density") {
					got = append(got, p.Title.Text)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: density panels %q, want %q", tc.name, got, want)
			}
			if tc.x != nil && !strings.HasPrefix(plots[0][0].Title.Text, "data\ncoloured by c: 0 dark to 1 bright") {
				t.Errorf("%s: the data panel is %q", tc.name, plots[0][0].Title.Text)
			}
		}
		drawn := len(g.contexts) // contexts drawn: one for D > 2
		if tc.d > 2 {
			drawn = 1
		}
		g.n = maxValues/tc.d/drawn + 1
		if _, _, _, err := g.draw(io.Discard); err == nil || !strings.Contains(err.Error(), "are more than plot holds") {
			t.Errorf("%s: -n %d: %v", tc.name, g.n, err)
		}
		name := filepath.Join(dir, tc.name+".png")
		if err := writeAtomic(name, io.Discard, func(w io.Writer) error { return writeFigure(w, title, plots, side) }); err != nil {
			t.Fatal(err)
		}
		png(t, name)
	}
}

// TestDemoPicturesGiven trains a small conditional flow on moons given the
// moon as demo does: given the context it beats the best Gaussian with a
// mean linear in the context, and demo's pictures draw the density at
// both moons.
func TestDemoPicturesGiven(t *testing.T) {
	ds, _ := flow.LookupDataset("moons-given")
	rnd := rand.New(rand.NewPCG(1, 0xde70))
	all := ds.Generate(1500, rnd)
	learn, test := split(all, 0.2, rnd)
	learnX, learnC := dataContext(learn, 2)
	testX, testC := dataContext(test, 2)
	std, err := flow.StandardizeData(learnX)
	if err != nil {
		t.Fatal(err)
	}
	mo := modelOptions{kind: "realnvp", layers: 4, hidden: "16,16", activation: "tanh", clamp: 3, seed: 1}
	f, err := mo.build(2, ds.Context, std)
	if err != nil {
		t.Fatal(err)
	}
	if f.ContextDim() != 1 {
		t.Fatalf("context dimension %d", f.ContextDim())
	}
	to := trainOptions{epochs: 20, batch: 128, lr: 5e-3}
	if _, err := train(context.Background(), f, learnX, nil, learnC, nil, to, 1, io.Discard); err != nil {
		t.Fatal(err)
	}
	g, err := fitCondGaussian(learnX, learnC)
	if err != nil {
		t.Fatal(err)
	}
	lf, _ := meanSE(f.LogProbGiven(nil, testX, testC))
	lg, _ := meanSE(g.logProb(testX, testC))
	if !(lf > lg+0.5) {
		t.Errorf("held-out log-likelihood given the moon: flow %v, Gaussian %v", lf, lg)
	}
	pics, err := demoPictures(f, all, testX, testC, rnd)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, p := range pics[2].plots[0] {
		titles = append(titles, strings.SplitN(p.Title.Text, "\n", 2)[0])
	}
	if want := []string{"held-out data", "density given c = 0", "density given c = 1", "flow samples at the same contexts"}; !slices.Equal(titles, want) {
		t.Errorf("demo.png panels %q, want %q", titles, want)
	}
	dir := t.TempDir()
	for _, p := range pics {
		name := filepath.Join(dir, p.name)
		if err := writeAtomic(name, io.Discard, func(w io.Writer) error { return writePanels(w, p.plots, 200) }); err != nil {
			t.Fatal(err)
		}
		png(t, name)
	}
}

// TestDatasetsConditional: nflow datasets marks the conditional data sets.
func TestDatasetsConditional(t *testing.T) {
	var so, se bytes.Buffer
	if code := run(context.Background(), []string{"datasets"}, &so, &se); code != 0 {
		t.Fatalf("status %d: %s", code, se.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(so.String()), "\n") {
		name := strings.Fields(l)[0]
		ds, ok := flow.LookupDataset(name)
		if !ok {
			t.Fatalf("%q lists no data set", l)
		}
		if marked := strings.HasSuffix(l, "[conditional: the last column is the context]"); marked != (ds.Context == 1) {
			t.Errorf("%q: marked %v, context %d", l, marked, ds.Context)
		}
	}
}
