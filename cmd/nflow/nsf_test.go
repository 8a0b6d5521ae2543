// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"path/filepath"
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
		{"-bound", "0", "-bound: 0, want a positive finite number"},
		{"-bound", "NaN", "-bound: NaN, want a positive finite number"},
		{"-bound", "+Inf", "-bound: +Inf, want a positive finite number"},
		{"-bound", "-1", "-bound: -1, want a positive finite number"},
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
