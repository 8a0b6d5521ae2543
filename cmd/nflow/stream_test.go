// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// testFlow returns a 3-D Real NVP with random parameters.
func testFlow(t *testing.T) *flow.Flow {
	t.Helper()
	f, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: 3, Layers: 3, Hidden: []int{8}, EvenOdd: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(4, 4))
	p := f.Params()
	for i := range p {
		p[i] = 0.3 * rnd.NormFloat64()
	}
	return f
}

// TestSampleStream checks that the samples written a batch at a time are
// those of one Sample call for all rows.
func TestSampleStream(t *testing.T) {
	f := testFlow(t)
	header := []string{"a", "b", "c", "logq"}
	for _, n := range []int{1, 5, streamRows - 1, streamRows, streamRows + 1, 3*streamRows + 17} {
		for _, logq := range []bool{false, true} {
			var got bytes.Buffer
			h := header[:3]
			if logq {
				h = header
			}
			if err := sampleCSV(&got, f, h, n, logq, rand.New(rand.NewPCG(9, 9))); err != nil {
				t.Fatal(err)
			}
			x := mat.NewDense(n, 3, nil)
			var lq []float64
			var m mat.Matrix = x
			if logq {
				lq = make([]float64, n)
			}
			f.Sample(x, lq, rand.New(rand.NewPCG(9, 9)))
			if logq {
				y := mat.NewDense(n, 4, nil)
				y.Augment(x, mat.NewDense(n, 1, lq))
				m = y
			}
			var want bytes.Buffer
			if err := writeCSV(&want, h, m); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("n=%d logq=%v: the streamed samples differ from one Sample call", n, logq)
			}
		}
	}
}

// TestLogProbStream runs logprob on a file of several batches: each row's
// log-density is that of one LogProb call for all rows, and the summary is
// the mean and standard error of all rows.
func TestLogProbStream(t *testing.T) {
	dir := t.TempDir()
	f := testFlow(t)
	if err := saveModel(filepath.Join(dir, "model.json"), nil, f); err != nil {
		t.Fatal(err)
	}
	n := 2*streamRows + 100
	x := mat.NewDense(n, 3, nil)
	f.Sample(x, nil, rand.New(rand.NewPCG(5, 5)))
	var b bytes.Buffer
	if err := writeCSV(&b, nil, x); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "data.csv"), b.String())
	r := nflow(t, dir, "logprob", "-model", "model.json", "-in", "data.csv", "-out", "lp.csv")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	want := f.LogProb(nil, x)
	lines := strings.Split(strings.TrimSuffix(readString(t, filepath.Join(dir, "lp.csv")), "\n"), "\n")
	if len(lines) != n+1 || lines[0] != "logp" {
		t.Fatalf("%d lines starting %q", len(lines), lines[0])
	}
	for i, l := range lines[1:] {
		if v, err := strconv.ParseFloat(l, 64); err != nil || v != want[i] {
			t.Fatalf("row %d is %q, want %v", i, l, want[i])
		}
	}
	mean, se := twoPass(want)
	if s := fmt.Sprintf("mean log p = %.6g ± %.2g (standard error, %d rows)\n", mean, se, n); r.stderr != s {
		t.Errorf("summary %q, want %q", r.stderr, s)
	}
	// An error in a later batch: no file.
	writeFile(t, filepath.Join(dir, "bad.csv"), b.String()+"1,2,x\n")
	r = nflow(t, dir, "logprob", "-model", "model.json", "-in", "bad.csv", "-out", "bad-lp.csv")
	if r.code != 1 || r.stderr != fmt.Sprintf("nflow logprob: bad.csv: line %d, column 3: \"x\" is not a number\n", n+1) {
		t.Errorf("status %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad-lp.csv")); err == nil {
		t.Error("an output was written for bad data")
	}
}

// twoPass returns the mean and its standard error by the two-pass formula.
func twoPass(v []float64) (mean, se float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	s := 0.0
	for _, x := range v {
		s += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(s / float64(len(v)-1) / float64(len(v)))
}

// TestMeanAcc checks the one-pass mean and standard error against two
// passes over numbers with a large mean: the naive one-pass formula,
// E[x²] − E[x]², would lose every digit of the variance here.
func TestMeanAcc(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 1))
	v := make([]float64, 10000)
	shifted := make([]float64, len(v))
	for i := range v {
		v[i] = 1e9 + rnd.NormFloat64()
		shifted[i] = v[i] - 1e9 // exact
	}
	m, se := meanSE(v)
	wm, wse := twoPass(shifted)
	wm += 1e9
	// Each update of the mean rounds at its last bit, 1.2e-7 at 1e9: over
	// 10⁴ updates about 1e-5, 1e-14 of the mean. The spread, 1, keeps most
	// of its digits.
	if math.Abs(m-wm) > 1e-4 || math.Abs(se-wse) > 1e-6*wse {
		t.Errorf("mean %v ± %v, want %v ± %v", m, se, wm, wse)
	}
	if m, se := meanSE([]float64{1, math.Inf(-1), 2}); !math.IsInf(m, -1) || !math.IsNaN(se) {
		t.Errorf("with −Inf: %v ± %v", m, se)
	}
	if m, se := meanSE([]float64{3}); m != 3 || !math.IsNaN(se) {
		t.Errorf("one number: %v ± %v", m, se)
	}
}

// TestColumnNames uses the model's column names as sample's header and
// checks them against logprob's input.
func TestColumnNames(t *testing.T) {
	dir := t.TempDir()
	f := testFlow(t)
	if err := saveModel(filepath.Join(dir, "plain.json"), nil, f); err != nil {
		t.Fatal(err)
	}
	if err := f.SetNames([]string{"height", "weight", "age"}); err != nil {
		t.Fatal(err)
	}
	if err := saveModel(filepath.Join(dir, "named.json"), nil, f); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ model, args, header string }{
		{"named.json", "", "height,weight,age"},
		{"named.json", "-logq", "height,weight,age,logq"},
		{"plain.json", "", "x1,x2,x3"},
	} {
		args := []string{"sample", "-model", tc.model, "-n", "3"}
		if tc.args != "" {
			args = append(args, tc.args)
		}
		r := nflow(t, dir, args...)
		if h, _, _ := strings.Cut(r.stdout, "\n"); r.code != 0 || h != tc.header {
			t.Errorf("%v: status %d, header %q, want %q\n%s", args, r.code, h, tc.header, r.stderr)
		}
	}

	for _, tc := range []struct{ model, data, err string }{
		{"named.json", "height,weight,age\n1,2,3\n", ""},
		{"named.json", "1,2,3\n", ""},
		{"plain.json", "a,b,c\n1,2,3\n", ""},
		{"named.json", "age,height,weight\n1,2,3\n", "d.csv: the columns are reordered: the header has age,height,weight, the model named.json wants height,weight,age, in that order"},
		{"named.json", "height,weight,years\n1,2,3\n", `d.csv: column 3 is "years", the model named.json has "age" there (the model's columns are height,weight,age)`},
		{"named.json", "height,mass,age\n1,2,3\n", `d.csv: column 2 is "mass", the model named.json has "weight" there`},
	} {
		writeFile(t, filepath.Join(dir, "d.csv"), tc.data)
		r := nflow(t, dir, "logprob", "-model", tc.model, "-in", "d.csv")
		switch {
		case tc.err == "" && r.code != 0:
			t.Errorf("%s with %q: status %d\n%s", tc.model, tc.data, r.code, r.stderr)
		case tc.err != "" && (r.code != 1 || !strings.HasPrefix(r.stderr, "nflow logprob: "+tc.err) || r.stdout != ""):
			t.Errorf("%s with %q: status %d, %q, want %q", tc.model, tc.data, r.code, r.stderr, tc.err)
		}
	}
}
