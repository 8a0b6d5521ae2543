// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestFitResume: fit -init trains a saved model further: the layers, the
// standardisation and the column names are the saved model's, the
// parameters move from where the file left them, the held-out NLL of the
// resumed model is no worse than the saved one's (fit keeps the best
// epoch, the starting point included), and the result is deterministic.
func TestFitResume(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "moons.csv"), 400, 3)
	if r := nflow(t, dir, "fit", "-in", "moons.csv", "-out", "a.json", "-epochs", "3", "-layers", "2", "-hidden", "8", "-cosine", "-warmup", "5", "-clip", "5", "-weight-decay", "1e-4"); r.code != 0 {
		t.Fatalf("fit: status %d: %s", r.code, r.stderr)
	}
	for _, out := range []string{"b.json", "c.json"} {
		if r := nflow(t, dir, "fit", "-in", "moons.csv", "-init", "a.json", "-out", out, "-epochs", "3", "-clip", "1"); r.code != 0 {
			t.Fatalf("fit -init: status %d: %s", r.code, r.stderr)
		}
	}
	a, b, c := loadFlow(t, filepath.Join(dir, "a.json")), loadFlow(t, filepath.Join(dir, "b.json")), loadFlow(t, filepath.Join(dir, "c.json"))
	if len(a.Layers()) != len(b.Layers()) || a.NumParams() != b.NumParams() {
		t.Fatalf("resumed model has %d layers, %d parameters; the saved one %d, %d", len(b.Layers()), b.NumParams(), len(a.Layers()), a.NumParams())
	}
	if slices.Equal(a.Params(), b.Params()) {
		t.Error("resuming left the parameters where they were")
	}
	if !slices.Equal(b.Params(), c.Params()) {
		t.Error("two identical resumed runs differ")
	}
	if !slices.Equal(b.Names(), []string{"a", "b"}) {
		t.Errorf("resumed model's names %q", b.Names())
	}
	// The standardisation (the last layer, not trained) is the saved one.
	lo, hi := a.ParamRange(len(a.Layers()) - 1)
	if !slices.Equal(a.Params()[lo:hi], b.Params()[lo:hi]) {
		t.Error("resuming changed the standardisation")
	}
	_, valid := validRows(t, filepath.Join(dir, "moons.csv"))
	if na, nb := nllOf(a, valid), nllOf(b, valid); nb > na {
		t.Errorf("held-out NLL %s after resuming, %s before", nb, na)
	}
}

// TestFitResumeRefuses: -init with flags that describe a new model, with a
// model of another dimension or other column names, or with a bad file, is
// refused before any training.
func TestFitResumeRefuses(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "moons.csv"), 100, 3)
	writeFile(t, filepath.Join(dir, "three.csv"), "a,b,c\n1,2,3\n4,5,6\n7,8,9\n1,3,2\n")
	writeFile(t, filepath.Join(dir, "other.csv"), "x,y\n1,2\n4,5\n7,8\n1,3\n")
	writeFile(t, filepath.Join(dir, "bad.json"), "{")
	if r := nflow(t, dir, "fit", "-in", "moons.csv", "-out", "a.json", "-epochs", "1", "-layers", "2", "-hidden", "4"); r.code != 0 {
		t.Fatalf("fit: status %d: %s", r.code, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-in", "moons.csv", "-model", "maf"}, 2, "-init: the model file gives the layers, the standardisation and the base; -model cannot change them"},
		{[]string{"-in", "moons.csv", "-layers", "3", "-standardize=false"}, 2, "-layers, -standardize cannot change them"},
		{[]string{"-in", "three.csv"}, 1, "the model has dimension 2 and context 0, three.csv has 3 data and 0 context columns"},
		{[]string{"-in", "other.csv"}, 1, `the model's columns are a,b, other.csv's x,y`},
		{[]string{"-in", "moons.csv", "-init", "bad.json"}, 1, "bad.json"},
		{[]string{"-in", "moons.csv", "-init", "missing.json"}, 1, "missing.json"},
		{[]string{"-in", "moons.csv", "-clip", "-1"}, 2, "-clip: -1, want a number ≥ 0"},
		{[]string{"-in", "moons.csv", "-warmup", "-1"}, 2, "-warmup: -1, want at least 0"},
		{[]string{"-in", "moons.csv", "-weight-decay", "NaN"}, 2, "-weight-decay: NaN, want a number ≥ 0"},
	} {
		args := append([]string{"fit", "-init", "a.json", "-out", "r.json", "-epochs", "1"}, tc.args...)
		r := nflow(t, dir, args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%v: status %d, %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.msg)
		}
		if slices.Contains(files(t, dir), "r.json") {
			t.Errorf("%v: wrote a model", tc.args)
		}
	}
}
