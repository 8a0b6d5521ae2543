// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nfgo/flow"
)

// TestFitNSF checks -model nsf: every transforming layer of the fitted
// model is a spline coupling with the -bins and -bound asked for (K = 8,
// B = 3 by default), and the standardisation is the last layer, so that the
// splines see standardised data.
func TestFitNSF(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 200, 3)
	for _, tc := range []struct {
		args  []string
		bins  int
		bound float64
	}{
		{nil, 8, 3},
		{[]string{"-bins", "5", "-bound", "2.5"}, 5, 2.5},
		{[]string{"-bins", "1", "-bound", "0.5"}, 1, 0.5},
	} {
		args := append([]string{"fit", "-in", "data.csv", "-model", "nsf", "-out", "nsf.json", "-epochs", "2", "-layers", "3", "-hidden", "8"}, tc.args...)
		r := nflow(t, dir, args...)
		if r.code != 0 {
			t.Fatalf("%v: status %d\n%s", tc.args, r.code, r.stderr)
		}
		f := loadFlow(t, filepath.Join(dir, "nsf.json"))
		ls := f.Layers()
		if _, ok := ls[len(ls)-1].(*flow.Standardize); !ok {
			t.Errorf("%v: the last layer is %T, want the standardisation", tc.args, ls[len(ls)-1])
		}
		couplings := 0
		for _, l := range ls {
			c, ok := l.(*flow.Coupling)
			if !ok {
				continue
			}
			couplings++
			s, ok := c.Func().(flow.RQSpline)
			if !ok {
				t.Errorf("%v: coupling function %T, want flow.RQSpline", tc.args, c.Func())
				continue
			}
			if s.Bins != tc.bins || s.Bound != tc.bound {
				t.Errorf("%v: a spline of %d bins on [−%v, %v], want %d on [−%v, %v]", tc.args, s.Bins, s.Bound, s.Bound, tc.bins, tc.bound, tc.bound)
			}
		}
		if couplings != 3 {
			t.Errorf("%v: %d coupling layers, want 3", tc.args, couplings)
		}
	}
}

// TestNSFUsage checks that bad -bins and -bound are usage errors that name
// the flag.
func TestNSFUsage(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 50, 3)
	for _, tc := range []struct{ flag, value, msg string }{
		{"-bins", "0", "-bins: 0, want 1 to 999"},
		{"-bins", "-3", "-bins: -3, want 1 to 999"},
		{"-bins", "1000", "-bins: 1000, want 1 to 999"},
		{"-bound", "0", "-bound: 0, want a number in [1e-100, 1e+100]"},
		{"-bound", "NaN", "-bound: NaN, want a number in [1e-100, 1e+100]"},
		{"-bound", "+Inf", "-bound: +Inf, want a number in [1e-100, 1e+100]"},
		{"-bound", "-1", "-bound: -1, want a number in [1e-100, 1e+100]"},
	} {
		r := nflow(t, dir, "fit", "-in", "data.csv", "-model", "nsf", "-epochs", "1", "-out", "m.json", tc.flag, tc.value)
		if r.code != 2 || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%s %s: status %d, error %q, want status 2 and %q", tc.flag, tc.value, r.code, r.stderr, tc.msg)
		}
	}
}

// TestDemoNSF runs a small demo of a spline flow on the checkerboard: it
// beats the Gaussian.
func TestDemoNSF(t *testing.T) {
	_, lf, lg, _ := demo(t, "-model", "nsf", "-data", "checkerboard", "-n", "1500", "-epochs", "20", "-layers", "4", "-hidden", "16,16", "-lr", "5e-3")
	if !(lf > lg+0.1) {
		t.Errorf("held-out log-likelihood: spline flow %v, Gaussian %v", lf, lg)
	}
}

// TestFitNSFAR checks -model nsf-ar: every transforming layer of the fitted
// model is a MAF whose element-wise map is a spline with the -bins and
// -bound asked for (K = 8, B = 3 by default), the MADE orders alternate
// natural and reversed as -model maf's do, the hidden widths are -hidden's,
// and the standardisation is the last layer.
func TestFitNSFAR(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 200, 3)
	for _, tc := range []struct {
		args  []string
		bins  int
		bound float64
	}{
		{nil, 8, 3},
		{[]string{"-bins", "5", "-bound", "2.5"}, 5, 2.5},
		{[]string{"-bins", "1", "-bound", "0.5", "-clamp", "0"}, 1, 0.5},
	} {
		args := append([]string{"fit", "-in", "data.csv", "-model", "nsf-ar", "-out", "nsfar.json", "-epochs", "2", "-layers", "3", "-hidden", "8,6"}, tc.args...)
		r := nflow(t, dir, args...)
		if r.code != 0 {
			t.Fatalf("%v: status %d\n%s", tc.args, r.code, r.stderr)
		}
		f := loadFlow(t, filepath.Join(dir, "nsfar.json"))
		ls := f.Layers()
		if len(ls) != 4 {
			t.Fatalf("%v: %d layers, want 3 MAF layers and the standardisation", tc.args, len(ls))
		}
		if _, ok := ls[3].(*flow.Standardize); !ok {
			t.Errorf("%v: the last layer is %T, want the standardisation", tc.args, ls[3])
		}
		for i, l := range ls[:3] {
			m, ok := l.(*flow.MAF)
			if !ok {
				t.Fatalf("%v: layer %d is %T, want *flow.MAF", tc.args, i, l)
			}
			s := m.Spline()
			if s == nil {
				t.Fatalf("%v: layer %d is an affine MAF, want a spline one", tc.args, i)
			}
			if s.Bins != tc.bins || s.Bound != tc.bound {
				t.Errorf("%v: layer %d: a spline of %d bins on [−%v, %v], want %d on [−%v, %v]", tc.args, i, s.Bins, s.Bound, s.Bound, tc.bins, tc.bound, tc.bound)
			}
			want := []int{0, 1}
			if i%2 == 1 {
				want = []int{1, 0}
			}
			if got := m.MADE().Order(); !slices.Equal(got, want) {
				t.Errorf("%v: layer %d: order %v, want %v", tc.args, i, got, want)
			}
			if got := m.MADE().Hidden(); !slices.Equal(got, []int{8, 6}) {
				t.Errorf("%v: layer %d: hidden widths %v, want [8 6]", tc.args, i, got)
			}
		}
	}
}

// TestNSFARUsage checks that bad -bins and -bound are usage errors that
// name the flag, in fit and in demo, as with -model nsf.
func TestNSFARUsage(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 50, 3)
	for _, tc := range []struct{ flag, value, msg string }{
		{"-bins", "0", "-bins: 0, want 1 to 999"},
		{"-bins", "-3", "-bins: -3, want 1 to 999"},
		{"-bins", "1000", "-bins: 1000, want 1 to 999"},
		{"-bound", "0", "-bound: 0, want a number in [1e-100, 1e+100]"},
		{"-bound", "NaN", "-bound: NaN, want a number in [1e-100, 1e+100]"},
		{"-bound", "+Inf", "-bound: +Inf, want a number in [1e-100, 1e+100]"},
		{"-bound", "-1", "-bound: -1, want a number in [1e-100, 1e+100]"},
	} {
		r := nflow(t, dir, "fit", "-in", "data.csv", "-model", "nsf-ar", "-epochs", "1", "-out", "m.json", tc.flag, tc.value)
		if r.code != 2 || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("fit %s %s: status %d, error %q, want status 2 and %q", tc.flag, tc.value, r.code, r.stderr, tc.msg)
		}
		r = nflow(t, dir, "demo", "-model", "nsf-ar", "-n", "20", "-epochs", "1", "-out", "pics", tc.flag, tc.value)
		if r.code != 2 || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("demo %s %s: status %d, error %q, want status 2 and %q", tc.flag, tc.value, r.code, r.stderr, tc.msg)
		}
	}
	r := nflow(t, dir, "fit", "-in", "data.csv", "-model", "nsf-AR", "-epochs", "1", "-out", "m.json")
	if want := `-model: "nsf-AR" is not realnvp, nsf, maf or nsf-ar`; r.code != 2 || !strings.Contains(r.stderr, want) {
		t.Errorf("-model nsf-AR: status %d, error %q, want status 2 and %q", r.code, r.stderr, want)
	}
}

// TestDemoNSFAR runs a small demo of an autoregressive spline flow on the
// checkerboard: it beats the Gaussian.
func TestDemoNSFAR(t *testing.T) {
	_, lf, lg, _ := demo(t, "-model", "nsf-ar", "-data", "checkerboard", "-n", "1500", "-epochs", "20", "-layers", "4", "-hidden", "16,16", "-lr", "5e-3")
	if !(lf > lg+0.1) {
		t.Errorf("held-out log-likelihood: autoregressive spline flow %v, Gaussian %v", lf, lg)
	}
}
