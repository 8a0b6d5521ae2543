// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nfgo/flow"
)

// TestFitResidual: -residual R gives every coupling layer of a realnvp or
// nsf model a residual conditioner, and every MAF layer of a maf or nsf-ar
// model a residual MADE, of R blocks of the -hidden width, and bad uses
// are refused before any training.
func TestFitResidual(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 200, 2)
	for _, m := range []string{"realnvp", "nsf"} {
		r := nflow(t, dir, "fit", "-in", "data.csv", "-model", m, "-out", m+".json", "-epochs", "2", "-layers", "2", "-hidden", "8", "-residual", "2")
		if r.code != 0 {
			t.Fatalf("%s: status %d\n%s", m, r.code, r.stderr)
		}
		f := loadFlow(t, filepath.Join(dir, m+".json"))
		n := 0
		for i, l := range f.Layers() {
			c, ok := l.(*flow.Coupling)
			if !ok {
				continue
			}
			n++
			if c.ResidualBlocks() != 2 || !slices.Equal(c.Hidden(), []int{8}) {
				t.Errorf("%s: layer %d has %d residual blocks of widths %v, want 2 of [8]", m, i, c.ResidualBlocks(), c.Hidden())
			}
		}
		if n != 2 {
			t.Errorf("%s: %d coupling layers, want 2", m, n)
		}
	}
	for _, m := range []string{"maf", "nsf-ar"} {
		r := nflow(t, dir, "fit", "-in", "data.csv", "-model", m, "-out", m+".json", "-epochs", "2", "-layers", "2", "-hidden", "8", "-residual", "2")
		if r.code != 0 {
			t.Fatalf("%s: status %d\n%s", m, r.code, r.stderr)
		}
		n := 0
		for i, l := range loadFlow(t, filepath.Join(dir, m+".json")).Layers() {
			a, ok := l.(*flow.MAF)
			if !ok {
				continue
			}
			n++
			if a.MADE().ResidualBlocks() != 2 || !slices.Equal(a.MADE().Hidden(), []int{8}) || (a.Spline() != nil) != (m == "nsf-ar") {
				t.Errorf("%s: layer %d has %d residual blocks of widths %v, spline %v", m, i, a.MADE().ResidualBlocks(), a.MADE().Hidden(), a.Spline() != nil)
			}
		}
		if n != 2 {
			t.Errorf("%s: %d MAF layers, want 2", m, n)
		}
	}
	// Beside the LU and ActNorm layers of -lu -actnorm.
	r := nflow(t, dir, "fit", "-in", "data.csv", "-model", "realnvp", "-out", "glow.json", "-epochs", "1", "-layers", "2", "-hidden", "4", "-residual", "1", "-lu", "-actnorm")
	if r.code != 0 {
		t.Fatalf("-residual 1 -lu -actnorm: status %d\n%s", r.code, r.stderr)
	}
	n := 0
	for _, l := range loadFlow(t, filepath.Join(dir, "glow.json")).Layers() {
		if c, ok := l.(*flow.Coupling); ok && c.ResidualBlocks() == 1 {
			n++
		}
	}
	if n != 2 {
		t.Errorf("-residual 1 -lu -actnorm: %d coupling layers with 1 residual block, want 2", n)
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-residual", "-1"}, "-residual: -1, want 0 to 64"},
		{[]string{"-residual", "65"}, "-residual: 65, want 0 to 64"},
		{[]string{"-residual", "1", "-hidden", "8,8"}, "-residual 1: the residual blocks need one -hidden width, not 2"},
		{[]string{"-residual", "1", "-hidden", ""}, "-residual 1: the residual blocks need one -hidden width, not 0"},
		{[]string{"-residual", "1", "-model", "maf", "-hidden", "8,8"}, "-residual 1: the residual blocks need one -hidden width, not 2"},
		{[]string{"-residual", "1", "-init", "realnvp.json"}, "-residual cannot change them"},
	} {
		args := append([]string{"fit", "-in", "data.csv", "-out", "bad.json", "-epochs", "1"}, tc.args...)
		r := nflow(t, dir, args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%v: status %d, %q; want 2 and %q", tc.args, r.code, r.stderr, tc.msg)
		}
		if slices.Contains(files(t, dir), "bad.json") {
			t.Errorf("%v: wrote a model", tc.args)
		}
	}
}

// TestFitDropout: -dropout p trains the residual blocks with dropout, the
// same model for any -workers; a model without residual blocks, or a p
// outside [0, 1), is a usage error; a resumed model with residual blocks
// takes -dropout from the command line.
func TestFitDropout(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 200, 2)
	for _, m := range []string{"realnvp", "maf", "nsf-ar"} {
		var models [][]byte
		for _, w := range []string{"1", "3"} {
			out := m + "-" + w + ".json"
			r := nflow(t, dir, "fit", "-in", "data.csv", "-model", m, "-out", out, "-epochs", "2", "-layers", "2", "-hidden", "8", "-residual", "1", "-dropout", "0.2", "-workers", w)
			if r.code != 0 {
				t.Fatalf("%s -workers %s: status %d\n%s", m, w, r.code, r.stderr)
			}
			models = append(models, readFile(t, filepath.Join(dir, out)))
		}
		if string(models[0]) != string(models[1]) {
			t.Errorf("%s: -dropout 0.2 gives other models with -workers 1 and 3", m)
		}
		r := nflow(t, dir, "fit", "-in", "data.csv", "-model", m, "-out", m+"-plain.json", "-epochs", "2", "-layers", "2", "-hidden", "8", "-residual", "1", "-workers", "1")
		if r.code != 0 {
			t.Fatalf("%s: status %d\n%s", m, r.code, r.stderr)
		}
		if string(readFile(t, filepath.Join(dir, m+"-plain.json"))) == string(models[0]) {
			t.Errorf("%s: -dropout 0.2 changed nothing", m)
		}
		if strings.Contains(string(models[0]), "dropout") {
			t.Errorf("%s: the model file names dropout", m)
		}
	}
	if r := nflow(t, dir, "fit", "-in", "data.csv", "-init", "maf-1.json", "-out", "more.json", "-epochs", "1", "-dropout", "0.3"); r.code != 0 {
		t.Errorf("-init with -dropout: status %d\n%s", r.code, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-dropout", "0.1"}, "-dropout: the model has no residual blocks"},
		{[]string{"-dropout", "1", "-residual", "1", "-hidden", "8"}, "-dropout: 1, want a probability in [0, 1)"},
		{[]string{"-dropout", "-0.5", "-residual", "1", "-hidden", "8"}, "-dropout: -0.5, want a probability in [0, 1)"},
	} {
		args := append([]string{"fit", "-in", "data.csv", "-out", "bad.json", "-epochs", "1"}, tc.args...)
		r := nflow(t, dir, args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%v: status %d, %q; want 2 and %q", tc.args, r.code, r.stderr, tc.msg)
		}
		if slices.Contains(files(t, dir), "bad.json") {
			t.Errorf("%v: wrote a model", tc.args)
		}
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
