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

// TestRecipeNSFPaper checks fit -recipe nsf-paper: it builds steps of a
// permutation, a spline coupling of K = 8 bins on [−3, 3] with a residual
// conditioner of 2 blocks and an LU layer, and says which of its flags it
// set; the flags given on the command line (-layers, -hidden, -batch here)
// win over the recipe's and it says so.
func TestRecipeNSFPaper(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 200, 5)
	r := nflow(t, dir, "fit", "-in", "data.csv", "-out", "m.json", "-recipe", "nsf-paper", "-layers", "2", "-hidden", "8", "-batch", "64", "-epochs", "2")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"recipe nsf-paper (Durkan et al. (2019), RQ-NSF (C), tabular settings for POWER): -model nsf -lu true -residual 2 -act relu -bins 8 -bound 3 -lr 5e-4 -cosine true -clip 5\n",
		"recipe nsf-paper: -layers, -hidden, -batch as given on the command line\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	f := loadFlow(t, filepath.Join(dir, "m.json"))
	var kinds []string
	for _, l := range f.Layers() {
		switch l := l.(type) {
		case *flow.Permutation:
			kinds = append(kinds, "perm")
		case *flow.Coupling:
			s, ok := l.Func().(flow.RQSpline)
			if !ok || s.Bins != 8 || s.Bound != 3 {
				t.Errorf("coupling function %#v, want an RQSpline of 8 bins on [-3, 3]", l.Func())
			}
			if b, h := l.ResidualBlocks(), l.Hidden(); b != 2 || len(h) != 1 || h[0] != 8 {
				t.Errorf("conditioner of %d residual blocks of widths %v, want 2 of width 8", b, h)
			}
			if l.Activation() != flow.ReLU {
				t.Errorf("activation %v, want ReLU", l.Activation())
			}
			kinds = append(kinds, "spline")
		case *flow.LULinear:
			kinds = append(kinds, "lu")
		case *flow.Standardize:
			kinds = append(kinds, "std")
		default:
			kinds = append(kinds, "other")
		}
	}
	if got, want := strings.Join(kinds, " "), "perm spline lu perm spline lu std"; got != want {
		t.Errorf("layers %s, want %s", got, want)
	}
}

// TestRecipeErrors checks that an unknown recipe, and a recipe with -init,
// are usage errors that say what is wrong.
func TestRecipeErrors(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 50, 5)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-recipe", "nsf-papers"}, `-recipe: "nsf-papers" is not `},
		{[]string{"-recipe", "nsf-paper", "-init", "m.json"}, "-init: the model file gives the model; give -recipe's training flags"},
	} {
		r := nflow(t, dir, append([]string{"fit", "-in", "data.csv", "-out", "out.json"}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: status %d, want 2 with %q:\n%s", tc.args, r.code, tc.want, r.stderr)
		}
	}
}

// TestRecipeMAFPaper checks fit -recipe maf-paper: MAF layers of MADEs
// with two hidden layers of 100 ReLU units, each followed on its data side
// by a BatchNorm layer, and a mixture base of 10 components.
func TestRecipeMAFPaper(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 200, 5)
	r := nflow(t, dir, "fit", "-in", "data.csv", "-out", "m.json", "-recipe", "maf-paper", "-layers", "2", "-epochs", "2")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	want := "recipe maf-paper (Papamakarios et al. (2017), MAF (5) with batch normalisation and a MoG base, UCI settings): -model maf -hidden 100,100 -act relu -batchnorm true -base mog -components 10 -lr 1e-4 -batch 100 -patience 30\n"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
	f := loadFlow(t, filepath.Join(dir, "m.json"))
	var kinds []string
	for _, l := range f.Layers() {
		switch l := l.(type) {
		case *flow.MAF:
			if h := l.MADE().Hidden(); len(h) != 2 || h[0] != 100 || h[1] != 100 {
				t.Errorf("MADE hidden widths %v, want [100 100]", h)
			}
			kinds = append(kinds, "maf")
		case *flow.BatchNorm:
			kinds = append(kinds, "bn")
		case *flow.Standardize:
			kinds = append(kinds, "std")
		default:
			kinds = append(kinds, "other")
		}
	}
	if got, want := strings.Join(kinds, " "), "maf bn maf bn std"; got != want {
		t.Errorf("layers %s, want %s", got, want)
	}
	if b, ok := f.Base().(*flow.MixtureBase); !ok || b.Components() != 10 {
		t.Errorf("base %T, want a mixture of 10 components", f.Base())
	}
}
