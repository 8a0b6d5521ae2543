// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nfgo/flow"
)

// TestFitLUActNorm checks -lu and -actnorm with every model: every
// coupling or MAF layer of the fitted model is followed, in the model's
// order (base side first), by an LU layer with -lu and then an ActNorm
// layer with -actnorm, and by nothing else; the standardisation stays
// last; every ActNorm layer is initialised, on all the training rows
// before the untrained model is scored.
func TestFitLUActNorm(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.csv")
	moonsCSV(t, data, 200, 5)
	type flags struct{ lu, actnorm bool }
	for _, tc := range []struct {
		model string
		flags
	}{
		{"realnvp", flags{true, false}},
		{"realnvp", flags{false, true}},
		{"realnvp", flags{true, true}},
		{"nsf", flags{true, true}},
		{"maf", flags{true, true}},
		{"nsf-ar", flags{false, true}},
	} {
		name := fmt.Sprintf("%s/lu=%v/actnorm=%v", tc.model, tc.lu, tc.actnorm)
		args := []string{"fit", "-in", "data.csv", "-model", tc.model, "-out", "m.json", "-epochs", "2", "-layers", "2", "-hidden", "8"}
		if tc.lu {
			args = append(args, "-lu")
		}
		if tc.actnorm {
			args = append(args, "-actnorm")
		}
		r := nflow(t, dir, args...)
		if r.code != 0 {
			t.Fatalf("%s: status %d\n%s", name, r.code, r.stderr)
		}
		said := strings.Contains(r.stderr, "initialised 2 ActNorm layers on the 180 training rows: each normalises its input to mean 0 and variance 1\n")
		if said != tc.actnorm {
			t.Errorf("%s: says it initialised ActNorm layers: %v\n%s", name, said, r.stderr)
		}
		f := loadFlow(t, filepath.Join(dir, "m.json"))
		ls := f.Layers()
		if _, ok := ls[len(ls)-1].(*flow.Standardize); !ok {
			t.Errorf("%s: the last layer is %T, want the standardisation", name, ls[len(ls)-1])
		}
		var steps, lus, actnorms int
		for i := 0; i < len(ls); i++ {
			switch l := ls[i].(type) {
			case *flow.Coupling, *flow.MAF:
				steps++
				if tc.lu {
					if lu, ok := ls[i+1].(*flow.LULinear); !ok {
						t.Errorf("%s: layer %d (%T) is followed by %T, want an LU layer", name, i, l, ls[i+1])
					} else if lu.Dim() != 2 {
						t.Errorf("%s: LU layer of dimension %d", name, lu.Dim())
					}
				}
				if tc.actnorm {
					j := i + 1
					if tc.lu {
						j++
					}
					if _, ok := ls[j].(*flow.ActNorm); !ok {
						t.Errorf("%s: layer %d (%T) is followed by %T, want an ActNorm layer", name, j-1, ls[j-1], ls[j])
					}
				}
			case *flow.LULinear:
				lus++
			case *flow.ActNorm:
				actnorms++
				if !l.Initialized() {
					t.Errorf("%s: layer %d: an ActNorm layer not initialised", name, i)
				}
			}
		}
		if want := map[bool]int{false: 0, true: 2}; steps != 2 || lus != want[tc.lu] || actnorms != want[tc.actnorm] {
			t.Errorf("%s: %d coupling or MAF layers, %d LU, %d ActNorm", name, steps, lus, actnorms)
		}
		if !tc.actnorm {
			continue
		}
		// The untrained model fit scores is the one initialised on all
		// the training rows.
		trainRows, validRows := validRows(t, data)
		std, err := flow.StandardizeData(trainRows)
		if err != nil {
			t.Fatal(err)
		}
		mo := modelOptions{kind: tc.model, layers: 2, hidden: "8", activation: "tanh", clamp: 3, bins: 8, bound: 3, seed: 1, lu: tc.lu, actnorm: tc.actnorm}
		g, err := mo.build(2, 0, std)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := flow.InitActNorm(g, trainRows, nil); err != nil {
			t.Fatal(err)
		}
		if want := "untrained model: valid NLL " + nll(-mustMean(g.LogProb(nil, validRows))) + "\n"; !strings.Contains(r.stderr, want) {
			t.Errorf("%s: fit does not score the flow initialised on its training rows (%q):\n%s", name, want, r.stderr)
		}
	}
}

func mustMean(v []float64) float64 {
	m, _ := meanSE(v)
	return m
}

// TestFitLUActNormGiven: the layers pass the context on in a conditional
// model, whose ActNorm layers are initialised with the rows' contexts.
func TestFitLUActNormGiven(t *testing.T) {
	dir := t.TempDir()
	ringCSV(t, filepath.Join(dir, "ring.csv"), 300, []string{"x", "y", "r"}, []int{0, 1, 2}, 1)
	r := nflow(t, dir, "fit", "-in", "ring.csv", "-context", "r", "-out", "m.json", "-epochs", "2", "-layers", "2", "-hidden", "8", "-lu", "-actnorm")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "initialised 2 ActNorm layers on the 270 training rows") {
		t.Errorf("no word of the ActNorm layers' initialisation:\n%s", r.stderr)
	}
	f := loadFlow(t, filepath.Join(dir, "m.json"))
	if f.ContextDim() != 1 {
		t.Errorf("context dimension %d, want 1", f.ContextDim())
	}
	var lus, actnorms int
	for _, l := range f.Layers() {
		switch l := l.(type) {
		case *flow.LULinear:
			lus++
		case *flow.ActNorm:
			if l.Initialized() {
				actnorms++
			}
		}
	}
	if lus != 2 || actnorms != 2 {
		t.Errorf("%d LU layers and %d initialised ActNorm layers, want 2 and 2", lus, actnorms)
	}
}

// TestFitActNormConstantColumn: a training column without spread cannot
// initialise an ActNorm layer: an error naming the column, exit status 1,
// and no model written.
func TestFitActNormConstantColumn(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("a,b\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, "%d,3\n", i%7)
	}
	writeFile(t, filepath.Join(dir, "flat.csv"), b.String())
	r := nflow(t, dir, "fit", "-in", "flat.csv", "-out", "m.json", "-epochs", "2", "-layers", "2", "-hidden", "8", "-actnorm")
	if r.code != 1 || !regexp.MustCompile(`-actnorm: flow: InitActNorm: layer \d+ \(ActNorm\), initialised on the rows of x: column 1 of its input has mean [-0-9.e]+ and standard deviation 0 over 45 rows`).MatchString(r.stderr) {
		t.Errorf("status %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "m.json")); err == nil {
		t.Error("a model was written")
	}
}

// TestFitInitActNorm: with -init, -lu and -actnorm are refused like the
// other model flags, and the ActNorm layers of a resumed model that are not
// yet initialised are initialised on the training rows.
func TestFitInitActNorm(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 200, 6)
	a, err := flow.NewActNorm(2)
	if err != nil {
		t.Fatal(err)
	}
	c, err := flow.NewCoupling(flow.CouplingConfig{Mask: []bool{true, false}, Hidden: []int{4}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := flow.New(c, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := saveModel(filepath.Join(dir, "start.json"), io.Discard, g); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"-lu", "-actnorm"} {
		r := nflow(t, dir, "fit", "-in", "data.csv", "-init", "start.json", "-out", "m.json", "-epochs", "1", flag)
		if r.code != 2 || !strings.Contains(r.stderr, flag+" cannot change them") {
			t.Errorf("-init with %s: status %d\n%s", flag, r.code, r.stderr)
		}
	}
	r := nflow(t, dir, "fit", "-in", "data.csv", "-init", "start.json", "-out", "m.json", "-epochs", "1")
	if r.code != 0 || !strings.Contains(r.stderr, "initialised 1 ActNorm layer on the 180 training rows") {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	if l := loadFlow(t, filepath.Join(dir, "m.json")).Layers()[1].(*flow.ActNorm); !l.Initialized() {
		t.Error("the resumed model's ActNorm layer is not initialised")
	}
	// Initialised once: resuming the result says nothing of ActNorm.
	r = nflow(t, dir, "fit", "-in", "data.csv", "-init", "m.json", "-out", "m2.json", "-epochs", "1")
	if r.code != 0 || strings.Contains(r.stderr, "ActNorm") {
		t.Errorf("resuming an initialised model: status %d\n%s", r.code, r.stderr)
	}
}
