// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// TestFitBases fits with each -base, and samples from and evaluates the
// saved models: the model holds the base asked for, logprob prints the
// model's log-densities, and sample draws finite points; demo takes -base
// too.
func TestFitBases(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 200, 2)
	ringCSV(t, filepath.Join(dir, "ring.csv"), 200, []string{"x", "y", "r"}, []int{0, 1, 2}, 1)
	for _, tc := range []struct {
		args []string
		kind string
	}{
		{[]string{"-base", "normal"}, "*flow.StdNormalBase"},
		{[]string{"-base", "diag"}, "*flow.DiagGaussianBase"},
		{[]string{"-base", "mog", "-components", "3"}, "*flow.MixtureBase"},
		{[]string{"-base", "mog", "-model", "maf"}, "*flow.MixtureBase"},
		{[]string{"-base", "cdiag", "-context", "1"}, "*flow.ConditionalGaussianBase"},
	} {
		name := strings.Join(tc.args, " ")
		in := "data.csv"
		if tc.kind == "*flow.ConditionalGaussianBase" {
			in = "ring.csv"
		}
		args := append([]string{"fit", "-in", in, "-out", "m.json", "-epochs", "2", "-layers", "2", "-hidden", "8"}, tc.args...)
		r := nflow(t, dir, args...)
		if r.code != 0 {
			t.Fatalf("%s: status %d\n%s", name, r.code, r.stderr)
		}
		f := loadFlow(t, filepath.Join(dir, "m.json"))
		if got := fmt.Sprintf("%T", f.Base()); got != tc.kind {
			t.Fatalf("%s: the model's base is %s, want %s", name, got, tc.kind)
		}
		want := 8
		if tc.args[1] == "mog" && len(tc.args) > 3 && tc.args[2] == "-components" {
			want, _ = strconv.Atoi(tc.args[3])
		}
		if m, ok := f.Base().(*flow.MixtureBase); ok && m.Components() != want {
			t.Errorf("%s: %d components, want %d", name, m.Components(), want)
		}
		if lo, hi := f.BaseParamRange(); (tc.args[1] == "normal") != (lo == hi) {
			t.Errorf("%s: the base has %d parameters", name, hi-lo)
		}
		// logprob gives the model's log-densities.
		r = nflow(t, dir, "logprob", "-model", "m.json", "-in", in)
		if r.code != 0 {
			t.Fatalf("%s: logprob: status %d\n%s", name, r.code, r.stderr)
		}
		data, _, err := readCSV(filepath.Join(dir, in))
		if err != nil {
			t.Fatal(err)
		}
		x, c := data, (*mat.Dense)(nil)
		if f.ContextDim() > 0 {
			x, c = dataContext(data, 2)
		}
		lp := f.LogProbGiven(nil, x, matOrNil(c))
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != len(lp)+1 {
			t.Fatalf("%s: logprob printed %d lines for %d rows", name, len(lines), len(lp))
		}
		for i, l := range lines[1:] {
			v, err := strconv.ParseFloat(l, 64)
			if err != nil || math.Abs(v-lp[i]) > 1e-9*math.Max(1, math.Abs(lp[i])) {
				t.Fatalf("%s: logprob row %d: %q, the model gives %v", name, i, l, lp[i])
			}
		}
		// sample draws finite points.
		sargs := []string{"sample", "-model", "m.json", "-n", "20", "-out", "s.csv"}
		contexts := 1
		if f.ContextDim() > 0 {
			writeFile(t, filepath.Join(dir, "ctx.csv"), "r\n0.75\n1.5\n")
			sargs = append(sargs, "-context", "ctx.csv")
			contexts = 2
		}
		r = nflow(t, dir, sargs...)
		if r.code != 0 {
			t.Fatalf("%s: sample: status %d\n%s", name, r.code, r.stderr)
		}
		s, _, err := readCSV(filepath.Join(dir, "s.csv"))
		if err != nil {
			t.Fatalf("%s: the samples: %v", name, err)
		}
		if n, _ := s.Dims(); n != 20*contexts {
			t.Errorf("%s: %d samples, want %d", name, n, 20*contexts)
		}
		if err := flow.CheckFinite(s); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Bad values are usage errors, before training.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-base", "laplace"}, `-base: "laplace" is not normal, diag, mog or cdiag`},
		{[]string{"-base", "mog", "-components", "0"}, "-components: 0, want 1 to 4096"},
		{[]string{"-base", "mog", "-components", "5000"}, "-components: 5000, want 1 to 4096"},
		{[]string{"-base", "cdiag"}, "-base cdiag: the base is conditional and needs a context (fit -context, or a conditional data set)"},
	} {
		args := append([]string{"fit", "-in", "data.csv", "-out", "bad.json", "-epochs", "1", "-layers", "2", "-hidden", "4"}, tc.args...)
		r := nflow(t, dir, args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || epochLines(r.stderr) > 0 {
			t.Errorf("%v: status %d, want 2 and %q before training\n%s", tc.args, r.code, tc.want, r.stderr)
		}
	}
	// demo takes -base too.
	r := nflow(t, dir, "demo", "-data", "8gaussians", "-base", "mog", "-components", "4", "-epochs", "2", "-layers", "1", "-hidden", "8", "-out", "pics")
	if r.code != 0 {
		t.Fatalf("demo -base mog: status %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if m, ok := loadFlow(t, filepath.Join(dir, "pics", "model.json")).Base().(*flow.MixtureBase); !ok || m.Components() != 4 {
		t.Errorf("demo -base mog -components 4 saved a model over %T", loadFlow(t, filepath.Join(dir, "pics", "model.json")).Base())
	}
	// -init keeps the model's base and trains it further; -base and
	// -components cannot change it.
	r = nflow(t, dir, "fit", "-in", "data.csv", "-out", "mog.json", "-epochs", "1", "-layers", "2", "-hidden", "4", "-base", "mog", "-components", "3")
	if r.code != 0 {
		t.Fatalf("fit -base mog: status %d\n%s", r.code, r.stderr)
	}
	r = nflow(t, dir, "fit", "-in", "data.csv", "-init", "mog.json", "-out", "more.json", "-epochs", "2")
	if r.code != 0 {
		t.Fatalf("fit -init: status %d\n%s", r.code, r.stderr)
	}
	before, after := loadFlow(t, filepath.Join(dir, "mog.json")), loadFlow(t, filepath.Join(dir, "more.json"))
	if m, ok := after.Base().(*flow.MixtureBase); !ok || m.Components() != 3 {
		t.Fatalf("fit -init of a mixture model saved a model over %T", after.Base())
	}
	lo, hi := after.BaseParamRange()
	if slices.Equal(before.Params()[lo:hi], after.Params()[lo:hi]) {
		t.Error("fit -init did not train the mixture base further")
	}
	for _, flag := range [][]string{{"-base", "diag"}, {"-components", "5"}} {
		args := append([]string{"fit", "-in", "data.csv", "-init", "mog.json", "-out", "bad.json", "-epochs", "1"}, flag...)
		r = nflow(t, dir, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "the base; "+flag[0]+" cannot change them") {
			t.Errorf("fit -init %s: status %d, want 2 and a word on %s\n%s", strings.Join(flag, " "), r.code, flag[0], r.stderr)
		}
	}
	// -components is read by -base mog alone.
	r = nflow(t, dir, "fit", "-in", "data.csv", "-out", "d.json", "-epochs", "1", "-layers", "2", "-hidden", "4", "-base", "diag", "-components", "0")
	if r.code != 0 {
		t.Errorf("-base diag -components 0: status %d\n%s", r.code, r.stderr)
	}
}
