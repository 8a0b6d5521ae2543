// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// ringCSV writes n rows of rings given their radius with the header, the
// columns (x, y, r) in the order that cols gives (a permutation of 0, 1,
// 2), and the context scaled by scale.
func ringCSV(t *testing.T, name string, n int, header []string, cols []int, scale float64) *mat.Dense {
	t.Helper()
	x := flow.RingGiven(n, rand.New(rand.NewPCG(4, 4)))
	for i := 0; i < n; i++ {
		x.Set(i, 2, scale*x.At(i, 2))
	}
	var b bytes.Buffer
	if err := writeCSV(&b, header, columns(x, cols)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, name, b.String())
	return x
}

// TestFitGiven fits conditional models through the command and uses them
// with logprob, sample and plot. It needs a model format that holds
// conditional flows.
func TestFitGiven(t *testing.T) {
	dir := t.TempDir()
	ring := ringCSV(t, filepath.Join(dir, "ring.csv"), 400, []string{"x", "y", "r"}, []int{0, 1, 2}, 1)
	ringCSV(t, filepath.Join(dir, "ryx.csv"), 400, []string{"r", "y", "x"}, []int{2, 1, 0}, 1)
	ringCSV(t, filepath.Join(dir, "scaled.csv"), 400, nil, []int{0, 1, 2}, 100)
	writeFile(t, filepath.Join(dir, "ctx.csv"), "note,r\n7,0.75\n8,1.5\n")
	x, c := dataContext(ring, 2)

	r := nflow(t, dir, "fit", "-in", "ring.csv", "-context", "1", "-out", "m.json", "-epochs", "3", "-layers", "2", "-hidden", "8")
	if !strings.Contains(r.stderr, `the data: columns 1,2 ("x", "y"); the context: column 3 ("r")`) {
		t.Errorf("fit does not say which columns are the context:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("fit warns of a context of unit scale:\n%s", r.stderr)
	}
	if r.code != 0 {
		t.Fatalf("fit -context 1: status %d\n%s", r.code, r.stderr)
	}
	held := regexp.MustCompile(`held-out NLL \(mean −log p over the 40 validation rows, each given its context, nats per row; lower is better\):\n  flow +[-0-9.]+ ± [0-9.]+\n  Gaussian +[-0-9.]+ ± [0-9.]+  \(the best Gaussian of x given c with a mean linear in c, N\(a \+ Bc, Σ\), of the training rows\)\n`)
	if !held.MatchString(r.stderr) {
		t.Errorf("fit: no held-out report given the context:\n%s", r.stderr)
	}
	f := loadFlow(t, filepath.Join(dir, "m.json"))
	if f.Dim() != 2 || f.ContextDim() != 1 || !slices.Equal(f.Names(), []string{"x", "y"}) || !slices.Equal(f.ContextNames(), []string{"r"}) {
		t.Fatalf("the model: D %d, C %d, names %v, context names %v", f.Dim(), f.ContextDim(), f.Names(), f.ContextNames())
	}

	// logprob: the rows with their contexts, also reordered by name.
	want := f.LogProbGiven(nil, x, c)
	for _, in := range []string{"ring.csv", "ryx.csv"} {
		r = nflow(t, dir, "logprob", "-model", "m.json", "-in", in)
		if r.code != 0 {
			t.Fatalf("logprob %s: status %d\n%s", in, r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 401 || lines[0] != "logp" {
			t.Fatalf("logprob %s: %d lines starting %q", in, len(lines), lines[0])
		}
		for i, l := range lines[1:] {
			if v, err := strconv.ParseFloat(l, 64); err != nil || v != want[i] {
				t.Fatalf("logprob %s: row %d is %q, want %v", in, i, l, want[i])
			}
		}
	}
	r = nflow(t, dir, "logprob", "-model", "m.json", "-in", "scaled.csv", "-out", "lp.csv")
	if r.code != 0 {
		t.Errorf("logprob of rows without a header: status %d\n%s", r.code, r.stderr)
	}

	// sample: 3 samples for each of the 2 contexts, by name.
	r = nflow(t, dir, "sample", "-model", "m.json", "-context", "ctx.csv", "-n", "3", "-logq", "-seed", "5", "-out", "s.csv")
	if r.code != 0 {
		t.Fatalf("sample: status %d\n%s", r.code, r.stderr)
	}
	s, header, err := readCSV(filepath.Join(dir, "s.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(header, ",") != "context_row,x,y,logq" {
		t.Errorf("sample: header %v", header)
	}
	var xs mat.Dense
	lq := make([]float64, 6)
	f.SampleEach(&xs, lq, mat.NewDense(2, 1, []float64{0.75, 1.5}), 3, rand.New(rand.NewPCG(5, 0x6e666c6f77)))
	for i := 0; i < 6; i++ {
		if got, want := s.RawRowView(i), []float64{float64(i/3 + 1), xs.At(i, 0), xs.At(i, 1), lq[i]}; !slices.Equal(got, want) {
			t.Errorf("sample row %d: %v, want %v", i, got, want)
		}
	}
	r = nflow(t, dir, "sample", "-model", "m.json", "-n", "3")
	if r.code != 2 || !strings.Contains(r.stderr, "the model m.json is conditional (a context of 1 column named r): give the contexts to sample at with -context ctx.csv") {
		t.Errorf("sample without -context: status %d\n%s", r.code, r.stderr)
	}

	// plot: at the data's contexts, at given ones, or an error.
	for _, args := range [][]string{
		{"plot", "-model", "m.json", "-out", "p.png", "-data", "ring.csv", "-n", "300"},
		{"plot", "-model", "m.json", "-out", "q.png", "-context", "0.75;1.5", "-n", "300"},
		{"plot", "-model", "m.json", "-out", "r.png", "-context", "ctx.csv", "-n", "300"},
	} {
		if r = nflow(t, dir, args...); r.code != 0 {
			t.Fatalf("%v: status %d\n%s", args, r.code, r.stderr)
		}
		png(t, filepath.Join(dir, args[4]))
	}
	r = nflow(t, dir, "plot", "-model", "m.json", "-out", "none.png")
	if r.code != 2 || !strings.Contains(r.stderr, "the model m.json is conditional: give the contexts to draw it at with -context") {
		t.Errorf("plot without contexts: status %d\n%s", r.code, r.stderr)
	}

	// A named context in the first column, with a MAF; a context far from
	// unit scale draws a warning.
	r = nflow(t, dir, "fit", "-in", "ryx.csv", "-context", "r", "-model", "maf", "-out", "maf.json", "-epochs", "2", "-layers", "2", "-hidden", "8")
	if r.code != 0 {
		t.Fatalf("fit -context r: status %d\n%s", r.code, r.stderr)
	}
	if g := loadFlow(t, filepath.Join(dir, "maf.json")); !slices.Equal(g.Names(), []string{"y", "x"}) || !slices.Equal(g.ContextNames(), []string{"r"}) {
		t.Errorf("fit -context r: names %v, context names %v", g.Names(), g.ContextNames())
	}
	r = nflow(t, dir, "fit", "-in", "scaled.csv", "-context", "1", "-out", "scaled.json", "-epochs", "1", "-layers", "1", "-hidden", "4")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: context column 3 has mean 1") || !strings.Contains(r.stderr, "consider standardising it") {
		t.Errorf("fit of a context of scale 100: status %d\n%s", r.code, r.stderr)
	}
}

// TestDemoGiven runs the demo on the conditional data sets: the flow beats
// the Gaussian given the context, the pictures are there, and the model is
// conditional. Saving it needs a model format that holds conditional flows.
func TestDemoGiven(t *testing.T) {
	dir := t.TempDir()
	r := nflow(t, dir, "demo", "-data", "moons-given", "-out", "pics", "-n", "1200", "-epochs", "20", "-layers", "4", "-hidden", "16,16", "-lr", "5e-3")
	m := regexp.MustCompile(`held-out log-likelihood \(mean log p over 240 test points, each given its context, nats\):\n  flow +(-?[0-9.]+) ± [0-9.]+\n  Gaussian +(-?[0-9.]+) ± [0-9.]+  \(the best Gaussian with a mean linear in the context\)\n`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("demo: no held-out log-likelihoods in\n%s%s", r.stdout, r.stderr)
	}
	lf, _ := strconv.ParseFloat(m[1], 64)
	lg, _ := strconv.ParseFloat(m[2], 64)
	if !(lf > lg+0.5) {
		t.Errorf("held-out log-likelihood given the moon: flow %v, Gaussian %v", lf, lg)
	}
	for _, p := range []string{"density.png", "samples.png", "demo.png"} {
		png(t, filepath.Join(dir, "pics", p))
	}
	if r.code != 0 {
		t.Fatalf("demo: status %d\n%s", r.code, r.stderr)
	}
	if f := loadFlow(t, filepath.Join(dir, "pics", "model.json")); f.ContextDim() != 1 {
		t.Errorf("the demo's model has context dimension %d", f.ContextDim())
	}
}

// TestHostileContext gives the commands hostile contexts for a conditional
// model: each fails with exit status 1 or 2 and a message, and writes
// nothing. It needs a model format that holds conditional flows.
func TestHostileContext(t *testing.T) {
	dir := t.TempDir()
	f := condFlow(t, 2, 1)
	if err := saveModel(filepath.Join(dir, "cond.json"), nil, f); err != nil {
		t.Fatal(err)
	}
	moonsCSV(t, filepath.Join(dir, "data.csv"), 20, 1)
	writeFile(t, filepath.Join(dir, "ctx.csv"), "0\n1\n")
	writeFile(t, filepath.Join(dir, "nan.csv"), "0\nNaN\n")
	writeFile(t, filepath.Join(dir, "wide.csv"), "0,1\n1,2\n")
	writeFile(t, filepath.Join(dir, "rows.csv"), "1,2,0\n3,4,NaN\n")
	writeFile(t, filepath.Join(dir, "inf.csv"), "1,2,0\n3,4,-Inf\n")
	keep := files(t, dir)
	for _, tc := range []struct {
		code int
		args string
		msg  string
	}{
		{2, "sample -model cond.json -n 3", "give the contexts to sample at with -context ctx.csv"},
		{1, "sample -model cond.json -context nan.csv -out s.csv", "nan.csv: line 2, column 1: NaN is not a finite number"},
		{1, "sample -model cond.json -context wide.csv -out s.csv", "wide.csv has 2 columns, the model cond.json has a context of 1 column"},
		{1, "sample -model cond.json -context missing.csv -out s.csv", "missing.csv"},
		{2, "sample -model cond.json -context ctx.csv -out ctx.csv", "-out ctx.csv is the -context file"},
		{1, "logprob -model cond.json -in data.csv -out lp.csv", "data.csv has 2 columns, the model cond.json wants 3: its 2 data columns, then the 1 column of the context"},
		{1, "logprob -model cond.json -in rows.csv -out lp.csv", "rows.csv: line 2, column 3: NaN is not a finite number"},
		{1, "logprob -model cond.json -in inf.csv -out lp.csv", "inf.csv: line 2, column 3: -Inf is not a finite number"},
		{1, "logprob -model cond.json -in wide.csv -out lp.csv", "wide.csv has 2 columns"},
		{2, "plot -model cond.json -out p.png", "give the contexts to draw it at with -context"},
		{2, "plot -model cond.json -context 0,1 -out p.png", "context 1 has 2 numbers"},
		{2, "plot -model cond.json -context NaN -out p.png", "not a finite number"},
		{2, "plot -model cond.json -context 1;2;3;4;5;6;7 -out p.png", "more than 6 contexts"},
		{1, "plot -model cond.json -context nan.csv -out p.png", "NaN is not a finite number"},
		{1, "plot -model cond.json -context wide.csv -out p.png", "wide.csv has 2 columns"},
		{1, "plot -model cond.json -data data.csv -out p.png", "data.csv has 2 columns, the model cond.json wants 3"},
	} {
		r := nflow(t, dir, strings.Fields(tc.args)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) || !strings.HasPrefix(r.stderr, "nflow "+strings.Fields(tc.args)[0]+": ") {
			t.Errorf("nflow %s: status %d, %q; want status %d and %q", tc.args, r.code, r.stderr, tc.code, tc.msg)
		}
		if r.stdout != "" {
			t.Errorf("nflow %s wrote %q", tc.args, r.stdout)
		}
	}
	if got := files(t, dir); !slices.Equal(got, keep) {
		t.Errorf("the directory holds %v, want %v", got, keep)
	}
}
